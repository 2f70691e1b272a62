//! Lane closures drawn as cones, seen by the analyzer: the same seeded traffic with lane 2 empty,
//! rendered without cones and with a closure of lane 2 that appears mid-run and is lifted later
//! (what a live camera sees when its segment's primary closes the lane and reopens it). The cones must raise no
//! stalled-vehicle alarm and must not cost detections: precision, recall and the per-lane loop
//! counts are compared run against run, and every detection in lane 2 (where no vehicle drives)
//! is a false one.
//!
//! What cones cost today (seed 1 easy, seed 2 hard, 90 s, closed from 32 s to 72 s; `cargo test
//! -p skyway-collector --release --test closures -- --nocapture` prints it): no alarm and the
//! same loop counts on both sets; F1 0.953 → 0.938 easy and 0.856 → 0.799 hard; in the closed
//! lane 17 blob-frames instead of 0 (easy) and 7 instead of 0 (hard) out of 389. The analyzer
//! holds standing foreground (a stalled vehicle stays foreground for `hold_max_frames`), so
//! cones stay foreground while they stand: far away the closing joins a chain of them, which
//! is dropped because no row of it spans its box (`WIDEST_ROW_MIN` in `analysis/mod.rs`), but parts of a
//! chain that do pass (easy), and under the hard set's noise and jitter vehicles passing in the
//! next lanes merge with the cones beside them into boxes too wide to match (most of the hard
//! set's F1 cost; a background that learns standing clutter that is not vehicle-shaped would
//! remove it). The bounds below are those figures with a little room, so that drawing cones
//! more vehicle-like, or an analyzer change that takes them for vehicles, fails here.

use skyway_collector::eval::score::{self, Matches};
use skyway_collector::eval::traffic::{Traffic, TrafficConfig};
use skyway_collector::*;

/// What one run shows after the warm-up.
#[derive(Debug, Default)]
struct Seen {
    matches: Matches,
    alarms: Vec<(u8, f64, u64)>,
    lane_2_blobs: u64,
    counts: Vec<u64>,
}

/// `seconds` of three-lane traffic at 5 fps with lane 2 empty; over the frames `closed`, lane 2
/// is closed from 20 m to past the stretch's end.
fn run(cond: &Conditions, seconds: f64, seed: u64, closed: std::ops::Range<u64>) -> Seen {
    let camera = CameraSpec::default();
    let g = LaneGeometry::new(&camera, 3, 3.5).unwrap();
    let renderer = Renderer::new(g.clone());
    let cfg = AnalyzerConfig::default();
    let warm = u64::from(cfg.warmup_frames);
    let mut model = Background::new(&g, cfg).unwrap();
    let mut traffic = Traffic::new(TrafficConfig::three_lanes(cond, false, None), camera, seed);
    let closure = [SceneClosure { lane: 2, from_m: 20.0, to_m: 400.0 }];
    let mut seen = Seen::default();
    for frame in 0..(seconds * 5.0) as u64 {
        let mut scene = traffic.scene();
        scene.vehicles.retain(|v| v.lane != 2);
        let closures: &[SceneClosure] = if closed.contains(&frame) { &closure } else { &[] };
        let (img, truth) = renderer.render_with(&scene, closures, cond, seed);
        let d = analyze(&img, &mut model, &g).unwrap();
        if frame > warm {
            seen.matches.add(score::match_frame(&d.blobs, &truth.vehicles, 150.0));
            seen.lane_2_blobs += d.blobs.iter().filter(|b| b.lane == 2 && b.position_m <= 150.0).count() as u64;
            for a in &d.stalled {
                if !seen.alarms.iter().any(|s| s.2 == a.raised_frame) {
                    seen.alarms.push((a.lane, a.position_m, a.raised_frame));
                }
            }
        }
        seen.counts = d.loops.iter().map(|l| l.count).collect();
        traffic.step(0.2);
    }
    seen
}

fn compare(cond: Conditions, seed: u64, f1_drop_max: f64) {
    // Closed 20 s after the warm-up and lifted 40 s later: the cones appear, stand, and go (a
    // cone gone leaves a "ghost" in a background that had learnt it).
    let (plain, coned) = (run(&cond, 90.0, seed, 0..0), run(&cond, 90.0, seed, 160..360));
    let line = |s: &Seen| {
        format!(
            "P {:.3} R {:.3} F1 {:.3}, {} lane-2 blobs, counts {:?}, alarms {:?}",
            s.matches.precision(),
            s.matches.recall(),
            s.matches.f1(),
            s.lane_2_blobs,
            s.counts,
            s.alarms
        )
    };
    eprintln!("{} seed {seed}\n  no cones: {}\n  cones:    {}", cond.name, line(&plain), line(&coned));
    assert!(coned.alarms.is_empty(), "{}: cones raised a stalled-vehicle alarm: {:?}", cond.name, coned.alarms);
    let frames = 90 * 5 - u64::from(AnalyzerConfig::default().warmup_frames);
    assert!(
        coned.lane_2_blobs <= plain.lane_2_blobs + frames / 20,
        "{}: cones detected as vehicles in the closed lane: {} blobs (without cones {})",
        cond.name,
        coned.lane_2_blobs,
        plain.lane_2_blobs
    );
    assert!(
        coned.matches.f1() >= plain.matches.f1() - f1_drop_max,
        "{}: F1 {:.3} with cones, {:.3} without",
        cond.name,
        coned.matches.f1(),
        plain.matches.f1()
    );
    for (lane, (c, p)) in coned.counts.iter().zip(&plain.counts).enumerate() {
        assert!(c.abs_diff(*p) <= 1, "{}: lane {} counted {c} with cones, {p} without", cond.name, lane + 1);
    }
}

#[test]
fn cones_are_not_vehicles_on_the_easy_set() {
    compare(Conditions::easy(), 1, 0.03);
}

#[test]
fn cones_are_not_vehicles_on_the_hard_set() {
    compare(Conditions::hard(), 2, 0.07);
}
