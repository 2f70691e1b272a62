//! Is this controller doing its job? A pure judgement over a snapshot of what it holds.
//!
//! The trap this answers: a leader-election client that lost its role, or whose campaign hangs,
//! and still reports "healthy" while doing nothing. A controller is healthy only if its session
//! is certainly alive and every role it serves is in a settled phase — primary *and* having
//! commands accepted, or backup in line. Anything else is reported with what is wrong, so a
//! probe (or a person) sees it.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::role::Phase;

/// What one role is doing, as the controller knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleReport {
    /// Its phase.
    pub phase: Phase,
    /// Since when it has been in that phase.
    pub since: Instant,
    /// When the actuator last accepted a command or claim for it from this controller.
    pub last_accepted: Option<Instant>,
}

/// A snapshot of a controller.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The session's id and whether it is certainly alive right now; `None` while joining.
    pub session: Option<(u64, bool)>,
    /// Every role served.
    pub roles: BTreeMap<String, RoleReport>,
}

/// How long unsettled states are tolerated before they count as a problem.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Campaigning, claiming or waiting for a session: normal for a moment, not for this long.
    pub settle: Duration,
    /// A primary that has had no command accepted for this long is not doing its job.
    pub command_silence: Duration,
}

impl Limits {
    /// Limits for a controller with this session TTL and command interval: two TTLs plus a
    /// second to settle (a failover plus a claim), and ten command intervals plus a TTL of silence.
    pub fn for_controller(ttl: Duration, command_interval: Duration) -> Self {
        Self { settle: ttl * 2 + Duration::from_secs(1), command_silence: command_interval * 10 + ttl }
    }
}

/// What is wrong, if anything: empty means healthy.
pub fn problems(report: &Report, now: Instant, limits: Limits) -> Vec<String> {
    let mut problems = Vec::new();
    match report.session {
        None => problems.push("no session: joining the coordinator".to_string()),
        Some((id, false)) => {
            problems.push(format!("session {id:x} is in doubt: not acting until a keep-alive is answered"))
        }
        Some(_) => {}
    }
    for (role, r) in &report.roles {
        let in_phase = now.saturating_duration_since(r.since);
        match r.phase {
            Phase::Backup { .. } => {}
            Phase::Primary { token } => {
                let quiet = now.saturating_duration_since(r.last_accepted.unwrap_or(r.since).max(r.since));
                if quiet >= limits.command_silence {
                    problems.push(format!(
                        "{role}: primary (token {token}) but no command accepted for {} ms",
                        quiet.as_millis()
                    ));
                }
            }
            Phase::Stopped => problems.push(format!("{role}: stopped")),
            unsettled if in_phase >= limits.settle => {
                problems.push(format!("{role}: {unsettled} for {} ms", in_phase.as_millis()))
            }
            _ => {}
        }
    }
    problems
}

/// The report as JSON for `/status`, with times as "milliseconds ago".
#[derive(Debug, Serialize)]
pub struct StatusJson {
    /// The controller's name.
    pub controller: String,
    /// Whether [`problems`] found nothing.
    pub healthy: bool,
    /// What is wrong.
    pub problems: Vec<String>,
    /// The session id (hex), if any.
    pub session: Option<String>,
    /// Whether the session is certainly alive.
    pub session_certain: bool,
    /// Role → its phase, how long it has been in it, and how long ago a command was accepted.
    pub roles: BTreeMap<String, RoleJson>,
}

/// One role in [`StatusJson`].
#[derive(Debug, Serialize)]
pub struct RoleJson {
    /// e.g. "primary (token 12)", "backup #1".
    pub phase: String,
    /// Milliseconds in this phase.
    pub for_ms: u64,
    /// Milliseconds since the actuator last accepted from this controller, if ever.
    pub last_accepted_ms_ago: Option<u64>,
}

impl StatusJson {
    /// Builds the JSON view of `report` at `now`.
    pub fn new(controller: &str, report: &Report, now: Instant, limits: Limits) -> Self {
        let problems = problems(report, now, limits);
        let ms = |t: Instant| now.saturating_duration_since(t).as_millis() as u64;
        Self {
            controller: controller.to_string(),
            healthy: problems.is_empty(),
            problems,
            session: report.session.map(|(id, _)| format!("{id:x}")),
            session_certain: report.session.is_some_and(|(_, certain)| certain),
            roles: report
                .roles
                .iter()
                .map(|(role, r)| {
                    let json = RoleJson {
                        phase: r.phase.to_string(),
                        for_ms: ms(r.since),
                        last_accepted_ms_ago: r.last_accepted.map(ms),
                    };
                    (role.clone(), json)
                })
                .collect(),
        }
    }

    /// One line per role, for people.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let verdict = if self.healthy { "healthy" } else { "UNHEALTHY" };
        let _ = writeln!(out, "{} {verdict}", self.controller);
        for problem in &self.problems {
            let _ = writeln!(out, "  problem: {problem}");
        }
        for (role, r) in &self.roles {
            let _ = writeln!(out, "  {role}: {} for {} ms", r.phase, r.for_ms);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { settle: Duration::from_secs(3), command_silence: Duration::from_secs(2) };

    fn report(session: Option<(u64, bool)>, roles: &[(&str, Phase, u64, Option<u64>)], t0: Instant) -> Report {
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        Report {
            session,
            roles: roles
                .iter()
                .map(|(role, phase, since, accepted)| {
                    (role.to_string(), RoleReport { phase: *phase, since: at(*since), last_accepted: accepted.map(at) })
                })
                .collect(),
        }
    }

    #[test]
    fn a_commanding_primary_and_a_ranked_backup_are_healthy() {
        let t0 = Instant::now();
        let r = report(
            Some((7, true)),
            &[
                ("runway/07", Phase::Primary { token: 5 }, 0, Some(9_900)),
                ("segment/12", Phase::Backup { rank: Some(1) }, 0, None),
            ],
            t0,
        );
        assert!(problems(&r, t0 + Duration::from_secs(10), LIMITS).is_empty());
    }

    #[test]
    fn a_primary_that_commands_nothing_is_not_healthy() {
        let t0 = Instant::now();
        let r = report(Some((7, true)), &[("runway/07", Phase::Primary { token: 5 }, 0, Some(1_000))], t0);
        let found = problems(&r, t0 + Duration::from_secs(10), LIMITS);
        assert_eq!(found, ["runway/07: primary (token 5) but no command accepted for 9000 ms"]);
    }

    #[test]
    fn a_role_stuck_campaigning_or_claiming_is_reported_but_not_at_once() {
        let t0 = Instant::now();
        let r = report(Some((7, true)), &[("runway/07", Phase::Claiming { token: 5 }, 0, None)], t0);
        assert!(problems(&r, t0 + Duration::from_secs(1), LIMITS).is_empty(), "claiming briefly is normal");
        assert_eq!(problems(&r, t0 + Duration::from_secs(4), LIMITS).len(), 1);
    }

    #[test]
    fn a_session_in_doubt_or_missing_is_a_problem() {
        let t0 = Instant::now();
        let in_doubt = report(Some((0xab, false)), &[], t0);
        assert_eq!(
            problems(&in_doubt, t0, LIMITS),
            ["session ab is in doubt: not acting until a keep-alive is answered"]
        );
        assert_eq!(problems(&Report::default(), t0, LIMITS).len(), 1);
    }
}
