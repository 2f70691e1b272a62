//! Generated gRPC types (from `proto/`). Wire types stay at the edge: conversions to and from
//! the core types live in `server::convert`.

#![allow(missing_docs, clippy::all)]

/// The public client API.
pub mod coord {
    tonic::include_proto!("skyway.coord.v1");
}

/// Node-to-node traffic.
pub mod raft {
    tonic::include_proto!("skyway.raft.v1");
}

/// The encoded descriptors of both files, for the server reflection service.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("skyway_descriptor");
