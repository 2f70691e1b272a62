//! Runs the evaluation and prints its report as JSON, with the time it took per frame:
//! `cargo run --release --example eval -- easy 300 1`;
//! `SKYWAY_ANALYZER='{"suppress_shadows":false}'` tries other tuning.
use skyway_collector::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cond = Conditions::by_name(args.get(1).map_or("easy", |s| s)).expect("easy or hard");
    let seconds: f64 = args.get(2).map_or(300.0, |s| s.parse().unwrap());
    let seed: u64 = args.get(3).map_or(1, |s| s.parse().unwrap());
    let mut cfg = EvalConfig::new(cond, seconds, seed);
    // Tuning to try, as JSON fields over the defaults: SKYWAY_ANALYZER='{"edge_trim_px":1}'.
    if let Ok(patch) = std::env::var("SKYWAY_ANALYZER") {
        let mut a = serde_json::to_value(&cfg.analyzer).unwrap();
        let patch: serde_json::Value = serde_json::from_str(&patch).expect("SKYWAY_ANALYZER is a JSON object");
        for (k, v) in patch.as_object().expect("SKYWAY_ANALYZER is a JSON object") {
            a[k] = v.clone();
        }
        cfg.analyzer = serde_json::from_value(a).expect("SKYWAY_ANALYZER names AnalyzerConfig fields");
    }
    let t = std::time::Instant::now();
    let report = run(&cfg).unwrap();
    let ms = t.elapsed().as_secs_f64() * 1000.0 / (report.frames as f64 + cfg.lead_s * cfg.fps);
    let mut v = serde_json::to_value(&report).unwrap();
    v["counts"]["lane_periods"] = serde_json::Value::Null;
    println!("{}", serde_json::to_string_pretty(&v).unwrap());
    for r in &report.counts.lane_periods {
        println!("period {} lane {} truth {} detected {} geh {:.2}", r.period, r.lane, r.truth, r.detected, r.geh);
    }
    println!("render+analyse+score: {ms:.2} ms/frame");
}
