//! The world's two kinds of "no": a scenario that cannot be run, and a command that cannot be
//! obeyed. Neither panics; a refused command changes nothing and the world keeps running.

use thiserror::Error;

/// A scenario that cannot be run, with what to fix.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ScenarioError {
    /// The text is not valid TOML for a scenario; the message names the line and the field.
    #[error("{origin}: {message}")]
    Parse {
        /// Where the text came from (a file name or `builtin:NAME`).
        origin: String,
        /// What the parser said, with line and column.
        message: String,
    },
    /// A value is impossible (a negative length, an incident off the road, demand over the cap).
    #[error("{origin}: {field}: {reason}")]
    Invalid {
        /// Where the scenario came from.
        origin: String,
        /// The field, as a TOML path (`highway.incidents[0].position_m`).
        field: String,
        /// What is wrong and what would be right.
        reason: String,
    },
    /// No shipped scenario has this name and no such file exists.
    #[error("unknown scenario {name:?}: give a shipped one ({known}) or the path of a .toml file")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The shipped names, comma-separated.
        known: String,
    },
}

/// Why the world did not obey a command that its actuator accepted (an unknown lane, a clearance
/// for an aircraft that is not waiting). Reported and counted; nothing changes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct Refusal(pub String);

impl Refusal {
    /// A refusal with this reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}
