//! One coordinator node as a network service: the node itself (`node`), the public API
//! (`api`) on the client port, the node-to-node transport (`transport`) on its own peer port
//! behind the members-only guard (`peer_guard`), the caller's certificate identity
//! (`identity`), and the edges (`convert`, `status`).

pub mod api;
pub mod convert;
pub mod forward;
pub mod identity;
pub mod limits;
pub mod node;
pub mod peer_guard;
pub mod read_rounds;
pub mod transport;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;

pub use self::identity::certificate_identity;
pub use self::node::CoordNode;
use self::peer_guard::PeerGuard;
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

/// The sockets a node serves on, already bound (so tests can bind port 0).
pub struct Listeners {
    /// The client API, with the gRPC health service and reflection.
    pub client: TcpListener,
    /// Node-to-node traffic: the Raft transport (append entries, vote, snapshots, transfer
    /// leader, forwarded writes). Its address is the one the membership records for this node.
    pub peer: TcpListener,
    /// `/metrics`, `/health`, `/livez` and `/readyz` over HTTP (see [`crate::observe`]), if given.
    pub metrics: Option<TcpListener>,
}

/// Starts a node and serves it on already-bound listeners until `shutdown` completes.
pub async fn serve(
    config: NodeConfig,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> Result<(), CoordError> {
    let node = CoordNode::start(config).await?;
    let expiry = tokio::spawn(node.clone().run_session_expiry(SESSION_EXPIRY_TICK));
    let http = listeners.metrics.map(|listener| {
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
    let result = serve_node(node.clone(), listeners.client, listeners.peer, handover).await;
    expiry.abort();
    if let Some(http) = http {
        http.abort();
    }
    if let Err(e) = node.raft.shutdown().await {
        tracing::warn!("raft shutdown: {e}");
    }
    result
}

/// Serves an already-started node: the client API on `client`, the Raft transport on `peer`,
/// both until `shutdown` completes.
pub async fn serve_node(
    node: Arc<CoordNode>,
    client: TcpListener,
    peer: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), CoordError> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let stopping = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }
    };
    let client = serve_clients(node.clone(), client, stopping());
    let peer = serve_peers(node.clone(), peer, stopping());
    let shutdown = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    let (client, peer, ()) = tokio::join!(client, peer, shutdown);
    client.and(peer)
}

/// Logs loudly when a port serves plaintext beyond this machine.
fn warn_if_plaintext_off_loopback(what: &str, addr: Option<SocketAddr>, tls: bool) {
    if let Some(addr) = addr.filter(|a| !tls && !a.ip().is_loopback()) {
        tracing::warn!(
            %addr,
            "SERVING THE {what} IN PLAINTEXT ON A NON-LOOPBACK ADDRESS: anyone on the network can read and forge \
             this traffic; give TLS certificates (see `skyway certs init` and `skyway coord serve --help`)"
        );
    }
}

fn tls_error(port: &str, error: tonic::transport::Error) -> CoordError {
    CoordError::InvalidArgument {
        reason: format!("cannot set up TLS on the {port} port ({error}): does the key belong to the certificate?"),
    }
}

/// The client port: the API, health and reflection (never the Raft transport).
async fn serve_clients(
    node: Arc<CoordNode>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), CoordError> {
    let addr = listener.local_addr().ok();
    let tls = node.config.tls.clone();
    tracing::info!(node = node.config.id, ?addr, tls = tls.is_some(), "serving clients");
    warn_if_plaintext_off_loopback("CLIENT API", addr, tls.is_some());
    // Decoded up to twice the request limit, so that a request somewhat over it gets the clear
    // `RequestTooLarge` from the edge check rather than the transport's bare refusal.
    let api = CoordServer::new(api::ApiService::new(node.clone()))
        .max_decoding_message_size(node.config.request_bytes_max * 2 + 64 * 1024)
        .max_encoding_message_size(PEER_MESSAGE_BYTES_MAX);
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
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &tls {
        builder = builder.tls_config(tls.server_config()).map_err(|e| tls_error("client", e))?;
    }
    let served = builder
        .concurrency_limit_per_connection(node.config.streams_per_connection_max as usize)
        .max_concurrent_streams(node.config.streams_per_connection_max)
        .layer(GrpcMetricsLayer::new(node.metrics.clone()))
        .add_service(api)
        .add_service(health)
        .add_service(reflection)
        .serve_with_incoming_shutdown(limits::limited_incoming(listener, node.config.connections_max), shutdown)
        .await
        .map_err(|e| CoordError::Internal { reason: format!("gRPC server (client port) failed: {e}") });
    leadership.abort();
    served
}

/// The peer port: the Raft transport only, behind the [`PeerGuard`] (members only, by
/// certificate, when TLS is on).
async fn serve_peers(
    node: Arc<CoordNode>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), CoordError> {
    let addr = listener.local_addr().ok();
    let tls = node.config.peer_tls.clone();
    tracing::info!(node = node.config.id, ?addr, mutual_tls = tls.is_some(), "serving peers");
    warn_if_plaintext_off_loopback("PEER PORT (RAFT)", addr, tls.is_some());
    let transport = RaftTransportServer::new(transport::TransportService::new(node.clone()))
        .max_decoding_message_size(node.config.peer_message_bytes_max)
        .max_encoding_message_size(node.config.peer_message_bytes_max);
    let guarded = InterceptedService::new(transport, PeerGuard::new(node.clone(), tls.is_some()));
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &tls {
        builder = builder.tls_config(tls.server_config()).map_err(|e| tls_error("peer", e))?;
    }
    builder
        .concurrency_limit_per_connection(node.config.streams_per_connection_max as usize)
        .max_concurrent_streams(node.config.streams_per_connection_max)
        .layer(GrpcMetricsLayer::new(node.metrics.clone()))
        .add_service(guarded)
        .serve_with_incoming_shutdown(limits::limited_incoming(listener, node.config.connections_max), shutdown)
        .await
        .map_err(|e| CoordError::Internal { reason: format!("gRPC server (peer port) failed: {e}") })
}
