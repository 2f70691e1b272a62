//! The controllers' side of the loop: the world's pure policies ([`skyway_world::policy`])
//! behind the controller's generic [`Commander`]. A segment's primary reads its own segment's
//! loop summary and the next one downstream; a runway's primary reads the runway's state. Each
//! new term starts a new policy from what it reads: status first, then act.
//!
//! Cameras add to the loops ([`super::sightings`]): a segment's primary also reads its camera's
//! analysis and calibration (`/analysis/cam-N`, `/cameras/cam-N/calibration`) and the next
//! segment's camera's analysis. A stalled-vehicle alarm closes the alarmed lane from 500 m before
//! the vehicle to 10 m past it, on top of whatever the loop policy decided, and the command says
//! so (`why=2:cam-3`); the closure lasts as long as the alarm does (orders are level-triggered).
//! Both cameras' congestion (occupancy, density, queues) goes to the segment policy beside the
//! loops ([`SegmentPolicy::decide_with_cameras`]): the lower limit wins. A runway's primary
//! reads its runway camera's analysis (`/analysis/cam-rwy-<ID>`): while it alarms something
//! standing on the runway, nothing is cleared onto it ([`TowerPolicy::decide_with_camera`]).
//! Stale results (a minute of world time) and models still warming up count for nothing.
//!
//! The operator's orders come on top of both: a segment's primary also reads
//! `/operator/segments/<n>` and a runway's `/operator/runways/<id>` ([`paths::operator_segment`],
//! [`skyway_world::policy::operator`]), and carries out the closures there as its own commands,
//! under its own token. A malformed order is ignored (and logged), like a malformed summary.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use skyway_collector::record::{self, AnalysisRecord, Calibration};
use skyway_controller::commander::{Commander, RoleCommander};
use skyway_world::Target;
use skyway_world::highway::{Cause, OrderPart, SegmentOrder};
use skyway_world::policy::operator::{RunwayOperatorOrder, SegmentOperatorOrder};
use skyway_world::policy::segment::SegmentPolicy;
use skyway_world::policy::tower::TowerPolicy;
use skyway_world::summary::{RunwaySummary, SegmentSummary};

use super::paths;
use super::sightings::{self, CameraPlace};

pub use super::sightings::{CAMERA_STALE_S, CAMERA_TAPER_M, with_camera};

/// The id of segment `n`'s camera.
fn segment_camera(n: u32) -> String {
    format!("cam-{n}")
}

/// The id of runway `id`'s camera.
fn runway_camera(id: &str) -> String {
    format!("cam-rwy-{id}")
}

/// Segment and tower decisions from the summaries under `/world` and the cameras' analyses.
#[derive(Debug, Default, Clone, Copy)]
pub struct WorldCommander;

impl Commander for WorldCommander {
    fn inputs(&self, role: &str) -> Vec<String> {
        match Target::of_role(role) {
            // The first four in this order since before the calibration and the next camera
            // joined: new inputs go at the end.
            Ok(Target::Segment(n)) => vec![
                paths::segment(n),
                paths::segment(n + 1),
                record::analysis_path(&segment_camera(n)),
                paths::operator_segment(n),
                record::calibration_path(&segment_camera(n)),
                record::analysis_path(&segment_camera(n + 1)),
            ],
            Ok(Target::Runway(id)) => {
                vec![paths::runway(&id), paths::operator_runway(&id), record::analysis_path(&runway_camera(&id))]
            }
            Err(_) => Vec::new(),
        }
    }

    fn start(&self, role: &str, token: u64) -> Box<dyn RoleCommander> {
        match Target::of_role(role) {
            Ok(Target::Segment(n)) => {
                Box::new(SegmentTerm { policy: SegmentPolicy::new(n), camera_closed: Vec::new() })
            }
            Ok(Target::Runway(id)) => Box::new(TowerTerm { policy: TowerPolicy::new(id, token), camera_hold: false }),
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
    /// The closures its last command made on a camera's word (to log changes only).
    camera_closed: Vec<Cause>,
}

impl RoleCommander for SegmentTerm {
    fn next(&mut self, inputs: &[Option<Bytes>]) -> Option<String> {
        let downstream: Vec<SegmentSummary> = parse(inputs.get(1)).into_iter().collect();
        let downstream: Vec<&SegmentSummary> = downstream.iter().collect();
        let camera: Option<AnalysisRecord> = parse(inputs.get(2));
        let operator = parse::<SegmentOperatorOrder>(inputs.get(3)).map(|o| o.lanes()).unwrap_or_default();
        let calibration: Option<Calibration> = parse(inputs.get(4));
        let next_camera: Option<AnalysisRecord> = parse(inputs.get(5));
        match parse::<SegmentSummary>(inputs.first()) {
            Some(own) => {
                let now = own.period_end_s;
                let segment = self.policy.segment();
                let readings: Vec<_> = [(camera.as_ref(), segment), (next_camera.as_ref(), segment + 1)]
                    .into_iter()
                    .filter_map(|(a, n)| sightings::fresh(a, now).map(|a| sightings::reading(a, n)))
                    .collect();
                let order = self.policy.decide_with_cameras(&own, &downstream, &operator, &readings);
                let lanes = own.loops.first().map_or(0, |l| l.lanes.len() as u8);
                let place = calibration.as_ref().map(|c| CameraPlace::of(c, &own));
                let order = with_camera(order, camera.as_ref(), place, now, lanes);
                self.log_camera_closures(&order);
                Some(order.to_string())
            }
            // Before the segment's first loop period ends there is nothing to judge: the road's
            // defaults (nothing can have been changed yet, since every change follows a summary),
            // with the operator's closures.
            None => Some(SegmentOrder { closed_lanes: operator, ..SegmentOrder::default() }.to_string()),
        }
    }
}

impl SegmentTerm {
    /// Logs each closure a camera starts or ends (commands repeat every tick; this does not).
    fn log_camera_closures(&mut self, order: &SegmentOrder) {
        let now: Vec<Cause> = order.why.iter().filter(|c| c.part != OrderPart::Limit).cloned().collect();
        let role = format!("segment/{}", self.policy.segment());
        for cause in now.iter().filter(|c| !self.camera_closed.contains(c)) {
            tracing::info!(role, camera = %cause.source, %order, "closing a lane on a camera's stalled-vehicle alarm");
        }
        for cause in self.camera_closed.iter().filter(|c| !now.contains(c)) {
            tracing::info!(role, camera = %cause.source, %order, "a camera's alarm is over: its closure is lifted");
        }
        self.camera_closed = now;
    }
}

struct TowerTerm {
    policy: TowerPolicy,
    /// Whether its last decision was held by the runway camera (to log changes only).
    camera_hold: bool,
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
        let camera: Option<AnalysisRecord> = parse(inputs.get(2));
        let alarm = summary.as_ref().and_then(|s| sightings::runway_blocked(camera.as_ref(), s.time_s));
        if alarm.is_some() != self.camera_hold {
            self.camera_hold = alarm.is_some();
            match alarm {
                Some(a) => tracing::info!(
                    runway = self.policy.runway(),
                    position_m = a.position_m,
                    "the runway camera sees something standing on the runway: holding every clearance"
                ),
                None => tracing::info!(runway = self.policy.runway(), "the runway camera's alarm is over"),
            }
        }
        Some(self.policy.decide_with_camera(summary.as_ref(), operator_closed, alarm.is_some()))
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
    use super::*;

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
        let inputs = |own: Option<Bytes>| [own, None, None, operator.clone(), None, None];
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
        let lifted = [Some(segment_2(150.0, &[2])), None, None, None, None, None];
        assert_eq!(c3.next(&lifted).as_deref(), Some("limit=none closed=none"));
    }

    /// `/analysis/<camera>` as an analyzer writes it: one alarm in `lane` at `position_m`, lanes
    /// at `occupancy`.
    fn analysis(camera: &str, world_time_s: f64, alarm: Option<(u8, f64)>, occupancy: f64) -> Option<Bytes> {
        let lanes: Vec<_> = (1..=3)
            .map(|lane| serde_json::json!({"lane": lane, "vehicles": 5, "occupancy": occupancy, "density_per_km": 15.0, "queue_m": 0.0}))
            .collect();
        let stalled: Vec<_> = alarm
            .iter()
            .map(|&(lane, position_m)| serde_json::json!({"lane": lane, "position_m": position_m, "raised_frame": 1, "seen_frame": 9}))
            .collect();
        let record = serde_json::json!({
            "analyzer": "a1", "token": 7, "first_seq": 0, "seq": 9, "world_time_s": world_time_s,
            "capture_wall_ms": 0, "frames": 9, "warming_up": false,
            "result": {"camera": camera, "first_frame": 0, "frame": 9, "lanes": lanes, "stalled": stalled}
        });
        Some(Bytes::from(serde_json::to_vec(&record).unwrap()))
    }

    fn calibration(camera: &str, stretch_start_m: f64) -> Option<Bytes> {
        let c = Calibration {
            camera: skyway_collector::CameraSpec { id: camera.into(), stretch_start_m, ..Default::default() },
            lanes: 3,
            lane_width_m: 3.5,
            fps: 5.0,
        };
        Some(Bytes::from(serde_json::to_vec(&c).unwrap()))
    }

    #[test]
    fn a_segment_primary_closes_on_its_cameras_alarm_and_slows_for_the_next_cameras_jam() {
        let inputs = WorldCommander.inputs("segment/2");
        assert_eq!(inputs[4], record::calibration_path("cam-2"));
        assert_eq!(inputs[5], record::analysis_path("cam-3"));
        let mut term = WorldCommander.start("segment/2", 21);
        // cam-2 stands at 1,500 m (the middle of segment 2, which starts at 1,000 m) and alarms a
        // vehicle standing 100 m into its view in lane 2; cam-3 flows.
        let own = Some(segment_2(600.0, &[]));
        let cam2 = analysis("cam-2", 595.0, Some((2, 100.0)), 0.08);
        let cam3 = analysis("cam-3", 595.0, None, 0.08);
        let order = term.next(&[own.clone(), None, cam2.clone(), None, calibration("cam-2", 1500.0), cam3]);
        assert_eq!(order.as_deref(), Some("limit=none closed=2@100-610 why=2:cam-2"));
        // Without the calibration the alarm cannot be placed: nothing is closed on its word.
        let mut blind = WorldCommander.start("segment/2", 22);
        assert_eq!(blind.next(&[own.clone(), None, cam2, None, None, None]).as_deref(), Some("limit=none closed=none"));
        // cam-3 (the next segment) sees a jam the loops do not: the limit goes down on its word.
        let jam = analysis("cam-3", 625.0, None, 0.8);
        let order = term.next(&[Some(segment_2(630.0, &[])), None, None, None, calibration("cam-2", 1500.0), jam]);
        assert_eq!(order.as_deref(), Some("limit=60 closed=none why=limit:cam-3"));
    }

    #[test]
    fn a_tower_holds_its_clearances_while_the_runway_camera_alarms() {
        assert_eq!(WorldCommander.inputs("runway/07L")[2], record::analysis_path("cam-rwy-07L"));
        let runway = |time_s: f64| {
            let s = RunwaySummary {
                runway: "07L".into(),
                seq: 1,
                time_s,
                closed: false,
                occupants: vec![],
                arrivals: vec![],
                departures: vec!["SKY0010".into()],
                crossings: vec![],
                claim_token: 5,
                last_command: None,
            };
            Some(Bytes::from(serde_json::to_vec(&s).unwrap()))
        };
        let mut tower = WorldCommander.start("runway/07L", 5);
        let standing = analysis("cam-rwy-07L", 100.0, Some((1, 120.0)), 0.1);
        assert_eq!(tower.next(&[runway(105.0), None, standing.clone()]).as_deref(), Some("hold #5-1"));
        // A stale alarm (the analyzer stopped writing) is no reason to hold.
        assert_eq!(tower.next(&[runway(200.0), None, standing]).as_deref(), Some("takeoff SKY0010 #5-2"));
    }
}
