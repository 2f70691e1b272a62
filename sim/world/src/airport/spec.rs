//! The `[airport]` table of a scenario: the runways, the traffic around them and how long each
//! thing takes. Every field has a default, so an empty `[airport]` table is a two-runway airport
//! with 32 arrivals, 12 departures and 6 crossing vehicles per runway per hour.

use serde::{Deserialize, Serialize};

/// The most runways an airport may have (each is a role, a summary and a controller).
pub const RUNWAYS_MAX: usize = 8;

/// The longest runway designator, characters.
pub const RUNWAY_ID_LEN_MAX: usize = 8;

/// The highest rate of any stream, per runway per hour.
pub const RATE_PER_HOUR_MAX: f64 = 120.0;

/// The longest duration any field may name, seconds (an hour).
pub const DURATION_S_MAX: f64 = 3_600.0;

/// The most go-arounds an aircraft may be allowed before it diverts.
pub const GO_AROUNDS_MAX: u32 = 10;

/// The longest queue a spec may allow at a holding point or a crossing.
pub const QUEUE_MAX: u32 = 100;

/// The `[airport]` table of a scenario. Rates are per runway; durations are drawn uniformly from
/// `[min, max]` for each aircraft or vehicle when it appears.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AirportSpec {
    /// Runway designators, ASCII letters and digits (`07L`); each is controlled by the role
    /// `runway/ID`. Default: two parallel runways, `07L` and `07R`.
    pub runways: Vec<String>,
    /// Arrivals joining each runway's final approach, per hour (a Poisson stream). Default 32.
    pub arrivals_per_hour: f64,
    /// Departures joining each runway's holding point, per hour (a Poisson stream). Default 12.
    pub departures_per_hour: f64,
    /// Ground vehicles asking to cross each runway, per hour (a Poisson stream). Default 6.
    pub crossings_per_hour: f64,
    /// Seconds from joining final to the decision point: an arrival without a landing clearance
    /// by then goes around. Default 120.
    pub final_s: f64,
    /// The least time between two arrivals' decision points on one runway, seconds: approach
    /// control's sequencing (a go-around rejoins behind the sequence). Default 80.
    pub final_spacing_s: f64,
    /// Shortest runway occupancy of a landing, from the decision point to vacating, seconds.
    /// Default 45.
    pub landing_s_min: f64,
    /// Longest runway occupancy of a landing, seconds. Default 55.
    pub landing_s_max: f64,
    /// Shortest take-off, from the clearance to leaving the runway, seconds. Default 35.
    pub takeoff_s_min: f64,
    /// Longest take-off, seconds. Default 45.
    pub takeoff_s_max: f64,
    /// Shortest crossing by a ground vehicle, seconds. Default 15.
    pub crossing_s_min: f64,
    /// Longest crossing, seconds. Default 25.
    pub crossing_s_max: f64,
    /// Shortest missed-approach circuit, from the go-around to rejoining final, seconds.
    /// Default 180.
    pub missed_approach_s_min: f64,
    /// Longest missed-approach circuit, seconds. Default 300.
    pub missed_approach_s_max: f64,
    /// Go-arounds an aircraft may fly: one that misses its decision point after this many
    /// diverts to another airport instead. Default 2.
    pub go_arounds_max: u32,
    /// Departures that fit at a holding point; one more waits at its gate (counted, and it
    /// leaves the model). Default 20.
    pub holding_point_max: u32,
    /// Vehicles that may wait at a crossing; one more is turned away (counted). Default 8.
    pub crossing_queue_max: u32,
}

impl Default for AirportSpec {
    fn default() -> Self {
        Self {
            runways: vec!["07L".into(), "07R".into()],
            arrivals_per_hour: 32.0,
            departures_per_hour: 12.0,
            crossings_per_hour: 6.0,
            final_s: 120.0,
            final_spacing_s: 80.0,
            landing_s_min: 45.0,
            landing_s_max: 55.0,
            takeoff_s_min: 35.0,
            takeoff_s_max: 45.0,
            crossing_s_min: 15.0,
            crossing_s_max: 25.0,
            missed_approach_s_min: 180.0,
            missed_approach_s_max: 300.0,
            go_arounds_max: 2,
            holding_point_max: 20,
            crossing_queue_max: 8,
        }
    }
}

impl AirportSpec {
    /// Checks every value: `Err((field, reason))`, the field relative to `airport.`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |field: &str, reason: String| Err((field.to_string(), reason));
        if self.runways.is_empty() || self.runways.len() > RUNWAYS_MAX {
            return bad("runways", format!("{} runways: an airport has 1..={RUNWAYS_MAX}", self.runways.len()));
        }
        for (i, id) in self.runways.iter().enumerate() {
            if id.is_empty() || id.len() > RUNWAY_ID_LEN_MAX || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
                return bad(
                    &format!("runways[{i}]"),
                    format!("{id:?}: a designator is 1..={RUNWAY_ID_LEN_MAX} ASCII letters and digits, e.g. \"07L\""),
                );
            }
            if self.runways[..i].contains(id) {
                return bad(&format!("runways[{i}]"), format!("{id:?} is listed twice"));
            }
        }
        for (field, rate) in [
            ("arrivals_per_hour", self.arrivals_per_hour),
            ("departures_per_hour", self.departures_per_hour),
            ("crossings_per_hour", self.crossings_per_hour),
        ] {
            if !(0.0..=RATE_PER_HOUR_MAX).contains(&rate) {
                return bad(field, format!("{rate}: a rate is 0..={RATE_PER_HOUR_MAX} per runway per hour"));
            }
        }
        for (field, s) in [("final_s", self.final_s), ("final_spacing_s", self.final_spacing_s)] {
            if !(s > 0.0 && s <= DURATION_S_MAX) {
                return bad(field, format!("{s} s: must be more than 0 and at most {DURATION_S_MAX} s"));
            }
        }
        for (name, min, max) in [
            ("landing_s", self.landing_s_min, self.landing_s_max),
            ("takeoff_s", self.takeoff_s_min, self.takeoff_s_max),
            ("crossing_s", self.crossing_s_min, self.crossing_s_max),
            ("missed_approach_s", self.missed_approach_s_min, self.missed_approach_s_max),
        ] {
            if !(min > 0.0 && min <= DURATION_S_MAX) {
                return bad(
                    &format!("{name}_min"),
                    format!("{min} s: must be more than 0 and at most {DURATION_S_MAX} s"),
                );
            }
            if !(max >= min && max <= DURATION_S_MAX) {
                return bad(&format!("{name}_max"), format!("{max} s: must be {min}..={DURATION_S_MAX} s"));
            }
        }
        if self.go_arounds_max > GO_AROUNDS_MAX {
            return bad("go_arounds_max", format!("{}: at most {GO_AROUNDS_MAX}", self.go_arounds_max));
        }
        for (field, n) in
            [("holding_point_max", self.holding_point_max), ("crossing_queue_max", self.crossing_queue_max)]
        {
            if n == 0 || n > QUEUE_MAX {
                return bad(field, format!("{n}: a queue holds 1..={QUEUE_MAX}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_is_the_default_airport() {
        let spec: AirportSpec = toml::from_str("").unwrap();
        assert_eq!(spec, AirportSpec::default());
        spec.validate().unwrap();
        assert!(toml::from_str::<AirportSpec>("speed = 3").is_err(), "unknown fields are refused");
    }

    #[test]
    fn impossible_values_name_their_field() {
        let field = |f: fn(&mut AirportSpec)| {
            let mut spec = AirportSpec::default();
            f(&mut spec);
            spec.validate().unwrap_err().0
        };
        assert_eq!(field(|s| s.runways.clear()), "runways");
        assert_eq!(field(|s| s.runways[1] = "07 L".into()), "runways[1]");
        assert_eq!(field(|s| s.runways[1] = "07L".into()), "runways[1]");
        assert_eq!(field(|s| s.arrivals_per_hour = -1.0), "arrivals_per_hour");
        assert_eq!(field(|s| s.crossings_per_hour = f64::NAN), "crossings_per_hour");
        assert_eq!(field(|s| s.final_s = 0.0), "final_s");
        assert_eq!(field(|s| s.takeoff_s_max = 10.0), "takeoff_s_max");
        assert_eq!(field(|s| s.landing_s_min = 0.0), "landing_s_min");
        assert_eq!(field(|s| s.go_arounds_max = 11), "go_arounds_max");
        assert_eq!(field(|s| s.holding_point_max = 0), "holding_point_max");
    }
}
