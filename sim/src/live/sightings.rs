//! What the controllers take from the cameras' analyses (`/analysis/<camera>`, see
//! `skyway_collector::record`), pure: which results count, where an alarm stands on the segment,
//! and what the policies are given.
//!
//! - A result counts only if it is fresh (at most [`CAMERA_STALE_S`] world seconds older than
//!   the summary it is judged with) and from a model past its warm-up ([`fresh`]).
//! - A highway camera's positions are metres along its own stretch; its calibration
//!   (`/cameras/<id>/calibration`) says where the stretch starts on the road, and the segment's
//!   summary where the segment starts ([`CameraPlace`]). Without a calibration an alarm cannot
//!   be placed and closes nothing.
//! - A stalled-vehicle alarm closes its lane from [`CAMERA_TAPER_M`] before the vehicle to 10 m
//!   past it, on top of the loop policy's order, and the order says so (`why=2:cam-3`,
//!   [`with_camera`]); never the last open lane.
//! - Congestion: the camera on the segment and the one on the next segment are handed to the
//!   segment policy as [`CameraReading`]s ([`reading`]); it decides the limit with the loops.
//! - A runway camera's alarm holds the tower's clearances ([`runway_blocked`]).

use skyway_collector::StalledAlarm;
use skyway_collector::record::{AnalysisRecord, Calibration};
use skyway_world::highway::{Cause, ClosedStretch, SegmentOrder};
use skyway_world::policy::camera::{CameraLane, CameraReading};
use skyway_world::summary::SegmentSummary;

/// How far before a stalled vehicle a camera's closure starts, metres.
pub const CAMERA_TAPER_M: f64 = 500.0;
/// How far past a stalled vehicle (its rear, as the analyzer places it) the closure ends, metres.
pub const CAMERA_PAST_M: f64 = 10.0;
/// The oldest analysis (world seconds before the summary it is judged with) that still counts.
pub const CAMERA_STALE_S: f64 = 60.0;

/// The result, if it counts at `now_s`: fresh, and from a model past its warm-up.
pub fn fresh(analysis: Option<&AnalysisRecord>, now_s: f64) -> Option<&AnalysisRecord> {
    analysis.filter(|a| !a.warming_up && a.world_time_s >= now_s - CAMERA_STALE_S)
}

/// Where a highway camera's stretch lies on its segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraPlace {
    /// Where the camera's stretch starts, metres from the segment's start.
    pub offset_m: f64,
    /// The segment's length, metres (0: unknown, no clamp).
    pub segment_length_m: f64,
}

impl CameraPlace {
    /// The place of a camera with `calibration` on the segment of `own`.
    pub fn of(calibration: &Calibration, own: &SegmentSummary) -> Self {
        Self { offset_m: calibration.camera.stretch_start_m - own.start_m, segment_length_m: own.length_m }
    }
}

/// The loop policy's order with the camera's stalled-vehicle alarms closing their lanes, each
/// closure attributed to the camera (`why=2:cam-3`). A lane already closed is left as it is.
pub fn with_camera(
    mut order: SegmentOrder,
    camera: Option<&AnalysisRecord>,
    place: Option<CameraPlace>,
    now_s: f64,
    lanes: u8,
) -> SegmentOrder {
    let (Some(analysis), Some(place)) = (fresh(camera, now_s), place) else { return order };
    for alarm in &analysis.result.stalled {
        let open = (1..=lanes).filter(|l| !order.closed_lanes.contains(l)).count();
        if order.closed_lanes.contains(&alarm.lane) || open <= 1 || alarm.lane == 0 || alarm.lane > lanes {
            continue;
        }
        let Some(stretch) = closure(alarm, place) else { continue };
        order.closed_lanes.push(alarm.lane);
        order.closed_lanes.sort_unstable();
        order.stretches.push(stretch);
        order.stretches.sort_by_key(|s| s.lane);
        order.why.push(Cause::lane(alarm.lane, &analysis.result.camera));
        order.why.sort();
    }
    order
}

/// The stretch an alarm closes, in segment metres; None if it lies outside the segment.
fn closure(alarm: &StalledAlarm, place: CameraPlace) -> Option<ClosedStretch> {
    let at = place.offset_m + alarm.position_m;
    let mut to = at + CAMERA_PAST_M;
    if place.segment_length_m > 0.0 {
        to = to.min(place.segment_length_m);
    }
    let from_m = (at - CAMERA_TAPER_M).max(0.0).floor() as u32;
    let to_m = to.floor() as u32;
    (at >= 0.0 && from_m < to_m).then_some(ClosedStretch { lane: alarm.lane, from_m, to_m })
}

/// What the segment policy is given of a camera's result on `segment`.
pub fn reading(analysis: &AnalysisRecord, segment: u32) -> CameraReading {
    CameraReading {
        camera: analysis.result.camera.clone(),
        segment,
        lanes: analysis
            .result
            .lanes
            .iter()
            .map(|l| CameraLane {
                lane: l.lane,
                occupancy: l.occupancy,
                density_per_km: l.density_per_km,
                queue_m: l.queue_m,
            })
            .collect(),
    }
}

/// The runway camera's alarm in force at `now_s` (the runway summary's time), if any: something
/// has stood still on the runway for the analyzer's stall time.
pub fn runway_blocked(analysis: Option<&AnalysisRecord>, now_s: f64) -> Option<&StalledAlarm> {
    fresh(analysis, now_s)?.result.stalled.first()
}

#[cfg(test)]
mod tests {
    use skyway_collector::{AnalysisResult, CameraSpec, LaneResult};

    use super::*;

    pub(crate) fn analysis(world_time_s: f64, warming_up: bool, stalled: &[(u8, f64)]) -> AnalysisRecord {
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
                lanes: (1..=3)
                    .map(|lane| LaneResult { lane, vehicles: 4, occupancy: 0.3, density_per_km: 20.0, queue_m: 12.0 })
                    .collect(),
                stalled: stalled
                    .iter()
                    .map(|&(lane, position_m)| StalledAlarm { lane, position_m, raised_frame: 1, seen_frame: 25 })
                    .collect(),
            },
        }
    }

    const AT_START: Option<CameraPlace> = Some(CameraPlace { offset_m: 0.0, segment_length_m: 1000.0 });
    const AT_MIDDLE: Option<CameraPlace> = Some(CameraPlace { offset_m: 500.0, segment_length_m: 1000.0 });

    #[test]
    fn a_camera_alarm_closes_its_lane_upstream_of_the_vehicle_and_says_so() {
        let loops = SegmentOrder::parse("limit=80 closed=none").unwrap();
        let order = with_camera(loops.clone(), Some(&analysis(600.0, false, &[(2, 120.0)])), AT_START, 610.0, 3);
        assert_eq!(order.to_string(), "limit=80 closed=2@0-130 why=2:cam-2");
        // From the middle of the segment: 100 m into the view is 600 m into the segment.
        let mid = with_camera(loops.clone(), Some(&analysis(600.0, false, &[(2, 100.0)])), AT_MIDDLE, 610.0, 3);
        assert_eq!(mid.to_string(), "limit=80 closed=2@100-610 why=2:cam-2");
        // Never past the segment's end (the world refuses such a stretch, and the whole order).
        let end = Some(CameraPlace { offset_m: 800.0, segment_length_m: 1000.0 });
        let clamped = with_camera(loops.clone(), Some(&analysis(600.0, false, &[(1, 195.0)])), end, 610.0, 3);
        assert_eq!(clamped.to_string(), "limit=80 closed=1@495-1000 why=1:cam-2");
        // Nothing from a stale result, a warming-up model, no camera, no calibration, or the
        // last open lane; a lane the loops closed already stays theirs.
        let alarm = |t, warm| analysis(t, warm, &[(2, 120.0)]);
        assert_eq!(with_camera(loops.clone(), Some(&alarm(500.0, false)), AT_START, 610.0, 3), loops);
        assert_eq!(with_camera(loops.clone(), Some(&alarm(600.0, true)), AT_START, 610.0, 3), loops);
        assert_eq!(with_camera(loops.clone(), None, AT_START, 610.0, 3), loops);
        assert_eq!(with_camera(loops.clone(), Some(&alarm(600.0, false)), None, 610.0, 3), loops);
        let one_open = SegmentOrder::parse("limit=80 closed=1").unwrap();
        assert_eq!(with_camera(one_open.clone(), Some(&alarm(600.0, false)), AT_START, 610.0, 2), one_open);
        let theirs = SegmentOrder::parse("limit=80 closed=2@300-875").unwrap();
        assert_eq!(with_camera(theirs.clone(), Some(&alarm(600.0, false)), AT_START, 610.0, 3), theirs);
    }

    #[test]
    fn a_calibration_places_the_camera_on_its_segment() {
        let calibration = Calibration {
            camera: CameraSpec { id: "cam-3".into(), stretch_start_m: 2500.0, ..CameraSpec::default() },
            lanes: 2,
            lane_width_m: 3.5,
            fps: 5.0,
        };
        let own: SegmentSummary = serde_json::from_value(serde_json::json!({
            "segment": 3, "period_end_s": 600.0, "period_s": 30.0, "speed_limit_kmh": null,
            "closed_lanes": [], "length_m": 1000.0, "start_m": 2000.0, "loops": []
        }))
        .unwrap();
        assert_eq!(CameraPlace::of(&calibration, &own), CameraPlace { offset_m: 500.0, segment_length_m: 1000.0 });
    }

    #[test]
    fn a_runway_alarm_counts_only_while_fresh_and_warm() {
        assert!(runway_blocked(Some(&analysis(100.0, false, &[(1, 120.0)])), 130.0).is_some());
        assert!(runway_blocked(Some(&analysis(100.0, false, &[])), 130.0).is_none(), "nothing standing");
        assert!(runway_blocked(Some(&analysis(60.0, false, &[(1, 120.0)])), 130.0).is_none(), "stale");
        assert!(runway_blocked(Some(&analysis(100.0, true, &[(1, 120.0)])), 130.0).is_none(), "warming up");
        assert!(runway_blocked(None, 130.0).is_none());
    }

    #[test]
    fn a_reading_carries_the_lanes_figures() {
        let r = reading(&analysis(100.0, false, &[]), 2);
        assert_eq!((r.camera.as_str(), r.segment, r.lanes.len()), ("cam-2", 2, 3));
        assert_eq!((r.lanes[0].occupancy, r.lanes[0].density_per_km, r.lanes[0].queue_m), (0.3, 20.0, 12.0));
    }
}
