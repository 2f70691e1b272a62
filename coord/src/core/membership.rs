//! The membership log: who joined, who left, who failed, in one agreed order.
//!
//! Each record is a persistent sequential node under `/skyway/log`, created in the same entry
//! that creates (join) or deletes (leave, failure) the member's ephemeral node under
//! `/skyway/members`. So the log is replicated, snapshotted and watchable like any node, and
//! every replica and client sees the same membership history in the same order. A failure is
//! recorded because the leader committed the session's expiry, not because someone guessed.
//!
//! Caveats: the log is never trimmed; a deployment with heavy churn will want a retention rule.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::path::NodePath;
use super::types::{Revision, SessionId};
use crate::error::CoordError;

/// Parent of the members' ephemeral nodes.
pub const MEMBERS_PATH: &str = "/skyway/members";
/// Parent of the membership log's records.
pub const LOG_PATH: &str = "/skyway/log";
/// Prefix of a record's sequential name.
pub const LOG_RECORD_PREFIX: &str = "/skyway/log/m-";

/// What happened to a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipKind {
    /// Opened a session with a member name.
    Joined,
    /// Closed its session.
    Left,
    /// Its session expired: the leader stopped hearing from it.
    Failed,
}

/// One record of the membership log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipRecord {
    /// The revision of the entry that made the record (its position in the log).
    #[serde(skip)]
    pub revision: Revision,
    /// What happened.
    pub kind: MembershipKind,
    /// The member's name.
    pub member: String,
    /// The member's session.
    pub session: SessionId,
}

impl MembershipRecord {
    /// The record as stored in its node.
    pub fn to_bytes(&self) -> bytes::Bytes {
        serde_json::to_vec(self).expect("records serialize").into()
    }

    /// Reads a record back from its node's data and create revision.
    pub fn from_bytes(data: &[u8], revision: Revision) -> Result<Self, CoordError> {
        let mut record: Self = serde_json::from_slice(data).map_err(|e| CoordError::Internal {
            reason: format!("malformed membership record at revision {}: {e}", revision.0),
        })?;
        record.revision = revision;
        Ok(record)
    }
}

/// The member node path for a name, or an error if the name is not a single path part.
pub fn member_path(name: &str) -> Result<NodePath, CoordError> {
    if name.is_empty() || name.contains('/') {
        return Err(CoordError::InvalidArgument {
            reason: format!("member name {name:?} must be non-empty and contain no '/'"),
        });
    }
    NodePath::parse(MEMBERS_PATH)?.join(name)
}

impl fmt::Display for MembershipRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            MembershipKind::Joined => "joined",
            MembershipKind::Left => "left",
            MembershipKind::Failed => "failed",
        };
        write!(f, "@{} {} {kind} ({})", self.revision.0, self.member, self.session)
    }
}
