//! Virtual induction loops, one per lane at each loop position, with SUMO's E1 semantics: over
//! each period a loop reports the vehicles whose front crossed it, their flow (count per hour),
//! the arithmetic mean of their speeds at the crossing, and its occupancy (the share of the
//! period some vehicle stood over it).
//!
//! Each tick every vehicle reports its move (`x0 → x1`, `v0 → v1`); motion within a tick is taken
//! as linear, so the crossing speed and the covered time are interpolated. Only the loops within
//! `[x0 - length, x1]` are visited (a binary search), so the cost is per vehicle, not per loop.
//!
//! Caveats: a vehicle that changes lane over a loop is seen by the new lane's loop only.

use crate::summary::{LaneReading, LoopReading};

#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    count: u32,
    speed_sum: f64,
    occupied_s: f64,
}

/// Every loop of the road.
#[derive(Debug, Clone)]
pub struct Loops {
    positions: Vec<f64>,
    segments: Vec<u32>,
    ids: Vec<String>,
    lanes: usize,
    acc: Vec<Acc>,
    totals: Vec<u64>,
    ring_m: Option<f64>,
}

impl Loops {
    /// Loops at `offsets` within each segment of `segment_m`, up to `length_m`, per lane.
    pub fn new(length_m: f64, segment_m: f64, offsets: &[f64], lanes: u8, ring: bool) -> Self {
        let mut positions = Vec::new();
        let mut segments = Vec::new();
        let mut ids = Vec::new();
        let mut segment = 0u32;
        while f64::from(segment) * segment_m < length_m {
            for offset in offsets {
                let x = f64::from(segment) * segment_m + offset;
                if x < length_m {
                    positions.push(x);
                    segments.push(segment + 1);
                    ids.push(format!("s{}-{}", segment + 1, offset.round() as i64));
                }
            }
            segment += 1;
        }
        let n = positions.len() * usize::from(lanes);
        Self {
            positions,
            segments,
            ids,
            lanes: usize::from(lanes),
            acc: vec![Acc::default(); n],
            totals: vec![0; n],
            ring_m: ring.then_some(length_m),
        }
    }

    /// Records one vehicle's move in `lane` (from 1) over a tick of `dt_s`.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn observe(&mut self, lane: u8, x0: f64, x1: f64, v0: f64, v1: f64, length_m: f64, dt_s: f64) {
        let lo = x0 - length_m;
        self.observe_shifted(lane, lo, x0, x1, v0, v1, length_m, dt_s, 0.0);
        if let Some(ring) = self.ring_m {
            if x1 >= ring {
                self.observe_shifted(lane, lo, x0, x1, v0, v1, length_m, dt_s, ring);
            }
            if lo < 0.0 {
                self.observe_shifted(lane, lo, x0, x1, v0, v1, length_m, dt_s, -ring);
            }
        }
    }

    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn observe_shifted(
        &mut self,
        lane: u8,
        lo: f64,
        x0: f64,
        x1: f64,
        v0: f64,
        v1: f64,
        len: f64,
        dt: f64,
        shift: f64,
    ) {
        let start = self.positions.partition_point(|p| p + shift < lo);
        let lane = usize::from(lane - 1);
        for k in start..self.positions.len() {
            let p = self.positions[k] + shift;
            if p > x1 {
                break;
            }
            let i = k * self.lanes + lane;
            let acc = &mut self.acc[i];
            let moved = x1 - x0;
            if x0 < p && p <= x1 {
                acc.count += 1;
                self.totals[i] += 1;
                acc.speed_sum += v0 + (v1 - v0) * (p - x0) / moved;
            }
            // Covered while the front is in [p, p + len).
            let covered = if moved > 0.0 {
                let a = ((p - x0) / moved).max(0.0);
                let b = ((p + len - x0) / moved).min(1.0);
                (b - a).max(0.0)
            } else if x0 >= p && x0 < p + len {
                1.0
            } else {
                0.0
            };
            acc.occupied_s += covered * dt;
        }
    }

    /// Loop positions at or before `x` (for the crossing invariant).
    pub fn count_at_or_before(&self, x: f64) -> u64 {
        self.positions.partition_point(|p| *p <= x) as u64
    }

    /// Loop positions (one per loop, every lane has one there).
    pub fn positions(&self) -> &[f64] {
        &self.positions
    }

    /// Every crossing counted since the start, over all loops and lanes.
    pub fn total_count(&self) -> u64 {
        self.totals.iter().sum()
    }

    /// The readings of `segment`'s loops over the period just ended (`period_s` long); resets
    /// them for the next period.
    pub fn take_segment(&mut self, segment: u32, period_s: f64) -> Vec<LoopReading> {
        let mut out = Vec::new();
        for k in 0..self.positions.len() {
            if self.segments[k] != segment {
                continue;
            }
            let lanes = (0..self.lanes)
                .map(|l| {
                    let acc = std::mem::take(&mut self.acc[k * self.lanes + l]);
                    LaneReading {
                        lane: (l + 1) as u8,
                        count: acc.count,
                        flow_vph: f64::from(acc.count) * 3600.0 / period_s,
                        occupancy_pct: (acc.occupied_s / period_s * 100.0).min(100.0),
                        mean_speed_kmh: (acc.count > 0).then(|| acc.speed_sum / f64::from(acc.count) * 3.6),
                    }
                })
                .collect();
            out.push(LoopReading { id: self.ids[k].clone(), position_m: self.positions[k], lanes });
        }
        out
    }

    /// Feeds the loops' state into a digest.
    pub fn digest(&self, hasher: &mut sha2::Sha256) {
        use sha2::Digest;
        for (acc, total) in self.acc.iter().zip(&self.totals) {
            hasher.update(acc.count.to_le_bytes());
            hasher.update(acc.occupied_s.to_le_bytes());
            hasher.update(total.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crossing_is_counted_once_with_its_speed_and_cover() {
        let mut loops = Loops::new(1000.0, 1000.0, &[500.0], 1, false);
        // 20 m/s, 5 m long: covers the loop for 0.25 s, in two ticks of 0.5 s.
        loops.observe(1, 495.0, 505.0, 20.0, 20.0, 5.0, 0.5);
        loops.observe(1, 505.0, 515.0, 20.0, 20.0, 5.0, 0.5);
        let r = loops.take_segment(1, 10.0);
        let lane = &r[0].lanes[0];
        assert_eq!(lane.count, 1);
        assert_eq!(lane.flow_vph, 360.0);
        assert!((lane.occupancy_pct - 2.5).abs() < 1e-9, "{}", lane.occupancy_pct);
        assert_eq!(lane.mean_speed_kmh, Some(72.0));
        assert_eq!(loops.total_count(), 1);
        assert_eq!(loops.take_segment(1, 10.0)[0].lanes[0].count, 0, "reset after a period");
    }
}
