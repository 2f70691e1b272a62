//! The world: the highway and the airport stepped together, one tick at a time.
//!
//! [`World::step`] takes the decisions the fenced actuators accepted since the last tick and
//! returns [`Outputs`]: what happened, the summaries that came due, and anything the world
//! refused. Commands take effect at the start of the tick, in the order the actuator accepted
//! them, then the highway and the airport advance by one `dt`.
//!
//! The world does not trust the fencing it is behind: it keeps, per role, the token and the
//! controller of the last command it obeyed, and counts a **conflict** whenever it is made to obey
//! an older token, or a second controller under the same token. With correct actuators the count
//! stays zero; the drills check it does. The airport counts runway incursions the same way, from
//! what happens on the runways, whatever the controllers believed.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::airport::{self, Airport, AirportStats, RunwayOrder};
use crate::command::{Applied, Target};
use crate::error::{Refusal, ScenarioError};
use crate::highway::{self, Highway, HighwayStats, SegmentOrder};
use crate::scenario::Scenario;
use crate::summary::{RunwaySummary, SegmentSummary};

/// Something that happened, for logs, the dashboard and golden scripts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Event {
    /// On the road.
    Highway(highway::Event),
    /// At the airport.
    Airport(airport::Event),
    /// A command obeyed.
    Obeyed {
        /// The decision.
        applied: Applied,
    },
    /// A command refused by the world (the actuator had accepted it).
    Refused {
        /// The decision.
        applied: Applied,
        /// Why.
        reason: String,
    },
    /// Two controllers' commands obeyed for one role, or an older token after a newer one.
    Conflict {
        /// The role.
        role: String,
        /// Who was obeyed before, with its token.
        before: (String, u64),
        /// Who was obeyed now.
        now: (String, u64),
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Highway(e) => write!(f, "{e}"),
            Event::Airport(e) => write!(f, "{e}"),
            Event::Obeyed { applied } => write!(f, "obeyed {applied}"),
            Event::Refused { applied, reason } => write!(f, "refused {applied}: {reason}"),
            Event::Conflict { role, before, now } => {
                write!(f, "CONFLICT {role}: obeyed {}@{} after {}@{}", now.0, now.1, before.0, before.1)
            }
        }
    }
}

/// What one tick produced.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Outputs {
    /// The tick that was just completed (from 1).
    pub tick: u64,
    /// Simulated time at its end, seconds.
    pub time_s: f64,
    /// What happened, in order.
    pub events: Vec<Event>,
    /// Segments whose loop period ended this tick.
    pub segments: Vec<SegmentSummary>,
    /// Runways whose state changed this tick.
    pub runways: Vec<RunwaySummary>,
}

/// Counters over the whole run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WorldStats {
    /// Ticks completed.
    pub ticks: u64,
    /// Simulated seconds.
    pub time_s: f64,
    /// Commands obeyed (claims not counted).
    pub commands_obeyed: u64,
    /// Commands the world refused (unknown lane, no such aircraft…).
    pub commands_refused: u64,
    /// Conflicting commands obeyed: must be zero.
    pub conflicts: u64,
    /// The road's counters.
    pub highway: Option<HighwayStats>,
    /// The airport's counters.
    pub airport: Option<AirportStats>,
}

/// Who the world last obeyed for a role.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Holder {
    controller: String,
    token: u64,
}

/// The highway and the airport.
pub struct World {
    scenario: Scenario,
    dt_s: f64,
    tick: u64,
    highway: Option<Highway>,
    airport: Option<Airport>,
    holders: BTreeMap<String, Holder>,
    stats: WorldStats,
}

impl World {
    /// A world for `scenario`, with its random streams seeded from `seed`.
    pub fn new(scenario: &Scenario, seed: u64) -> Result<Self, ScenarioError> {
        scenario.validate(&scenario.name)?;
        let dt_s = scenario.dt_s();
        let invalid = |part: &str, (field, reason): (String, String)| ScenarioError::Invalid {
            origin: scenario.name.clone(),
            field: format!("{part}.{field}"),
            reason,
        };
        let highway = match &scenario.highway {
            Some(spec) => Some(Highway::new(spec, dt_s, seed).map_err(|e| invalid("highway", e))?),
            None => None,
        };
        let airport = match &scenario.airport {
            Some(spec) => Some(Airport::new(spec, dt_s, seed).map_err(|e| invalid("airport", e))?),
            None => None,
        };
        Ok(Self {
            scenario: scenario.clone(),
            dt_s,
            tick: 0,
            highway,
            airport,
            holders: BTreeMap::new(),
            stats: WorldStats::default(),
        })
    }

    /// The scenario it runs.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// Ticks completed.
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// The tick, seconds.
    pub fn dt_s(&self) -> f64 {
        self.dt_s
    }

    /// Simulated seconds so far.
    pub fn time_s(&self) -> f64 {
        self.tick as f64 * self.dt_s
    }

    /// The road, if any.
    pub fn highway(&self) -> Option<&Highway> {
        self.highway.as_ref()
    }

    /// Stalls the first vehicle to reach `position_m` in `lane` from now on, for `duration_s`
    /// (an incident added while the world runs). Refused, with what is wrong, for a world without
    /// a road or an impossible place or duration.
    pub fn stall(&mut self, position_m: f64, lane: u8, duration_s: f64) -> Result<(), String> {
        let at_s = self.time_s();
        let road = self.highway.as_mut().ok_or("this world has no road")?;
        road.add_incident(highway::IncidentSpec { at_s, position_m, lane, duration_s })
            .map_err(|(field, reason)| format!("{}: {reason}", field.replace("incidents[0].", "")))
    }

    /// The airport, if any.
    pub fn airport(&self) -> Option<&Airport> {
        self.airport.as_ref()
    }

    /// Every role this world has a target for: `segment/1…`, then `runway/…`.
    pub fn roles(&self) -> Vec<String> {
        let segments = self.highway.as_ref().map_or(0, Highway::segments);
        let mut roles: Vec<String> = (1..=segments).map(|n| Target::Segment(n).role()).collect();
        if let Some(airport) = &self.airport {
            roles.extend(airport.runways().into_iter().map(|r| Target::Runway(r).role()));
        }
        roles
    }

    /// Applies `commands` (in the order accepted), then advances one tick.
    pub fn step(&mut self, commands: &[Applied]) -> Outputs {
        let mut out = Outputs::default();
        for applied in commands {
            self.apply(applied, &mut out);
        }
        self.tick += 1;
        out.tick = self.tick;
        out.time_s = self.time_s();
        if let Some(highway) = &mut self.highway {
            let mut events = Vec::new();
            highway.step(self.tick, &mut events, &mut out.segments);
            out.events.extend(events.into_iter().map(Event::Highway));
        }
        if let Some(airport) = &mut self.airport {
            let mut events = Vec::new();
            airport.step(self.tick, &mut events, &mut out.runways);
            out.events.extend(events.into_iter().map(Event::Airport));
        }
        self.stats.ticks = self.tick;
        self.stats.time_s = self.time_s();
        out
    }

    fn apply(&mut self, applied: &Applied, out: &mut Outputs) {
        let target = match Target::of_role(&applied.role) {
            Ok(target) => target,
            Err(refusal) => return self.refuse(applied, refusal, out),
        };
        self.check_holder(applied, out);
        let now_s = self.time_s();
        let result = match (&target, applied.is_claim()) {
            (Target::Segment(n), claim) => match &mut self.highway {
                Some(highway) if *n <= highway.segments() => {
                    if claim {
                        Ok(())
                    } else {
                        SegmentOrder::parse(&applied.action).and_then(|order| {
                            let mut events = Vec::new();
                            let result = highway.apply(*n, &order, now_s, &mut events);
                            out.events.extend(events.into_iter().map(Event::Highway));
                            result
                        })
                    }
                }
                Some(highway) => {
                    Err(Refusal::new(format!("no segment {n}: this road has segments 1..={}", highway.segments())))
                }
                None => Err(Refusal::new("this world has no road")),
            },
            (Target::Runway(id), claim) => match &mut self.airport {
                Some(airport) => {
                    let mut events = Vec::new();
                    let result = if claim {
                        airport.claim(id, applied.token, &mut out.runways)
                    } else {
                        RunwayOrder::parse(&applied.action)
                            .and_then(|order| airport.apply(id, &order, now_s, &mut events, &mut out.runways))
                    };
                    out.events.extend(events.into_iter().map(Event::Airport));
                    result
                }
                None => Err(Refusal::new("this world has no airport")),
            },
        };
        match result {
            Ok(()) if applied.is_claim() => {}
            Ok(()) => {
                self.stats.commands_obeyed += 1;
                out.events.push(Event::Obeyed { applied: applied.clone() });
            }
            Err(refusal) => self.refuse(applied, refusal, out),
        }
    }

    /// The world's own check on the fencing in front of it.
    fn check_holder(&mut self, applied: &Applied, out: &mut Outputs) {
        let now = Holder { controller: applied.controller.clone(), token: applied.token };
        match self.holders.get(&applied.role) {
            Some(before) if now.token < before.token || (now.token == before.token && now != *before) => {
                self.stats.conflicts += 1;
                out.events.push(Event::Conflict {
                    role: applied.role.clone(),
                    before: (before.controller.clone(), before.token),
                    now: (now.controller, now.token),
                });
            }
            Some(before) if now.token == before.token => {}
            _ => {
                self.holders.insert(applied.role.clone(), now);
            }
        }
    }

    fn refuse(&mut self, applied: &Applied, refusal: Refusal, out: &mut Outputs) {
        self.stats.commands_refused += 1;
        out.events.push(Event::Refused { applied: applied.clone(), reason: refusal.0 });
    }

    /// Counters so far.
    pub fn stats(&self) -> WorldStats {
        let mut stats = self.stats.clone();
        stats.highway = self.highway.as_ref().map(Highway::stats);
        stats.airport = self.airport.as_ref().map(Airport::stats);
        stats
    }

    /// Checks the world's invariants (no overlapping vehicles, no negative speeds, vehicles
    /// conserved, loop counts equal crossings); a description of the first broken one.
    pub fn check_invariants(&self) -> Result<(), String> {
        if let Some(highway) = &self.highway {
            highway.check_invariants()?;
        }
        if let Some(airport) = &self.airport {
            airport.check_invariants()?;
        }
        Ok(())
    }

    /// A short hash of the whole state: two runs are the same run if their digests agree at
    /// every tick.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.tick.to_le_bytes());
        if let Some(highway) = &self.highway {
            highway.digest(&mut hasher);
        }
        if let Some(airport) = &self.airport {
            airport.digest(&mut hasher);
        }
        for (role, holder) in &self.holders {
            hasher.update(role.as_bytes());
            hasher.update(holder.controller.as_bytes());
            hasher.update(holder.token.to_le_bytes());
        }
        hex::encode(&hasher.finalize()[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(role: &str, controller: &str, token: u64, action: &str) -> Applied {
        Applied { role: role.into(), controller: controller.into(), token, action: action.into() }
    }

    fn world() -> World {
        World::new(&Scenario::builtin("highway").unwrap(), 1).unwrap()
    }

    #[test]
    fn a_stall_added_while_running_stops_the_next_vehicle_there() {
        let mut w = world();
        for _ in 0..240 {
            w.step(&[]);
        }
        assert!(w.stall(9_000.0, 1, 60.0).unwrap_err().contains("position_m"), "off the road is refused");
        assert!(w.stall(500.0, 9, 60.0).unwrap_err().contains("lanes 1..=3"), "no such lane is refused");
        assert!(w.stall(500.0, 1, 0.0).is_err(), "a stall lasts");
        w.stall(400.0, 2, 60.0).unwrap();
        let started = (0..400).find_map(|_| {
            w.step(&[]).events.into_iter().find_map(|e| match e {
                Event::Highway(highway::Event::StallStarted { lane, position_m, .. }) => Some((lane, position_m)),
                _ => None,
            })
        });
        let (lane, position_m) = started.expect("a vehicle stalled within 100 s");
        assert_eq!(lane, 2);
        // It stalls where it starts braking, at most its stopping distance before the place.
        assert!((200.0..=400.0).contains(&position_m), "stalled at {position_m} m");
        w.check_invariants().unwrap();
    }

    #[test]
    fn the_demo_world_has_a_role_per_segment_and_runway() {
        let roles = world().roles();
        assert!(roles.iter().filter(|r| r.starts_with("segment/")).count() >= 2, "{roles:?}");
        assert!(roles.iter().any(|r| r.starts_with("runway/")), "{roles:?}");
    }

    #[test]
    fn commands_for_unknown_targets_are_refused_and_the_world_keeps_running() {
        let mut w = world();
        let out = w.step(&[
            applied("segment/99", "c1", 3, "limit=80 closed=none"),
            applied("runway/99", "c1", 4, "hold #4-1"),
            applied("tower/1", "c1", 5, "hold"),
            applied("segment/1", "c1", 6, "slow down please"),
        ]);
        let refusals: Vec<String> = out
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Refused { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(refusals.len(), 4, "{refusals:?}");
        assert!(refusals[0].contains("no segment 99"), "{}", refusals[0]);
        assert_eq!(w.stats().commands_refused, 4);
        for _ in 0..20 {
            w.step(&[]);
        }
        w.check_invariants().unwrap();
        assert_eq!(w.stats().conflicts, 0);
    }

    #[test]
    fn the_world_counts_a_stale_or_doubled_token_as_a_conflict() {
        let mut w = world();
        w.step(&[applied("segment/1", "c1", 5, "limit=none closed=none")]);
        w.step(&[applied("segment/1", "c2", 9, CLAIM_FOR_TEST)]);
        assert_eq!(w.stats().conflicts, 0, "a newer claim is a takeover, not a conflict");
        w.step(&[applied("segment/1", "c1", 5, "limit=80 closed=none")]);
        assert_eq!(w.stats().conflicts, 1, "an older token obeyed after a newer one");
        w.step(&[applied("segment/1", "c3", 9, "limit=80 closed=none")]);
        assert_eq!(w.stats().conflicts, 2, "two controllers under one token");
    }

    const CLAIM_FOR_TEST: &str = crate::command::CLAIM;

    #[test]
    fn the_same_seed_gives_the_same_run() {
        let (mut a, mut b) = (world(), world());
        for _ in 0..400 {
            a.step(&[]);
            b.step(&[]);
        }
        assert_eq!(a.digest(), b.digest());
        let mut c = World::new(&Scenario::builtin("highway").unwrap(), 2).unwrap();
        for _ in 0..400 {
            c.step(&[]);
        }
        assert_ne!(a.digest(), c.digest(), "another seed, another run");
    }
}
