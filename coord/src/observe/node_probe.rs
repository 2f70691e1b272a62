//! The coordinator node's probe: gauges that mirror state are read from the node at scrape
//! time; `/health` is what etcd's is — a read through the quorum — so a node cut from the
//! quorum, or without a leader, answers 503 even while it still serves stale local reads;
//! `/readyz` only asks whether a leader is known. [`watch_leadership`] follows the node's Raft
//! metrics to count leader changes and to keep the gRPC health service's status current.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use openraft::async_runtime::WatchReceiver;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use super::coord_metrics::gauge_value;
use super::http::{Health, Probe, encode_registry};
use crate::server::CoordNode;

/// How long `/health`'s quorum read may take before the node is declared unhealthy.
pub const HEALTH_READ_TIMEOUT: Duration = Duration::from_secs(1);

/// The gRPC service name whose health the node reports (besides the server as a whole, `""`).
pub const COORD_SERVICE_NAME: &str = "skyway.coord.v1.Coord";

/// A coordinator node, as its HTTP endpoint sees it.
pub struct NodeProbe {
    node: Arc<CoordNode>,
}

impl NodeProbe {
    /// The probe of `node`.
    pub fn new(node: Arc<CoordNode>) -> Self {
        Self { node }
    }

    /// Brings the state-mirroring gauges up to date.
    fn refresh(&self) {
        let m = &self.node.metrics;
        let raft = self.node.raft.metrics().borrow_watched().clone();
        m.raft_term.set(gauge_value(raft.current_term));
        m.raft_commit_index.set(gauge_value(raft.local_committed.map_or(0, |l| l.index())));
        m.raft_applied_index.set(gauge_value(raft.last_applied.map_or(0, |l| l.index())));
        m.raft_last_log_index.set(gauge_value(raft.last_log_index.unwrap_or(0)));
        m.raft_is_leader.set(i64::from(raft.state == openraft::ServerState::Leader));
        m.raft_has_leader.set(i64::from(raft.current_leader.is_some()));
        let state = self.node.shared.read();
        m.sessions.set(gauge_value(state.sessions().len() as u64));
        m.nodes.set(gauge_value(state.node_count() as u64));
    }
}

impl Probe for NodeProbe {
    fn metrics(&self) -> String {
        self.refresh();
        encode_registry(self.node.metrics.registry())
    }

    fn health(&self) -> BoxFuture<'_, Health> {
        Box::pin(async move {
            if self.node.leader().is_none() {
                return Health::failing("no leader: this node cannot reach a quorum");
            }
            match tokio::time::timeout(HEALTH_READ_TIMEOUT, self.node.linearize()).await {
                Ok(Ok(())) => Health::ok(),
                Ok(Err(e)) => Health::failing(format!("a read through the quorum failed: {e}")),
                Err(_) => Health::failing(format!(
                    "a read through the quorum took longer than {HEALTH_READ_TIMEOUT:?}: cut from the quorum?"
                )),
            }
        })
    }

    fn ready(&self) -> Health {
        match self.node.leader() {
            Some(_) => Health::ok(),
            None => Health::failing("no leader known"),
        }
    }
}

/// Follows the node's Raft metrics until Raft stops: counts each change to a different known
/// leader, and reports the gRPC health service SERVING while a leader is known.
pub async fn watch_leadership(node: Arc<CoordNode>, reporter: HealthReporter) {
    let mut raft = node.raft.metrics();
    let mut last_leader = None;
    let mut last_serving = None;
    loop {
        let leader = raft.borrow_watched().current_leader;
        if leader.is_some() && leader != last_leader {
            // As etcd's `leader_changes_seen_total`: the first leader seen counts too.
            node.metrics.raft_leader_changes.inc();
            last_leader = leader;
        }
        let serving = leader.is_some();
        if last_serving != Some(serving) {
            let status = if serving { ServingStatus::Serving } else { ServingStatus::NotServing };
            reporter.set_service_status("", status).await;
            reporter.set_service_status(COORD_SERVICE_NAME, status).await;
            last_serving = Some(serving);
        }
        if raft.changed().await.is_err() {
            return;
        }
    }
}
