//! Where detections fail, by the kind of vehicle and where it stands:
//! `cargo run --release --example diag -- hard 300 7`. Runs the evaluation's traffic, matches
//! each frame's blobs to the scored truth the same way the score does (one to one, best IoU
//! first, IoU ≥ 0.5), and tallies the unmatched truth by contrast, distance, lateral offset
//! (lane changes), speed (stopped or moving) and how visible it is, and the unmatched blobs by
//! distance and lane; then each lane's loop count against the truth. Prints a table; asserts
//! nothing. Truth is used here only to score.
use std::collections::BTreeMap;

use skyway_collector::eval::score::scored;
use skyway_collector::eval::traffic::{Traffic, TrafficConfig};
use skyway_collector::render::ROAD_SHADE;
use skyway_collector::*;

#[derive(Default)]
struct Tally {
    scored: u64,
    missed: u64,
    loose: u64,
    merged: u64,
}

fn bump(m: &mut BTreeMap<String, Tally>, key: String, f: impl Fn(&mut Tally)) {
    f(m.entry(key).or_default());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cond = Conditions::by_name(args.get(1).map_or("hard", |s| s)).unwrap();
    let seconds: f64 = args.get(2).map_or(300.0, |s| s.parse().unwrap());
    let seed: u64 = args.get(3).map_or(7, |s| s.parse().unwrap());
    let cfg = EvalConfig::new(cond.clone(), seconds, seed);
    let camera = CameraSpec::default();
    let tcfg = TrafficConfig::three_lanes(&cond, cfg.stop_and_go, Some(cfg.lead_s + seconds / 2.0));
    let g = LaneGeometry::new(&camera, 3, 3.5).unwrap();
    let r = Renderer::new(g.clone());
    let mut model = Background::new(&g, AnalyzerConfig::default()).unwrap();
    let mut t = Traffic::new(tcfg, camera, seed);
    let lead = (cfg.lead_s * 5.0) as u64;
    let total = lead + (seconds * 5.0) as u64;
    let list = std::env::var_os("DIAG_LIST").is_some();
    let mut by: BTreeMap<String, Tally> = BTreeMap::new();
    let mut fp: BTreeMap<String, u64> = BTreeMap::new();
    let mut prev: BTreeMap<u64, f64> = BTreeMap::new();
    let (mut tp, mut fps, mut fns) = (0u64, 0u64, 0u64);
    let (mut dw, mut dh, mut dy_top, mut dy_bot) = (0i64, 0i64, 0i64, 0i64);
    let loop_mid = 16.5;
    let mut truth_count = [0u64; 3];
    let mut base = [0u64; 3];
    let mut det_count = [0u64; 3];
    for frame in 0..total {
        let scene = t.scene();
        let (img, truth) = r.render(&scene, &cond, seed);
        let d = analyze(&img, &mut model, &g).unwrap();
        let speeds: BTreeMap<u64, f64> =
            scene.vehicles.iter().map(|v| (v.id, prev.get(&v.id).map_or(99.0, |p| (v.position_m - p) * 5.0))).collect();
        if frame < lead {
            for l in &d.loops {
                base[l.lane as usize - 1] = l.count;
            }
        } else {
            for l in &d.loops {
                let c = l.count - base[l.lane as usize - 1];
                if list && l.lane == 3 && c != det_count[2] {
                    let near: Vec<String> = scene
                        .vehicles
                        .iter()
                        .filter(|v| v.position_m > 0.0 && v.position_m < 40.0)
                        .map(|v| {
                            format!(
                                "L{} off {:.1} @{:.1} h {:.1} shade {:.2}",
                                v.lane, v.offset_m, v.position_m, v.height_m, v.shade
                            )
                        })
                        .collect();
                    println!(
                        "LOOP3 t={:.1} count {c} truth {} occ {:.2}: {near:?}",
                        scene.time_s, truth_count[2], l.occupancy
                    );
                }
                det_count[l.lane as usize - 1] = c;
            }
            for v in &scene.vehicles {
                if let Some(&p) = prev.get(&v.id)
                    && p < loop_mid
                    && v.position_m >= loop_mid
                {
                    truth_count[v.lane as usize - 1] += 1;
                }
            }
            let mut pairs = Vec::new();
            for (i, b) in d.blobs.iter().enumerate() {
                for (j, tb) in truth.vehicles.iter().enumerate() {
                    let iou = b.bbox.iou(&tb.bbox);
                    if iou > 0.0 {
                        pairs.push((iou, i, j));
                    }
                }
            }
            pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
            let (mut bu, mut tu) = (vec![false; d.blobs.len()], vec![false; truth.vehicles.len()]);
            for &(iou, i, j) in &pairs {
                if iou >= 0.5 && !bu[i] && !tu[j] {
                    bu[i] = true;
                    tu[j] = true;
                    let (b, tb) = (&d.blobs[i].bbox, &truth.vehicles[j].bbox);
                    if scored(&truth.vehicles[j], cfg.range_m) {
                        tp += 1;
                        dw += b.w as i64 - tb.w as i64;
                        dh += b.h as i64 - tb.h as i64;
                        dy_top += b.y as i64 - tb.y as i64;
                        dy_bot += (b.y + b.h) as i64 - (tb.y + tb.h) as i64;
                    }
                }
            }
            for (j, tb) in truth.vehicles.iter().enumerate() {
                if !scored(tb, cfg.range_m) {
                    continue;
                }
                let v = scene.vehicles.iter().find(|v| v.id == tb.id).unwrap();
                let contrast = (v.shade - ROAD_SHADE).abs();
                let keys = [
                    format!("contrast {}", if contrast < 0.15 { "low" } else { "normal" }),
                    format!(
                        "dist {:03}-{:03}",
                        (tb.position_m / 50.0).floor() * 50.0,
                        (tb.position_m / 50.0).floor() * 50.0 + 50.0
                    ),
                    format!(
                        "kind {}",
                        if v.height_m > 3.0 {
                            "truck"
                        } else if v.height_m > 1.9 {
                            "van"
                        } else {
                            "car"
                        }
                    ),
                    format!("lane {}{}", tb.lane, if v.offset_m != 0.0 { " changing" } else { "" }),
                    format!(
                        "speed {}",
                        if speeds[&tb.id] < 1.0 {
                            "stopped"
                        } else if speeds[&tb.id] < 10.0 {
                            "slow"
                        } else {
                            "fast"
                        }
                    ),
                    format!("visible {}", if tb.visible < 0.95 { "part" } else { "whole" }),
                    format!("shade {}", if v.shade < ROAD_SHADE { "dark" } else { "light" }),
                ];
                let near: Vec<(f64, usize)> =
                    pairs.iter().filter(|p| p.2 == j && p.0 >= 0.1).map(|p| (p.0, p.1)).collect();
                let overl = |bi: usize| {
                    truth
                        .vehicles
                        .iter()
                        .filter(|o| o.visible >= 0.3 && inter(&d.blobs[bi].bbox, &o.bbox) >= 0.3 * o.bbox.area() as f64)
                        .count()
                };
                for k in keys {
                    bump(&mut by, k.clone(), |t| t.scored += 1);
                    if tu[j] {
                        continue;
                    }
                    if near.is_empty() {
                        bump(&mut by, k.clone(), |t| t.missed += 1);
                    } else if near.iter().any(|&(_, i)| overl(i) >= 2) {
                        bump(&mut by, k.clone(), |t| t.merged += 1);
                    } else {
                        bump(&mut by, k.clone(), |t| t.loose += 1);
                    }
                }
                if !tu[j] {
                    fns += 1;
                    if list && fns % 20 == 0 {
                        let near: Vec<String> = pairs
                            .iter()
                            .filter(|p| p.2 == j && p.0 >= 0.1)
                            .map(|p| format!("{} iou {:.2}", d.blobs[p.1].bbox, p.0))
                            .collect();
                        println!(
                            "FN t={:.1} {} L{} @{:.0} shade {:.2} h {:.1} vis {:.2} speed {:.0}: {near:?}",
                            scene.time_s,
                            tb.bbox,
                            tb.lane,
                            tb.position_m,
                            v.shade,
                            v.height_m,
                            tb.visible,
                            speeds[&tb.id]
                        );
                    }
                }
            }
            for (i, b) in d.blobs.iter().enumerate() {
                if bu[i] || b.position_m > cfg.range_m {
                    continue;
                }
                let dont_care = pairs
                    .iter()
                    .any(|&(iou, bi, tj)| bi == i && iou >= 0.2 && !scored(&truth.vehicles[tj], cfg.range_m));
                if dont_care {
                    continue;
                }
                fps += 1;
                let best = pairs.iter().filter(|p| p.1 == i).map(|p| p.0).fold(0.0, f64::max);
                let kind = if best < 0.1 { "ghost" } else { "loose/merged" };
                *fp.entry(format!("fp {kind} dist {:03}", (b.position_m / 50.0).floor() * 50.0)).or_default() += 1;
                *fp.entry(format!("fp {kind} lane {}", b.lane)).or_default() += 1;
            }
        }
        prev = scene.vehicles.iter().map(|v| (v.id, v.position_m)).collect();
        t.step(0.2);
    }
    let p = tp as f64 / (tp + fps) as f64;
    let rc = tp as f64 / (tp + fns) as f64;
    println!(
        "{} seed {seed}: TP {tp} FP {fps} FN {fns}  P {p:.3} R {rc:.3} F1 {:.3}",
        cond.name,
        2.0 * p * rc / (p + rc)
    );
    println!(
        "matched boxes: mean dw {:.2} dh {:.2} dtop {:.2} dbottom {:.2}",
        dw as f64 / tp as f64,
        dh as f64 / tp as f64,
        dy_top as f64 / tp as f64,
        dy_bot as f64 / tp as f64
    );
    println!("{:<24} {:>7} {:>7} {:>7} {:>7} {:>7}", "truth", "scored", "missed", "loose", "merged", "recall");
    for (k, t) in &by {
        let lost = t.missed + t.loose + t.merged;
        println!(
            "{k:<24} {:>7} {:>7} {:>7} {:>7} {:>7.3}",
            t.scored,
            t.missed,
            t.loose,
            t.merged,
            1.0 - lost as f64 / t.scored as f64
        );
    }
    for (k, n) in &fp {
        println!("{k:<30} {n}");
    }
    println!("loop counts per lane (detected/truth): {:?} / {:?}", det_count, truth_count);
}

fn inter(a: &BBox, b: &BBox) -> f64 {
    let x0 = a.x.max(b.x);
    let y0 = a.y.max(b.y);
    let x1 = (a.x + a.w).min(b.x + b.w);
    let y1 = (a.y + a.h).min(b.y + b.h);
    if x1 <= x0 || y1 <= y0 { 0.0 } else { (x1 - x0) as f64 * (y1 - y0) as f64 }
}
