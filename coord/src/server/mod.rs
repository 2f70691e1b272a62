//! One coordinator node as a network service: the node itself (`node`), the public API
//! (`api`), the node-to-node transport (`transport`), and the edges (`convert`, `status`,
//! `identity`).

pub mod api;
pub mod convert;
pub mod forward;
pub mod identity;
pub mod limits;
pub mod node;
pub mod status;
pub mod transport;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

pub use self::node::CoordNode;
use crate::config::NodeConfig;
use crate::error::CoordError;
use crate::observe::grpc::GrpcMetricsLayer;
use crate::observe::node_probe::{COORD_SERVICE_NAME, NodeProbe, watch_leadership};
use crate::observe::serve_http;
use crate::proto::coord::coord_server::CoordServer;
use crate::proto::raft::raft_transport_server::RaftTransportServer;
use crate::raft::network::PEER_MESSAGE_BYTES_MAX;

/// How often the leader looks for expired sessions. Small against the shortest TTL.
const SESSION_EXPIRY_TICK: Duration = Duration::from_millis(10);
/// How long a leader shutting down cleanly waits for its successor to take over.
const LEADERSHIP_HANDOVER_TIMEOUT: Duration = Duration::from_secs(2);

/// Starts a node and serves it on an already-bound listener until `shutdown` completes.
pub async fn serve(
    config: NodeConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), CoordError> {
    serve_with_metrics(config, listener, None, shutdown).await
}

/// Like [`serve`], and with `metrics_listener` serves `/metrics`, `/health`, `/livez` and
/// `/readyz` over HTTP on it (see [`crate::observe`]).
pub async fn serve_with_metrics(
    config: NodeConfig,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), CoordError> {
    let node = CoordNode::start(config).await?;
    let expiry = tokio::spawn(node.clone().run_session_expiry(SESSION_EXPIRY_TICK));
    let http = metrics_listener.map(|listener| {
        let probe = Arc::new(NodeProbe::new(node.clone()));
        tokio::spawn(async move {
            if let Err(e) = serve_http(listener, probe, std::future::pending()).await {
                tracing::error!("the metrics endpoint failed: {e}");
            }
        })
    });
    // Hand leadership over while the transport still serves, then stop.
    let handover = {
        let node = node.clone();
        async move {
            shutdown.await;
            node.hand_over_leadership(LEADERSHIP_HANDOVER_TIMEOUT).await;
        }
    };
    let result = serve_node(node.clone(), listener, handover).await;
    expiry.abort();
    if let Some(http) = http {
        http.abort();
    }
    if let Err(e) = node.raft.shutdown().await {
        tracing::warn!("raft shutdown: {e}");
    }
    result
}

/// Serves an already-started node.
pub async fn serve_node(
    node: Arc<CoordNode>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), CoordError> {
    let addr = listener.local_addr().ok();
    tracing::info!(node = node.config.id, ?addr, "serving");
    // Decoded up to twice the request limit, so that a request somewhat over it gets the clear
    // `RequestTooLarge` from the edge check rather than the transport's bare refusal.
    let api = CoordServer::new(api::ApiService::new(node.clone()))
        .max_decoding_message_size(node.config.request_bytes_max * 2 + 64 * 1024)
        .max_encoding_message_size(PEER_MESSAGE_BYTES_MAX);
    let transport = RaftTransportServer::new(transport::TransportService::new(node.clone()))
        .max_decoding_message_size(node.config.peer_message_bytes_max)
        .max_encoding_message_size(node.config.peer_message_bytes_max);
    // The standard health service and reflection (of the client API only), so grpcurl and
    // Kubernetes' gRPC probes work without the .proto files.
    let (reporter, health) = tonic_health::server::health_reporter();
    let leadership = tokio::spawn(watch_leadership(node.clone(), reporter));
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .with_service_name(COORD_SERVICE_NAME)
        .with_service_name("grpc.health.v1.Health")
        .build_v1()
        .map_err(|e| CoordError::Internal { reason: format!("reflection service: {e}") })?;
    let served = tonic::transport::Server::builder()
        .concurrency_limit_per_connection(node.config.streams_per_connection_max as usize)
        .max_concurrent_streams(node.config.streams_per_connection_max)
        .layer(GrpcMetricsLayer::new(node.metrics.clone()))
        .add_service(api)
        .add_service(transport)
        .add_service(health)
        .add_service(reflection)
        .serve_with_incoming_shutdown(limits::limited_incoming(listener, node.config.connections_max), shutdown)
        .await
        .map_err(|e| CoordError::Internal { reason: format!("gRPC server failed: {e}") });
    leadership.abort();
    served
}
