//! What a camera's analysis tells a segment's policy about congestion, pure.
//!
//! A camera does not measure speed: its analyzer reports, per lane and period, the share of frames
//! its virtual loop was occupied, the vehicles seen per km of lane and the length of lane
//! covered by vehicles standing still. [`congestion`] turns those, over the lanes that are open,
//! into a level the segment policy can compare with its loops' speeds
//! ([`super::segment::SegmentPolicy::decide_with_cameras`]):
//!
//! - **Jam** (the loops' "below 50 km/h", limit 60): at least 40 vehicles per km of lane, or
//!   mean loop occupancy of at least 65 %, or a standing queue of at least 30 m, over the open
//!   lanes.
//! - **Slow** (the loops' "below 80 km/h", limit 80): at least 28 vehicles per km, or occupancy
//!   of at least 50 %.
//! - **Free** otherwise.
//!
//! Why these figures: `skyway sim report` measures the world's lane capacity at 1,891 veh/h, its
//! jam density at 131 veh/km and its congestion waves at 18.4 km/h, which put the critical
//! density (where flow peaks and speeds start to fall) at 131 − 1891/18.4 ≈ 28 vehicles per km
//! of lane, and 50 km/h on the congested branch at 18.4 × 131 / (50 + 18.4) ≈ 35 per km; the
//! analyzer undercounts dense traffic (far vehicles hide behind near ones), so 40 counted is a
//! jam. Occupancy is the camera's, not a buried loop's: a vehicle's height hides road beyond it,
//! so from a 14 m pole a car covers the 3 m virtual loop over about 13 m of travel and a truck
//! over about 30 m, and each period is 25 frames, so a sample of 25. In the `incident` world's
//! free flow (1,400 veh/h a lane, `skyway demo --scenario incident --speed 4`, watched with
//! `skyway ctl watch /analysis/cam-3`) cam-2 and cam-3 read 8–21 vehicles per km and occupancy
//! 0.04–0.44 a lane (0.2 typical, at most 0.40 as the mean of both lanes); occupancy 0.5 is
//! four standard deviations above free flow's mean and about 33 vehicles per km at 15 m a
//! vehicle. A queue of vehicles standing is a jam whatever the rest says.
//!
//! Caveats: a camera sees 250 m of one segment; a lane with a stalled vehicle shows a queue
//! behind it, so it counts as a jam until its lane is closed (then it is left out).

use serde::{Deserialize, Serialize};

/// One lane of a camera's period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraLane {
    /// The lane (1 = rightmost).
    pub lane: u8,
    /// Share of frames its loop was on, 0..=1.
    pub occupancy: f64,
    /// Vehicles per km of lane seen on the stretch.
    pub density_per_km: f64,
    /// Metres of lane covered by vehicles standing still.
    pub queue_m: f64,
}

/// A camera's latest period, as a segment policy reads it (the controller leaves out results
/// that are stale or from a model still warming up).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraReading {
    /// The camera (`cam-4`).
    pub camera: String,
    /// The segment it watches.
    pub segment: u32,
    /// Its lanes.
    pub lanes: Vec<CameraLane>,
}

/// How congested a camera's stretch is, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Congestion {
    /// Traffic at a standstill or crawling.
    Jam,
    /// Past capacity: slowing.
    Slow,
    /// Flowing.
    Free,
}

/// The thresholds of [`congestion`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CameraThresholds {
    /// Occupancy from which the stretch is slow.
    pub slow_occupancy: f64,
    /// Occupancy from which it is jammed.
    pub jam_occupancy: f64,
    /// Vehicles per km of lane from which it is slow.
    pub slow_density_per_km: f64,
    /// Vehicles per km of lane from which it is jammed.
    pub jam_density_per_km: f64,
    /// Metres of standing queue per open lane from which it is jammed.
    pub jam_queue_m: f64,
}

impl Default for CameraThresholds {
    fn default() -> Self {
        Self {
            slow_occupancy: 0.50,
            jam_occupancy: 0.65,
            slow_density_per_km: 28.0,
            jam_density_per_km: 40.0,
            jam_queue_m: 30.0,
        }
    }
}

/// The level of a camera's period over its open lanes (`closed`: the lanes closed on its
/// segment); None when it reports no open lane.
pub fn congestion(reading: &CameraReading, closed: &[u8], t: &CameraThresholds) -> Option<Congestion> {
    let open: Vec<&CameraLane> = reading.lanes.iter().filter(|l| !closed.contains(&l.lane)).collect();
    if open.is_empty() {
        return None;
    }
    let n = open.len() as f64;
    let mean = |f: fn(&CameraLane) -> f64| open.iter().map(|l| f(l)).sum::<f64>() / n;
    let (occupancy, density, queue) = (mean(|l| l.occupancy), mean(|l| l.density_per_km), mean(|l| l.queue_m));
    Some(if occupancy >= t.jam_occupancy || density >= t.jam_density_per_km || queue >= t.jam_queue_m {
        Congestion::Jam
    } else if occupancy >= t.slow_occupancy || density >= t.slow_density_per_km {
        Congestion::Slow
    } else {
        Congestion::Free
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(lanes: &[(f64, f64, f64)]) -> CameraReading {
        CameraReading {
            camera: "cam-4".into(),
            segment: 4,
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
    fn levels_follow_occupancy_density_and_queues_over_the_open_lanes() {
        let t = CameraThresholds::default();
        let level = |lanes: &[(f64, f64, f64)], closed: &[u8]| congestion(&reading(lanes), closed, &t);
        // Free flow at 1,400 veh/h a lane, as cam-3 read it in the incident world.
        assert_eq!(level(&[(0.36, 17.9, 0.0), (0.44, 16.8, 0.0)], &[]), Some(Congestion::Free));
        assert_eq!(level(&[(0.55, 20.0, 0.0), (0.48, 22.0, 0.0)], &[]), Some(Congestion::Slow), "occupancy");
        assert_eq!(level(&[(0.50, 20.0, 0.0), (0.48, 22.0, 0.0)], &[]), Some(Congestion::Free), "just below");
        assert_eq!(level(&[(0.30, 30.0, 0.0), (0.30, 27.0, 0.0)], &[]), Some(Congestion::Slow), "density");
        assert_eq!(level(&[(0.70, 30.0, 0.0), (0.62, 30.0, 0.0)], &[]), Some(Congestion::Jam), "occupancy");
        assert_eq!(level(&[(0.45, 42.0, 0.0), (0.45, 39.0, 0.0)], &[]), Some(Congestion::Jam), "density");
        // The queue behind a stall in lane 2 is a jam until lane 2 is closed; then the open lane
        // alone is judged.
        let stall = [(0.10, 14.0, 0.0), (0.90, 30.0, 80.0)];
        assert_eq!(level(&stall, &[]), Some(Congestion::Jam));
        assert_eq!(level(&stall, &[2]), Some(Congestion::Free));
        assert_eq!(level(&stall, &[1, 2]), None, "no open lane: nothing to say");
        assert!(Congestion::Jam < Congestion::Slow && Congestion::Slow < Congestion::Free, "worst first");
    }
}
