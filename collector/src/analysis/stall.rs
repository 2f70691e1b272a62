//! Stalled-vehicle alarms: vehicle-sized blobs that have stood still for `stall_s`.
//!
//! A blob most of whose pixels have been foreground and still for `stall_s` is a candidate. A
//! candidate with another still one less than `QUEUE_M` ahead in its lane is queueing, not
//! stalled. A candidate within `NEAR_M` of an alarm in force in the same lane refreshes it; any other raises
//! a new alarm. An alarm is dropped `alarm_hold_s` after its vehicle was last seen, so a passing
//! truck that hides the stalled one for a moment does not end and re-raise it.

use serde::{Deserialize, Serialize};

use super::{AnalyzerConfig, Blob};

/// Share of a blob's pixels that must be still for it to be stalled.
pub const STILL_SHARE_MIN: f64 = 0.4;
/// Still vehicles less than this behind another in their lane queue for it, metres.
pub const QUEUE_M: f64 = 40.0;
/// Distance within which a candidate is the same stalled vehicle, metres.
pub const NEAR_M: f64 = 15.0;

/// A stalled-vehicle alarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StalledAlarm {
    /// The lane of the stalled vehicle.
    pub lane: u8,
    /// Where it stands along the stretch (its rear), metres.
    pub position_m: f64,
    /// Frame at which the alarm was raised.
    pub raised_frame: u64,
    /// Frame at which its vehicle was last seen.
    pub seen_frame: u64,
}

/// The alarms in force.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StallTracker {
    alarms: Vec<StalledAlarm>,
}

impl StallTracker {
    /// Updates the alarms with this frame's blobs and returns those in force.
    pub fn step(&mut self, blobs: &[Blob], frame: u64, cfg: &AnalyzerConfig) -> Vec<StalledAlarm> {
        // Every still vehicle counts as one ahead, even beyond the range where alarms are raised.
        let still: Vec<&Blob> = blobs.iter().filter(|b| b.still_share >= STILL_SHARE_MIN).collect();
        let alarms = self.alarms.clone();
        // Only the head of a standing line is the stalled one; those behind it queue for it, in
        // its lane or waiting to change lanes round it (straddling, or just in the next lane).
        let heads = still.iter().filter(|b| {
            let ahead = |lane: u8, p: f64, queue: bool| {
                let near_lane = if queue { lane == b.lane } else { lane.abs_diff(b.lane) <= 1 };
                near_lane && p > b.position_m + NEAR_M / 2.0 && p - b.position_m < QUEUE_M
            };
            b.position_m <= cfg.stall_range_m
                && !still.iter().any(|o| ahead(o.lane, o.position_m, true))
                && !alarms.iter().any(|a| a.lane != b.lane && ahead(a.lane, a.position_m, false))
                && !alarms.iter().any(|a| ahead(a.lane, a.position_m, true))
        });
        for b in heads {
            match self.alarms.iter_mut().find(|a| a.lane == b.lane && (a.position_m - b.position_m).abs() < NEAR_M) {
                Some(a) => {
                    a.seen_frame = frame;
                    a.position_m = b.position_m;
                }
                None => self.alarms.push(StalledAlarm {
                    lane: b.lane,
                    position_m: b.position_m,
                    raised_frame: frame,
                    seen_frame: frame,
                }),
            }
        }
        let hold = (cfg.alarm_hold_s * cfg.fps).round() as u64;
        self.alarms.retain(|a| frame - a.seen_frame <= hold);
        self.alarms.clone()
    }
}
