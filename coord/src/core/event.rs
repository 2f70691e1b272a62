//! Change events: what watchers receive, one per node change, tagged with the revision of the
//! entry that made it.

use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::node::Stat;
use super::path::NodePath;
use super::types::Revision;

/// What happened to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// The node was created.
    Created,
    /// The node's data was set.
    Changed,
    /// The node was deleted (explicitly, or with its session).
    Deleted,
}

/// One change to one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The entry that made the change.
    pub revision: Revision,
    /// What happened.
    pub kind: EventKind,
    /// The node.
    pub path: NodePath,
    /// The node's data after the change (empty for deletions).
    pub data: Bytes,
    /// The node's stat after the change (before it, for deletions).
    pub stat: Stat,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            EventKind::Created => "created",
            EventKind::Changed => "changed",
            EventKind::Deleted => "deleted",
        };
        write!(f, "@{} {kind} {}", self.revision.0, self.path)?;
        if self.kind != EventKind::Deleted {
            write!(f, " {:?}", String::from_utf8_lossy(&self.data))?;
        }
        if let Some(owner) = self.stat.ephemeral_owner {
            write!(f, " eph={owner}")?;
        }
        Ok(())
    }
}
