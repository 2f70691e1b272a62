//! What a camera sees, as plain data: the renderer's input.
//!
//! These are the collector's own types. The simulator's world (or the synthetic traffic of
//! [`crate::eval`]) is translated into them by whoever drives the camera, so the collector never
//! depends on the simulator crates.
//!
//! Conventions: distances along the road are metres from the start of the camera's stretch and
//! grow in the direction of travel, away from the camera; lanes are numbered from 1, the
//! rightmost; a vehicle's `position_m` is its front bumper.
//!
//! Lane closures ([`SceneClosure`]) travel beside a scene ([`RoadScene`], what the live feed
//! sends) rather than in it, so that every [`Scene`] built before closures were drawn still
//! builds; a scene without closures is a road without road works.

use serde::{Deserialize, Serialize};

/// A fixed, pole-mounted camera looking down the road in the direction of travel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraSpec {
    /// The camera's id (`cam-12`).
    pub id: String,
    /// Where its stretch starts on the road, in the world's metres (for translation only).
    pub stretch_start_m: f64,
    /// How much road it watches: the stretch ends at the top of the image.
    pub stretch_length_m: f64,
    /// Height of the lens above the road.
    pub height_m: f64,
    /// How far before the stretch's start the pole stands (the first road it sees).
    pub setback_m: f64,
    /// How far to the right of the road's right edge the pole stands.
    pub side_offset_m: f64,
    /// Image width in pixels.
    pub width_px: u32,
    /// Image height in pixels.
    pub height_px: u32,
}

impl Default for CameraSpec {
    fn default() -> Self {
        Self {
            id: "cam-1".into(),
            stretch_start_m: 0.0,
            stretch_length_m: 250.0,
            height_m: 14.0,
            setback_m: 30.0,
            side_offset_m: 1.5,
            width_px: 640,
            height_px: 360,
        }
    }
}

/// One vehicle on the camera's stretch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneVehicle {
    /// The world's id of the vehicle.
    pub id: u64,
    /// The lane it is in (1 = rightmost); during a lane change, the lane its centre is over.
    pub lane: u8,
    /// Lateral offset from the lane's centre in metres, positive to the left (lane changes).
    pub offset_m: f64,
    /// Its front bumper, metres from the start of the stretch (may be below 0 or past the end).
    pub position_m: f64,
    /// Length in metres.
    pub length_m: f64,
    /// Width in metres.
    pub width_m: f64,
    /// Height in metres.
    pub height_m: f64,
    /// Brightness of its paint, 0 (black) to 1 (white).
    pub shade: f64,
    /// Whether it is stalled (stopped and not going on).
    pub stalled: bool,
}

/// One instant of one camera's stretch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    /// World time in seconds.
    pub time_s: f64,
    /// The camera.
    pub camera: CameraSpec,
    /// Number of lanes (1..=8).
    pub lanes: u8,
    /// Width of each lane in metres.
    pub lane_width_m: f64,
    /// The vehicles, in any order.
    pub vehicles: Vec<SceneVehicle>,
}

/// A lane closed over part of the camera's stretch: the renderer draws it as traffic cones along
/// the lane's edges with open lanes, and a row of cones across the lane where it starts. Cones
/// are road furniture, never vehicles: they are not in the truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneClosure {
    /// The closed lane (1 = rightmost).
    pub lane: u8,
    /// Where the closure starts, metres from the start of the stretch (may be below 0).
    pub from_m: f64,
    /// Where it ends (may be past the stretch's end).
    pub to_m: f64,
}

/// A scene and the lane closures on its stretch (the live feed's message).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoadScene {
    /// The scene.
    #[serde(flatten)]
    pub scene: Scene,
    /// The lanes closed on the stretch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub closures: Vec<SceneClosure>,
}
