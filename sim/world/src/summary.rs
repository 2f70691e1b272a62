//! The small sensor summaries the world publishes to the coordinator: loop data per segment per
//! period, and each runway's state when it changes. Never per-vehicle data. These are the
//! controllers' only view of the world, so they are plain serde values (JSON in the coordinator).

use serde::{Deserialize, Serialize};

use crate::highway::ClosedStretch;

/// One segment's induction loops over one period (SUMO's E1 detector output, per lane).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentSummary {
    /// The segment, from 1.
    pub segment: u32,
    /// Simulated time at the end of the period, seconds.
    pub period_end_s: f64,
    /// The period's length, seconds.
    pub period_s: f64,
    /// The speed limit in force at the end of the period (None: the road's default).
    pub speed_limit_kmh: Option<u32>,
    /// Lanes closed at the end of the period (1 = the rightmost lane).
    pub closed_lanes: Vec<u8>,
    /// Of those, the ones closed over part of the segment only, and where.
    #[serde(default)]
    pub stretches: Vec<ClosedStretch>,
    /// The segment's length, metres (0: not known, from an older world).
    #[serde(default)]
    pub length_m: f64,
    /// Where the segment starts, metres from the road's start.
    #[serde(default)]
    pub start_m: f64,
    /// The segment's loops, upstream first.
    pub loops: Vec<LoopReading>,
}

/// One loop's reading over a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopReading {
    /// The loop's name (`s3-750` is 750 m into segment 3).
    pub id: String,
    /// Its position from the road's start, metres.
    pub position_m: f64,
    /// One reading per lane, lane 1 first.
    pub lanes: Vec<LaneReading>,
}

/// One lane at one loop over a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaneReading {
    /// The lane (1 = rightmost).
    pub lane: u8,
    /// Vehicles whose front crossed the loop.
    pub count: u32,
    /// `count` per hour.
    pub flow_vph: f64,
    /// Share of the period the loop was covered by a vehicle, percent.
    pub occupancy_pct: f64,
    /// Mean speed of the vehicles that crossed (arithmetic, as E1), km/h; None if none did.
    pub mean_speed_kmh: Option<f64>,
}

/// A runway's state, published whenever it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunwaySummary {
    /// The runway's designator.
    pub runway: String,
    /// Counts every change of this runway's state, from 1.
    pub seq: u64,
    /// Simulated time of the change, seconds.
    pub time_s: f64,
    /// Whether the runway is closed (no clearance may be given).
    pub closed: bool,
    /// Who is on the runway (cleared onto it and not yet off it); more than one is an incursion.
    pub occupants: Vec<Occupant>,
    /// Aircraft on final, nearest first.
    pub arrivals: Vec<Arrival>,
    /// Aircraft queued at the holding point, first in line first.
    pub departures: Vec<String>,
    /// Ground vehicles waiting to cross, first come first.
    pub crossings: Vec<String>,
    /// The highest claim token the world saw for this runway's role: a new primary waits for its
    /// own claim here before acting, so it has seen every command obeyed before its claim.
    pub claim_token: u64,
    /// The id of the last command the world applied for this runway (`#17`), if any.
    pub last_command: Option<String>,
}

/// Someone cleared onto a runway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Occupant {
    /// Callsign or vehicle id.
    pub id: String,
    /// What it is doing there: `landing`, `takeoff` or `crossing`.
    pub activity: String,
    /// When it was cleared, seconds.
    pub since_s: f64,
}

/// An aircraft on final approach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arrival {
    /// Its callsign.
    pub callsign: String,
    /// Seconds until its decision point: without a landing clearance by then it goes around.
    pub decision_in_s: f64,
}
