//! A node of the namespace: its data and its stat.

use std::collections::BTreeSet;
use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::types::{Revision, SessionId};

/// What a node looks like from outside, besides its data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    /// Revision of the entry that created the node.
    pub create_revision: Revision,
    /// Revision of the entry that last changed the node's data.
    pub mod_revision: Revision,
    /// Number of data changes since creation (0 when created).
    pub version: u64,
    /// The session owning this ephemeral node; `None` for persistent nodes.
    pub ephemeral_owner: Option<SessionId>,
    /// Number of children.
    pub num_children: u32,
    /// Length of the data in bytes.
    pub data_length: u32,
}

/// A node as stored in the namespace.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Node {
    /// The node's data (small: the limit is enforced at the edge).
    pub data: Bytes,
    /// Revision of the creating entry.
    pub create_revision: Revision,
    /// Revision of the last data change.
    pub mod_revision: Revision,
    /// Number of data changes.
    pub version: u64,
    /// Owner session for ephemeral nodes.
    pub ephemeral_owner: Option<SessionId>,
    /// Names of the children, sorted.
    pub children: BTreeSet<String>,
    /// Next suffix for a sequential child; only grows, so names never repeat.
    pub next_sequence: u64,
}

impl Node {
    /// A fresh node created at `revision`.
    pub fn new(data: Bytes, revision: Revision, ephemeral_owner: Option<SessionId>) -> Self {
        Self {
            data,
            create_revision: revision,
            mod_revision: revision,
            version: 0,
            ephemeral_owner,
            children: BTreeSet::new(),
            next_sequence: 0,
        }
    }

    /// The node's stat.
    pub fn stat(&self) -> Stat {
        Stat {
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            version: self.version,
            ephemeral_owner: self.ephemeral_owner,
            num_children: self.children.len() as u32,
            data_length: self.data.len() as u32,
        }
    }
}

impl fmt::Display for Stat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "create={} mod={} version={} children={} bytes={}",
            self.create_revision.0, self.mod_revision.0, self.version, self.num_children, self.data_length
        )?;
        if let Some(owner) = self.ephemeral_owner {
            write!(f, " eph={owner}")?;
        }
        Ok(())
    }
}
