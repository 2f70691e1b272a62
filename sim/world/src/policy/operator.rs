//! The operator's orders: closures a person ordered (from the dashboard of a traffic-management
//! centre), which the role's primary carries out as its own fenced commands.
//!
//! An operator is not a controller. If the dashboard commanded the actuator itself it would be a
//! second controller of the role — the split brain fencing exists to prevent. So an order is an
//! *input*, like a loop summary: the operator writes it to a small node in the coordinator
//! (`/operator/segments/<n>`, `/operator/runways/<id>`, see `skyway_sim::live::paths`); the
//! role's primary reads it on every command tick and puts it on top of its own decisions; the
//! command it sends carries its token; the actuator and the world judge it like any other. A new
//! primary reads the same node, so a closure outlives a failover; deleting the node (or the lane
//! from it) reopens.
//!
//! - A segment: [`SegmentOperatorOrder`], the lanes the operator closed, each over the whole
//!   segment. [`crate::policy::segment::SegmentPolicy::decide_with_operator`] adds them to its
//!   own order and never takes them for its own (so a reopened lane is not held closed by a
//!   primary that adopted it from a summary after a failover).
//! - A runway: [`RunwayOperatorOrder`], closed while the node exists. The tower
//!   ([`crate::policy::tower::TowerPolicy::decide_with_operator`]) closes an open runway the
//!   operator closed, and opens a closed runway the operator no longer holds closed (only the
//!   operator closes runways).
//!
//! Caveats: the order is carried out at the primary's next command tick, not at once; and an
//! order that would close every lane of a segment is refused by whoever writes it (the world
//! would refuse the command), see [`SegmentOperatorOrder::check`].

use serde::{Deserialize, Serialize};

/// One lane the operator closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorClosure {
    /// The lane (1 = rightmost), closed over the whole segment.
    pub lane: u8,
    /// Who ordered it (`dashboard`, an operator's name).
    pub by: String,
    /// When, ms since the Unix epoch.
    pub at_unix_ms: u64,
}

/// The operator's order for one segment: the value of `/operator/segments/<n>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentOperatorOrder {
    /// The lanes closed, ascending by lane, each once.
    pub closed: Vec<OperatorClosure>,
}

impl SegmentOperatorOrder {
    /// The lanes closed, ascending.
    pub fn lanes(&self) -> Vec<u8> {
        self.closed.iter().map(|c| c.lane).collect()
    }

    /// Whether `lane` is closed by this order.
    pub fn closes(&self, lane: u8) -> bool {
        self.closed.iter().any(|c| c.lane == lane)
    }

    /// The order with `lane` closed too (by `by`, at `at_unix_ms`); unchanged if it already was.
    pub fn with_closed(mut self, lane: u8, by: &str, at_unix_ms: u64) -> Self {
        if !self.closes(lane) {
            self.closed.push(OperatorClosure { lane, by: by.to_string(), at_unix_ms });
            self.closed.sort_by_key(|c| c.lane);
        }
        self
    }

    /// The order with `lane` reopened (no longer closed by the operator).
    pub fn with_reopened(mut self, lane: u8) -> Self {
        self.closed.retain(|c| c.lane != lane);
        self
    }

    /// Whether this order may be given on a road of `lanes` lanes: every lane exists, and at
    /// least one stays open.
    pub fn check(&self, lanes: u8) -> Result<(), String> {
        if let Some(c) = self.closed.iter().find(|c| c.lane == 0 || c.lane > lanes) {
            return Err(format!("there is no lane {}: this road has lanes 1..={lanes}", c.lane));
        }
        if self.closed.len() >= usize::from(lanes) {
            return Err(format!("that would close all {lanes} lanes: keep at least one lane open"));
        }
        Ok(())
    }
}

/// The operator's order for one runway: the value of `/operator/runways/<id>`, which exists only
/// while the operator holds the runway closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunwayOperatorOrder {
    /// Who closed it.
    pub by: String,
    /// When, ms since the Unix epoch.
    pub at_unix_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_are_closed_once_and_reopened_by_lane() {
        let order = SegmentOperatorOrder::default().with_closed(2, "dashboard", 5).with_closed(1, "dashboard", 7);
        assert_eq!(order.lanes(), [1, 2]);
        let again = order.clone().with_closed(2, "someone else", 9);
        assert_eq!(again, order, "closing a closed lane changes nothing, not even who closed it");
        assert_eq!(order.clone().with_reopened(2).lanes(), [1]);
        assert!(order.with_reopened(2).with_reopened(1).closed.is_empty());
    }

    #[test]
    fn an_order_names_real_lanes_and_leaves_one_open() {
        let one = SegmentOperatorOrder::default().with_closed(2, "dashboard", 1);
        assert_eq!(one.check(3), Ok(()));
        assert!(one.check(1).unwrap_err().contains("no lane 2"));
        let all = one.with_closed(1, "dashboard", 2);
        assert!(all.check(2).unwrap_err().contains("keep at least one lane open"));
    }

    #[test]
    fn the_node_reads_as_json_and_refuses_what_it_does_not_know() {
        let text = r#"{"closed":[{"lane":2,"by":"dashboard","at_unix_ms":17}]}"#;
        let order: SegmentOperatorOrder = serde_json::from_str(text).unwrap();
        assert_eq!(order.lanes(), [2]);
        assert_eq!(serde_json::to_string(&order).unwrap(), text);
        assert!(serde_json::from_str::<SegmentOperatorOrder>(r#"{"closed":[],"open":[1]}"#).is_err());
        let runway: RunwayOperatorOrder = serde_json::from_str(r#"{"by":"dashboard","at_unix_ms":3}"#).unwrap();
        assert_eq!(runway.by, "dashboard");
    }
}
