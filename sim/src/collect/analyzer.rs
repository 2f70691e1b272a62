//! `skyway analyzer`: one process analysing several cameras, exactly one primary per camera.
//!
//! The process joins the membership (`analyzer-<name>`) and, for each camera it is given,
//! campaigns for the role `analyze/<camera>`. As primary it reads the camera's calibration,
//! watches `/cameras/<camera>/latest` (from the revision it read, so nothing is missed), and for
//! the newest record of each batch of changes reads the frame by its URL — the store checks the
//! SHA-256 and size against the record — decodes it under a pixel limit, runs the collector's
//! pipeline (`skyway_collector::analyze`) and folds the detections into a period. At the end of
//! each period it writes `/analysis/<camera>` in a transaction whose check is that its own
//! candidate node still exists: sequential names are never reused, so that node existing means
//! its create revision — the token — is unchanged and no successor has been elected. A deposed
//! analyzer's write is refused by the coordinator, whatever the deposed process believes.
//!
//! Bad input never stops it: a missing object, a tampered one, bytes that are not an image, an
//! image over the limit, an unreadable record, a camera that does not exist (yet) — each is
//! logged, counted in the stats file, and the analyzer goes on with the next frame.
//!
//! Caveats: a new primary starts a fresh background model from the latest frame, so its first
//! results (flagged `warming_up`) count less than the truth until the model has warmed up.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use skyway_collector::record::{self, AnalysisRecord, Calibration, FrameRecord, calibration_path};
use skyway_collector::{AnalyzerConfig, Background, CollectorError, LaneGeometry, PeriodAccumulator, analyze, decode};
use skyway_coord::CoordError;
use skyway_coord::client::{
    Candidate, Check, Client, ClientOptions, Consistency, Create, Election, Op, Session, Txn, WatchEventKind, Watcher,
};
use skyway_storage::{BlobStore, StorageError};

use super::camera::wall_ms;
use super::stats::{AnalyzedCamera, AnalyzerStats, Samples, write_json};

/// How an analyzer runs.
#[derive(Debug, Clone)]
pub struct AnalyzerOptions {
    /// Its name (member `analyzer-<name>`).
    pub name: String,
    /// The cameras it campaigns for.
    pub cameras: Vec<String>,
    /// Coordinator endpoints.
    pub endpoints: Vec<String>,
    /// How to talk to the coordinator (its TLS).
    pub client: ClientOptions,
    /// Blob storage URL (the store the cameras write to).
    pub store: String,
    /// The session's TTL.
    pub ttl: Duration,
    /// Frames per result period.
    pub period_frames: u64,
    /// Largest decoded image, pixels.
    pub max_pixels: u64,
    /// Where to write the counters.
    pub stats_file: Option<PathBuf>,
    /// Where to serve `/metrics` and the health endpoints (none: not served).
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// The decoded-size limit by default: four times a 640×360 frame.
pub const MAX_PIXELS_DEFAULT: u64 = 4 * 640 * 360;

struct Camera {
    stats: Mutex<AnalyzedCamera>,
    lag: Mutex<Samples>,
}

/// Runs an analyzer until interrupted.
pub async fn run(options: AnalyzerOptions) -> anyhow::Result<()> {
    anyhow::ensure!(!options.cameras.is_empty(), "give at least one camera (--cameras cam-1,cam-2)");
    for id in &options.cameras {
        record::check_camera_id(id).map_err(anyhow::Error::msg)?;
    }
    anyhow::ensure!(options.period_frames >= 1, "--period-frames must be at least 1");
    let store =
        BlobStore::open_url(&options.store).with_context(|| format!("cannot open blob storage {}", options.store))?;
    let client = Client::new(&options.endpoints, options.client.clone())?;
    let cameras: Vec<Arc<Camera>> = options
        .cameras
        .iter()
        .map(|id| {
            Arc::new(Camera {
                stats: Mutex::new(AnalyzedCamera { camera: id.clone(), ..Default::default() }),
                lag: Mutex::new(Samples::default()),
            })
        })
        .collect();
    let stats = Arc::new(Mutex::new(AnalyzerStats { name: options.name.clone(), ..Default::default() }));
    let report = |stats: &Mutex<AnalyzerStats>, cameras: &[Arc<Camera>]| {
        let mut s = stats.lock().expect("stats").clone();
        s.cameras = cameras
            .iter()
            .map(|c| {
                let mut one = c.stats.lock().expect("stats").clone();
                let lag = c.lag.lock().expect("lag");
                one.lag_ms_p50 = lag.quantile(0.5);
                one.lag_ms_p99 = lag.quantile(0.99);
                one
            })
            .collect();
        s
    };
    if let Some(addr) = options.metrics_listen {
        let (stats, cameras) = (stats.clone(), cameras.clone());
        let probe = super::metrics::StatsProbe::new(
            Arc::new(move || report(&stats, &cameras)),
            super::metrics::analyzer_metrics,
            super::metrics::analyzer_check(),
        );
        super::metrics::serve(addr, Arc::new(probe)).await?;
    }
    let reporter = options.stats_file.clone().map(|path| {
        let (stats, cameras) = (stats.clone(), cameras.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                write_json(&path, &report(&stats, &cameras));
            }
        })
    });
    let outcome = loop {
        let session = match Session::open(&client, options.ttl, Some(&format!("analyzer-{}", options.name))).await {
            Ok(s) => Arc::new(s),
            Err(e) => {
                tracing::warn!("cannot open a coordinator session, retrying: {e}");
                tokio::select! {
                    _ = crate::cli::interrupted() => break Ok(()),
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        stats.lock().expect("stats").sessions += 1;
        let tasks: Vec<_> = cameras
            .iter()
            .map(|c| {
                tokio::spawn(serve_camera(options.clone(), client.clone(), session.clone(), store.clone(), c.clone()))
            })
            .collect();
        let stop = tokio::select! {
            _ = crate::cli::interrupted() => true,
            _ = session.lost() => false,
        };
        for t in &tasks {
            t.abort();
        }
        for c in &cameras {
            c.stats.lock().expect("stats").primary = false;
        }
        if stop {
            // Resign at once, so a backup takes over without waiting for the TTL.
            if let Ok(session) = Arc::try_unwrap(session) {
                let _ = session.close().await;
            }
            break Ok(());
        }
        tracing::warn!(name = %options.name, "session lost: rejoining as a backup with a new session");
    };
    if let Some(r) = reporter {
        r.abort();
    }
    if let Some(path) = &options.stats_file {
        write_json(path, &report(&stats, &cameras));
    }
    outcome
}

/// Campaigns for one camera, and analyses it while primary; campaigns again when deposed.
async fn serve_camera(
    options: AnalyzerOptions,
    client: Client,
    session: Arc<Session>,
    store: BlobStore,
    camera: Arc<Camera>,
) {
    let id = camera.stats.lock().expect("stats").camera.clone();
    loop {
        let result: anyhow::Result<()> = async {
            let election = Election::new(&client, &record::analyze_role(&id))?;
            let candidate = election.campaign(&session, options.name.clone()).await?;
            let token = candidate.wait_primary(&session).await?;
            {
                let mut s = camera.stats.lock().expect("stats");
                s.primary = true;
                s.token = Some(token.0);
                s.terms += 1;
            }
            tracing::info!(camera = %id, token = token.0, name = %options.name, "analyzer primary");
            let outcome = primary(&options, &client, &store, &camera, &id, &candidate, token.0).await;
            camera.stats.lock().expect("stats").primary = false;
            outcome
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(camera = %id, "analysis role ended: {e:#}");
        }
        if !session.is_certain() {
            return; // the process rejoins with a new session
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What one frame's processing came to.
enum Frame {
    Analysed,
    Skipped,
}

struct Model {
    geometry: LaneGeometry,
    /// Taken out while a frame is analysed on the blocking pool.
    background: Option<Background>,
    period: PeriodAccumulator,
    period_frames: u64,
    warmup_frames: u64,
    analysed: u64,
    first_seq: Option<u64>,
}

async fn primary(
    options: &AnalyzerOptions,
    client: &Client,
    store: &BlobStore,
    camera: &Camera,
    id: &str,
    candidate: &Candidate,
    token: u64,
) -> anyhow::Result<()> {
    ensure_node(client, &record::analysis_path(id)).await?;
    // The camera's latest, and where to watch from.
    let latest = record::latest_path(id);
    // Watch from the revision read, so no change after it is missed; a record seen twice (read
    // and then delivered) is skipped by its sequence number.
    let found = client.exists(&latest, Consistency::Linearizable).await?;
    let mut watcher = Watcher::start(client, &latest, false, found.revision.0 + 1).await?;
    let first = if found.stat.is_some() {
        Some(client.get(&latest, Consistency::Linearizable).await?.data)
    } else {
        let mut s = camera.stats.lock().expect("stats");
        if !s.unknown_camera {
            tracing::warn!(camera = id, "unknown camera: no {latest} yet; waiting for it to appear");
        }
        s.unknown_camera = true;
        None
    };
    let mut model: Option<Model> = None;
    let mut last_seq: Option<u64> = None;
    let mut pending = first;
    loop {
        let data = match pending.take() {
            Some(d) => d,
            None => {
                let events = watcher.next().await?;
                let mut changes: Vec<_> = events.into_iter().filter(|e| e.kind != WatchEventKind::Deleted).collect();
                let Some(newest) = changes.pop() else { continue };
                if !changes.is_empty() && model.is_some() {
                    camera.stats.lock().expect("stats").frames_skipped += changes.len() as u64;
                }
                newest.data
            }
        };
        camera.stats.lock().expect("stats").unknown_camera = false;
        let record: FrameRecord = match serde_json::from_slice(&data) {
            Ok(r) => r,
            Err(e) => {
                camera.stats.lock().expect("stats").bad_records += 1;
                tracing::warn!(camera = id, "unreadable frame record, skipped: {e}");
                continue;
            }
        };
        if last_seq.is_some_and(|s| record.seq <= s) {
            continue;
        }
        last_seq = Some(record.seq);
        if model.is_none() {
            model = Some(new_model(client, id).await?);
        }
        let m = model.as_mut().expect("set above");
        match one_frame(options, store, camera, id, &record, m).await {
            Frame::Skipped => {
                if m.background.is_none() {
                    model = None; // the model was lost with a failed task: start afresh
                }
                continue;
            }
            Frame::Analysed => {}
        }
        let first_seq = *m.first_seq.get_or_insert(record.seq);
        if m.period_frames >= options.period_frames {
            m.period_frames = 0;
            let Some(result) = m.period.finish() else { continue };
            let analysis = AnalysisRecord {
                analyzer: options.name.clone(),
                token,
                first_seq,
                seq: record.seq,
                world_time_s: record.world_time_s,
                capture_wall_ms: record.wall_ms,
                frames: options.period_frames,
                warming_up: m.analysed < m.warmup_frames,
                result,
            };
            m.first_seq = None;
            write_result(client, camera, id, candidate, &analysis).await?;
        }
    }
}

async fn new_model(client: &Client, id: &str) -> anyhow::Result<Model> {
    let node = client
        .get(&calibration_path(id), Consistency::Linearizable)
        .await
        .with_context(|| format!("camera {id} has no calibration"))?;
    let calibration: Calibration = serde_json::from_slice(&node.data).context("unreadable calibration")?;
    let geometry = LaneGeometry::new(&calibration.camera, calibration.lanes, calibration.lane_width_m)?;
    let config = AnalyzerConfig { fps: calibration.fps, ..AnalyzerConfig::default() };
    config.validate()?;
    let warmup_frames = u64::from(config.warmup_frames);
    let background = Some(Background::new(&geometry, config)?);
    let period = PeriodAccumulator::new(&geometry);
    Ok(Model { geometry, background, period, period_frames: 0, warmup_frames, analysed: 0, first_seq: None })
}

/// Reads, checks, decodes and analyses one frame; every failure is counted and skipped.
async fn one_frame(
    options: &AnalyzerOptions,
    store: &BlobStore,
    camera: &Camera,
    id: &str,
    record: &FrameRecord,
    m: &mut Model,
) -> Frame {
    let count = |f: &dyn Fn(&mut AnalyzedCamera)| f(&mut camera.stats.lock().expect("stats"));
    let blob = skyway_storage::BlobRef {
        url: record.frame.url.clone(),
        sha256: record.frame.sha256.clone(),
        size: record.frame.size,
    };
    let bytes = match store.get(&blob).await {
        Ok(b) => b,
        Err(e) => {
            match e {
                StorageError::NotFound { .. } => count(&|s| s.blob_missing += 1),
                StorageError::HashMismatch { .. } => count(&|s| s.blob_tampered += 1),
                _ => count(&|s| s.blob_errors += 1),
            }
            tracing::warn!(camera = id, seq = record.seq, "frame not analysed: {e}");
            return Frame::Skipped;
        }
    };
    let expected = (m.geometry.camera.width_px, m.geometry.camera.height_px);
    let max_pixels = options.max_pixels;
    let Some(mut background) = m.background.take() else { return Frame::Skipped };
    let geometry = m.geometry.clone();
    let analysed = tokio::task::spawn_blocking(move || {
        let mut run = || {
            let image = decode(&bytes, max_pixels)?;
            if (image.width(), image.height()) != expected {
                return Err(CollectorError::WrongSize {
                    width: image.width(),
                    height: image.height(),
                    expected_width: expected.0,
                    expected_height: expected.1,
                });
            }
            analyze(&image, &mut background, &geometry)
        };
        (run(), background)
    })
    .await;
    let (result, background) = match analysed {
        Ok(pair) => pair,
        Err(e) => {
            tracing::error!(camera = id, "analysis task failed, the model starts again: {e}");
            m.background = None;
            return Frame::Skipped;
        }
    };
    m.background = Some(background);
    match result {
        Ok(detections) => {
            m.period.add(&detections);
            m.period_frames += 1;
            m.analysed += 1;
            let mut s = camera.stats.lock().expect("stats");
            s.frames_analysed += 1;
            s.last_seq = Some(record.seq);
            Frame::Analysed
        }
        Err(e) => {
            match e {
                CollectorError::NotAnImage { .. } => count(&|s| s.not_image += 1),
                _ => count(&|s| s.too_large += 1),
            }
            tracing::warn!(camera = id, seq = record.seq, url = %record.frame.url, "frame not analysed: {e}");
            Frame::Skipped
        }
    }
}

/// Writes a result only if this candidate's node still exists (it is still primary).
async fn write_result(
    client: &Client,
    camera: &Camera,
    id: &str,
    candidate: &Candidate,
    analysis: &AnalysisRecord,
) -> anyhow::Result<()> {
    let data = serde_json::to_vec(analysis)?;
    let request = Txn {
        checks: vec![Check::Exists(candidate.path().to_string())],
        ops: vec![Op::Set { path: record::analysis_path(id), data: data.into(), expected_version: None }],
    };
    match client.txn(request).await {
        Ok(_) => {
            let lag = wall_ms().saturating_sub(analysis.capture_wall_ms) as f64;
            camera.lag.lock().expect("lag").push(lag);
            camera.stats.lock().expect("stats").results_written += 1;
            Ok(())
        }
        Err(e @ CoordError::CheckFailed { .. }) => {
            camera.stats.lock().expect("stats").results_refused += 1;
            tracing::warn!(camera = id, token = analysis.token, "result refused, no longer primary: {e}");
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Creates a persistent node (and its parents) if it is missing.
async fn ensure_node(client: &Client, path: &str) -> Result<(), CoordError> {
    let request = Create { path: path.into(), make_parents: true, ..Default::default() };
    match client.create(request).await {
        Ok(_) | Err(CoordError::NodeExists { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
