//! The analyzer's memory: two running-average backgrounds and each pixel's stationary age.
//!
//! - The **fast** background follows every pixel (time constant about a second), so a vehicle
//!   that stops melts into it within two or three seconds: a pixel that differs from it is
//!   *moving*.
//! - The **slow** background is updated only where the frame shows no foreground, so stopped
//!   traffic never melts into it: a pixel that differs from it is *foreground*, moving or not.
//! - A pixel that is foreground but not moving ages by one frame; moving takes two frames of age
//!   away (a vehicle passing in front of a stalled one does not reset it); background takes
//!   `AGE_DROP` away (noise that hides a low-contrast stalled vehicle for a frame does not
//!   reset it either), and the slow background learns a pixel only once its age is back to 0.
//!
//! - A pixel is also foreground where it has looked **stationary** for `STAT_FRAMES`: the fast
//!   background (an average over a second or two, its noise a quarter of a frame's) differs
//!   from the slow one by more than a low threshold, and the frame is nearer the fast one. This
//!   finds the faces of a standing low-contrast vehicle that a single noisy frame does not.
//!   (Caveat: a face less than about twice `STAT_MIN` from the road is learned by the slow
//!   background, which creeps after the fast one, before the test trips.)
//!
//! The first `warmup` frames bootstrap the slow background with an approximate running median
//! (a step towards each frame), so vehicles present at the start leave no ghosts. Global light
//! changes (dusk, clouds) are followed by the slow background where it is updated and by a gain
//! estimated each frame from the background pixels' ratio to it.
//!
//! Caveats: a region that stays foreground and still for `hold_max` frames is taken into the
//! slow background (to recover from any ghost), so a stalled vehicle is held for that long.

// Pixel and vehicle loops index several parallel buffers at once; an index reads best.
#![allow(clippy::needless_range_loop)]

use super::AnalyzerConfig;

/// The stationary test's threshold: this many times the noise, at least `STAT_MIN` grey levels.
/// The fast background's noise is about a quarter of the frame's, so this is far above it.
pub const STAT_K: f32 = 2.0;
/// The stationary test's lowest threshold, grey levels (above the lag of the backgrounds
/// behind a passing cloud's edge).
pub const STAT_MIN: f32 = 4.0;
/// Frames a pixel must look stationary to be foreground (a fading trail never lasts that long
/// once the frame is nearer the slow background again).
pub const STAT_FRAMES: u8 = 8;
/// Stationary count lost in a frame that does not look stationary.
pub const STAT_DROP: u8 = u8::MAX;

/// Frames of age a pixel loses in a frame where it is background.
pub const AGE_DROP: u16 = 3;

/// Backgrounds and per-pixel state for one camera.
#[derive(Debug, Clone)]
pub struct Planes {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// The fast background.
    pub fast: Vec<f32>,
    /// The slow background.
    pub slow: Vec<f32>,
    /// Frames each pixel has been foreground and still.
    pub age: Vec<u16>,
    /// Frames in a row (less the misses) each pixel has looked stationary: its fast background
    /// away from the slow one, and the frame nearer the fast one.
    pub stat: Vec<u8>,
    /// Frames seen.
    pub frames: u64,
    /// Estimated noise of the blurred frame against the slow background (grey levels).
    pub noise: f32,
}

impl Planes {
    /// Empty planes for a frame size.
    pub fn new(width: usize, height: usize) -> Self {
        let n = width * height;
        Self {
            width,
            height,
            fast: vec![0.0; n],
            slow: vec![0.0; n],
            age: vec![0; n],
            stat: vec![0; n],
            frames: 0,
            noise: 4.0,
        }
    }

    /// Compares a blurred frame with the backgrounds, writing the foreground and moving masks, then
    /// updates the backgrounds and ages. Returns the light gain applied.
    pub fn step(&mut self, img: &[u8], cfg: &AnalyzerConfig, fg: &mut [u8], moving: &mut [u8]) -> f32 {
        let n = self.width * self.height;
        assert_eq!(img.len(), n);
        if self.frames == 0 {
            for i in 0..n {
                self.fast[i] = img[i] as f32;
                self.slow[i] = img[i] as f32;
            }
        }
        self.frames += 1;
        let warm = self.frames <= cfg.warmup_frames as u64;
        let gain = self.estimate_gain(img);
        let t_fg = (cfg.threshold_k * self.noise).max(cfg.threshold_min);
        let t_mv = t_fg;
        let t_st = (STAT_K * self.noise).max(STAT_MIN);
        let (af, as_) = (cfg.alpha_fast, cfg.alpha_slow);
        let mut resid = Vec::with_capacity(n / 64 + 1);
        // Moving, against the fast background as it was: a pixel is moving only if it differs
        // from the fast background at every neighbour too, so the shake of the pole (a pixel each
        // way) does not make the edges of a standing vehicle look like motion.
        let (w, h) = (self.width, self.height);
        for i in 0..n {
            moving[i] = ((img[i] as f32 - self.slow[i] * gain).abs() > t_fg) as u8;
        }
        for y in 0..h {
            let rows = [y.saturating_sub(1), y, (y + 1).min(h - 1)].map(|r| &self.fast[r * w..(r + 1) * w]);
            let (src, out) = (&img[y * w..(y + 1) * w], &mut moving[y * w..(y + 1) * w]);
            for x in 0..w {
                if out[x] == 0 {
                    continue;
                }
                let p = src[x] as f32;
                let (a, z) = (x.saturating_sub(1), (x + 1).min(w - 1));
                let near = rows.iter().any(|r| r[a..=z].iter().any(|&f| (p - f).abs() <= t_mv));
                out[x] = !near as u8;
            }
        }
        for i in 0..n {
            let p = img[i] as f32;
            let s = self.slow[i] * gain;
            let d = p - s;
            // Stationary: the fast background (an average of the last seconds, far less noisy
            // than one frame) stands away from the slow one, and the frame agrees with the fast
            // one (behind a passing vehicle, the fast background's fading trail does not).
            let f = self.fast[i];
            let st = !warm && (f - s).abs() > t_st && (p - f).abs() < (p - s).abs();
            self.stat[i] = if st { self.stat[i].saturating_add(1) } else { self.stat[i].saturating_sub(STAT_DROP) };
            let is_fg = d.abs() > t_fg || self.stat[i] >= STAT_FRAMES;
            let is_mv = moving[i] != 0;
            fg[i] = is_fg as u8;
            self.fast[i] += af * (p - self.fast[i]);
            if warm {
                self.slow[i] += (d.signum() * 3.0).clamp(-d.abs(), d.abs()) / gain;
                self.age[i] = 0;
                continue;
            }
            if !is_fg {
                if st {
                    // Perhaps the start of a faint standing vehicle: not learned yet.
                    continue;
                }
                // A standing vehicle of low contrast drops out of the foreground now and then in
                // the noise: its age falls by a few frames instead of to zero, and the slow
                // background learns only where nothing has been held, so it never learns it.
                self.age[i] = self.age[i].saturating_sub(AGE_DROP);
                if self.age[i] == 0 {
                    self.slow[i] += as_ * (p / gain - self.slow[i]);
                }
                if i % 64 == 0 {
                    resid.push(d.abs());
                }
            } else if !is_mv {
                self.age[i] = self.age[i].saturating_add(1);
                if self.age[i] as u32 >= cfg.hold_max_frames {
                    self.slow[i] = p / gain;
                    self.age[i] = 0;
                }
            } else {
                self.age[i] = self.age[i].saturating_sub(2);
            }
        }
        if resid.len() > 100 {
            let mid = resid.len() / 2;
            let (_, m, _) = resid.select_nth_unstable_by(mid, f32::total_cmp);
            // Median absolute deviation → sigma, smoothed over frames.
            let sigma = (*m * 1.4826).clamp(0.5, 40.0);
            self.noise += 0.1 * (sigma - self.noise);
        }
        gain
    }

    /// The frame's light relative to the slow background: the median ratio over a sparse grid of
    /// pixels that look like background.
    fn estimate_gain(&self, img: &[u8]) -> f32 {
        if self.frames <= 1 {
            return 1.0;
        }
        let mut ratios: Vec<f32> = Vec::with_capacity(self.width * self.height / 49);
        for y in (0..self.height).step_by(7) {
            for x in (0..self.width).step_by(7) {
                let i = y * self.width + x;
                let s = self.slow[i];
                if s > 10.0 && self.age[i] == 0 {
                    let r = img[i] as f32 / s;
                    if (0.5..2.0).contains(&r) {
                        ratios.push(r);
                    }
                }
            }
        }
        if ratios.len() < 50 {
            return 1.0;
        }
        let mid = ratios.len() / 2;
        let (_, m, _) = ratios.select_nth_unstable_by(mid, f32::total_cmp);
        *m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_faint_standing_square_becomes_foreground_a_passing_one_does_not() {
        // Wide enough for the noise estimate's sample (every 64th background pixel, over 100).
        let (w, h) = (200, 40);
        let cfg = AnalyzerConfig { warmup_frames: 2, ..AnalyzerConfig::default() };
        let mut p = Planes::new(w, h);
        let (mut fg, mut mv) = (vec![0u8; w * h], vec![0u8; w * h]);
        let road = vec![100u8; w * h];
        // Long enough for the noise estimate to settle (a clean frame: its floor).
        for _ in 0..40 {
            p.step(&road, &cfg, &mut fg, &mut mv);
        }
        // 9 grey levels brighter: under the threshold of 10, over the stationary test's 4. (At 7
        // the slow background creeps after the fast one before the test trips: a caveat.)
        let mut faint = road.clone();
        for y in 10..20 {
            for x in 10..20 {
                faint[y * w + x] = 109;
            }
        }
        let centre = 15 * w + 15;
        for k in 0..20 {
            p.step(&faint, &cfg, &mut fg, &mut mv);
            if k == 0 {
                assert_eq!(fg[centre], 0, "one frame is below the threshold");
            }
        }
        assert_eq!(fg[centre], 1, "standing, it is found from the fast background");
        // (It learned a little of it in the first frames, before the test tripped.)
        assert!((p.slow[centre] - 100.0).abs() < 2.0, "and the slow background did not learn it");
        // A strong vehicle passing for two frames leaves a trail in the fast background, but the
        // frame is back at road: no stationary foreground behind it.
        let mut q = Planes::new(w, h);
        for _ in 0..40 {
            q.step(&road, &cfg, &mut fg, &mut mv);
        }
        let mut car = road.clone();
        for v in &mut car[10 * w..20 * w] {
            *v = 200;
        }
        q.step(&car, &cfg, &mut fg, &mut mv);
        q.step(&car, &cfg, &mut fg, &mut mv);
        for _ in 0..12 {
            q.step(&road, &cfg, &mut fg, &mut mv);
            assert_eq!(fg[centre], 0, "no trail");
        }
    }
}
