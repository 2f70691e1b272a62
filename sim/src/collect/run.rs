//! Cameras and analyzers as real processes: started for `skyway collect` and `skyway demo`,
//! reported on from their stats files.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::stats::{AnalyzerStats, CameraStats};
use crate::rig::cluster::free_ports;
use crate::rig::process::Process;

/// Which cameras and analyzers to start, and against what.
#[derive(Debug, Clone)]
pub struct CollectConfig {
    /// The `skyway` binary.
    pub binary: PathBuf,
    /// Where logs and stats files go.
    pub dir: PathBuf,
    /// Coordinator endpoints.
    pub endpoints: Vec<String>,
    /// The world's scene feed.
    pub feed: SocketAddr,
    /// Blob storage URL.
    pub store: String,
    /// Camera ids.
    pub cameras: Vec<String>,
    /// Analyzer processes, each a candidate for every camera (0: cameras only).
    pub analyzers: usize,
    /// The processes' session TTL.
    pub ttl: Duration,
    /// The janitor's retention window.
    pub retention: Duration,
    /// Extra flags for every camera (e.g. `--format png`).
    pub camera_args: Vec<String>,
    /// Extra environment for every process (e.g. `AWS_ENDPOINT` and credentials for S3).
    pub env: Vec<(String, String)>,
    /// Serve each process's `/metrics` and health endpoints on a free loopback port.
    pub metrics: bool,
    /// Each process's coordinator token, by its identity (camera id, analyzer name `aN`), passed
    /// as `SKYWAY_TOKEN`; empty while the coordinator's authentication is off.
    pub tokens: BTreeMap<String, String>,
    /// The cluster's TLS, when it serves TLS: each process trusts its CA and shows the client
    /// certificate of its identity (`client-<camera id>.pem`, `client-aN.pem`).
    pub tls: Option<crate::rig::cluster::ClusterTls>,
}

/// The running processes.
pub struct Collectors {
    config: CollectConfig,
    cameras: Vec<Process>,
    analyzers: Vec<Process>,
    metrics: Vec<(String, String)>,
}

/// What the collector did, summed over its processes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CollectReport {
    /// Camera processes.
    pub cameras: usize,
    /// Analyzer processes.
    pub analyzers: usize,
    /// Frames rendered.
    pub frames_rendered: u64,
    /// Frames recorded in the coordinator (each stored first).
    pub frames_recorded: u64,
    /// Frames dropped because storage was slow or down.
    pub frames_dropped: u64,
    /// Scenes the feed skipped because a camera read too slowly.
    pub feed_skipped: u64,
    /// Failed uploads (retried).
    pub upload_errors: u64,
    /// Bytes written to blob storage (frames and truths).
    pub bytes_to_blob: u64,
    /// Bytes the cameras wrote to the coordinator (records and index).
    pub bytes_to_coordinator: u64,
    /// Objects deleted by the janitor.
    pub janitor_deleted: u64,
    /// Frames analysed.
    pub frames_analysed: u64,
    /// Results committed to `/analysis/…`.
    pub results_written: u64,
    /// Results refused because their writer was no longer primary.
    pub results_refused: u64,
    /// Frames not analysed because of blob trouble (missing, tampered, unreadable, not an image,
    /// too large).
    pub blob_errors: u64,
    /// Capture → committed result, ms: the median of the cameras' medians.
    pub lag_ms_p50: Option<f64>,
    /// Capture → committed result, ms: the worst camera's 99th percentile.
    pub lag_ms_p99: Option<f64>,
    /// Median milliseconds to render and encode a frame (median over cameras).
    pub render_ms_p50: Option<f64>,
}

impl Collectors {
    /// Starts every camera, then every analyzer.
    pub fn start(config: CollectConfig) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.dir)?;
        let ports = if config.metrics { free_ports(config.cameras.len() + config.analyzers)? } else { Vec::new() };
        let metrics: Vec<(String, String)> = config
            .cameras
            .iter()
            .cloned()
            .chain((1..=config.analyzers).map(|n| format!("analyzer-a{n}")))
            .zip(ports.iter().map(|port| format!("127.0.0.1:{port}")))
            .collect();
        let mut cameras = Vec::new();
        for id in &config.cameras {
            let mut args = vec![
                "camera".to_string(),
                "--id".into(),
                id.clone(),
                "--feed".into(),
                config.feed.to_string(),
                "--retention-s".into(),
                config.retention.as_secs().to_string(),
            ];
            args.extend(shared_args(&config, &stats_path(&config.dir, id)));
            args.extend(config.camera_args.iter().cloned());
            args.extend(metrics_flag(&metrics, id));
            cameras.push(Process::spawn_env(
                id,
                &config.binary,
                &args,
                &as_refs(&env(&config, id)),
                &config.dir.join(format!("{id}.log")),
            )?);
        }
        let mut analyzers = Vec::new();
        for n in 1..=config.analyzers {
            analyzers.push(spawn_analyzer(&config, n, &metrics_flag(&metrics, &format!("analyzer-a{n}")))?);
        }
        Ok(Self { config, cameras, analyzers, metrics })
    }

    /// Where each process serves `/metrics` (camera id or `analyzer-a<n>` → `host:port`); empty
    /// unless [`CollectConfig::metrics`] was set.
    pub fn metrics_addrs(&self) -> &[(String, String)] {
        &self.metrics
    }

    /// The analyzer processes (for faults).
    pub fn analyzers_mut(&mut self) -> &mut [Process] {
        &mut self.analyzers
    }

    /// Replaces analyzer `n` (1-based) with a fresh process, e.g. after it was killed.
    pub fn restart_analyzer(&mut self, n: usize) -> anyhow::Result<()> {
        let flag = metrics_flag(&self.metrics, &format!("analyzer-a{n}"));
        self.analyzers[n - 1] = spawn_analyzer(&self.config, n, &flag)?;
        Ok(())
    }

    /// Sums the stats files.
    pub fn report(&self) -> CollectReport {
        let mut r =
            CollectReport { cameras: self.cameras.len(), analyzers: self.analyzers.len(), ..Default::default() };
        let mut renders = Vec::new();
        for id in &self.config.cameras {
            let Some(s) = read::<CameraStats>(&stats_path(&self.config.dir, id)) else { continue };
            r.frames_rendered += s.frames_rendered;
            r.frames_recorded += s.frames_recorded;
            r.frames_dropped += s.frames_dropped;
            r.feed_skipped += s.feed_skipped;
            r.upload_errors += s.upload_errors;
            r.bytes_to_blob += s.bytes_to_blob;
            r.bytes_to_coordinator += s.bytes_to_coordinator;
            r.janitor_deleted += s.janitor_deleted;
            if s.frames_rendered > 0 {
                renders.push(s.render_ms_p50);
            }
        }
        let (mut p50s, mut p99) = (Vec::new(), None::<f64>);
        for n in 1..=self.analyzers.len() {
            let Some(s) = read::<AnalyzerStats>(&analyzer_stats_path(&self.config.dir, n)) else { continue };
            for c in s.cameras {
                r.frames_analysed += c.frames_analysed;
                r.results_written += c.results_written;
                r.results_refused += c.results_refused;
                r.blob_errors += c.blob_missing + c.blob_tampered + c.blob_errors + c.not_image + c.too_large;
                p50s.extend(c.lag_ms_p50);
                if let Some(v) = c.lag_ms_p99 {
                    p99 = Some(p99.map_or(v, |p: f64| p.max(v)));
                }
            }
        }
        r.lag_ms_p50 = median(&mut p50s);
        r.lag_ms_p99 = p99;
        r.render_ms_p50 = median(&mut renders);
        r
    }

    /// Stops every process (SIGTERM, so analyzers resign and cameras leave the membership).
    pub async fn stop(&mut self) {
        for p in self.analyzers.iter_mut().chain(self.cameras.iter_mut()) {
            let _ = p.stop(Duration::from_secs(3)).await;
        }
    }
}

/// The flags cameras and analyzers share: the coordinator, the store, the TTL, the stats file.
fn shared_args(config: &CollectConfig, stats: &Path) -> [String; 8] {
    [
        "--endpoints".into(),
        config.endpoints.join(","),
        "--store".into(),
        config.store.clone(),
        "--ttl-ms".into(),
        config.ttl.as_millis().to_string(),
        "--stats-file".into(),
        stats.display().to_string(),
    ]
}

/// `--metrics-listen ADDR` for process `name` if it has a metrics address.
fn metrics_flag(metrics: &[(String, String)], name: &str) -> Vec<String> {
    metrics
        .iter()
        .find(|(process, _)| process == name)
        .map(|(_, addr)| vec!["--metrics-listen".into(), addr.clone()])
        .unwrap_or_default()
}

fn spawn_analyzer(config: &CollectConfig, n: usize, extra: &[String]) -> anyhow::Result<Process> {
    let name = format!("a{n}");
    let mut args =
        vec!["analyzer".to_string(), "--name".into(), name.clone(), "--cameras".into(), config.cameras.join(",")];
    args.extend(shared_args(config, &analyzer_stats_path(&config.dir, n)));
    args.extend(extra.iter().cloned());
    let log = config.dir.join(format!("analyzer-{name}.log"));
    Process::spawn_env(&format!("analyzer {name}"), &config.binary, &args, &as_refs(&env(config, &name)), &log)
}

/// The shared environment, `identity`'s token if it has one, and its certificate when the
/// cluster serves TLS.
fn env(config: &CollectConfig, identity: &str) -> Vec<(String, String)> {
    let token = config.tokens.get(identity).map(|t| ("SKYWAY_TOKEN".to_string(), t.clone()));
    let tls = config.tls.iter().flat_map(|tls| tls.client_env(identity));
    config.env.iter().cloned().chain(token).chain(tls).collect()
}

fn as_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Where camera `id` writes its stats.
pub fn stats_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.stats.json"))
}

/// Where analyzer `n` writes its stats.
pub fn analyzer_stats_path(dir: &Path, n: usize) -> PathBuf {
    dir.join(format!("analyzer-a{n}.stats.json"))
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}
