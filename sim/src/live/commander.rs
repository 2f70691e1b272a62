//! The controllers' side of the loop: the world's pure policies ([`skyway_world::policy`])
//! behind the controller's generic [`Commander`]. A segment's primary reads its own segment's
//! loop summary and the next one downstream; a runway's primary reads the runway's state. Each
//! new term starts a new policy from what it reads: status first, then act.
//!
//! Cameras add to the loops: a segment's primary also reads its camera's analysis
//! (`/analysis/cam-N`, see `skyway_collector::record`), and a stalled-vehicle alarm there closes
//! the alarmed lane from 500 m before the vehicle to 10 m past it, on top of whatever the loop
//! policy decided ([`with_camera`]). The closure lasts as long as the alarm does (orders are
//! level-triggered), is never added from a result older than a minute of world time or from a
//! model still warming up, and never closes the last open lane. Congestion from the cameras does
//! not move the limits: the loop summaries still do that.
//!
//! The operator's orders come on top of both: a segment's primary also reads
//! `/operator/segments/<n>` and a runway's `/operator/runways/<id>` ([`paths::operator_segment`],
//! [`skyway_world::policy::operator`]), and carries out the closures there as its own commands,
//! under its own token. A malformed order is ignored (and logged), like a malformed summary.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use skyway_controller::commander::{Commander, RoleCommander};
use skyway_world::Target;
use skyway_world::highway::SegmentOrder;
use skyway_world::policy::operator::{RunwayOperatorOrder, SegmentOperatorOrder};
use skyway_world::policy::segment::SegmentPolicy;
use skyway_world::policy::tower::TowerPolicy;
use skyway_world::summary::{RunwaySummary, SegmentSummary};

use skyway_collector::record::{self, AnalysisRecord};
use skyway_world::highway::ClosedStretch;

use super::paths;

/// How far before a stalled vehicle a camera's closure starts, metres.
pub const CAMERA_TAPER_M: f64 = 500.0;
/// The oldest analysis (world seconds before the segment's summary) that still closes a lane.
pub const CAMERA_STALE_S: f64 = 60.0;

/// Segment and tower decisions from the summaries under `/world`.
#[derive(Debug, Default, Clone, Copy)]
pub struct WorldCommander;

impl Commander for WorldCommander {
    fn inputs(&self, role: &str) -> Vec<String> {
        match Target::of_role(role) {
            Ok(Target::Segment(n)) => {
                vec![
                    paths::segment(n),
                    paths::segment(n + 1),
                    record::analysis_path(&format!("cam-{n}")),
                    paths::operator_segment(n),
                ]
            }
            Ok(Target::Runway(id)) => vec![paths::runway(&id), paths::operator_runway(&id)],
            Err(_) => Vec::new(),
        }
    }

    fn start(&self, role: &str, token: u64) -> Box<dyn RoleCommander> {
        match Target::of_role(role) {
            Ok(Target::Segment(n)) => Box::new(SegmentTerm { policy: SegmentPolicy::new(n) }),
            Ok(Target::Runway(id)) => Box::new(TowerTerm { policy: TowerPolicy::new(id, token) }),
            Err(refusal) => {
                tracing::error!(role, "this role means nothing to the world: {refusal}");
                Box::new(Silent)
            }
        }
    }
}

/// A summary from a node's bytes; a malformed one is treated as missing (and logged), so a
/// primary never acts on what it cannot read.
fn parse<T: DeserializeOwned>(input: Option<&Option<Bytes>>) -> Option<T> {
    let bytes = input?.as_ref()?;
    match serde_json::from_slice(bytes) {
        Ok(value) => Some(value),
        Err(e) => {
            tracing::warn!("ignoring a malformed summary: {e}");
            None
        }
    }
}

struct SegmentTerm {
    policy: SegmentPolicy,
}

impl RoleCommander for SegmentTerm {
    fn next(&mut self, inputs: &[Option<Bytes>]) -> Option<String> {
        let downstream: Vec<SegmentSummary> = parse(inputs.get(1)).into_iter().collect();
        let downstream: Vec<&SegmentSummary> = downstream.iter().collect();
        let camera: Option<AnalysisRecord> = parse(inputs.get(2));
        let operator = parse::<SegmentOperatorOrder>(inputs.get(3)).map(|o| o.lanes()).unwrap_or_default();
        match parse::<SegmentSummary>(inputs.first()) {
            Some(own) => {
                let order = self.policy.decide_with_operator(&own, &downstream, &operator);
                let lanes = own.loops.first().map_or(0, |l| l.lanes.len() as u8);
                Some(with_camera(order, camera.as_ref(), own.period_end_s, lanes).to_string())
            }
            // Before the segment's first loop period ends there is nothing to judge: the road's
            // defaults (nothing can have been changed yet, since every change follows a summary),
            // with the operator's closures.
            None => Some(SegmentOrder { closed_lanes: operator, ..SegmentOrder::default() }.to_string()),
        }
    }
}

/// The loop policy's order with the camera's stalled-vehicle alarms closing their lanes.
pub fn with_camera(mut order: SegmentOrder, camera: Option<&AnalysisRecord>, now_s: f64, lanes: u8) -> SegmentOrder {
    let Some(analysis) = camera else { return order };
    if analysis.warming_up || analysis.world_time_s < now_s - CAMERA_STALE_S {
        return order;
    }
    for alarm in &analysis.result.stalled {
        let open = (1..=lanes).filter(|l| !order.closed_lanes.contains(l)).count();
        if order.closed_lanes.contains(&alarm.lane) || open <= 1 || alarm.lane == 0 || alarm.lane > lanes {
            continue;
        }
        let from_m = (alarm.position_m - CAMERA_TAPER_M).max(0.0) as u32;
        let to_m = (alarm.position_m + 10.0).max(f64::from(from_m) + 1.0) as u32;
        order.closed_lanes.push(alarm.lane);
        order.closed_lanes.sort_unstable();
        order.stretches.push(ClosedStretch { lane: alarm.lane, from_m, to_m });
        order.stretches.sort_by_key(|s| s.lane);
    }
    order
}

struct TowerTerm {
    policy: TowerPolicy,
}

impl RoleCommander for TowerTerm {
    fn next(&mut self, inputs: &[Option<Bytes>]) -> Option<String> {
        let summary: Option<RunwaySummary> = parse(inputs.first());
        // The node exists while the operator holds the runway closed; a malformed one is
        // logged and counts as present (the safe reading: nothing is cleared onto it).
        let operator_closed = inputs.get(1).is_some_and(|v| v.is_some());
        if operator_closed && parse::<RunwayOperatorOrder>(inputs.get(1)).is_none() {
            tracing::warn!(
                runway = self.policy.runway(),
                "the operator's runway order is malformed: keeping it closed"
            );
        }
        Some(self.policy.decide_with_operator(summary.as_ref(), operator_closed))
    }
}

struct Silent;

impl RoleCommander for Silent {
    fn next(&mut self, _inputs: &[Option<Bytes>]) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use skyway_collector::{AnalysisResult, StalledAlarm};

    use super::*;

    fn analysis(world_time_s: f64, warming_up: bool, stalled: &[(u8, f64)]) -> AnalysisRecord {
        AnalysisRecord {
            analyzer: "a1".into(),
            token: 7,
            first_seq: 0,
            seq: 25,
            world_time_s,
            capture_wall_ms: 0,
            frames: 25,
            warming_up,
            result: AnalysisResult {
                camera: "cam-2".into(),
                first_frame: 0,
                frame: 25,
                lanes: Vec::new(),
                stalled: stalled
                    .iter()
                    .map(|&(lane, position_m)| StalledAlarm { lane, position_m, raised_frame: 1, seen_frame: 25 })
                    .collect(),
            },
        }
    }

    /// Segment 2's summary as the world publishes it: three free-flowing lanes, `closed` closed.
    fn segment_2(period_end_s: f64, closed: &[u8]) -> Bytes {
        let lanes = (1..=3u8)
            .map(|lane| {
                let open = !closed.contains(&lane);
                skyway_world::summary::LaneReading {
                    lane,
                    count: if open { 12 } else { 0 },
                    flow_vph: if open { 1440.0 } else { 0.0 },
                    occupancy_pct: if open { 8.0 } else { 0.0 },
                    mean_speed_kmh: open.then_some(110.0),
                }
            })
            .collect::<Vec<_>>();
        let summary = SegmentSummary {
            segment: 2,
            period_end_s,
            period_s: 30.0,
            speed_limit_kmh: None,
            closed_lanes: closed.to_vec(),
            stretches: Vec::new(),
            length_m: 1000.0,
            start_m: 1000.0,
            loops: [1100.0, 1900.0]
                .iter()
                .map(|&position_m| skyway_world::summary::LoopReading {
                    id: format!("loop-{position_m}"),
                    position_m,
                    lanes: lanes.clone(),
                })
                .collect(),
        };
        Bytes::from(serde_json::to_vec(&summary).expect("a summary serializes"))
    }

    #[test]
    fn every_new_primary_sends_the_operators_closure_under_its_own_token_first() {
        // The browser test's sequence: the operator closes lane 2 of segment/2 while c1 (#21) is
        // primary; c1 hands the role over to c2 (#46) to spread the roles; c2 is killed and c3
        // (#58) takes over. The summary shows lane 2 closed by then, and the operator's node
        // still holds it: every term's first command (and every one after) closes lane 2, so
        // the actuator and the world hold the closure under the newest token.
        let order = SegmentOperatorOrder::default().with_closed(2, "dashboard", 1);
        let operator = Some(Bytes::from(serde_json::to_vec(&order).expect("an order serializes")));
        let inputs = |own: Option<Bytes>| [own, None, None, operator.clone()];
        assert_eq!(
            WorldCommander.inputs("segment/2")[3],
            paths::operator_segment(2),
            "the operator's node is the fourth input"
        );
        let mut c1 = WorldCommander.start("segment/2", 21);
        assert_eq!(c1.next(&inputs(None)).as_deref(), Some("limit=none closed=2"), "before any summary");
        assert_eq!(c1.next(&inputs(Some(segment_2(60.0, &[])))).as_deref(), Some("limit=none closed=2"));
        let mut c2 = WorldCommander.start("segment/2", 46);
        assert_eq!(c2.next(&inputs(Some(segment_2(90.0, &[2])))).as_deref(), Some("limit=none closed=2"));
        let mut c3 = WorldCommander.start("segment/2", 58);
        for t in [90.0, 120.0, 150.0] {
            assert_eq!(c3.next(&inputs(Some(segment_2(t, &[2])))).as_deref(), Some("limit=none closed=2"), "at {t}");
        }
        // Lifted: c3's next command reopens the lane (the closure was never c3's own).
        let lifted = [Some(segment_2(150.0, &[2])), None, None, None];
        assert_eq!(c3.next(&lifted).as_deref(), Some("limit=none closed=none"));
    }

    #[test]
    fn a_camera_alarm_closes_its_lane_upstream_of_the_vehicle() {
        let loops = SegmentOrder::parse("limit=80 closed=none").unwrap();
        let order = with_camera(loops.clone(), Some(&analysis(600.0, false, &[(2, 120.0)])), 610.0, 3);
        assert_eq!(order.to_string(), "limit=80 closed=2@0-130");
        let far = with_camera(loops.clone(), Some(&analysis(600.0, false, &[(1, 900.0)])), 610.0, 3);
        assert_eq!(far.to_string(), "limit=80 closed=1@400-910");
        // Nothing from a stale result, a warming-up model, no camera, or the last open lane.
        assert_eq!(with_camera(loops.clone(), Some(&analysis(500.0, false, &[(2, 120.0)])), 610.0, 3), loops);
        assert_eq!(with_camera(loops.clone(), Some(&analysis(600.0, true, &[(2, 120.0)])), 610.0, 3), loops);
        assert_eq!(with_camera(loops.clone(), None, 610.0, 3), loops);
        let one_open = SegmentOrder::parse("limit=80 closed=1").unwrap();
        assert_eq!(with_camera(one_open.clone(), Some(&analysis(600.0, false, &[(2, 120.0)])), 610.0, 2), one_open);
    }
}
