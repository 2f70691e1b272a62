//! The airport: runways as exclusive resources, and the traffic that wants them.
//!
//! Each runway has a final approach fed by a seeded Poisson stream of arrivals (sequenced by
//! approach control at least `final_spacing_s` apart), a holding point fed by a stream of
//! departures, and a crossing where ground vehicles ask to cross. One tower controller role per
//! runway (`runway/07L`) gives the clearances — land, take off, cross — through
//! [`RunwayOrder`]s; the world carries them out and publishes the runway's [`RunwaySummary`]
//! whenever what it shows changes (who is on the runway, who is on final, the queues, the claim,
//! the last order). The ticking down of `decision_in_s` alone is not a change.
//!
//! An arrival that reaches its decision point without a landing clearance goes around, flies a
//! missed-approach circuit and rejoins the sequence; one that misses its decision point after
//! `go_arounds_max` go-arounds diverts. A landing clearance puts the aircraft on the runway at
//! once (it is the runway's until it has vacated, `landing_s` after its decision point); a
//! take-off or crossing clearance occupies the runway for that aircraft's or vehicle's
//! `takeoff_s` or `crossing_s`.
//!
//! # What the world refuses, and what it obeys
//!
//! The world is behind fenced actuators and obeys what they accepted. It refuses (with a
//! [`Refusal`] that says why, changing nothing) only what cannot be done at all: an unknown
//! runway or callsign, an aircraft that is not on final or not at the holding point, a vehicle
//! that is not waiting, a clearance on a closed runway, a malformed order. A clearance onto an
//! occupied runway *can* be done, so it is done — and counted as a **runway incursion**, by the
//! world itself, whatever the controllers believed. Safe towers keep that count at zero; the
//! tests prove the counter counts with a tower that does not care ([`crate::policy::tower`]).
//!
//! # The handover protocol
//!
//! A new primary's claim reaches the world through the same actuator, after every command of its
//! predecessor that the actuator accepted. [`Airport::claim`] records the highest token in the
//! summary's `claim_token`; every obeyed order's id becomes its `last_command`. So a primary that
//! sees its own token there, and its own latest clearance's id or a later one of its own, knows
//! the summary shows everything that was cleared before — the rule [`crate::policy::tower`]
//! follows.
//!
//! # Caveats
//!
//! - Runways are independent: no wake turbulence, no crossing runways, no taxi network; a
//!   departure appears at its holding point and a vehicle at its crossing.
//! - A departure that finds the holding point full, or a vehicle the crossing queue full, leaves
//!   the model (counted): queues are bounded, as everything here is.
//! - Callsigns wrap after 9,999 aircraft and vehicle ids after 999 vehicles; a run that long
//!   may reuse a callsign that has long left.

mod event;
mod order;
mod runway;
mod spec;
mod traffic;

#[cfg(test)]
mod closed_loop;
#[cfg(test)]
mod golden;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use serde::Serialize;
use sha2::{Digest, Sha256};

pub use event::{Activity, Event};
pub use order::{CALLSIGN_LEN_MAX, Clearance, ORDER_ID_LEN_MAX, RunwayOrder};
pub use spec::{AirportSpec, DURATION_S_MAX, GO_AROUNDS_MAX, QUEUE_MAX, RATE_PER_HOUR_MAX, RUNWAYS_MAX};
pub use traffic::{Mover, MoverKind, Phase};

use crate::error::Refusal;
use crate::summary::RunwaySummary;
use runway::Runway;
use traffic::Traffic;

/// The airport's counters over the whole run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AirportStats {
    /// Arrivals that joined final (a rejoin after a go-around is not a new arrival).
    pub arrivals: u64,
    /// Arrivals that landed and vacated.
    pub landed: u64,
    /// Go-arounds flown.
    pub go_arounds: u64,
    /// Arrivals that left for another airport.
    pub diverted: u64,
    /// Departures that came to a holding point (or found it full).
    pub departures: u64,
    /// Departures that found the holding point full.
    pub held_at_gate: u64,
    /// Departures that took off and left the runway.
    pub departed: u64,
    /// Ground vehicles that asked to cross (or found the queue full).
    pub crossing_requests: u64,
    /// Vehicles that found the crossing queue full.
    pub turned_away: u64,
    /// Vehicles that crossed.
    pub crossed: u64,
    /// Clearances onto an occupied runway: must stay zero.
    pub incursions: u64,
    /// Mean time from the holding point to the take-off clearance, seconds (0 before the first).
    pub mean_departure_wait_s: f64,
    /// The longest queue seen at any holding point.
    pub max_departure_queue: u64,
    /// The longest queue seen at any crossing.
    pub max_crossing_queue: u64,
}

/// The counters and what the means are computed from.
#[derive(Debug, Clone, Default)]
struct Tally {
    stats: AirportStats,
    takeoffs_cleared: u64,
    departure_wait_ticks: u64,
}

/// The runways and the traffic around them.
pub struct Airport {
    spec: AirportSpec,
    dt_s: f64,
    tick: u64,
    traffic: Traffic,
    runways: Vec<Runway>,
    tally: Tally,
}

impl Airport {
    /// An airport for `spec`, ticking every `dt_s`, its traffic seeded from `seed`.
    pub fn new(spec: &AirportSpec, dt_s: f64, seed: u64) -> Result<Self, (String, String)> {
        spec.validate()?;
        assert!(dt_s > 0.0 && dt_s.is_finite(), "the tick must be positive, not {dt_s}");
        let mut traffic = Traffic::new(seed, dt_s);
        let runways = spec.runways.iter().map(|id| Runway::new(id, spec, &mut traffic)).collect();
        Ok(Self { spec: spec.clone(), dt_s, tick: 0, traffic, runways, tally: Tally::default() })
    }

    /// What it was built from.
    pub fn spec(&self) -> &AirportSpec {
        &self.spec
    }

    /// The runways' designators.
    pub fn runways(&self) -> Vec<String> {
        self.runways.iter().map(|r| r.id.clone()).collect()
    }

    /// A runway's summary as of now (its `seq` is that of the last one published).
    pub fn summary(&self, runway: &str) -> Option<RunwaySummary> {
        let r = self.runways.iter().find(|r| r.id == runway)?;
        Some(r.summary(self.tick, self.dt_s))
    }

    /// Every aircraft and vehicle, runway by runway: on the runway, on final, circling, queued.
    pub fn movers(&self) -> Vec<Mover> {
        let mut out = Vec::new();
        for r in &self.runways {
            r.movers(self.tick, &self.traffic, &mut out);
        }
        out
    }

    fn index(&self, runway: &str) -> Result<usize, Refusal> {
        self.runways.iter().position(|r| r.id == runway).ok_or_else(|| {
            Refusal::new(format!("no runway {runway:?}: this airport has runways {}", self.runways().join(", ")))
        })
    }

    /// Records a new primary's claim for `runway`: the highest token seen goes into its summary.
    pub fn claim(&mut self, runway: &str, token: u64, changed: &mut Vec<RunwaySummary>) -> Result<(), Refusal> {
        let i = self.index(runway)?;
        let r = &mut self.runways[i];
        if token > r.claim_token {
            r.claim_token = token;
            r.publish(self.tick, self.dt_s, changed);
        }
        Ok(())
    }

    /// Obeys a runway order at the start of the next tick (`now_s`, the world's time: the end of
    /// the last tick stepped). A clearance onto an occupied runway is obeyed and counted as an
    /// incursion; what cannot be done at all is refused and changes nothing.
    pub fn apply(
        &mut self,
        runway: &str,
        order: &RunwayOrder,
        now_s: f64,
        events: &mut Vec<Event>,
        changed: &mut Vec<RunwaySummary>,
    ) -> Result<(), Refusal> {
        debug_assert!((now_s - self.tick as f64 * self.dt_s).abs() < self.dt_s, "now {now_s} s at tick {}", self.tick);
        let i = self.index(runway)?;
        let (who, activity, want) = match &order.clearance {
            Clearance::Land(who) => (who, Activity::Landing, Phase::OnFinal),
            Clearance::Takeoff(who) => (who, Activity::Takeoff, Phase::HoldingPoint),
            Clearance::Cross(who) => (who, Activity::Crossing, Phase::Waiting),
            Clearance::Hold => {
                self.obeyed(i, &order.id, changed);
                return Ok(());
            }
            Clearance::Close | Clearance::Open => {
                let close = order.clearance == Clearance::Close;
                let r = &mut self.runways[i];
                if r.closed != close {
                    r.closed = close;
                    let (runway, id) = (r.id.clone(), order.id.clone());
                    events.push(if close { Event::Closed { runway, id } } else { Event::Opened { runway, id } });
                }
                self.obeyed(i, &order.id, changed);
                return Ok(());
            }
        };
        if self.runways[i].closed {
            return Err(Refusal::new(format!("runway {runway} is closed: nothing is cleared until it is opened")));
        }
        match self.locate(who) {
            Some((j, phase)) if j == i && phase == want => {}
            Some((j, phase)) => {
                return Err(Refusal::new(format!(
                    "{who} is {} for runway {}, not {} for runway {runway}",
                    words(phase),
                    self.runways[j].id,
                    words(want)
                )));
            }
            None => {
                return Err(Refusal::new(format!(
                    "unknown callsign {who}: nobody by that name is at or around this airport"
                )));
            }
        }
        self.runways[i].clear(who, activity, &order.id, self.tick, &mut self.tally, events);
        self.obeyed(i, &order.id, changed);
        Ok(())
    }

    fn obeyed(&mut self, i: usize, id: &str, changed: &mut Vec<RunwaySummary>) {
        let r = &mut self.runways[i];
        r.last_command = Some(id.to_string());
        r.publish(self.tick, self.dt_s, changed);
    }

    /// Where `id` is: its runway's index and its phase.
    fn locate(&self, id: &str) -> Option<(usize, Phase)> {
        self.runways.iter().enumerate().find_map(|(i, r)| r.phase_of(id).map(|p| (i, p)))
    }

    /// Advances to the end of `tick`: runways are vacated, arrivals at their decision points go
    /// around or divert, circuits rejoin, new traffic appears; each runway whose summary changed
    /// is published.
    pub fn step(&mut self, tick: u64, events: &mut Vec<Event>, changed: &mut Vec<RunwaySummary>) {
        assert!(tick > self.tick, "tick {tick} after tick {}: time only moves forward", self.tick);
        self.tick = tick;
        for r in &mut self.runways {
            if r.step(tick, &self.spec, &mut self.traffic, &mut self.tally, events) {
                r.publish(tick, self.dt_s, changed);
            }
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> AirportStats {
        let mut stats = self.tally.stats.clone();
        if self.tally.takeoffs_cleared > 0 {
            stats.mean_departure_wait_s =
                self.tally.departure_wait_ticks as f64 * self.dt_s / self.tally.takeoffs_cleared as f64;
        }
        stats
    }

    /// The invariants: everyone in exactly one place, every count conserved, every clearance
    /// either a busy period or a counted incursion; a description of the first broken one.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut seen = BTreeSet::new();
        for r in &self.runways {
            r.check(self.tick, &self.spec)?;
            if let Some(id) = r.ids().find(|id| !seen.insert(*id)) {
                return Err(format!("{id} is in two places at once"));
            }
        }
        let sum = |f: &dyn Fn(&Runway) -> u64| self.runways.iter().map(f).sum::<u64>();
        let s = &self.tally.stats;
        let landing = sum(&|r| r.count(Activity::Landing));
        let (finals, circling) = (sum(&|r| r.finals.len() as u64), sum(&|r| r.circling.len() as u64));
        if s.arrivals != s.landed + landing + finals + circling + s.diverted {
            return Err(format!(
                "{} arrivals but {} landed, {landing} landing, {finals} on final, {circling} circling, {} diverted",
                s.arrivals, s.landed, s.diverted
            ));
        }
        let (taking_off, holding) = (sum(&|r| r.count(Activity::Takeoff)), sum(&|r| r.departures.len() as u64));
        if s.departures != s.departed + taking_off + holding + s.held_at_gate {
            return Err(format!(
                "{} departures but {} departed, {taking_off} taking off, {holding} holding, {} held at the gate",
                s.departures, s.departed, s.held_at_gate
            ));
        }
        let (crossing, waiting) = (sum(&|r| r.count(Activity::Crossing)), sum(&|r| r.crossings.len() as u64));
        if s.crossing_requests != s.crossed + crossing + waiting + s.turned_away {
            return Err(format!(
                "{} crossing requests but {} crossed, {crossing} crossing, {waiting} waiting, {} turned away",
                s.crossing_requests, s.crossed, s.turned_away
            ));
        }
        if s.incursions != sum(&|r| r.incursions) {
            return Err(format!("{} incursions counted but the runways saw {}", s.incursions, sum(&|r| r.incursions)));
        }
        if self.tally.takeoffs_cleared != s.departed + taking_off {
            return Err(format!(
                "{} take-offs cleared but {} departed and {taking_off} on the runway",
                self.tally.takeoffs_cleared, s.departed
            ));
        }
        Ok(())
    }

    /// Feeds the whole state into a digest.
    pub fn digest(&self, hasher: &mut Sha256) {
        hasher.update(self.tick.to_le_bytes());
        self.traffic.digest(hasher);
        for r in &self.runways {
            r.digest(hasher);
        }
        let s = &self.tally.stats;
        for n in [s.arrivals, s.landed, s.go_arounds, s.diverted, s.departures, s.held_at_gate, s.departed]
            .into_iter()
            .chain([s.crossing_requests, s.turned_away, s.crossed, s.incursions, s.max_departure_queue])
            .chain([s.max_crossing_queue, self.tally.takeoffs_cleared, self.tally.departure_wait_ticks])
        {
            hasher.update(n.to_le_bytes());
        }
    }
}

/// A phase in words, for refusals.
fn words(phase: Phase) -> &'static str {
    match phase {
        Phase::OnFinal => "on final",
        Phase::Circling => "flying a missed-approach circuit",
        Phase::Landing => "landing",
        Phase::HoldingPoint => "at the holding point",
        Phase::TakingOff => "taking off",
        Phase::Waiting => "waiting to cross",
        Phase::Crossing => "crossing",
    }
}
