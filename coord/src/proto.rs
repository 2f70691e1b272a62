//! Generated gRPC types (from `proto/`). Wire types stay at the edge: conversions to and from
//! the core types live in `server::convert` (the server's side) and `client::convert` (the
//! client's).

#![allow(missing_docs, clippy::all)]

/// The public client API.
pub mod coord {
    tonic::include_proto!("skyway.coord.v1");
}

/// The metadata key carrying a user's bearer token (`authorization: Bearer TOKEN`).
pub const AUTHORIZATION_METADATA_KEY: &str = "authorization";

/// Node-to-node traffic.
#[cfg(feature = "server")]
pub mod raft {
    tonic::include_proto!("skyway.raft.v1");
}

#[cfg(feature = "server")]
/// The encoded descriptors of both files, for the server reflection service.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("skyway_descriptor");
