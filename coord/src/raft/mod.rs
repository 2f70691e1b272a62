//! Replication with openraft: the type configuration, the log store (raft-log), the state
//! machine adapter (snapshots in redb) and the node-to-node network.

pub mod codec;
pub mod database;
pub mod network;
pub mod state_machine;
pub mod wal_store;

use crate::core::clients::Remembered;
use crate::core::command::Proposal;

/// What the state machine answers for one entry: the revision the command applied at (for a
/// duplicate of a client's write, the revision of its first application) and its result.
pub type Response = Remembered;

openraft::declare_raft_types!(
    /// Skyway's Raft types: commands in, results out, nodes addressed by one gRPC address.
    pub TypeConfig:
        D = Proposal,
        R = Response,
        NodeId = u64,
        Node = openraft::BasicNode,
);

/// A node id.
pub type NodeId = u64;
/// The Raft handle of one coordinator node.
pub type Raft = openraft::Raft<TypeConfig, state_machine::StateMachineStore>;
/// Serialized state-machine snapshot.
pub type SnapshotData = Vec<u8>;
/// openraft's log id.
pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
/// openraft's vote.
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
/// openraft's log entry.
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
/// openraft's snapshot metadata.
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
/// openraft's snapshot.
pub type Snapshot = openraft::alias::SnapshotOf<TypeConfig, SnapshotData>;
/// Membership as openraft stores it.
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
