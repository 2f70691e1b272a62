//! The client library: a list of endpoints, leader discovery through the servers' own
//! forwarding, bounded retries where they are safe, sessions with a background keep-alive,
//! resumable watches, and the election recipe with fencing tokens.
//!
//! Retries: a request that certainly did not apply (`NotLeader`, `Unavailable`, a refused
//! connection) is retried on the next endpoint with a short backoff, within a bounded time.
//! A write whose answer was lost after it was sent is reported as `OutcomeUnknown` and never
//! retried blindly: the caller decides (re-read, or use a conditional write).

mod connection;
pub mod election;
pub mod session;
pub mod watch;

pub use self::connection::{Client, ClientOptions, Consistency};
pub use self::election::{Candidate, Election, FencingToken, RoleView};
pub use self::session::{Session, SessionHealth};
pub use self::watch::{WatchEvent, WatchEventKind, Watcher};
