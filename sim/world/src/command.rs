//! What an actuator's accepted action means to the world.
//!
//! Controllers are generic: they hold a role (`segment/3`, `runway/07`) and send strings. The
//! world gives those strings meaning here: a role names a [`Target`], and the action is parsed by
//! the part that owns the target ([`crate::highway::SegmentOrder`],
//! [`crate::airport::RunwayOrder`]). The actuator's claim (action `claim`) is passed on too, so
//! the world knows which token each role's primary holds.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Refusal;

/// The action an actuator records for a claim (`skyway_controller::actuator::CLAIM`).
pub const CLAIM: &str = "claim";

/// What a role controls.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Target {
    /// A highway segment, numbered from 1 in the direction of travel.
    Segment(u32),
    /// A runway, by its designator (`07`, `25L`).
    Runway(String),
}

impl Target {
    /// The target of a role name: `segment/N` or `runway/ID`.
    pub fn of_role(role: &str) -> Result<Self, Refusal> {
        match role.split_once('/') {
            Some(("segment", n)) => match n.parse::<u32>() {
                Ok(n) if n >= 1 => Ok(Target::Segment(n)),
                _ => Err(Refusal::new(format!("bad role {role:?}: a segment is numbered from 1, e.g. segment/3"))),
            },
            Some(("runway", id)) if !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()) => {
                Ok(Target::Runway(id.to_string()))
            }
            _ => Err(Refusal::new(format!("bad role {role:?}: the world knows segment/N and runway/ID"))),
        }
    }

    /// The role that controls this target.
    pub fn role(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Segment(n) => write!(f, "segment/{n}"),
            Target::Runway(id) => write!(f, "runway/{id}"),
        }
    }
}

/// A decision the actuator accepted (its fencing token was current), handed to the world.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The role, e.g. `segment/3`.
    pub role: String,
    /// The controller that sent it.
    pub controller: String,
    /// Its fencing token.
    pub token: u64,
    /// The action: [`CLAIM`] or a command for the role's target.
    pub action: String,
}

impl Applied {
    /// Whether this is a new primary's claim rather than a command.
    pub fn is_claim(&self) -> bool {
        self.action == CLAIM
    }
}

impl fmt::Display for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}@{}: {}", self.role, self.controller, self.token, self.action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_name_targets() {
        assert_eq!(Target::of_role("segment/3"), Ok(Target::Segment(3)));
        assert_eq!(Target::of_role("runway/07"), Ok(Target::Runway("07".into())));
        assert_eq!(Target::of_role("runway/07").unwrap().role(), "runway/07");
        for bad in ["segment/0", "segment/x", "runway/", "tower/1", "segment", "runway/0 7"] {
            assert!(Target::of_role(bad).is_err(), "{bad} accepted");
        }
    }
}
