//! The airport. (Interface in place; the model is being built.)
//!
//! Contract with [`crate::world`]: [`AirportSpec`] (the `[airport]` table, every field
//! defaulted, `validate()`), [`Airport::new`], [`Airport::runways`], [`Airport::claim`] (a new
//! primary's claim for a runway's role, recorded in its summary), [`Airport::apply`] (a
//! [`RunwayOrder`]), [`Airport::step`], [`Airport::stats`], [`Airport::check_invariants`],
//! [`Airport::digest`]. Whenever a runway's state changes, its new [`RunwaySummary`] is pushed.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Refusal;
use crate::summary::RunwaySummary;

/// The `[airport]` table of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AirportSpec {
    /// Runway designators.
    pub runways: Vec<String>,
}

impl Default for AirportSpec {
    fn default() -> Self {
        Self { runways: vec!["07".into(), "25".into()] }
    }
}

impl AirportSpec {
    /// Checks every value: `Err((field, reason))`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.runways.is_empty() {
            return Err(("runways".into(), "an airport needs at least one runway".into()));
        }
        Ok(())
    }
}

/// A tower controller's order for one runway: a clearance and the command's id (`#17`).
/// Text form: `land SKY0012 #17`, `takeoff SKY0040 #18`, `cross TUG03 #19`, `hold #20`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunwayOrder {
    /// What is cleared (`hold`: nothing; the command only says the primary is alive).
    pub clearance: String,
    /// The command's id, echoed in the runway's summary once applied.
    pub id: String,
}

impl RunwayOrder {
    /// Parses the text form.
    pub fn parse(text: &str) -> Result<Self, Refusal> {
        match text.rsplit_once(' ') {
            Some((clearance, id)) if id.starts_with('#') => {
                Ok(Self { clearance: clearance.to_string(), id: id.to_string() })
            }
            _ => Err(Refusal::new(format!("bad runway order {text:?}: expected e.g. \"land SKY0012 #17\""))),
        }
    }
}

/// Something that happened at the airport.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Event {
    /// A clearance was given.
    Cleared {
        /// The runway.
        runway: String,
        /// The order.
        order: String,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Cleared { runway, order } => write!(f, "runway {runway}: {order}"),
        }
    }
}

/// The airport's counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AirportStats {
    /// Two aircraft or vehicles cleared onto one runway at once: must stay zero.
    pub incursions: u64,
}

/// The runways and the traffic around them.
pub struct Airport {
    spec: AirportSpec,
}

impl Airport {
    /// An airport for `spec`.
    pub fn new(spec: &AirportSpec, _dt_s: f64, _seed: u64) -> Result<Self, (String, String)> {
        spec.validate()?;
        Ok(Self { spec: spec.clone() })
    }

    /// The runways' designators.
    pub fn runways(&self) -> Vec<String> {
        self.spec.runways.clone()
    }

    /// Records a new primary's claim for `runway`.
    pub fn claim(&mut self, _runway: &str, _token: u64, _changed: &mut Vec<RunwaySummary>) -> Result<(), Refusal> {
        Ok(())
    }

    /// Obeys a runway order.
    pub fn apply(
        &mut self,
        runway: &str,
        order: &RunwayOrder,
        _now_s: f64,
        events: &mut Vec<Event>,
        _changed: &mut Vec<RunwaySummary>,
    ) -> Result<(), Refusal> {
        events.push(Event::Cleared { runway: runway.into(), order: order.clearance.clone() });
        Ok(())
    }

    /// Advances one tick.
    pub fn step(&mut self, _tick: u64, _events: &mut Vec<Event>, _changed: &mut Vec<RunwaySummary>) {}

    /// Counters.
    pub fn stats(&self) -> AirportStats {
        AirportStats::default()
    }

    /// The invariants; the first broken one.
    pub fn check_invariants(&self) -> Result<(), String> {
        Ok(())
    }

    /// Feeds the state into a digest.
    pub fn digest(&self, hasher: &mut Sha256) {
        hasher.update(self.spec.runways.len().to_le_bytes());
    }
}
