//! Per-period results: what an analyzer writes to the coordinator (a small JSON value).
//!
//! A [`PeriodAccumulator`] folds each frame's [`Detections`] into sums and, at the period's end,
//! yields an [`AnalysisResult`]: vehicles counted per lane, loop occupancy (share of frames the
//! loop was on), density (vehicles seen per km of lane, averaged over frames), a queue estimate
//! (the length of lane covered by still vehicles, averaged) and the stalled alarms in force.

use serde::{Deserialize, Serialize};

use super::Detections;
use super::stall::StalledAlarm;
use crate::camera::LaneGeometry;

/// Share of still pixels above which a blob is part of a queue.
pub const QUEUE_STILL_SHARE: f64 = 0.2;

/// One lane's figures for a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaneResult {
    /// The lane.
    pub lane: u8,
    /// Vehicles counted by its loop.
    pub vehicles: u64,
    /// Share of frames its loop was on.
    pub occupancy: f64,
    /// Vehicles per km seen on the stretch, averaged over frames.
    pub density_per_km: f64,
    /// Metres of lane covered by still vehicles, averaged over frames.
    pub queue_m: f64,
}

/// One camera's result for one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisResult {
    /// The camera.
    pub camera: String,
    /// First frame of the period.
    pub first_frame: u64,
    /// Last frame analysed.
    pub frame: u64,
    /// Per lane, lane 1 first.
    pub lanes: Vec<LaneResult>,
    /// Stalled alarms in force at the end of the period.
    pub stalled: Vec<StalledAlarm>,
}

/// Sums over a period's frames.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodAccumulator {
    camera: String,
    stretch_km: f64,
    first: Option<u64>,
    base: Vec<u64>,
    last: Option<Detections>,
    frames: u64,
    on: Vec<u64>,
    seen: Vec<u64>,
    queue: Vec<f64>,
}

impl PeriodAccumulator {
    /// An empty period for a camera.
    pub fn new(g: &LaneGeometry) -> Self {
        let n = g.lanes as usize;
        Self {
            camera: g.camera.id.clone(),
            stretch_km: g.camera.stretch_length_m / 1000.0,
            first: None,
            base: vec![0; n],
            last: None,
            frames: 0,
            on: vec![0; n],
            seen: vec![0; n],
            queue: vec![0.0; n],
        }
    }

    /// Adds one frame.
    pub fn add(&mut self, d: &Detections) {
        if self.first.is_none() {
            self.first = Some(d.frame);
        }
        self.frames += 1;
        for (i, l) in d.loops.iter().enumerate().take(self.on.len()) {
            self.on[i] += l.on as u64;
        }
        for i in 0..self.on.len() {
            let lane = i as u8 + 1;
            let mine: Vec<&super::Blob> = d.blobs.iter().filter(|b| b.lane == lane).collect();
            self.seen[i] += mine.len() as u64;
            let still: Vec<f64> =
                mine.iter().filter(|b| b.still_share >= QUEUE_STILL_SHARE).map(|b| b.position_m).collect();
            if still.len() >= 2 {
                let lo = still.iter().cloned().fold(f64::INFINITY, f64::min);
                let hi = still.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                self.queue[i] += hi - lo + 5.0;
            }
        }
        self.last = Some(d.clone());
    }

    /// Ends the period and starts the next: the period's result, if it had frames.
    pub fn finish(&mut self) -> Option<AnalysisResult> {
        let last = self.last.take()?;
        let first_frame = self.first.take()?;
        let f = self.frames.max(1) as f64;
        let lanes = (0..self.on.len())
            .map(|i| LaneResult {
                lane: i as u8 + 1,
                vehicles: last.loops.get(i).map_or(0, |l| l.count).saturating_sub(self.base[i]),
                occupancy: self.on[i] as f64 / f,
                density_per_km: self.seen[i] as f64 / f / self.stretch_km,
                queue_m: self.queue[i] / f,
            })
            .collect();
        let result = AnalysisResult {
            camera: self.camera.clone(),
            first_frame,
            frame: last.frame,
            lanes,
            stalled: last.stalled,
        };
        for (b, l) in self.base.iter_mut().zip(&last.loops) {
            *b = l.count;
        }
        self.frames = 0;
        self.on.iter_mut().for_each(|v| *v = 0);
        self.seen.iter_mut().for_each(|v| *v = 0);
        self.queue.iter_mut().for_each(|v| *v = 0.0);
        Some(result)
    }
}
