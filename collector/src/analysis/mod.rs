//! The analyzer: a classical pipeline from a grey frame to vehicles, loop counts and alarms.
//!
//! `analyze(frame, model, lanes)` is a plain function over plain data (STYLE.md point 17); the
//! model ([`Background`]) is the analyzer's whole memory and is passed in explicitly, so a shell
//! can keep one per camera and a test can replay a run frame by frame.
//!
//! The steps, each in its own small module:
//! 1. **Blur** ([`filters::box_blur`], a 5×5 box) against sensor noise.
//! 2. **Backgrounds** ([`background`]): a fast running average and a slow one updated only where
//!    nothing is in the foreground; a gain that follows the light; pixels where the fast one has
//!    stood away from the slow one for a while are foreground too (faint standing vehicles).
//! 3. **Threshold** at `k` times the measured noise: foreground against the slow background,
//!    *moving* against the fast one.
//! 4. **Morphology**: an opening removes specks and the edges a shaking pole leaves; a closing
//!    fills the holes in vehicles.
//! 5. **Connected components** ([`components`]) and blob statistics: box, area, the lane and
//!    position under its foot (through the camera's calibration), the share of stationary
//!    pixels. Blobs too small for a vehicle where they stand are dropped. Each box is trimmed by
//!    the blur's spread of its edges, which follows the blob's contrast.
//! 6. **Virtual loops** ([`loops`]): one short stretch of each lane near the camera; its share of
//!    foreground pixels with hysteresis gives occupancy and counts vehicles crossing. Shadow
//!    counts only inside the lane's own blobs, and what a nearer vehicle of another lane covers
//!    counts for none.
//! 7. **Stalled vehicles** ([`stall`]): a vehicle-sized blob most of whose pixels have been still
//!    for `stall_s` raises an alarm with its lane and position, held while it stands.
//!
//! Caveats: vehicles that touch in the image (a queue seen from behind, neighbours far away)
//! become one blob; a vehicle's shadow is part of its blob; loops undercount queues whose gaps
//! the vehicles' own height hides.

pub mod background;
pub mod components;
pub mod filters;
pub mod loops;
pub mod result;
pub mod shadow;
pub mod stall;

use image::GrayImage;
use serde::{Deserialize, Serialize};

use crate::camera::LaneGeometry;
use crate::error::CollectorError;
use crate::geom::BBox;
use background::Planes;
use loops::Loops;
use shadow::ShadowModel;
use stall::{StallTracker, StalledAlarm};

/// The analyzer's tuning, with defaults for 640×360 at 5 frames per second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalyzerConfig {
    /// Frames per second of world time.
    pub fps: f64,
    /// Radius of the box blur.
    pub blur_radius: usize,
    /// Update rate of the fast background per frame.
    pub alpha_fast: f32,
    /// Update rate of the slow background per frame, where it is updated.
    pub alpha_slow: f32,
    /// Frames that bootstrap the slow background.
    pub warmup_frames: u32,
    /// Lowest foreground threshold, grey levels.
    pub threshold_min: f32,
    /// Threshold in multiples of the measured noise.
    pub threshold_k: f32,
    /// Frames still before a pixel is taken into the slow background anyway.
    pub hold_max_frames: u32,
    /// Where each lane's loop starts along the stretch, metres.
    pub loop_position_m: f64,
    /// Length of a loop, metres.
    pub loop_length_m: f64,
    /// Share of the loop's width (of the lane's) it covers.
    pub loop_width_share: f64,
    /// Occupancy at which a loop turns on.
    pub loop_on: f64,
    /// Occupancy at which it turns off again.
    pub loop_off: f64,
    /// Smallest blob, as a share of a car's expected area where it stands.
    pub min_area_share: f64,
    /// Seconds a vehicle must stand still before it is alarmed as stalled.
    pub stall_s: f64,
    /// Farthest position along the stretch at which stalls are alarmed (far blobs are too small
    /// to trust), metres.
    pub stall_range_m: f64,
    /// Seconds an alarm is held after its vehicle was last seen.
    pub alarm_hold_s: f64,
    /// Whether cast shadows are taken out of the foreground ([`shadow`]).
    #[serde(default = "yes")]
    pub suppress_shadows: bool,
    /// Pixels trimmed from each side of a blob's box: the blur widens every edge's thresholded
    /// extent by about its radius, and the box should fit the vehicle, not its blurred rim.
    #[serde(default = "two")]
    pub edge_trim_px: u32,
}

fn yes() -> bool {
    true
}

fn two() -> u32 {
    2
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        Self {
            fps: 5.0,
            blur_radius: 2,
            alpha_fast: 0.15,
            alpha_slow: 0.03,
            warmup_frames: 60,
            threshold_min: 10.0,
            threshold_k: 4.0,
            hold_max_frames: 5 * 60 * 15,
            loop_position_m: 15.0,
            loop_length_m: 3.0,
            loop_width_share: 0.6,
            loop_on: 0.4,
            loop_off: 0.15,
            min_area_share: 0.25,
            stall_s: 9.0,
            alarm_hold_s: 5.0,
            stall_range_m: 150.0,
            suppress_shadows: true,
            edge_trim_px: 2,
        }
    }
}

impl AnalyzerConfig {
    /// Checks every value is in its range.
    pub fn validate(&self) -> Result<(), CollectorError> {
        let ok = self.fps > 0.0
            && self.fps <= 60.0
            && self.blur_radius <= 8
            && (0.0..=1.0).contains(&self.alpha_fast)
            && (0.0..=1.0).contains(&self.alpha_slow)
            && self.loop_off < self.loop_on
            && self.loop_length_m > 0.0
            && self.stall_s > 0.0;
        if ok {
            Ok(())
        } else {
            Err(CollectorError::InvalidConfig { what: format!("analyzer config out of range: {self:?}") })
        }
    }
}

/// One blob that looks like a vehicle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blob {
    /// Its box in the frame.
    pub bbox: BBox,
    /// Its pixel count.
    pub area: u64,
    /// The lane under its foot.
    pub lane: u8,
    /// Where its foot is along the stretch, metres.
    pub position_m: f64,
    /// Share of its pixels that are foreground but not moving.
    pub still_share: f64,
}

/// One lane's virtual loop in one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopReading {
    /// The lane.
    pub lane: u8,
    /// Share of the loop covered by foreground.
    pub occupancy: f64,
    /// Whether the loop is on (a vehicle over it), after hysteresis.
    pub on: bool,
    /// Vehicles counted since the model started.
    pub count: u64,
}

/// What one frame showed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detections {
    /// Frame number since the model started (0-based).
    pub frame: u64,
    /// The vehicles.
    pub blobs: Vec<Blob>,
    /// One reading per lane, lane 1 first.
    pub loops: Vec<LoopReading>,
    /// Stalled-vehicle alarms in force.
    pub stalled: Vec<StalledAlarm>,
    /// Light gain against the slow background.
    pub gain: f64,
    /// Measured noise, grey levels.
    pub noise: f64,
    /// The learned shadow factor (frame ÷ background in a shadow), once one has been seen.
    #[serde(default)]
    pub shadow_ratio: Option<f64>,
}

/// The analyzer's memory for one camera: backgrounds, loops, alarms, and scratch buffers.
#[derive(Debug, Clone)]
pub struct Background {
    config: AnalyzerConfig,
    planes: Planes,
    loops: Loops,
    stall: StallTracker,
    shadow: ShadowModel,
    shadow_px: Vec<u8>,
    still: Vec<u8>,
    blurred: Vec<u8>,
    fg: Vec<u8>,
    moving: Vec<u8>,
    scratch16: Vec<u16>,
    scratch8: Vec<u8>,
    queue: Vec<u32>,
}

impl Background {
    /// A fresh model for a camera.
    pub fn new(lanes: &LaneGeometry, config: AnalyzerConfig) -> Result<Self, CollectorError> {
        config.validate()?;
        let (w, h) = (lanes.camera.width_px as usize, lanes.camera.height_px as usize);
        Ok(Self {
            loops: Loops::new(lanes, &config),
            stall: StallTracker::default(),
            shadow: ShadowModel::default(),
            shadow_px: vec![0; w * h],
            still: vec![0; w * h],
            planes: Planes::new(w, h),
            config,
            blurred: Vec::new(),
            fg: vec![0; w * h],
            moving: vec![0; w * h],
            scratch16: Vec::new(),
            scratch8: Vec::new(),
            queue: Vec::new(),
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &AnalyzerConfig {
        &self.config
    }

    /// The last frame's foreground mask (0/1 per pixel), after morphology.
    pub fn foreground(&self) -> &[u8] {
        &self.fg
    }

    /// The last frame's still mask (0/1 per pixel): foreground that has stood still for `stall_s`.
    pub fn still(&self) -> &[u8] {
        &self.still
    }

    /// The last frame's shadow mask (0/1 per pixel): foreground taken for cast shadow.
    pub fn shadow(&self) -> &[u8] {
        &self.shadow_px
    }

    /// The slow background (grey levels, before the light's gain), for diagnostics.
    pub fn slow_background(&self) -> &[f32] {
        &self.planes.slow
    }

    /// The last frame, blurred, for diagnostics.
    pub fn blurred(&self) -> &[u8] {
        &self.blurred
    }
}

/// Analyses one frame; the frame must have the camera's size.
pub fn analyze(frame: &GrayImage, model: &mut Background, lanes: &LaneGeometry) -> Result<Detections, CollectorError> {
    let (w, h) = (model.planes.width, model.planes.height);
    if frame.width() as usize != w || frame.height() as usize != h {
        return Err(CollectorError::WrongSize {
            width: frame.width(),
            height: frame.height(),
            expected_width: w as u32,
            expected_height: h as u32,
        });
    }
    let cfg = model.config.clone();
    filters::box_blur(frame.as_raw(), w, h, cfg.blur_radius, &mut model.blurred, &mut model.scratch16);
    let gain = model.planes.step(&model.blurred, &cfg, &mut model.fg, &mut model.moving);
    let fg = &mut model.fg;
    if cfg.suppress_shadows && model.planes.frames > cfg.warmup_frames as u64 {
        let threshold = (cfg.threshold_k * model.planes.noise).max(cfg.threshold_min);
        let (img, bg, noise) = (&model.blurred, &model.planes.slow, model.planes.noise);
        // (`mark` clears the mask; with nothing marked it stays clear and needs no morphology.)
        if model.shadow.mark(img, bg, gain, noise, threshold, fg, &mut model.shadow_px) > 0 {
            // Specks of shadow-like paint inside vehicles are not shadows.
            filters::morph(&mut model.shadow_px, w, h, 1, false, &mut model.scratch8);
            filters::morph(&mut model.shadow_px, w, h, 1, true, &mut model.scratch8);
            // The blurred rim around a shadow, half shadow and half road, goes with it.
            let lo = model.shadow.ratio.unwrap_or(0.5) - shadow::BAND_MIN;
            shadow::grow_penumbra(
                &mut model.shadow_px,
                fg,
                img,
                bg,
                gain,
                lo,
                PENUMBRA_STEPS,
                (w, h),
                &mut model.queue,
            );
        }
    } else {
        model.shadow_px.fill(0);
    }
    filters::morph(fg, w, h, 1, false, &mut model.scratch8);
    filters::morph(fg, w, h, 1, true, &mut model.scratch8);
    filters::morph(fg, w, h, 1, true, &mut model.scratch8);
    filters::morph(fg, w, h, 1, false, &mut model.scratch8);
    let threshold = (cfg.threshold_k * model.planes.noise).max(cfg.threshold_min);
    let frame_no = model.planes.frames - 1;
    let warm = model.planes.frames <= cfg.warmup_frames as u64;
    let mut blobs = Vec::new();
    let mut shaped = Vec::new();
    if !warm {
        let still_frames = (cfg.stall_s * cfg.fps).round() as u16;
        let mut parts = Vec::new();
        for c in components::components(fg, w, h) {
            split(without_shadow(c, &model.shadow_px, w), lanes, 0, &mut parts);
        }
        for c in parts {
            let (u, v) = c.bbox.foot();
            let Some((lane, position_m)) = lanes.locate(u, v - 0.5) else { continue };
            if (c.area as f64) < cfg.min_area_share * expected_car_area(lanes, position_m) {
                continue;
            }
            let (mut still, mut contrast, mut strong) = (0u64, 0f32, 0u32);
            for r in &c.runs {
                let row = r.y as usize * w;
                let span = row + r.x0 as usize..row + r.x1 as usize;
                still += model.planes.age[span.clone()].iter().filter(|&&a| a >= still_frames).count() as u64;
                for (&p, &b) in model.blurred[span.clone()].iter().zip(&model.planes.slow[span]) {
                    let d = (p as f32 - b * gain).abs();
                    if d > threshold {
                        contrast += d;
                        strong += 1;
                    }
                }
            }
            let still_share = still as f64 / c.area as f64;
            // A vehicle spans its box in some row; noise and the cones of a closed lane, joined
            // into diagonal chains, do not (a standing one, whose blob is whole, is held to more).
            let widest_min = if still_share >= BLOB_STILL_SHARE_MIN { STILL_WIDEST_ROW_MIN } else { WIDEST_ROW_MIN };
            shaped.push(c.widest_row_share() >= widest_min);
            let contrast = if strong == 0 { 0.0 } else { contrast / strong as f32 };
            let t = edge_trim(contrast, threshold, cfg.blur_radius).min(cfg.edge_trim_px);
            blobs.push(Blob { bbox: trim(c.bbox, t), area: c.area, lane, position_m, still_share });
        }
    }
    // The loops see every blob: one that is not vehicle-shaped still occludes a loop.
    let loops = if warm { model.loops.idle() } else { model.loops.step(fg, &model.shadow_px, &blobs, &cfg) };
    let blobs: Vec<Blob> = blobs.into_iter().zip(shaped).filter_map(|(b, vehicle)| vehicle.then_some(b)).collect();
    // Ghosts build up over seconds; looking for them once a second is enough.
    if !warm && frame_no.is_multiple_of(GHOST_EVERY_FRAMES) {
        clear_ghosts(model);
    }
    let mut still = if warm { Vec::new() } else { still_vehicles(model, lanes) };
    // A faint standing vehicle's still pixels are cut into slivers by the seams between its
    // faces, but its blob (closed across them) is whole: a blob that is mostly still is a
    // standing vehicle too. (One merged with passing traffic is not mostly still; the still
    // mask's components find that one.)
    still.extend(blobs.iter().filter(|b| b.still_share >= BLOB_STILL_SHARE_MIN).cloned());
    let stalled = model.stall.step(&still, frame_no, &cfg);
    Ok(Detections {
        frame: frame_no,
        blobs,
        loops,
        stalled,
        gain: gain as f64,
        noise: model.planes.noise as f64,
        shadow_ratio: model.shadow.ratio.map(f64::from),
    })
}

/// Where a histogram dips to at most `VALLEY_SHARE` of its peak in its middle three fifths.
fn valley(hist: &[u64]) -> Option<usize> {
    let n = hist.len();
    let peak = *hist.iter().max()?;
    let (lo, hi) = (n / 5, n - n / 5);
    let (i, &m) = hist[lo..hi].iter().enumerate().min_by_key(|&(_, &v)| v)?;
    ((m as f64) <= VALLEY_SHARE * peak as f64).then_some(lo + i)
}

/// Depth to which a blob is cut into vehicles.
const SPLIT_DEPTH_MAX: u32 = 3;
/// A cut is made where the blob is at most this thin, relative to its thickest.
const VALLEY_SHARE: f64 = 0.35;

/// Cuts a blob too wide (or too tall) for one vehicle where it stands at its thinnest column (or
/// row): side-by-side vehicles far away, and vehicles one behind the other, touch in the image.
fn split(c: components::Component, g: &LaneGeometry, depth: u32, out: &mut Vec<components::Component>) {
    let (u, v) = c.bbox.foot();
    let Some((_, d)) = g.ground(u, v - 0.5) else {
        out.push(c);
        return;
    };
    if depth >= SPLIT_DEPTH_MAX || c.runs.is_empty() {
        out.push(c);
        return;
    }
    let ppm = g.px_per_m(d);
    let b = c.bbox;
    let car_h = expected_car_area(g, g.position_of(d)) / (1.8 * ppm);
    let cut_cols = b.w as f64 > 1.5 * 2.6 * ppm;
    let cut_rows = !cut_cols && b.h as f64 > 2.2 * car_h;
    let cut = if cut_cols {
        let mut hist = vec![0u64; b.w as usize];
        for r in &c.runs {
            for x in r.x0..r.x1 {
                hist[(x - b.x) as usize] += 1;
            }
        }
        valley(&hist).map(|i| (true, b.x + i as u32))
    } else if cut_rows {
        let mut hist = vec![0u64; b.h as usize];
        for r in &c.runs {
            hist[(r.y - b.y) as usize] += (r.x1 - r.x0) as u64;
        }
        valley(&hist).map(|i| (false, b.y + i as u32))
    } else {
        None
    };
    let cut = cut.or_else(|| queue_cut(&c, car_h, 1.8 * ppm)).or_else(|| concave_cut(&c, g));
    let Some((by_col, at)) = cut else {
        out.push(c);
        return;
    };
    let (mut a, mut z) = (Vec::new(), Vec::new());
    for r in &c.runs {
        if by_col {
            if r.x0 < at {
                a.push(components::Run { x1: r.x1.min(at), ..*r });
            }
            if r.x1 > at {
                z.push(components::Run { x0: r.x0.max(at), ..*r });
            }
        } else if r.y < at {
            a.push(*r);
        } else {
            z.push(*r);
        }
    }
    for runs in [a, z] {
        if runs.is_empty() {
            continue;
        }
        let area = runs.iter().map(|r| (r.x1 - r.x0) as u64).sum();
        let part = components::Component { bbox: components::bbox_of(&runs), area, runs };
        split(part, g, depth + 1, out);
    }
}

/// Vehicles standing still: the components of the foreground that has been still for `stall_s`
/// (not the blobs, which merge a standing vehicle with the traffic passing it), each at least
/// `STILL_AREA_SHARE` of a car where it stands.
fn still_vehicles(model: &mut Background, lanes: &LaneGeometry) -> Vec<Blob> {
    let cfg = &model.config;
    let (w, h) = (model.planes.width, model.planes.height);
    let still_frames = (cfg.stall_s * cfg.fps).round() as u16;
    let mask = &mut model.still;
    // Age, not this frame's foreground: a low-contrast vehicle's mask is spotty in the noise.
    for (m, &a) in mask.iter_mut().zip(&model.planes.age) {
        *m = (a >= still_frames) as u8;
    }
    // Closing first: the seams between a faint vehicle's faces (where the blurred difference
    // crosses zero) are never foreground and never age, and would cut it into slivers.
    filters::morph(mask, w, h, 1, true, &mut model.scratch8);
    filters::morph(mask, w, h, 1, false, &mut model.scratch8);
    filters::morph(mask, w, h, 1, false, &mut model.scratch8);
    filters::morph(mask, w, h, 1, true, &mut model.scratch8);
    let mut out = Vec::new();
    for c in components::components(mask, w, h) {
        let (u, v) = c.bbox.foot();
        let Some((lane, position_m)) = lanes.locate(u, v - 0.5) else { continue };
        if (c.area as f64) < STILL_AREA_SHARE * expected_car_area(lanes, position_m)
            || c.widest_row_share() < STILL_WIDEST_ROW_MIN
        {
            continue;
        }
        out.push(Blob { bbox: c.bbox, area: c.area, lane, position_m, still_share: 1.0 });
    }
    out
}

/// Frames between two searches for ghosts.
const GHOST_EVERY_FRAMES: u64 = 5;
/// Frames a region must stand still before it is tested for a ghost.
const GHOST_AGE_FRAMES: u16 = 10;
/// A still region is a ghost when the frame's step across its border is less than this share of
/// the slow background's.
const GHOST_STEP_SHARE: f32 = 0.5;

/// Takes ghosts into the slow background: regions that are foreground only because the slow
/// background is wrong there (it drifted under faint far traffic, or learned a vehicle), which
/// would otherwise be held as "still" for `hold_max_frames`. A standing vehicle differs from
/// the road around it in the frame, so the frame has a step across its border and the
/// background has none; a ghost is the reverse: the frame shows road continuing across the
/// border, and the step is in the background.
fn clear_ghosts(model: &mut Background) {
    let (w, h) = (model.planes.width, model.planes.height);
    let mask = &mut model.still;
    for ((m, &f), &a) in mask.iter_mut().zip(&model.fg).zip(&model.planes.age) {
        *m = (f != 0 && a >= GHOST_AGE_FRAMES) as u8;
    }
    let img = &model.blurred;
    let planes = &mut model.planes;
    for c in components::components(mask, w, h) {
        let (mut frame_step, mut bg_step) = (0f32, 0f32);
        for r in &c.runs {
            let row = r.y as usize * w;
            let (a, z) = (r.x0 as usize, r.x1 as usize - 1);
            for (inside, outside) in [(a, a.saturating_sub(2)), (z, (z + 2).min(w - 1))] {
                frame_step += (img[row + inside] as f32 - img[row + outside] as f32).abs();
                bg_step += (planes.slow[row + inside] - planes.slow[row + outside]).abs();
            }
        }
        if frame_step < GHOST_STEP_SHARE * bg_step {
            for r in &c.runs {
                let span = r.y as usize * w + r.x0 as usize..r.y as usize * w + r.x1 as usize;
                for (s, &p) in planes.slow[span.clone()].iter_mut().zip(&img[span.clone()]) {
                    *s = p as f32;
                }
                planes.age[span.clone()].fill(0);
                planes.stat[span].fill(0);
            }
        }
    }
}

/// Share of a blob's pixels that must be still for the blob to be a standing vehicle.
const BLOB_STILL_SHARE_MIN: f64 = 0.6;

/// Smallest share of its box's width that a vehicle's blob spans in its widest row. Cones along a
/// closed lane's edge, joined far away into a diagonal chain, span about a third, and so do chains
/// of noise under the hard set's (dropping those raised its F1 by 0.02; see the README).
const WIDEST_ROW_MIN: f64 = 0.5;

/// The same for a standing vehicle (a still blob, or a component of the still mask). Still cone
/// chains span about half; a standing vehicle, whole or in the faint slivers the still mask
/// keeps of it, spans 0.7 and more (see `closures.rs`).
const STILL_WIDEST_ROW_MIN: f64 = 0.65;

/// Smallest still region that is a standing vehicle, as a share of a car's area where it stands.
const STILL_AREA_SHARE: f64 = 0.4;

/// Pixels by which the shadow mask grows into its penumbra (the blur's spread of its edge).
const PENUMBRA_STEPS: usize = 4;

/// Share of a blob that must be left once its shadow is taken away for the rest to be the vehicle;
/// below it the "shadow" is more likely a dark vehicle's paint, and the blob is kept whole.
const CORE_SHARE_MIN: f64 = 0.4;

/// A blob with its cast shadow taken out: the vehicle is found with its shadow attached (so the
/// shadow never breaks it into pieces), and its box and foot are then those of the rest.
fn without_shadow(c: components::Component, shadow: &[u8], w: usize) -> components::Component {
    let mut runs = Vec::with_capacity(c.runs.len());
    for r in &c.runs {
        let row = &shadow[r.y as usize * w..];
        let mut x = r.x0;
        while x < r.x1 {
            if row[x as usize] != 0 {
                x += 1;
                continue;
            }
            let s = x;
            while x < r.x1 && row[x as usize] == 0 {
                x += 1;
            }
            runs.push(components::Run { x0: s, x1: x, ..*r });
        }
    }
    let area: u64 = runs.iter().map(|r| (r.x1 - r.x0) as u64).sum();
    if runs.is_empty() || (area as f64) < CORE_SHARE_MIN * c.area as f64 {
        return c;
    }
    components::Component { bbox: components::bbox_of(&runs), area, runs }
}

/// How far the blur spreads a blob's thresholded extent past its edges: a step of contrast `c`
/// becomes a ramp `2r + 1` pixels wide, whose part above the threshold `t` reaches
/// `r + ½ − (2r + 1)·t/c` pixels outside the edge, plus the half pixel in which the threshold
/// falls (a pixel is foreground when its centre is past it). `c` is the blob's mean contrast
/// over its pixels above the threshold. A strong edge spreads by about the radius, a faint one
/// by nothing (a fixed trim cut a faint vehicle's box into it: measured on the hard set, F1
/// 0.76 → 0.80 on seed 7).
fn edge_trim(c: f32, t: f32, r: usize) -> u32 {
    if c <= 0.0 {
        return 0;
    }
    let r = r as f32;
    (r + 1.0 - (2.0 * r + 1.0) * t / c).round().clamp(0.0, r) as u32
}

/// A box with `t` pixels taken off each side, if it stays at least 3 pixels each way.
fn trim(b: BBox, t: u32) -> BBox {
    if b.w >= 2 * t + 3 && b.h >= 2 * t + 3 {
        BBox { x: b.x + t, y: b.y + t, w: b.w - 2 * t, h: b.h - 2 * t }
    } else {
        b
    }
}

/// A blob at most this many car widths wide is one lane's vehicles, not a truck.
const QUEUE_WIDTH_MAX: f64 = 1.25;
/// A car-wide blob taller than this many car heights is a line of vehicles seen from behind.
const QUEUE_HEIGHT_MIN: f64 = 1.6;

/// Where to cut a line of vehicles that overlap in the image (far away, each one's roof hides the
/// gap to the next): a blob a car wide but much taller than a car where its foot stands has the
/// nearest car at the bottom, so it is cut about one car height above its foot, at the narrowest
/// row near there. No cut for anything as wide as a truck or no taller than a van.
fn queue_cut(c: &components::Component, car_h: f64, car_w: f64) -> Option<(bool, u32)> {
    let b = c.bbox;
    if b.w as f64 > QUEUE_WIDTH_MAX * car_w || (b.h as f64) < QUEUE_HEIGHT_MIN * car_h || car_h < 3.0 {
        return None;
    }
    let mut hist = vec![0u64; b.h as usize];
    for r in &c.runs {
        hist[(r.y - b.y) as usize] += (r.x1 - r.x0) as u64;
    }
    let bottom = b.h as f64;
    let (lo, hi) = ((bottom - 1.2 * car_h).max(1.0) as usize, (bottom - 0.8 * car_h).max(1.0) as usize);
    let at = (lo..=hi.min(b.h as usize - 1)).min_by_key(|&i| hist[i])?;
    Some((false, b.y + at as u32))
}

/// Smallest notch that cuts a blob, pixels (or this share of its width, if more).
const NOTCH_MIN_PX: i64 = 4;
const NOTCH_MIN_SHARE: f64 = 0.25;
/// Rows each side of a notch must have for a cut.
const NOTCH_PART_ROWS: usize = 4;
/// Height each side of a notch must have, in car heights where it stands.
const NOTCH_PART_CAR_H: f64 = 0.6;

/// Where to cut two vehicles that touch corner to corner (a near one and a farther one in the
/// next lane, up and to the side of it in the image). One vehicle's image is convex: going down
/// the rows its left edge moves left ever less (then right ever more), its right edge likewise
/// mirrored. A row where an edge suddenly moves outwards again, after it had stopped doing so,
/// is a notch between two vehicles; the blob is cut above the deepest such notch.
fn concave_cut(c: &components::Component, g: &LaneGeometry) -> Option<(bool, u32)> {
    let b = c.bbox;
    let n = b.h as usize;
    if n < 6 {
        return None;
    }
    let (mut left, mut right) = (vec![i64::MAX; n], vec![i64::MIN; n]);
    for r in &c.runs {
        let y = (r.y - b.y) as usize;
        left[y] = left[y].min(r.x0 as i64);
        right[y] = right[y].max(r.x1 as i64);
    }
    let need = NOTCH_MIN_PX.max((NOTCH_MIN_SHARE * b.w as f64) as i64);
    let mut best: Option<(i64, usize)> = None;
    // Outward moves going down, for each edge: how far it widens from row y-1 to row y.
    let (mut least_l, mut least_r) = (i64::MAX, i64::MAX);
    for y in 1..n {
        if left[y] == i64::MAX || left[y - 1] == i64::MAX {
            continue;
        }
        let (wl, wr) = (left[y - 1] - left[y], right[y] - right[y - 1]);
        for (widen, least) in [(wl, least_l), (wr, least_r)] {
            if least == i64::MAX {
                continue;
            }
            let notch = widen - least.max(0);
            let parts_tall = y >= NOTCH_PART_ROWS && n - y >= NOTCH_PART_ROWS && {
                // Both parts must be as tall as a car where they stand: a cast shadow, attached
                // low at one side, makes a notch too, but cuts a vehicle into slices.
                let mid = |rows: std::ops::Range<usize>| {
                    let xs: Vec<i64> =
                        rows.clone().filter(|&r| left[r] != i64::MAX).map(|r| left[r] + right[r]).collect();
                    (xs.iter().sum::<i64>() as f64 / (2 * xs.len().max(1)) as f64, (b.y as usize + rows.end) as f64)
                };
                let tall = |rows: std::ops::Range<usize>| {
                    let (u, v) = mid(rows.clone());
                    g.ground(u, v - 0.5).is_some_and(|(_, d)| {
                        let h = expected_car_area(g, g.position_of(d)) / (1.8 * g.px_per_m(d));
                        rows.len() as f64 >= NOTCH_PART_CAR_H * h
                    })
                };
                tall(0..y) && tall(y..n)
            };
            if notch >= need && parts_tall && best.is_none_or(|b| notch > b.0) {
                best = Some((notch, y));
            }
        }
        least_l = least_l.min(wl);
        least_r = least_r.min(wr);
    }
    best.map(|(_, y)| (false, b.y + y as u32))
}

/// The pixel area a 4.5 m car would have with its front at `position_m`.
pub fn expected_car_area(g: &LaneGeometry, position_m: f64) -> f64 {
    let d = g.d_of(position_m);
    let x = g.lane_center_x(1);
    let pts = [(x - 0.9, 0.0, d - 4.5), (x + 0.9, 0.0, d - 4.5), (x - 0.9, 1.5, d), (x + 0.9, 1.5, d)];
    let p: Option<Vec<(f64, f64)>> = pts.iter().map(|&(a, b, c)| g.project(a, b, c)).collect();
    match p {
        Some(p) => {
            let wpx = (p[1].0 - p[0].0).abs();
            let hpx = (p[0].1 - p[2].1).abs();
            (wpx * hpx).max(4.0)
        }
        None => 4.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::CameraSpec;

    fn blob(rows: &[(u32, u32, u32)]) -> components::Component {
        let runs: Vec<components::Run> = rows.iter().map(|&(y, x0, x1)| components::Run { y, x0, x1 }).collect();
        let area = runs.iter().map(|r| (r.x1 - r.x0) as u64).sum();
        components::Component { bbox: components::bbox_of(&runs), area, runs }
    }

    #[test]
    fn a_notch_between_two_vehicles_is_cut_a_convex_vehicle_is_not() {
        let g = LaneGeometry::new(&CameraSpec::default(), 3, 3.5).unwrap();
        // Near the camera (rows 150..280) a car is some 40 rows tall: a far car (rows 130..156,
        // columns 280..308) touching a near one (rows 156..278, columns 282..344) at its corner.
        let mut rows: Vec<(u32, u32, u32)> = (130..156).map(|y| (y, 280, 308)).collect();
        rows.extend((156..278).map(|y| (y, 282, 344)));
        let cut = concave_cut(&blob(&rows), &g);
        assert_eq!(cut, Some((false, 156)));
        // One convex vehicle, widening then narrowing smoothly: no cut.
        let convex: Vec<(u32, u32, u32)> =
            (150..270).map(|y| (y, 300 - (y - 150).min(20) / 2, 340 + (y - 150).min(20) / 2)).collect();
        assert_eq!(concave_cut(&blob(&convex), &g), None);
    }

    #[test]
    fn a_strong_edge_is_trimmed_by_the_blur_radius_a_faint_one_not_at_all() {
        assert_eq!(edge_trim(120.0, 10.0, 2), 2);
        assert_eq!(edge_trim(25.0, 10.0, 2), 1);
        assert_eq!(edge_trim(15.0, 10.0, 2), 0);
        assert_eq!(edge_trim(0.0, 10.0, 2), 0);
    }

    #[test]
    fn a_shadow_leaves_the_box_but_a_dark_vehicle_is_kept_whole() {
        let w = 20;
        let c = blob(&[(0, 0, 10), (1, 0, 10), (2, 0, 10)]);
        let mut shadow = vec![0u8; w * 3];
        for y in 0..3 {
            for x in 0..3 {
                shadow[y * w + x] = 1;
            }
        }
        let core = without_shadow(c.clone(), &shadow, w);
        assert_eq!(core.bbox, BBox { x: 3, y: 0, w: 7, h: 3 });
        // All "shadow": more likely a dark vehicle's paint; kept as it is.
        shadow.iter_mut().for_each(|v| *v = 1);
        assert_eq!(without_shadow(c.clone(), &shadow, w), c);
    }

    #[test]
    fn a_ghost_is_taken_into_the_background_a_standing_vehicle_is_not() {
        let g = LaneGeometry::new(&CameraSpec::default(), 3, 3.5).unwrap();
        let cfg = AnalyzerConfig { warmup_frames: 2, ..AnalyzerConfig::default() };
        let mut model = Background::new(&g, cfg).unwrap();
        let (w, h) = (640usize, 360usize);
        let road = image::GrayImage::from_raw(w as u32, h as u32, vec![100; w * h]).unwrap();
        for _ in 0..3 {
            analyze(&road, &mut model, &g).unwrap();
        }
        // A ghost: the background learned a dark square that the road no longer shows.
        for y in 200..240 {
            for x in 300..340 {
                model.planes.slow[y * w + x] = 40.0;
            }
        }
        // A vehicle standing on the road elsewhere.
        let mut car = road.clone();
        for y in 250..290 {
            for x in 100..150 {
                car.put_pixel(x, y, image::Luma([30]));
            }
        }
        for _ in 0..30 {
            analyze(&car, &mut model, &g).unwrap();
        }
        assert!((model.planes.slow[220 * w + 320] - 100.0).abs() < 2.0, "the ghost is cleared");
        assert!(model.foreground()[270 * w + 125] == 1, "the vehicle stays foreground");
        assert!((model.planes.slow[270 * w + 125] - 100.0).abs() < 2.0, "and out of the background");
    }
}
