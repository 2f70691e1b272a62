//! What a segment's primary commands: speed-limit harmonisation upstream of congestion, and
//! closing the lane of a stalled vehicle once the loops show it.
//!
//! [`SegmentPolicy::decide`] is fed the latest [`SegmentSummary`] of its own segment and of the
//! next downstream segment(s), as the controller reads them from the coordinator, and returns the
//! whole desired state of the segment every time it is asked (level-triggered: the same order
//! again changes nothing). It counts only new periods (a summary with a later `period_end_s`),
//! so it may be asked as often as the controller likes.
//!
//! - **Limits**: the speed downstream (the lowest loop speed over the own segment's last loop and
//!   the downstream segments' loops) below 50 km/h gives 60 km/h; below 80 km/h gives 80 km/h.
//!   A limit goes down at once and back up one step at a time, only after `raise_after`
//!   consecutive periods of free flow (hysteresis).
//! - **Closing a lane**: a lane is blocked when, for `block_after` consecutive periods, it
//!   carries its share of the traffic at one of the segment's loops and (almost) nobody at the
//!   next (a quarter of the other lanes' mean or less) while the other lanes flow; or it stands
//!   at a loop (occupied, nobody or slowly crossing) while the other lanes flow; or the
//!   segment's last loop sees a queue in it and the next segment's first loop almost nobody.
//!   The blocked lane is closed for the whole segment, so drivers leave it before the segment.
//! - **Probing**: a closed lane is reopened after `probe_after_s` (180 s); if the loops show it
//!   still blocked it is closed again and the next probe waits twice as long (at most twice).
//!
//! A lane closed by the next segment is never taken for blocked here: its drivers queueing to
//! leave it is the closure working, and closing it here too would only spread the closure
//! upstream.
//!
//! **Cameras** ([`super::camera`], [`SegmentPolicy::decide_with_cameras`]) add to the limits:
//! each period, the worst congestion level of the cameras on this segment and the next
//! (occupancy, density and standing queues over their open lanes) is a second opinion beside the
//! loops' speeds. The lower limit wins: a limit goes down at once if either source asks for it,
//! and goes back up only after `raise_after` periods in which both the loops and every camera
//! read free. A limit lowered because a camera saw worse than the loops says so in the order
//! (`why=limit:cam-4`) until it is back up to none or lowered again on the loops' word. Without
//! camera readings (none, stale, or warming up: the controller leaves those out) the loops
//! decide alone.
//!
//! A new primary starts from the summaries alone: the limit and the closed lanes in force are in
//! the summary, and the policy adopts them on its first decision.
//!
//! **The operator's closures** ([`super::operator`]) come on top
//! ([`SegmentPolicy::decide_with_operator`]): each is closed over the whole segment whatever the
//! loops say, counts as closed for everything the policy judges (the speed over the open lanes,
//! the last open lane that is never closed), and is never adopted from a summary as the
//! policy's own — so when the operator reopens it, it reopens, even after a failover.
//!
//! Caveats: the policy sees loop data only, so a stall upstream of a segment's first loop is seen
//! (and closed) by the segment upstream; and it cannot tell a stall from a lane with no demand.

use serde::Serialize;

use super::camera::{CameraReading, CameraThresholds, Congestion, congestion};
use crate::highway::{Cause, ClosedStretch, SegmentOrder};
use crate::summary::{LaneReading, SegmentSummary};

/// The policy's thresholds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentPolicyConfig {
    /// Downstream speed below which the limit is 80 km/h.
    pub slow_kmh: f64,
    /// Downstream speed below which the limit is 60 km/h.
    pub jam_kmh: f64,
    /// Downstream speed above which the road counts as free (for raising a limit).
    pub free_kmh: f64,
    /// Free periods in a row before a limit goes up a step.
    pub raise_after: u32,
    /// Blocked periods in a row before a lane is closed.
    pub block_after: u32,
    /// Vehicles the other lanes must count at a loop, on average per lane and period, for a
    /// silent or standing lane to look blocked.
    pub others_min: u32,
    /// Seconds a lane stays closed before it is reopened to probe.
    pub probe_after_s: f64,
    /// How far upstream of where a blockage was seen its lane's closure starts, metres (the
    /// taper over which its drivers merge).
    pub taper_m: f64,
    /// Seconds after a closure before a vehicle at its end loop counts as the blockage gone
    /// (vehicles caught inside the stretch when it closed drive out first).
    pub settle_s: f64,
    /// Seconds after a lane was last seen closed downstream before it may look blocked here
    /// (its queue discharges from the front, so it stands here a while after the reopening).
    pub holdoff_s: f64,
    /// A closure watched by a loop at its end is probed this many times later than one that is
    /// not (`probe_after_s`), as a fallback only.
    pub watched_probe_factor: f64,
    /// How camera readings map to congestion levels.
    pub camera: CameraThresholds,
}

impl Default for SegmentPolicyConfig {
    fn default() -> Self {
        Self {
            slow_kmh: 80.0,
            jam_kmh: 50.0,
            free_kmh: 90.0,
            raise_after: 3,
            block_after: 3,
            others_min: 4,
            probe_after_s: 180.0,
            taper_m: 100.0,
            settle_s: 60.0,
            watched_probe_factor: 4.0,
            holdoff_s: 600.0,
            camera: CameraThresholds::default(),
        }
    }
}

/// The policy of one segment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentPolicy {
    segment: u32,
    config: SegmentPolicyConfig,
    adopted: bool,
    last_period_end_s: f64,
    limit: Option<u32>,
    free_periods: u32,
    closed: Vec<u8>,
    stretches: Vec<ClosedStretch>,
    closed_at_s: Vec<(u8, f64)>,
    blocked_periods: Vec<(u8, u32)>,
    closed_downstream_at_s: Vec<(u8, f64)>,
    probing: Vec<(u8, f64)>,
    probe_s: f64,
    /// The lanes the operator holds closed, as of the last decision.
    operator: Vec<u8>,
    /// The cameras' readings, as of the last decision.
    cameras: Vec<CameraReading>,
    /// The camera on whose word the limit in force was lowered (None: the loops').
    limit_by: Option<String>,
}

/// Traffic arriving in a lane at a loop at least this fast, km/h, and vanishing by the next loop,
/// points to a blockage between them (in a queue, loops cannot tell a blocked lane from a slow one).
const ARRIVING_KMH: f64 = 30.0;
/// The other lanes flow when faster than this on average, km/h.
const FLOWING_KMH: f64 = 40.0;
/// Beside a standing lane, the other lanes move when faster than this on average, km/h (they
/// slow as its drivers squeeze in).
const MOVING_KMH: f64 = 20.0;
/// A road driving at this share of the limit in force counts as free, for raising a limit.
const FREE_SHARE_OF_LIMIT: f64 = 0.85;
/// A lane counting (almost) nobody at a loop is silent there only if it covers the loop less
/// than this share of the period, percent (else it stands over it).
const SILENT_OCCUPANCY_PCT: f64 = 10.0;

/// A probe that found the lane still blocked doubles the wait, up to this many times the first.
const PROBE_BACKOFF_MAX: f64 = 2.0;

const STEPS: [Option<u32>; 3] = [Some(60), Some(80), None];

fn level(limit: Option<u32>) -> usize {
    match limit {
        Some(l) if l <= 60 => 0,
        Some(l) if l <= 80 => 1,
        _ => 2,
    }
}

impl SegmentPolicy {
    /// A policy for `segment` with the default thresholds.
    pub fn new(segment: u32) -> Self {
        Self::with_config(segment, SegmentPolicyConfig::default())
    }

    /// A policy with explicit thresholds.
    pub fn with_config(segment: u32, config: SegmentPolicyConfig) -> Self {
        let probe_s = config.probe_after_s;
        Self {
            segment,
            config,
            adopted: false,
            last_period_end_s: f64::NEG_INFINITY,
            limit: None,
            free_periods: 0,
            closed: Vec::new(),
            stretches: Vec::new(),
            closed_at_s: Vec::new(),
            blocked_periods: Vec::new(),
            closed_downstream_at_s: Vec::new(),
            probing: Vec::new(),
            probe_s,
            operator: Vec::new(),
            cameras: Vec::new(),
            limit_by: None,
        }
    }

    /// The segment.
    pub fn segment(&self) -> u32 {
        self.segment
    }

    /// The order for the segment now, given its own latest summary and the latest of the
    /// segments downstream (nearest first; empty for the last segment).
    pub fn decide(&mut self, own: &SegmentSummary, downstream: &[&SegmentSummary]) -> SegmentOrder {
        self.decide_with_operator(own, downstream, &[])
    }

    /// As [`SegmentPolicy::decide`], with the lanes the operator holds closed (`operator`) closed
    /// over the whole segment on top of the policy's own closures.
    pub fn decide_with_operator(
        &mut self,
        own: &SegmentSummary,
        downstream: &[&SegmentSummary],
        operator: &[u8],
    ) -> SegmentOrder {
        self.decide_with_cameras(own, downstream, operator, &[])
    }

    /// As [`SegmentPolicy::decide_with_operator`], with the latest readings of the cameras on
    /// this segment and the next (fresh ones only: the caller leaves out stale results and
    /// models still warming up) weighing in on the limit.
    pub fn decide_with_cameras(
        &mut self,
        own: &SegmentSummary,
        downstream: &[&SegmentSummary],
        operator: &[u8],
        cameras: &[CameraReading],
    ) -> SegmentOrder {
        self.cameras = cameras.to_vec();
        self.operator = operator.to_vec();
        self.operator.sort_unstable();
        self.operator.dedup();
        if !self.adopted {
            self.adopted = true;
            self.limit = own.speed_limit_kmh;
            // The operator's closures in the summary are the operator's, not ours to hold.
            let ours = |lane: &u8| !self.operator.contains(lane);
            self.closed = own.closed_lanes.iter().copied().filter(ours).collect();
            self.stretches = own.stretches.iter().copied().filter(|s| ours(&s.lane)).collect();
            self.closed_at_s = self.closed.iter().map(|l| (*l, own.period_end_s)).collect();
        }
        if own.period_end_s > self.last_period_end_s {
            self.last_period_end_s = own.period_end_s;
            self.new_period(own, downstream);
        }
        let lanes = own.loops.first().map_or(0, |l| l.lanes.len());
        let mut closed_lanes = self.closed_now();
        let mut stretches: Vec<ClosedStretch> =
            self.stretches.iter().copied().filter(|s| !self.operator.contains(&s.lane)).collect();
        if lanes > 0 && closed_lanes.len() >= lanes {
            // The operator's closures win over ours: at least one lane stays open.
            closed_lanes = self.operator.clone();
            stretches.clear();
        }
        let why = match (&self.limit_by, self.limit) {
            (Some(camera), Some(_)) => vec![Cause::limit(camera)],
            _ => Vec::new(),
        };
        SegmentOrder { speed_limit_kmh: self.limit, closed_lanes, stretches, why }
    }

    /// Every lane closed now: ours and the operator's, ascending.
    fn closed_now(&self) -> Vec<u8> {
        let mut lanes: Vec<u8> = self.closed.iter().chain(&self.operator).copied().collect();
        lanes.sort_unstable();
        lanes.dedup();
        lanes
    }

    fn new_period(&mut self, own: &SegmentSummary, downstream: &[&SegmentSummary]) {
        let now = own.period_end_s;
        // Limits.
        // Each speed with the limit it was driven under: a road driving at its own lower limit
        // is free too (else limits upstream of limits never go up again).
        let mut speeds: Vec<(f64, Option<u32>)> = own
            .loops
            .last()
            .and_then(|l| loop_speed(&l.lanes, &self.closed_now()))
            .map(|v| (v, own.speed_limit_kmh))
            .into_iter()
            .collect();
        for d in downstream {
            speeds.extend(
                d.loops.iter().filter_map(|l| loop_speed(&l.lanes, &d.closed_lanes)).map(|v| (v, d.speed_limit_kmh)),
            );
        }
        let v_down = speeds.iter().map(|s| s.0).fold(f64::INFINITY, f64::min);
        let free_kmh = self.config.free_kmh;
        let all_free = speeds
            .iter()
            .all(|(v, limit)| *v > limit.map_or(free_kmh, |l| free_kmh.min(f64::from(l) * FREE_SHARE_OF_LIMIT)));
        let loops_target = if v_down < self.config.jam_kmh {
            0
        } else if v_down < self.config.slow_kmh {
            1
        } else {
            2
        };
        let (camera_target, camera) = self.camera_target(own, downstream);
        let all_free = all_free && camera_target == 2;
        let target = loops_target.min(camera_target);
        let current = level(self.limit);
        if target < current {
            self.limit = STEPS[target];
            self.limit_by = camera.filter(|_| camera_target < loops_target);
            self.free_periods = 0;
        } else if target > current && all_free {
            self.free_periods += 1;
            if self.free_periods >= self.config.raise_after {
                self.limit = STEPS[current + 1];
                self.free_periods = 0;
                if self.limit.is_none() {
                    self.limit_by = None;
                }
            }
        } else {
            self.free_periods = 0;
        }
        // Reopening: a lane whose closed stretch ends at a loop is reopened as soon as that loop
        // counts a vehicle in it (the blockage drove off: nobody else can be in the lane there),
        // once the vehicles caught inside when it closed have had time to leave. Any other closed
        // lane is reopened to probe after a while.
        let probe = self.probe_s;
        let mut reopen: Vec<u8> = Vec::new();
        for (lane, at) in &self.closed_at_s {
            let end_loop = self.stretch_end_loop(*lane, own);
            let moved = end_loop.is_some_and(|r| r.count > 0) && now - at >= self.config.settle_s;
            let wait = if end_loop.is_some() { probe * self.config.watched_probe_factor } else { probe };
            if moved || now - at >= wait {
                reopen.push(*lane);
                if moved {
                    // Its queue discharges from the front: standing a while yet is no new blockage.
                    self.closed_downstream_at_s.retain(|(l, _)| l != lane);
                    self.closed_downstream_at_s.push((*lane, now));
                } else {
                    self.probing.push((*lane, now));
                }
            }
        }
        for lane in &reopen {
            self.closed.retain(|l| l != lane);
            self.stretches.retain(|s| s.lane != *lane);
        }
        self.closed_at_s.retain(|(l, _)| !reopen.contains(l));
        // A probe that stayed open for as long as detection takes, twice over, succeeded.
        let window = f64::from(self.config.block_after * 2) * own.period_s;
        let before = self.probing.len();
        self.probing.retain(|(_, at)| now - at <= window);
        if self.probing.len() < before && self.probing.is_empty() {
            self.probe_s = self.config.probe_after_s;
        }
        // Blocked lanes.
        let lanes = own.loops.first().map_or(0, |l| l.lanes.len()) as u8;
        for lane in 1..=lanes {
            if self.closed.contains(&lane) || self.operator.contains(&lane) {
                continue;
            }
            if downstream.iter().any(|d| d.closed_lanes.contains(&lane)) {
                self.closed_downstream_at_s.retain(|(l, _)| *l != lane);
                self.closed_downstream_at_s.push((lane, now));
            }
            let recently_closed_downstream =
                self.closed_downstream_at_s.iter().any(|(l, at)| *l == lane && now - at < self.config.holdoff_s);
            let blocked = if recently_closed_downstream {
                // The lane is (or was until lately) closed downstream: drivers leaving it here is
                // the closure working, and its queue standing is the closure's queue discharging.
                None
            } else {
                self.looks_blocked(lane, own, downstream.first().copied())
            };
            let open_lanes = usize::from(lanes).saturating_sub(self.closed_now().len());
            let entry = match self.blocked_periods.iter_mut().find(|(l, _)| *l == lane) {
                Some(e) => e,
                None => {
                    self.blocked_periods.push((lane, 0));
                    self.blocked_periods.last_mut().expect("just pushed")
                }
            };
            entry.1 = if blocked.is_some() { entry.1 + 1 } else { 0 };
            if entry.1 >= self.config.block_after && open_lanes > 1 {
                entry.1 = 0;
                if let Some(i) = self.probing.iter().position(|(l, _)| *l == lane) {
                    // Still blocked after a probe: wait longer next time.
                    self.probing.remove(i);
                    self.probe_s = (self.probe_s * 2.0).min(self.config.probe_after_s * PROBE_BACKOFF_MAX);
                }
                self.closed.push(lane);
                self.closed.sort_unstable();
                if let Some(stretch) = blocked.and_then(|b| self.stretch_for(lane, b, own)) {
                    self.stretches.push(stretch);
                    self.stretches.sort_by_key(|s| s.lane);
                }
                self.closed_at_s.push((lane, now));
            }
        }
    }

    /// The limit level (0: 60 km/h, 1: 80, 2: none) the worst camera reading asks for, and that
    /// camera; each reading is judged over the lanes open on its segment.
    fn camera_target(&self, own: &SegmentSummary, downstream: &[&SegmentSummary]) -> (usize, Option<String>) {
        let closed_on = |segment: u32| -> Vec<u8> {
            if segment == own.segment {
                self.closed_now()
            } else {
                downstream.iter().find(|d| d.segment == segment).map_or_else(Vec::new, |d| d.closed_lanes.clone())
            }
        };
        let worst = self
            .cameras
            .iter()
            .filter_map(|r| congestion(r, &closed_on(r.segment), &self.config.camera).map(|c| (c, &r.camera)))
            .min_by_key(|(c, _)| *c);
        match worst {
            Some((Congestion::Jam, camera)) => (0, Some(camera.clone())),
            Some((Congestion::Slow, camera)) => (1, Some(camera.clone())),
            _ => (2, None),
        }
    }

    /// The loop reading of `lane` at the loop where its closed stretch ends, if it ends at one.
    fn stretch_end_loop<'a>(&self, lane: u8, own: &'a SegmentSummary) -> Option<&'a LaneReading> {
        let st = self.stretches.iter().find(|s| s.lane == lane)?;
        let end = own.start_m + f64::from(st.to_m);
        own.loops.iter().find(|l| (l.position_m - end).abs() < 0.5)?.lanes.get(usize::from(lane - 1))
    }

    /// The closed stretch for a blockage of `lane` seen between `blockage` (metres from the
    /// road's start; `to` None: beyond the segment's last loop): from a merge distance upstream
    /// of where it was seen to the loop beyond it (or the segment's end). None (the whole
    /// segment) if the summary does not say where the segment lies.
    fn stretch_for(&self, lane: u8, blockage: Blockage, own: &SegmentSummary) -> Option<ClosedStretch> {
        if own.length_m <= 0.0 {
            return None;
        }
        let from = (blockage.from_m - own.start_m - self.config.taper_m).max(0.0);
        let to = blockage.to_m.map_or(own.length_m, |t| t - own.start_m).min(own.length_m);
        let (from_m, to_m) = (from.floor() as u32, to.round() as u32);
        (from_m < to_m).then_some(ClosedStretch { lane, from_m, to_m })
    }

    fn looks_blocked(&self, lane: u8, own: &SegmentSummary, next: Option<&SegmentSummary>) -> Option<Blockage> {
        let li = usize::from(lane - 1);
        let min = f64::from(self.config.others_min);
        // A lane standing over a loop while the others move past: the blockage is beyond that
        // loop and before the next (the loop furthest downstream where it stands).
        for k in (0..own.loops.len()).rev() {
            if standing_beside_flow(&own.loops[k].lanes, li, min) {
                let to_m = own.loops.get(k + 1).map(|l| l.position_m);
                return Some(Blockage { from_m: own.loops[k].position_m, to_m });
            }
        }
        // A lane that carries its share at one loop, or stands there, and (almost) nobody at
        // the next while the other lanes flow: the blockage is between them. The pair furthest
        // downstream wins (a queue behind a blockage stands at every loop upstream of it).
        for k in (1..own.loops.len()).rev() {
            let (up, here) = (&own.loops[k - 1].lanes, &own.loops[k].lanes);
            let arriving = up.get(li).and_then(|r| r.mean_speed_kmh).is_some_and(|v| v >= ARRIVING_KMH)
                && share(up, li, min).is_some_and(|s| s >= 0.5);
            let standing = standing_beside_flow(up, li, min);
            // Silent, not standing over the loop (that would put the blockage beyond it).
            let silent = share(here, li, min).is_some_and(|s| s <= 0.25)
                && here.get(li).is_some_and(|r| r.occupancy_pct < SILENT_OCCUPANCY_PCT);
            if (arriving || standing) && silent && flowing(here, li) {
                return Some(Blockage { from_m: own.loops[k - 1].position_m, to_m: Some(own.loops[k].position_m) });
            }
        }
        let last = own.loops.last()?;
        let beyond = Blockage { from_m: last.position_m, to_m: None };
        // A queue at the last loop, and nobody in the lane at the next segment's first.
        if let Some(first_next) = next.and_then(|n| n.loops.first()) {
            let queue =
                last.lanes.get(li).is_some_and(|r| r.occupancy_pct > 25.0 && r.mean_speed_kmh.is_none_or(|v| v < 20.0));
            if queue && share(&first_next.lanes, li, min).is_some_and(|s| s <= 0.25) {
                return Some(beyond);
            }
        }
        None
    }
}

/// Where a blockage was seen: beyond the loop at `from_m` and before the one at `to_m` (None:
/// beyond the segment's last loop), metres from the road's start.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Blockage {
    from_m: f64,
    to_m: Option<f64>,
}

/// Lane `li`'s count relative to the mean of the other lanes at a loop, if they counted at
/// least `min` each on average.
fn share(lanes: &[LaneReading], li: usize, min: f64) -> Option<f64> {
    let this = lanes.get(li)?;
    let others: Vec<&LaneReading> = lanes.iter().enumerate().filter(|(i, _)| *i != li).map(|(_, r)| r).collect();
    if others.is_empty() {
        return None;
    }
    let mean = others.iter().map(|r| f64::from(r.count)).sum::<f64>() / others.len() as f64;
    (mean >= min).then(|| f64::from(this.count) / mean)
}

/// Whether the lanes other than `li` flow at a loop (faster than [`FLOWING_KMH`] on average).
fn flowing(lanes: &[LaneReading], li: usize) -> bool {
    let (mut n, mut sum) = (0u32, 0.0);
    for r in lanes.iter().enumerate().filter(|(i, _)| *i != li).map(|(_, r)| r) {
        if let Some(v) = r.mean_speed_kmh {
            n += r.count;
            sum += v * f64::from(r.count);
        }
    }
    n > 0 && sum / f64::from(n) > FLOWING_KMH
}

/// Lane `li` stands (occupied, nobody or slowly crossing) while the other lanes flow.
fn standing_beside_flow(lanes: &[LaneReading], li: usize, min: f64) -> bool {
    let Some(this) = lanes.get(li) else { return false };
    let standing = this.occupancy_pct > 30.0 && this.mean_speed_kmh.is_none_or(|v| v < 15.0);
    let others: Vec<&LaneReading> = lanes.iter().enumerate().filter(|(i, _)| *i != li).map(|(_, r)| r).collect();
    let count = others.iter().map(|r| f64::from(r.count)).sum::<f64>() / others.len().max(1) as f64;
    let (mut n, mut sum) = (0u32, 0.0);
    for r in &others {
        if let Some(v) = r.mean_speed_kmh {
            n += r.count;
            sum += v * f64::from(r.count);
        }
    }
    standing && count >= min && n > 0 && sum / f64::from(n) > MOVING_KMH
}

/// A loop's speed over its open lanes: flow-weighted mean, 0 for a standing queue (occupied but
/// nobody crossed), None for an empty road.
fn loop_speed(lanes: &[LaneReading], closed: &[u8]) -> Option<f64> {
    let (mut n, mut sum, mut occupied) = (0u32, 0.0, false);
    for r in lanes.iter().filter(|r| !closed.contains(&r.lane)) {
        if let Some(v) = r.mean_speed_kmh {
            n += r.count;
            sum += v * f64::from(r.count);
        }
        occupied |= r.occupancy_pct > 50.0;
    }
    if n > 0 {
        Some(sum / f64::from(n))
    } else if occupied {
        Some(0.0)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::LoopReading;

    /// A summary of segment `segment` at `t`: two loops, lanes given as (count, speed, occupancy).
    fn summary(
        segment: u32,
        t: f64,
        loops: [[(u32, f64, f64); 2]; 2],
        limit: Option<u32>,
        closed: &[u8],
    ) -> SegmentSummary {
        SegmentSummary {
            segment,
            period_end_s: t,
            period_s: 30.0,
            speed_limit_kmh: limit,
            closed_lanes: closed.to_vec(),
            stretches: Vec::new(),
            length_m: 0.0,
            start_m: 0.0,
            loops: loops
                .iter()
                .enumerate()
                .map(|(k, lanes)| LoopReading {
                    id: format!("s{segment}-{k}"),
                    position_m: 0.0,
                    lanes: lanes
                        .iter()
                        .enumerate()
                        .map(|(l, (count, v, occ))| LaneReading {
                            lane: l as u8 + 1,
                            count: *count,
                            flow_vph: f64::from(*count) * 120.0,
                            occupancy_pct: *occ,
                            mean_speed_kmh: (*count > 0).then_some(*v),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    const FREE: [(u32, f64, f64); 2] = [(12, 110.0, 8.0), (14, 120.0, 8.0)];
    const SLOW: [(u32, f64, f64); 2] = [(14, 65.0, 15.0), (15, 70.0, 15.0)];
    const JAM: [(u32, f64, f64); 2] = [(5, 20.0, 60.0), (6, 25.0, 60.0)];

    #[test]
    fn limits_harmonise_down_at_once_and_up_with_hysteresis() {
        let mut p = SegmentPolicy::new(2);
        let own = |t| summary(2, t, [FREE, FREE], None, &[]);
        assert_eq!(
            p.decide(&own(30.0), &[&summary(3, 30.0, [FREE, FREE], None, &[])]).to_string(),
            "limit=none closed=none"
        );
        assert_eq!(
            p.decide(&own(60.0), &[&summary(3, 60.0, [SLOW, SLOW], None, &[])]).to_string(),
            "limit=80 closed=none"
        );
        assert_eq!(
            p.decide(&own(90.0), &[&summary(3, 90.0, [JAM, SLOW], None, &[])]).to_string(),
            "limit=60 closed=none"
        );
        // Asked again within the same period: the same order, nothing counted.
        assert_eq!(
            p.decide(&own(90.0), &[&summary(3, 90.0, [FREE, FREE], None, &[])]).to_string(),
            "limit=60 closed=none"
        );
        let mut orders = Vec::new();
        for k in 0..7 {
            let t = 120.0 + 30.0 * f64::from(k);
            orders.push(p.decide(&own(t), &[&summary(3, t, [FREE, FREE], None, &[])]).speed_limit_kmh);
        }
        assert_eq!(orders, [Some(60), Some(60), Some(80), Some(80), Some(80), None, None]);
    }

    #[test]
    fn a_silent_lane_behind_a_stall_is_closed_then_probed() {
        let mut p = SegmentPolicy::new(3);
        // Lane 2 counts vehicles at the first loop (a queue) and nobody at the second.
        let blocked =
            |t| summary(3, t, [[(8, 70.0, 10.0), (6, 50.0, 20.0)], [(16, 60.0, 20.0), (1, 90.0, 1.0)]], None, &[]);
        assert!(p.decide(&blocked(30.0), &[]).closed_lanes.is_empty(), "one period is not enough");
        assert!(p.decide(&blocked(60.0), &[]).closed_lanes.is_empty(), "two are not enough");
        assert_eq!(p.decide(&blocked(90.0), &[]).closed_lanes, [2]);
        // While closed, lane 2 is silent everywhere; the lane stays closed until the probe.
        let closed =
            |t| summary(3, t, [[(14, 70.0, 10.0), (0, 0.0, 0.0)], [(16, 60.0, 20.0), (0, 0.0, 0.0)]], None, &[2]);
        for k in 1..6 {
            assert_eq!(p.decide(&closed(90.0 + 30.0 * f64::from(k)), &[]).closed_lanes, [2]);
        }
        assert!(p.decide(&closed(270.0), &[]).closed_lanes.is_empty(), "reopened to probe after 180 s");
        p.decide(&blocked(300.0), &[]);
        p.decide(&blocked(330.0), &[]);
        assert_eq!(p.decide(&blocked(360.0), &[]).closed_lanes, [2], "still blocked: closed again");
        for k in 1..12 {
            assert_eq!(p.decide(&closed(360.0 + 30.0 * f64::from(k)), &[]).closed_lanes, [2], "probe waits longer");
        }
        assert!(p.decide(&closed(720.0), &[]).closed_lanes.is_empty(), "and probes again after 360 s");
    }

    #[test]
    fn a_new_primary_adopts_what_the_summary_says_is_in_force() {
        let mut p = SegmentPolicy::new(3);
        let own = summary(3, 600.0, [FREE, FREE], Some(80), &[2]);
        assert_eq!(p.decide(&own, &[&summary(4, 600.0, [SLOW, SLOW], None, &[])]).to_string(), "limit=80 closed=2");
    }

    #[test]
    fn the_operators_closure_holds_whatever_the_loops_say_and_reopens_when_lifted() {
        let mut p = SegmentPolicy::new(2);
        let own = |t, closed: &[u8]| summary(2, t, [FREE, FREE], None, closed);
        assert_eq!(p.decide_with_operator(&own(30.0, &[]), &[], &[2]).to_string(), "limit=none closed=2");
        // Free flow for long past the probe: the operator's lane is not the policy's to probe.
        for k in 2..20 {
            let order = p.decide_with_operator(&own(30.0 * f64::from(k), &[2]), &[], &[2]);
            assert_eq!(order.to_string(), "limit=none closed=2", "period {k}");
        }
        // Lifted: open at the next decision, without waiting for a period.
        assert_eq!(p.decide_with_operator(&own(570.0, &[2]), &[], &[]).to_string(), "limit=none closed=none");
    }

    #[test]
    fn a_new_primary_does_not_take_the_operators_closure_for_its_own() {
        // After a failover the summary shows lane 2 closed; the operator's node says why.
        let mut p = SegmentPolicy::new(3);
        let own = summary(3, 600.0, [FREE, FREE], Some(80), &[2]);
        assert_eq!(p.decide_with_operator(&own, &[], &[2]).to_string(), "limit=80 closed=2");
        assert_eq!(p.decide_with_operator(&own, &[], &[]).to_string(), "limit=80 closed=none", "reopened at once");
        // Without the operator's order in sight, a closure in the summary is adopted as before.
        let mut q = SegmentPolicy::new(3);
        assert_eq!(q.decide_with_operator(&own, &[], &[]).to_string(), "limit=80 closed=2");
    }

    #[test]
    fn the_operators_closure_counts_for_the_last_open_lane() {
        // Two lanes: the operator closed lane 1; lane 2 looks blocked, but it is the last open one.
        let mut p = SegmentPolicy::new(3);
        let blocked =
            |t| summary(3, t, [[(8, 70.0, 10.0), (6, 50.0, 20.0)], [(16, 60.0, 20.0), (1, 90.0, 1.0)]], None, &[1]);
        for k in 1..6 {
            let order = p.decide_with_operator(&blocked(30.0 * f64::from(k)), &[], &[1]);
            assert_eq!(order.closed_lanes, [1], "period {k}");
        }
        // The policy's own closure of lane 2, then the operator closes lane 1: the operator wins.
        let mut q = SegmentPolicy::new(3);
        let closed_2 = summary(3, 30.0, [FREE, FREE], None, &[2]);
        assert_eq!(q.decide(&closed_2, &[]).closed_lanes, [2]);
        assert_eq!(q.decide_with_operator(&closed_2, &[], &[1]).to_string(), "limit=none closed=1");
    }

    /// A reading of `camera` on `segment`: two lanes at (occupancy, density per km, queue m).
    fn camera(camera: &str, segment: u32, lanes: [(f64, f64, f64); 2]) -> CameraReading {
        use super::super::camera::CameraLane;
        CameraReading {
            camera: camera.into(),
            segment,
            lanes: lanes
                .iter()
                .enumerate()
                .map(|(i, &(occupancy, density_per_km, queue_m))| CameraLane {
                    lane: i as u8 + 1,
                    occupancy,
                    density_per_km,
                    queue_m,
                })
                .collect(),
        }
    }

    #[test]
    fn cameras_lower_the_limit_when_they_see_worse_than_the_loops_and_both_must_clear() {
        const CAM_FREE: [(f64, f64, f64); 2] = [(0.20, 13.0, 0.0), (0.25, 12.0, 0.0)];
        const CAM_SLOW: [(f64, f64, f64); 2] = [(0.55, 25.0, 0.0), (0.52, 26.0, 0.0)];
        const CAM_JAM: [(f64, f64, f64); 2] = [(0.75, 35.0, 60.0), (0.70, 30.0, 45.0)];
        let mut p = SegmentPolicy::new(3);
        let own = |t| summary(3, t, [FREE, FREE], None, &[]);
        let next = |t| summary(4, t, [FREE, FREE], None, &[]);
        let decide = |p: &mut SegmentPolicy, t: f64, cams: &[CameraReading]| {
            p.decide_with_cameras(&own(t), &[&next(t)], &[], cams).to_string()
        };
        assert_eq!(decide(&mut p, 30.0, &[camera("cam-3", 3, CAM_FREE)]), "limit=none closed=none");
        // The next segment's camera sees a queue the loops do not (it stands between them).
        let jam = [camera("cam-3", 3, CAM_FREE), camera("cam-4", 4, CAM_JAM)];
        assert_eq!(decide(&mut p, 60.0, &jam), "limit=60 closed=none why=limit:cam-4");
        // The cameras read free again: up one step only after three free periods, the camera's
        // word still on it, and none again three later.
        let free = [camera("cam-3", 3, CAM_FREE), camera("cam-4", 4, CAM_FREE)];
        let limits: Vec<String> = (3..=9).map(|k| decide(&mut p, 30.0 * f64::from(k), &free)).collect();
        assert_eq!(
            limits,
            [
                "limit=60 closed=none why=limit:cam-4",
                "limit=60 closed=none why=limit:cam-4",
                "limit=80 closed=none why=limit:cam-4",
                "limit=80 closed=none why=limit:cam-4",
                "limit=80 closed=none why=limit:cam-4",
                "limit=none closed=none",
                "limit=none closed=none",
            ]
        );
        // A slow camera keeps the limit from going back up while the loops read free.
        let mut q = SegmentPolicy::new(3);
        assert_eq!(decide(&mut q, 30.0, &[camera("cam-3", 3, CAM_SLOW)]), "limit=80 closed=none why=limit:cam-3");
        for k in 2..8 {
            let order = decide(&mut q, 30.0 * f64::from(k), &[camera("cam-3", 3, CAM_SLOW)]);
            assert_eq!(order, "limit=80 closed=none why=limit:cam-3", "period {k}");
        }
        // The loops see a jam while the camera sees it slow: the loops' word, no camera named.
        let jammed_next = summary(4, 240.0, [JAM, JAM], None, &[]);
        let order = q.decide_with_cameras(&own(240.0), &[&jammed_next], &[], &[camera("cam-3", 3, CAM_SLOW)]);
        assert_eq!(order.to_string(), "limit=60 closed=none");
        // Without readings (stale ones are left out by the caller) the loops decide alone.
        let mut r = SegmentPolicy::new(3);
        assert_eq!(decide(&mut r, 30.0, &[]), "limit=none closed=none");
    }

    #[test]
    fn a_cameras_closed_lane_is_not_its_congestion() {
        // cam-4's lane 2 stands behind a stall; segment 4 has closed it: lane 1 flows.
        let mut p = SegmentPolicy::new(3);
        let own = summary(3, 30.0, [FREE, FREE], None, &[]);
        let next = summary(4, 30.0, [FREE, FREE], None, &[2]);
        let stall = camera("cam-4", 4, [(0.08, 13.0, 0.0), (0.70, 40.0, 120.0)]);
        assert_eq!(p.decide_with_cameras(&own, &[&next], &[], &[stall]).to_string(), "limit=none closed=none");
    }

    #[test]
    fn a_quiet_road_is_not_a_blocked_one() {
        let mut p = SegmentPolicy::new(1);
        let quiet = |t| summary(1, t, [[(1, 110.0, 1.0), (0, 0.0, 0.0)], [(1, 110.0, 1.0), (0, 0.0, 0.0)]], None, &[]);
        for k in 1..10 {
            assert_eq!(p.decide(&quiet(30.0 * f64::from(k)), &[]).to_string(), "limit=none closed=none");
        }
    }
}
