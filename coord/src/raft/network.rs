//! Node-to-node traffic, outbound: openraft's RPCs over gRPC, one cached channel per peer.
//!
//! Raft messages are openraft's own serde types encoded with postcard (see `codec`). A peer
//! that cannot be reached is reported as `Unreachable`, so openraft backs off instead of
//! hammering it; a request that reached the peer but failed is a `Network` error.
//!
//! Snapshots travel in chunks, as openraft 0.10 intends for its `full_snapshot` (the v2 network
//! leaves the transport to the application): one client-streaming call whose first message is
//! a [`SnapshotHeader`] (the leader's vote, the snapshot's metadata and its size) and whose
//! following messages are the data, at most one chunk each, far below the peer message limit.
//! The receiver joins them and hands the whole snapshot to `Raft::install_full_snapshot`, so a
//! state of any size reaches a new or wiped follower. (Caveat: both ends still hold the whole
//! snapshot in memory, as the state machine itself does.)

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest, TransferLeaderResponse,
    VoteRequest, VoteResponse,
};
use openraft::{AnyError, BasicNode, OptionalSend, RaftNetworkV2};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::codec::{decode, encode};
use super::{NodeId, Snapshot, SnapshotData, SnapshotMeta, TypeConfig, Vote};
use crate::proto::raft::Payload;
use crate::proto::raft::raft_transport_client::RaftTransportClient;
use crate::status::never_sent;
use crate::tls::PeerTls;

/// Default for the largest gRPC message between nodes (`NodeConfig::peer_message_bytes_max`).
/// A replication batch or a forwarded batch stays below half of it; snapshots are chunked.
pub const PEER_MESSAGE_BYTES_MAX: usize = 512 * 1024 * 1024;
/// Most bytes of snapshot data in one message (less if the peer message limit is lower).
pub const SNAPSHOT_CHUNK_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Shortest time an append is given to be answered. openraft asks for one heartbeat interval
/// (20 ms by default), but a follower answers only after its fsync, and on a loaded machine that
/// takes longer now and then: cut off there, the append is sent again from scratch, the leader's
/// lease goes unrenewed and the sessions it serves can expire while alive. A follower that is
/// gone is not waited for: the leader needs only a quorum, and its other streams go on.
pub const APPEND_TIMEOUT_MIN: Duration = Duration::from_millis(250);

/// The first message of a snapshot stream: what the data that follows is.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SnapshotHeader {
    /// The sending leader's vote.
    pub vote: Vote,
    /// The snapshot's metadata.
    pub meta: SnapshotMeta,
    /// Bytes of data that follow, over all chunks.
    pub bytes: u64,
}

/// Cached gRPC channels to peers, shared by Raft replication and request forwarding.
#[derive(Clone)]
pub struct Peers {
    channels: Arc<Mutex<HashMap<String, Channel>>>,
    /// Peer address (as the membership advertises it) → the address to dial instead.
    routes: Arc<BTreeMap<String, String>>,
    /// Largest message sent to or accepted from a peer.
    message_bytes_max: usize,
    /// Mutual TLS to peers: the CA their certificates must come from, and this node's own.
    tls: Option<ClientTlsConfig>,
}

impl Default for Peers {
    fn default() -> Self {
        Self::new(BTreeMap::new(), None)
    }
}

impl Peers {
    /// Peers dialled through `routes` where one is given (e.g. a proxy on the link), over
    /// mutual TLS when `tls` is given.
    pub fn new(routes: BTreeMap<String, String>, tls: Option<&PeerTls>) -> Self {
        Self {
            channels: Arc::default(),
            routes: Arc::new(routes),
            message_bytes_max: PEER_MESSAGE_BYTES_MAX,
            tls: tls.map(PeerTls::client_config),
        }
    }

    /// The same peers, with another limit on one message.
    pub fn with_message_bytes_max(mut self, bytes: usize) -> Self {
        self.message_bytes_max = bytes;
        self
    }

    /// Largest message sent to or accepted from a peer.
    pub fn message_bytes_max(&self) -> usize {
        self.message_bytes_max
    }

    /// Bytes of snapshot data per message: `wanted` (openraft's configured chunk size) or
    /// [`SNAPSHOT_CHUNK_BYTES_MAX`], and never more than half a peer message.
    pub fn snapshot_chunk_bytes(&self, wanted: Option<usize>) -> usize {
        wanted.unwrap_or(SNAPSHOT_CHUNK_BYTES_MAX).min(SNAPSHOT_CHUNK_BYTES_MAX).min(self.message_bytes_max / 2).max(1)
    }

    /// A client for the peer at `addr` (host:port), reusing one HTTP/2 connection per peer.
    pub fn client(&self, addr: &str) -> Result<RaftTransportClient<Channel>, tonic::transport::Error> {
        // The certificate must name the address as the membership advertises it, even when
        // the bytes travel through a route (a proxy on the link).
        let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host).trim_matches(['[', ']']).to_string();
        let addr = self.routes.get(addr).map_or(addr, String::as_str);
        let mut channels = self.channels.lock().expect("peer cache poisoned");
        let channel = match channels.get(addr) {
            Some(channel) => channel.clone(),
            None => {
                let scheme = if self.tls.is_some() { "https" } else { "http" };
                let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))?;
                if let Some(tls) = &self.tls {
                    endpoint = endpoint.tls_config(tls.clone().domain_name(host))?;
                }
                let channel = endpoint
                    .connect_timeout(Duration::from_millis(500))
                    .tcp_nodelay(true)
                    .http2_keep_alive_interval(Duration::from_secs(5))
                    .connect_lazy();
                channels.insert(addr.to_string(), channel.clone());
                channel
            }
        };
        Ok(RaftTransportClient::new(channel)
            .max_decoding_message_size(self.message_bytes_max)
            .max_encoding_message_size(self.message_bytes_max))
    }
}

/// Creates connections to peers for openraft.
#[derive(Clone, Default)]
pub struct NetworkFactory {
    peers: Peers,
}

impl NetworkFactory {
    /// A factory sharing the given channel cache.
    pub fn new(peers: Peers) -> Self {
        Self { peers }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        PeerConnection { target, addr: node.addr.clone(), peers: self.peers.clone() }
    }
}

/// openraft's connection to one peer.
pub struct PeerConnection {
    target: NodeId,
    addr: String,
    peers: Peers,
}

/// Which RPC of the transport service to call.
#[derive(Clone, Copy, Debug)]
enum Rpc {
    Append,
    Vote,
    PreVote,
    TransferLeader,
}

impl PeerConnection {
    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        rpc: Rpc,
        request: &Req,
        ttl: Duration,
    ) -> Result<Resp, RPCError<TypeConfig>> {
        let data = encode(request).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut client = self.peers.client(&self.addr).map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        let mut request = tonic::Request::new(Payload { data: data.into() });
        request.set_timeout(ttl);
        let result = match rpc {
            Rpc::Append => client.append_entries(request).await,
            Rpc::Vote => client.vote(request).await,
            Rpc::PreVote => client.pre_vote(request).await,
            Rpc::TransferLeader => client.transfer_leader(request).await,
        };
        decode_reply(self.target, result)
    }

    /// Streams a snapshot: its header, then its data in chunks (see the module docs).
    async fn send_snapshot(
        &self,
        vote: Vote,
        snapshot: Snapshot,
        chunk_bytes: usize,
        ttl: Duration,
    ) -> Result<SnapshotResponse<TypeConfig>, RPCError<TypeConfig>> {
        let data = bytes::Bytes::from(snapshot.snapshot);
        let header = SnapshotHeader { vote, meta: snapshot.meta, bytes: data.len() as u64 };
        let header = encode(&header).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let chunks = (0..data.len())
            .step_by(chunk_bytes)
            .map(move |at| Payload { data: data.slice(at..(at + chunk_bytes).min(data.len())) });
        let messages = std::iter::once(Payload { data: header.into() }).chain(chunks);
        let mut client = self.peers.client(&self.addr).map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        let mut request = tonic::Request::new(futures::stream::iter(messages));
        request.set_timeout(ttl);
        decode_reply(self.target, client.install_snapshot(request).await)
    }
}

/// The answer of a peer's transport: its encoded `Result`, or the call's failure.
fn decode_reply<Resp: DeserializeOwned>(
    target: NodeId,
    result: Result<tonic::Response<Payload>, tonic::Status>,
) -> Result<Resp, RPCError<TypeConfig>> {
    let payload = result.map_err(|status| status_to_rpc_error(target, status))?.into_inner();
    let reply: Result<Resp, String> = decode(&payload.data).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
    reply.map_err(|message| RPCError::Network(NetworkError::new(&AnyError::error(message))))
}

fn status_to_rpc_error(target: NodeId, status: tonic::Status) -> RPCError<TypeConfig> {
    // The connection could not be made, or the peer's transport gave up on it (UNAVAILABLE, as
    // tonic reports a keep-alive timeout): the peer is down or cut off, so openraft backs off.
    // Judged by the error's kind, never by its text (see `status::never_sent`).
    if never_sent(&status) || status.code() == tonic::Code::Unavailable {
        RPCError::Unreachable(Unreachable::new(&AnyError::error(format!("node {target}: {}", status.message()))))
    } else {
        RPCError::Network(NetworkError::new(&AnyError::error(format!("node {target}: {status}"))))
    }
}

impl RaftNetworkV2<TypeConfig> for PeerConnection {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(Rpc::Append, &rpc, option.hard_ttl().max(APPEND_TIMEOUT_MIN)).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(Rpc::Vote, &rpc, option.hard_ttl()).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(Rpc::PreVote, &rpc, option.hard_ttl()).await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        // A snapshot can be large: give it far longer than a heartbeat.
        let ttl = option.hard_ttl().max(Duration::from_secs(60));
        let chunk_bytes = self.peers.snapshot_chunk_bytes(option.snapshot_chunk_size());
        let sent = tokio::select! {
            sent = self.send_snapshot(vote, snapshot, chunk_bytes, ttl) => sent,
            closed = cancel => return Err(StreamingError::Closed(closed)),
        };
        sent.map_err(|e| match e {
            RPCError::Unreachable(e) => StreamingError::Unreachable(e),
            RPCError::Timeout(e) => StreamingError::Timeout(e),
            RPCError::Network(e) => StreamingError::Network(e),
            RPCError::RemoteError(e) => StreamingError::Network(NetworkError::new(&e)),
        })
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(Rpc::TransferLeader, &req, option.hard_ttl()).await
    }
}
