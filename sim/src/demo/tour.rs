//! The tour: the faults `skyway demo --tour` injects, in order, each with the line that explains
//! it to a class. Pure: which fault comes next and what it says; the demo carries it out.

use serde::Serialize;

/// One fault of the tour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// SIGKILL the primary of a segment role.
    KillSegmentPrimary,
    /// SIGKILL the primary of a runway role.
    KillTowerPrimary,
    /// SIGSTOP the primary of a runway role past its session TTL, then SIGCONT it.
    PauseTowerPrimary,
    /// SIGKILL the coordinator's Raft leader (restarted a few seconds later).
    KillCoordLeader,
}

impl Fault {
    /// The tour, in order.
    pub const TOUR: [Fault; 4] =
        [Fault::KillSegmentPrimary, Fault::KillTowerPrimary, Fault::PauseTowerPrimary, Fault::KillCoordLeader];

    /// What the class is told before it happens.
    pub fn explanation(self) -> &'static str {
        match self {
            Fault::KillSegmentPrimary => {
                "Killing a segment's primary controller with SIGKILL. Its keep-alives stop; after its session's TTL the \
                 coordinator's leader commits the session's expiry, the backup next in line becomes primary with a \
                 higher fencing token, claims the actuator, reads the segment's state and carries on."
            }
            Fault::KillTowerPrimary => {
                "Killing a runway's tower controller. The backup takes over the same way, but before it clears anything \
                 it waits until the runway's state shows its own claim: so it has seen every clearance the old primary \
                 gave, and never clears a second aircraft onto an occupied runway."
            }
            Fault::PauseTowerPrimary => {
                "Pausing a tower controller with SIGSTOP for longer than its session TTL. It cannot know it was paused; \
                 the coordinator expires its session and the backup takes over. When it wakes up it stops by its own \
                 clock, and any command it still sends carries a stale token: the actuator refuses it."
            }
            Fault::KillCoordLeader => {
                "Killing the coordinator's Raft leader. The other two nodes elect a new leader; sessions are not reset \
                 (their remaining TTLs were committed to the log), so no controller loses its role: primaries pause \
                 while their sessions are in doubt and resume. The killed node restarts and catches up from the log."
            }
        }
    }

    /// The kind of role whose primary it faults, if any.
    pub fn role_kind(self) -> Option<&'static str> {
        match self {
            Fault::KillSegmentPrimary => Some("segment"),
            Fault::KillTowerPrimary | Fault::PauseTowerPrimary => Some("runway"),
            Fault::KillCoordLeader => None,
        }
    }
}

/// The role of `kind` to fault: the `n`-th of that kind in sorted order (wrapping), so that
/// successive faults hit different roles.
pub fn pick_role(roles: &[String], kind: &str, n: usize) -> Option<String> {
    let of_kind: Vec<&String> = roles.iter().filter(|r| r.split('/').next() == Some(kind)).collect();
    if of_kind.is_empty() {
        return None;
    }
    Some(of_kind[n % of_kind.len()].clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_hit_different_roles_of_their_kind() {
        let roles: Vec<String> =
            ["segment/1", "segment/2", "runway/07", "runway/25"].iter().map(|s| s.to_string()).collect();
        assert_eq!(pick_role(&roles, "runway", 0).as_deref(), Some("runway/07"));
        assert_eq!(pick_role(&roles, "runway", 1).as_deref(), Some("runway/25"));
        assert_eq!(pick_role(&roles, "segment", 3).as_deref(), Some("segment/2"));
        assert_eq!(pick_role(&roles, "gate", 0), None);
        assert!(Fault::TOUR.iter().all(|f| !f.explanation().is_empty()));
    }
}
