//! The highway: a multi-lane road split into segments, cars and trucks that follow the
//! Intelligent Driver Model and change lanes by MOBIL, ramps, seeded demand, incidents, lane
//! closures, speed limits and induction loops.
//!
//! - [`spec`]: the `[highway]` table ([`HighwaySpec`]), validated.
//! - [`driver`]: per-driver parameters, the IDM and MOBIL.
//! - [`demand`]: seeded arrivals at the entries, queued until there is a gap.
//! - [`loops`]: induction loops with SUMO E1 semantics.
//! - [`road`]: [`Highway`], the road and everything on it, stepped one tick at a time.
//!
//! Contract with [`crate::world`]: [`Highway::new`], [`Highway::step`] (one tick: events, and the
//! segment summaries whose loop period ended), [`Highway::apply`] (a segment's
//! [`SegmentOrder`]), [`Highway::segments`], [`Highway::stats`], [`Highway::check_invariants`],
//! [`Highway::digest`]; and [`Highway::vehicles`], the floating-car view for tests and plots.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Refusal;

pub mod demand;
pub mod driver;
#[cfg(test)]
mod golden;
pub mod loops;
pub mod road;
pub mod spec;

pub use road::Highway;
pub use spec::{HighwaySpec, IncidentSpec, OffRampSpec, OnRampSpec, RoadKind};

/// A segment controller's order: the whole desired state of its segment (level-triggered, so
/// sending it again changes nothing). Text form: `limit=80 closed=2` (lane 2 closed over the
/// whole segment), `limit=60 closed=2@400-875` (lane 2 closed from 400 m to 875 m into the
/// segment) or `limit=none closed=none`. An order may say what its limit and closures rest on
/// (`why=limit:cam-4,2:cam-3`: the limit was lowered on camera cam-4's word, lane 2 is closed
/// for cam-3's stalled-vehicle alarm); the world obeys an order the same with or without it, so
/// it is there for the audit trail and the people reading it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SegmentOrder {
    /// The speed limit, km/h; None: the road's default.
    pub speed_limit_kmh: Option<u32>,
    /// Lanes to keep closed (1 = rightmost), ascending.
    pub closed_lanes: Vec<u8>,
    /// Closed lanes closed over a stretch only, ascending by lane; a closed lane without one is
    /// closed over the whole segment.
    #[serde(default)]
    pub stretches: Vec<ClosedStretch>,
    /// What the limit and the closures rest on, where it is not the loops (attribution only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub why: Vec<Cause>,
}

/// What one part of an order rests on: `limit:cam-4` or `2:cam-3` in the text form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Cause {
    /// The part of the order.
    pub part: OrderPart,
    /// Who saw the reason for it: a camera's id (`cam-3`).
    pub source: String,
}

/// A part of a [`SegmentOrder`] a [`Cause`] is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderPart {
    /// The speed limit.
    Limit,
    /// A lane's closure.
    Lane(u8),
}

/// Longest source named in a [`Cause`].
pub const CAUSE_SOURCE_MAX: usize = 32;

impl Cause {
    /// The cause of a lane's closure.
    pub fn lane(lane: u8, source: &str) -> Self {
        Self { part: OrderPart::Lane(lane), source: source.to_string() }
    }

    /// The cause of the limit.
    pub fn limit(source: &str) -> Self {
        Self { part: OrderPart::Limit, source: source.to_string() }
    }

    fn parse(item: &str) -> Option<Self> {
        let (part, source) = item.split_once(':')?;
        let part = match part {
            "limit" => OrderPart::Limit,
            lane => OrderPart::Lane(lane.parse::<u8>().ok().filter(|l| *l >= 1)?),
        };
        let ok = !source.is_empty()
            && source.len() <= CAUSE_SOURCE_MAX
            && source.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        ok.then(|| Self { part, source: source.to_string() })
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.part {
            OrderPart::Limit => write!(f, "limit:{}", self.source),
            OrderPart::Lane(lane) => write!(f, "{lane}:{}", self.source),
        }
    }
}

/// A lane closed over part of a segment only: from `from_m` to `to_m`, metres from the segment's
/// start (a taper that ends beyond a blockage, so drivers merge before it and use the lane again
/// after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedStretch {
    /// The lane (1 = rightmost).
    pub lane: u8,
    /// Where the closure starts, metres from the segment's start.
    pub from_m: u32,
    /// Where it ends, metres from the segment's start (beyond `from_m`).
    pub to_m: u32,
}

impl SegmentOrder {
    /// The stretch lane `lane` is closed over, if it is closed over part of the segment only.
    pub fn stretch(&self, lane: u8) -> Option<ClosedStretch> {
        self.stretches.iter().find(|s| s.lane == lane).copied()
    }
}

fn parse_closed(v: &str) -> Option<(Vec<u8>, Vec<ClosedStretch>)> {
    let (mut lanes, mut stretches) = (Vec::new(), Vec::new());
    for item in v.split(',') {
        match item.split_once('@') {
            None => lanes.push(item.parse::<u8>().ok()?),
            Some((lane, range)) => {
                let lane = lane.parse::<u8>().ok()?;
                let (from, to) = range.split_once('-')?;
                let (from_m, to_m) = (from.parse::<u32>().ok()?, to.parse::<u32>().ok()?);
                if from_m >= to_m {
                    return None;
                }
                lanes.push(lane);
                stretches.push(ClosedStretch { lane, from_m, to_m });
            }
        }
    }
    lanes.sort_unstable();
    lanes.dedup();
    stretches.sort_by_key(|s| s.lane);
    if stretches.windows(2).any(|w| w[0].lane == w[1].lane) {
        return None;
    }
    Some((lanes, stretches))
}

impl SegmentOrder {
    /// Parses the text form.
    pub fn parse(text: &str) -> Result<Self, Refusal> {
        let mut order = SegmentOrder::default();
        for word in text.split_whitespace() {
            match word.split_once('=') {
                Some(("limit", "none")) => order.speed_limit_kmh = None,
                Some(("limit", v)) => {
                    order.speed_limit_kmh =
                        Some(v.parse().map_err(|_| {
                            Refusal::new(format!("bad segment order {text:?}: limit must be km/h or none"))
                        })?)
                }
                Some(("closed", "none")) => {
                    order.closed_lanes.clear();
                    order.stretches.clear();
                }
                Some(("closed", v)) => {
                    (order.closed_lanes, order.stretches) = parse_closed(v).ok_or_else(|| {
                        Refusal::new(format!(
                            "bad segment order {text:?}: closed=1,2, closed=2@400-1000 (metres into the segment) \
                             or closed=none"
                        ))
                    })?;
                }
                Some(("why", v)) => {
                    order.why = v.split(',').map(Cause::parse).collect::<Option<Vec<_>>>().ok_or_else(|| {
                        Refusal::new(format!(
                            "bad segment order {text:?}: why=limit:cam-4,2:cam-3 (the limit or a lane, then who \
                             saw it: 1..={CAUSE_SOURCE_MAX} letters, digits, '-' or '_')"
                        ))
                    })?;
                    order.why.sort();
                    order.why.dedup();
                }
                _ => {
                    return Err(Refusal::new(format!(
                        "bad segment order {text:?}: expected e.g. \"limit=80 closed=2\""
                    )));
                }
            }
        }
        Ok(order)
    }
}

impl fmt::Display for SegmentOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.speed_limit_kmh {
            Some(limit) => write!(f, "limit={limit}")?,
            None => write!(f, "limit=none")?,
        }
        if self.closed_lanes.is_empty() {
            write!(f, " closed=none")?;
        } else {
            let lanes: Vec<String> = self
                .closed_lanes
                .iter()
                .map(|l| match self.stretch(*l) {
                    Some(s) => format!("{l}@{}-{}", s.from_m, s.to_m),
                    None => l.to_string(),
                })
                .collect();
            write!(f, " closed={}", lanes.join(","))?;
        }
        if !self.why.is_empty() {
            let why: Vec<String> = self.why.iter().map(Cause::to_string).collect();
            write!(f, " why={}", why.join(","))?;
        }
        Ok(())
    }
}

/// Something that happened on the road (sparse: never per vehicle per tick).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Event {
    /// A segment's order took effect (it changed something).
    OrderApplied {
        /// The segment.
        segment: u32,
        /// The order.
        order: SegmentOrder,
    },
    /// A segment's speed limit changed.
    LimitChanged {
        /// The segment.
        segment: u32,
        /// The limit before, km/h (None: the road's own).
        from: Option<u32>,
        /// The limit now.
        to: Option<u32>,
    },
    /// A lane of a segment was closed.
    LaneClosed {
        /// The segment.
        segment: u32,
        /// The lane (1 = rightmost).
        lane: u8,
    },
    /// A closed lane of a segment was reopened.
    LaneReopened {
        /// The segment.
        segment: u32,
        /// The lane.
        lane: u8,
    },
    /// A vehicle stalled.
    StallStarted {
        /// The vehicle.
        vehicle: u32,
        /// Its lane.
        lane: u8,
        /// Where, metres.
        position_m: f64,
    },
    /// A stalled vehicle drove on (or was towed).
    StallCleared {
        /// The vehicle.
        vehicle: u32,
        /// Its lane.
        lane: u8,
        /// Where, metres.
        position_m: f64,
    },
}

fn limit_text(limit: &Option<u32>) -> String {
    limit.map_or("none".to_string(), |l| l.to_string())
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::OrderApplied { segment, order } => write!(f, "segment {segment}: {order}"),
            Event::LimitChanged { segment, from, to } => {
                write!(f, "segment {segment} limit {} (was {})", limit_text(to), limit_text(from))
            }
            Event::LaneClosed { segment, lane } => write!(f, "segment {segment} lane {lane} closed"),
            Event::LaneReopened { segment, lane } => write!(f, "segment {segment} lane {lane} reopened"),
            Event::StallStarted { vehicle, lane, position_m } => {
                write!(f, "stall v{vehicle} lane {lane} at {position_m:.0} m")
            }
            Event::StallCleared { vehicle, lane, position_m } => {
                write!(f, "stall cleared v{vehicle} lane {lane} at {position_m:.0} m")
            }
        }
    }
}

/// The road's counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HighwayStats {
    /// Vehicles that entered the road (a ring's vehicles count as entered at the start).
    pub entered: u64,
    /// Vehicles that left it (end of road or an off-ramp).
    pub exited: u64,
    /// Vehicles on the road now.
    pub present: u64,
    /// Vehicles waiting at the entries for a gap.
    pub waiting: u64,
    /// Arrivals turned away because an entry's queue was full.
    pub turned_away: u64,
    /// Vehicles that wanted an off-ramp but could not reach the rightmost lane in time.
    pub missed_exits: u64,
    /// Braking episodes beyond `hard_braking_mps2`.
    pub hard_brakings: u64,
    /// Times a move had to be cut short to keep a vehicle behind its leader (should be rare).
    pub clamped_moves: u64,
    /// Lane changes made.
    pub lane_changes: u64,
    /// Vehicle updates done (vehicles × ticks).
    pub vehicle_updates: u64,
    /// Vehicles stalled now.
    pub stalled: u64,
    /// Mean speed of the vehicles on the road now, km/h (0 if none).
    pub mean_speed_kmh: f64,
}

/// What kind of vehicle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VehicleKind {
    /// A car.
    Car,
    /// A truck.
    Truck,
}

/// One vehicle as seen from outside (the floating-car view).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VehicleView {
    /// Its id, unique over the run.
    pub id: u32,
    /// Its lane (1 = rightmost).
    pub lane: u8,
    /// Its front bumper, metres from the road's start.
    pub position_m: f64,
    /// Its speed, m/s.
    pub speed_mps: f64,
    /// Its length, metres.
    pub length_m: f64,
    /// Car or truck.
    pub kind: VehicleKind,
    /// Whether it is stalled.
    pub stalled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_orders_round_trip() {
        for text in
            ["limit=80 closed=2", "limit=none closed=none", "limit=100 closed=1,3", "limit=60 closed=1,2@400-875"]
        {
            assert_eq!(SegmentOrder::parse(text).unwrap().to_string(), text);
        }
        assert!(SegmentOrder::parse("slow down").is_err());
        assert!(SegmentOrder::parse("limit=fast").is_err());
        assert!(SegmentOrder::parse("closed=2@900-400").is_err(), "a stretch ends beyond its start");
        assert!(SegmentOrder::parse("closed=2@1-5,2@6-9").is_err(), "one stretch a lane");
        let whole = SegmentOrder::parse("limit=80 closed=2").unwrap();
        assert_eq!((whole.closed_lanes, whole.stretches), (vec![2], vec![]), "a bare lane is the whole segment");
        let part = SegmentOrder::parse("closed=2@400-1000").unwrap();
        assert_eq!(part.stretch(2), Some(ClosedStretch { lane: 2, from_m: 400, to_m: 1000 }));
    }

    #[test]
    fn an_order_says_what_it_rests_on() {
        let text = "limit=60 closed=2@100-610 why=limit:cam-4,2:cam-3";
        let order = SegmentOrder::parse(text).unwrap();
        assert_eq!(order.to_string(), text);
        assert_eq!(order.why, [Cause::limit("cam-4"), Cause::lane(2, "cam-3")]);
        let bare = SegmentOrder::parse("limit=60 closed=2@100-610").unwrap();
        assert_eq!(
            (&bare.closed_lanes, &bare.stretches, bare.speed_limit_kmh),
            (&order.closed_lanes, &order.stretches, order.speed_limit_kmh)
        );
        for bad in ["why=", "why=2", "why=0:cam-1", "why=2:", "why=2:cam 3", "why=speed:cam-1", "why=2:cam-1;rm"] {
            assert!(SegmentOrder::parse(&format!("limit=none closed=2 {bad}")).is_err(), "{bad} accepted");
        }
    }
}
