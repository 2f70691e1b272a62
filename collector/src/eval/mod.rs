//! Accuracy against truth, end to end: synthetic traffic → renderer → analyzer → scores.
//!
//! [`run`] drives [`traffic::Traffic`] at the camera's frame rate, renders every frame under the
//! given conditions, analyses it, and scores detections, loop counts and stalled alarms with the
//! pure functions of [`score`]. The first `lead_s` seconds fill the road and warm the model up
//! and are not scored. A stall is staged half-way through the run.
//!
//! Nothing here reads a clock: speed is measured by the benchmark example, not here.

pub mod score;
pub mod traffic;

use serde::{Deserialize, Serialize};

use crate::analysis::{AnalyzerConfig, Background, analyze};
use crate::camera::LaneGeometry;
use crate::conditions::Conditions;
use crate::error::CollectorError;
use crate::render::Renderer;
use crate::scene::CameraSpec;
use score::{Breakdown, CountScore, Matches};
use traffic::{Traffic, TrafficConfig};

/// Distance from a stalled vehicle's rear within which an alarm is its alarm, metres.
pub const ALARM_NEAR_M: f64 = 20.0;

/// One evaluation run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// Imaging conditions.
    pub conditions: Conditions,
    /// Seconds scored (after the lead-in).
    pub seconds: f64,
    /// Frames per second.
    pub fps: f64,
    /// The seed of traffic and noise.
    pub seed: u64,
    /// Length of a counting period, seconds.
    pub period_s: f64,
    /// Seconds before scoring starts.
    pub lead_s: f64,
    /// Farthest position along the stretch whose vehicles are scored, metres.
    pub range_m: f64,
    /// Stop-and-go queues in lane 1.
    pub stop_and_go: bool,
    /// Stage a stalled vehicle half-way through.
    pub stall: bool,
    /// The analyzer's tuning (its `fps` is replaced by the run's).
    #[serde(default)]
    pub analyzer: AnalyzerConfig,
}

impl EvalConfig {
    /// The defaults for a conditions preset: 5 fps, 5-minute periods, stop-and-go on the hard set.
    pub fn new(conditions: Conditions, seconds: f64, seed: u64) -> Self {
        let hard = conditions.name == "hard";
        Self {
            conditions,
            seconds,
            fps: 5.0,
            seed,
            period_s: 300.0,
            lead_s: 20.0,
            range_m: 150.0,
            stop_and_go: hard,
            stall: true,
            analyzer: AnalyzerConfig::default(),
        }
    }
}

/// Stalled-vehicle scoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StallScore {
    /// Stalled vehicles staged (and stopped in time to be seen).
    pub stalls: u32,
    /// Of those, alarmed.
    pub alarmed: u32,
    /// Seconds from standstill to the alarm.
    pub delay_s: Option<f64>,
    /// Alarm episodes not near a stalled vehicle.
    pub false_alarms: u32,
    /// False alarms per camera-hour.
    pub false_alarms_per_hour: f64,
    /// Every alarm episode: seconds from the start of the run, lane, position, whether false.
    #[serde(default)]
    pub episodes: Vec<(f64, u8, f64, bool)>,
}

/// The evaluation's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The conditions' name.
    pub conditions: String,
    /// The seed.
    pub seed: u64,
    /// Seconds scored.
    pub seconds: f64,
    /// Frames scored.
    pub frames: u64,
    /// Detection tallies.
    pub detection: Matches,
    /// Precision of detections.
    pub precision: f64,
    /// Recall of detections.
    pub recall: f64,
    /// F1 of detections.
    pub f1: f64,
    /// Why detections failed (merged, loose, missed, ghosts) and how matched boxes fit.
    pub errors: Breakdown,
    /// Counts per lane-period.
    pub counts: CountScore,
    /// Stalled alarms.
    pub stall: StallScore,
}

/// Renders, analyses and scores a run.
pub fn run(cfg: &EvalConfig) -> Result<EvalReport, CollectorError> {
    let camera = CameraSpec::default();
    let tcfg = TrafficConfig::three_lanes(
        &cfg.conditions,
        cfg.stop_and_go,
        cfg.stall.then_some(cfg.lead_s + cfg.seconds / 2.0),
    );
    let geometry = LaneGeometry::new(&camera, tcfg.lanes, tcfg.lane_width_m)?;
    let acfg = AnalyzerConfig { fps: cfg.fps, ..cfg.analyzer.clone() };
    let loop_mid = acfg.loop_position_m + acfg.loop_length_m / 2.0;
    let renderer = Renderer::new(geometry.clone());
    let mut model = Background::new(&geometry, acfg)?;
    let mut traffic = Traffic::new(tcfg, camera, cfg.seed);
    let dt = 1.0 / cfg.fps;
    let lead_frames = (cfg.lead_s * cfg.fps).round() as u64;
    let total = lead_frames + (cfg.seconds * cfg.fps).round() as u64;
    let period_frames = ((cfg.period_s * cfg.fps).round() as u64).max(1);
    let lanes = geometry.lanes as usize;
    let mut matches = Matches::default();
    let mut errors = Breakdown::default();
    let mut truth_counts: Vec<Vec<u64>> = Vec::new();
    let mut det_counts: Vec<Vec<u64>> = Vec::new();
    let mut det_base = vec![0u64; lanes];
    let mut episodes: Vec<(u64, u8, f64)> = Vec::new();
    let mut prev_fronts = traffic.fronts();
    for frame in 0..total {
        let scene = traffic.scene();
        let (img, truth) = renderer.render(&scene, &cfg.conditions, cfg.seed);
        let det = analyze(&img, &mut model, &geometry)?;
        if frame >= lead_frames {
            let p = ((frame - lead_frames) / period_frames) as usize;
            if truth_counts.len() <= p {
                truth_counts.push(vec![0; lanes]);
                det_counts.push(vec![0; lanes]);
            }
            matches.add(score::match_frame(&det.blobs, &truth.vehicles, cfg.range_m));
            errors.add(score::breakdown_frame(&det.blobs, &truth.vehicles, cfg.range_m));
            for (id, lane, front) in traffic.fronts() {
                let before = prev_fronts.iter().find(|f| f.0 == id).map(|f| f.2);
                if before.is_some_and(|b| b < loop_mid && front >= loop_mid) {
                    truth_counts[p][lane as usize - 1] += 1;
                }
            }
            for l in &det.loops {
                det_counts[p][l.lane as usize - 1] = l.count - det_base[l.lane as usize - 1];
            }
            for a in &det.stalled {
                if !episodes.iter().any(|e| e.0 == a.raised_frame && e.1 == a.lane) {
                    episodes.push((a.raised_frame, a.lane, a.position_m));
                }
            }
            let next = frame + 1;
            if (next - lead_frames).is_multiple_of(period_frames) {
                det_base = det.loops.iter().map(|l| l.count).collect();
            }
        } else {
            det_base = det.loops.iter().map(|l| l.count).collect();
        }
        prev_fronts = traffic.fronts();
        traffic.step(dt);
    }
    let rows = truth_counts
        .iter()
        .zip(&det_counts)
        .enumerate()
        .flat_map(|(p, (t, d))| (0..lanes).map(move |l| (p as u32, l as u8 + 1, t[l], d[l])))
        .collect();
    let counts = score::score_counts(rows, cfg.period_s);
    let stall = score_alarms(&episodes, traffic.stalled_at, cfg);
    Ok(EvalReport {
        conditions: cfg.conditions.name.clone(),
        seed: cfg.seed,
        seconds: cfg.seconds,
        frames: total - lead_frames,
        precision: matches.precision(),
        recall: matches.recall(),
        f1: matches.f1(),
        detection: matches,
        errors,
        counts,
        stall,
    })
}

fn score_alarms(episodes: &[(u64, u8, f64)], stalled_at: Option<(f64, u8, f64)>, cfg: &EvalConfig) -> StallScore {
    let mut delay: Option<f64> = None;
    let mut false_alarms = 0;
    let mut listed = Vec::new();
    for &(frame, lane, pos) in episodes {
        let t = frame as f64 / cfg.fps;
        match stalled_at {
            Some((ts, sl, sp)) if sl == lane && (pos - sp).abs() < ALARM_NEAR_M && t >= ts - 2.0 => {
                let d = t - ts;
                delay = Some(delay.map_or(d, |x: f64| x.min(d)));
                listed.push((t, lane, pos, false));
            }
            _ => {
                false_alarms += 1;
                listed.push((t, lane, pos, true));
            }
        }
    }
    let stalls = stalled_at.is_some() as u32;
    StallScore {
        stalls,
        alarmed: (stalls > 0 && delay.is_some()) as u32,
        delay_s: delay,
        false_alarms,
        false_alarms_per_hour: false_alarms as f64 / (cfg.seconds / 3600.0),
        episodes: listed,
    }
}
