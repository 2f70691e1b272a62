//! The `[highway]` table of a scenario: the road, its demand, its incidents and its loops.
//!
//! Every field but `length_m` and `lanes` has a default, so a scenario says only what differs.
//! [`HighwaySpec::validate`] refuses impossible values naming the field relative to `highway.`
//! (`incidents[0].position_m`), before a world is built.

use serde::{Deserialize, Serialize};

/// The highest demand an entry may ask for, veh/h (more cannot enter a road of a few lanes).
pub const DEMAND_VPH_MAX: f64 = 12_000.0;
/// The most lanes a road may have.
pub const LANES_MAX: u8 = 8;
/// The lowest and highest speed limit, km/h (a segment order outside is refused).
pub const LIMIT_KMH_MIN: u32 = 20;
/// See [`LIMIT_KMH_MIN`].
pub const LIMIT_KMH_MAX: u32 = 130;

/// The shape of the road.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoadKind {
    /// A road from an entry (position 0) to an exit (position `length_m`), with ramps.
    #[default]
    Open,
    /// A closed loop of `length_m` metres holding `ring_vehicles` vehicles, no entries or exits.
    Ring,
}

/// A piecewise-linear demand profile: `[[minute, veh_per_h], …]`, minutes ascending. Before the
/// first point the first rate holds, after the last the last; empty means no demand.
pub type Profile = Vec<[f64; 2]>;

/// The `[highway]` table of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HighwaySpec {
    /// `open` (entry to exit, the default) or `ring` (a closed loop).
    #[serde(default)]
    pub kind: RoadKind,
    /// Length of the road, metres (the circumference of a ring).
    pub length_m: f64,
    /// Lanes, 1 = the rightmost.
    pub lanes: u8,
    /// Length of a segment (one controller's stretch), metres; the last may be shorter.
    #[serde(default = "default_segment_length_m")]
    pub segment_length_m: f64,
    /// The road's own speed limit, km/h, where no segment order sets one (None: no limit, drivers
    /// keep their desired speed).
    #[serde(default)]
    pub speed_limit_kmh: Option<u32>,
    /// Share of arriving vehicles that are trucks (longer, slower), 0..=1.
    #[serde(default = "default_truck_share")]
    pub truck_share: f64,
    /// Scales the spread of driver parameters around their means: 1 the default, 0 identical
    /// drivers (for stability tests).
    #[serde(default = "default_spread")]
    pub driver_spread: f64,
    /// Arrivals at the main entry (position 0), a [`Profile`].
    #[serde(default)]
    pub demand: Profile,
    /// On-ramps: vehicles join the rightmost lane there.
    #[serde(default)]
    pub on_ramps: Vec<OnRampSpec>,
    /// Off-ramps: a share of the vehicles leave there, from the rightmost lane.
    #[serde(default)]
    pub off_ramps: Vec<OffRampSpec>,
    /// Vehicles that stall at a given time and place.
    #[serde(default)]
    pub incidents: Vec<IncidentSpec>,
    /// Random stalls anywhere on the road, per hour (Poisson); 0 for none.
    #[serde(default)]
    pub random_stalls_per_h: f64,
    /// How long a random stall lasts, seconds.
    #[serde(default = "default_stall_s")]
    pub random_stall_duration_s: f64,
    /// Induction loops: offsets from each segment's start, metres, one loop per lane at each.
    #[serde(default = "default_loop_offsets")]
    pub loop_offsets_m: Vec<f64>,
    /// The loops' reporting period, seconds (a multiple of the tick).
    #[serde(default = "default_loop_period_s")]
    pub loop_period_s: f64,
    /// A deceleration beyond this counts as a hard braking, m/s².
    #[serde(default = "default_hard_brake")]
    pub hard_braking_mps2: f64,
    /// Ring only: vehicles on the ring at the start, spread evenly over the lanes.
    #[serde(default)]
    pub ring_vehicles: u32,
    /// Ring only: one vehicle starts this much slower than the others, m/s (a perturbation).
    #[serde(default)]
    pub ring_perturbation_mps: f64,
}

/// An on-ramp.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnRampSpec {
    /// Where its vehicles join the rightmost lane, metres from the road's start.
    pub position_m: f64,
    /// Its arrivals, a [`Profile`].
    pub demand: Profile,
}

/// An off-ramp.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffRampSpec {
    /// Where vehicles leave the rightmost lane, metres from the road's start.
    pub position_m: f64,
    /// Share of the vehicles entering upstream that want to leave here, 0..=1.
    pub share: f64,
}

/// A vehicle that stalls: from `at_s` on, the first vehicle in `lane` that comes within its
/// stopping distance of `position_m` brakes (3.5 m/s²), stops there and stays for `duration_s`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentSpec {
    /// When, seconds from the start.
    pub at_s: f64,
    /// Where, metres from the road's start.
    pub position_m: f64,
    /// Which lane (1 = rightmost).
    pub lane: u8,
    /// For how long, seconds.
    pub duration_s: f64,
}

fn default_segment_length_m() -> f64 {
    1000.0
}
fn default_truck_share() -> f64 {
    0.1
}
fn default_spread() -> f64 {
    1.0
}
fn default_stall_s() -> f64 {
    600.0
}
fn default_loop_offsets() -> Vec<f64> {
    vec![250.0, 750.0]
}
fn default_loop_period_s() -> f64 {
    30.0
}
fn default_hard_brake() -> f64 {
    4.0
}

type Invalid = (String, String);

fn bad(field: impl Into<String>, reason: impl Into<String>) -> Invalid {
    (field.into(), reason.into())
}

impl HighwaySpec {
    /// A plain road with the defaults: `length_m` long, `lanes` wide, no demand.
    pub fn plain(kind: RoadKind, length_m: f64, lanes: u8) -> Self {
        Self {
            kind,
            length_m,
            lanes,
            segment_length_m: default_segment_length_m(),
            speed_limit_kmh: None,
            truck_share: default_truck_share(),
            driver_spread: default_spread(),
            demand: Vec::new(),
            on_ramps: Vec::new(),
            off_ramps: Vec::new(),
            incidents: Vec::new(),
            random_stalls_per_h: 0.0,
            random_stall_duration_s: default_stall_s(),
            loop_offsets_m: default_loop_offsets(),
            loop_period_s: default_loop_period_s(),
            hard_braking_mps2: default_hard_brake(),
            ring_vehicles: 0,
            ring_perturbation_mps: 0.0,
        }
    }

    /// How many segments.
    pub fn segments(&self) -> u32 {
        (self.length_m / self.segment_length_m).ceil().max(1.0) as u32
    }

    /// Checks every value: `Err((field, reason))`.
    pub fn validate(&self) -> Result<(), Invalid> {
        if !(self.length_m >= 100.0 && self.length_m <= 100_000.0) {
            return Err(bad("length_m", format!("{} m: a road is 100..=100000 m long", self.length_m)));
        }
        if self.lanes == 0 || self.lanes > LANES_MAX {
            return Err(bad("lanes", format!("{}: a road has 1..={LANES_MAX} lanes", self.lanes)));
        }
        if !(self.segment_length_m >= 100.0 && self.segment_length_m <= self.length_m) {
            return Err(bad("segment_length_m", format!("{} m: 100 m up to the road's length", self.segment_length_m)));
        }
        if let Some(limit) = self.speed_limit_kmh
            && !(LIMIT_KMH_MIN..=LIMIT_KMH_MAX).contains(&limit)
        {
            return Err(bad("speed_limit_kmh", format!("{limit}: {LIMIT_KMH_MIN}..={LIMIT_KMH_MAX} km/h")));
        }
        share("truck_share", self.truck_share)?;
        if !(0.0..=2.0).contains(&self.driver_spread) {
            return Err(bad("driver_spread", format!("{}: 0..=2", self.driver_spread)));
        }
        profile("demand", &self.demand)?;
        let open = self.kind == RoadKind::Open;
        let ramps = !self.on_ramps.is_empty() || !self.off_ramps.is_empty() || !self.demand.is_empty();
        if !open && ramps {
            return Err(bad("kind", "a ring has no entries, ramps or demand: give ring_vehicles instead"));
        }
        for (i, ramp) in self.on_ramps.iter().enumerate() {
            self.position(&format!("on_ramps[{i}].position_m"), ramp.position_m)?;
            profile(&format!("on_ramps[{i}].demand"), &ramp.demand)?;
        }
        for (i, ramp) in self.off_ramps.iter().enumerate() {
            self.position(&format!("off_ramps[{i}].position_m"), ramp.position_m)?;
            share(&format!("off_ramps[{i}].share"), ramp.share)?;
        }
        for (i, incident) in self.incidents.iter().enumerate() {
            self.position(&format!("incidents[{i}].position_m"), incident.position_m)?;
            if !(incident.at_s >= 0.0 && incident.at_s.is_finite()) {
                return Err(bad(format!("incidents[{i}].at_s"), format!("{} s: a time from 0", incident.at_s)));
            }
            if !(incident.duration_s > 0.0 && incident.duration_s <= 86_400.0) {
                return Err(bad(format!("incidents[{i}].duration_s"), "a stall lasts 0 < s <= 86400".to_string()));
            }
            if incident.lane == 0 || incident.lane > self.lanes {
                return Err(bad(
                    format!("incidents[{i}].lane"),
                    format!("lane {}: this road has lanes 1..={}", incident.lane, self.lanes),
                ));
            }
        }
        if !(0.0..=100.0).contains(&self.random_stalls_per_h) {
            return Err(bad("random_stalls_per_h", format!("{}: 0..=100 per hour", self.random_stalls_per_h)));
        }
        if !(self.random_stall_duration_s > 0.0 && self.random_stall_duration_s <= 86_400.0) {
            return Err(bad("random_stall_duration_s", "a stall lasts 0 < s <= 86400"));
        }
        for (i, offset) in self.loop_offsets_m.iter().enumerate() {
            if !(*offset >= 0.0 && *offset < self.segment_length_m) {
                return Err(bad(format!("loop_offsets_m[{i}]"), format!("{offset} m: inside a segment")));
            }
        }
        if self.loop_offsets_m.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad("loop_offsets_m", "offsets must be strictly ascending"));
        }
        if !(self.loop_period_s >= 1.0 && self.loop_period_s <= 3600.0) {
            return Err(bad("loop_period_s", format!("{} s: 1..=3600 s", self.loop_period_s)));
        }
        if !(self.hard_braking_mps2 > 0.0 && self.hard_braking_mps2 <= 20.0) {
            return Err(bad("hard_braking_mps2", "0 < m/s² <= 20"));
        }
        if open && self.ring_vehicles > 0 {
            return Err(bad("ring_vehicles", "only a ring (kind = \"ring\") starts with vehicles"));
        }
        let room = (self.length_m / 7.0).floor() as u32 * u32::from(self.lanes);
        if self.ring_vehicles > room {
            return Err(bad("ring_vehicles", format!("{}: at most {room} fit on this ring", self.ring_vehicles)));
        }
        if !(0.0..=40.0).contains(&self.ring_perturbation_mps) {
            return Err(bad("ring_perturbation_mps", "0..=40 m/s"));
        }
        Ok(())
    }

    fn position(&self, field: &str, x: f64) -> Result<(), Invalid> {
        if x >= 0.0 && x < self.length_m {
            Ok(())
        } else {
            Err(bad(field, format!("{x} m: on the road, 0 up to {} m", self.length_m)))
        }
    }
}

fn share(field: &str, x: f64) -> Result<(), Invalid> {
    if (0.0..=1.0).contains(&x) { Ok(()) } else { Err(bad(field, format!("{x}: a share is 0..=1"))) }
}

fn profile(field: &str, points: &Profile) -> Result<(), Invalid> {
    for (i, [minute, vph]) in points.iter().enumerate() {
        if !(minute.is_finite() && *minute >= 0.0) {
            return Err(bad(format!("{field}[{i}]"), format!("minute {minute}: from 0")));
        }
        if !(0.0..=DEMAND_VPH_MAX).contains(vph) {
            return Err(bad(format!("{field}[{i}]"), format!("{vph} veh/h: 0..={DEMAND_VPH_MAX}")));
        }
    }
    if points.windows(2).any(|w| w[0][0] >= w[1][0]) {
        return Err(bad(field, "minutes must be strictly ascending"));
    }
    Ok(())
}

/// The rate of `profile` at `minute`, veh/h (linear between points).
pub fn rate_at(profile: &Profile, minute: f64) -> f64 {
    match profile.iter().position(|p| p[0] > minute) {
        None => profile.last().map_or(0.0, |p| p[1]),
        Some(0) => profile[0][1],
        Some(i) => {
            let ([m0, r0], [m1, r1]) = (profile[i - 1], profile[i]);
            r0 + (r1 - r0) * (minute - m0) / (m1 - m0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_interpolate() {
        let p = vec![[0.0, 1000.0], [10.0, 3000.0], [20.0, 1000.0]];
        assert_eq!(rate_at(&p, -1.0), 1000.0);
        assert_eq!(rate_at(&p, 5.0), 2000.0);
        assert_eq!(rate_at(&p, 15.0), 2000.0);
        assert_eq!(rate_at(&p, 30.0), 1000.0);
        assert_eq!(rate_at(&Vec::new(), 3.0), 0.0);
    }

    #[test]
    fn bad_values_name_their_field() {
        let mut spec = HighwaySpec::plain(RoadKind::Open, 4000.0, 2);
        spec.incidents.push(IncidentSpec { at_s: 10.0, position_m: 5000.0, lane: 1, duration_s: 60.0 });
        assert_eq!(spec.validate().unwrap_err().0, "incidents[0].position_m");
        spec.incidents[0].position_m = 100.0;
        spec.incidents[0].lane = 3;
        assert_eq!(spec.validate().unwrap_err().0, "incidents[0].lane");
        spec.incidents.clear();
        spec.demand = vec![[0.0, 1e6]];
        assert_eq!(spec.validate().unwrap_err().0, "demand[0]");
        spec.demand.clear();
        spec.speed_limit_kmh = Some(200);
        assert_eq!(spec.validate().unwrap_err().0, "speed_limit_kmh");
    }
}
