//! At-most-once writes: what the state machine remembers about each client's numbered writes, so
//! that a retried write is answered with its first outcome instead of being applied again (Raft
//! dissertation §6.3).
//!
//! Every write a client sends carries a [`RequestId`]: the client's random id, the write's
//! sequence number, the lowest sequence the client still awaits an answer for
//! (`answered_below`), whether an earlier attempt of this very write may have been applied
//! (`retry`), and optionally the session the client ties its memory to. When a write commits,
//! the state machine looks its id up here before applying it:
//!
//! - a **duplicate** (the same client and sequence is remembered) gets the remembered revision
//!   and outcome — the response or the error — and changes nothing;
//! - a **first attempt** (`retry` false) is applied and its outcome remembered: nothing can have
//!   applied it before;
//! - a **retry** of a client that is known, at a sequence within the remembered window, and not
//!   remembered, was certainly not applied (every applied sequence in the window is remembered):
//!   it is applied;
//! - any other retry — its sequence fell below the window, or the client is not known (never
//!   seen, idle too long, evicted, or its session ended) — is refused with
//!   [`CoordError::RetryTooOld`]: nobody can tell whether it was applied, so it is not applied
//!   again, and the caller hears exactly that.
//!
//! # Bounds
//!
//! Everything here is bounded by [`ClientLimits`], and every bound drops memory in a way that
//! keeps the rule above truthful (a forgotten write's retry is refused, never applied twice):
//! - outcomes below a client's `answered_below` are dropped (the client will never retry them);
//! - at most `outcomes_per_client_max` outcomes per client: past it the lowest is dropped and
//!   the window's floor rises above it;
//! - at most `clients_max` clients: a new client evicts the one seen least recently;
//! - a client not seen for `idle_revisions_max` revisions is dropped; idleness is measured in
//!   committed revisions, never by a clock, so every replica drops it at the same entry;
//! - a client tied to a session is dropped in the entry that ends that session.
//!
//! The table is part of the replicated state and of its snapshots.
//!
//! # Caveats
//!
//! A first attempt is applied without question when it is not remembered. Were a first attempt
//! delayed in the network past the moment its client was evicted or went idle, *and* a retry of
//! it applied meanwhile, it would apply twice. gRPC deadlines are far below the idle window, so
//! this needs an eviction storm (more than `clients_max` new clients within one request's
//! deadline) — the named limit a hostile flood of new client ids pushes against.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::command::Outcome;
use super::types::{ClientId, Revision, SessionId};
use crate::error::CoordError;

/// Default number of clients remembered.
pub const CLIENTS_MAX_DEFAULT: usize = 4096;
/// Default number of outcomes remembered per client (its writes in flight at once).
pub const OUTCOMES_PER_CLIENT_MAX_DEFAULT: usize = 128;
/// Default number of revisions after which a silent client is forgotten.
pub const IDLE_REVISIONS_MAX_DEFAULT: u64 = 1_000_000;

/// How one write identifies itself for deduplication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestId {
    /// The client's random id, drawn when it connected.
    pub client: ClientId,
    /// The write's number; a client numbers its writes 1, 2, 3, … and retries a write with its
    /// own number.
    pub sequence: u64,
    /// The client has an answer for every sequence below this one (it will not retry them).
    pub answered_below: u64,
    /// An earlier attempt of this write may have been applied.
    pub retry: bool,
    /// Forget the client when this session ends.
    pub session: Option<SessionId>,
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.client, self.sequence)?;
        if self.retry {
            write!(f, " retry")?;
        }
        Ok(())
    }
}

/// The bounds of the table (see the module docs). The same on every replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// Most clients remembered.
    pub clients_max: usize,
    /// Most outcomes remembered per client.
    pub outcomes_per_client_max: usize,
    /// Revisions of silence after which a client is forgotten.
    pub idle_revisions_max: u64,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            clients_max: CLIENTS_MAX_DEFAULT,
            outcomes_per_client_max: OUTCOMES_PER_CLIENT_MAX_DEFAULT,
            idle_revisions_max: IDLE_REVISIONS_MAX_DEFAULT,
        }
    }
}

/// What a write produced, as remembered: the revision it applied at and its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    /// The revision of the entry that applied it.
    pub revision: Revision,
    /// Its result.
    pub result: Result<Outcome, CoordError>,
}

/// What to do with a write, given its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Apply it (and then [`ClientTable::record`] its outcome).
    Apply,
    /// It was applied before: answer this, change nothing.
    Duplicate(Remembered),
    /// A retry nobody can judge: answer this error, change nothing.
    Refuse(CoordError),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ClientRecord {
    /// Sequences below this are outside the window: forgotten or answered.
    floor: u64,
    outcomes: BTreeMap<u64, Remembered>,
    last_seen: Revision,
    session: Option<SessionId>,
}

/// Per client, the outcomes of its recent writes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClientTable {
    #[serde(skip)]
    limits: ClientLimits,
    clients: BTreeMap<ClientId, ClientRecord>,
    /// `(last_seen, client)`, oldest first: for idle expiry and eviction.
    by_last_seen: BTreeSet<(Revision, ClientId)>,
}

impl ClientTable {
    /// An empty table with these limits.
    pub fn new(limits: ClientLimits) -> Self {
        Self { limits, ..Self::default() }
    }

    /// Sets the limits (after decoding a snapshot, which does not carry them).
    pub fn set_limits(&mut self, limits: ClientLimits) {
        self.limits = limits;
    }

    /// Number of clients remembered.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether no client is remembered.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Number of outcomes remembered for `client`.
    pub fn outcomes_of(&self, client: ClientId) -> usize {
        self.clients.get(&client).map_or(0, |c| c.outcomes.len())
    }

    /// Forgets clients silent for longer than the idle window, as of `now`.
    pub fn expire_idle(&mut self, now: Revision) {
        while let Some(&(seen, client)) = self.by_last_seen.first() {
            if seen.0.saturating_add(self.limits.idle_revisions_max) >= now.0 {
                break;
            }
            self.forget(client);
        }
    }

    /// Forgets every client tied to `session` (it ended).
    pub fn forget_session(&mut self, session: SessionId) {
        let tied: Vec<ClientId> =
            self.clients.iter().filter(|(_, c)| c.session == Some(session)).map(|(id, _)| *id).collect();
        tied.into_iter().for_each(|client| self.forget(client));
    }

    /// Judges a write committed at `now` (see the module docs). Also takes in what the id says
    /// about the client: its `answered_below` drops outcomes, and it counts as the client's
    /// activity.
    pub fn judge(&mut self, request: &RequestId, now: Revision) -> Verdict {
        let too_old = || CoordError::RetryTooOld { client: request.client.0, sequence: request.sequence };
        let Some(record) = self.clients.get_mut(&request.client) else {
            return if request.retry { Verdict::Refuse(too_old()) } else { Verdict::Apply };
        };
        if request.answered_below > record.floor {
            record.floor = request.answered_below;
            record.outcomes = record.outcomes.split_off(&record.floor);
        }
        let verdict = match record.outcomes.get(&request.sequence) {
            Some(remembered) => Verdict::Duplicate(remembered.clone()),
            None if request.sequence < record.floor => Verdict::Refuse(too_old()),
            None => Verdict::Apply,
        };
        self.touch(request.client, now);
        verdict
    }

    /// Remembers the outcome of a write applied at `revision`. `session_open` says whether the
    /// session the request ties the client to is open (a client is not tied to a dead session).
    pub fn record(
        &mut self,
        request: &RequestId,
        revision: Revision,
        result: &Result<Outcome, CoordError>,
        session_open: bool,
    ) {
        if !self.clients.contains_key(&request.client) {
            if self.clients.len() >= self.limits.clients_max
                && let Some(&(_, oldest)) = self.by_last_seen.first()
            {
                self.forget(oldest);
            }
            let record = ClientRecord {
                floor: request.answered_below,
                outcomes: BTreeMap::new(),
                last_seen: revision,
                session: None,
            };
            self.clients.insert(request.client, record);
            self.by_last_seen.insert((revision, request.client));
        }
        self.touch(request.client, revision);
        let limit = self.limits.outcomes_per_client_max.max(1);
        let record = self.clients.get_mut(&request.client).expect("inserted above");
        if let Some(session) = request.session {
            record.session = session_open.then_some(session);
        }
        if request.sequence < record.floor {
            return; // below the window already: it will never be asked about again
        }
        record.outcomes.insert(request.sequence, Remembered { revision, result: result.clone() });
        while record.outcomes.len() > limit {
            let (lowest, _) = record.outcomes.pop_first().expect("over the limit, so not empty");
            record.floor = record.floor.max(lowest + 1);
        }
    }

    fn touch(&mut self, client: ClientId, now: Revision) {
        let Some(record) = self.clients.get_mut(&client) else { return };
        if record.last_seen < now {
            self.by_last_seen.remove(&(record.last_seen, client));
            record.last_seen = now;
            self.by_last_seen.insert((now, client));
        }
    }

    fn forget(&mut self, client: ClientId) {
        if let Some(record) = self.clients.remove(&client) {
            self.by_last_seen.remove(&(record.last_seen, client));
        }
    }
}

impl fmt::Display for ClientTable {
    /// One line per client: `c1 floor=2 outcomes=[2 3] seen=@5 tie=s1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, (id, record)) in self.clients.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            let outcomes: Vec<String> = record.outcomes.keys().map(u64::to_string).collect();
            write!(f, "{id} floor={} outcomes=[{}] seen=@{}", record.floor, outcomes.join(" "), record.last_seen.0)?;
            if let Some(session) = record.session {
                write!(f, " tie={session}")?;
            }
        }
        Ok(())
    }
}
