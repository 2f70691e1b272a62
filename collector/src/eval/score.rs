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
use crate::geom::BBox;
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

/// Blobs matched one to one with truth boxes at IoU ≥ [`IOU_MIN`], best overlap first (ties by
/// index, so the result is deterministic), with every overlapping pair for the callers' finer
/// judgements.
struct OneToOne {
    /// Every (IoU, blob, truth) pair that overlaps at all, best first.
    pairs: Vec<(f64, usize, usize)>,
    /// The matched (blob, truth) pairs.
    matched: Vec<(usize, usize)>,
    blob_used: Vec<bool>,
    truth_used: Vec<bool>,
}

fn one_to_one(blobs: &[Blob], truth: &[TruthBox]) -> OneToOne {
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
    let mut matched = Vec::new();
    for &(iou, i, j) in &pairs {
        if iou < IOU_MIN || blob_used[i] || truth_used[j] {
            continue;
        }
        blob_used[i] = true;
        truth_used[j] = true;
        matched.push((i, j));
    }
    OneToOne { pairs, matched, blob_used, truth_used }
}

/// Matches one frame's blobs to its truth.
pub fn match_frame(blobs: &[Blob], truth: &[TruthBox], range_m: f64) -> Matches {
    let OneToOne { pairs, matched, blob_used, truth_used } = one_to_one(blobs, truth);
    let true_positives = matched.iter().filter(|&&(_, j)| scored(&truth[j], range_m)).count() as u64;
    let mut m = Matches { true_positives, ..Matches::default() };
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

/// Why detections failed, tallied over frames: the per-error breakdown of the report.
///
/// A scored truth box left unmatched is **merged** when a blob that overlaps it also overlaps
/// another truth box (vehicles that touch in the image became one blob), **loose** when a blob
/// overlaps it at IoU 0.1..0.5 alone (a box that does not fit: shadow, fragment, clipped
/// vehicle), and **missed** when no blob overlaps it at IoU ≥ 0.1. An unmatched blob is **merged**
/// when it overlaps two or more truth boxes, **loose** when one, and a **ghost** when none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    /// Unmatched truth under a blob that covers others too.
    pub fn_merged: u64,
    /// Unmatched truth under a blob whose box does not fit.
    pub fn_loose: u64,
    /// Unmatched truth with no blob near it.
    pub fn_missed: u64,
    /// Unmatched blobs over two or more vehicles.
    pub fp_merged: u64,
    /// Unmatched blobs over one vehicle, badly fitted.
    pub fp_loose: u64,
    /// Unmatched blobs over no vehicle.
    pub fp_ghost: u64,
    /// Matched pairs: sum of (blob − truth) width, pixels (mean = sum / true positives).
    pub dw_sum: i64,
    /// Matched pairs: sum of (blob − truth) height, pixels.
    pub dh_sum: i64,
}

impl Breakdown {
    /// Adds another tally.
    pub fn add(&mut self, o: Breakdown) {
        self.fn_merged += o.fn_merged;
        self.fn_loose += o.fn_loose;
        self.fn_missed += o.fn_missed;
        self.fp_merged += o.fp_merged;
        self.fp_loose += o.fp_loose;
        self.fp_ghost += o.fp_ghost;
        self.dw_sum += o.dw_sum;
        self.dh_sum += o.dh_sum;
    }
}

/// The breakdown of one frame, with the same matching and the same scored truth as
/// [`match_frame`].
pub fn breakdown_frame(blobs: &[Blob], truth: &[TruthBox], range_m: f64) -> Breakdown {
    const NEAR_IOU: f64 = 0.1;
    let OneToOne { pairs, matched, blob_used, truth_used } = one_to_one(blobs, truth);
    let mut out = Breakdown::default();
    for &(i, j) in matched.iter().filter(|&&(_, j)| scored(&truth[j], range_m)) {
        out.dw_sum += blobs[i].bbox.w as i64 - truth[j].bbox.w as i64;
        out.dh_sum += blobs[i].bbox.h as i64 - truth[j].bbox.h as i64;
    }
    // Truth a blob covers: overlapping it with a good share of the truth's own box.
    let covers = |i: usize| {
        truth
            .iter()
            .filter(|t| t.visible >= 0.3 && inter(&blobs[i].bbox, &t.bbox) as f64 >= 0.3 * t.bbox.area() as f64)
            .count()
    };
    for (j, t) in truth.iter().enumerate() {
        if truth_used[j] || !scored(t, range_m) {
            continue;
        }
        let near: Vec<usize> = pairs.iter().filter(|p| p.2 == j && p.0 >= NEAR_IOU).map(|p| p.1).collect();
        if near.is_empty() {
            out.fn_missed += 1;
        } else if near.iter().any(|&i| covers(i) >= 2) {
            out.fn_merged += 1;
        } else {
            out.fn_loose += 1;
        }
    }
    for (i, b) in blobs.iter().enumerate() {
        if blob_used[i] || b.position_m > range_m {
            continue;
        }
        let dont_care = pairs.iter().any(|&(iou, bi, tj)| bi == i && iou >= 0.2 && !scored(&truth[tj], range_m));
        if dont_care {
            continue;
        }
        match covers(i) {
            0 if !pairs.iter().any(|p| p.1 == i && p.0 >= NEAR_IOU) => out.fp_ghost += 1,
            0 | 1 => out.fp_loose += 1,
            _ => out.fp_merged += 1,
        }
    }
    out
}

fn inter(a: &BBox, b: &BBox) -> u64 {
    let x0 = a.x.max(b.x);
    let y0 = a.y.max(b.y);
    let x1 = (a.x + a.w).min(b.x + b.w);
    let y1 = (a.y + a.h).min(b.y + b.h);
    if x1 <= x0 || y1 <= y0 { 0 } else { (x1 - x0) as u64 * (y1 - y0) as u64 }
}
