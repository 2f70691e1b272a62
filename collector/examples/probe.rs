//! Prints frame ÷ (background × gain) over a box of the last frame, in hundredths, with the
//! foreground and shadow masks: `cargo run --release --example probe -- hard 62 7 X Y W H`.
use skyway_collector::eval::traffic::{Traffic, TrafficConfig};
use skyway_collector::*;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let cond = Conditions::by_name(&a[1]).unwrap();
    let seconds: f64 = a[2].parse().unwrap();
    let seed: u64 = a[3].parse().unwrap();
    let n: Vec<usize> = a[4..8].iter().map(|s| s.parse().unwrap()).collect();
    let camera = CameraSpec::default();
    let tcfg = TrafficConfig::three_lanes(&cond, cond.name == "hard", Some(170.0));
    let g = LaneGeometry::new(&camera, 3, 3.5).unwrap();
    let r = Renderer::new(g.clone());
    let mut model = Background::new(&g, AnalyzerConfig::default()).unwrap();
    let mut t = Traffic::new(tcfg, camera, seed);
    let mut last = None;
    for _ in 0..(seconds * 5.0) as usize {
        let (img, truth) = r.render(&t.scene(), &cond, seed);
        last = Some((analyze(&img, &mut model, &g).unwrap(), truth));
        t.step(0.2);
    }
    let (d, truth) = last.unwrap();
    println!("gain {:.3} noise {:.2} ratio {:?}", d.gain, d.noise, d.shadow_ratio);
    for tb in &truth.vehicles {
        println!("truth {} L{} @{:.0}", tb.bbox, tb.lane, tb.position_m);
    }
    let (bg, img, fg, sh) = (model.slow_background(), model.blurred(), model.foreground(), model.shadow());
    for y in n[1]..n[1] + n[3] {
        let mut line = format!("{y:3} ");
        for x in n[0]..n[0] + n[2] {
            let i = y * 640 + x;
            let q = (100.0 * img[i] as f64 / (bg[i] as f64 * d.gain)).round() as i64;
            let m = if sh[i] != 0 {
                's'
            } else if fg[i] != 0 {
                '*'
            } else {
                ' '
            };
            line.push_str(&format!("{:3}{m}", q.min(999)));
        }
        println!("{line}");
    }
}
