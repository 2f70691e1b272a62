//! The membership log: who joined, who left, who failed, in one agreed order.
//!
//! Each record is a persistent sequential node under `/skyway/log`, created in the same entry
//! that creates (join) or deletes (leave, failure) the member's ephemeral node under
//! `/skyway/members`. So the log is replicated, snapshotted and watchable like any node, and
//! every replica and client sees the same membership history in the same order. A failure is
//! recorded because the leader committed the session's expiry, not because someone guessed.
//!
//! # A bounded window, read in pages
//!
//! The log keeps its newest [`LogWindow::records_max`] records: the entry that appends one
//! past the window deletes the oldest in the same entry, so trimming is part of applying and
//! every replica trims the same records at the same revision. The window itself is replicated
//! state (in snapshots with the rest), changed only by a committed `SetMembershipWindow`
//! command that the leader proposes when its configured window differs — never read from a
//! node's own configuration while applying, or replicas with different flags would diverge.
//! The window remembers the revision of the last record it trimmed, so a reader asking for
//! records from before the window gets [`CoordError::LogTrimmed`] with the oldest record kept,
//! never a silent gap. Reads come in pages of at most [`MEMBERSHIP_PAGE_RECORDS_MAX`] records,
//! each saying where the next one starts.
//!
//! Caveats: trimming deletes the oldest record nodes, so a watcher of `/skyway/log` sees those
//! deletions as events; a page read holds the state's read lock for at most one page's records.

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

/// Default for how many records the membership log keeps (`--membership-log-records-max`).
pub const MEMBERSHIP_LOG_RECORDS_DEFAULT: u64 = 10_000;
/// Most records one page of the membership log carries (a request may ask for fewer).
pub const MEMBERSHIP_PAGE_RECORDS_MAX: usize = 1_000;

/// The part of the membership log that is kept: replicated, so every replica trims alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogWindow {
    /// Most records kept; appending one more trims the oldest in the same entry.
    pub records_max: u64,
    /// The revision of the newest record trimmed so far (`Revision(0)`: none yet).
    pub trimmed_through: Revision,
}

impl Default for LogWindow {
    fn default() -> Self {
        Self { records_max: MEMBERSHIP_LOG_RECORDS_DEFAULT, trimmed_through: Revision(0) }
    }
}

impl LogWindow {
    /// Checks that a read from `from` starts inside the window: `from` 0 means "from the oldest
    /// record kept"; anything else at or before a trimmed record is refused, with the oldest
    /// kept record (`oldest`, or the current revision if the log is empty) to read from instead.
    pub fn check_from(&self, from: Revision, oldest: Option<Revision>, current: Revision) -> Result<(), CoordError> {
        if from.0 == 0 || from > self.trimmed_through {
            return Ok(());
        }
        Err(CoordError::LogTrimmed {
            requested: from.0,
            oldest: oldest.unwrap_or(current).0,
            records_max: self.records_max,
        })
    }
}

/// One page of the membership log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MembershipPage {
    /// Records in log order, from the page's start.
    pub records: Vec<MembershipRecord>,
    /// Where the next page starts (ask with this `from`), or `None` if this page ends the log.
    pub next: Option<Revision>,
    /// The revision of the oldest record kept, if the log holds any.
    pub oldest: Option<Revision>,
}

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
