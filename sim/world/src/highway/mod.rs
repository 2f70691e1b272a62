//! The highway. (Interface in place; the model is being built: see the module docs to come.)
//!
//! Contract with [`crate::world`]:
//! - [`HighwaySpec`] is the `[highway]` table of a scenario, with `validate()` naming the
//!   field (relative to `highway.`) and the reason.
//! - [`Highway::new`], [`Highway::step`] (one tick: events, and the segment summaries whose loop
//!   period ended), [`Highway::apply`] (a segment's order), [`Highway::segments`],
//!   [`Highway::stats`], [`Highway::check_invariants`], [`Highway::digest`].

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Refusal;
use crate::summary::SegmentSummary;

/// The `[highway]` table of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HighwaySpec {
    /// Length of the road, metres.
    pub length_m: f64,
    /// Lanes.
    pub lanes: u8,
    /// Length of a segment, metres.
    pub segment_length_m: f64,
}

impl HighwaySpec {
    /// Checks every value: `Err((field, reason))`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.length_m.is_nan() || self.length_m <= 0.0 {
            return Err(("length_m".into(), format!("{} m: a road must be longer than 0 m", self.length_m)));
        }
        Ok(())
    }
}

/// A segment controller's order: the whole desired state of its segment (level-triggered, so
/// sending it again changes nothing). Text form: `limit=80 closed=2` or `limit=none closed=none`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SegmentOrder {
    /// The speed limit, km/h; None: the road's default.
    pub speed_limit_kmh: Option<u32>,
    /// Lanes to keep closed (1 = rightmost), ascending.
    pub closed_lanes: Vec<u8>,
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
                Some(("closed", "none")) => order.closed_lanes.clear(),
                Some(("closed", v)) => {
                    order.closed_lanes =
                        v.split(',').map(|l| l.parse::<u8>()).collect::<Result<_, _>>().map_err(|_| {
                            Refusal::new(format!("bad segment order {text:?}: closed=1,2 or closed=none"))
                        })?;
                    order.closed_lanes.sort_unstable();
                    order.closed_lanes.dedup();
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
            write!(f, " closed=none")
        } else {
            let lanes: Vec<String> = self.closed_lanes.iter().map(u8::to_string).collect();
            write!(f, " closed={}", lanes.join(","))
        }
    }
}

/// Something that happened on the road.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Event {
    /// A segment's order took effect.
    OrderApplied {
        /// The segment.
        segment: u32,
        /// The order.
        order: SegmentOrder,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::OrderApplied { segment, order } => write!(f, "segment {segment}: {order}"),
        }
    }
}

/// The road's counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HighwayStats {
    /// Vehicles on the road now.
    pub vehicles: u64,
}

/// The road and everything on it.
pub struct Highway {
    spec: HighwaySpec,
}

impl Highway {
    /// A road for `spec`, ticking `dt_s` seconds, random streams from `seed`.
    pub fn new(spec: &HighwaySpec, _dt_s: f64, _seed: u64) -> Result<Self, (String, String)> {
        spec.validate()?;
        Ok(Self { spec: spec.clone() })
    }

    /// How many segments.
    pub fn segments(&self) -> u32 {
        (self.spec.length_m / self.spec.segment_length_m).ceil() as u32
    }

    /// Obeys a segment's order.
    pub fn apply(
        &mut self,
        segment: u32,
        order: &SegmentOrder,
        _now_s: f64,
        events: &mut Vec<Event>,
    ) -> Result<(), Refusal> {
        events.push(Event::OrderApplied { segment, order: order.clone() });
        Ok(())
    }

    /// Advances one tick.
    pub fn step(&mut self, _tick: u64, _events: &mut Vec<Event>, _summaries: &mut Vec<SegmentSummary>) {}

    /// Counters.
    pub fn stats(&self) -> HighwayStats {
        HighwayStats::default()
    }

    /// The invariants; the first broken one.
    pub fn check_invariants(&self) -> Result<(), String> {
        Ok(())
    }

    /// Feeds the state into a digest.
    pub fn digest(&self, hasher: &mut Sha256) {
        hasher.update(self.spec.length_m.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_orders_round_trip() {
        for text in ["limit=80 closed=2", "limit=none closed=none", "limit=100 closed=1,3"] {
            assert_eq!(SegmentOrder::parse(text).unwrap().to_string(), text);
        }
        assert!(SegmentOrder::parse("slow down").is_err());
        assert!(SegmentOrder::parse("limit=fast").is_err());
    }
}
