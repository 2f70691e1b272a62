//! What a caller of the client sends and gets back, in Skyway's own types. The wire's
//! (protobuf) types never appear in the client's public API: `convert` translates at the edge,
//! so callers neither build generated structs nor check `Option`s that the server always fills.

use bytes::Bytes;

pub use crate::core::node::Stat;
pub use crate::core::types::{Revision, SessionId};

/// How fresh a read must be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Consistency {
    /// Confirmed with a quorum through Raft's read index: sees every acknowledged write.
    #[default]
    Linearizable,
    /// The answering node's local state: fast, possibly stale.
    Serializable,
}

/// A node to create: `Create::new(path, data)`, then what it should be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Create {
    /// Where (for a sequential node, the prefix its 10-digit suffix is appended to).
    pub path: String,
    /// Its data.
    pub data: Bytes,
    /// The session owning an ephemeral node (deleted when it ends); `None`: persistent.
    pub ephemeral: Option<SessionId>,
    /// Append a 10-digit suffix that only grows under the parent.
    pub sequential: bool,
    /// Create missing ancestors (persistent, empty) too.
    pub make_parents: bool,
    /// Ephemeral nodes only: refuse (`SessionOwnsSibling`) if the session already owns a node
    /// under the same parent (the election recipe's one candidate per session).
    pub one_per_session: bool,
}

impl Create {
    /// A persistent node at `path` with `data`.
    pub fn new(path: impl Into<String>, data: impl Into<Bytes>) -> Self {
        Self { path: path.into(), data: data.into(), ..Self::default() }
    }

    /// Owned by `session`: deleted when the session ends.
    pub fn ephemeral(mut self, session: SessionId) -> Self {
        self.ephemeral = Some(session);
        self
    }

    /// With a sequential suffix.
    pub fn sequential(mut self) -> Self {
        self.sequential = true;
        self
    }

    /// Creating missing ancestors.
    pub fn make_parents(mut self) -> Self {
        self.make_parents = true;
        self
    }

    /// At most one such node of its session under the parent.
    pub fn one_per_session(mut self) -> Self {
        self.one_per_session = true;
        self
    }
}

/// A node that was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// Its path (with the suffix, for a sequential node).
    pub path: String,
    /// Its stat.
    pub stat: Stat,
    /// The revision of the write.
    pub revision: Revision,
}

/// A node's data as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeData {
    /// The data.
    pub data: Bytes,
    /// The node's stat.
    pub stat: Stat,
    /// The revision the read saw.
    pub revision: Revision,
}

/// Whether a node exists, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Existence {
    /// The node's stat; `None` if it does not exist.
    pub stat: Option<Stat>,
    /// The revision the read saw.
    pub revision: Revision,
}

/// A node whose data was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Updated {
    /// Its stat after the write.
    pub stat: Stat,
    /// The revision of the write.
    pub revision: Revision,
}

/// A node's children, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Children {
    /// Their names, sorted.
    pub names: Vec<String>,
    /// The parent's stat.
    pub stat: Stat,
    /// The revision the read saw.
    pub revision: Revision,
}

/// A condition a transaction requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The node exists.
    Exists(String),
    /// The node does not exist.
    NotExists(String),
    /// The node exists at this version.
    Version(String, u64),
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Create a node.
    Create(Create),
    /// Set a node's data, optionally only at `expected_version`.
    Set {
        /// The node.
        path: String,
        /// Its new data.
        data: Bytes,
        /// The version it must be at; `None`: any.
        expected_version: Option<u64>,
    },
    /// Delete a childless node, optionally only at `expected_version`.
    Delete {
        /// The node.
        path: String,
        /// The version it must be at; `None`: any.
        expected_version: Option<u64>,
    },
}

/// Checks and writes applied all together, or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn {
    /// Every one must hold, or nothing is applied (`CheckFailed`).
    pub checks: Vec<Check>,
    /// The writes, in order.
    pub ops: Vec<Op>,
}

/// What one write of a transaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// A node was created.
    Created(Created),
    /// A node's data was set.
    Updated(Updated),
    /// A node was deleted, at this revision.
    Deleted(Revision),
}

/// A committed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// One result per op, in order.
    pub results: Vec<OpResult>,
    /// The revision of the transaction.
    pub revision: Revision,
}

/// One coordinator node's view of the cluster, as it answered `Status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeStatus {
    /// The node's id.
    pub node_id: u64,
    /// Its Raft role (`Leader`, `Follower`, `Candidate`, `Learner`).
    pub raft_role: String,
    /// Its Raft term.
    pub term: u64,
    /// The leader it knows of, if any.
    pub leader_id: Option<u64>,
    /// The leader's client address, if known.
    pub leader_addr: Option<String>,
    /// Its last applied log index (the newest revision it serves).
    pub last_applied: u64,
    /// Its last log index.
    pub last_log_index: u64,
    /// Its committed log index.
    pub committed: u64,
    /// The cluster's voters.
    pub voters: Vec<u64>,
    /// The cluster's learners.
    pub learners: Vec<u64>,
    /// Open sessions.
    pub sessions: u64,
    /// Nodes in the namespace.
    pub nodes: u64,
    /// The node's release version (e.g. `0.1.0`).
    pub version: String,
    /// The commit it was built from (hex, or `unknown`).
    pub commit: String,
}

/// The coordinator nodes, after a membership change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterMembers {
    /// Voting nodes.
    pub voters: Vec<u64>,
    /// Non-voting nodes (learners).
    pub learners: Vec<u64>,
}

/// The users, and whether authentication is on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Users {
    /// Their names.
    pub names: Vec<String>,
    /// Whether requests need an identity.
    pub auth_enabled: bool,
    /// The revision the read saw.
    pub revision: Revision,
}

/// One identity's permissions on a path prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grant {
    /// The prefix.
    pub path: String,
    /// A user's name, a certificate's common name, or `*`.
    pub identity: String,
    /// `rwcda` with `-` for each permission not held, e.g. `r-c--`.
    pub perms: String,
}

/// The grants that apply at a path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    /// Those on the path and on its ancestors.
    pub grants: Vec<Grant>,
    /// Whether requests need an identity.
    pub auth_enabled: bool,
    /// The revision the read saw.
    pub revision: Revision,
}
