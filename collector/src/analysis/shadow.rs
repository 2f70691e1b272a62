//! Shadow suppression: foreground pixels that are only the road, darkened.
//!
//! A cast shadow multiplies the road's radiance by one factor `k` (the same for every shadow in
//! the frame: one sun, one sky), so where a shadow lies, frame ÷ background is close to `k` and,
//! unlike a vehicle's paint, keeps the road's grain. The factor is not configured: the ratios of
//! the clearly darker-than-background foreground go into a histogram decayed over frames, and a
//! sharp peak in it (many pixels at one ratio over many vehicles, which paint of random shades
//! does not make) is the shadow's factor. Pixels within a band around it, narrowed or widened by the
//! measured noise, leave the foreground before the morphology, so the opening also clears the
//! soft rim a blurred shadow edge leaves.
//!
//! Caveats: a vehicle face whose shade happens to fall in the band is lost with the shadow (its
//! other faces, drawn brighter or darker, keep the blob); with no sharp peak (overcast, no
//! traffic) nothing is suppressed.

// Pixel loops index several parallel buffers at once; an index reads best.
#![allow(clippy::needless_range_loop)]

use serde::{Deserialize, Serialize};

/// Lowest and highest ratio a shadow can have.
const RATIO_LO: f32 = 0.3;
const RATIO_HI: f32 = 0.95;
/// Histogram bin width (ratio).
const BIN: f32 = 0.01;
/// Share of the candidates the peak (±2 bins) must hold to count as a shadow.
const PEAK_SHARE: f32 = 0.05;
/// How many times the bins beside it the peak must hold.
const PROMINENCE_MIN: f32 = 2.0;
/// Shadows are taken out only when at least this dark: a weak shadow widens boxes by a pixel or
/// two (measured on the easy set), while its band, close to 1, would take mid-dark paint with it;
/// and a weak peak is the one most easily confused with a common paint.
const ACT_RATIO_MAX: f32 = 0.6;
/// The floor of the band's half-width around the shadow's ratio (the road's grain).
pub const BAND_MIN: f32 = 0.04;
/// How far past the threshold a pixel must be to vote, in thresholds.
const RIM_MARGIN: f32 = 1.5;
/// Fewest candidates for a histogram to be read.
const MIN_CANDIDATES: f32 = 400.0;
/// Decay of the histogram per frame: a memory of about 20 s at 5 fps, so that the faces of the
/// few vehicles in one frame (each of one paint) do not make a peak; the shadows of all of them do.
const DECAY: f32 = 0.99;

/// The learned shadow factor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShadowModel {
    /// Frame ÷ background inside a shadow, once a shadow has been seen.
    pub ratio: Option<f32>,
    /// The ratio histogram, decayed over frames.
    hist: Vec<f32>,
}

impl ShadowModel {
    /// Marks the shadow pixels of `fg` in `shadow` (both 0/1): `img` the blurred frame, `bg` the
    /// slow background, `gain` the light against it, `noise` the blurred frame's noise,
    /// `threshold` the foreground threshold. Returns the pixels marked.
    #[allow(clippy::too_many_arguments)]
    pub fn mark(
        &mut self,
        img: &[u8],
        bg: &[f32],
        gain: f32,
        noise: f32,
        threshold: f32,
        fg: &[u8],
        shadow: &mut [u8],
    ) -> u64 {
        shadow.fill(0);
        let bins = ((RATIO_HI - RATIO_LO) / BIN).ceil() as usize;
        let hist = &mut self.hist;
        hist.resize(bins, 0.0);
        hist.iter_mut().for_each(|c| *c *= DECAY);
        for i in 0..fg.len() {
            if fg[i] == 0 {
                continue;
            }
            let s = bg[i] * gain;
            let p = img[i] as f32;
            // Pixels barely past the threshold (every blurred edge's rim) would make a peak of
            // their own just under 1: only clearly darker pixels vote.
            if s < 8.0 || s - p < RIM_MARGIN * threshold {
                continue;
            }
            let r = p / s;
            if (RATIO_LO..RATIO_HI).contains(&r) {
                hist[((r - RATIO_LO) / BIN) as usize] += 1.0;
            }
        }
        let total: f32 = hist.iter().sum();
        if total >= MIN_CANDIDATES {
            let window = |b: usize| hist[b.saturating_sub(2)..(b + 3).min(bins)].iter().sum::<f32>();
            // A peak stands out of the bins on both sides of it (the blurred rims of vehicles
            // make a broad ramp towards 1 that is larger but not sharp).
            let side = |a: usize, z: usize| hist[a.min(bins)..z.min(bins)].iter().sum::<f32>() / (z - a) as f32;
            let prominence = |b: usize| {
                let around = side(b.saturating_sub(8), b.saturating_sub(2)).max(side(b + 3, b + 9));
                window(b) / (5.0 * around).max(1.0)
            };
            if let Some(b) = (0..bins).max_by(|&a, &b| prominence(a).total_cmp(&prominence(b)))
                && window(b) >= PEAK_SHARE * total
                && prominence(b) >= PROMINENCE_MIN
            {
                // The peak's centre of mass, for a ratio finer than a bin.
                let lo = b.saturating_sub(2);
                let mass: f64 = hist[lo..(b + 3).min(bins)]
                    .iter()
                    .enumerate()
                    .map(|(k, &c)| c as f64 * (RATIO_LO + BIN * ((lo + k) as f32 + 0.5)) as f64)
                    .sum();
                let peak = (mass / window(b) as f64) as f32;
                self.ratio = Some(peak);
            }
        }
        let Some(k) = self.ratio.filter(|&k| k <= ACT_RATIO_MAX) else { return 0 };
        let mut removed = 0;
        for i in 0..fg.len() {
            if fg[i] == 0 {
                continue;
            }
            let s = bg[i] * gain;
            if s < 8.0 {
                continue;
            }
            let p = img[i] as f32;
            // Half-width of the band: a floor for the grain, plus the noise relative to the shadow.
            let band = BAND_MIN + 2.0 * noise / s;
            if (p / s - k).abs() <= band {
                shadow[i] = 1;
                removed += 1;
            }
        }
        removed
    }
}

/// Grows a shadow mask into its penumbra: up to `steps` pixels (8-connected) from the shadow, a
/// foreground pixel joins it when its ratio to the background lies between `lo` (the shadow's,
/// less its band) and the road's. The blur spreads a shadow's edge over a few pixels whose
/// ratios climb from `k` to 1; they are too bright for the band but no vehicle's. A dark vehicle
/// next to its shadow (ratio below `lo`) and a light one (ratio above 1) stop the growth, so it
/// eats into a vehicle only where the vehicle's paint itself looks like a penumbra. A breadth-
/// first search from the shadow's pixels, so the cost follows the shadow, not the frame.
#[allow(clippy::too_many_arguments)]
pub fn grow_penumbra(
    shadow: &mut [u8],
    fg: &[u8],
    img: &[u8],
    bg: &[f32],
    gain: f32,
    lo: f32,
    steps: usize,
    (w, h): (usize, usize),
    queue: &mut Vec<u32>,
) {
    queue.clear();
    queue.extend((0..shadow.len() as u32).filter(|&i| shadow[i as usize] != 0));
    let mut start = 0;
    for _ in 0..steps {
        let end = queue.len();
        if start == end {
            break;
        }
        for q in start..end {
            let i = queue[q] as usize;
            let (x, y) = (i % w, i / w);
            for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let j = ny * w + nx;
                    if shadow[j] != 0 || fg[j] == 0 {
                        continue;
                    }
                    let s = bg[j] * gain;
                    let p = img[j] as f32;
                    if s >= 8.0 && p < s && p >= lo * s {
                        shadow[j] = 1;
                        queue.push(j as u32);
                    }
                }
            }
        }
        start = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_the_factor_and_keeps_paint() {
        // A 100×40 frame: a shadow at 0.5 of a road at 100 over 20 rows, a dark car at 30.
        let (w, h) = (100, 40);
        let bg = vec![100.0f32; w * h];
        let mut img = vec![100u8; w * h];
        let mut fg = vec![0u8; w * h];
        for y in 0..20 {
            for x in 0..w {
                img[y * w + x] = 50;
                fg[y * w + x] = 1;
            }
        }
        for y in 25..35 {
            for x in 10..30 {
                img[y * w + x] = 30;
                fg[y * w + x] = 1;
            }
        }
        let mut m = ShadowModel::default();
        let mut shadow = vec![0u8; w * h];
        let marked = m.mark(&img, &bg, 1.0, 1.0, 10.0, &fg, &mut shadow);
        assert!((m.ratio.unwrap() - 0.5).abs() < 0.01, "{:?}", m.ratio);
        assert_eq!(marked, 2000);
        assert!((25..35).all(|y| (10..30).all(|x| shadow[y * w + x] == 0)), "the car is not shadow");
    }

    #[test]
    fn no_sharp_peak_no_suppression() {
        // Dark paint of many shades: no ratio holds a fifth of the pixels.
        let (w, h) = (100, 40);
        let bg = vec![100.0f32; w * h];
        let img: Vec<u8> = (0..w * h).map(|i| 30 + (i % 60) as u8).collect();
        let fg = vec![1u8; w * h];
        let mut shadow = vec![0u8; w * h];
        let mut m = ShadowModel::default();
        assert_eq!(m.mark(&img, &bg, 1.0, 1.0, 10.0, &fg, &mut shadow), 0);
        assert_eq!(m.ratio, None);
    }

    #[test]
    fn the_penumbra_joins_the_shadow_but_a_dark_or_light_vehicle_does_not() {
        // One row: shadow (0.5) | penumbra ramp 0.6..0.9 | road; and shadow next to dark paint
        // (0.3) and to light paint (1.5).
        let row: [u8; 16] = [50, 50, 60, 70, 80, 90, 100, 100, 30, 30, 50, 50, 150, 150, 100, 100];
        let (w, h) = (16, 1);
        let bg = vec![100.0f32; w];
        let fg: Vec<u8> = row.iter().map(|&p| (p != 100) as u8).collect();
        let mut shadow: Vec<u8> = row.iter().map(|&p| (p == 50) as u8).collect();
        grow_penumbra(&mut shadow, &fg, &row, &bg, 1.0, 0.46, 4, (w, h), &mut Vec::new());
        assert_eq!(&shadow[..6], &[1, 1, 1, 1, 1, 1], "the ramp is penumbra");
        assert_eq!(&shadow[8..10], &[0, 0], "dark paint is not");
        assert_eq!(&shadow[12..14], &[0, 0], "light paint is not");
        // Steps bound the growth.
        let mut shadow: Vec<u8> = row.iter().map(|&p| (p == 50) as u8).collect();
        grow_penumbra(&mut shadow, &fg, &row, &bg, 1.0, 0.46, 2, (w, h), &mut Vec::new());
        assert_eq!(&shadow[..6], &[1, 1, 1, 1, 0, 0]);
    }
}
