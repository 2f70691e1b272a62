//! The demo's cameras and analyzers: one camera process per segment and runway on the world's
//! scene feed, two analyzer processes sharing the cameras (one primary per camera), blob storage
//! in a local directory under the demo's data directory unless `--store` names another.
//!
//! At `--speed` S above 1 the feed serves 5/S frames per second of world time, so each camera
//! still renders 5 frames per wall second: 8 cameras at 5 fps of world time at 4× would ask for
//! 160 frames a second from two cores. The analyzers are told the feed's rate and keep their
//! timings (stall seconds, warm-up) in world time.

use std::time::Duration;

use crate::collect::run::{CollectConfig, CollectReport, Collectors};
use crate::live::feed::FPS_DEFAULT;
use crate::live::runner::LiveWorld;

/// The demo's collector settings.
#[derive(Debug, Clone)]
pub struct DemoCollect {
    /// Blob storage URL (None: `file://<data dir>/blobs`).
    pub store: Option<String>,
    /// Analyzer processes.
    pub analyzers: usize,
    /// The janitor's retention window.
    pub retention: Duration,
}

impl Default for DemoCollect {
    fn default() -> Self {
        Self { store: None, analyzers: 2, retention: Duration::from_secs(600) }
    }
}

/// Serves the feed and starts the processes.
pub async fn start(
    settings: &DemoCollect,
    config: &super::DemoConfig,
    endpoints: &[String],
    world: &mut LiveWorld,
    tokens: Option<&super::auth::Tokens>,
    tls: Option<&crate::rig::cluster::ClusterTls>,
) -> anyhow::Result<(Collectors, String)> {
    let fps = FPS_DEFAULT / config.speed.max(1.0);
    let feed = world.serve_feed("127.0.0.1:0".parse()?, fps).await?;
    let store = match &settings.store {
        Some(s) => s.clone(),
        None => skyway_storage::StorageConfig::local_dir(config.root.join("blobs"))?.url,
    };
    let collectors = Collectors::start(CollectConfig {
        binary: config.binary.clone(),
        dir: config.root.join("logs").join("collect"),
        endpoints: endpoints.to_vec(),
        feed,
        store: store.clone(),
        cameras: world.cameras().iter().map(|p| p.spec.id.clone()).collect(),
        analyzers: settings.analyzers,
        ttl: Duration::from_secs(2),
        retention: settings.retention,
        camera_args: Vec::new(),
        env: Vec::new(),
        metrics: false,
        tokens: tokens.map(super::auth::Tokens::to_map).unwrap_or_default(),
        tls: tls.cloned(),
    })?;
    Ok((collectors, store))
}

/// One line for the terminal summary.
pub fn summary(r: &CollectReport) -> String {
    let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0} ms"));
    format!(
        "   cameras: {} frames ({} dropped, {} skipped by the feed), {} KiB to blob storage vs {} KiB to the coordinator; {} results, lag p50 {} p99 {}, {} blob errors",
        r.frames_recorded,
        r.frames_dropped,
        r.feed_skipped,
        r.bytes_to_blob >> 10,
        r.bytes_to_coordinator >> 10,
        r.results_written,
        ms(r.lag_ms_p50),
        ms(r.lag_ms_p99),
        r.blob_errors
    )
}
