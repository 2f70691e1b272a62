//! The coordinator node's metrics: one explicit [`Registry`] per node, names
//! `skyway_coord_<thing>_<unit>[_total]` (the `_total` of a counter is added by the encoder).
//!
//! Counters and histograms are updated where the events happen (a gRPC call ends, a proposal is
//! made, the log is fsynced, a snapshot is built); gauges that mirror state (Raft term and
//! indexes, sessions, nodes) are read from the node at scrape time, so they cannot drift.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The labels of a gRPC call: which method, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CallLabels {
    /// The service's short name (`Coord`, `RaftTransport`, `Health`, …).
    pub service: String,
    /// The method (`Create`, `Get`, …).
    pub method: String,
    /// The gRPC status code's name (`OK`, `NOT_FOUND`, `UNAVAILABLE`, …).
    pub code: String,
}

/// The labels of a call's latency: which method.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct MethodLabels {
    /// The service's short name.
    pub service: String,
    /// The method.
    pub method: String,
}

/// Latency buckets from 100 µs to about 6.5 s (doubling): a local read to a stalled quorum.
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_1, 2.0, 17)
}

/// Every metric of one coordinator node, and the registry that holds them.
pub struct CoordMetrics {
    registry: Registry,
    /// gRPC calls answered, by service, method and status code.
    pub requests: Family<CallLabels, Counter>,
    /// gRPC call latency, to the response's headers (for a stream: to its start).
    pub request_duration: Family<MethodLabels, Histogram>,
    /// The Raft term this node is in.
    pub raft_term: Gauge,
    /// The highest log index this node knows committed.
    pub raft_commit_index: Gauge,
    /// The highest log index this node has applied.
    pub raft_applied_index: Gauge,
    /// The last index in this node's log.
    pub raft_last_log_index: Gauge,
    /// 1 while this node is the Raft leader.
    pub raft_is_leader: Gauge,
    /// 1 while this node knows a leader.
    pub raft_has_leader: Gauge,
    /// Leaders this node has seen take over (each change to a different known leader, the first
    /// included, as etcd's `leader_changes_seen_total`).
    pub raft_leader_changes: Counter,
    /// Proposals made on this node and not yet answered.
    pub proposals_pending: Gauge,
    /// Time from asking the log for an fsync'd flush to hearing it is durable (group commit
    /// included: the latency a write waits for).
    pub log_fsync_duration: Histogram,
    /// Open sessions in the replicated state.
    pub sessions: Gauge,
    /// Watch streams this node is serving.
    pub watches: Gauge,
    /// Nodes in the namespace.
    pub nodes: Gauge,
    /// Size of the last snapshot this node built or installed.
    pub snapshot_size_bytes: Gauge,
    /// Time to build (encode and save) a snapshot.
    pub snapshot_duration: Histogram,
}

impl Default for CoordMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl CoordMetrics {
    /// Fresh metrics in a fresh registry.
    pub fn new() -> Self {
        let requests = Family::<CallLabels, Counter>::default();
        let request_duration =
            Family::<MethodLabels, Histogram>::new_with_constructor(|| Histogram::new(latency_buckets()));
        let log_fsync_duration = Histogram::new(latency_buckets());
        let snapshot_duration = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        let mut metrics = Self {
            requests,
            request_duration,
            raft_term: Gauge::default(),
            raft_commit_index: Gauge::default(),
            raft_applied_index: Gauge::default(),
            raft_last_log_index: Gauge::default(),
            raft_is_leader: Gauge::default(),
            raft_has_leader: Gauge::default(),
            raft_leader_changes: Counter::default(),
            proposals_pending: Gauge::default(),
            log_fsync_duration,
            sessions: Gauge::default(),
            watches: Gauge::default(),
            nodes: Gauge::default(),
            snapshot_size_bytes: Gauge::default(),
            snapshot_duration,
            registry: Registry::default(),
        };
        let r = &mut metrics.registry;
        r.register(
            "skyway_coord_requests",
            "gRPC calls answered, by service, method and status code",
            metrics.requests.clone(),
        );
        r.register(
            "skyway_coord_request_duration_seconds",
            "gRPC call latency to the response headers, by service and method",
            metrics.request_duration.clone(),
        );
        r.register("skyway_coord_raft_term", "The Raft term this node is in", metrics.raft_term.clone());
        r.register(
            "skyway_coord_raft_commit_index",
            "The highest log index this node knows committed",
            metrics.raft_commit_index.clone(),
        );
        r.register(
            "skyway_coord_raft_applied_index",
            "The highest log index this node has applied",
            metrics.raft_applied_index.clone(),
        );
        r.register(
            "skyway_coord_raft_last_log_index",
            "The last index in this node's log",
            metrics.raft_last_log_index.clone(),
        );
        r.register(
            "skyway_coord_raft_is_leader",
            "1 while this node is the Raft leader",
            metrics.raft_is_leader.clone(),
        );
        r.register("skyway_coord_raft_has_leader", "1 while this node knows a leader", metrics.raft_has_leader.clone());
        r.register(
            "skyway_coord_raft_leader_changes",
            "Changes to a different known leader seen by this node",
            metrics.raft_leader_changes.clone(),
        );
        r.register(
            "skyway_coord_proposals_pending",
            "Proposals made on this node and not yet answered",
            metrics.proposals_pending.clone(),
        );
        r.register(
            "skyway_coord_log_fsync_duration_seconds",
            "Time from asking the log for an fsync'd flush to it being durable",
            metrics.log_fsync_duration.clone(),
        );
        r.register("skyway_coord_sessions", "Open sessions", metrics.sessions.clone());
        r.register("skyway_coord_watches", "Watch streams served by this node", metrics.watches.clone());
        r.register("skyway_coord_nodes", "Nodes in the namespace", metrics.nodes.clone());
        r.register(
            "skyway_coord_snapshot_size_bytes",
            "Size of the last snapshot built or installed",
            metrics.snapshot_size_bytes.clone(),
        );
        r.register(
            "skyway_coord_snapshot_duration_seconds",
            "Time to build and save a snapshot",
            metrics.snapshot_duration.clone(),
        );
        metrics
    }

    /// The registry, for encoding.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Counts a proposal in flight until the returned guard is dropped.
    pub fn proposal_pending(&self) -> PendingGuard {
        self.proposals_pending.inc();
        PendingGuard(self.proposals_pending.clone())
    }

    /// Counts a watch stream until the returned guard is dropped.
    pub fn watch_open(&self) -> PendingGuard {
        self.watches.inc();
        PendingGuard(self.watches.clone())
    }
}

/// Decrements its gauge when dropped (however the future holding it ends).
pub struct PendingGuard(Gauge);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A gauge's value from an unsigned count (saturating: a gauge is an i64).
pub fn gauge_value(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
