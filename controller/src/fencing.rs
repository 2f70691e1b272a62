//! The actuator's fencing rule, pure: a command for a role is obeyed only if its token is at
//! least the highest token accepted for that role so far (the floor); a claim raises the floor.
//!
//! Tokens are the create revisions of election nodes, so every later primary of a role holds a
//! strictly higher token than every earlier one. Once a new primary's token has been accepted,
//! nothing from an older primary is obeyed again — however late it arrives.

use std::collections::BTreeMap;

/// The verdict on one command or claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Obeyed; the floor is now `floor`.
    Accepted {
        /// The role's floor after the command.
        floor: u64,
    },
    /// Refused: the token is below the floor.
    Stale {
        /// The role's floor, which the token is below.
        floor: u64,
    },
}

/// The floors of every role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Floors {
    floors: BTreeMap<String, u64>,
}

impl Floors {
    /// The floor of `role` (0 if nothing was ever accepted).
    pub fn floor(&self, role: &str) -> u64 {
        self.floors.get(role).copied().unwrap_or(0)
    }

    /// What the rule says about `token` for `role`, without changing anything.
    pub fn judge(&self, role: &str, token: u64) -> Verdict {
        let floor = self.floor(role);
        if token >= floor { Verdict::Accepted { floor: token } } else { Verdict::Stale { floor } }
    }

    /// Records an accepted token (call only after it has been made durable).
    pub fn raise(&mut self, role: &str, token: u64) {
        let floor = self.floors.entry(role.to_string()).or_insert(0);
        *floor = (*floor).max(token);
    }

    /// Every role and its floor.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.floors.iter().map(|(role, floor)| (role.as_str(), *floor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obey(floors: &mut Floors, role: &str, token: u64) -> Verdict {
        let verdict = floors.judge(role, token);
        if let Verdict::Accepted { .. } = verdict {
            floors.raise(role, token);
        }
        verdict
    }

    #[test]
    fn the_same_primary_keeps_commanding_and_a_newer_one_takes_over() {
        let mut floors = Floors::default();
        assert_eq!(obey(&mut floors, "runway/07", 12), Verdict::Accepted { floor: 12 });
        assert_eq!(obey(&mut floors, "runway/07", 12), Verdict::Accepted { floor: 12 });
        assert_eq!(obey(&mut floors, "runway/07", 30), Verdict::Accepted { floor: 30 });
        assert_eq!(floors.floor("segment/12"), 0, "roles are fenced separately");
    }

    /// The story the design is for: primary A (token 12) is paused with SIGSTOP past its TTL;
    /// its session expires and B becomes primary (token 30) and claims the actuator. A wakes up
    /// believing it is still primary and sends the command it was about to send. Refused.
    #[test]
    fn a_paused_primary_that_wakes_up_is_refused() {
        let mut floors = Floors::default();
        assert_eq!(obey(&mut floors, "runway/07", 12), Verdict::Accepted { floor: 12 }); // A acts
        // A is paused; B claims with its higher token.
        assert_eq!(obey(&mut floors, "runway/07", 30), Verdict::Accepted { floor: 30 });
        // A resumes and sends its late command.
        assert_eq!(obey(&mut floors, "runway/07", 12), Verdict::Stale { floor: 30 });
        assert_eq!(floors.floor("runway/07"), 30, "a refusal leaves the floor alone");
        // B goes on.
        assert_eq!(obey(&mut floors, "runway/07", 30), Verdict::Accepted { floor: 30 });
    }
}
