//! `skyway camera`: one roadside camera as a process.
//!
//! It joins the coordinator's membership (a session with the member name `camera-<id>`, so its
//! liveness is in the membership log), watches its stretch on the world's scene feed, renders
//! each scene with the collector's renderer, and queues the encoded frame. An uploader takes
//! frames from the queue oldest first and puts the frame and then its truth into blob storage;
//! only after both uploads completed does it write the record — `/cameras/<id>/latest` and the
//! bounded index, in one transaction. So every URL in the coordinator names a stored object.
//!
//! When storage is slow or down the queue holds at most `queue_max` frames; a new frame pushes
//! the oldest out, and the drop is counted and logged. A failed upload is retried (with a short
//! back-off) for as long as its frame is still queued.
//!
//! The camera's calibration (its `CameraSpec`, lanes, lane width and frame rate) is written once to
//! `/cameras/<id>/calibration`, so an analyzer can place its loops without the feed.
//!
//! Each camera process is also a candidate for the janitor's role ([`super::janitor`]). When
//! its session is lost (the coordinator could not hear it for a TTL) it opens a new one and
//! campaigns again; frames keep going up meanwhile.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::Bytes;
use skyway_collector::record::{self, Calibration, FrameIndex, FrameRecord, calibration_path};
use skyway_collector::{Conditions, Format, LaneGeometry, Renderer, RoadScene, encode};
use skyway_coord::CoordError;
use skyway_coord::client::{Client, ClientOptions, Consistency, Create, Op, Session, Txn};
use skyway_storage::{BlobStore, StorageError};
use tokio::sync::Notify;

use super::stats::{CameraStats, Samples, write_json};
use crate::live::feed::proto::WatchRequest;
use crate::live::feed::proto::feed_client::FeedClient;

/// How a camera runs.
#[derive(Debug, Clone)]
pub struct CameraConfig {
    /// The camera's id (as the feed names it).
    pub id: String,
    /// The scene feed (`host:port`).
    pub feed: String,
    /// Coordinator endpoints.
    pub endpoints: Vec<String>,
    /// How to talk to the coordinator (its TLS).
    pub client: ClientOptions,
    /// Blob storage URL.
    pub store: String,
    /// How frames are encoded.
    pub format: Format,
    /// Imaging conditions.
    pub conditions: Conditions,
    /// Frames queued for storage at most (the oldest is dropped beyond).
    pub queue_max: usize,
    /// The session's TTL.
    pub ttl: Duration,
    /// Where to write the counters (about once a second).
    pub stats_file: Option<PathBuf>,
    /// The janitor's retention window (frames older than this are deleted).
    pub retention: Duration,
    /// Where to serve `/metrics` and the health endpoints (none: not served).
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// The queue's bound when none is given: 10 s of frames at 5 fps.
pub const QUEUE_MAX_DEFAULT: usize = 50;

struct Encoded {
    seq: u64,
    world_time_s: f64,
    wall_ms: u64,
    width: u32,
    height: u32,
    frame: Bytes,
    truth: Bytes,
}

#[derive(Default)]
struct Queue {
    frames: VecDeque<Encoded>,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Notify,
    stats: Mutex<CameraStats>,
    render_ms: Mutex<Samples>,
}

/// Wall time now, ms since the Unix epoch.
pub fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Runs a camera until interrupted.
pub async fn run(config: CameraConfig) -> anyhow::Result<()> {
    record::check_camera_id(&config.id).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(config.queue_max >= 1, "--queue-max must be at least 1");
    let store =
        BlobStore::open_url(&config.store).with_context(|| format!("cannot open blob storage {}", config.store))?;
    let client = Client::new(&config.endpoints, config.client.clone())?;
    let member = format!("camera-{}", config.id);
    let mut session =
        Arc::new(Session::open(&client, config.ttl, Some(&member)).await.context("cannot open a coordinator session")?);
    let mut feed = FeedClient::connect(format!("http://{}", config.feed))
        .await
        .with_context(|| format!("cannot reach the scene feed at {}", config.feed))?;
    let fps = match feed.cameras(crate::live::feed::proto::CamerasRequest {}).await {
        Ok(reply) => reply.into_inner().fps,
        Err(status) => anyhow::bail!("the scene feed at {} failed: {}", config.feed, status.message()),
    };
    let mut scenes = match feed.watch(WatchRequest { camera: config.id.clone() }).await {
        Ok(stream) => stream.into_inner(),
        Err(status) => anyhow::bail!("the scene feed refused camera {}: {}", config.id, status.message()),
    };
    // Continue the numbering of an earlier run of this camera.
    let (mut next_seq, index) = match client.get(&record::latest_path(&config.id), Consistency::Linearizable).await {
        Ok(node) => {
            let latest: FrameRecord =
                serde_json::from_slice(&node.data).context("the camera's latest record is unreadable")?;
            let index = match client.get(&record::index_path(&config.id), Consistency::Linearizable).await {
                Ok(node) => serde_json::from_slice(&node.data).unwrap_or_default(),
                Err(_) => FrameIndex::default(),
            };
            (latest.seq + 1, Some(index))
        }
        Err(CoordError::NotFound { .. }) => (0, None),
        Err(e) => return Err(e).context("cannot read the camera's latest record"),
    };
    tracing::info!(camera = %config.id, next_seq, store = %store.root(), "camera running");
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue::default()),
        ready: Notify::new(),
        stats: Mutex::new(CameraStats { camera: config.id.clone(), ..Default::default() }),
        render_ms: Mutex::new(Samples::default()),
    });
    if let Some(addr) = config.metrics_listen {
        let snapshot_of = shared.clone();
        let probe = super::metrics::StatsProbe::new(
            Arc::new(move || snapshot(&snapshot_of)),
            super::metrics::camera_metrics,
            super::metrics::camera_check(config.queue_max),
        );
        super::metrics::serve(addr, Arc::new(probe)).await?;
    }
    let uploader = tokio::spawn(upload_loop(config.clone(), store.clone(), client.clone(), shared.clone(), index));
    let janitor = |session: &Arc<Session>| {
        tokio::spawn(super::janitor::run(
            client.clone(),
            session.clone(),
            store.clone(),
            config.id.clone(),
            config.retention,
            shared_deleted(shared.clone()),
        ))
    };
    let mut janitor_task = janitor(&session);
    let reporter = config.stats_file.clone().map(|path| {
        let shared = shared.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                write_json(&path, &snapshot(&shared));
            }
        })
    });
    let mut renderer: Option<(Calibration, Arc<Renderer>)> = None;
    let seed = config.id.bytes().fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let interrupted = crate::cli::interrupted();
    tokio::pin!(interrupted);
    let outcome: anyhow::Result<()> = loop {
        let message = tokio::select! {
            _ = &mut interrupted => break Ok(()),
            _ = session.lost() => {
                // Frames keep going up meanwhile: only the membership and the janitor's
                // candidacy hang on the session.
                janitor_task.abort();
                tracing::warn!(camera = %config.id, "coordinator session lost: rejoining with a new session");
                match Session::open(&client, config.ttl, Some(&member)).await {
                    Ok(s) => {
                        session = Arc::new(s);
                        janitor_task = janitor(&session);
                    }
                    Err(e) => {
                        tracing::warn!(camera = %config.id, "cannot open a session yet: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                continue;
            }
            m = scenes.message() => m,
        };
        let message = match message {
            Ok(Some(m)) => m,
            Ok(None) => break Err(anyhow::anyhow!("the scene feed ended (the world stopped)")),
            Err(status) => break Err(anyhow::anyhow!("the scene feed failed: {}", status.message())),
        };
        let RoadScene { scene, closures } = match serde_json::from_slice(&message.scene_json) {
            Ok(road) => road,
            Err(e) => {
                tracing::warn!("unreadable scene from the feed, skipped: {e}");
                continue;
            }
        };
        shared.stats.lock().expect("stats").feed_skipped += message.skipped;
        let calibration =
            Calibration { camera: scene.camera.clone(), lanes: scene.lanes, lane_width_m: scene.lane_width_m, fps };
        if renderer.as_ref().is_none_or(|(c, _)| *c != calibration) {
            let geometry = LaneGeometry::new(&calibration.camera, calibration.lanes, calibration.lane_width_m)?;
            write_calibration(&client, &config.id, &calibration, &shared).await;
            renderer = Some((calibration, Arc::new(Renderer::new(geometry))));
        }
        let r = renderer.as_ref().expect("set above").1.clone();
        let (conditions, format, world_time_s) = (config.conditions.clone(), config.format, scene.time_s);
        let started = Instant::now();
        let rendered = tokio::task::spawn_blocking(move || -> anyhow::Result<(u32, u32, Vec<u8>, Vec<u8>)> {
            let (image, truth) = r.render_with(&scene, &closures, &conditions, seed);
            let frame = encode(&image, format)?;
            Ok((image.width(), image.height(), frame, serde_json::to_vec(&truth)?))
        })
        .await?;
        let (width, height, frame, truth) = match rendered {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("cannot render a frame: {e:#}");
                continue;
            }
        };
        shared.render_ms.lock().expect("samples").push(started.elapsed().as_secs_f64() * 1000.0);
        let encoded = Encoded {
            seq: next_seq,
            world_time_s,
            wall_ms: wall_ms(),
            width,
            height,
            frame: Bytes::from(frame),
            truth: Bytes::from(truth),
        };
        next_seq += 1;
        enqueue(&shared, encoded, config.queue_max);
    };
    uploader.abort();
    janitor_task.abort();
    if let Some(r) = reporter {
        r.abort();
    }
    if let Some(path) = &config.stats_file {
        write_json(path, &snapshot(&shared));
    }
    if let Ok(session) = Arc::try_unwrap(session) {
        let _ = session.close().await;
    }
    outcome
}

fn shared_deleted(shared: Arc<Shared>) -> super::janitor::Report {
    Arc::new(move |deleted, primary| {
        let mut stats = shared.stats.lock().expect("stats");
        stats.janitor_deleted += deleted;
        stats.janitor_primary = primary;
    })
}

fn snapshot(shared: &Shared) -> CameraStats {
    let mut stats = shared.stats.lock().expect("stats").clone();
    stats.queued = shared.queue.lock().expect("queue").frames.len() as u64;
    stats.render_ms_p50 = shared.render_ms.lock().expect("samples").quantile(0.5).unwrap_or(0.0);
    stats
}

/// Queues a frame; beyond `max`, the oldest is dropped and counted.
fn enqueue(shared: &Shared, frame: Encoded, max: usize) {
    let mut dropped = 0;
    {
        let mut queue = shared.queue.lock().expect("queue");
        queue.frames.push_back(frame);
        while queue.frames.len() > max {
            queue.frames.pop_front();
            dropped += 1;
        }
    }
    let mut stats = shared.stats.lock().expect("stats");
    stats.frames_rendered += 1;
    if dropped > 0 {
        stats.frames_dropped += dropped;
        tracing::warn!(camera = %stats.camera, dropped = stats.frames_dropped, max, "blob storage too slow: oldest frame dropped");
    }
    drop(stats);
    shared.ready.notify_one();
}

async fn write_calibration(client: &Client, id: &str, calibration: &Calibration, shared: &Shared) {
    let Ok(json) = serde_json::to_vec(calibration) else { return };
    let path = calibration_path(id);
    let len = json.len() as u64;
    let written = match client.set(&path, json.clone(), None).await {
        Ok(_) => Ok(()),
        Err(CoordError::NotFound { .. }) => client
            .create(Create { path, data: json.into(), make_parents: true, ..Default::default() })
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    match written {
        Ok(()) => shared.stats.lock().expect("stats").bytes_to_coordinator += len,
        Err(e) => tracing::warn!(camera = id, "cannot write the calibration: {e}"),
    }
}

async fn upload_loop(
    config: CameraConfig,
    store: BlobStore,
    client: Client,
    shared: Arc<Shared>,
    mut index: Option<FrameIndex>,
) {
    loop {
        let next = shared.queue.lock().expect("queue").frames.pop_front();
        let Some(frame) = next else {
            shared.ready.notified().await;
            continue;
        };
        let stored = match upload(&config, &store, &frame).await {
            Ok(stored) => stored,
            Err(e) => {
                shared.stats.lock().expect("stats").upload_errors += 1;
                tracing::warn!(camera = %config.id, seq = frame.seq, "upload failed, retrying while the frame is queued: {e}");
                // Back in front, unless newer frames have filled the queue meanwhile.
                let requeued = {
                    let mut queue = shared.queue.lock().expect("queue");
                    let room = queue.frames.len() < config.queue_max;
                    if room {
                        queue.frames.push_front(frame);
                    }
                    room
                };
                if !requeued {
                    shared.stats.lock().expect("stats").frames_dropped += 1;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        {
            let mut stats = shared.stats.lock().expect("stats");
            stats.frames_stored += 1;
            stats.bytes_to_blob += (frame.frame.len() + frame.truth.len()) as u64;
        }
        // Only now, with both objects stored, does the coordinator hear of the frame.
        match write_record(&client, &config.id, &stored, &mut index).await {
            Ok(bytes) => {
                let mut stats = shared.stats.lock().expect("stats");
                stats.frames_recorded += 1;
                stats.bytes_to_coordinator += bytes;
                stats.last_seq = Some(stored.seq);
            }
            Err(e) => {
                shared.stats.lock().expect("stats").record_errors += 1;
                tracing::warn!(camera = %config.id, seq = stored.seq, "frame stored but not recorded: {e}");
            }
        }
    }
}

async fn upload(config: &CameraConfig, store: &BlobStore, frame: &Encoded) -> Result<FrameRecord, StorageError> {
    let key = record::frame_key(&config.id, frame.wall_ms, frame.seq, config.format);
    let blob = store.put(&key, frame.frame.clone()).await?;
    let truth = store.put(&record::truth_key(&key), frame.truth.clone()).await?;
    let to_ref = |b: skyway_storage::BlobRef| record::BlobRef { url: b.url, sha256: b.sha256, size: b.size };
    Ok(FrameRecord {
        camera: config.id.clone(),
        seq: frame.seq,
        world_time_s: frame.world_time_s,
        wall_ms: frame.wall_ms,
        frame: to_ref(blob),
        truth: to_ref(truth),
        width: frame.width,
        height: frame.height,
        format: config.format,
    })
}

/// Writes `latest` and the index in one transaction; returns the bytes written.
async fn write_record(
    client: &Client,
    id: &str,
    record: &FrameRecord,
    index: &mut Option<FrameIndex>,
) -> Result<u64, CoordError> {
    let first = index.is_none();
    let mut next = index.clone().unwrap_or_default();
    next.push(record);
    let latest = serde_json::to_vec(record).expect("a record serializes");
    let listed = serde_json::to_vec(&next).expect("an index serializes");
    let bytes = (latest.len() + listed.len()) as u64;
    let op = |path: String, data: Vec<u8>| {
        if first {
            Op::Create(Create::new(path, data).make_parents())
        } else {
            Op::Set { path, data: data.into(), expected_version: None }
        }
    };
    let request =
        Txn { checks: Vec::new(), ops: vec![op(record::latest_path(id), latest), op(record::index_path(id), listed)] };
    match client.txn(request).await {
        Ok(_) => {}
        // Another run created them meanwhile: from now on, set.
        Err(CoordError::NodeExists { .. }) if first => {
            *index = Some(FrameIndex::default());
            return Box::pin(write_record(client, id, record, index)).await;
        }
        Err(e) => return Err(e),
    }
    *index = Some(next);
    Ok(bytes)
}
