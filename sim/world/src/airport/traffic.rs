//! Who moves around the runways, and where they come from.
//!
//! Every aircraft and vehicle is in exactly one place at a time — on final, circling after a
//! go-around, on a runway, at a holding point, waiting to cross — and moves between the places
//! as a value (it is never copied). Time is counted in ticks so that every event falls on a
//! tick and comparisons are exact.
//!
//! [`Traffic`] draws the arrivals, departures and crossings from their own seeded streams, and
//! draws everything about an aircraft or vehicle (its landing roll, its missed-approach circuit,
//! its take-off) when it appears, so how often a stream is drawn never depends on what the
//! controllers do: the same seed brings the same traffic whatever the tower decides.

use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::event::Activity;
use super::spec::AirportSpec;
use crate::rng::{self, Stream};

/// An arrival on final or flying a missed-approach circuit.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Approach {
    /// Its callsign.
    pub callsign: String,
    /// When it entered its current place (final or the circuit), tick.
    pub since: u64,
    /// On final: its decision point; circling: when it rejoins final. Tick.
    pub due: u64,
    /// Its runway occupancy from the decision point to vacating, ticks.
    pub roll: u64,
    /// Its missed-approach circuit, ticks.
    pub missed: u64,
    /// Go-arounds flown.
    pub go_arounds: u32,
}

/// A departure at a holding point or a vehicle waiting to cross.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Waiting {
    /// Callsign or vehicle id.
    pub id: String,
    /// When it joined the queue, tick.
    pub since: u64,
    /// How long it will occupy the runway once cleared, ticks.
    pub occupancy: u64,
}

/// Someone cleared onto a runway.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Occupant {
    /// Callsign or vehicle id.
    pub id: String,
    /// What it does there.
    pub activity: Activity,
    /// When it was cleared, tick.
    pub since: u64,
    /// When it leaves the runway, tick.
    pub until: u64,
}

/// The seeded sources of traffic.
pub(super) struct Traffic {
    arrivals: ChaCha8Rng,
    departures: ChaCha8Rng,
    crossings: ChaCha8Rng,
    dt_s: f64,
    aircraft: u32,
    vehicles: u32,
}

impl Traffic {
    /// The sources for a run with `seed` and a tick of `dt_s`.
    pub fn new(seed: u64, dt_s: f64) -> Self {
        Self {
            arrivals: rng::stream(seed, Stream::Arrivals),
            departures: rng::stream(seed, Stream::Departures),
            crossings: rng::stream(seed, Stream::Crossings),
            dt_s,
            aircraft: 0,
            vehicles: 0,
        }
    }

    /// Seconds as whole ticks, at least one.
    pub fn ticks(&self, s: f64) -> u64 {
        (s / self.dt_s).round().max(1.0) as u64
    }

    /// Ticks as seconds.
    pub fn seconds(&self, ticks: u64) -> f64 {
        ticks as f64 * self.dt_s
    }

    /// A draw of the gap to the next event of a Poisson stream, in whole ticks (at least one;
    /// `u64::MAX` for a rate of zero).
    fn gap(rng: &mut ChaCha8Rng, per_hour: f64, dt_s: f64) -> u64 {
        let s = rng::exponential(rng, per_hour / 3600.0);
        if s.is_finite() { (s / dt_s).round().max(1.0) as u64 } else { u64::MAX }
    }

    fn between(rng: &mut ChaCha8Rng, min_s: f64, max_s: f64, dt_s: f64) -> u64 {
        let s = min_s + (max_s - min_s) * rng::uniform(rng);
        (s / dt_s).round().max(1.0) as u64
    }

    /// The gap to the next arrival, ticks.
    pub fn arrival_gap(&mut self, spec: &AirportSpec) -> u64 {
        Self::gap(&mut self.arrivals, spec.arrivals_per_hour, self.dt_s)
    }

    /// The gap to the next departure, ticks.
    pub fn departure_gap(&mut self, spec: &AirportSpec) -> u64 {
        Self::gap(&mut self.departures, spec.departures_per_hour, self.dt_s)
    }

    /// The gap to the next crossing request, ticks.
    pub fn crossing_gap(&mut self, spec: &AirportSpec) -> u64 {
        Self::gap(&mut self.crossings, spec.crossings_per_hour, self.dt_s)
    }

    /// A new arrival joining final at `tick`; its decision point is still to be set.
    pub fn arrival(&mut self, spec: &AirportSpec, tick: u64) -> Approach {
        self.aircraft += 1;
        let dt = self.dt_s;
        Approach {
            callsign: format!("SKY{:04}", self.aircraft % 10_000),
            since: tick,
            due: tick,
            roll: Self::between(&mut self.arrivals, spec.landing_s_min, spec.landing_s_max, dt),
            missed: Self::between(&mut self.arrivals, spec.missed_approach_s_min, spec.missed_approach_s_max, dt),
            go_arounds: 0,
        }
    }

    /// A new departure reaching the holding point at `tick`.
    pub fn departure(&mut self, spec: &AirportSpec, tick: u64) -> Waiting {
        self.aircraft += 1;
        Waiting {
            id: format!("SKY{:04}", self.aircraft % 10_000),
            since: tick,
            occupancy: Self::between(&mut self.departures, spec.takeoff_s_min, spec.takeoff_s_max, self.dt_s),
        }
    }

    /// A new vehicle asking to cross at `tick`.
    pub fn crossing(&mut self, spec: &AirportSpec, tick: u64) -> Waiting {
        self.vehicles += 1;
        Waiting {
            id: format!("TUG{:03}", self.vehicles % 1_000),
            since: tick,
            occupancy: Self::between(&mut self.crossings, spec.crossing_s_min, spec.crossing_s_max, self.dt_s),
        }
    }

    /// Feeds the streams' positions and the counters into a digest.
    pub fn digest(&self, hasher: &mut sha2::Sha256) {
        use sha2::Digest;
        for rng in [&self.arrivals, &self.departures, &self.crossings] {
            hasher.update(rng.get_word_pos().to_le_bytes());
        }
        hasher.update(self.aircraft.to_le_bytes());
        hasher.update(self.vehicles.to_le_bytes());
    }
}

/// What kind of thing moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MoverKind {
    /// An aircraft that will land.
    Arrival,
    /// An aircraft that will take off.
    Departure,
    /// A ground vehicle that will cross.
    Vehicle,
}

/// Where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Phase {
    /// On final, not yet cleared.
    OnFinal,
    /// Flying a missed-approach circuit.
    Circling,
    /// Cleared to land, on the runway until it vacates.
    Landing,
    /// Queued at the holding point.
    HoldingPoint,
    /// Cleared for take-off, on the runway.
    TakingOff,
    /// Waiting to cross.
    Waiting,
    /// Cleared to cross, on the runway.
    Crossing,
}

/// One aircraft or vehicle, for a dashboard: what it is, where, and how far along.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mover {
    /// Callsign or vehicle id.
    pub id: String,
    /// What it is.
    pub kind: MoverKind,
    /// The runway it is for.
    pub runway: String,
    /// Where it is.
    pub phase: Phase,
    /// How far through its phase, 0..=1 (a queue: 0).
    pub progress: f64,
    /// Seconds left in its phase (until the decision point, rejoining, vacating); None in a queue.
    pub remaining_s: Option<f64>,
    /// Its place in a queue, from 0 (the holding point, the crossing, final).
    pub position: Option<usize>,
}
