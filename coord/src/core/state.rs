//! The coordination state machine: namespace, sessions, membership log and watch history,
//! changed only by applying committed commands in log order.
//!
//! `apply(revision, command)` is pure and deterministic: no clock, no I/O, no randomness. Every
//! replica that applies the same entries reaches the same state and produces the same events,
//! which is what makes reads from any replica and watches resumable on any node meaningful.
//!
//! Guarantees:
//! - revisions strictly increase (asserted);
//! - a command either applies whole or changes nothing (transactions roll back);
//! - a session's ephemeral nodes are gone in the very entry that closes or expires it, and
//!   the membership record is appended in that same entry.
//!
//! - a client's write carrying a request id applies at most once: a retry of it is answered with
//!   the first outcome (see `clients`), and the table that remembers outcomes is replicated
//!   state, in snapshots like the namespace.
//!
//! Caveats: time-to-live is not judged here. Which sessions have expired is decided by the
//! leader (see `leases`) and arrives as an `ExpireSessions` command like any other; the
//! remaining TTLs a leader checkpoints arrive as `CheckpointLeases` and are only recorded.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::acl::{AclTable, Caller, Perm};
use super::clients::{ClientLimits, ClientTable, Remembered, RequestId, Verdict};
use super::command::{Check, Command, CreateOp, DeleteOp, Op, Outcome};
use super::event::{Event, EventKind};
use super::history::{BatchLimit, WatchFilter, WatchHistory};
use super::membership::{
    LOG_PATH, LOG_RECORD_PREFIX, LogWindow, MEMBERSHIP_PAGE_RECORDS_MAX, MembershipKind, MembershipPage,
    MembershipRecord, member_path,
};
use super::namespace::{ChangeSet, Namespace};
use super::node::{Node, Stat};
use super::path::NodePath;
use super::types::{Revision, SessionId};
use crate::error::CoordError;

/// An open session as the state machine knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Time to live without keep-alives.
    pub ttl_ms: u64,
    /// Membership name, if the session joined.
    pub member: Option<String>,
    /// The session's ephemeral nodes.
    pub ephemerals: BTreeSet<NodePath>,
    /// Its remaining TTL as of the last lease checkpoint; opening the session counts as one,
    /// with the whole TTL remaining (see `leases`).
    pub checkpoint_remaining_ms: u64,
    /// The identity that opened it, if authentication was on (only it, or an admin, may
    /// close it or keep it alive).
    pub owner: Option<String>,
}

/// The replicated state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CoordState {
    namespace: Namespace,
    sessions: BTreeMap<SessionId, Session>,
    /// Outcomes of clients' recent writes, so that retries apply at most once.
    clients: ClientTable,
    /// How much of the membership log is kept, and what was trimmed.
    membership_window: LogWindow,
    /// Users, grants and whether they are checked (see `acl`).
    acl: AclTable,
    /// Not part of snapshots: it is a serving cache that every replica rebuilds from the log
    /// it applies (see [`CoordState::from_snapshot`]).
    #[serde(skip, default = "empty_history")]
    history: WatchHistory,
    /// The last applied entry's revision; `None` before the first (Raft's first entry is index 0).
    revision: Option<Revision>,
}

impl CoordState {
    /// An empty state (only the root) keeping `history_events_max` watch events.
    pub fn new(history_events_max: usize) -> Self {
        Self {
            namespace: Namespace::default(),
            sessions: BTreeMap::new(),
            clients: ClientTable::new(ClientLimits::default()),
            membership_window: LogWindow::default(),
            acl: AclTable::default(),
            history: WatchHistory::new(history_events_max),
            revision: None,
        }
    }

    /// The revision of the last applied entry.
    pub fn revision(&self) -> Revision {
        self.revision.unwrap_or_default()
    }

    /// The same state with other bounds on the client table (tests use small ones; every
    /// replica must use the same).
    pub fn with_client_limits(mut self, limits: ClientLimits) -> Self {
        self.clients.set_limits(limits);
        self
    }

    /// The table of clients' recent outcomes.
    pub fn clients(&self) -> &ClientTable {
        &self.clients
    }

    /// How much of the membership log is kept.
    pub fn membership_window(&self) -> LogWindow {
        self.membership_window
    }

    /// Users, grants and whether they are checked.
    pub fn acl(&self) -> &AclTable {
        &self.acl
    }

    /// The open sessions.
    pub fn sessions(&self) -> &BTreeMap<SessionId, Session> {
        &self.sessions
    }

    /// Number of nodes (root included).
    pub fn node_count(&self) -> usize {
        self.namespace.len()
    }

    /// Bytes the namespace holds: every node's path and data (the quota's measure).
    pub fn data_bytes(&self) -> u64 {
        self.namespace.data_bytes()
    }

    /// The same state with its watch history also bounded by bytes (a serving cache, local to
    /// each node, so replicas may differ in it).
    pub fn with_history_bytes_max(mut self, bytes_max: usize) -> Self {
        self.history = std::mem::replace(&mut self.history, WatchHistory::new(1)).with_bytes_max(bytes_max);
        self
    }

    /// The watch history.
    pub fn history(&self) -> &WatchHistory {
        &self.history
    }

    /// Encodes the state for a snapshot (without the watch history).
    pub fn to_snapshot(&self) -> Result<Vec<u8>, postcard::Error> {
        postcard::to_stdvec(self)
    }

    /// Decodes a snapshot. The watch history starts empty and compacted through the snapshot's
    /// revision, so a watcher asking for anything older gets `Compacted`, never a silent gap.
    pub fn from_snapshot(bytes: &[u8], history_events_max: usize) -> Result<Self, postcard::Error> {
        let mut state: Self = postcard::from_bytes(bytes)?;
        state.namespace.recount();
        state.history = WatchHistory::starting_after(state.revision(), history_events_max);
        state.clients.set_limits(ClientLimits::default());
        Ok(state)
    }

    /// Marks an entry without a command (a Raft blank or membership entry) as applied.
    pub fn apply_empty(&mut self, revision: Revision) {
        self.advance(revision);
    }

    fn advance(&mut self, revision: Revision) {
        if let Some(last) = self.revision {
            assert!(revision > last, "revisions must strictly increase: {} after {}", revision.0, last.0);
        }
        self.revision = Some(revision);
    }

    /// Applies one committed command without a request id. The error, if any, is the command's
    /// answer; the state is then unchanged except for the revision.
    pub fn apply(&mut self, revision: Revision, command: &Command) -> Result<Outcome, CoordError> {
        self.apply_request(revision, None, &Caller::Anonymous, command).result
    }

    /// Applies one committed command; with a request id, at most once (see `clients`): a
    /// duplicate is answered with the revision and result it first had, and changes nothing.
    /// `caller` is judged against the permissions as of this entry (see `acl`); a refused
    /// command changes nothing.
    pub fn apply_request(
        &mut self,
        revision: Revision,
        request: Option<&RequestId>,
        caller: &Caller,
        command: &Command,
    ) -> Remembered {
        self.advance(revision);
        self.clients.expire_idle(revision);
        let Some(request) = request else {
            let result = self.authorize(caller, command).and_then(|()| self.apply_command(revision, caller, command));
            return Remembered { revision, result };
        };
        match self.clients.judge(request, revision) {
            Verdict::Duplicate(remembered) => remembered,
            Verdict::Refuse(error) => Remembered { revision, result: Err(error) },
            Verdict::Apply => {
                let result =
                    self.authorize(caller, command).and_then(|()| self.apply_command(revision, caller, command));
                let session_open = request.session.is_some_and(|s| self.sessions.contains_key(&s));
                self.clients.record(request, revision, &result, session_open);
                Remembered { revision, result }
            }
        }
    }

    /// Refuses a command its caller may not send (see `acl` for what each needs). The leader's
    /// own commands (expiry, lease checkpoints, the membership window) have no client RPC and
    /// are not judged.
    fn authorize(&self, caller: &Caller, command: &Command) -> Result<(), CoordError> {
        let acl = &self.acl;
        let root = NodePath::root();
        match command {
            Command::Create(op) => self.authorize_create(caller, op),
            Command::Set(op) => acl.authorize(caller, &op.path, Perm::Write, &format!("set {}", op.path)),
            Command::Delete(op) => authorize_delete(acl, caller, &op.path),
            Command::Txn { checks, ops } => {
                for check in checks {
                    let path = check.path();
                    acl.authorize(caller, path, Perm::Read, &format!("check {path} in a transaction"))?;
                }
                ops.iter().try_for_each(|op| match op {
                    Op::Create(op) => self.authorize_create(caller, op),
                    Op::Set(op) => acl.authorize(caller, &op.path, Perm::Write, &format!("set {}", op.path)),
                    Op::Delete(op) => authorize_delete(acl, caller, &op.path),
                })
            }
            Command::OpenSession { .. } => acl.authenticate(caller).map(|_| ()),
            Command::CloseSession { session } => self.authorize_session(caller, *session),
            Command::ExpireSessions { .. } | Command::CheckpointLeases { .. } | Command::SetMembershipWindow { .. } => {
                Ok(())
            }
            Command::AddUser { name, .. } => acl.authorize(caller, &root, Perm::Admin, &format!("add user {name}")),
            Command::DeleteUser { name } => acl.authorize(caller, &root, Perm::Admin, &format!("delete user {name}")),
            Command::SetAuth { enabled } => {
                let action = if *enabled { "enable authentication" } else { "disable authentication" };
                acl.authorize(caller, &root, Perm::Admin, action)
            }
            Command::SetAcl { path, identity, .. } => {
                acl.authorize(caller, path, Perm::Admin, &format!("change {identity}'s permissions on {path}"))
            }
        }
    }

    /// A create needs `create` at the new node's path (for a sequential node, its name
    /// prefix), and at every missing ancestor it would make on the way.
    fn authorize_create(&self, caller: &Caller, op: &CreateOp) -> Result<(), CoordError> {
        let action = format!("create {}{}", op.path, if op.sequential { "<seq>" } else { "" });
        let mut path = op.path.clone();
        loop {
            self.acl.authorize(caller, &path, Perm::Create, &action)?;
            match path.parent() {
                Some(parent) if op.make_parents && self.namespace.get(&parent).is_none() => path = parent,
                _ => return Ok(()),
            }
        }
    }

    /// Whether `caller` may end `session`: its owner, or an admin of `/`.
    pub fn authorize_session(&self, caller: &Caller, session: SessionId) -> Result<(), CoordError> {
        let Some(identity) = self.acl.authenticate(caller)? else { return Ok(()) };
        // Unknown sessions, and those opened while checks were off, have no owner to protect.
        let Some(owner) = self.sessions.get(&session).and_then(|s| s.owner.as_deref()) else { return Ok(()) };
        if owner == identity {
            return Ok(());
        }
        self.acl.authorize(caller, &NodePath::root(), Perm::Admin, &format!("end {owner}'s session {}", session.0))
    }

    fn apply_command(&mut self, revision: Revision, caller: &Caller, command: &Command) -> Result<Outcome, CoordError> {
        let mut cs = ChangeSet::default();
        let result = self.apply_changes(revision, caller, command, &mut cs);
        match result {
            Ok(outcome) => {
                self.commit(cs);
                Ok(outcome)
            }
            Err(error) => {
                self.namespace.rollback(cs);
                Err(error)
            }
        }
    }

    fn apply_changes(
        &mut self,
        revision: Revision,
        caller: &Caller,
        command: &Command,
        cs: &mut ChangeSet,
    ) -> Result<Outcome, CoordError> {
        match command {
            Command::Create(op) => self.create(op, revision, cs),
            Command::Set(op) => {
                reject_reserved(&op.path)?;
                Ok(Outcome::Set { stat: self.namespace.set(op, revision, cs)? })
            }
            Command::Delete(op) => self.delete(op, revision, cs),
            Command::Txn { checks, ops } => self.txn(checks, ops, revision, cs),
            Command::OpenSession { ttl_ms, member } => {
                let owner = self.acl.authenticate(caller)?;
                self.open_session(*ttl_ms, member.as_deref(), owner, revision, cs)
            }
            Command::CloseSession { session } => {
                if !self.sessions.contains_key(session) {
                    return Err(CoordError::SessionExpired { session: session.0 });
                }
                self.end_session(*session, MembershipKind::Left, revision, cs)?;
                Ok(Outcome::SessionClosed)
            }
            Command::ExpireSessions { sessions } => {
                let mut expired = Vec::new();
                for session in sessions {
                    if self.sessions.contains_key(session) {
                        self.end_session(*session, MembershipKind::Failed, revision, cs)?;
                        expired.push(*session);
                    }
                }
                Ok(Outcome::SessionsExpired { sessions: expired })
            }
            Command::CheckpointLeases { remaining } => {
                // Sessions closed since the leader measured are simply not there any more.
                for (id, remaining_ms) in remaining {
                    if let Some(session) = self.sessions.get_mut(id) {
                        session.checkpoint_remaining_ms = *remaining_ms;
                    }
                }
                Ok(Outcome::Empty)
            }
            Command::SetMembershipWindow { records_max } => {
                if *records_max == 0 {
                    return Err(CoordError::InvalidArgument {
                        reason: "the membership log must keep at least one record".into(),
                    });
                }
                self.membership_window.records_max = *records_max;
                self.trim_membership_log(revision, cs)?;
                Ok(Outcome::Empty)
            }
            Command::AddUser { name, token_sha256 } => {
                self.acl.add_user(name, *token_sha256).map(|()| Outcome::AuthChanged)
            }
            Command::DeleteUser { name } => self.acl.delete_user(name).map(|()| Outcome::AuthChanged),
            Command::SetAuth { enabled } => self.acl.set_enabled(*enabled).map(|()| Outcome::AuthChanged),
            Command::SetAcl { path, identity, perms } => {
                self.acl.set_grant(path, identity, *perms).map(|()| Outcome::AuthChanged)
            }
        }
    }

    /// Makes the entry's changes visible: history and session bookkeeping follow the events.
    fn commit(&mut self, cs: ChangeSet) {
        for event in &cs.events {
            let Some(owner) = event.stat.ephemeral_owner else { continue };
            let Some(session) = self.sessions.get_mut(&owner) else { continue };
            match event.kind {
                EventKind::Created => {
                    session.ephemerals.insert(event.path.clone());
                }
                EventKind::Deleted => {
                    session.ephemerals.remove(&event.path);
                }
                EventKind::Changed => {}
            }
        }
        self.history.extend(cs.events);
    }

    fn create(&mut self, op: &CreateOp, revision: Revision, cs: &mut ChangeSet) -> Result<Outcome, CoordError> {
        reject_reserved(&op.path)?;
        if let Some(owner) = op.ephemeral_owner
            && !self.sessions.contains_key(&owner)
        {
            return Err(CoordError::SessionExpired { session: owner.0 });
        }
        if op.one_per_session
            && let Some(owner) = op.ephemeral_owner
        {
            self.check_one_per_session(owner, &op.path)?;
        }
        let (path, stat) = self.namespace.create(op, revision, cs)?;
        Ok(Outcome::Created { path, stat })
    }

    /// Refuses a second node of `owner` under the parent of `path` (the create's path, or for a
    /// sequential node its prefix: both name the parent). Caveat: nodes created earlier in the
    /// same transaction are not yet counted.
    fn check_one_per_session(&self, owner: SessionId, path: &NodePath) -> Result<(), CoordError> {
        let parent = path.parent();
        let session = self.sessions.get(&owner).ok_or(CoordError::SessionExpired { session: owner.0 })?;
        match session.ephemerals.iter().find(|e| e.parent() == parent) {
            Some(existing) => Err(CoordError::SessionOwnsSibling { session: owner.0, existing: existing.to_string() }),
            None => Ok(()),
        }
    }

    fn delete(&mut self, op: &DeleteOp, revision: Revision, cs: &mut ChangeSet) -> Result<Outcome, CoordError> {
        reject_reserved(&op.path)?;
        self.namespace.delete(op, revision, cs)?;
        Ok(Outcome::Deleted)
    }

    fn txn(
        &mut self,
        checks: &[Check],
        ops: &[Op],
        revision: Revision,
        cs: &mut ChangeSet,
    ) -> Result<Outcome, CoordError> {
        for (index, check) in checks.iter().enumerate() {
            self.check(index, check)?;
        }
        let mut outcomes = Vec::with_capacity(ops.len());
        for (index, op) in ops.iter().enumerate() {
            let outcome = match op {
                Op::Create(op) => self.create(op, revision, cs),
                Op::Set(op) => reject_reserved(&op.path)
                    .and_then(|_| Ok(Outcome::Set { stat: self.namespace.set(op, revision, cs)? })),
                Op::Delete(op) => self.delete(op, revision, cs),
            }
            .map_err(|error| CoordError::CheckFailed {
                index: checks.len() + index,
                path: op_path(op).to_string(),
                reason: error.to_string(),
            })?;
            outcomes.push(outcome);
        }
        Ok(Outcome::Txn(outcomes))
    }

    fn check(&self, index: usize, check: &Check) -> Result<(), CoordError> {
        let failed =
            |path: &NodePath, reason: String| CoordError::CheckFailed { index, path: path.to_string(), reason };
        match check {
            Check::Exists(path) if self.namespace.get(path).is_none() => {
                Err(failed(path, "the node does not exist".into()))
            }
            Check::NotExists(path) if self.namespace.get(path).is_some() => Err(failed(path, "the node exists".into())),
            Check::Version(path, version) => match self.namespace.get(path) {
                None => Err(failed(path, "the node does not exist".into())),
                Some(node) if node.version != *version => {
                    Err(failed(path, format!("expected version {version}, the node is at version {}", node.version)))
                }
                Some(_) => Ok(()),
            },
            _ => Ok(()),
        }
    }

    fn open_session(
        &mut self,
        ttl_ms: u64,
        member: Option<&str>,
        owner: Option<String>,
        revision: Revision,
        cs: &mut ChangeSet,
    ) -> Result<Outcome, CoordError> {
        let session = SessionId(revision.0);
        if let Some(name) = member {
            let path = member_path(name)?;
            let data = Bytes::from(session.0.to_string());
            if self.namespace.get(&path).is_some() {
                return Err(CoordError::InvalidArgument {
                    reason: format!(
                        "a member named {name} has already joined: pick another name, or wait for its session to end"
                    ),
                });
            }
            let op = CreateOp {
                path,
                data,
                ephemeral_owner: Some(session),
                sequential: false,
                make_parents: true,
                one_per_session: false,
            };
            self.namespace.create(&op, revision, cs)?;
            self.append_record(MembershipKind::Joined, name, session, revision, cs)?;
        }
        self.sessions.insert(
            session,
            Session {
                ttl_ms,
                member: member.map(str::to_string),
                ephemerals: BTreeSet::new(),
                checkpoint_remaining_ms: ttl_ms,
                owner,
            },
        );
        Ok(Outcome::SessionOpened { session, ttl_ms })
    }

    /// Deletes a session's ephemerals and, for a member, appends its leave or failure record.
    fn end_session(
        &mut self,
        session: SessionId,
        kind: MembershipKind,
        revision: Revision,
        cs: &mut ChangeSet,
    ) -> Result<(), CoordError> {
        let ended = self.sessions.remove(&session).expect("caller checked the session exists");
        self.clients.forget_session(session);
        // Deepest first is not needed: ephemeral nodes have no children.
        for path in &ended.ephemerals {
            self.namespace.remove(path, revision, cs);
        }
        if let Some(name) = &ended.member {
            self.append_record(kind, name, session, revision, cs)?;
        }
        Ok(())
    }

    fn append_record(
        &mut self,
        kind: MembershipKind,
        member: &str,
        session: SessionId,
        revision: Revision,
        cs: &mut ChangeSet,
    ) -> Result<(), CoordError> {
        let record = MembershipRecord { revision, kind, member: member.to_string(), session };
        let op = CreateOp {
            path: NodePath::parse(LOG_RECORD_PREFIX)?,
            data: record.to_bytes(),
            ephemeral_owner: None,
            sequential: true,
            make_parents: true,
            one_per_session: false,
        };
        self.namespace.create(&op, revision, cs)?;
        self.trim_membership_log(revision, cs)
    }

    /// Deletes the oldest records until the log fits its window (in the entry being applied).
    fn trim_membership_log(&mut self, revision: Revision, cs: &mut ChangeSet) -> Result<(), CoordError> {
        let log = NodePath::parse(LOG_PATH)?;
        let Some(node) = self.namespace.get(&log) else { return Ok(()) };
        let excess = (node.children.len() as u64).saturating_sub(self.membership_window.records_max) as usize;
        // Sequential names are zero-padded counters: name order is log order.
        let oldest: Vec<NodePath> =
            node.children.iter().take(excess).map(|name| log.join(name)).collect::<Result<_, _>>()?;
        for path in oldest {
            let trimmed = self.namespace.require(&path)?.create_revision;
            self.namespace.remove(&path, revision, cs);
            self.membership_window.trimmed_through = self.membership_window.trimmed_through.max(trimmed);
        }
        Ok(())
    }

    // ---- reads ----

    /// A node's data and stat.
    pub fn get(&self, path: &NodePath) -> Result<(Bytes, Stat), CoordError> {
        let node = self.namespace.require(path)?;
        Ok((node.data.clone(), node.stat()))
    }

    /// A node's stat, if it exists.
    pub fn exists(&self, path: &NodePath) -> Option<Stat> {
        self.namespace.get(path).map(Node::stat)
    }

    /// A node's children's names, sorted, and its stat.
    pub fn children(&self, path: &NodePath) -> Result<(Vec<String>, Stat), CoordError> {
        let node = self.namespace.require(path)?;
        Ok((node.children.iter().cloned().collect(), node.stat()))
    }

    /// One page of the membership log: at most `limit` records (0 or more than
    /// [`MEMBERSHIP_PAGE_RECORDS_MAX`]: that many) from revision `from` on (0: from the oldest
    /// kept). From before the window: [`CoordError::LogTrimmed`].
    pub fn membership_page(&self, from: Revision, limit: usize) -> Result<MembershipPage, CoordError> {
        let limit = if limit == 0 { MEMBERSHIP_PAGE_RECORDS_MAX } else { limit.min(MEMBERSHIP_PAGE_RECORDS_MAX) };
        let log = NodePath::parse(LOG_PATH)?;
        let names = self.namespace.get(&log).map(|node| &node.children);
        let record_node = |name: &String| self.namespace.require(&log.join(name)?);
        let oldest = match names.and_then(|names| names.first()) {
            Some(name) => Some(record_node(name)?.create_revision),
            None => None,
        };
        self.membership_window.check_from(from, oldest, self.revision())?;
        let mut page = MembershipPage { oldest, ..MembershipPage::default() };
        for name in names.into_iter().flatten() {
            let node = record_node(name)?;
            if node.create_revision < from {
                continue;
            }
            if page.records.len() == limit {
                page.next = Some(node.create_revision);
                break;
            }
            page.records.push(MembershipRecord::from_bytes(&node.data, node.create_revision)?);
        }
        Ok(page)
    }

    /// The membership log from `from` on, every page of it.
    pub fn membership_log(&self, from: Revision) -> Result<Vec<MembershipRecord>, CoordError> {
        let mut records = Vec::new();
        let mut next = Some(from);
        while let Some(from) = next {
            let page = self.membership_page(from, 0)?;
            records.extend(page.records);
            next = page.next;
        }
        Ok(records)
    }

    /// Watch events from `from` on (see [`WatchHistory::since`]).
    pub fn events_since(
        &self,
        from: Revision,
        filter: &WatchFilter,
        limit: impl Into<BatchLimit>,
    ) -> Result<(Vec<Event>, Revision), CoordError> {
        self.history.since(from, filter, limit.into(), self.revision())
    }
}

fn empty_history() -> WatchHistory {
    WatchHistory::new(1)
}

fn op_path(op: &Op) -> &NodePath {
    match op {
        Op::Create(op) => &op.path,
        Op::Set(op) => &op.path,
        Op::Delete(op) => &op.path,
    }
}

/// A delete needs `delete` at the node's path.
fn authorize_delete(acl: &AclTable, caller: &Caller, path: &NodePath) -> Result<(), CoordError> {
    acl.authorize(caller, path, Perm::Delete, &format!("delete {path}"))
}

fn reject_reserved(path: &NodePath) -> Result<(), CoordError> {
    if path.is_reserved() {
        return Err(CoordError::Reserved { path: path.to_string() });
    }
    Ok(())
}
