//! The one error type of the coordination service, shared by the state machine, the server
//! and the client.
//!
//! Variants are named by what the caller must do. Every message says what was wrong and what to
//! do about it. Errors cross the wire as a gRPC status (see `server::status`) whose metadata
//! carries this enum as JSON, so a client gets back exactly the error the server produced.

use serde::{Deserialize, Serialize};

/// Everything that can go wrong in a coordination request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoordError {
    /// The path is not a well-formed node path.
    #[error(
        "invalid path {path:?}: {reason} (paths look like /roles/runway-07: absolute, '/'-separated, no empty, '.' or '..' parts, no trailing '/')"
    )]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No node at this path.
    #[error("no node at {path}: create it first, or check the path with `ls`")]
    NotFound {
        /// The missing path.
        path: String,
    },
    /// A node already exists at this path.
    #[error("a node already exists at {path}: use `set` to change it, or `--sequential` for a unique name")]
    NodeExists {
        /// The existing path.
        path: String,
    },
    /// The parent of the node to create does not exist.
    #[error("cannot create {path}: its parent {parent} does not exist (create it first, or ask to create parents)")]
    ParentMissing {
        /// The path that was to be created.
        path: String,
        /// The missing parent.
        parent: String,
    },
    /// Ephemeral nodes cannot have children.
    #[error("cannot create {path}: its parent {parent} is ephemeral, and ephemeral nodes cannot have children")]
    EphemeralParent {
        /// The path that was to be created.
        path: String,
        /// The ephemeral parent.
        parent: String,
    },
    /// The node still has children.
    #[error("cannot delete {path}: it has {children} children (delete them first)")]
    NotEmpty {
        /// The node to delete.
        path: String,
        /// How many children it has.
        children: u32,
    },
    /// A conditional write named a version the node no longer has.
    #[error(
        "version mismatch at {path}: expected version {expected}, the node is at version {actual} (re-read it and retry)"
    )]
    BadVersion {
        /// The node.
        path: String,
        /// The version the request expected.
        expected: u64,
        /// The version the node has.
        actual: u64,
    },
    /// A value over the size limit.
    #[error(
        "value of {size} bytes is over the limit of {max} bytes: put large data in blob storage and store its URL here"
    )]
    TooLarge {
        /// Size of the value.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Too many operations (or checks) in one transaction.
    #[error("transaction has {count} operations and checks, over the limit of {max}: split it")]
    TooManyOps {
        /// Operations plus checks.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The session does not exist: it expired, was closed, or never existed.
    #[error("session {session} is not open (it expired, was closed, or never existed): open a new session")]
    SessionExpired {
        /// The session id.
        session: u64,
    },
    /// An ephemeral node was requested without a session.
    #[error("ephemeral node {path} needs a session: open one first (ephemeral nodes live as long as their session)")]
    EphemeralNeedsSession {
        /// The path that was to be created.
        path: String,
    },
    /// A transaction check did not hold, or one of its operations failed; nothing was applied.
    #[error(
        "transaction step {index} (checks count first, then operations) failed at {path}: {reason}; nothing was applied"
    )]
    CheckFailed {
        /// Index of the step that failed: checks first, then operations.
        index: usize,
        /// The path it checked.
        path: String,
        /// Why it failed.
        reason: String,
    },
    /// The path is reserved for the service itself.
    #[error("{path} is reserved for the coordination service (read it, but write elsewhere)")]
    Reserved {
        /// The reserved path.
        path: String,
    },
    /// The watch asked for history that is no longer kept.
    #[error(
        "revision {requested} is compacted: history starts at revision {oldest}; re-read the current state (at revision {current} or later) and watch from the revision after it"
    )]
    Compacted {
        /// The revision asked for.
        requested: u64,
        /// The oldest revision still in the history.
        oldest: u64,
        /// The node's current revision.
        current: u64,
    },
    /// A read of the membership log from before its window: those records were trimmed.
    #[error(
        "the membership log before revision {oldest} is trimmed (it keeps the newest {records_max} records; --membership-log-records-max): revision {requested} is gone; read from revision {oldest}, the oldest record kept, or from 0 for the oldest kept"
    )]
    LogTrimmed {
        /// The revision asked for.
        requested: u64,
        /// The revision of the oldest record kept (the current revision if none is).
        oldest: u64,
        /// How many records the log keeps.
        records_max: u64,
    },
    /// This node is not the Raft leader and cannot serve the request itself.
    #[error("node is not the Raft leader{}", match (leader_id, leader_addr) { (Some(id), Some(a)) => format!("; the leader is node {id} at {a}"), _ => "; no leader is known yet, retry shortly".to_string() })]
    NotLeader {
        /// The leader's id, if known.
        leader_id: Option<u64>,
        /// The leader's client address, if known.
        leader_addr: Option<String>,
    },
    /// The service cannot answer right now (no quorum, election in progress, shutting down).
    #[error("coordination service unavailable: {reason} (retry shortly; if it persists, check `skyway ctl status`)")]
    Unavailable {
        /// Why.
        reason: String,
    },
    /// The request may or may not have been applied (the connection or the leader was lost
    /// after it was sent). Retrying blindly could apply it twice.
    #[error("outcome unknown: {reason}; the request may or may not have been applied (re-read before retrying)")]
    OutcomeUnknown {
        /// What was lost.
        reason: String,
    },
    /// A retried write whose first outcome is no longer remembered (its client was idle too long,
    /// evicted, or its session ended; or the write fell out of the client's window). Nothing
    /// was applied by this attempt; an earlier attempt may have applied.
    #[error(
        "write {sequence} of client {client:x} is a retry too old to tell whether it was applied: nothing was applied now, an earlier attempt may have been (re-read before writing again)"
    )]
    RetryTooOld {
        /// The client's id.
        client: u64,
        /// The write's sequence number.
        sequence: u64,
    },
    /// A create that allows one node per session under a parent found the session already owns one.
    #[error(
        "session {session} already owns {existing} under this parent, and this create allows one node per session: use {existing}"
    )]
    SessionOwnsSibling {
        /// The session.
        session: u64,
        /// The node it already owns there.
        existing: String,
    },
    /// A request field is out of range or malformed.
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// What is wrong.
        reason: String,
    },
    /// A bug or a storage failure on the server.
    #[error("internal error: {reason} (this is a bug or a disk failure; check the node's log)")]
    Internal {
        /// What happened.
        reason: String,
    },
    /// The request as a whole is over the request size limit (its paths and values together).
    #[error(
        "request of {size} bytes is over the limit of {max} bytes per request (the node's --request-bytes-max): split the transaction into smaller ones, and put large data in blob storage with only its URL here"
    )]
    RequestTooLarge {
        /// Bytes of paths and values in the request.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The namespace's quota (like etcd's backend quota) would be exceeded; nothing was written.
    #[error(
        "namespace quota exceeded: {what} would reach {would_be}, over the quota of {max} (--quota-{what}): delete nodes you no longer need (deletes always work) or raise the quota"
    )]
    QuotaExceeded {
        /// Which quota: `nodes` or `bytes`.
        what: String,
        /// What the namespace would hold with this write.
        would_be: u64,
        /// The quota.
        max: u64,
    },
    /// A limit on the node's resources (connections, streams, watches, forwarded writes) was
    /// reached. Nothing was applied.
    #[error("limit reached: {what} is at its limit of {max} ({flag}); {advice}")]
    LimitReached {
        /// What ran out.
        what: String,
        /// The limit.
        max: usize,
        /// The flag that sets it.
        flag: String,
        /// What to do.
        advice: String,
    },
    /// The caller's identity lacks a permission the request needs; nothing was applied.
    #[error(
        "permission denied: identity {identity} may not {action}: it lacks the {permission} permission on {path} (nothing was applied; an admin grants it with `skyway ctl acl set {path} {identity} {permission}`)"
    )]
    PermissionDenied {
        /// Who asked.
        identity: String,
        /// The path the permission is needed on.
        path: String,
        /// The missing permission: read, write, create, delete or admin.
        permission: String,
        /// What was attempted (`create /roles/runway-07/c-`).
        action: String,
    },
    /// Authentication is on and the request proved no identity; nothing was applied.
    #[error(
        "unauthenticated: {reason}; authentication is on, so pass a user's token (--token or SKYWAY_TOKEN, sent as `authorization: Bearer TOKEN`) or a client certificate"
    )]
    Unauthenticated {
        /// What was wrong with the credentials.
        reason: String,
    },
}

/// Shorthand for results of coordination requests.
pub type Result<T, E = CoordError> = std::result::Result<T, E>;

impl CoordError {
    /// Whether the request was certainly not applied and may be sent again as it is, elsewhere
    /// or later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::NotLeader { .. } | Self::Unavailable { .. })
    }

    /// Whether the request may or may not have been applied. A write carrying its request id
    /// may be retried with that same id: the state machine answers a duplicate with its first
    /// outcome.
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, Self::OutcomeUnknown { .. } | Self::RetryTooOld { .. })
    }
}
