//! Skyway's coordination service: a hierarchical namespace of small nodes, replicated with Raft
//! (openraft), durable on disk (a raft-log write-ahead log fsynced before a write is acknowledged;
//! snapshots in redb), served over gRPC
//! (tonic), with sessions, ephemeral and sequential nodes, versions and conditional writes,
//! transactions, watches that never drop an event, the membership log, and — in the client —
//! the election recipe with fencing tokens.
//!
//! It knows nothing of highways or airports. Layers, from the inside out:
//! - [`core`]: the pure, deterministic state machine and the leader's lease table;
//! - `raft`: openraft's type configuration, the log store, the state machine adapter and the
//!   node-to-node network;
//! - `server`: one node: Raft, the gRPC services, session expiry;
//! - [`client`]: the client library (endpoints, leader redirect, sessions, watches, elections);
//! - [`observe`]: metrics and health over HTTP, for nodes and for any process built on the client;
//! - [`tls`]: certificates for the client port, between nodes, and for clients;
//! - [`proto`] and [`status`]: the wire (generated gRPC types) and the one mapping between
//!   [`CoordError`] and gRPC statuses, shared by the server and the client.
//!
//! # Features
//!
//! `server` (on by default) builds the coordinator node: `raft`, `server`, `config` and
//! the node's probe, with openraft, raft-log, redb and the gRPC health and reflection services.
//! Controllers, cameras and analyzers need only the client: depend on
//! `skyway-coord = { default-features = false }` and they link none of that.

pub mod client;
#[cfg(feature = "server")]
pub mod config;
pub mod core;
pub mod error;
pub mod observe;
pub mod proto;
#[cfg(feature = "server")]
pub mod raft;
#[cfg(feature = "server")]
pub mod server;
pub mod status;
pub mod tls;

#[cfg(feature = "server")]
pub use crate::config::NodeConfig;
pub use crate::core::types::{Revision, SessionId};
pub use crate::error::{CoordError, Result};
