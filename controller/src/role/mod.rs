//! The role logic of a controller, pure: events in, actions out, no I/O, no clock.
//!
//! One [`RoleMachine`] per role and session. The shell ([`crate::controller`]) feeds it what
//! happened — the election made us primary, the actuator refused our token, a claim did not get
//! through, the session became uncertain, a retry's wait is over — and does what it answers.
//! Acting is allowed in exactly one phase, [`Phase::Primary`], entered only after the actuator
//! accepted our claim and left at once when the session is in doubt.
//!
//! The traps this avoids, by construction:
//! - a campaign that goes on after the session is gone: `SessionGone` ends the role's phase and
//!   asks for a rejoin with a new session (a new candidate node, at the back of the line);
//! - a primary that loses its role and keeps "acting": a refused command or claim ends acting
//!   and resigns, so the controller campaigns again as a backup;
//! - acting on a doubtful session: `SessionUncertain` (or a tick or a failed claim that finds the
//!   session in doubt by its own clock) stops acting before the coordinator could expire the
//!   session; acting resumes only if the session is confirmed alive, after a new claim;
//! - a retry of something no longer wanted: a failed campaign or claim is retried after a wait
//!   that doubles from [`RETRY_MIN`] to [`RETRY_MAX`] (reset by a success), and only if, when the
//!   wait is over, the machine still wants it — still campaigning, or still claiming with the
//!   same token; anything that moved the role on meanwhile makes the retry a no-op;
//! - watching the election on a doubtful session: the shell watches for our turn only while
//!   [`RoleMachine::watches_election`] says so (a backup on a session last heard alive, not
//!   pausing after a failed watch).
//!
//! The machine says *how long* to wait ([`Action::RetryIn`]) but never looks at a clock: the
//! shell's timer answers with [`Event::RetryDue`]. So every story, timing included, is a golden
//! script of events (`testscripts/`, see `script_tests.rs`).
//!
//! Caveats: the machine trusts the shell's facts — that a failed claim's `session_certain` was
//! read right after the failure, that `Tick` is fed only while [`RoleMachine::acting_token`] is
//! some. Fencing tokens at the actuator cover what a wrong fact could still let through.

mod event;
#[cfg(test)]
mod script_tests;

use std::fmt;
use std::time::Duration;

use skyway_coord::client::SessionHealth;

pub use self::event::{Action, Event};

/// First wait before retrying a failed campaign or claim; it doubles up to [`RETRY_MAX`].
pub const RETRY_MIN: Duration = Duration::from_millis(50);
/// Longest wait before retrying a failed campaign or claim.
pub const RETRY_MAX: Duration = Duration::from_secs(1);
/// Wait before watching the election again after a watch failed for no reason the machine
/// knows (a coordinator that did not answer).
pub const WATCH_RETRY: Duration = Duration::from_millis(100);

/// Where a role stands for this controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not a candidate (not started, or waiting for a new session).
    Out,
    /// Candidate node being created.
    Campaigning,
    /// A candidate behind others (`rank` 1 is the first backup, when known).
    Backup {
        /// Position in line (0 would be primary), if observed.
        rank: Option<usize>,
    },
    /// First in line, claiming the actuator with the token.
    Claiming {
        /// The fencing token.
        token: u64,
    },
    /// Primary: the actuator accepted the claim; acting.
    Primary {
        /// The fencing token.
        token: u64,
    },
    /// Primary by the election, but the session is in doubt: not acting.
    Suspended {
        /// The fencing token.
        token: u64,
    },
    /// Shut down: resigned, never acting again.
    Stopped,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase::Out => write!(f, "out"),
            Phase::Campaigning => write!(f, "campaigning"),
            Phase::Backup { rank: Some(rank) } => write!(f, "backup #{rank}"),
            Phase::Backup { rank: None } => write!(f, "backup"),
            Phase::Claiming { token } => write!(f, "claiming (token {token})"),
            Phase::Primary { token } => write!(f, "primary (token {token})"),
            Phase::Suspended { token } => write!(f, "suspended primary (token {token}): session uncertain"),
            Phase::Stopped => write!(f, "stopped"),
        }
    }
}

/// What a pending retry is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    Campaign,
    Claim {
        token: u64,
    },
    /// Not watching the election until the wait is over.
    Watch,
}

/// The role logic of one role.
#[derive(Debug, Clone)]
pub struct RoleMachine {
    role: String,
    phase: Phase,
    /// False from the first sign of doubt (the session's health, a tick, a failed claim) until
    /// the session is heard alive again.
    session_certain: bool,
    /// The session's health as last heard from it (not from ticks or claims).
    health: SessionHealth,
    /// What the wait the shell is timing is for, if any.
    retry: Option<Retry>,
    /// The wait before the next retry of a failed campaign or claim.
    backoff: Duration,
    /// The token of the last term acted in (a resumed term keeps its decision-maker).
    acted: Option<u64>,
}

impl RoleMachine {
    /// A machine for `role`, out of the election.
    pub fn new(role: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            phase: Phase::Out,
            session_certain: true,
            health: SessionHealth::Alive,
            retry: None,
            backoff: RETRY_MIN,
            acted: None,
        }
    }

    /// The role.
    pub fn role(&self) -> &str {
        &self.role
    }

    /// Where the role stands.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether commands may be sent now, and with which token.
    pub fn acting_token(&self) -> Option<u64> {
        match self.phase {
            Phase::Primary { token } => Some(token),
            _ => None,
        }
    }

    /// Whether to watch the election for our turn now: a backup, on a session last heard
    /// alive, not pausing after a failed watch.
    pub fn watches_election(&self) -> bool {
        matches!(self.phase, Phase::Backup { .. })
            && self.health == SessionHealth::Alive
            && self.retry != Some(Retry::Watch)
    }

    /// Feeds one event; returns what to do, in order.
    pub fn on(&mut self, event: Event) -> Vec<Action> {
        if self.phase == Phase::Stopped {
            return Vec::new();
        }
        match event {
            Event::CampaignFailed { session_gone: true, .. } => self.on(Event::SessionGone),
            Event::CampaignFailed { error, .. } => {
                self.retry_later(Retry::Campaign, format!("campaign failed: {error}"))
            }
            Event::ClaimFailed { token, error, session_certain: true } => {
                self.retry_later(Retry::Claim { token }, format!("claim failed: {error}"))
            }
            Event::ClaimFailed { session_certain: false, .. } => self.doubt(),
            Event::WatchFailed { health: SessionHealth::Gone, .. } => self.on(Event::SessionGone),
            // The session's health change comes next: it decides.
            Event::WatchFailed { health: SessionHealth::Uncertain, .. } => Vec::new(),
            Event::WatchFailed { candidate_lost: true, .. } => self.on(Event::CandidateLost),
            Event::WatchFailed { error, .. } => {
                self.retry = Some(Retry::Watch);
                vec![Action::RetryIn { after: WATCH_RETRY, why: format!("watching the election failed: {error}") }]
            }
            Event::RetryDue => self.retry_due(),
            Event::Tick { session_certain } => match self.phase {
                Phase::Primary { token } if session_certain => vec![Action::Command { token }],
                Phase::Primary { .. } => self.doubt(),
                _ => Vec::new(),
            },
            Event::SessionUncertain => {
                self.health = SessionHealth::Uncertain;
                self.doubt()
            }
            Event::SessionAlive => {
                self.health = SessionHealth::Alive;
                self.session_certain = true;
                self.confirmed()
            }
            Event::Campaigned | Event::ClaimAccepted => {
                self.backoff = RETRY_MIN;
                self.step(event)
            }
            other => self.step(other),
        }
    }

    /// A failed campaign or claim: wait the backoff (doubling it), then retry if still wanted.
    fn retry_later(&mut self, retry: Retry, why: String) -> Vec<Action> {
        let after = self.backoff;
        self.backoff = (self.backoff * 2).min(RETRY_MAX);
        self.retry = Some(retry);
        vec![Action::RetryIn { after, why }]
    }

    /// The wait is over: the retry, only if the machine still wants it (an event meanwhile may
    /// have moved the role on).
    fn retry_due(&mut self) -> Vec<Action> {
        match (self.retry.take(), self.phase) {
            (Some(Retry::Campaign), Phase::Campaigning) => vec![Action::Campaign],
            (Some(Retry::Claim { token }), Phase::Claiming { token: current }) if token == current => {
                vec![Action::Claim { token }]
            }
            _ => Vec::new(),
        }
    }

    /// The session is in doubt: a primary stops acting, a claim waits.
    fn doubt(&mut self) -> Vec<Action> {
        self.session_certain = false;
        match self.phase {
            Phase::Primary { token } => {
                self.phase = Phase::Suspended { token };
                vec![Action::StopActing { reason: "session uncertain".into() }]
            }
            Phase::Claiming { token } => {
                self.phase = Phase::Suspended { token };
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// The session was heard alive again: it never expired, so nobody else was made primary.
    /// A suspended primary claims again (a cheap check that no newer token exists) before acting.
    fn confirmed(&mut self) -> Vec<Action> {
        match self.phase {
            Phase::Suspended { token } => {
                self.phase = Phase::Claiming { token };
                vec![Action::Claim { token }]
            }
            _ => Vec::new(),
        }
    }

    /// The transitions of the election, the actuator's answers and the controller's orders.
    fn step(&mut self, event: Event) -> Vec<Action> {
        use Phase::*;
        let acting = matches!(self.phase, Primary { .. });
        let stop = |reason: &str| Action::StopActing { reason: reason.to_string() };
        match (self.phase, event) {
            (_, Event::Shutdown) => {
                let was_candidate = !matches!(self.phase, Out);
                self.phase = Stopped;
                let mut actions = if acting { vec![stop("shutting down")] } else { Vec::new() };
                if was_candidate {
                    actions.push(Action::Resign);
                }
                actions
            }
            (_, Event::SessionGone) => {
                self.phase = Out;
                self.health = SessionHealth::Gone;
                let mut actions = if acting { vec![stop("session gone")] } else { Vec::new() };
                actions.push(Action::Rejoin);
                actions
            }
            (Out, Event::SessionOpened) => {
                // A new session starts certain.
                self.phase = Campaigning;
                self.health = SessionHealth::Alive;
                self.session_certain = true;
                vec![Action::Campaign]
            }
            (Campaigning, Event::Campaigned) => {
                self.phase = Backup { rank: None };
                Vec::new()
            }
            (Backup { .. }, Event::Ranked(rank)) if rank > 0 => {
                self.phase = Backup { rank: Some(rank) };
                Vec::new()
            }
            (Campaigning | Backup { .. }, Event::FirstInLine { token }) => {
                if self.session_certain {
                    self.phase = Claiming { token };
                    vec![Action::Claim { token }]
                } else {
                    self.phase = Suspended { token };
                    Vec::new()
                }
            }
            (Claiming { token }, Event::ClaimAccepted) => {
                self.phase = Primary { token };
                let new_term = self.acted != Some(token);
                self.acted = Some(token);
                vec![Action::StartActing { token, new_term }]
            }
            (Claiming { .. } | Primary { .. } | Suspended { .. }, Event::Refused { floor }) => {
                self.phase = Campaigning;
                let reason = format!("actuator refused our token: a newer primary holds {floor}");
                let mut actions = if acting { vec![stop(&reason)] } else { Vec::new() };
                actions.extend([Action::Resign, Action::Campaign]);
                actions
            }
            (Campaigning | Backup { .. }, Event::CandidateLost) => {
                self.phase = Campaigning;
                vec![Action::Campaign]
            }
            (Primary { .. }, Event::HandOver) => {
                self.phase = Campaigning;
                vec![stop("handing the role over to a backup"), Action::Resign, Action::Campaign]
            }
            // Anything else is stale news for this phase: ignore it.
            _ => Vec::new(),
        }
    }
}

/// The phase and whatever else decides the next step: `backup #1 | watching the election`.
impl fmt::Display for RoleMachine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.phase)?;
        if self.watches_election() {
            write!(f, " | watching the election")?;
        }
        match self.retry {
            Some(Retry::Campaign) => write!(f, " | retry pending: campaign")?,
            Some(Retry::Claim { token }) => write!(f, " | retry pending: claim {token}")?,
            Some(Retry::Watch) => write!(f, " | watch paused")?,
            None => {}
        }
        if !self.session_certain && self.phase != Phase::Out {
            write!(f, " | session in doubt")?;
        }
        if self.backoff != RETRY_MIN {
            write!(f, " | next backoff {}ms", self.backoff.as_millis())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn primary(token: u64) -> RoleMachine {
        let mut role = RoleMachine::new("runway/07");
        assert_eq!(role.on(Event::SessionOpened), [Action::Campaign]);
        assert!(role.on(Event::Campaigned).is_empty());
        assert_eq!(role.on(Event::FirstInLine { token }), [Action::Claim { token }]);
        assert_eq!(role.acting_token(), None, "no acting before the actuator accepted the claim");
        assert_eq!(role.on(Event::ClaimAccepted), [Action::StartActing { token, new_term: true }]);
        assert_eq!(role.acting_token(), Some(token));
        role
    }

    #[test]
    fn a_backup_becomes_primary_only_through_an_accepted_claim() {
        let mut role = RoleMachine::new("segment/12");
        role.on(Event::SessionOpened);
        role.on(Event::Campaigned);
        role.on(Event::Ranked(2));
        assert_eq!(role.phase(), Phase::Backup { rank: Some(2) });
        assert_eq!(role.on(Event::FirstInLine { token: 9 }), [Action::Claim { token: 9 }]);
        let refused = role.on(Event::Refused { floor: 11 });
        assert_eq!(refused, [Action::Resign, Action::Campaign], "a refused claim never acts");
        assert_eq!(role.acting_token(), None);
    }

    /// The paused primary: SIGSTOP past its TTL. When it resumes, its keep-alive loop sees no
    /// acknowledgement within the margin (uncertain), then learns the session expired (gone).
    /// It stops acting at the first of these and rejoins as a backup with a new session.
    #[test]
    fn a_paused_primary_stops_acting_when_in_doubt_and_rejoins_when_its_session_is_gone() {
        let mut role = primary(12);
        let actions = role.on(Event::SessionUncertain);
        assert!(matches!(actions.as_slice(), [Action::StopActing { .. }]), "{actions:?}");
        assert_eq!(role.acting_token(), None);
        assert_eq!(role.on(Event::SessionGone), [Action::Rejoin]);
        assert_eq!(role.phase(), Phase::Out);
        assert_eq!(role.on(Event::SessionOpened), [Action::Campaign], "rejoins as a candidate, at the back");
        role.on(Event::Campaigned);
        assert_eq!(role.acting_token(), None);
    }

    #[test]
    fn a_doubt_that_clears_reclaims_before_acting_again() {
        let mut role = primary(12);
        role.on(Event::SessionUncertain);
        assert_eq!(role.on(Event::SessionAlive), [Action::Claim { token: 12 }]);
        assert_eq!(role.acting_token(), None, "not acting until the claim is accepted again");
        assert_eq!(role.on(Event::ClaimAccepted), [Action::StartActing { token: 12, new_term: false }]);
    }

    #[test]
    fn becoming_first_in_line_while_in_doubt_does_not_claim() {
        let mut role = RoleMachine::new("runway/25");
        role.on(Event::SessionOpened);
        role.on(Event::Campaigned);
        role.on(Event::SessionUncertain);
        assert!(role.on(Event::FirstInLine { token: 40 }).is_empty());
        assert_eq!(role.on(Event::SessionAlive), [Action::Claim { token: 40 }]);
    }

    #[test]
    fn a_refused_command_ends_acting_and_campaigns_again() {
        let mut role = primary(12);
        let actions = role.on(Event::Refused { floor: 30 });
        assert!(matches!(&actions[..], [Action::StopActing { .. }, Action::Resign, Action::Campaign]), "{actions:?}");
        assert_eq!(role.acting_token(), None);
    }

    #[test]
    fn a_clean_shutdown_resigns_at_once_and_nothing_acts_after_it() {
        let mut role = primary(12);
        let actions = role.on(Event::Shutdown);
        assert!(matches!(&actions[..], [Action::StopActing { .. }, Action::Resign]), "{actions:?}");
        assert!(role.on(Event::FirstInLine { token: 50 }).is_empty());
        assert!(role.on(Event::SessionOpened).is_empty());
        assert_eq!(role.acting_token(), None);
    }

    #[test]
    fn handing_over_resigns_and_queues_again() {
        let mut role = primary(12);
        let actions = role.on(Event::HandOver);
        assert!(matches!(&actions[..], [Action::StopActing { .. }, Action::Resign, Action::Campaign]), "{actions:?}");
    }
}
