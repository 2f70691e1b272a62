//! A coordinator node's configuration, with documented defaults and `validate()`.
//! Built once by the binary from its flags and passed down; nothing below reads the environment.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::core::history::{HISTORY_BYTES_DEFAULT, HISTORY_EVENTS_DEFAULT};
use crate::core::membership::MEMBERSHIP_LOG_RECORDS_DEFAULT;
use crate::error::CoordError;
use crate::raft::network::PEER_MESSAGE_BYTES_MAX;
use crate::tls::{PeerTls, ServerTls};

/// Default limit on a node's value: 1 MiB. Larger data belongs in blob storage.
pub const VALUE_BYTES_MAX_DEFAULT: usize = 1024 * 1024;
/// Default limit on checks plus operations in one transaction.
pub const TXN_OPS_MAX_DEFAULT: usize = 128;
/// Default limit on one request's paths and values together: 3 MiB, so a transaction of two
/// largest values passes and a watch batch of one revision stays far below the client's
/// 64 MiB message limit.
pub const REQUEST_BYTES_MAX_DEFAULT: usize = 3 * 1024 * 1024;
/// Default quota on nodes in the namespace.
pub const QUOTA_NODES_DEFAULT: u64 = 2_000_000;
/// Default quota on the namespace's bytes (paths and values): 2 GiB, etcd's default backend
/// quota. The state lives in memory, so this is also a bound on the node's memory for data.
pub const QUOTA_BYTES_DEFAULT: u64 = 2 * 1024 * 1024 * 1024;
/// Default limit on connections a node accepts at once, on each of its client and peer ports.
pub const CONNECTIONS_MAX_DEFAULT: usize = 4_096;
/// Default limit on concurrent requests (HTTP/2 streams) per connection.
pub const STREAMS_PER_CONNECTION_MAX_DEFAULT: u32 = 4_096;
/// Default limit on watches open on one connection.
pub const WATCHES_PER_CONNECTION_MAX_DEFAULT: usize = 1_024;
/// Default limit on writes a follower holds on their way to the leader.
pub const FORWARDED_WRITES_MAX_DEFAULT: usize = 8_192;
/// Default Raft heartbeat interval: the leader renews its lease with every follower this often.
pub const HEARTBEAT_INTERVAL_DEFAULT: Duration = Duration::from_millis(20);
/// Default lower bound of the Raft election timeout. A dead leader is replaced after three to
/// four of these (its lease, then a random timeout): 180–240 ms, below the 300 ms a primary's
/// commands may pause when the coordinator's leader dies. On links slower than loopback or a
/// LAN raise it (`--election-timeout-ms`): it should be many round trips between the nodes.
pub const ELECTION_TIMEOUT_DEFAULT: Duration = Duration::from_millis(60);
/// Shortest session TTL accepted.
pub const SESSION_TTL_MIN: Duration = Duration::from_millis(50);
/// Longest session TTL accepted.
pub const SESSION_TTL_MAX: Duration = Duration::from_secs(3600);

/// Everything one coordinator node needs to run.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's id (≥ 1), unique in the cluster.
    pub id: u64,
    /// Address serving the client API (node-to-node traffic has its own listener, given to
    /// `server::serve`).
    pub listen: SocketAddr,
    /// The initial voters, id → peer address (this node included): where the nodes' peer
    /// listeners are, which is what the membership records and peers dial. Nodes started with
    /// the same peers form a cluster on first start. Empty for a node added at run time.
    pub peers: BTreeMap<u64, String>,
    /// Peer address → the address this node dials instead (a proxy on the link, a NAT).
    pub peer_routes: BTreeMap<String, String>,
    /// Where the node keeps its log, vote and snapshots.
    pub data_dir: PathBuf,
    /// TLS on the client port (plaintext when `None`).
    pub tls: Option<ServerTls>,
    /// Mutual TLS on the peer port and when dialling peers (plaintext when `None`).
    pub peer_tls: Option<PeerTls>,
    /// Largest node value accepted, in bytes.
    pub value_bytes_max: usize,
    /// Most checks plus operations in one transaction.
    pub txn_ops_max: usize,
    /// Watch events kept for resuming watchers.
    pub history_events_max: usize,
    /// Bytes of watch events kept for resuming watchers.
    pub history_bytes_max: usize,
    /// Largest request accepted (its paths and values together), in bytes.
    pub request_bytes_max: usize,
    /// Most nodes the namespace may hold; beyond it creates are refused (deletes still work).
    pub quota_nodes: u64,
    /// Most bytes of paths and values the namespace may hold; likewise.
    pub quota_bytes: u64,
    /// Most connections served at once on each port; more are closed at once, with a warning in the log.
    pub connections_max: usize,
    /// Most concurrent requests (HTTP/2 streams) on one connection.
    pub streams_per_connection_max: u32,
    /// Most watches open on one connection.
    pub watches_per_connection_max: usize,
    /// Most writes a follower holds on their way to the leader; beyond it, writes are refused
    /// as unavailable (certainly not applied: send again later).
    pub forwarded_writes_max: usize,
    /// Largest message between nodes, in bytes: replication and forwarded batches stay below
    /// half of it and snapshots travel in chunks, so it bounds memory per peer message, not
    /// the size of the state.
    pub peer_message_bytes_max: usize,
    /// Records the membership log keeps; older ones are trimmed. The leader commits this
    /// window to the log, so every replica trims alike (see `core::membership`).
    pub membership_log_records_max: u64,
    /// Raft heartbeat interval.
    pub heartbeat_interval: Duration,
    /// Raft election timeout, lower bound (the upper bound is twice this). A follower that
    /// hears nothing from the leader campaigns after the leader's lease (twice this) plus a
    /// random election timeout: three to four times this, which is how long the cluster takes
    /// to replace a dead leader.
    pub election_timeout: Duration,
    /// Take a snapshot (and compact the log) after this many entries.
    pub snapshot_after_entries: u64,
    /// Log entries kept behind a snapshot, so slightly lagging followers need no snapshot.
    pub log_entries_kept: u64,
    /// The build this node runs, as `Status` reports it (the binary sets its version and commit).
    pub build: BuildInfo,
    /// Serve linearizable reads on the leader from its lease (no round trip while a quorum
    /// acknowledged it within the last lease, twice the election timeout), falling back to a
    /// read index when the lease has lapsed. Assumes the nodes' clocks run at nearly the same
    /// rate (see `server::node`'s read section); `false` always pays the read index.
    pub lease_reads: bool,
}

/// A build's version and the commit it was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// The release version, e.g. `0.1.0`.
    pub version: String,
    /// The commit (hex), or `unknown`.
    pub commit: String,
}

impl Default for BuildInfo {
    /// The coordinator library's own version; the commit is known only to the binary's build.
    fn default() -> Self {
        Self { version: env!("CARGO_PKG_VERSION").to_string(), commit: "unknown".to_string() }
    }
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
            tls: None,
            peer_tls: None,
            value_bytes_max: VALUE_BYTES_MAX_DEFAULT,
            txn_ops_max: TXN_OPS_MAX_DEFAULT,
            history_events_max: HISTORY_EVENTS_DEFAULT,
            history_bytes_max: HISTORY_BYTES_DEFAULT,
            request_bytes_max: REQUEST_BYTES_MAX_DEFAULT,
            quota_nodes: QUOTA_NODES_DEFAULT,
            quota_bytes: QUOTA_BYTES_DEFAULT,
            connections_max: CONNECTIONS_MAX_DEFAULT,
            streams_per_connection_max: STREAMS_PER_CONNECTION_MAX_DEFAULT,
            watches_per_connection_max: WATCHES_PER_CONNECTION_MAX_DEFAULT,
            forwarded_writes_max: FORWARDED_WRITES_MAX_DEFAULT,
            membership_log_records_max: MEMBERSHIP_LOG_RECORDS_DEFAULT,
            peer_message_bytes_max: PEER_MESSAGE_BYTES_MAX,
            heartbeat_interval: HEARTBEAT_INTERVAL_DEFAULT,
            election_timeout: ELECTION_TIMEOUT_DEFAULT,
            snapshot_after_entries: 20_000,
            log_entries_kept: 5_000,
            build: BuildInfo::default(),
            lease_reads: true,
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
        let counts = [
            ("--value-bytes-max", self.value_bytes_max as u64),
            ("--txn-ops-max", self.txn_ops_max as u64),
            ("--watch-history", self.history_events_max as u64),
            ("--watch-history-bytes", self.history_bytes_max as u64),
            ("--request-bytes-max", self.request_bytes_max as u64),
            ("--quota-nodes", self.quota_nodes),
            ("--quota-bytes", self.quota_bytes),
            ("--connections-max", self.connections_max as u64),
            ("--streams-per-connection-max", u64::from(self.streams_per_connection_max)),
            ("--watches-per-connection-max", self.watches_per_connection_max as u64),
            ("--forwarded-writes-max", self.forwarded_writes_max as u64),
            ("--membership-log-records-max", self.membership_log_records_max),
            ("--peer-message-bytes-max", self.peer_message_bytes_max as u64),
        ];
        if let Some((flag, _)) = counts.iter().find(|(_, value)| *value == 0) {
            return bad(format!("{flag} must be positive"));
        }
        if self.value_bytes_max > self.request_bytes_max {
            return bad(format!(
                "--value-bytes-max ({}) must not exceed --request-bytes-max ({}): a request carries its value",
                self.value_bytes_max, self.request_bytes_max
            ));
        }
        let peer_min = self.request_bytes_max * 4 + 64 * 1024;
        if self.peer_message_bytes_max < peer_min {
            return bad(format!(
                "--peer-message-bytes-max ({}) must be at least four requests (--request-bytes-max {}) and 64 KiB: \
                 replication and forwarded batches carry whole requests",
                self.peer_message_bytes_max, self.request_bytes_max
            ));
        }
        Ok(())
    }
}
