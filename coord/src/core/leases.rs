//! Session leases as the Raft leader sees them: until when each session is alive, and which have
//! gone silent for longer than their TTL.
//!
//! Keep-alives are leader-local and in memory: they are frequent and carry no state worth
//! agreeing on. What is agreed is the *decision*: the leader proposes an `ExpireSessions` command,
//! and a session is expired only when that entry commits.
//!
//! # Across a change of leader
//!
//! A new leader does not know when the old one last heard from each session. Granting every
//! session a fresh TTL (what ZooKeeper does, and etcd did before lease checkpoints) is the trap
//! where a dead holder's lease never expires while coordinator elections come more often than its
//! TTL. Here a new leader grants each session the larger of
//!
//! - what it had *earned*: the remaining TTL the previous leaders committed in their last lease
//!   checkpoint, counted from when this node applied that checkpoint (never earlier than when it
//!   was measured, so a live session is never cut short by it). Opening a session counts as a
//!   checkpoint of its whole TTL, so a session that was never checkpointed (short TTLs are not)
//!   has earned its TTL from its opening, which is usually long past;
//! - a *grace* of one keep-alive period plus two election timeouts, capped at the TTL: enough
//!   for a live client, whose keep-alives failed while there was no leader (it retries them
//!   quickly), to find the new one once the followers know it.
//!
//! Neither term grows with the number of elections: the earned deadline is an absolute time
//! (later than the true one only by the commit latency of a checkpoint), and the grace is counted
//! from this leader's promotion. So a silent session expires at its earned deadline or, at the
//! latest, once some leader has held office for one grace — not never.
//!
//! # Keyed by the leader's term
//!
//! The table is only ever right for one term of one leader: it holds what *this* leader heard.
//! A node that loses its leadership and wins it back between two looks at its role (a partition
//! that heals within one tick, two quick elections) was not leader in between, and the
//! keep-alives of that time went to someone else. Its old deadlines are stale, and acting on
//! them would expire sessions that were alive all along. So every operation names the term it
//! acts for: a table from another term is dropped and rebuilt as a new leader's (the earned
//! deadline or the grace), renewals from an older term are ignored, and a table asked for the
//! expiries of a term it does not hold answers none.
//!
//! Time is an input (`now`), and the term too, so the whole rule is tested without a clock: the
//! stories are golden scripts in `leases/testscripts/` (see `leases/script_tests.rs`).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::state::Session;
use super::types::SessionId;

#[cfg(test)]
mod script_tests;

/// How often the leader commits the remaining TTLs.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// Sessions with TTLs up to this are not checkpointed: by the time a checkpoint could be read
/// by a new leader their remaining TTL would be mostly spent, and the grace covers them.
pub const CHECKPOINT_TTL_MIN: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy)]
struct Lease {
    deadline: Instant,
    ttl: Duration,
}

/// A Raft term: the table belongs to the leader of one.
pub type Term = u64;

/// Deadlines of the open sessions, as the leader of one term heard them.
#[derive(Debug)]
pub struct Leases {
    election_timeout: Duration,
    /// The term the deadlines were heard in (`None`: not yet leader).
    term: Option<Term>,
    leases: HashMap<SessionId, Lease>,
}

impl Leases {
    /// An empty table, as a new leader has. `election_timeout` sizes the grace.
    pub fn new(election_timeout: Duration) -> Self {
        Self { election_timeout, term: None, leases: HashMap::new() }
    }

    /// The term this table holds deadlines for, if any.
    pub fn term(&self) -> Option<Term> {
        self.term
    }

    /// Makes this the table of `term`'s leader: a table of another term is dropped (its
    /// deadlines were heard by another leadership). Returns whether it was dropped.
    pub fn enter_term(&mut self, term: Term) -> bool {
        if self.term == Some(term) {
            return false;
        }
        self.term = Some(term);
        self.leases.clear();
        true
    }

    /// The grace a new leader gives a session with `ttl`: one keep-alive period (a third of
    /// the TTL) plus two election timeouts, and never more than the TTL itself.
    pub fn grace(&self, ttl: Duration) -> Duration {
        (ttl / 3 + self.election_timeout * 2).min(ttl)
    }

    /// Brings the table in line with the open sessions: sessions this leader has not tracked yet
    /// get the larger of their earned deadline and the grace (see the module docs); closed or
    /// expired ones are dropped. `checkpoint_applied` says when this node applied each session's
    /// last checkpoint or its opening (absent after a snapshot install or a restart: then it
    /// counts from `now`). A table of another term is rebuilt first.
    pub fn reconcile(
        &mut self,
        term: Term,
        sessions: &BTreeMap<SessionId, Session>,
        checkpoint_applied: &HashMap<SessionId, Instant>,
        now: Instant,
    ) {
        self.enter_term(term);
        self.leases.retain(|id, _| sessions.contains_key(id));
        for (id, session) in sessions {
            if self.leases.contains_key(id) {
                continue;
            }
            let ttl = Duration::from_millis(session.ttl_ms);
            let applied = checkpoint_applied.get(id).copied().unwrap_or(now).min(now);
            let earned = applied + Duration::from_millis(session.checkpoint_remaining_ms);
            let deadline = earned.max(now + self.grace(ttl));
            self.leases.insert(*id, Lease { deadline, ttl });
        }
    }

    /// Records a keep-alive answered as the leader of `term`. A session opened so recently that
    /// no reconcile has seen it yet is tracked from here: the keep-alive counts. A keep-alive
    /// from an older term than the table's is ignored (it was heard by a leadership that is
    /// over); one from a newer term starts that term's table.
    pub fn renew(&mut self, term: Term, session: SessionId, ttl: Duration, now: Instant) {
        if self.term.is_some_and(|held| term < held) {
            return;
        }
        self.enter_term(term);
        let lease = self.leases.entry(session).or_insert(Lease { deadline: now, ttl });
        lease.deadline = lease.deadline.max(now + ttl);
    }

    /// Sessions whose deadline has passed at `now`, in id order, for the leader of `term`:
    /// none if the table holds another term's deadlines.
    pub fn expired(&self, term: Term, now: Instant) -> Vec<SessionId> {
        if self.term != Some(term) {
            return Vec::new();
        }
        let mut out: Vec<_> = self.leases.iter().filter(|(_, l)| l.deadline <= now).map(|(id, _)| *id).collect();
        out.sort();
        out
    }

    /// The earliest deadline still ahead of `now`, for the leader of `term` (`None` if none is,
    /// or the table holds another term's deadlines): when the next expiry may be due.
    pub fn next_deadline(&self, term: Term, now: Instant) -> Option<Instant> {
        if self.term != Some(term) {
            return None;
        }
        self.leases.values().map(|l| l.deadline).filter(|d| *d > now).min()
    }

    /// The remaining TTL of every session worth checkpointing (TTL above
    /// [`CHECKPOINT_TTL_MIN`]), in milliseconds, in id order, for the leader of `term`: none
    /// if the table holds another term's deadlines.
    pub fn checkpoint(&self, term: Term, now: Instant) -> Vec<(SessionId, u64)> {
        if self.term != Some(term) {
            return Vec::new();
        }
        let mut out: Vec<_> = self
            .leases
            .iter()
            .filter(|(_, l)| l.ttl > CHECKPOINT_TTL_MIN)
            .map(|(id, l)| (*id, l.deadline.saturating_duration_since(now).as_millis() as u64))
            .collect();
        out.sort();
        out
    }

    /// How long each of `sessions` has left before the leader of `term` expires it, in
    /// milliseconds (`None` for a session not tracked yet, or for all of them if the table
    /// holds another term's deadlines).
    pub fn remaining(&self, term: Term, sessions: &[SessionId], now: Instant) -> Vec<Option<u64>> {
        sessions
            .iter()
            .map(|id| {
                let lease = self.leases.get(id).filter(|_| self.term == Some(term))?;
                Some(lease.deadline.saturating_duration_since(now).as_millis() as u64)
            })
            .collect()
    }

    /// Number of sessions tracked.
    pub fn len(&self) -> usize {
        self.leases.len()
    }

    /// Whether no session is tracked.
    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ELECTION: Duration = Duration::from_millis(250);
    /// The term of the leader in the tests that do not change it.
    const T: Term = 3;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn session(ttl_ms: u64, checkpoint_remaining_ms: u64) -> Session {
        Session { ttl_ms, member: None, ephemerals: Default::default(), checkpoint_remaining_ms, owner: None }
    }

    fn sessions(ids: &[(u64, u64)]) -> BTreeMap<SessionId, Session> {
        ids.iter().map(|(id, ttl)| (SessionId(*id), session(*ttl, *ttl))).collect()
    }

    fn no_checkpoints() -> HashMap<SessionId, Instant> {
        HashMap::new()
    }

    #[test]
    fn silent_sessions_expire_after_their_ttl_and_renewed_ones_do_not() {
        let t0 = Instant::now();
        let mut leases = Leases::new(ELECTION);
        leases.reconcile(T, &sessions(&[(1, 100), (2, 100)]), &no_checkpoints(), t0);
        assert!(leases.expired(T, t0 + ms(99)).is_empty());
        leases.renew(T, SessionId(2), ms(100), t0 + ms(80));
        assert_eq!(leases.expired(T, t0 + ms(100)), vec![SessionId(1)]);
        assert_eq!(leases.expired(T, t0 + ms(180)), vec![SessionId(1), SessionId(2)]);
    }

    #[test]
    fn the_next_deadline_is_the_earliest_still_ahead_and_only_for_the_tables_term() {
        let t0 = Instant::now();
        let mut leases = Leases::new(ELECTION);
        leases.reconcile(T, &sessions(&[(1, 100), (2, 100)]), &no_checkpoints(), t0);
        leases.renew(T, SessionId(1), ms(100), t0 + ms(30));
        leases.renew(T, SessionId(2), ms(100), t0 + ms(50));
        assert_eq!(leases.next_deadline(T, t0 + ms(40)), Some(t0 + ms(130)));
        assert_eq!(leases.next_deadline(T, t0 + ms(130)), Some(t0 + ms(150)), "a past deadline is not ahead");
        assert_eq!(leases.next_deadline(T, t0 + ms(150)), None);
        assert_eq!(leases.next_deadline(T + 1, t0 + ms(40)), None, "another term's table says nothing");
    }

    #[test]
    fn the_grace_is_a_keep_alive_period_plus_two_election_timeouts_capped_at_the_ttl() {
        let leases = Leases::new(ELECTION);
        assert_eq!(leases.grace(ms(100)), ms(100));
        assert_eq!(leases.grace(ms(1000)), ms(1000) / 3 + ELECTION * 2);
        assert_eq!(leases.grace(Duration::from_secs(30)), ms(10_000 + 500));
    }

    #[test]
    fn a_new_leader_honours_the_checkpointed_remainder_not_a_fresh_ttl() {
        let t0 = Instant::now();
        let ttl = 30_000;
        // The old leader committed "12 s left"; this node applied that at t0.
        let open = BTreeMap::from([(SessionId(1), session(ttl, 12_000))]);
        let applied = HashMap::from([(SessionId(1), t0)]);
        // This node becomes leader 3 s later: 9 s are left, not 30; the grace (10.5 s) is larger.
        let mut leases = Leases::new(ELECTION);
        let promoted = t0 + ms(3_000);
        leases.reconcile(T, &open, &applied, promoted);
        assert!(leases.expired(T, promoted + ms(10_499)).is_empty());
        assert_eq!(leases.expired(T, promoted + ms(10_500)), vec![SessionId(1)]);
        // With 25 s checkpointed, the earned deadline is the larger and is kept.
        let open = BTreeMap::from([(SessionId(1), session(ttl, 25_000))]);
        let mut leases = Leases::new(ELECTION);
        leases.reconcile(T, &open, &applied, promoted);
        assert!(leases.expired(T, t0 + ms(24_999)).is_empty());
        assert_eq!(leases.expired(T, t0 + ms(25_000)), vec![SessionId(1)]);
    }

    /// The trap: coordinator elections every 20 s and a 30 s TTL. With a fresh TTL per election
    /// the dead holder's session would never expire; here it expires in the first term.
    #[test]
    fn back_to_back_elections_cannot_keep_a_dead_session_alive() {
        let ttl = Duration::from_secs(30);
        let term = Duration::from_secs(20);
        let t0 = Instant::now();
        let mut open = BTreeMap::from([(SessionId(7), session(ttl.as_millis() as u64, ttl.as_millis() as u64))]);
        let mut applied = HashMap::from([(SessionId(7), t0)]);
        let mut now = t0;
        let mut expired_at = None;
        'elections: for _ in 0..10 {
            let mut leases = Leases::new(ELECTION);
            leases.reconcile(T, &open, &applied, now);
            // This leader's term: it checkpoints every second and looks for expiries.
            let end = now + term;
            while now < end {
                if !leases.expired(T, now).is_empty() {
                    expired_at = Some(now);
                    break 'elections;
                }
                for (id, remaining) in leases.checkpoint(T, now) {
                    open.get_mut(&id).unwrap().checkpoint_remaining_ms = remaining;
                    applied.insert(id, now + ms(5)); // applied a commit latency later
                }
                now += CHECKPOINT_INTERVAL;
            }
            now += ELECTION * 2; // no leader while the next one is elected
        }
        let expired_at = expired_at.expect("the dead session outlived ten elections");
        // Its own TTL ran out during the first term; the second leader's grace ends in its term.
        assert!(expired_at - t0 < term * 2, "{:?}", expired_at - t0);
    }

    #[test]
    fn after_an_election_a_session_gets_the_grace_to_find_the_new_leader_not_a_fresh_ttl() {
        // 1 s TTLs (not checkpointed), opened long ago; this node applied the openings at t0.
        let t0 = Instant::now();
        let applied = HashMap::from([(SessionId(1), t0), (SessionId(2), t0)]);
        let mut leases = Leases::new(ELECTION);
        let promoted = t0 + ms(10_000);
        leases.reconcile(T, &sessions(&[(1, 1000), (2, 1000)]), &applied, promoted);
        // Session 1 is alive: its client finds the new leader 100 ms in. Session 2 is dead.
        leases.renew(T, SessionId(1), ms(1000), promoted + ms(100));
        let grace = ms(1000) / 3 + ELECTION * 2;
        assert!(leases.expired(T, promoted + grace - ms(1)).is_empty());
        assert_eq!(leases.expired(T, promoted + grace), vec![SessionId(2)], "a fresh TTL would give it 1 s");
        assert_eq!(leases.expired(T, promoted + ms(1099)), vec![SessionId(2)]);
    }

    #[test]
    fn short_ttls_are_not_checkpointed() {
        let t0 = Instant::now();
        let mut leases = Leases::new(ELECTION);
        leases.reconcile(T, &sessions(&[(1, 1000), (2, 2000), (3, 10_000)]), &no_checkpoints(), t0);
        assert_eq!(leases.checkpoint(T, t0 + ms(1000)), vec![(SessionId(3), 9_000)]);
    }

    #[test]
    fn closed_sessions_are_forgotten() {
        let t0 = Instant::now();
        let mut leases = Leases::new(ELECTION);
        leases.reconcile(T, &sessions(&[(1, 100), (2, 100)]), &no_checkpoints(), t0);
        leases.reconcile(T, &sessions(&[(2, 100)]), &no_checkpoints(), t0);
        assert_eq!(leases.len(), 1);
        assert_eq!(leases.expired(T, t0 + Duration::from_secs(1)), vec![SessionId(2)]);
    }

    /// The stale table: this node led term 3 and heard session 1 last at t0; it lost its
    /// leadership, the client kept its session alive at the leader of term 4, and this node won
    /// term 5 before its expiry loop looked again. Term 3's deadline (t0 + TTL) has passed, but
    /// the session is alive: term 5's table must start over as a new leader's, not expire it.
    #[test]
    fn a_leader_that_lost_and_regained_leadership_does_not_expire_from_its_old_terms_table() {
        let t0 = Instant::now();
        let open = sessions(&[(1, 1000)]);
        let mut leases = Leases::new(ELECTION);
        leases.reconcile(3, &open, &no_checkpoints(), t0);
        leases.renew(3, SessionId(1), ms(1000), t0);
        // Term 4's leader heard keep-alives; this node did not. At t0 + 1.5 s it leads term 5.
        let regained = t0 + ms(1500);
        assert!(leases.expired(5, regained).is_empty(), "term 3's deadlines answered for term 5");
        assert!(leases.checkpoint(5, regained).is_empty());
        leases.reconcile(5, &open, &no_checkpoints(), regained);
        assert_eq!(leases.term(), Some(5));
        // Nothing checkpointed: the new table counts the whole TTL from the regaining.
        assert!(leases.expired(5, regained + ms(999)).is_empty());
        assert_eq!(leases.expired(5, regained + ms(1000)), vec![SessionId(1)]);
    }

    #[test]
    fn keep_alives_heard_in_an_older_term_are_ignored_and_a_newer_term_starts_a_new_table() {
        let t0 = Instant::now();
        let mut leases = Leases::new(ELECTION);
        leases.reconcile(5, &sessions(&[(1, 1000), (2, 1000)]), &no_checkpoints(), t0);
        // A keep-alive answered while this node led term 4, recorded late: it must not count.
        leases.renew(4, SessionId(1), ms(1000), t0 + ms(900));
        assert_eq!(leases.term(), Some(5));
        assert_eq!(leases.expired(5, t0 + ms(1000)), vec![SessionId(1), SessionId(2)]);
        // A keep-alive of term 6 (this node was re-elected since) replaces the whole table.
        leases.renew(6, SessionId(2), ms(1000), t0 + ms(950));
        assert_eq!(leases.term(), Some(6));
        assert_eq!(leases.len(), 1);
        assert!(leases.expired(5, t0 + ms(5000)).is_empty(), "asked for a term the table does not hold");
        assert_eq!(leases.expired(6, t0 + ms(1950)), vec![SessionId(2)]);
    }
}
