//! Virtual induction loops: one short stretch of each lane, watched for foreground.
//!
//! A loop's pixels are the image of a rectangle on the road (the middle of the lane's width,
//! `loop_length_m` long, near the camera where vehicles are large and the gaps between them are
//! visible). Each frame its occupancy is the share of those pixels in the foreground; it turns
//! on above `loop_on` and off below `loop_off`, and each turn-on counts one vehicle.

use serde::{Deserialize, Serialize};

use super::{AnalyzerConfig, Blob, LoopReading};
use crate::camera::LaneGeometry;
use crate::geom::{convex_hull, fill_convex};

/// The loops of one camera and their state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Loops {
    /// Per lane (lane 1 first): the loop's pixel indices.
    pixels: Vec<Vec<u32>>,
    /// Per lane: whether it is on.
    on: Vec<bool>,
    /// Per lane: vehicles counted.
    count: Vec<u64>,
    /// Image width, pixels.
    #[serde(default)]
    width: usize,
}

impl Loops {
    /// Places the loops for a camera.
    pub fn new(g: &LaneGeometry, cfg: &AnalyzerConfig) -> Self {
        let (w, h) = (g.camera.width_px, g.camera.height_px);
        let mut pixels = Vec::new();
        for lane in 1..=g.lanes {
            let x = g.lane_center_x(lane);
            let half = cfg.loop_width_share * g.lane_width_m / 2.0;
            let (d0, d1) = (g.d_of(cfg.loop_position_m), g.d_of(cfg.loop_position_m + cfg.loop_length_m));
            let corners = [(x - half, d0), (x + half, d0), (x + half, d1), (x - half, d1)];
            let p: Vec<(f64, f64)> = corners.iter().filter_map(|&(x, d)| g.project(x, 0.0, d)).collect();
            let mut px = Vec::new();
            fill_convex(&convex_hull(&p), w, h, |row, a, b| px.extend((a..b).map(|x| row * w + x)));
            pixels.push(px);
        }
        let n = g.lanes as usize;
        Self { pixels, on: vec![false; n], count: vec![0; n], width: w as usize }
    }

    /// Readings without updating (while the model warms up).
    pub fn idle(&self) -> Vec<LoopReading> {
        (0..self.on.len())
            .map(|i| LoopReading { lane: i as u8 + 1, occupancy: 0.0, on: self.on[i], count: self.count[i] })
            .collect()
    }

    /// Reads the loops on a foreground mask. A pixel the shadow mask marks counts for a lane
    /// only inside the box of one of that lane's `blobs`: a tall vehicle's long shadow reaches
    /// over the next lane's loop and would count there, while a dark vehicle whose paint the
    /// shadow test took is still inside its own box.
    pub fn step(&mut self, fg: &[u8], shadow: &[u8], blobs: &[Blob], cfg: &AnalyzerConfig) -> Vec<LoopReading> {
        let mut out = Vec::with_capacity(self.on.len());
        let w = self.width as u32;
        for i in 0..self.on.len() {
            let px = &self.pixels[i];
            let lane = i as u8 + 1;
            let inside = |p: u32, b: &Blob| {
                let (x, y, bb) = (p % w, p / w, &b.bbox);
                x >= bb.x && x < bb.x + bb.w && y >= bb.y && y < bb.y + bb.h
            };
            let counts = |p: u32| {
                // Hidden behind a vehicle of another lane standing nearer the camera: its body
                // (a tall truck's, seen from the side of the road) covers this lane's loop.
                if blobs.iter().any(|b| b.lane != lane && b.position_m < cfg.loop_position_m && inside(p, b)) {
                    return false;
                }
                shadow[p as usize] == 0 || blobs.iter().any(|b| b.lane == lane && inside(p, b))
            };
            let hits = px.iter().filter(|&&p| fg[p as usize] != 0 && counts(p)).count();
            let occ = if px.is_empty() { 0.0 } else { hits as f64 / px.len() as f64 };
            if !self.on[i] && occ >= cfg.loop_on {
                self.on[i] = true;
                self.count[i] += 1;
            } else if self.on[i] && occ <= cfg.loop_off {
                self.on[i] = false;
            }
            out.push(LoopReading { lane: i as u8 + 1, occupancy: occ, on: self.on[i], count: self.count[i] });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::BBox;
    use crate::scene::CameraSpec;

    fn blob(lane: u8, position_m: f64, bbox: BBox) -> Blob {
        Blob { bbox, area: bbox.area(), lane, position_m, still_share: 0.0 }
    }

    #[test]
    fn shadow_and_a_nearer_vehicle_of_another_lane_do_not_count() {
        let g = LaneGeometry::new(&CameraSpec::default(), 3, 3.5).unwrap();
        let cfg = AnalyzerConfig::default();
        let n = (g.camera.width_px * g.camera.height_px) as usize;
        let fg = vec![1u8; n];
        let all = BBox { x: 0, y: 0, w: g.camera.width_px, h: g.camera.height_px };
        // All foreground, no blobs, no shadow: every loop on.
        let mut l = Loops::new(&g, &cfg);
        assert!(l.step(&fg, &vec![0; n], &[], &cfg).iter().all(|r| r.on && r.count == 1));
        // All shadow: no loop counts, unless inside a blob of its own lane.
        let mut l = Loops::new(&g, &cfg);
        let r = l.step(&fg, &vec![1; n], &[blob(2, 15.0, all)], &cfg);
        assert_eq!(r.iter().map(|r| r.on).collect::<Vec<_>>(), vec![false, true, false]);
        // A vehicle of lane 1 nearer than the loops covering them all: only lane 1 counts.
        let mut l = Loops::new(&g, &cfg);
        let r = l.step(&fg, &vec![0; n], &[blob(1, 5.0, all)], &cfg);
        assert_eq!(r.iter().map(|r| r.on).collect::<Vec<_>>(), vec![true, false, false]);
    }
}
