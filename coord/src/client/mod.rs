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
//!
//! ```no_run
//! # async fn example() -> Result<(), skyway_coord::CoordError> {
//! use skyway_coord::client::{
//!     Check, Client, ClientOptions, Consistency, Create, Election, Op, SESSION_TTL_DEFAULT, Session, Txn,
//! };
//!
//! let client = Client::new(&["10.0.0.1:7001".into(), "10.0.0.2:7001".into()], ClientOptions::default())?;
//! let session = Session::open(&client, SESSION_TTL_DEFAULT, Some("camera-7")).await?;
//! println!("TTL granted: {:?}", session.ttl());
//! client.create(Create::new("/cameras/cam-7/online", "yes").ephemeral(session.id()).make_parents()).await?;
//! let node = client.get("/cameras/cam-7/online", Consistency::Linearizable).await?;
//! client
//!     .txn(Txn {
//!         checks: vec![Check::Version("/cameras/cam-7/online".into(), node.stat.version)],
//!         ops: vec![Op::Set { path: "/cameras/cam-7/online".into(), data: "still".into(), expected_version: None }],
//!     })
//!     .await?;
//! let election = Election::new(&client, "analyzer/cam-7")?;
//! let token = election.campaign(&session, "a1").await?.wait_primary(&session).await?;
//! println!("primary with {token}");
//! # Ok(())
//! # }
//! ```

mod connection;
mod convert;
pub mod election;
pub mod session;
mod session_list;
pub mod types;
pub mod watch;

pub use self::connection::{Client, ClientOptions, mint_token};
pub use self::election::{Candidate, Election, FencingToken, RoleView};
pub use self::session::{SESSION_TTL_DEFAULT, Session, SessionHealth};
pub use self::session_list::{SessionInfo, SessionPage};
pub use self::types::{
    Acl, Check, Children, ClusterMembers, Committed, Consistency, Create, Created, Existence, Grant, NodeData,
    NodeStatus, Op, OpResult, Revision, SessionId, Stat, Txn, Updated, Users,
};
pub use self::watch::{WatchEvent, WatchEventKind, Watcher};
