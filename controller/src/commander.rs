//! What a primary sends. The controller is generic: it holds roles, keeps its session and stamps
//! every command with the role's fencing token; what a command *means* — a speed limit, a landing
//! clearance — belongs to whoever runs it (the simulator's policies, in `skyway-world`).
//!
//! A [`Commander`] names, per role, the coordinator nodes that the role's decisions depend on,
//! and starts one [`RoleCommander`] for each term as primary (a new token: the decision-maker
//! starts from what it reads, never from what an earlier term believed — status first, then act).
//! At every command tick the controller reads those nodes (linearizably, right before deciding)
//! and sends what the role commander answers.

use std::fmt;

use bytes::Bytes;

/// Makes the decisions of every role a controller serves.
pub trait Commander: fmt::Debug + Send + Sync + 'static {
    /// The coordinator nodes `role`'s decisions read, in the order they are passed to
    /// [`RoleCommander::next`].
    fn inputs(&self, role: &str) -> Vec<String>;

    /// The decision-maker for one term as primary of `role`, under `token`.
    fn start(&self, role: &str, token: u64) -> Box<dyn RoleCommander>;
}

/// The decisions of one role during one term as primary.
pub trait RoleCommander: Send {
    /// The next command, given the latest value of each input (None: the node does not exist);
    /// None sends nothing this tick.
    fn next(&mut self, inputs: &[Option<Bytes>]) -> Option<String>;
}

/// The commander of drills and tests: a numbered heartbeat (`hold 1`, `hold 2`, …) every tick,
/// so that every moment of a primary's term leaves a mark in the actuator's audit trail.
#[derive(Debug, Default, Clone, Copy)]
pub struct Heartbeat;

impl Commander for Heartbeat {
    fn inputs(&self, _role: &str) -> Vec<String> {
        Vec::new()
    }

    fn start(&self, _role: &str, _token: u64) -> Box<dyn RoleCommander> {
        Box::new(HeartbeatTerm { sent: 0 })
    }
}

struct HeartbeatTerm {
    sent: u64,
}

impl RoleCommander for HeartbeatTerm {
    fn next(&mut self, _inputs: &[Option<Bytes>]) -> Option<String> {
        self.sent += 1;
        Some(format!("hold {}", self.sent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heartbeat_counts_per_term() {
        let mut term = Heartbeat.start("runway/07", 5);
        assert_eq!(term.next(&[]).as_deref(), Some("hold 1"));
        assert_eq!(term.next(&[]).as_deref(), Some("hold 2"));
        assert_eq!(Heartbeat.start("runway/07", 9).next(&[]).as_deref(), Some("hold 1"));
    }
}
