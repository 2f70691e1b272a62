//! Commands: the entries of the Raft log, and what applying one produced.
//!
//! A command is validated at the edge (paths parse, sizes are within limits) before it is
//! proposed; the state machine then applies it deterministically on every replica.

use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::acl::{Caller, Perms, TokenHash};
use super::clients::RequestId;
use super::node::Stat;
use super::path::NodePath;
use super::types::SessionId;

/// What a Raft entry carries: a command, and for a client's write the id that makes a retry of
/// it safe (see `clients`). Commands the leader makes itself (expiry, checkpoints) carry none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Who sent it and its number, for deduplication.
    pub request: Option<RequestId>,
    /// Who sent it, for permissions: judged when the entry is applied (see `acl`).
    pub caller: Caller,
    /// What to do.
    pub command: Command,
}

impl Proposal {
    /// A proposal without a request id (applied every time it commits) or a caller: the
    /// leader's own commands (expiry, lease checkpoints), which no client can send.
    pub fn anonymous(command: Command) -> Self {
        Self { request: None, caller: Caller::Anonymous, command }
    }
}

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.request {
            Some(request) => write!(f, "{} ({request})", self.command),
            None => write!(f, "{}", self.command),
        }
    }
}

/// Create a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateOp {
    /// Where; for sequential nodes, the prefix of the name.
    pub path: NodePath,
    /// The node's data.
    pub data: Bytes,
    /// For ephemeral nodes, the owning session.
    pub ephemeral_owner: Option<SessionId>,
    /// Append a 10-digit, zero-padded, ever-increasing suffix to the name.
    pub sequential: bool,
    /// Create missing parents as persistent, empty nodes.
    pub make_parents: bool,
    /// For ephemeral nodes: refuse the create (with `SessionOwnsSibling`) if the owning session
    /// already owns a node under the same parent — one candidate per session and role.
    pub one_per_session: bool,
}

/// Replace a node's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetOp {
    /// The node.
    pub path: NodePath,
    /// The new data.
    pub data: Bytes,
    /// Only if the node is at this version.
    pub expected_version: Option<u64>,
}

/// Delete a childless node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteOp {
    /// The node.
    pub path: NodePath,
    /// Only if the node is at this version.
    pub expected_version: Option<u64>,
}

/// One write inside a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Create a node.
    Create(CreateOp),
    /// Set a node's data.
    Set(SetOp),
    /// Delete a node.
    Delete(DeleteOp),
}

/// A condition a transaction requires before it applies anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Check {
    /// The node exists.
    Exists(NodePath),
    /// The node does not exist.
    NotExists(NodePath),
    /// The node exists and is at this version.
    Version(NodePath, u64),
}

/// What a command may add to the namespace (see [`Command::growth`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Growth {
    /// Nodes it may create.
    pub nodes: u64,
    /// Bytes of paths and data it may add.
    pub bytes: u64,
}

fn create_bytes(c: &CreateOp) -> usize {
    c.path.as_str().len() + c.data.len()
}

fn set_bytes(s: &SetOp) -> usize {
    s.path.as_str().len() + s.data.len()
}

impl Op {
    /// Bytes of paths and data it carries.
    fn request_bytes(&self) -> usize {
        match self {
            Op::Create(c) => create_bytes(c),
            Op::Set(s) => set_bytes(s),
            Op::Delete(d) => d.path.as_str().len(),
        }
    }

    /// The most it can add to the namespace.
    fn growth(&self) -> Growth {
        match self {
            Op::Create(c) => Growth::of_create(c),
            Op::Set(s) => Growth::of_set(s),
            Op::Delete(_) => Growth::default(),
        }
    }
}

impl Check {
    /// The node it checks.
    pub fn path(&self) -> &NodePath {
        match self {
            Check::Exists(p) | Check::NotExists(p) | Check::Version(p, _) => p,
        }
    }
}

impl Growth {
    /// A create: one node, its path (with the 10-digit suffix if sequential) and data.
    fn of_create(c: &CreateOp) -> Self {
        Self { nodes: 1, bytes: (create_bytes(c) + if c.sequential { 10 } else { 0 }) as u64 }
    }

    /// A set, counted as if it replaced nothing.
    fn of_set(s: &SetOp) -> Self {
        Self { nodes: 0, bytes: set_bytes(s) as u64 }
    }

    fn plus(self, other: Self) -> Self {
        Self { nodes: self.nodes + other.nodes, bytes: self.bytes + other.bytes }
    }
}

/// An entry's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Create a node.
    Create(CreateOp),
    /// Set a node's data.
    Set(SetOp),
    /// Delete a node.
    Delete(DeleteOp),
    /// All checks hold and all ops succeed, or nothing changes.
    Txn {
        /// Conditions.
        checks: Vec<Check>,
        /// Writes, applied in order.
        ops: Vec<Op>,
    },
    /// Open a session; with a member name it also joins the membership.
    OpenSession {
        /// Time to live without keep-alives, in milliseconds.
        ttl_ms: u64,
        /// Membership name, if joining.
        member: Option<String>,
    },
    /// Close a session: delete its ephemerals now; a member leaves.
    CloseSession {
        /// The session.
        session: SessionId,
    },
    /// Expire sessions, as decided by the leader: delete their ephemerals; members fail.
    ExpireSessions {
        /// The sessions.
        sessions: Vec<SessionId>,
    },
    /// Record the sessions' remaining TTLs as the leader measured them, so that a new leader
    /// honours them instead of granting fresh TTLs (see `leases`).
    CheckpointLeases {
        /// Session → remaining milliseconds.
        remaining: Vec<(SessionId, u64)>,
    },
    /// Set how many records the membership log keeps (see `membership`), trimming at once if
    /// it holds more: proposed by the leader when its configured window differs.
    SetMembershipWindow {
        /// Most records kept (at least 1).
        records_max: u64,
    },
    /// Add a user who proves itself with a token (only the token's SHA-256 is stored).
    AddUser {
        /// The user's name, its identity.
        name: String,
        /// SHA-256 of its token.
        token_sha256: TokenHash,
    },
    /// Delete a user (its token stops working at this entry).
    DeleteUser {
        /// The user's name.
        name: String,
    },
    /// Turn permission checks on or off.
    SetAuth {
        /// On or off.
        enabled: bool,
    },
    /// Set an identity's permissions on a path prefix (the empty set removes the grant).
    SetAcl {
        /// The prefix.
        path: NodePath,
        /// Who.
        identity: String,
        /// What.
        perms: Perms,
    },
}

/// What applying a command produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// A node was created, under this (possibly suffixed) path.
    Created {
        /// The created path.
        path: NodePath,
        /// Its stat.
        stat: Stat,
    },
    /// A node's data was set.
    Set {
        /// Its new stat.
        stat: Stat,
    },
    /// A node was deleted.
    Deleted,
    /// A transaction applied; one outcome per op.
    Txn(Vec<Outcome>),
    /// A session was opened.
    SessionOpened {
        /// Its id.
        session: SessionId,
        /// Its TTL.
        ttl_ms: u64,
    },
    /// A session was closed.
    SessionClosed,
    /// An entry without a command (a Raft blank or membership entry) was applied.
    Empty,
    /// These sessions expired (those already gone are left out).
    SessionsExpired {
        /// The sessions that expired.
        sessions: Vec<SessionId>,
    },
    /// Users, grants or the authentication switch changed.
    AuthChanged,
}

impl Command {
    /// Roughly how many bytes the command occupies (for cache accounting).
    pub fn approximate_bytes(&self) -> usize {
        let op_bytes = |op: &Op| match op {
            Op::Create(c) => c.path.as_str().len() + c.data.len(),
            Op::Set(s) => s.path.as_str().len() + s.data.len(),
            Op::Delete(d) => d.path.as_str().len(),
        };
        match self {
            Command::Create(c) => c.path.as_str().len() + c.data.len(),
            Command::Set(s) => s.path.as_str().len() + s.data.len(),
            Command::Delete(d) => d.path.as_str().len(),
            Command::Txn { checks, ops } => checks.len() * 64 + ops.iter().map(op_bytes).sum::<usize>(),
            Command::OpenSession { member, .. } => member.as_ref().map_or(0, String::len),
            Command::CloseSession { .. } => 8,
            Command::ExpireSessions { sessions } => sessions.len() * 8,
            Command::CheckpointLeases { remaining } => remaining.len() * 16,
            Command::SetMembershipWindow { .. } => 8,
            Command::AddUser { name, .. } | Command::DeleteUser { name } => name.len() + 32,
            Command::SetAuth { .. } => 1,
            Command::SetAcl { path, identity, .. } => path.as_str().len() + identity.len() + 1,
        }
    }

    /// Bytes of paths and data the command carries, for the request size limit.
    pub fn request_bytes(&self) -> usize {
        match self {
            Command::Create(c) => create_bytes(c),
            Command::Set(s) => set_bytes(s),
            Command::Delete(d) => d.path.as_str().len(),
            Command::Txn { checks, ops } => {
                checks.iter().map(|c| c.path().as_str().len()).sum::<usize>()
                    + ops.iter().map(Op::request_bytes).sum::<usize>()
            }
            Command::OpenSession { member, .. } => member.as_ref().map_or(0, String::len),
            Command::AddUser { name, .. } | Command::DeleteUser { name } => name.len(),
            Command::SetAcl { path, identity, .. } => path.as_str().len() + identity.len(),
            Command::CloseSession { .. }
            | Command::ExpireSessions { .. }
            | Command::CheckpointLeases { .. }
            | Command::SetMembershipWindow { .. }
            | Command::SetAuth { .. } => 0,
        }
    }

    /// The most the command can add to the namespace, for the quota: a node per create, and
    /// the bytes of every created or set path and value (as if no old value were replaced, and
    /// not counting parents made on the way). Deletes and session commands add nothing, so they
    /// are never refused by a full quota.
    pub fn growth(&self) -> Growth {
        match self {
            Command::Create(c) => Growth::of_create(c),
            Command::Set(s) => Growth::of_set(s),
            Command::Txn { ops, .. } => ops.iter().map(Op::growth).fold(Growth::default(), Growth::plus),
            _ => Growth::default(),
        }
    }

    /// Number of checks and ops, for the transaction limit.
    pub fn op_count(&self) -> usize {
        match self {
            Command::Txn { checks, ops } => checks.len() + ops.len(),
            _ => 1,
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Create(op) => write!(f, "create {}{}", op.path, if op.sequential { "<seq>" } else { "" }),
            Command::Set(op) => write!(f, "set {}", op.path),
            Command::Delete(op) => write!(f, "delete {}", op.path),
            Command::Txn { checks, ops } => write!(f, "txn checks={} ops={}", checks.len(), ops.len()),
            Command::OpenSession { ttl_ms, member } => write!(f, "open-session ttl={ttl_ms}ms member={member:?}"),
            Command::CloseSession { session } => write!(f, "close-session {session}"),
            Command::ExpireSessions { sessions } => write!(f, "expire-sessions {sessions:?}"),
            Command::CheckpointLeases { remaining } => write!(f, "checkpoint-leases {remaining:?}"),
            Command::SetMembershipWindow { records_max } => write!(f, "set-membership-window {records_max}"),
            Command::AddUser { name, .. } => write!(f, "add-user {name}"),
            Command::DeleteUser { name } => write!(f, "delete-user {name}"),
            Command::SetAuth { enabled } => write!(f, "auth {}", if *enabled { "enable" } else { "disable" }),
            Command::SetAcl { path, identity, perms } => write!(f, "acl set {path} {identity} {perms}"),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Created { path, stat } => write!(f, "created {path} ({stat})"),
            Outcome::Set { stat } => write!(f, "set ({stat})"),
            Outcome::Deleted => write!(f, "deleted"),
            Outcome::Txn(outcomes) => {
                write!(f, "txn ok")?;
                outcomes.iter().try_for_each(|o| write!(f, "; {o}"))
            }
            Outcome::SessionOpened { session, ttl_ms } => write!(f, "session {session} opened (ttl {ttl_ms} ms)"),
            Outcome::SessionClosed => write!(f, "session closed"),
            Outcome::Empty => write!(f, "empty entry"),
            Outcome::SessionsExpired { sessions } => {
                let ids: Vec<String> = sessions.iter().map(|s| s.to_string()).collect();
                write!(f, "expired [{}]", ids.join(" "))
            }
            Outcome::AuthChanged => write!(f, "auth changed"),
        }
    }
}
