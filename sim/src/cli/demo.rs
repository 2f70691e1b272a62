//! `skyway demo`: the main job (see [`crate::demo`]).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use skyway_coord::client::SESSION_TTL_DEFAULT;

use super::ctl::Output;
use super::sim::load_scenario;
use crate::demo::{self, DemoConfig};

/// Flags of `skyway demo`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
skyway demo                                  # real time, a summary every 5 s, Ctrl-C stops it\n  \
skyway demo --tour                           # faults, one every 20 s, each explained\n  \
skyway demo --speed 10 --duration 120 --output json\n  \
skyway demo --no-control --duration 120 --output json   # the same seed without controllers\n  \
skyway demo --tour --listen 127.0.0.1:0      # the dashboard on any free port (its URL is printed)\n  \
skyway demo --auth                           # one token per process, each may write only what it owns\n  \
skyway demo --tls                            # TLS everywhere, a certificate per node and per process\n\n\
Everything runs on 127.0.0.1: three coordinator nodes and the controllers as processes of this binary, the \
world and its actuator in this process. Try `skyway ctl --endpoints … get /world/segments/3` meanwhile.")]
pub struct DemoArgs {
    /// The world: a shipped scenario's name or the path of a TOML file.
    #[arg(long, default_value = "highway")]
    pub scenario: String,
    /// The world's seed (default: the scenario's own).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Simulated seconds per wall second.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Simulated minutes run as fast as possible before going live, so the road is full and the
    /// runways busy from the first summary (0: start empty).
    #[arg(long, default_value_t = 10.0)]
    pub warmup_min: f64,
    /// Controller processes; each is a candidate for every role.
    #[arg(long, default_value_t = 3)]
    pub controllers: usize,
    /// Run the world without controllers (same seed), to see what control changes.
    #[arg(long)]
    pub no_control: bool,
    /// The controllers' session TTL, ms: a dead primary is replaced about this long after it dies.
    #[arg(long, default_value_t = SESSION_TTL_DEFAULT.as_millis() as u64)]
    pub ttl_ms: u64,
    /// How often a primary decides and sends a command, ms.
    #[arg(long, default_value_t = 200)]
    pub command_interval_ms: u64,
    /// Inject faults, one after another, each with a line of explanation: kill a segment's primary,
    /// kill a tower's primary, pause a tower's primary past its TTL, kill the coordinator's leader.
    #[arg(long)]
    pub tour: bool,
    /// Seconds between two faults of the tour.
    #[arg(long, default_value_t = 20.0)]
    pub tour_gap_s: f64,
    /// Stop after this many wall seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Seconds between two terminal summaries.
    #[arg(long, default_value_t = 5.0)]
    pub summary_every_s: f64,
    /// human: live summaries and a final report; json: only the final report, as JSON.
    #[arg(long, value_enum, default_value_t = Output::Human)]
    pub output: Output,
    /// Keep the data and logs here instead of a temporary directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Blob storage for the cameras' frames (default: a local directory under the data
    /// directory), e.g. s3://bucket/prefix with AWS_ENDPOINT and credentials in the environment.
    #[arg(long)]
    pub store: Option<String>,
    /// Run without cameras and analyzers.
    #[arg(long)]
    pub no_cameras: bool,
    /// Analyzer processes (each a candidate for every camera).
    #[arg(long, default_value_t = 2)]
    pub analyzers: usize,
    /// How long frames are kept in blob storage, seconds (the janitor deletes older ones).
    #[arg(long, default_value_t = 600)]
    pub retention_s: u64,
    /// Serve the live dashboard here (127.0.0.1:0: any free port; the URL is printed). Bound to
    /// anything but loopback, its fault controls need the token the printed URL carries.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Do not serve the dashboard.
    #[arg(long)]
    pub no_dashboard: bool,
    /// Turn the coordinator's authentication on: one user (token) per process, each allowed to
    /// write only what it owns — a controller its roles and status node, a camera its camera's
    /// nodes, an analyzer its results; everyone may read; nobody writes the membership log.
    #[arg(long)]
    pub auth: bool,
    /// Serve TLS: a development CA and certificates are made in DATA_DIR/certs (as `skyway
    /// certs init` does), every node serves TLS to clients and mutual TLS to its peers, and
    /// every process (controllers, cameras, analyzers, the demo itself) shows its own client
    /// certificate.
    #[arg(long)]
    pub tls: bool,
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let scenario = load_scenario(&args.scenario)?;
    anyhow::ensure!(args.controllers >= 1 || args.no_control, "--controllers must be at least 1");
    anyhow::ensure!((0.0..=600.0).contains(&args.warmup_min), "--warmup-min {}: give 0..=600", args.warmup_min);
    anyhow::ensure!(args.ttl_ms >= 50, "--ttl-ms {} is too short: at least 50 ms", args.ttl_ms);
    anyhow::ensure!(
        args.tour_gap_s > 0.0 && args.summary_every_s > 0.0,
        "give positive --tour-gap-s and --summary-every-s"
    );
    let temp = tempfile::tempdir()?;
    let root = args.data_dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let human = !matches!(args.output, Output::Json);
    let config = DemoConfig {
        binary: std::env::current_exe().context("cannot find the skyway binary")?,
        root,
        seed: args.seed.unwrap_or(scenario.seed),
        scenario,
        speed: args.speed,
        warmup_s: args.warmup_min * 60.0,
        controllers: args.controllers,
        control: !args.no_control,
        ttl: Duration::from_millis(args.ttl_ms),
        command_interval: Duration::from_millis(args.command_interval_ms.max(10)),
        tour: args.tour,
        tour_gap: Duration::from_secs_f64(args.tour_gap_s),
        duration: args.duration.map(Duration::from_secs_f64),
        summary_every: human.then(|| Duration::from_secs_f64(args.summary_every_s)),
        collect: (!args.no_cameras).then(|| demo::collect::DemoCollect {
            store: args.store.clone(),
            analyzers: args.analyzers,
            retention: Duration::from_secs(args.retention_s),
        }),
        listen: (!args.no_dashboard).then_some(args.listen),
        auth: args.auth,
        tls: args.tls,
    };
    let report = demo::run(config, super::interrupted()).await?;
    if human {
        println!("{}", demo::view::final_report(&report));
        if let Some(c) = &report.collector {
            println!("{}", demo::collect::summary(c));
        }
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    let violated = report.split_brains > 0 || report.world_conflicts > 0 || report.incursions > 0;
    Ok(if violated { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
