//! Shadow suppression: foreground pixels that are only the road, darkened.
//!
//! A cast shadow multiplies the road's radiance by one factor `k` (the same for every shadow in
//! the frame: one sun, one sky), so where a shadow lies, frame ÷ background is close to `k` and,
//! unlike a vehicle's paint, keeps the road's grain. The factor is not configured: each frame the
//! ratios of the darker-than-background foreground are put in a histogram, and a sharp peak in
//! it (many pixels at one ratio, which paint of random shades does not make) is the shadow's
//! factor, smoothed over frames. Pixels within a band around it, narrowed or widened by the
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
const PEAK_SHARE: f64 = 0.2;
/// Fewest candidates for a histogram to be read.
const MIN_CANDIDATES: u64 = 400;

/// The learned shadow factor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShadowModel {
    /// Frame ÷ background inside a shadow, once a shadow has been seen.
    pub ratio: Option<f32>,
}

impl ShadowModel {
    /// Removes shadow pixels from `fg` (0/1, before morphology): `img` the blurred frame, `bg`
    /// the slow background, `gain` the light against it, `noise` the blurred frame's noise.
    /// Returns the pixels removed.
    pub fn suppress(&mut self, img: &[u8], bg: &[f32], gain: f32, noise: f32, fg: &mut [u8]) -> u64 {
        let bins = ((RATIO_HI - RATIO_LO) / BIN).ceil() as usize;
        let mut hist = vec![0u64; bins];
        let mut total = 0u64;
        for i in 0..fg.len() {
            if fg[i] == 0 {
                continue;
            }
            let s = bg[i] * gain;
            let p = img[i] as f32;
            if s < 8.0 || p >= s {
                continue;
            }
            let r = p / s;
            if (RATIO_LO..RATIO_HI).contains(&r) {
                hist[((r - RATIO_LO) / BIN) as usize] += 1;
                total += 1;
            }
        }
        if total >= MIN_CANDIDATES {
            let window = |b: usize| hist[b.saturating_sub(2)..(b + 3).min(bins)].iter().sum::<u64>();
            if let Some(b) = (0..bins).max_by_key(|&b| window(b))
                && window(b) as f64 >= PEAK_SHARE * total as f64
            {
                // The peak's centre of mass, for a ratio finer than a bin.
                let lo = b.saturating_sub(2);
                let mass: f64 = hist[lo..(b + 3).min(bins)]
                    .iter()
                    .enumerate()
                    .map(|(k, &c)| c as f64 * (RATIO_LO + BIN * ((lo + k) as f32 + 0.5)) as f64)
                    .sum();
                let peak = (mass / window(b) as f64) as f32;
                self.ratio = Some(match self.ratio {
                    Some(k) => k + 0.2 * (peak - k),
                    None => peak,
                });
            }
        }
        let Some(k) = self.ratio else { return 0 };
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
            let band = 0.04 + 2.0 * noise / s;
            if (p / s - k).abs() <= band {
                fg[i] = 0;
                removed += 1;
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_the_factor_and_keeps_paint() {
        // A 100×40 frame: a shadow at 0.6 of a road at 100 over 20 rows, a dark car at 30.
        let (w, h) = (100, 40);
        let bg = vec![100.0f32; w * h];
        let mut img = vec![100u8; w * h];
        let mut fg = vec![0u8; w * h];
        for y in 0..20 {
            for x in 0..w {
                img[y * w + x] = 60;
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
        let removed = m.suppress(&img, &bg, 1.0, 1.0, &mut fg);
        assert!((m.ratio.unwrap() - 0.6).abs() < 0.01, "{:?}", m.ratio);
        assert_eq!(removed, 2000);
        assert_eq!(fg.iter().map(|&v| v as u64).sum::<u64>(), 200, "the car stays");
    }

    #[test]
    fn no_sharp_peak_no_suppression() {
        // Dark paint of many shades: no ratio holds a fifth of the pixels.
        let (w, h) = (100, 40);
        let bg = vec![100.0f32; w * h];
        let img: Vec<u8> = (0..w * h).map(|i| 30 + (i % 60) as u8).collect();
        let mut fg = vec![1u8; w * h];
        let mut m = ShadowModel::default();
        assert_eq!(m.suppress(&img, &bg, 1.0, 1.0, &mut fg), 0);
        assert_eq!(m.ratio, None);
    }
}
