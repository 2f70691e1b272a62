//! What the role machine hears ([`Event`]) and what it asks for ([`Action`]), each with a compact
//! `Display` that is both the log line and the golden scripts' language
//! (`claim-failed: unavailable`, `retry-in 50ms: claim failed: unavailable`).

use std::fmt;
use std::time::Duration;

use skyway_coord::client::SessionHealth;

/// What happened: the outcome of an action, a change of the session, the election, a timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A session is open: enter the election.
    SessionOpened,
    /// Our candidate node exists.
    Campaigned,
    /// Creating our candidate node failed.
    CampaignFailed {
        /// The coordinator's answer, for the log.
        error: String,
        /// Whether the session was gone when it failed (then there is nothing to retry).
        session_gone: bool,
    },
    /// Our position in line changed (0 = first).
    Ranked(usize),
    /// The election says we are first in line, with this token.
    FirstInLine {
        /// The fencing token (our candidate node's create revision).
        token: u64,
    },
    /// Watching the election for our turn failed.
    WatchFailed {
        /// The coordinator's answer, for the log.
        error: String,
        /// The session's health when it failed.
        health: SessionHealth,
        /// Whether the failure says our candidate node is gone while the session lives.
        candidate_lost: bool,
    },
    /// The actuator accepted our claim.
    ClaimAccepted,
    /// The claim did not reach the actuator, or the actuator could not decide on it.
    ClaimFailed {
        /// The token claimed with.
        token: u64,
        /// Why, for the log.
        error: String,
        /// Whether the session was certainly alive, by its own clock, when it failed.
        session_certain: bool,
    },
    /// The actuator refused our claim or a command: a newer primary holds `floor`.
    Refused {
        /// The actuator's floor.
        floor: u64,
    },
    /// The next command is due while primary.
    Tick {
        /// Whether the session is certainly alive by its own clock right now: the last check
        /// before acting.
        session_certain: bool,
    },
    /// The wait asked for by [`Action::RetryIn`] is over.
    RetryDue,
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
        /// Whether this is a new term (a new decision-maker) rather than the same term resumed
        /// after a doubt that cleared.
        new_term: bool,
    },
    /// Read the inputs, decide and send one command with this token.
    Command {
        /// The token to stamp it with.
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
    /// Wait `after`, then feed [`Event::RetryDue`] (replacing any wait asked for before).
    RetryIn {
        /// How long.
        after: Duration,
        /// What failed, for the log.
        why: String,
    },
}

/// `: reason`, if there is one.
fn reason(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    if text.is_empty() { Ok(()) } else { write!(f, ": {text}") }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::SessionOpened => write!(f, "session-opened"),
            Event::Campaigned => write!(f, "campaigned"),
            Event::CampaignFailed { error, session_gone } => {
                write!(f, "campaign-failed{}", if *session_gone { " session-gone" } else { "" })?;
                reason(f, error)
            }
            Event::Ranked(rank) => write!(f, "ranked {rank}"),
            Event::FirstInLine { token } => write!(f, "first-in-line {token}"),
            Event::WatchFailed { error, health, candidate_lost } => {
                let health = match health {
                    SessionHealth::Alive => "",
                    SessionHealth::Uncertain => " session-uncertain",
                    SessionHealth::Gone => " session-gone",
                };
                write!(f, "watch-failed{health}{}", if *candidate_lost { " candidate-lost" } else { "" })?;
                reason(f, error)
            }
            Event::ClaimAccepted => write!(f, "claim-accepted"),
            Event::ClaimFailed { token, error, session_certain } => {
                write!(f, "claim-failed {token}{}", if *session_certain { "" } else { " session-uncertain" })?;
                reason(f, error)
            }
            Event::Refused { floor } => write!(f, "refused {floor}"),
            Event::Tick { session_certain } => {
                write!(f, "tick{}", if *session_certain { "" } else { " session-uncertain" })
            }
            Event::RetryDue => write!(f, "retry-due"),
            Event::SessionUncertain => write!(f, "session-uncertain"),
            Event::SessionAlive => write!(f, "session-alive"),
            Event::SessionGone => write!(f, "session-gone"),
            Event::CandidateLost => write!(f, "candidate-lost"),
            Event::HandOver => write!(f, "hand-over"),
            Event::Shutdown => write!(f, "shutdown"),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Campaign => write!(f, "campaign"),
            Action::Claim { token } => write!(f, "claim {token}"),
            Action::StartActing { token, new_term } => {
                write!(f, "start-acting {token} ({})", if *new_term { "new term" } else { "same term" })
            }
            Action::Command { token } => write!(f, "command {token}"),
            Action::StopActing { reason: why } => {
                write!(f, "stop-acting")?;
                reason(f, why)
            }
            Action::Resign => write!(f, "resign"),
            Action::Rejoin => write!(f, "rejoin"),
            Action::RetryIn { after, why } => {
                write!(f, "retry-in {}ms", after.as_millis())?;
                reason(f, why)
            }
        }
    }
}
