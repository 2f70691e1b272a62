//! The scene feed: the live world serves what each camera sees to camera processes over gRPC
//! (`proto/feed.proto`), next to the actuator.
//!
//! The world's thread hands every tick's vehicles to a broadcast channel (only while someone
//! watches); each watcher of the `Watch` call translates them into its camera's
//! [`RoadScene`](skyway_collector::RoadScene)s (a scene and its closed lanes) at the feed's frame rate of world time
//! ([`super::cameras`]) and streams them as JSON. A watcher that reads too slowly loses the
//! oldest ticks, never holds up the world, and is told how many scenes it missed.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status};

use super::cameras::{self, FeedTick, Placement};

/// The generated gRPC types of `proto/feed.proto`.
#[allow(missing_docs, clippy::all)]
pub mod proto {
    tonic::include_proto!("skyway.feed");
}

use proto::feed_server::{Feed, FeedServer};
use proto::{CamerasReply, CamerasRequest, SceneMessage, WatchRequest};

/// Frames per second of world time by default (the 5 fps).
pub const FPS_DEFAULT: f64 = 5.0;
/// World ticks buffered per watcher before the oldest are dropped (10 s of world time).
pub const TICKS_BUFFERED: usize = 40;

/// The feed's side of the world thread: where ticks go.
#[derive(Clone)]
pub struct TickSender(broadcast::Sender<Arc<FeedTick>>);

impl Default for TickSender {
    fn default() -> Self {
        Self(broadcast::channel(TICKS_BUFFERED).0)
    }
}

impl TickSender {
    /// Whether anyone watches (the world thread skips collecting vehicles otherwise).
    pub fn wanted(&self) -> bool {
        self.0.receiver_count() > 0
    }

    /// Hands one tick to every watcher.
    pub fn send(&self, tick: FeedTick) {
        let _ = self.0.send(Arc::new(tick));
    }
}

struct FeedService {
    ticks: TickSender,
    placements: Arc<Vec<Placement>>,
    fps: f64,
}

#[tonic::async_trait]
impl Feed for FeedService {
    async fn cameras(&self, _: Request<CamerasRequest>) -> Result<Response<CamerasReply>, Status> {
        let cameras = self.placements.iter().map(|p| p.spec.id.clone()).collect();
        Ok(Response::new(CamerasReply { cameras, fps: self.fps }))
    }

    type WatchStream = ReceiverStream<Result<SceneMessage, Status>>;

    async fn watch(&self, request: Request<WatchRequest>) -> Result<Response<Self::WatchStream>, Status> {
        let id = request.into_inner().camera;
        let Some(placement) = self.placements.iter().find(|p| p.spec.id == id).cloned() else {
            let known: Vec<&str> = self.placements.iter().map(|p| p.spec.id.as_str()).collect();
            return Err(Status::not_found(format!(
                "no camera {id:?} in this world; its cameras are {}",
                known.join(", ")
            )));
        };
        let mut ticks = self.ticks.0.subscribe();
        let fps = self.fps;
        let (out, stream) = mpsc::channel(8);
        tokio::spawn(async move {
            let mut skipped = 0u64;
            loop {
                let tick = match ticks.recv().await {
                    Ok(tick) => tick,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        skipped += (n as f64 * 0.25 * fps).round() as u64;
                        tracing::warn!(camera = %placement.spec.id, ticks = n, "scene watcher too slow: ticks dropped");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                for slot in cameras::slots(&tick, fps) {
                    let scene = cameras::road_scene(&placement, &tick, slot as f64 / fps);
                    let scene_json = match serde_json::to_vec(&scene) {
                        Ok(json) => json,
                        Err(e) => {
                            tracing::error!("cannot encode a scene: {e}");
                            continue;
                        }
                    };
                    let message = SceneMessage { slot, scene_json, skipped: std::mem::take(&mut skipped) };
                    match out.try_send(Ok(message)) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => skipped += 1,
                        Err(mpsc::error::TrySendError::Closed(_)) => return,
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(stream)))
    }
}

/// Serves the feed for `placements` on `listener` until the task is dropped.
pub async fn serve(
    listener: TcpListener,
    ticks: TickSender,
    placements: Vec<Placement>,
    fps: f64,
) -> anyhow::Result<()> {
    anyhow::ensure!(fps > 0.0 && fps <= 30.0, "fps {fps} is out of range: 0 < fps <= 30");
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(?addr, cameras = placements.len(), fps, "scene feed serving");
    let service = FeedService { ticks, placements: Arc::new(placements), fps };
    tonic::transport::Server::builder()
        .add_service(FeedServer::new(service))
        .serve_with_incoming(TcpListenerStream::new(listener))
        .await
        .context("the scene feed stopped serving")
}
