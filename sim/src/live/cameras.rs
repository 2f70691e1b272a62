//! Where the live world's cameras stand, and what each sees: the world's vehicles translated into
//! the collector's [`Scene`] (pure: no clock, no I/O).
//!
//! Default layout: one camera per highway segment (`cam-N` stands at the middle of segment N and
//! watches the next [`STRETCH_M`] metres downstream) and one per runway (`cam-rwy-<ID>`).
//!
//! Why the middle: a camera's stalled-vehicle alarm closes its lane from 500 m before the vehicle
//! (`crate::live::commander::CAMERA_TAPER_M`), and the closure is the segment's, so a camera at
//! the segment's start would see stalls whose taper is cut off at the segment's start. From the
//! middle of a 1 km segment, every stall it alarms on (the analyzer alarms within its first
//! 150 m) has its whole taper inside the segment. The scenarios' incident (2.6 km: 100 m into
//! `cam-3`'s view) and the dashboard's default stall are in view.
//!
//! A runway camera renders aircraft as vehicles on a one-lane stretch of [`RUNWAY_LANE_M`] metres:
//! the renderer draws road vehicles, so an aircraft is a long, wide "vehicle" moving along the
//! stretch with its landing or take-off progress, and a crossing ground vehicle stands across the
//! middle. That is enough for an analyzer to see the runway occupied or free; it is not an image
//! of an aircraft.
//!
//! Between two world ticks (0.25 s) a frame (every 0.2 s at 5 fps) is placed by moving each
//! vehicle back along its lane by its speed times the time from the frame to the tick, so frames
//! are evenly spaced in world time although ticks are not a multiple of frames.
//!
//! The world's closed lanes go with each scene ([`RoadScene`]): each segment's order in force,
//! turned into stretches of road ([`road_closures`]) and then into the camera's metres, so the
//! camera draws the cones where the world closed the lane.
//!
//! Caveats: the world has no lateral position during a lane change, so vehicles are drawn on
//! their lane's centre; vehicle widths, heights and paint shades are the camera's own choice
//! (by kind, and from the vehicle's id), not the world's.

use skyway_collector::{CameraSpec, RoadScene, Scene, SceneClosure, SceneVehicle};
use skyway_world::Scenario;
use skyway_world::airport::{Mover, Phase};
use skyway_world::highway::{SegmentOrder, VehicleKind, VehicleView};

/// How much road a highway camera watches, metres.
pub const STRETCH_M: f64 = 250.0;
/// Width of a highway lane as the cameras are calibrated, metres.
pub const LANE_WIDTH_M: f64 = 3.5;
/// Width of the runway camera's single "lane", metres.
pub const RUNWAY_LANE_M: f64 = 6.0;
/// Where on the runway camera's stretch a crossing vehicle stands, metres.
const CROSSING_AT_M: f64 = 120.0;

/// What a camera watches.
#[derive(Debug, Clone, PartialEq)]
pub enum Watches {
    /// A highway stretch.
    Road,
    /// A runway.
    Runway(String),
}

/// One camera of the live world.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// The camera (its id, stretch and image size).
    pub spec: CameraSpec,
    /// Lanes it sees.
    pub lanes: u8,
    /// Width of each lane, metres.
    pub lane_width_m: f64,
    /// Road or runway.
    pub watches: Watches,
}

/// The world's state at one tick, as the cameras need it.
#[derive(Debug, Clone, Default)]
pub struct FeedTick {
    /// World time after the tick, seconds.
    pub time_s: f64,
    /// The tick's length, seconds.
    pub dt_s: f64,
    /// Every vehicle on the highway.
    pub vehicles: Vec<VehicleView>,
    /// Every aircraft and ground vehicle at the airport.
    pub movers: Vec<Mover>,
    /// The lanes closed on the highway now.
    pub closures: Vec<RoadClosure>,
}

/// A lane closed over a stretch of the road, in the world's metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoadClosure {
    /// The lane (1 = rightmost).
    pub lane: u8,
    /// Where it starts, metres from the road's start.
    pub from_m: f64,
    /// Where it ends.
    pub to_m: f64,
}

/// The closures of the orders in force (upstream first, as `Highway::orders` gives them): a
/// lane closed without a stretch is closed over its whole segment.
pub fn road_closures(orders: &[SegmentOrder], segment_length_m: f64, road_length_m: f64) -> Vec<RoadClosure> {
    let mut out = Vec::new();
    for (i, order) in orders.iter().enumerate() {
        let start = i as f64 * segment_length_m;
        let end = (start + segment_length_m).min(road_length_m);
        for &lane in &order.closed_lanes {
            let (from_m, to_m) = match order.stretch(lane) {
                Some(s) => (start + f64::from(s.from_m), start + f64::from(s.to_m)),
                None => (start, end),
            };
            out.push(RoadClosure { lane, from_m, to_m });
        }
    }
    out
}

/// The default cameras of a scenario: one per segment, one per runway.
pub fn placements(scenario: &Scenario) -> Vec<Placement> {
    let mut out = Vec::new();
    if let Some(road) = &scenario.highway {
        for n in 1..=road.segments() {
            let segment_start = (n - 1) as f64 * road.segment_length_m;
            let segment_end = (segment_start + road.segment_length_m).min(road.length_m);
            let start = segment_start + (segment_end - segment_start) / 2.0;
            let length = STRETCH_M.min(road.length_m - start).max(20.0);
            out.push(Placement {
                spec: CameraSpec {
                    id: format!("cam-{n}"),
                    stretch_start_m: start,
                    stretch_length_m: length,
                    ..CameraSpec::default()
                },
                lanes: road.lanes,
                lane_width_m: LANE_WIDTH_M,
                watches: Watches::Road,
            });
        }
    }
    if let Some(airport) = &scenario.airport {
        for runway in &airport.runways {
            out.push(Placement {
                spec: CameraSpec {
                    id: format!("cam-rwy-{runway}"),
                    stretch_start_m: 0.0,
                    stretch_length_m: STRETCH_M,
                    ..CameraSpec::default()
                },
                lanes: 1,
                lane_width_m: RUNWAY_LANE_M,
                watches: Watches::Runway(runway.clone()),
            });
        }
    }
    out
}

/// The frame slots (round(time × fps)) that fall in a tick: after the previous tick's time, up to
/// and including this one's.
pub fn slots(tick: &FeedTick, fps: f64) -> std::ops::RangeInclusive<u64> {
    let first = ((tick.time_s - tick.dt_s) * fps + 1e-9).floor() as i64 + 1;
    let last = (tick.time_s * fps + 1e-9).floor() as i64;
    (first.max(0) as u64)..=(last.max(-1) as u64)
}

/// What `placement` sees at world time `time_s`, with the lanes closed on its stretch.
pub fn road_scene(placement: &Placement, tick: &FeedTick, time_s: f64) -> RoadScene {
    let scene = scene(placement, tick, time_s);
    let closures = match placement.watches {
        Watches::Road => {
            let start = placement.spec.stretch_start_m;
            let end = start + placement.spec.stretch_length_m + 40.0;
            tick.closures
                .iter()
                .filter(|c| c.to_m > start - 5.0 && c.from_m < end)
                .map(|c| SceneClosure { lane: c.lane, from_m: c.from_m - start, to_m: c.to_m - start })
                .collect()
        }
        Watches::Runway(_) => Vec::new(),
    };
    RoadScene { scene, closures }
}

/// What `placement` sees at world time `time_s` (at or shortly before the tick's time).
pub fn scene(placement: &Placement, tick: &FeedTick, time_s: f64) -> Scene {
    let back_s = (tick.time_s - time_s).max(0.0);
    let vehicles = match &placement.watches {
        Watches::Road => road_vehicles(placement, &tick.vehicles, back_s),
        Watches::Runway(id) => runway_vehicles(placement, id, &tick.movers),
    };
    Scene {
        time_s,
        camera: placement.spec.clone(),
        lanes: placement.lanes,
        lane_width_m: placement.lane_width_m,
        vehicles,
    }
}

fn road_vehicles(placement: &Placement, all: &[VehicleView], back_s: f64) -> Vec<SceneVehicle> {
    let start = placement.spec.stretch_start_m;
    let end = placement.spec.stretch_length_m + 40.0;
    all.iter()
        .filter_map(|v| {
            let position_m = v.position_m - v.speed_mps * back_s - start;
            if position_m < -5.0 || position_m - v.length_m > end {
                return None;
            }
            let (width_m, height_m) = match v.kind {
                VehicleKind::Car => (1.8, 1.5),
                VehicleKind::Truck => (2.5, 3.6),
            };
            Some(SceneVehicle {
                id: u64::from(v.id),
                lane: v.lane,
                offset_m: 0.0,
                position_m,
                length_m: v.length_m,
                width_m,
                height_m,
                shade: shade(u64::from(v.id)),
                stalled: v.stalled,
            })
        })
        .collect()
}

fn runway_vehicles(placement: &Placement, runway: &str, movers: &[Mover]) -> Vec<SceneVehicle> {
    let stretch = placement.spec.stretch_length_m;
    movers
        .iter()
        .filter(|m| m.runway == runway)
        .filter_map(|m| {
            let id = fnv(&m.id);
            let (position_m, offset_m, length_m, width_m) = match m.phase {
                Phase::Landing | Phase::TakingOff => (m.progress * (stretch + 20.0), 0.0, 14.0, 5.0),
                Phase::Crossing => (CROSSING_AT_M, (m.progress - 0.5) * RUNWAY_LANE_M, 5.0, 2.2),
                _ => return None,
            };
            Some(SceneVehicle {
                id,
                lane: 1,
                offset_m,
                position_m,
                length_m,
                width_m,
                height_m: 3.0,
                shade: shade(id),
                stalled: false,
            })
        })
        .collect()
}

/// A paint shade from an id: spread over 0.08..0.92, kept clear of the asphalt's grey.
fn shade(id: u64) -> f64 {
    let x = (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64;
    let s = 0.08 + 0.84 * x;
    let road = skyway_collector::render::ROAD_SHADE;
    if (s - road).abs() < 0.12 { if s < road { road - 0.14 } else { road + 0.14 } } else { s }
}

/// FNV-1a of a callsign: a stable numeric id for the renderer's noise and the truth.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(time_s: f64, vehicles: Vec<VehicleView>) -> FeedTick {
        FeedTick { time_s, dt_s: 0.25, vehicles, movers: Vec::new(), closures: Vec::new() }
    }

    #[test]
    fn five_frames_per_second_over_quarter_second_ticks() {
        let mut all = Vec::new();
        for k in 1..=8u32 {
            all.extend(slots(&tick(f64::from(k) * 0.25, Vec::new()), 5.0));
        }
        assert_eq!(all, (1..=10).collect::<Vec<u64>>(), "every slot once, none twice, over 2 s");
    }

    #[test]
    fn the_demo_has_a_camera_per_segment_and_runway() {
        let scenario = Scenario::builtin("highway").unwrap();
        let ids: Vec<String> = placements(&scenario).into_iter().map(|p| p.spec.id).collect();
        assert_eq!(ids, ["cam-1", "cam-2", "cam-3", "cam-4", "cam-5", "cam-6", "cam-rwy-07L", "cam-rwy-07R"]);
    }

    #[test]
    fn the_incident_stands_where_a_camera_alarms_on_it() {
        // The incident scenario's stall (and the dashboard's default stall) at 2.6 km: cam-3
        // watches 2.5–2.75 km, and the analyzer alarms within the first 150 m of a stretch.
        for name in ["incident", "highway"] {
            let scenario = Scenario::builtin(name).unwrap();
            let cam3 = placements(&scenario).into_iter().find(|p| p.spec.id == "cam-3").unwrap();
            let at = 2600.0 - cam3.spec.stretch_start_m;
            assert!((0.0..150.0).contains(&at), "{name}: the stall is {at} m into cam-3's view");
            let incident = scenario.highway.as_ref().unwrap().incidents.first().map(|i| i.position_m);
            assert!(incident.is_none_or(|p| p == 2600.0), "{name}: the incident moved: {incident:?}");
        }
    }

    #[test]
    fn vehicles_are_placed_on_their_stretch_at_the_frame_time() {
        let scenario = Scenario::builtin("highway").unwrap();
        let cam2 = placements(&scenario).into_iter().find(|p| p.spec.id == "cam-2").unwrap();
        let v = |id, position_m| VehicleView {
            id,
            lane: 2,
            position_m,
            speed_mps: 20.0,
            length_m: 4.5,
            kind: VehicleKind::Car,
            stalled: id == 3,
        };
        let t = tick(100.0, vec![v(1, 1000.0), v(2, 1600.0), v(3, 1700.0), v(4, 1900.0)]);
        let s = scene(&cam2, &t, 99.9);
        let seen: Vec<(u64, f64, bool)> =
            s.vehicles.iter().map(|v| (v.id, (v.position_m * 10.0).round() / 10.0, v.stalled)).collect();
        // 0.1 s before the tick, at 20 m/s: 2 m further back; cam-2's stretch starts at 1500 m.
        assert_eq!(seen, [(2, 98.0, false), (3, 198.0, true)]);
        assert_eq!(s.lanes, 3);
        assert_eq!(s.time_s, 99.9);
    }

    #[test]
    fn closed_lanes_travel_with_the_scene_in_the_cameras_metres() {
        let scenario = Scenario::builtin("highway").unwrap();
        let cams = placements(&scenario);
        let orders = [
            SegmentOrder::parse("limit=none closed=none").unwrap(),
            SegmentOrder::parse("limit=80 closed=3").unwrap(),
            SegmentOrder::parse("limit=60 closed=2@100-610 why=2:cam-3").unwrap(),
        ];
        let closures = road_closures(&orders, 1000.0, 6000.0);
        assert_eq!(
            closures,
            [
                RoadClosure { lane: 3, from_m: 1000.0, to_m: 2000.0 },
                RoadClosure { lane: 2, from_m: 2100.0, to_m: 2610.0 }
            ]
        );
        let mut t = tick(100.0, Vec::new());
        t.closures = closures;
        let seen = |id: &str| {
            let p = cams.iter().find(|p| p.spec.id == id).unwrap();
            road_scene(p, &t, 100.0).closures
        };
        assert_eq!(seen("cam-2"), [SceneClosure { lane: 3, from_m: -500.0, to_m: 500.0 }], "cam-2 is at 1,500 m");
        assert_eq!(seen("cam-3"), [SceneClosure { lane: 2, from_m: -400.0, to_m: 110.0 }], "cam-3 is at 2,500 m");
        assert_eq!(seen("cam-1"), [], "nothing closed in view");
        assert_eq!(seen("cam-rwy-07L"), [], "runways have no lanes to close");
    }
}
