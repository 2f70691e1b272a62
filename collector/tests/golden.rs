//! Golden test of the pipeline: a seeded run's detections, one line per second, compared with
//! `testdata/<name>.txt`. Regenerate with `UPDATE_GOLDEN=1 cargo test -p skyway-collector`.

use std::fmt::Write;

use skyway_collector::eval::traffic::{Traffic, TrafficConfig};
use skyway_collector::*;

fn summary(cond: Conditions, seconds: f64, seed: u64) -> String {
    let camera = CameraSpec::default();
    let g = LaneGeometry::new(&camera, 3, 3.5).unwrap();
    let renderer = Renderer::new(g.clone());
    let mut model = Background::new(&g, AnalyzerConfig::default()).unwrap();
    let mut traffic = Traffic::new(TrafficConfig::three_lanes(&cond, cond.name == "hard", Some(20.0)), camera, seed);
    let mut out = String::new();
    for frame in 0..(seconds * 5.0) as u64 {
        let (img, truth) = renderer.render(&traffic.scene(), &cond, seed);
        let d = analyze(&img, &mut model, &g).unwrap();
        if frame % 5 == 4 && frame >= 60 {
            write!(out, "f{} truth={} blobs:", d.frame, truth.vehicles.len()).unwrap();
            for b in &d.blobs {
                write!(out, " L{}@{:.0}m {}", b.lane, b.position_m, b.bbox).unwrap();
            }
            let counts: Vec<String> = d.loops.iter().map(|l| l.count.to_string()).collect();
            write!(out, " | loops {}", counts.join("/")).unwrap();
            for a in &d.stalled {
                write!(out, " | STALLED L{}@{:.0}m since f{}", a.lane, a.position_m, a.raised_frame).unwrap();
            }
            out.push('\n');
        }
        traffic.step(0.2);
    }
    out
}

fn check(name: &str, got: &str) {
    let path = format!("{}/testdata/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{path} missing: run with UPDATE_GOLDEN=1"));
    if want != got {
        for (i, (w, g)) in want.lines().zip(got.lines()).enumerate() {
            if w != g {
                panic!("{name} line {}:\nwant {w}\ngot  {g}\n(UPDATE_GOLDEN=1 to accept)", i + 1);
            }
        }
        panic!(
            "{name}: {} lines wanted, {} got (UPDATE_GOLDEN=1 to accept)",
            want.lines().count(),
            got.lines().count()
        );
    }
}

#[test]
fn golden_easy() {
    check("pipeline_easy", &summary(Conditions::easy(), 40.0, 1));
}

#[test]
fn golden_hard() {
    check("pipeline_hard", &summary(Conditions::hard(), 40.0, 2));
}
