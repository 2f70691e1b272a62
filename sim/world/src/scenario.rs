//! What a world is made of: a scenario, written in TOML, checked before anything runs.
//!
//! ```toml
//! name = "incident"
//! dt_ms = 250            # the tick
//! seed = 1               # the default seed (a run may override it)
//! [highway]              # see highway::HighwaySpec
//! [airport]              # see airport::AirportSpec
//! ```
//!
//! A malformed file is refused with the line and the field (TOML's own error); an impossible
//! value (a negative length, an incident off the road, demand above the cap) is refused by
//! [`Scenario::validate`] naming the field, before a world is built.

use serde::{Deserialize, Serialize};

use crate::airport::AirportSpec;
use crate::error::ScenarioError;
use crate::highway::HighwaySpec;

/// The shipped scenarios, by name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("highway", include_str!("../scenarios/highway.toml")),
    ("incident", include_str!("../scenarios/incident.toml")),
    ("ring", include_str!("../scenarios/ring.toml")),
    ("airport", include_str!("../scenarios/airport.toml")),
    ("bench", include_str!("../scenarios/bench.toml")),
];

/// The longest tick allowed, ms: beyond it the ballistic update is no longer credible.
pub const DT_MS_MAX: u32 = 1_000;

/// A world to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Its name.
    pub name: String,
    /// One paragraph for people.
    #[serde(default)]
    pub description: String,
    /// The tick, milliseconds of simulated time.
    #[serde(default = "default_dt_ms")]
    pub dt_ms: u32,
    /// The seed of a run that does not choose one.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The road, if the world has one.
    #[serde(default)]
    pub highway: Option<HighwaySpec>,
    /// The airport, if the world has one.
    #[serde(default)]
    pub airport: Option<AirportSpec>,
}

fn default_dt_ms() -> u32 {
    250
}

fn default_seed() -> u64 {
    1
}

impl Scenario {
    /// Parses and validates a scenario; `origin` names the text in errors (a file name).
    pub fn parse(text: &str, origin: &str) -> Result<Self, ScenarioError> {
        let scenario: Scenario = toml::from_str(text)
            .map_err(|e| ScenarioError::Parse { origin: origin.to_string(), message: e.to_string() })?;
        scenario.validate(origin)?;
        Ok(scenario)
    }

    /// A shipped scenario.
    pub fn builtin(name: &str) -> Result<Self, ScenarioError> {
        match BUILTIN.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => Self::parse(text, &format!("builtin:{n}")),
            None => Err(ScenarioError::Unknown { name: name.to_string(), known: builtin_names() }),
        }
    }

    /// Checks every value; the error names the field and says what would be right.
    pub fn validate(&self, origin: &str) -> Result<(), ScenarioError> {
        let invalid =
            |field: &str, reason: String| ScenarioError::Invalid { origin: origin.into(), field: field.into(), reason };
        if self.dt_ms == 0 || self.dt_ms > DT_MS_MAX {
            return Err(invalid("dt_ms", format!("{} ms: the tick must be 1..={DT_MS_MAX} ms", self.dt_ms)));
        }
        if self.highway.is_none() && self.airport.is_none() {
            return Err(invalid("highway", "a scenario needs a [highway], an [airport] or both".into()));
        }
        if let Some(highway) = &self.highway {
            highway.validate().map_err(|(field, reason)| invalid(&format!("highway.{field}"), reason))?;
        }
        if let Some(airport) = &self.airport {
            airport.validate().map_err(|(field, reason)| invalid(&format!("airport.{field}"), reason))?;
        }
        Ok(())
    }

    /// The tick in seconds.
    pub fn dt_s(&self) -> f64 {
        f64::from(self.dt_ms) / 1000.0
    }
}

/// The shipped scenarios' names, comma-separated.
pub fn builtin_names() -> String {
    BUILTIN.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_scenario_is_valid() {
        for (name, _) in BUILTIN {
            Scenario::builtin(name).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn unknown_names_list_the_shipped_ones() {
        let e = Scenario::builtin("motorway").unwrap_err().to_string();
        assert!(e.contains("highway, incident, ring, airport, bench"), "{e}");
    }

    #[test]
    fn malformed_toml_names_the_line_and_the_field() {
        let e = Scenario::parse("name = \"x\"\ndt_ms = \"fast\"\n", "x.toml").unwrap_err().to_string();
        assert!(e.contains("x.toml") && e.contains("line 2") && e.contains("dt_ms"), "{e}");
        let e = Scenario::parse("name = \"x\"\nspeed = 3\n", "x.toml").unwrap_err().to_string();
        assert!(e.contains("unknown field") && e.contains("speed"), "{e}");
    }

    #[test]
    fn impossible_values_are_refused() {
        let e = Scenario::parse("name = \"x\"\ndt_ms = 0\n[airport]\n", "x.toml").unwrap_err().to_string();
        assert!(e.contains("dt_ms"), "{e}");
        let e = Scenario::parse("name = \"x\"\n", "x.toml").unwrap_err().to_string();
        assert!(e.contains("needs a [highway]"), "{e}");
    }
}
