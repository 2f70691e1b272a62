//! Session leases as the Raft leader sees them: when each session was last heard from, and
//! which have gone silent for longer than their TTL.
//!
//! This is leader-local, in-memory and deliberately not replicated: keep-alives are frequent and
//! carry no state worth agreeing on. What is agreed is the *decision*: the leader proposes an
//! `ExpireSessions` command, and a session is expired only when that entry commits.
//!
//! A newly elected leader starts with an empty table, and [`Leases::reconcile`] gives every
//! open session a fresh TTL from the moment this leader first sees it. So a session is never
//! expired because the previous leader's clock (or a gap between leaders) said so, and no
//! session lives forever either: leadership changes only restart the countdown once per
//! election, and an election takes far less than a TTL.
//!
//! Time is an input (`now`), so the whole rule is tested without a clock.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::state::Session;
use super::types::SessionId;

/// Deadlines of the open sessions.
#[derive(Debug, Default)]
pub struct Leases {
    deadlines: HashMap<SessionId, Instant>,
}

impl Leases {
    /// An empty table, as a new leader has.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets everything (this node stopped or started being leader).
    pub fn clear(&mut self) {
        self.deadlines.clear();
    }

    /// Brings the table in line with the open sessions: new ones get a fresh TTL from `now`,
    /// closed or expired ones are dropped.
    pub fn reconcile(&mut self, sessions: &BTreeMap<SessionId, Session>, now: Instant) {
        self.deadlines.retain(|id, _| sessions.contains_key(id));
        for (id, session) in sessions {
            self.deadlines.entry(*id).or_insert_with(|| now + Duration::from_millis(session.ttl_ms));
        }
    }

    /// Records a keep-alive. Returns false if the session is unknown to the table.
    pub fn renew(&mut self, session: SessionId, ttl: Duration, now: Instant) -> bool {
        match self.deadlines.get_mut(&session) {
            Some(deadline) => {
                *deadline = (*deadline).max(now + ttl);
                true
            }
            None => {
                // Opened so recently that no reconcile has seen it yet: the keep-alive counts.
                self.deadlines.insert(session, now + ttl);
                true
            }
        }
    }

    /// Sessions whose deadline has passed at `now`, in id order.
    pub fn expired(&self, now: Instant) -> Vec<SessionId> {
        let mut out: Vec<_> = self.deadlines.iter().filter(|(_, d)| **d <= now).map(|(id, _)| *id).collect();
        out.sort();
        out
    }

    /// Number of sessions tracked.
    pub fn len(&self) -> usize {
        self.deadlines.len()
    }

    /// Whether no session is tracked.
    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(ids: &[(u64, u64)]) -> BTreeMap<SessionId, Session> {
        ids.iter()
            .map(|(id, ttl)| (SessionId(*id), Session { ttl_ms: *ttl, member: None, ephemerals: Default::default() }))
            .collect()
    }

    #[test]
    fn silent_sessions_expire_after_their_ttl_and_renewed_ones_do_not() {
        let t0 = Instant::now();
        let mut leases = Leases::new();
        leases.reconcile(&sessions(&[(1, 100), (2, 100)]), t0);
        assert!(leases.expired(t0 + Duration::from_millis(99)).is_empty());
        leases.renew(SessionId(2), Duration::from_millis(100), t0 + Duration::from_millis(80));
        assert_eq!(leases.expired(t0 + Duration::from_millis(100)), vec![SessionId(1)]);
        assert_eq!(leases.expired(t0 + Duration::from_millis(180)), vec![SessionId(1), SessionId(2)]);
    }

    #[test]
    fn a_new_leader_grants_every_session_a_fresh_ttl() {
        let t0 = Instant::now();
        let mut leases = Leases::new();
        leases.reconcile(&sessions(&[(1, 100)]), t0);
        // Leadership moves away and comes back much later: the old deadline must not count.
        leases.clear();
        let later = t0 + Duration::from_secs(10);
        leases.reconcile(&sessions(&[(1, 100)]), later);
        assert!(leases.expired(later + Duration::from_millis(50)).is_empty());
        assert_eq!(leases.expired(later + Duration::from_millis(100)), vec![SessionId(1)]);
    }

    #[test]
    fn closed_sessions_are_forgotten() {
        let t0 = Instant::now();
        let mut leases = Leases::new();
        leases.reconcile(&sessions(&[(1, 100), (2, 100)]), t0);
        leases.reconcile(&sessions(&[(2, 100)]), t0);
        assert_eq!(leases.len(), 1);
        assert_eq!(leases.expired(t0 + Duration::from_secs(1)), vec![SessionId(2)]);
    }
}
