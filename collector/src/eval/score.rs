//! Scoring against truth, as pure functions: counts, detections, alarms.
//!
//! - **Counts**: per lane and period, detected vs true vehicles crossing the loop; error, MAPE
//!   (over lane-periods with traffic) and GEH on hourly flows, `sqrt(2 (d − t)² / (d + t))`.
//! - **Detections**: per frame, boxes matched one to one, greedily by IoU, at IoU ≥ 0.5. Only
//!   truth that a camera can be asked to see is scored: at least half visible, at least
//!   `MIN_BOX_H` pixels tall, and within the scored range of the stretch. A detection that
//!   overlaps unscored truth is neither right nor wrong.
//! - **Alarms**: an alarm episode near the stalled vehicle (same lane, within `NEAR_M`) after it
//!   stopped is a detection, with its delay; every other episode is a false alarm.

use serde::{Deserialize, Serialize};

use crate::analysis::Blob;
use crate::render::TruthBox;

/// Truth boxes smaller than this (pixels tall) are not scored.
pub const MIN_BOX_H: u32 = 10;
/// IoU at which a detection matches a truth box.
pub const IOU_MIN: f64 = 0.5;

/// Matches of one or more frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Matches {
    /// Detections matched to truth.
    pub true_positives: u64,
    /// Detections matched to nothing.
    pub false_positives: u64,
    /// Scored truth matched by nothing.
    pub false_negatives: u64,
}

impl Matches {
    /// Adds another tally.
    pub fn add(&mut self, o: Matches) {
        self.true_positives += o.true_positives;
        self.false_positives += o.false_positives;
        self.false_negatives += o.false_negatives;
    }

    /// TP / (TP + FP).
    pub fn precision(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_positives)
    }

    /// TP / (TP + FN).
    pub fn recall(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_negatives)
    }

    /// Harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// Whether a truth box is scored, given the farthest scored position along the stretch.
pub fn scored(t: &TruthBox, range_m: f64) -> bool {
    t.visible >= 0.5 && t.bbox.h >= MIN_BOX_H && t.position_m <= range_m && t.position_m >= 0.0
}

/// Matches one frame's blobs to its truth.
pub fn match_frame(blobs: &[Blob], truth: &[TruthBox], range_m: f64) -> Matches {
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (i, b) in blobs.iter().enumerate() {
        for (j, t) in truth.iter().enumerate() {
            let iou = b.bbox.iou(&t.bbox);
            if iou > 0.0 {
                pairs.push((iou, i, j));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let (mut blob_used, mut truth_used) = (vec![false; blobs.len()], vec![false; truth.len()]);
    let mut m = Matches::default();
    for &(iou, i, j) in &pairs {
        if iou < IOU_MIN || blob_used[i] || truth_used[j] {
            continue;
        }
        blob_used[i] = true;
        truth_used[j] = true;
        if scored(&truth[j], range_m) {
            m.true_positives += 1;
        }
    }
    for (i, b) in blobs.iter().enumerate() {
        if blob_used[i] || b.position_m > range_m {
            continue;
        }
        // Overlapping something unscored (far, hidden, tiny): neither right nor wrong.
        let dont_care = pairs.iter().any(|&(iou, bi, tj)| bi == i && iou >= 0.2 && !scored(&truth[tj], range_m));
        if !dont_care {
            m.false_positives += 1;
        }
    }
    m.false_negatives = truth.iter().enumerate().filter(|&(j, t)| !truth_used[j] && scored(t, range_m)).count() as u64;
    m
}

/// GEH of a detected and a true hourly flow.
pub fn geh(detected_h: f64, truth_h: f64) -> f64 {
    if detected_h + truth_h == 0.0 {
        return 0.0;
    }
    (2.0 * (detected_h - truth_h).powi(2) / (detected_h + truth_h)).sqrt()
}

/// One lane in one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LanePeriod {
    /// Period number from 0.
    pub period: u32,
    /// The lane.
    pub lane: u8,
    /// Vehicles that crossed the loop.
    pub truth: u64,
    /// Vehicles the loop counted.
    pub detected: u64,
    /// GEH on hourly flows.
    pub geh: f64,
}

/// Count accuracy over all lane-periods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CountScore {
    /// The table.
    pub lane_periods: Vec<LanePeriod>,
    /// All true crossings.
    pub truth_total: u64,
    /// All counted crossings.
    pub detected_total: u64,
    /// |detected − truth| / truth over everything, percent.
    pub error_pct: f64,
    /// Mean absolute percentage error over lane-periods with traffic.
    pub mape_pct: f64,
    /// Largest GEH of a lane-period.
    pub geh_max: f64,
    /// Largest |detected − truth| of a lane-period.
    pub abs_error_max: u64,
}

/// Scores counts per lane-period; `period_s` converts counts to hourly flows for GEH.
pub fn score_counts(lane_periods: Vec<(u32, u8, u64, u64)>, period_s: f64) -> CountScore {
    let per_h = 3600.0 / period_s;
    let rows: Vec<LanePeriod> = lane_periods
        .into_iter()
        .map(|(period, lane, truth, detected)| LanePeriod {
            period,
            lane,
            truth,
            detected,
            geh: geh(detected as f64 * per_h, truth as f64 * per_h),
        })
        .collect();
    let truth_total: u64 = rows.iter().map(|r| r.truth).sum();
    let detected_total: u64 = rows.iter().map(|r| r.detected).sum();
    let with: Vec<&LanePeriod> = rows.iter().filter(|r| r.truth > 0).collect();
    let mape = if with.is_empty() {
        0.0
    } else {
        100.0 * with.iter().map(|r| (r.detected as f64 - r.truth as f64).abs() / r.truth as f64).sum::<f64>()
            / with.len() as f64
    };
    CountScore {
        truth_total,
        detected_total,
        error_pct: 100.0 * (detected_total as f64 - truth_total as f64).abs() / (truth_total.max(1) as f64),
        mape_pct: mape,
        geh_max: rows.iter().map(|r| r.geh).fold(0.0, f64::max),
        abs_error_max: rows.iter().map(|r| r.detected.abs_diff(r.truth)).max().unwrap_or(0),
        lane_periods: rows,
    }
}
