//! A controller's metrics, in its own registry: `skyway_controller_<thing>[_total]`.
//!
//! Counters (takeovers, commands accepted and refused) are counted where the controller
//! learns them; gauges (roles held, session in doubt) are read from the status board at scrape
//! time, so they always agree with `/status`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::health::Report;
use crate::role::Phase;

/// The label of a per-role metric.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RoleLabel {
    /// The role, e.g. `runway/07`.
    pub role: String,
}

/// Every metric of one controller.
#[derive(Clone, Default)]
pub struct ControllerMetrics {
    /// Roles this controller is primary of and acting for.
    pub roles_held: Gauge,
    /// Roles this controller is primary of by the election but not acting for (session in doubt).
    pub roles_suspended: Gauge,
    /// 1 while the session is in doubt (no keep-alive answered recently) or not yet open.
    pub session_in_doubt: Gauge,
    /// Times this controller became the acting primary of a role with a new fencing token.
    pub takeovers: Family<RoleLabel, Counter>,
    /// Commands and claims the actuator accepted.
    pub commands_accepted: Family<RoleLabel, Counter>,
    /// Commands and claims the actuator refused (a stale token: another primary took over).
    pub commands_refused: Family<RoleLabel, Counter>,
}

impl ControllerMetrics {
    /// Registers every metric in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "skyway_controller_roles_held",
            "Roles this controller is acting primary of",
            self.roles_held.clone(),
        );
        registry.register(
            "skyway_controller_roles_suspended",
            "Roles this controller leads by the election but does not act for (session in doubt)",
            self.roles_suspended.clone(),
        );
        registry.register(
            "skyway_controller_session_in_doubt",
            "1 while the controller's session is in doubt or not open",
            self.session_in_doubt.clone(),
        );
        registry.register(
            "skyway_controller_takeovers",
            "Times this controller became acting primary of a role with a new token",
            self.takeovers.clone(),
        );
        registry.register(
            "skyway_controller_commands_accepted",
            "Commands and claims the actuator accepted",
            self.commands_accepted.clone(),
        );
        registry.register(
            "skyway_controller_commands_refused",
            "Commands and claims the actuator refused as stale",
            self.commands_refused.clone(),
        );
    }

    /// Brings the gauges in line with a status report.
    pub fn refresh(&self, report: &Report) {
        let count = |f: fn(&Phase) -> bool| report.roles.values().filter(|r| f(&r.phase)).count() as i64;
        self.roles_held.set(count(|p| matches!(p, Phase::Primary { .. })));
        self.roles_suspended.set(count(|p| matches!(p, Phase::Suspended { .. })));
        self.session_in_doubt.set(i64::from(!matches!(report.session, Some((_, true)))));
    }

    /// Counts a phase change: a takeover when a role becomes acting primary with a token it
    /// was not already acting (or suspended) with.
    pub fn note_phase(&self, role: &str, before: Option<Phase>, after: Phase) {
        if let Phase::Primary { token } = after {
            let same_term =
                matches!(before, Some(Phase::Primary { token: t } | Phase::Suspended { token: t }) if t == token);
            if !same_term {
                self.takeovers.get_or_create(&RoleLabel { role: role.to_string() }).inc();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn takeovers(metrics: &ControllerMetrics) -> u64 {
        metrics.takeovers.get_or_create(&RoleLabel { role: "r".into() }).get()
    }

    #[test]
    fn a_takeover_is_a_new_token_acting_and_a_resumed_suspension_is_not() {
        let metrics = ControllerMetrics::default();
        metrics.note_phase("r", Some(Phase::Claiming { token: 5 }), Phase::Primary { token: 5 });
        assert_eq!(takeovers(&metrics), 1);
        metrics.note_phase("r", Some(Phase::Suspended { token: 5 }), Phase::Primary { token: 5 });
        assert_eq!(takeovers(&metrics), 1, "resuming after a doubt is the same term");
        metrics.note_phase("r", Some(Phase::Claiming { token: 9 }), Phase::Primary { token: 9 });
        assert_eq!(takeovers(&metrics), 2);
    }
}
