//! The peer port lets in members only.
//!
//! With TLS between nodes (`--peer-cert --peer-key --peer-ca`) the handshake already refuses a
//! peer without a certificate from the peer CA. This guard then checks every Raft transport
//! request (append entries, vote, snapshot, transfer leader, forwarded writes) against the
//! cluster: the certificate's identity must be `node-N` ([`super::identity`]) and N must be a
//! member, which means one of:
//! - a voter or learner of the membership this node currently knows (openraft's effective
//!   membership: the latest membership entry in its log, committed or not, so a node being
//!   added is let in as soon as the leader has proposed it);
//! - one of the initial voters this node was started with (`--peers`), so a cluster forms
//!   before its first membership entry reaches every node;
//! - anyone with a node certificate while this node knows no membership at all: a node started
//!   with `--join` waits for the leader to add it and cannot know the leader's id before the
//!   leader's first message (which carries the membership).
//!
//! A node removed from the cluster keeps a valid certificate but is refused from then on.
//!
//! # Caveats
//! Membership is checked by node id, not by the address the node dials from (addresses change
//! behind NATs and proxies; the certificate is what proves who a peer is). Without TLS there is
//! no identity to check: plaintext between nodes is for loopback, and a node serving its peer
//! port in plaintext elsewhere says so loudly in its log.

use std::sync::Arc;

use openraft::async_runtime::WatchReceiver;
use tonic::service::Interceptor;
use tonic::{Request, Status};

use super::identity::{certificate_identity, node_id_of_identity};
use super::node::CoordNode;

/// The interceptor in front of the Raft transport service.
#[derive(Clone)]
pub struct PeerGuard {
    node: Arc<CoordNode>,
    /// Whether the peer port runs mutual TLS (otherwise nothing can be checked).
    tls: bool,
}

impl PeerGuard {
    /// A guard for `node`'s peer port; `tls` says whether it demands certificates.
    pub fn new(node: Arc<CoordNode>, tls: bool) -> Self {
        Self { node, tls }
    }

    /// Whether node `id` counts as a member (see the module docs).
    fn is_member(&self, id: u64) -> bool {
        let metrics = self.node.raft.metrics().borrow_watched().clone();
        let membership = metrics.membership_config.membership();
        let known: Vec<u64> = membership.voter_ids().chain(membership.learner_ids()).collect();
        known.is_empty() || known.contains(&id) || self.node.config.peers.contains_key(&id)
    }
}

impl Interceptor for PeerGuard {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        if !self.tls {
            return Ok(request);
        }
        let Some(identity) = certificate_identity(&request) else {
            return Err(Status::unauthenticated(
                "the peer port needs a node certificate (from the cluster's --peer-ca) naming node-N",
            ));
        };
        let Some(id) = node_id_of_identity(&identity) else {
            tracing::warn!(%identity, "refused a peer request: the certificate is not a node's");
            return Err(Status::permission_denied(format!(
                "certificate identity {identity:?} is not a coordinator node's (node-N): the peer port serves nodes only"
            )));
        };
        if !self.is_member(id) {
            tracing::warn!(%identity, "refused a peer request: node {id} is not a member of this cluster");
            return Err(Status::permission_denied(format!(
                "{identity} is not a member of this cluster: add it first (`skyway ctl member-add`)"
            )));
        }
        Ok(request)
    }
}
