//! Node-to-node traffic, inbound: decodes openraft's RPCs and forwarded client requests and
//! hands them to the local node.

use std::sync::Arc;

use openraft::alias::SnapshotOf;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::{Request, Response, Status};

use super::forward::Forwarded;
use super::node::CoordNode;
use crate::proto::raft::Payload;
use crate::proto::raft::raft_transport_server::RaftTransport;
use crate::raft::codec::{decode, encode};
use crate::raft::network::SnapshotHeader;
use crate::raft::{SnapshotData, TypeConfig};

/// The gRPC service peers call.
pub struct TransportService {
    node: Arc<CoordNode>,
}

impl TransportService {
    /// A service for `node`.
    pub fn new(node: Arc<CoordNode>) -> Self {
        Self { node }
    }
}

fn decode_request<T: DeserializeOwned>(request: Request<Payload>) -> Result<T, Status> {
    decode(&request.into_inner().data).map_err(|e| Status::invalid_argument(format!("malformed peer message: {e}")))
}

/// Encodes an answer; a Raft-level error travels as a string inside a successful RPC, so the
/// sender can tell "the peer said no" from "the peer could not be reached".
fn reply<T: Serialize, E: std::fmt::Display>(result: Result<T, E>) -> Result<Response<Payload>, Status> {
    let result = result.map_err(|e| e.to_string());
    let data = encode(&result).map_err(|e| Status::internal(e.to_string()))?;
    Ok(Response::new(Payload { data: data.into() }))
}

/// Joins a snapshot stream (see `raft::network`): a header, then chunks that add up to exactly
/// the size it declared. Anything else is refused before openraft sees it.
async fn receive_snapshot(mut stream: tonic::Streaming<Payload>) -> Result<(SnapshotHeader, SnapshotData), Status> {
    let first = stream.message().await?.ok_or_else(|| Status::invalid_argument("empty snapshot stream"))?;
    let header: SnapshotHeader =
        decode(&first.data).map_err(|e| Status::invalid_argument(format!("malformed snapshot header: {e}")))?;
    let declared = usize::try_from(header.bytes)
        .map_err(|_| Status::invalid_argument(format!("snapshot of {} bytes cannot be held", header.bytes)))?;
    // Grown as chunks arrive, not reserved from the header: a lying header allocates nothing.
    let mut data = Vec::new();
    while let Some(chunk) = stream.message().await? {
        if data.len() + chunk.data.len() > declared {
            return Err(Status::invalid_argument(format!(
                "snapshot stream carries more than the {declared} bytes its header declared"
            )));
        }
        data.extend_from_slice(&chunk.data);
    }
    if data.len() != declared {
        return Err(Status::invalid_argument(format!(
            "snapshot stream ended after {} of the {declared} bytes its header declared",
            data.len()
        )));
    }
    Ok((header, data))
}

#[tonic::async_trait]
impl RaftTransport for TransportService {
    async fn append_entries(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        reply(self.node.raft.append_entries(decode_request(request)?).await)
    }

    async fn vote(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        let request = decode_request(request)?;
        // A node that just started honours no lease it may have granted before (see
        // `server::node`): it answers once that lease is surely over.
        self.node.wait_until_it_may_vote().await;
        reply(self.node.raft.vote(request).await)
    }

    async fn pre_vote(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        reply(self.node.raft.pre_vote(decode_request(request)?).await)
    }

    async fn install_snapshot(&self, request: Request<tonic::Streaming<Payload>>) -> Result<Response<Payload>, Status> {
        let (header, data) = receive_snapshot(request.into_inner()).await?;
        let snapshot = SnapshotOf::<TypeConfig, SnapshotData> { meta: header.meta, snapshot: data };
        reply(self.node.raft.install_full_snapshot(header.vote, snapshot).await)
    }

    async fn transfer_leader(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        reply(self.node.raft.handle_transfer_leader(decode_request(request)?).await)
    }

    async fn forward(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        let forwarded: Forwarded = decode_request(request)?;
        let result = self.node.handle_forwarded(forwarded).await;
        let data = encode(&result).map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(Payload { data: data.into() }))
    }
}
