//! The camera's geometry: a pinhole looking down a flat road, and its inverse.
//!
//! The renderer projects vehicles with it and the analyzer uses the same calibration to place
//! virtual loops, to turn a blob's foot into a lane and a position, and to know how large a
//! vehicle should look at each image row. A real deployment would calibrate it once per pole.
//!
//! The camera stands `setback_m` before the stretch, `side_offset_m` to the right of the road,
//! `height_m` above it, pitched down so that the start of the stretch is the bottom row and its
//! end is a tenth of the image from the top. Its principal point is shifted left so the road
//! runs up the middle of the frame.
//!
//! World coordinates: `x` lateral metres from the camera (positive right), `y` up from the road,
//! `d` forward along the road from the pole.
//!
//! Caveats: the road is flat and straight; there is no lens distortion.

use serde::{Deserialize, Serialize};

use crate::error::CollectorError;
use crate::scene::CameraSpec;

/// A calibrated camera over a multi-lane road.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaneGeometry {
    /// The camera.
    pub camera: CameraSpec,
    /// Number of lanes.
    pub lanes: u8,
    /// Width of a lane in metres.
    pub lane_width_m: f64,
    /// Focal length in pixels.
    pub focal_px: f64,
    /// Pitch below the horizon, radians.
    pub pitch_rad: f64,
    /// Principal point, column.
    pub cx: f64,
    /// Principal point, row.
    pub cy: f64,
}

/// Lanes allowed on one camera.
pub const LANES_MAX: u8 = 8;

impl LaneGeometry {
    /// Calibrates the camera for a road of `lanes` lanes of `lane_width_m`.
    pub fn new(camera: &CameraSpec, lanes: u8, lane_width_m: f64) -> Result<Self, CollectorError> {
        let bad = |what: String| Err(CollectorError::InvalidConfig { what });
        if lanes == 0 || lanes > LANES_MAX {
            return bad(format!("lanes must be 1..={LANES_MAX}, was {lanes}"));
        }
        if !(2.0..=6.0).contains(&lane_width_m) {
            return bad(format!("lane_width_m must be 2..=6, was {lane_width_m}"));
        }
        if !(4.0..=60.0).contains(&camera.height_m) {
            return bad(format!("camera height_m must be 4..=60, was {}", camera.height_m));
        }
        if !(20.0..=1000.0).contains(&camera.stretch_length_m) || !(2.0..=200.0).contains(&camera.setback_m) {
            return bad(format!(
                "stretch_length_m must be 20..=1000 and setback_m 2..=200, were {} and {}",
                camera.stretch_length_m, camera.setback_m
            ));
        }
        if !(64..=4096).contains(&camera.width_px) || !(64..=4096).contains(&camera.height_px) {
            return bad(format!(
                "image must be 64..=4096 pixels each way, was {}x{}",
                camera.width_px, camera.height_px
            ));
        }
        let h = camera.height_m;
        let rows = camera.height_px as f64;
        let cy = rows / 2.0;
        let a_near = (h / camera.setback_m).atan();
        let a_far = (h / (camera.setback_m + camera.stretch_length_m)).atan();
        let (bottom, top) = (rows - 1.0 - cy, 0.1 * rows - cy);
        // Pitch θ such that, with the focal length that puts the near end on the bottom row, the
        // far end lands on `top`: bisection on a monotone function.
        let focal = |theta: f64| bottom / (a_near - theta).tan();
        let (mut lo, mut hi) = (a_far - 0.5, a_near - 1e-4);
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            let v_far = focal(mid) * (a_far - mid).tan();
            if v_far < top {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        let pitch = 0.5 * (lo + hi);
        let f = focal(pitch);
        let road_width = lanes as f64 * lane_width_m;
        // Centre the middle of the road (lateral) at mid-stretch depth on the middle column.
        let x_mid = -(camera.side_offset_m + road_width / 2.0);
        let d_mid = camera.setback_m + camera.stretch_length_m * 0.3;
        let depth_mid = h * pitch.sin() + d_mid * pitch.cos();
        let cx = camera.width_px as f64 / 2.0 - f * x_mid / depth_mid;
        Ok(Self { camera: camera.clone(), lanes, lane_width_m, focal_px: f, pitch_rad: pitch, cx, cy })
    }

    /// Projects a world point to pixel coordinates (column, row); `None` behind the camera.
    pub fn project(&self, x: f64, y: f64, d: f64) -> Option<(f64, f64)> {
        let (s, c) = self.pitch_rad.sin_cos();
        let dh = self.camera.height_m - y;
        let depth = dh * s + d * c;
        if depth < 0.5 {
            return None;
        }
        let down = dh * c - d * s;
        Some((self.cx + self.focal_px * x / depth, self.cy + self.focal_px * down / depth))
    }

    /// The road point under a pixel: lateral `x` and forward `d` from the pole; `None` above the
    /// horizon.
    pub fn ground(&self, u: f64, v: f64) -> Option<(f64, f64)> {
        let (s, c) = self.pitch_rad.sin_cos();
        let (x, y) = ((u - self.cx) / self.focal_px, (v - self.cy) / self.focal_px);
        let denom = y * c + s;
        if denom <= 1e-6 {
            return None;
        }
        let t = self.camera.height_m / denom;
        Some((t * x, t * (c - y * s)))
    }

    /// Lateral `x` of a lane's centre (lanes from 1, the rightmost).
    pub fn lane_center_x(&self, lane: u8) -> f64 {
        -(self.camera.side_offset_m + (lane as f64 - 0.5) * self.lane_width_m)
    }

    /// The lane over a lateral `x`, if it is on the road.
    pub fn lane_at(&self, x: f64) -> Option<u8> {
        let from_right = -x - self.camera.side_offset_m;
        if from_right < 0.0 {
            return None;
        }
        let lane = (from_right / self.lane_width_m).floor() as i64 + 1;
        (1..=self.lanes as i64).contains(&lane).then_some(lane as u8)
    }

    /// Forward distance from the pole of a position along the stretch.
    pub fn d_of(&self, position_m: f64) -> f64 {
        position_m + self.camera.setback_m
    }

    /// Position along the stretch of a forward distance from the pole.
    pub fn position_of(&self, d: f64) -> f64 {
        d - self.camera.setback_m
    }

    /// Pixels per metre, horizontally, on the road at a forward distance `d`.
    pub fn px_per_m(&self, d: f64) -> f64 {
        let (s, c) = self.pitch_rad.sin_cos();
        self.focal_px / (self.camera.height_m * s + d * c)
    }

    /// Where a blob's foot (bottom-centre pixel) stands: lane and position along the stretch.
    pub fn locate(&self, u: f64, v: f64) -> Option<(u8, f64)> {
        let (x, d) = self.ground(u, v)?;
        Some((self.lane_at(x)?, self.position_of(d)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretch_fills_the_frame_and_ground_inverts_project() {
        let g = LaneGeometry::new(&CameraSpec::default(), 3, 3.5).unwrap();
        let x = g.lane_center_x(2);
        let (_, v_near) = g.project(x, 0.0, g.d_of(0.0)).unwrap();
        let (_, v_far) = g.project(x, 0.0, g.d_of(250.0)).unwrap();
        assert!((v_near - 359.0).abs() < 0.5, "{v_near}");
        assert!((v_far - 36.0).abs() < 0.5, "{v_far}");
        for d in [35.0, 80.0, 200.0] {
            let (u, v) = g.project(x, 0.0, d).unwrap();
            let (x2, d2) = g.ground(u, v).unwrap();
            assert!((x2 - x).abs() < 1e-6 && (d2 - d).abs() < 1e-6);
            assert_eq!(g.locate(u, v).map(|l| l.0), Some(2));
        }
    }

    #[test]
    fn rejects_nonsense() {
        assert!(LaneGeometry::new(&CameraSpec::default(), 0, 3.5).is_err());
        assert!(LaneGeometry::new(&CameraSpec::default(), 3, 30.0).is_err());
    }
}
