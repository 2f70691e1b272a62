//! The role logic of a controller, pure: events in, actions out, no I/O.
//!
//! One [`RoleMachine`] per role. The shell ([`crate::controller`]) feeds it what happened —
//! the election made us primary, the actuator refused our token, the session became uncertain —
//! and does what it answers. Acting is allowed in exactly one phase, [`Phase::Primary`], entered
//! only after the actuator accepted our claim and left at once when the session is in doubt.
//!
//! The traps this avoids, by construction:
//! - a campaign that goes on after the session is gone: `SessionGone` ends the role's phase and
//!   asks for a rejoin with a new session (a new candidate node, at the back of the line);
//! - a primary that loses its role and keeps "acting": a refused command or claim ends acting
//!   and resigns, so the controller campaigns again as a backup;
//! - acting on a doubtful session: `SessionUncertain` stops acting before the coordinator
//!   could expire the session; acting resumes only if the session is confirmed alive.

use std::fmt;

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

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A session is open: enter the election.
    SessionOpened,
    /// Our candidate node exists.
    Campaigned,
    /// Our position in line changed (0 = first).
    Ranked(usize),
    /// The election says we are first in line, with this token.
    FirstInLine {
        /// The fencing token (our candidate node's create revision).
        token: u64,
    },
    /// The actuator accepted our claim.
    ClaimAccepted,
    /// The actuator refused our claim or a command: a newer primary holds `floor`.
    Refused {
        /// The actuator's floor.
        floor: u64,
    },
    /// No keep-alive acknowledged within the safety margin.
    SessionUncertain,
    /// A keep-alive was acknowledged again (the session never expired).
    SessionAlive,
    /// The session expired or was closed.
    SessionGone,
    /// Our candidate node vanished while the session lives (deleted by hand, or a lost create).
    CandidateLost,
    /// Hand this role to a backup (rebalancing).
    HandOver,
    /// The controller is shutting down cleanly.
    Shutdown,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create a candidate node with the current session.
    Campaign,
    /// Send the actuator a claim with this token.
    Claim {
        /// The token to claim with.
        token: u64,
    },
    /// Start sending commands with this token.
    StartActing {
        /// The token to stamp commands with.
        token: u64,
    },
    /// Stop sending commands at once.
    StopActing {
        /// Why, for the log.
        reason: String,
    },
    /// Delete our candidate node (the next in line takes over at once).
    Resign,
    /// Open a new session, then campaign again (at the back of the line).
    Rejoin,
}

/// The role logic of one role.
#[derive(Debug, Clone)]
pub struct RoleMachine {
    role: String,
    phase: Phase,
    session_certain: bool,
}

impl RoleMachine {
    /// A machine for `role`, out of the election.
    pub fn new(role: impl Into<String>) -> Self {
        Self { role: role.into(), phase: Phase::Out, session_certain: true }
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

    /// Feeds one event; returns what to do, in order.
    pub fn on(&mut self, event: Event) -> Vec<Action> {
        use Phase::*;
        let acting = matches!(self.phase, Primary { .. });
        let stop = |reason: &str| Action::StopActing { reason: reason.to_string() };
        match (self.phase, event) {
            (Stopped, _) => Vec::new(),
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
                self.session_certain = true; // the next session starts certain
                let mut actions = if acting { vec![stop("session gone")] } else { Vec::new() };
                actions.push(Action::Rejoin);
                actions
            }
            (_, Event::SessionUncertain) => {
                self.session_certain = false;
                match self.phase {
                    Primary { token } | Claiming { token } => {
                        self.phase = Suspended { token };
                        if acting { vec![stop("session uncertain")] } else { Vec::new() }
                    }
                    _ => Vec::new(),
                }
            }
            (_, Event::SessionAlive) => {
                self.session_certain = true;
                match self.phase {
                    // The session never expired, so nobody else was made primary: claim again
                    // (a cheap check that no newer token exists) before acting.
                    Suspended { token } => {
                        self.phase = Claiming { token };
                        vec![Action::Claim { token }]
                    }
                    _ => Vec::new(),
                }
            }
            (Out, Event::SessionOpened) => {
                self.phase = Campaigning;
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
                vec![Action::StartActing { token }]
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

#[cfg(test)]
mod tests {
    use super::*;

    fn primary(token: u64) -> RoleMachine {
        let mut role = RoleMachine::new("runway/07");
        assert_eq!(role.on(Event::SessionOpened), [Action::Campaign]);
        assert!(role.on(Event::Campaigned).is_empty());
        assert_eq!(role.on(Event::FirstInLine { token }), [Action::Claim { token }]);
        assert_eq!(role.acting_token(), None, "no acting before the actuator accepted the claim");
        assert_eq!(role.on(Event::ClaimAccepted), [Action::StartActing { token }]);
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
        assert_eq!(role.on(Event::ClaimAccepted), [Action::StartActing { token: 12 }]);
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
