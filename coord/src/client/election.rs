//! The election recipe: exactly one primary per role, a ranked line of backups, and a fencing
//! token that strictly increases from one primary to the next.
//!
//! How: every candidate creates an ephemeral sequential node `/roles/<role>/c-NNNNNNNNNN`
//! owned by its session. The lowest name is the primary; the others are backups in order.
//! Each backup watches only its immediate predecessor (no herd effect: one death wakes one
//! candidate); the one right behind the primary takes over on the deletion event itself, since
//! nothing can rank before it any more, and reads the role again only if it was further back.
//! The primary's fencing token is the create revision of its node. Sequence order
//! is creation order is revision order, and a new primary's node was necessarily created after
//! the previous primary's, so tokens strictly increase across successive primaries. Actuators
//! that refuse tokens lower than the highest they have seen thus refuse a deposed primary,
//! even one that was paused and does not know it has been replaced.
//!
//! A campaign is idempotent per session and role: the candidate node is created with
//! `one_per_session`, so the state machine refuses a second candidate of the same session under
//! the role (and names the existing one, which the campaign then returns); a retried campaign
//! request is, besides, answered from the server's memory of its first outcome. So a session
//! never leaves a "ghost" candidate behind itself, which would keep the role without a primary
//! until the session ended.
//!
//! Caveats: waiting for primacy ends with an error as soon as the session is lost (uncertain or
//! gone) — a campaign never keeps waiting, or reports success, for a session that may be dead.

use std::fmt;

use bytes::Bytes;

use super::connection::Client;
use super::session::Session;
use super::types::{Consistency, Create, SessionId};
use super::watch::{WatchEventKind, Watcher};
use crate::error::CoordError;

/// Prefix under which roles live.
pub const ROLES_PATH: &str = "/roles";
const CANDIDATE_PREFIX: &str = "c-";

/// A primary's fencing token: the create revision of its candidate node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct FencingToken(pub u64);

impl fmt::Display for FencingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token={}", self.0)
    }
}

/// One candidate as an observer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateView {
    /// The candidate node's name (`c-0000000012`).
    pub name: String,
    /// What the candidate stored (usually its name or address).
    pub data: Bytes,
    /// Its token, were it primary (the create revision).
    pub token: FencingToken,
    /// Its session (`None` only for a node under the role that no session owns, which no
    /// campaign made).
    pub session: Option<SessionId>,
}

/// A role's primary and backups, in rank order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleView {
    /// The primary, if any candidate exists.
    pub primary: Option<CandidateView>,
    /// The backups, best first.
    pub backups: Vec<CandidateView>,
}

/// Elections for one role.
#[derive(Clone)]
pub struct Election {
    client: Client,
    role: String,
    role_path: String,
}

impl Election {
    /// Elections for `role` (e.g. `runway/07`), under `/roles/<role>`.
    pub fn new(client: &Client, role: &str) -> Result<Self, CoordError> {
        let role_path = format!("{ROLES_PATH}/{}", role.trim_matches('/'));
        crate::core::path::NodePath::parse(&role_path)?;
        Ok(Self { client: client.clone(), role: role.to_string(), role_path })
    }

    /// The role's name.
    pub fn role(&self) -> &str {
        &self.role
    }

    /// Enters the election with `session`, storing `data` in the candidate node.
    pub async fn campaign(&self, session: &Session, data: impl Into<Bytes>) -> Result<Candidate, CoordError> {
        let candidate = Create::new(format!("{}/{CANDIDATE_PREFIX}", self.role_path), data)
            .ephemeral(session.id())
            .sequential()
            .make_parents()
            .one_per_session();
        let (path, token) = match self.client.create(candidate).await {
            Ok(created) => (created.path, FencingToken(created.stat.create_revision.0)),
            // Already a candidate (an earlier campaign of this session): that one it is.
            Err(CoordError::SessionOwnsSibling { .. }) => {
                self.find_own(session.id()).await?.ok_or_else(|| CoordError::Unavailable {
                    reason: "this session's candidate node vanished while being looked up; campaign again".into(),
                })?
            }
            // The create may have applied: find our node by its owner rather than create twice.
            Err(e) if e.is_outcome_unknown() => {
                self.find_own(session.id()).await?.ok_or_else(|| CoordError::Unavailable {
                    reason: "campaign request lost and no candidate node of this session exists; campaign again".into(),
                })?
            }
            Err(e) => return Err(e),
        };
        tracing::info!(role = %self.role, %path, "campaigning");
        Ok(Candidate { election: self.clone(), path, token })
    }

    async fn find_own(&self, session: SessionId) -> Result<Option<(String, FencingToken)>, CoordError> {
        Ok(self
            .observe()
            .await?
            .all()
            .find(|c| c.session == Some(session))
            .map(|c| (format!("{}/{}", self.role_path, c.name), c.token)))
    }

    /// The role's current primary and backups (a linearizable read).
    pub async fn observe(&self) -> Result<RoleView, CoordError> {
        let (view, _) = self.observe_at().await?;
        Ok(view)
    }

    /// The role's candidates and the revision they were read at.
    async fn observe_at(&self) -> Result<(RoleView, u64), CoordError> {
        let children = match self.client.children(&self.role_path, Consistency::Linearizable).await {
            Ok(children) => children,
            Err(CoordError::NotFound { .. }) => return Ok((RoleView { primary: None, backups: Vec::new() }, 0)),
            Err(e) => return Err(e),
        };
        let mut names: Vec<String> = children.names.into_iter().filter(|n| n.starts_with(CANDIDATE_PREFIX)).collect();
        names.sort();
        let mut candidates = Vec::with_capacity(names.len());
        for name in names {
            match self.client.get(&format!("{}/{name}", self.role_path), Consistency::Linearizable).await {
                Ok(node) => {
                    candidates.push(CandidateView {
                        name,
                        data: node.data,
                        token: FencingToken(node.stat.create_revision.0),
                        session: node.stat.ephemeral_owner,
                    });
                }
                Err(CoordError::NotFound { .. }) => {} // gone meanwhile
                Err(e) => return Err(e),
            }
        }
        let mut iter = candidates.into_iter();
        Ok((RoleView { primary: iter.next(), backups: iter.collect() }, children.revision.0))
    }
}

impl RoleView {
    /// Every candidate, primary first.
    pub fn all(&self) -> impl Iterator<Item = &CandidateView> {
        self.primary.iter().chain(self.backups.iter())
    }
}

/// A campaigning candidate.
pub struct Candidate {
    election: Election,
    path: String,
    token: FencingToken,
}

impl Candidate {
    /// The candidate node's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The fencing token this candidate holds once primary.
    pub fn token(&self) -> FencingToken {
        self.token
    }

    /// This candidate's rank: 0 is primary, 1 the first backup, and so on; `None` if its node is gone.
    pub async fn rank(&self) -> Result<Option<usize>, CoordError> {
        let view = self.election.observe().await?;
        let name = self.path.rsplit('/').next().unwrap_or_default();
        Ok(view.all().position(|c| c.name == name))
    }

    /// Waits until this candidate is primary and returns its fencing token. Fails with
    /// `SessionExpired` if its node disappears, and as soon as the session is lost.
    pub async fn wait_primary(&self, session: &Session) -> Result<FencingToken, CoordError> {
        loop {
            tokio::select! {
                biased;
                _ = session.lost() => return Err(CoordError::SessionExpired { session: session.id().0 }),
                step = self.step() => match step? {
                    Some(token) => return Ok(token),
                    None => continue,
                },
            }
        }
    }

    /// One round: primary now (`Some(token)`), or wait for the predecessor to go (`None`).
    async fn step(&self) -> Result<Option<FencingToken>, CoordError> {
        let (view, revision) = self.election.observe_at().await?;
        let name = self.path.rsplit('/').next().unwrap_or_default();
        let Some(rank) = view.all().position(|c| c.name == name) else {
            return Err(CoordError::SessionExpired { session: 0 });
        };
        if rank == 0 {
            tracing::info!(role = %self.election.role, path = %self.path, token = self.token.0, "became primary");
            return Ok(Some(self.token));
        }
        let predecessor = view.all().nth(rank - 1).expect("rank > 0 has a predecessor");
        let predecessor_path = format!("{}/{}", self.election.role_path, predecessor.name);
        tracing::debug!(role = %self.election.role, rank, predecessor = %predecessor_path, "backup: watching predecessor");
        // Watch from just after the read, so a deletion between the read and the watch is seen.
        let mut watcher = Watcher::start(&self.election.client, &predecessor_path, false, revision + 1).await?;
        loop {
            let events = watcher.next().await?;
            if !events.iter().any(|e| e.kind == WatchEventKind::Deleted) {
                continue;
            }
            if rank == 1 {
                // The predecessor was the primary, so nothing ranked before it; and no node
                // can rank before us later (sequence numbers only grow). Primary now, without
                // reading the role again: a failover does not wait for those round trips.
                tracing::info!(role = %self.election.role, path = %self.path, token = self.token.0, "became primary");
                return Ok(Some(self.token));
            }
            return Ok(None);
        }
    }

    /// Leaves the election: deletes the candidate node so the next in line takes over at once.
    pub async fn resign(self) -> Result<(), CoordError> {
        match self.election.client.delete(&self.path, None).await {
            Ok(_) | Err(CoordError::NotFound { .. }) => {
                tracing::info!(role = %self.election.role, path = %self.path, "resigned");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
