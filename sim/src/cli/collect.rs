//! `skyway camera`, `skyway analyzer`, `skyway collect` and `skyway analyze eval`: the
//! collector's processes and the commands that try and measure them.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use skyway_collector::{Conditions, EvalConfig, Format};

use super::client_tls::ClientTlsArgs;
use crate::collect::analyzer::{self, AnalyzerOptions, MAX_PIXELS_DEFAULT};
use crate::collect::camera::{self, CameraConfig, QUEUE_MAX_DEFAULT};
use crate::collect::run::{CollectConfig, CollectReport, Collectors};
use crate::live::feed::FPS_DEFAULT;
use crate::live::runner::{LiveConfig, LiveWorld};
use crate::rig::embedded::EmbeddedCluster;

/// How frames are encoded.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FrameFormat {
    /// JPEG, quality 85 (small; lossy).
    Jpeg,
    /// PNG (lossless; about four times larger).
    Png,
}

impl FrameFormat {
    fn format(self) -> Format {
        match self {
            FrameFormat::Jpeg => Format::Jpeg(85),
            FrameFormat::Png => Format::Png,
        }
    }
}

/// Flags of `skyway camera`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  skyway camera --id cam-3 --feed 127.0.0.1:7200 --endpoints 127.0.0.1:7001 --store file:///tmp/sky/blobs\n\n\
It renders the scenes of its stretch from the world's feed, puts each frame and its truth into \
blob storage, and only then records the frame's URL, SHA-256 and size in the coordinator at \
/cameras/<id>/latest (and a bounded index). S3: --store s3://bucket/prefix with AWS_ENDPOINT, \
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_ALLOW_HTTP=true for a local server)."
)]
pub struct CameraArgs {
    /// The camera's id, as the world's feed names it (cam-1 … one per segment, cam-rwy-07L …).
    #[arg(long)]
    pub id: String,
    /// The world's scene feed, host:port.
    #[arg(long)]
    pub feed: String,
    /// Coordinator endpoints.
    #[arg(long, value_delimiter = ',', required = true, env = "SKYWAY_ENDPOINTS")]
    pub endpoints: Vec<String>,
    /// A user's token (from `skyway ctl user add`), needed once the coordinator's
    /// authentication is on.
    #[arg(long, env = "SKYWAY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// TLS to the coordinator.
    #[command(flatten)]
    pub tls: ClientTlsArgs,
    /// Blob storage: file:///abs/dir, s3://bucket/prefix or memory://name.
    #[arg(long)]
    pub store: String,
    /// How frames are encoded.
    #[arg(long, value_enum, default_value_t = FrameFormat::Jpeg)]
    pub format: FrameFormat,
    /// Imaging conditions: easy or hard.
    #[arg(long, default_value = "easy")]
    pub conditions: String,
    /// Frames waiting for storage at most; beyond, the oldest is dropped and counted.
    #[arg(long, default_value_t = QUEUE_MAX_DEFAULT)]
    pub queue_max: usize,
    /// Session TTL in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub ttl_ms: u64,
    /// The janitor's retention window, seconds (every camera is a candidate for the janitor).
    #[arg(long, default_value_t = 600)]
    pub retention_s: u64,
    /// Write the counters here as JSON about once a second.
    #[arg(long)]
    pub stats_file: Option<PathBuf>,
    /// Serve /metrics (Prometheus text), /health, /livez and /readyz here, e.g. 127.0.0.1:9301.
    #[arg(long, env = "SKYWAY_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// Runs `skyway camera`.
pub async fn run_camera(args: CameraArgs) -> anyhow::Result<ExitCode> {
    let conditions = Conditions::by_name(&args.conditions)
        .with_context(|| format!("--conditions {:?}: use easy or hard", args.conditions))?;
    camera::run(CameraConfig {
        id: args.id,
        feed: args.feed,
        endpoints: args.endpoints,
        client: args.tls.client_options()?.with_token(args.token),
        store: args.store,
        format: args.format.format(),
        conditions,
        queue_max: args.queue_max,
        ttl: Duration::from_millis(args.ttl_ms),
        stats_file: args.stats_file,
        retention: Duration::from_secs(args.retention_s),
        metrics_listen: args.metrics_listen,
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// Flags of `skyway analyzer`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  skyway analyzer --name a1 --cameras cam-1,cam-2,cam-3 --endpoints 127.0.0.1:7001 --store file:///tmp/sky/blobs\n\n\
It campaigns for analyze/<camera> for each camera; as primary it reads each new frame by its URL, \
checks its SHA-256, analyses it and writes /analysis/<camera> once per period, in a transaction \
that checks it still holds the role."
)]
pub struct AnalyzerArgs {
    /// This analyzer's name (unique among analyzers).
    #[arg(long)]
    pub name: String,
    /// The cameras to campaign for.
    #[arg(long, value_delimiter = ',', required = true)]
    pub cameras: Vec<String>,
    /// Coordinator endpoints.
    #[arg(long, value_delimiter = ',', required = true, env = "SKYWAY_ENDPOINTS")]
    pub endpoints: Vec<String>,
    /// A user's token (from `skyway ctl user add`), needed once the coordinator's
    /// authentication is on.
    #[arg(long, env = "SKYWAY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// TLS to the coordinator.
    #[command(flatten)]
    pub tls: ClientTlsArgs,
    /// Blob storage the cameras write to.
    #[arg(long)]
    pub store: String,
    /// Session TTL in milliseconds: a crashed primary is replaced about this long after.
    #[arg(long, default_value_t = 2000)]
    pub ttl_ms: u64,
    /// Frames per result period (25 = 5 s of world time at 5 fps).
    #[arg(long, default_value_t = 25)]
    pub period_frames: u64,
    /// Largest decoded image in pixels; larger ones are refused and counted.
    #[arg(long, default_value_t = MAX_PIXELS_DEFAULT)]
    pub max_pixels: u64,
    /// Write the counters here as JSON about once a second.
    #[arg(long)]
    pub stats_file: Option<PathBuf>,
    /// Serve /metrics (Prometheus text), /health, /livez and /readyz here, e.g. 127.0.0.1:9301.
    #[arg(long, env = "SKYWAY_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// Runs `skyway analyzer`.
pub async fn run_analyzer(args: AnalyzerArgs) -> anyhow::Result<ExitCode> {
    analyzer::run(AnalyzerOptions {
        name: args.name,
        cameras: args.cameras,
        endpoints: args.endpoints,
        client: args.tls.client_options()?.with_token(args.token),
        store: args.store,
        ttl: Duration::from_millis(args.ttl_ms),
        period_frames: args.period_frames,
        max_pixels: args.max_pixels,
        stats_file: args.stats_file,
        metrics_listen: args.metrics_listen,
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// Text or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    Text,
    /// For scripts.
    Json,
}

/// Flags of `skyway collect`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  skyway collect --scenario highway --store file:///tmp/sky/blobs --duration-s 30\n\n\
Runs the world (with an in-process 3-node coordinator) and one camera process per segment and \
runway, and reports the bytes written to blob storage next to the bytes written to the \
coordinator. --analyzers N adds analyzer processes and reports their lag."
)]
pub struct CollectArgs {
    /// A shipped scenario (highway, incident, …) or a TOML file.
    #[arg(long, default_value = "highway")]
    pub scenario: String,
    /// The world's seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Blob storage (default: a local directory under the data directory).
    #[arg(long)]
    pub store: Option<String>,
    /// Where the coordinator, logs and (by default) blobs go (default: a temporary directory).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// How long to run, wall seconds.
    #[arg(long, default_value_t = 30)]
    pub duration_s: u64,
    /// Simulated seconds per wall second.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Simulated seconds run before going live (a full road).
    #[arg(long, default_value_t = 120.0)]
    pub warmup_s: f64,
    /// Only these cameras (default: all).
    #[arg(long, value_delimiter = ',')]
    pub cameras: Vec<String>,
    /// Analyzer processes to start (each a candidate for every camera).
    #[arg(long, default_value_t = 0)]
    pub analyzers: usize,
    /// How frames are encoded.
    #[arg(long, value_enum, default_value_t = FrameFormat::Jpeg)]
    pub format: FrameFormat,
    /// The janitor's retention window, seconds.
    #[arg(long, default_value_t = 600)]
    pub retention_s: u64,
    /// Text or JSON.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// Runs `skyway collect`.
pub async fn run_collect(args: CollectArgs) -> anyhow::Result<ExitCode> {
    let scenario = super::sim::load_scenario(&args.scenario)?;
    let temp = tempfile::tempdir()?;
    let root = args.data_dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&root)?;
    let store = match &args.store {
        Some(s) => s.clone(),
        None => skyway_storage::StorageConfig::local_dir(root.join("blobs"))?.url,
    };
    let cluster = EmbeddedCluster::start(&root.join("coord"), 3).await?;
    let live = LiveConfig {
        scenario,
        seed: args.seed,
        speed: args.speed,
        actuator_dir: root.join("actuator"),
        actuator_listen: "127.0.0.1:0".parse()?,
        warmup_s: args.warmup_s,
    };
    let mut world = LiveWorld::start(live, cluster.client()?).await?;
    let feed = world.serve_feed("127.0.0.1:0".parse()?, FPS_DEFAULT).await?;
    let cameras: Vec<String> = if args.cameras.is_empty() {
        world.cameras().iter().map(|p| p.spec.id.clone()).collect()
    } else {
        args.cameras.clone()
    };
    let mut collectors = Collectors::start(CollectConfig {
        binary: std::env::current_exe()?,
        dir: root.join("collect"),
        endpoints: cluster.endpoints().to_vec(),
        feed,
        store: store.clone(),
        cameras,
        analyzers: args.analyzers,
        ttl: Duration::from_secs(2),
        retention: Duration::from_secs(args.retention_s),
        camera_args: vec!["--format".into(), format!("{:?}", args.format).to_lowercase()],
        env: Vec::new(),
        metrics: false,
        tokens: Default::default(),
        tls: None,
    })?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration_s);
    let stop = super::interrupted();
    tokio::pin!(stop);
    let interrupted = loop {
        tokio::select! {
            _ = &mut stop => break true,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
        if args.output == Output::Text {
            let r = collectors.report();
            eprintln!(
                "-- {:>3} s: {} frames recorded, {} to blob storage, {} to the coordinator, {} dropped",
                started.elapsed().as_secs(),
                r.frames_recorded,
                bytes(r.bytes_to_blob),
                bytes(r.bytes_to_coordinator),
                r.frames_dropped
            );
        }
        if Instant::now() >= deadline {
            break false;
        }
    };
    // One more second for the last stats files.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let report = collectors.report();
    collectors.stop().await;
    world.stop().await;
    cluster.stop().await?;
    print_report(&args, &store, started.elapsed(), &report)?;
    Ok(if interrupted { ExitCode::from(130) } else { ExitCode::SUCCESS })
}

fn print_report(args: &CollectArgs, store: &str, took: Duration, r: &CollectReport) -> anyhow::Result<()> {
    let secs = took.as_secs_f64();
    if args.output == Output::Json {
        let mut v = serde_json::to_value(r)?;
        v["store"] = store.into();
        v["wall_s"] = secs.into();
        v["frames_per_s"] = (r.frames_recorded as f64 / secs).into();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("store: {store}");
    println!("{} cameras, {} analyzers, {:.0} s", r.cameras, r.analyzers, secs);
    println!(
        "frames: {} rendered, {} recorded ({:.1}/s), {} dropped, {} skipped by the feed",
        r.frames_rendered,
        r.frames_recorded,
        r.frames_recorded as f64 / secs,
        r.frames_dropped,
        r.feed_skipped
    );
    println!("                        total      per frame");
    let per = |b: u64| b.checked_div(r.frames_recorded).unwrap_or(0);
    println!("to blob storage    {:>10} {:>10}", bytes(r.bytes_to_blob), bytes(per(r.bytes_to_blob)));
    println!("to the coordinator {:>10} {:>10}", bytes(r.bytes_to_coordinator), bytes(per(r.bytes_to_coordinator)));
    if r.analyzers > 0 {
        let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0} ms"));
        println!(
            "analysis: {} frames, {} results, {} refused, {} blob errors; lag capture→result p50 {}, p99 {}",
            r.frames_analysed,
            r.results_written,
            r.results_refused,
            r.blob_errors,
            ms(r.lag_ms_p50),
            ms(r.lag_ms_p99)
        );
    }
    Ok(())
}

fn bytes(b: u64) -> String {
    match b {
        b if b >= 10 << 20 => format!("{} MiB", b >> 20),
        b if b >= 10 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

/// Flags of `skyway analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: AnalyzeCommand,
}

/// `skyway analyze` subcommands.
#[derive(Debug, Subcommand)]
pub enum AnalyzeCommand {
    /// Render synthetic traffic, analyse it and score it against the truth: per-lane counts per
    /// period (error, MAPE, GEH), detections at IoU ≥ 0.5 (precision, recall, F1), stalled
    /// alarms (delay, misses, false alarms per camera-hour).
    Eval(EvalArgs),
}

/// Flags of `skyway analyze eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The scene set: easy, hard, or both.
    #[arg(long, default_value = "both")]
    pub scenario: String,
    /// The seed of traffic and noise.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Seconds scored (after a 20 s lead-in).
    #[arg(long, default_value_t = 300.0)]
    pub seconds: f64,
    /// Counting period, seconds.
    #[arg(long, default_value_t = 300.0)]
    pub period_s: f64,
    /// Stage no stalled vehicle.
    #[arg(long)]
    pub no_stall: bool,
    /// Text or JSON.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// Runs `skyway analyze …`.
pub async fn run_analyze(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let AnalyzeCommand::Eval(args) = args.command;
    let sets: Vec<Conditions> = match args.scenario.as_str() {
        "both" => vec![Conditions::easy(), Conditions::hard()],
        name => {
            vec![Conditions::by_name(name).with_context(|| format!("--scenario {name:?}: use easy, hard or both"))?]
        }
    };
    anyhow::ensure!(args.seconds > 0.0 && args.seconds <= 24.0 * 3600.0, "--seconds must be in 0..=86400");
    let mut reports = Vec::new();
    for conditions in sets {
        let mut cfg = EvalConfig::new(conditions, args.seconds, args.seed);
        cfg.period_s = args.period_s;
        cfg.stall = !args.no_stall;
        let started = Instant::now();
        let report = tokio::task::spawn_blocking(move || skyway_collector::run(&cfg)).await??;
        let mut v = serde_json::to_value(&report)?;
        v["ms_per_frame"] = (started.elapsed().as_secs_f64() * 1000.0 / report.frames.max(1) as f64).into();
        reports.push(v);
    }
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        for v in &reports {
            println!(
                "{:<5} seed {}: {} frames, precision {:.3}, recall {:.3}, F1 {:.3}; counts {}; stalls {}",
                v["conditions"].as_str().unwrap_or("?"),
                v["seed"],
                v["frames"],
                v["precision"].as_f64().unwrap_or(0.0),
                v["recall"].as_f64().unwrap_or(0.0),
                v["f1"].as_f64().unwrap_or(0.0),
                compact(&v["counts"]),
                compact(&v["stall"]),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn compact(v: &serde_json::Value) -> String {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("lane_periods");
    }
    v.to_string()
}
