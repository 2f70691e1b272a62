//! The open sessions as an operator lists them (`skyway ctl session list`): the replicated
//! facts of each session, and how long the leader will still wait for its keep-alive.

use std::time::Duration;

use crate::proto::coord as pb;

/// One open session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session's id (as `Stat::ephemeral_owner` names it).
    pub id: u64,
    /// The TTL it was granted.
    pub ttl: Duration,
    /// How long the leader will wait for a keep-alive before expiring it (`None`: the leader
    /// could not be asked, or has not tracked the session yet).
    pub remaining: Option<Duration>,
    /// Its membership name, if it joined.
    pub member: Option<String>,
    /// The identity that opened it, if authentication was on.
    pub owner: Option<String>,
    /// Its first ephemeral nodes in path order (the server lists at most 16).
    pub ephemerals: Vec<String>,
    /// How many ephemeral nodes it owns in all.
    pub ephemeral_count: u64,
}

/// One page of the open sessions, in id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPage {
    /// The sessions of this page.
    pub sessions: Vec<SessionInfo>,
    /// Whether sessions after the last of this page exist.
    pub more: bool,
    /// Open sessions in all.
    pub total: u64,
    /// The revision the page was read at.
    pub revision: u64,
    /// Why no remaining TTL is known (no leader, or it could not be reached).
    pub remaining_unknown: Option<String>,
}

impl From<pb::SessionInfo> for SessionInfo {
    fn from(info: pb::SessionInfo) -> Self {
        let present = |s: String| (!s.is_empty()).then_some(s);
        Self {
            id: info.session_id,
            ttl: Duration::from_millis(info.ttl_ms),
            remaining: info.remaining_ms.map(Duration::from_millis),
            member: present(info.member),
            owner: present(info.owner),
            ephemerals: info.ephemerals,
            ephemeral_count: info.ephemeral_count,
        }
    }
}

impl From<pb::ListSessionsResponse> for SessionPage {
    fn from(page: pb::ListSessionsResponse) -> Self {
        Self {
            sessions: page.sessions.into_iter().map(SessionInfo::from).collect(),
            more: page.more,
            total: page.total,
            revision: page.revision,
            remaining_unknown: (!page.remaining_unknown.is_empty()).then_some(page.remaining_unknown),
        }
    }
}
