//! The camera: a scene in, a grey frame and its ground truth out.
//!
//! A [`Renderer`] is built once per camera. It precomputes the empty road as radiance (asphalt
//! with a grain anchored to the road, lane markings, shoulders, sky) with a margin for shake, and
//! a table of normal noise. Each frame then costs: a shifted copy of the road, the shadows, the
//! vehicles as lit boxes drawn far to near, and one pass that applies the light and the noise.
//!
//! Everything random comes from the seed and the scene's time, so the same scene, conditions and
//! seed always give the same bytes.
//!
//! The truth of a frame is every vehicle whose box reaches into the image: its id, lane, pixel
//! box (the hull of its projected body, shake included), whether it is stalled, and the share of
//! its pixels left visible after nearer vehicles were drawn over it.
//!
//! Lane closures ([`Renderer::render_with`]) are drawn on the road before anything else: traffic
//! cones every [`CONE_SPACING_M`] along each edge the closed lane shares with an open lane, and a
//! row of cones across the lane where the closure starts. Cones are anchored to the road (the
//! same metres give the same pixels every frame), so to the analyzer they are part of the scene
//! once its background has taken them in; they are not vehicles and never in the truth.
//!
//! Caveats: no motion blur, no headlights at dusk, no lens effects; vehicles are boxes.

use image::GrayImage;
use serde::{Deserialize, Serialize};

use crate::camera::LaneGeometry;
use crate::conditions::Conditions;
use crate::error::CollectorError;
use crate::geom::{BBox, convex_hull, fill_convex};
use crate::rng::Rng;
use crate::scene::{RoadScene, Scene, SceneClosure, SceneVehicle};

/// Brightness of the empty asphalt, 0..1.
pub const ROAD_SHADE: f64 = 0.42;
const MARGIN: i32 = 4;
const NOISE_TABLE: usize = 4096;
/// Distance between two cones along a closed lane's edge, metres.
pub const CONE_SPACING_M: f64 = 12.0;
/// A cone's height and base width, metres.
const CONE_HEIGHT_M: f64 = 0.75;
const CONE_BASE_M: f64 = 0.4;
/// A cone's paint (orange, as grey) and its reflective band.
const CONE_SHADE: f32 = 0.62;
const CONE_BAND_SHADE: f32 = 0.95;

/// One vehicle as the camera should have seen it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthBox {
    /// The vehicle's id.
    pub id: u64,
    /// Its lane (1 = rightmost).
    pub lane: u8,
    /// Its front bumper along the stretch, metres.
    pub position_m: f64,
    /// Its box in the frame.
    pub bbox: BBox,
    /// Whether it is stalled.
    pub stalled: bool,
    /// Share of its box's body pixels not hidden by nearer vehicles, 0..1.
    pub visible: f64,
}

/// What a frame shows, kept beside it (a small JSON file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// The camera's id.
    pub camera: String,
    /// World time of the frame.
    pub time_s: f64,
    /// The vehicles in the frame, nearest first.
    pub vehicles: Vec<TruthBox>,
}

/// A camera's renderer: the precomputed empty road and noise.
#[derive(Debug, Clone)]
pub struct Renderer {
    geometry: LaneGeometry,
    /// The empty road, radiance 0..1, `(width + 2·MARGIN) × (height + 2·MARGIN)`.
    base: Vec<f32>,
    noise: Vec<f32>,
}

/// Renders one scene with a throwaway renderer (build a [`Renderer`] to render many).
pub fn render(scene: &Scene, conditions: &Conditions, seed: u64) -> Result<(GrayImage, Truth), CollectorError> {
    let geometry = LaneGeometry::new(&scene.camera, scene.lanes, scene.lane_width_m)?;
    Ok(Renderer::new(geometry).render(scene, conditions, seed))
}

/// Renders one scene and its closures with a throwaway renderer.
pub fn render_road(road: &RoadScene, conditions: &Conditions, seed: u64) -> Result<(GrayImage, Truth), CollectorError> {
    let scene = &road.scene;
    let geometry = LaneGeometry::new(&scene.camera, scene.lanes, scene.lane_width_m)?;
    Ok(Renderer::new(geometry).render_with(scene, &road.closures, conditions, seed))
}

fn hash2(a: i64, b: i64) -> f64 {
    let mut r = Rng::stream(a as u64, b as u64);
    r.unit()
}

impl Renderer {
    /// Precomputes the empty road for a calibrated camera.
    pub fn new(geometry: LaneGeometry) -> Self {
        let (w, h) = (geometry.camera.width_px as i32, geometry.camera.height_px as i32);
        let (bw, bh) = (w + 2 * MARGIN, h + 2 * MARGIN);
        let mut base = vec![0f32; (bw * bh) as usize];
        let road_right = -geometry.camera.side_offset_m;
        let road_left = road_right - geometry.lanes as f64 * geometry.lane_width_m;
        for by in 0..bh {
            for bx in 0..bw {
                let (u, v) = ((bx - MARGIN) as f64 + 0.5, (by - MARGIN) as f64 + 0.5);
                base[(by * bw + bx) as usize] = Self::ground_shade(&geometry, u, v, road_left, road_right) as f32;
            }
        }
        let mut rng = Rng::new(0x05EE_D0F4_015E);
        let noise = (0..NOISE_TABLE).map(|_| rng.normal() as f32).collect();
        Self { geometry, base, noise }
    }

    /// The camera this renderer draws for.
    pub fn geometry(&self) -> &LaneGeometry {
        &self.geometry
    }

    fn ground_shade(g: &LaneGeometry, u: f64, v: f64, left: f64, right: f64) -> f64 {
        let Some((x, d)) = g.ground(u, v) else {
            return 0.80 - 0.1 * (v / g.camera.height_px as f64);
        };
        if d > g.d_of(g.camera.stretch_length_m) + 400.0 {
            return 0.70;
        }
        let grain = 0.035 * (hash2((x * 3.0).floor() as i64, (d * 1.5).floor() as i64) - 0.5)
            + 0.03 * (hash2((x * 0.5).floor() as i64 + 1000, (d * 0.2).floor() as i64) - 0.5);
        // Lines grow to at least ~0.7 px so they do not vanish far away.
        let px_m = 1.0 / g.px_per_m(d);
        let half = |w: f64| (w / 2.0).max(0.35 * px_m);
        if x < left - 0.3 || x > right + 0.3 {
            return 0.30 + 2.0 * grain;
        }
        if (x - left).abs() < half(0.2) || (x - right).abs() < half(0.2) {
            return 0.85;
        }
        for k in 1..g.lanes {
            let xb = right - k as f64 * g.lane_width_m;
            if (x - xb).abs() < half(0.15) && (d % 12.0) < 3.0 {
                return 0.85;
            }
        }
        ROAD_SHADE + grain
    }

    /// Renders a scene under conditions; the seed and the scene's time choose the noise and shake.
    pub fn render(&self, scene: &Scene, conditions: &Conditions, seed: u64) -> (GrayImage, Truth) {
        self.render_with(scene, &[], conditions, seed)
    }

    /// As [`Renderer::render`], with lanes closed on the stretch drawn as cones.
    pub fn render_with(
        &self,
        scene: &Scene,
        closures: &[SceneClosure],
        conditions: &Conditions,
        seed: u64,
    ) -> (GrayImage, Truth) {
        let g = &self.geometry;
        let (w, h) = (g.camera.width_px as usize, g.camera.height_px as usize);
        let frame_key = (scene.time_s * 1000.0).round() as i64 as u64;
        let mut rng = Rng::stream(seed, frame_key);
        let j = conditions.jitter_px;
        let (jx, jy) = if j > 0 {
            ((rng.next_u64() % (2 * j as u64 + 1)) as i32 - j, (rng.next_u64() % (2 * j as u64 + 1)) as i32 - j)
        } else {
            (0, 0)
        };
        let bw = w + 2 * MARGIN as usize;
        let mut rad = vec![0f32; w * h];
        for y in 0..h {
            let src = (y as i32 + MARGIN + jy) as usize * bw + (MARGIN + jx) as usize;
            rad[y * w..(y + 1) * w].copy_from_slice(&self.base[src..src + w]);
        }
        let shift = (-jx as f64, -jy as f64);
        for closure in closures {
            self.draw_closure(&mut rad, closure, shift);
        }
        let mut order: Vec<&SceneVehicle> = scene.vehicles.iter().collect();
        order.sort_by(|a, b| b.position_m.total_cmp(&a.position_m).then(a.id.cmp(&b.id)));
        if conditions.shadow_strength > 0.0 {
            for v in &order {
                self.draw_shadow(&mut rad, v, conditions, shift);
            }
        }
        let mut owner = vec![u32::MAX; w * h];
        let mut drawn: Vec<(usize, BBox, u64)> = Vec::new();
        for (i, v) in order.iter().enumerate() {
            if let Some((bbox, px)) = self.draw_vehicle(&mut rad, &mut owner, i as u32, v, shift) {
                drawn.push((i, bbox, px));
            }
        }
        let mut visible = vec![0u64; order.len()];
        for &o in &owner {
            if o != u32::MAX {
                visible[o as usize] += 1;
            }
        }
        let img = self.expose(&rad, conditions, scene.time_s, &mut rng);
        let mut vehicles: Vec<TruthBox> = drawn
            .into_iter()
            .map(|(i, bbox, px)| {
                let v = order[i];
                TruthBox {
                    id: v.id,
                    lane: v.lane,
                    position_m: (v.position_m * 1000.0).round() / 1000.0,
                    bbox,
                    stalled: v.stalled,
                    visible: if px == 0 { 0.0 } else { visible[i] as f64 / px as f64 },
                }
            })
            .collect();
        vehicles.reverse();
        (img, Truth { camera: g.camera.id.clone(), time_s: scene.time_s, vehicles })
    }

    fn corners(&self, v: &SceneVehicle) -> (f64, f64, f64, f64) {
        let g = &self.geometry;
        let xc = g.lane_center_x(v.lane) - v.offset_m;
        (xc - v.width_m / 2.0, xc + v.width_m / 2.0, g.d_of(v.position_m - v.length_m), g.d_of(v.position_m))
    }

    fn project_all(&self, pts: &[(f64, f64, f64)], shift: (f64, f64)) -> Option<Vec<(f64, f64)>> {
        pts.iter().map(|&(x, y, d)| self.geometry.project(x, y, d).map(|(u, v)| (u + shift.0, v + shift.1))).collect()
    }

    /// Where the cones of a closure stand: (lateral x, forward d from the pole), far first.
    fn cones(&self, c: &SceneClosure) -> Vec<(f64, f64)> {
        let g = &self.geometry;
        if c.lane == 0 || c.lane > g.lanes || c.to_m <= c.from_m {
            return Vec::new();
        }
        let (near, far) = (-5.0, g.camera.stretch_length_m + 40.0);
        let (from, to) = (c.from_m.max(near), c.to_m.min(far));
        let half = g.lane_width_m / 2.0;
        let centre = g.lane_center_x(c.lane);
        let mut edges = Vec::new();
        if c.lane > 1 {
            edges.push(centre + half); // shared with the lane to its right
        }
        if c.lane < g.lanes {
            edges.push(centre - half); // shared with the lane to its left
        }
        let mut out = Vec::new();
        if (near..=far).contains(&c.from_m) {
            for k in [-1.0, 0.0, 1.0] {
                out.push((centre + k * half * 0.6, g.d_of(c.from_m)));
            }
        }
        // Anchored to the closure's start, so cones stay put from frame to frame.
        let first = ((from - c.from_m) / CONE_SPACING_M).ceil().max(0.0) as i64;
        let mut k = first;
        loop {
            let at = c.from_m + k as f64 * CONE_SPACING_M;
            if at > to {
                break;
            }
            out.extend(edges.iter().map(|&x| (x, g.d_of(at))));
            k += 1;
        }
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out
    }

    fn draw_closure(&self, rad: &mut [f32], c: &SceneClosure, shift: (f64, f64)) {
        let (w, h) = (self.geometry.camera.width_px, self.geometry.camera.height_px);
        let r = CONE_BASE_M / 2.0;
        for (x, d) in self.cones(c) {
            if d < 1.0 {
                continue;
            }
            // A cone seen from the pole: a triangle on the road, with a band across its middle.
            let body = [(x - r, 0.0, d), (x + r, 0.0, d), (x, CONE_HEIGHT_M, d)];
            let band = [
                (x - 0.6 * r, 0.4 * CONE_HEIGHT_M, d),
                (x + 0.6 * r, 0.4 * CONE_HEIGHT_M, d),
                (x + 0.4 * r, 0.6 * CONE_HEIGHT_M, d),
                (x - 0.4 * r, 0.6 * CONE_HEIGHT_M, d),
            ];
            for (pts, shade) in [(&body[..], CONE_SHADE), (&band[..], CONE_BAND_SHADE)] {
                if let Some(p) = self.project_all(pts, shift) {
                    fill_convex(&convex_hull(&p), w, h, |row, a, b| {
                        let i = row as usize * w as usize;
                        rad[i + a as usize..i + b as usize].fill(shade);
                    });
                }
            }
        }
    }

    fn draw_shadow(&self, rad: &mut [f32], v: &SceneVehicle, c: &Conditions, shift: (f64, f64)) {
        let (xl, xr, dr, df) = self.corners(v);
        let (sx, sd) = (-c.shadow_dir.0 * v.height_m, c.shadow_dir.1 * v.height_m);
        let pts = [
            (xl, 0.0, dr),
            (xr, 0.0, dr),
            (xl, 0.0, df),
            (xr, 0.0, df),
            (xl + sx, 0.0, dr + sd),
            (xr + sx, 0.0, dr + sd),
            (xl + sx, 0.0, df + sd),
            (xr + sx, 0.0, df + sd),
        ];
        let Some(p) = self.project_all(&pts, shift) else { return };
        let (w, h) = (self.geometry.camera.width_px, self.geometry.camera.height_px);
        let k = (1.0 - c.shadow_strength) as f32;
        fill_convex(&convex_hull(&p), w, h, |row, a, b| {
            let r = row as usize * w as usize;
            for px in &mut rad[r + a as usize..r + b as usize] {
                *px *= k;
            }
        });
    }

    fn draw_vehicle(
        &self,
        rad: &mut [f32],
        owner: &mut [u32],
        index: u32,
        v: &SceneVehicle,
        shift: (f64, f64),
    ) -> Option<(BBox, u64)> {
        let (xl, xr, dr, df) = self.corners(v);
        if dr < 1.0 {
            return None;
        }
        let ht = v.height_m;
        let body = [
            (xl, 0.0, dr),
            (xr, 0.0, dr),
            (xl, 0.0, df),
            (xr, 0.0, df),
            (xl, ht, dr),
            (xr, ht, dr),
            (xl, ht, df),
            (xr, ht, df),
        ];
        let p = self.project_all(&body, shift)?;
        let (w, h) = (self.geometry.camera.width_px, self.geometry.camera.height_px);
        let hull = convex_hull(&p);
        let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0u32, 0u32);
        let mut count = 0u64;
        let s = v.shade.clamp(0.0, 1.0) as f32;
        fill_convex(&hull, w, h, |row, a, b| {
            let r = row as usize * w as usize;
            rad[r + a as usize..r + b as usize].fill(s * 0.78);
            owner[r + a as usize..r + b as usize].fill(index);
            x0 = x0.min(a);
            x1 = x1.max(b);
            y0 = y0.min(row);
            y1 = y1.max(row + 1);
            count += (b - a) as u64;
        });
        if count == 0 {
            return None;
        }
        let mut face = |pts: [(f64, f64, f64); 4], k: f32| {
            if let Some(q) = self.project_all(&pts, shift) {
                fill_convex(&convex_hull(&q), w, h, |row, a, b| {
                    let r = row as usize * w as usize;
                    rad[r + a as usize..r + b as usize].fill((s * k).min(1.0));
                });
            }
        };
        face([(xl, ht, dr), (xr, ht, dr), (xr, ht, df), (xl, ht, df)], 1.12);
        face([(xl, 0.0, dr), (xr, 0.0, dr), (xr, ht, dr), (xl, ht, dr)], 1.0);
        let inset = 0.15 * v.width_m;
        if ht < 2.5 {
            face(
                [
                    (xl + inset, 0.55 * ht, dr),
                    (xr - inset, 0.55 * ht, dr),
                    (xr - inset, 0.9 * ht, dr),
                    (xl + inset, 0.9 * ht, dr),
                ],
                0.45,
            );
        }
        face([(xl, 0.12 * ht, dr), (xr, 0.12 * ht, dr), (xr, 0.2 * ht, dr), (xl, 0.2 * ht, dr)], 0.6);
        Some((BBox { x: x0, y: y0, w: x1 - x0, h: y1 - y0 }, count))
    }

    fn expose(&self, rad: &[f32], c: &Conditions, time_s: f64, rng: &mut Rng) -> GrayImage {
        let (w, h) = (self.geometry.camera.width_px as usize, self.geometry.camera.height_px as usize);
        let gain = (255.0 * c.gain_at(time_s)) as f32;
        // The cloud: a soft vertical band drifting right, wrapping round a span wider than the frame.
        let span = 3.0 * w as f64;
        let centre = (c.cloud_speed_px_s * time_s) % span - w as f64;
        let col_gain: Vec<f32> = (0..w)
            .map(|x| {
                let t = (x as f64 - centre) / (0.35 * w as f64);
                (gain as f64 * (1.0 - c.cloud_depth * (-t * t).exp())) as f32
            })
            .collect();
        let sigma = c.noise_sigma as f32;
        let mut out = vec![0u8; w * h];
        let mut bits = 0u64;
        let mut left = 0;
        for (i, (o, &r)) in out.iter_mut().zip(rad).enumerate() {
            if left == 0 {
                bits = rng.next_u64();
                left = 5;
            }
            let n = self.noise[(bits & (NOISE_TABLE as u64 - 1)) as usize];
            bits >>= 12;
            left -= 1;
            let val = r * col_gain[i % w] + n * sigma;
            *o = val.clamp(0.0, 255.0) as u8;
        }
        GrayImage::from_raw(w as u32, h as u32, out).expect("buffer has width × height pixels")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::CameraSpec;

    fn scene() -> Scene {
        Scene { time_s: 1.0, camera: CameraSpec::default(), lanes: 3, lane_width_m: 3.5, vehicles: Vec::new() }
    }

    #[test]
    fn a_closure_is_drawn_as_cones_and_left_out_of_the_truth() {
        let r = Renderer::new(LaneGeometry::new(&CameraSpec::default(), 3, 3.5).unwrap());
        let c = Conditions::easy();
        let (plain, truth) = r.render(&scene(), &c, 7);
        let closure = SceneClosure { lane: 2, from_m: 20.0, to_m: 400.0 };
        let (coned, truth_coned) = r.render_with(&scene(), std::slice::from_ref(&closure), &c, 7);
        assert_eq!(truth, truth_coned, "cones are not vehicles");
        let changed = plain.as_raw().iter().zip(coned.as_raw()).filter(|(a, b)| a.abs_diff(**b) > 30).count();
        assert!(changed > 200, "the cones show: {changed} pixels changed");
        // Lane 2 of 3 shares both edges: three cones across its start, then two a row.
        let cones = r.cones(&closure);
        let at_start = cones.iter().filter(|(_, d)| (*d - r.geometry.d_of(20.0)).abs() < 1e-9).count();
        assert_eq!(at_start, 5, "three across and the first row");
        assert_eq!(cones.len(), 3 + 2 * 23, "rows every 12 m from 20 m up to 290 m (the drawn range)");
        // Lane 1 shares one edge; a closure off the stretch draws nothing.
        assert_eq!(r.cones(&SceneClosure { lane: 1, from_m: 500.0, to_m: 900.0 }), []);
        let past = r.cones(&SceneClosure { lane: 1, from_m: -100.0, to_m: 30.0 });
        assert_eq!(
            past.len(),
            3,
            "rows at -4, 8 and 20 m (32 is past its end), no row across (its start is out of view)"
        );
    }
}
