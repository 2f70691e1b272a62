//! The client library: a list of endpoints, leader discovery through the servers' own
//! forwarding, bounded retries where they are safe, sessions with a background keep-alive,
//! resumable watches, and the election recipe with fencing tokens.
//!
//! Retries: a request that certainly did not apply (`NotLeader`, `Unavailable`, a refused
//! connection) is retried on the next endpoint with a short backoff, within a bounded time.
//! A write whose answer was lost after it was sent is retried too, with the same client id and
//! sequence number, so the state machine answers the retry with the write's first outcome
//! instead of applying it twice (see `connection` and `core::clients`). Only when the retry
//! budget runs out, or the server no longer remembers the first outcome (`RetryTooOld`), is the
//! caller told the outcome is unknown; then it decides (re-read, or use a conditional write).

//!
//! Its API is in Skyway's own types (`types`): no generated protobuf type appears in it, and the
//! one translation to the wire is `convert`. Endpoints are tried from a random first one, so
//! clients given the same list spread over the nodes.
//!
//! It builds without the coordinator node: depend on `skyway-coord` with
//! `default-features = false` and neither openraft, nor raft-log, nor redb is linked.

mod connection;
mod convert;
pub mod election;
pub mod session;
pub mod types;
pub mod watch;

pub use self::connection::{Client, ClientOptions, mint_token};
pub use self::election::{Candidate, Election, FencingToken, RoleView};
pub use self::session::{SESSION_TTL_DEFAULT, Session, SessionHealth};
pub use self::types::{
    Acl, Check, Children, ClusterMembers, Committed, Consistency, Create, Created, Existence, Grant, NodeData,
    NodeStatus, Op, OpResult, Revision, SessionId, Stat, Txn, Updated, Users,
};
pub use self::watch::{WatchEvent, WatchEventKind, Watcher};
