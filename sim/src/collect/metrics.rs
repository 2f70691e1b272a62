//! The `/metrics`, `/health`, `/livez` and `/readyz` of camera and analyzer processes
//! (`--metrics-listen`): `skyway_camera_<thing>[_total]` and `skyway_analyzer_<thing>[_total]`.
//!
//! The processes already count everything in their stats (the same numbers the stats file
//! carries); a scrape encodes a fresh snapshot of them into a fresh registry, so the metrics and
//! the stats file can never disagree and the hot paths count in one place only.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use skyway_coord::observe::http::encode_registry;
use skyway_coord::observe::{Health, Probe};

use super::stats::{AnalyzedCamera, AnalyzerStats, CameraStats};

/// The label of a per-camera metric.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CameraLabel {
    camera: String,
}

/// The label of a per-camera quantile (a summary's `quantile` label).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct QuantileLabel {
    camera: String,
    quantile: String,
}

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let metric: Counter = Counter::default();
    metric.inc_by(value);
    registry.register(name, help, metric);
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let metric: Gauge = Gauge::default();
    metric.set(value);
    registry.register(name, help, metric);
}

/// A camera's metrics in the Prometheus text format.
pub fn camera_metrics(stats: &CameraStats) -> String {
    let mut r = Registry::with_labels([("camera".into(), stats.camera.clone().into())].into_iter());
    counter(&mut r, "skyway_camera_frames_rendered", "Frames rendered from the world's feed", stats.frames_rendered);
    counter(
        &mut r,
        "skyway_camera_frames_stored",
        "Frames whose image and truth are in blob storage",
        stats.frames_stored,
    );
    counter(
        &mut r,
        "skyway_camera_frames_recorded",
        "Frames recorded in the coordinator (each stored first)",
        stats.frames_recorded,
    );
    counter(
        &mut r,
        "skyway_camera_frames_dropped",
        "Frames dropped, oldest first, while blob storage was slow or down",
        stats.frames_dropped,
    );
    counter(
        &mut r,
        "skyway_camera_feed_skipped",
        "Scenes the feed skipped because the camera read too slowly",
        stats.feed_skipped,
    );
    counter(
        &mut r,
        "skyway_camera_blob_written_bytes",
        "Bytes written to blob storage (frames and truths)",
        stats.bytes_to_blob,
    );
    counter(
        &mut r,
        "skyway_camera_coordinator_written_bytes",
        "Bytes written to the coordinator (records and index)",
        stats.bytes_to_coordinator,
    );
    counter(&mut r, "skyway_camera_upload_errors", "Failed uploads to blob storage (retried)", stats.upload_errors);
    counter(&mut r, "skyway_camera_record_errors", "Failed coordinator writes of stored frames", stats.record_errors);
    counter(
        &mut r,
        "skyway_camera_janitor_deleted",
        "Objects this process deleted as the janitor",
        stats.janitor_deleted,
    );
    gauge(&mut r, "skyway_camera_queued_frames", "Frames waiting for blob storage now", stats.queued as i64);
    gauge(
        &mut r,
        "skyway_camera_janitor_primary",
        "1 while this process is the janitor",
        i64::from(stats.janitor_primary),
    );
    let render: Gauge<f64, AtomicU64> = Gauge::default();
    render.set(stats.render_ms_p50 / 1000.0);
    r.register("skyway_camera_render_p50_seconds", "Median time to render and encode a frame", render);
    encode_registry(&r)
}

/// An analyzer's metrics in the Prometheus text format, one series per camera.
pub fn analyzer_metrics(stats: &AnalyzerStats) -> String {
    let mut r = Registry::default();
    counter(
        &mut r,
        "skyway_analyzer_sessions",
        "Coordinator sessions opened (more than one: rejoined)",
        stats.sessions,
    );
    type PerCamera = Family<CameraLabel, Counter>;
    /// A per-camera counter: its name, its help, and where its value is in the stats.
    type CounterSpec = (&'static str, &'static str, fn(&AnalyzedCamera) -> u64);
    let families: [CounterSpec; 10] = [
        ("skyway_analyzer_frames_analysed", "Frames analysed", |c| c.frames_analysed),
        ("skyway_analyzer_frames_skipped", "Older frames skipped because newer ones came first", |c| c.frames_skipped),
        ("skyway_analyzer_results_written", "Results committed to /analysis/<camera>", |c| c.results_written),
        ("skyway_analyzer_results_refused", "Results refused: this process no longer held the role", |c| {
            c.results_refused
        }),
        ("skyway_analyzer_terms", "Times this process became the camera's primary", |c| c.terms),
        ("skyway_analyzer_blob_missing", "Frames whose blob was missing from storage", |c| c.blob_missing),
        ("skyway_analyzer_blob_tampered", "Frames whose blob's SHA-256 or size did not match", |c| c.blob_tampered),
        ("skyway_analyzer_blob_errors", "Other blob storage errors", |c| c.blob_errors),
        ("skyway_analyzer_not_image", "Blobs that were not an image", |c| c.not_image),
        ("skyway_analyzer_too_large", "Images over the decoded-size limit or not their recorded size", |c| c.too_large),
    ];
    for (name, help, value) in families {
        let family = PerCamera::default();
        for camera in &stats.cameras {
            family.get_or_create(&CameraLabel { camera: camera.camera.clone() }).inc_by(value(camera));
        }
        r.register(name, help, family);
    }
    let primary = Family::<CameraLabel, Gauge>::default();
    let lag = Family::<QuantileLabel, Gauge<f64, AtomicU64>>::default();
    for camera in &stats.cameras {
        primary.get_or_create(&CameraLabel { camera: camera.camera.clone() }).set(i64::from(camera.primary));
        for (quantile, value) in [("0.5", camera.lag_ms_p50), ("0.99", camera.lag_ms_p99)] {
            if let Some(ms) = value {
                lag.get_or_create(&QuantileLabel { camera: camera.camera.clone(), quantile: quantile.into() })
                    .set(ms / 1000.0);
            }
        }
    }
    r.register("skyway_analyzer_primary", "1 while this process is the camera's analyzer", primary);
    r.register("skyway_analyzer_lag_seconds", "Capture to committed result, by quantile of recent frames", lag);
    encode_registry(&r)
}

/// A probe over a snapshot function: its metrics are `encode(snapshot())`, and it is healthy
/// and ready while `check(snapshot())` finds nothing wrong.
pub struct StatsProbe<S> {
    snapshot: Snapshot<S>,
    encode: fn(&S) -> String,
    check: Check<S>,
}

/// Takes a process's stats now.
pub type Snapshot<S> = Arc<dyn Fn() -> S + Send + Sync>;
/// Judges a process's health from its stats.
pub type Check<S> = Arc<dyn Fn(&S) -> Health + Send + Sync>;

impl<S: 'static> StatsProbe<S> {
    /// A probe over `snapshot`.
    pub fn new(snapshot: Snapshot<S>, encode: fn(&S) -> String, check: Check<S>) -> Self {
        Self { snapshot, encode, check }
    }
}

/// A camera is healthy while blob storage keeps up: its queue is not full (a full queue drops
/// the oldest frame).
pub fn camera_check(queue_max: usize) -> Check<CameraStats> {
    Arc::new(move |stats| {
        if stats.queued as usize >= queue_max {
            Health::failing(format!(
                "blob storage is not keeping up: {} frames queued (the most kept), the oldest are being dropped",
                stats.queued
            ))
        } else {
            Health::ok()
        }
    })
}

/// An analyzer is healthy once it has a coordinator session.
pub fn analyzer_check() -> Check<AnalyzerStats> {
    Arc::new(|stats| if stats.sessions == 0 { Health::failing("no coordinator session yet") } else { Health::ok() })
}

impl<S: 'static> Probe for StatsProbe<S> {
    fn metrics(&self) -> String {
        (self.encode)(&(self.snapshot)())
    }

    fn health(&self) -> futures::future::BoxFuture<'_, Health> {
        Box::pin(async move { (self.check)(&(self.snapshot)()) })
    }

    fn ready(&self) -> Health {
        (self.check)(&(self.snapshot)())
    }
}

/// Serves a probe on `addr` in the background (port 0 picks one; the address is logged).
pub async fn serve(addr: std::net::SocketAddr, probe: Arc<dyn Probe>) -> anyhow::Result<()> {
    use anyhow::Context;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("--metrics-listen {addr}: cannot listen there (port busy?)"))?;
    tokio::spawn(async move {
        if let Err(e) = skyway_coord::observe::serve_http(listener, probe, std::future::pending()).await {
            tracing::error!("metrics server stopped: {e}");
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_metrics_carry_the_stats_under_their_names() {
        let stats = CameraStats {
            camera: "cam-1".into(),
            frames_rendered: 7,
            frames_recorded: 5,
            frames_dropped: 2,
            bytes_to_blob: 1234,
            queued: 3,
            ..Default::default()
        };
        let text = camera_metrics(&stats);
        assert!(text.contains("skyway_camera_frames_rendered_total{camera=\"cam-1\"} 7"), "{text}");
        assert!(text.contains("skyway_camera_frames_dropped_total{camera=\"cam-1\"} 2"), "{text}");
        assert!(text.contains("skyway_camera_blob_written_bytes_total{camera=\"cam-1\"} 1234"), "{text}");
        assert!(text.contains("skyway_camera_queued_frames{camera=\"cam-1\"} 3"), "{text}");
    }

    #[test]
    fn analyzer_metrics_have_one_series_per_camera_and_lag_quantiles() {
        let stats = AnalyzerStats {
            name: "a1".into(),
            sessions: 1,
            cameras: vec![
                AnalyzedCamera {
                    camera: "cam-1".into(),
                    frames_analysed: 9,
                    primary: true,
                    lag_ms_p50: Some(50.0),
                    ..Default::default()
                },
                AnalyzedCamera { camera: "cam-2".into(), blob_tampered: 1, ..Default::default() },
            ],
        };
        let text = analyzer_metrics(&stats);
        assert!(text.contains("skyway_analyzer_frames_analysed_total{camera=\"cam-1\"} 9"), "{text}");
        assert!(text.contains("skyway_analyzer_blob_tampered_total{camera=\"cam-2\"} 1"), "{text}");
        assert!(text.contains("skyway_analyzer_primary{camera=\"cam-1\"} 1"), "{text}");
        assert!(text.contains("skyway_analyzer_lag_seconds{camera=\"cam-1\",quantile=\"0.5\"} 0.05"), "{text}");
        assert!(!text.contains("camera=\"cam-2\",quantile"), "no lag series without samples: {text}");
    }
}
