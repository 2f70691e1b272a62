//! Node-to-node traffic, inbound: decodes openraft's RPCs and forwarded client requests and
//! hands them to the local node.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::{Request, Response, Status};

use super::forward::Forwarded;
use super::node::CoordNode;
use crate::proto::raft::Payload;
use crate::proto::raft::raft_transport_server::RaftTransport;
use crate::raft::codec::{decode, encode};
use crate::raft::{SnapshotData, SnapshotMeta, Vote};

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

    async fn install_snapshot(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        let (vote, meta, data): (Vote, SnapshotMeta, SnapshotData) = decode_request(request)?;
        let snapshot = openraft::alias::SnapshotOf::<crate::raft::TypeConfig, SnapshotData> { meta, snapshot: data };
        reply(self.node.raft.install_full_snapshot(vote, snapshot).await)
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
