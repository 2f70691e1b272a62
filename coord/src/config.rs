//! A coordinator node's configuration, with documented defaults and `validate()`.
//! Built once by the binary from its flags and passed down; nothing below reads the environment.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::core::history::HISTORY_EVENTS_DEFAULT;
use crate::error::CoordError;

/// Default limit on a node's value: 1 MiB. Larger data belongs in blob storage.
pub const VALUE_BYTES_MAX_DEFAULT: usize = 1024 * 1024;
/// Default limit on checks plus operations in one transaction.
pub const TXN_OPS_MAX_DEFAULT: usize = 128;
/// Shortest session TTL accepted.
pub const SESSION_TTL_MIN: Duration = Duration::from_millis(50);
/// Longest session TTL accepted.
pub const SESSION_TTL_MAX: Duration = Duration::from_secs(3600);

/// Everything one coordinator node needs to run.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's id (≥ 1), unique in the cluster.
    pub id: u64,
    /// Address serving both the client API and node-to-node traffic.
    pub listen: SocketAddr,
    /// The initial voters, id → address (this node included). Nodes started with the same
    /// peers form a cluster on first start. Empty for a node that will be added at run time.
    pub peers: BTreeMap<u64, String>,
    /// Peer address → the address this node dials instead (a proxy on the link, a NAT).
    pub peer_routes: BTreeMap<String, String>,
    /// Where the node keeps its log, vote and snapshots.
    pub data_dir: PathBuf,
    /// Largest node value accepted, in bytes.
    pub value_bytes_max: usize,
    /// Most checks plus operations in one transaction.
    pub txn_ops_max: usize,
    /// Watch events kept for resuming watchers.
    pub history_events_max: usize,
    /// Raft heartbeat interval.
    pub heartbeat_interval: Duration,
    /// Raft election timeout, lower bound (the upper bound is twice this).
    pub election_timeout: Duration,
    /// Take a snapshot (and compact the log) after this many entries.
    pub snapshot_after_entries: u64,
    /// Log entries kept behind a snapshot, so slightly lagging followers need no snapshot.
    pub log_entries_kept: u64,
}

impl NodeConfig {
    /// A configuration with defaults for everything but identity, address and directory.
    pub fn new(id: u64, listen: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            id,
            listen,
            peers: BTreeMap::new(),
            peer_routes: BTreeMap::new(),
            data_dir,
            value_bytes_max: VALUE_BYTES_MAX_DEFAULT,
            txn_ops_max: TXN_OPS_MAX_DEFAULT,
            history_events_max: HISTORY_EVENTS_DEFAULT,
            heartbeat_interval: Duration::from_millis(50),
            election_timeout: Duration::from_millis(250),
            snapshot_after_entries: 20_000,
            log_entries_kept: 5_000,
        }
    }

    /// Checks that the values make sense together.
    pub fn validate(&self) -> Result<(), CoordError> {
        let bad = |reason: String| Err(CoordError::InvalidArgument { reason });
        if self.id == 0 {
            return bad("node id must be at least 1".into());
        }
        if !self.peers.is_empty() && !self.peers.contains_key(&self.id) {
            return bad(format!("--peers must include this node's own id {}", self.id));
        }
        if self.election_timeout < self.heartbeat_interval * 3 {
            return bad("the election timeout must be at least three heartbeat intervals".into());
        }
        if self.value_bytes_max == 0 || self.txn_ops_max == 0 || self.history_events_max == 0 {
            return bad("limits must be positive".into());
        }
        Ok(())
    }
}
