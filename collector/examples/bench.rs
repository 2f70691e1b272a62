//! Speed of rendering and of analysis, per 640×360 frame, on one core:
//! `cargo run --release --example bench -- hard 300`. Prints figures; asserts nothing.
use std::time::Instant;

use skyway_collector::eval::traffic::{Traffic, TrafficConfig};
use skyway_collector::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cond = Conditions::by_name(args.get(1).map_or("hard", |s| s)).unwrap();
    let frames: usize = args.get(2).map_or(300, |s| s.parse().unwrap());
    let camera = CameraSpec::default();
    let g = LaneGeometry::new(&camera, 3, 3.5).unwrap();
    let r = Renderer::new(g.clone());
    let mut model = Background::new(&g, AnalyzerConfig::default()).unwrap();
    let mut t = Traffic::new(TrafficConfig::three_lanes(&cond, true, None), camera, 1);
    t.step(20.0);
    let (mut render_s, mut analyze_s, mut png_s, mut jpg_s) = (0.0, 0.0, 0.0, 0.0);
    for i in 0..frames {
        let scene = t.scene();
        let t0 = Instant::now();
        let (img, _) = r.render(&scene, &cond, 1);
        let t1 = Instant::now();
        let d = analyze(&img, &mut model, &g).unwrap();
        let t2 = Instant::now();
        std::hint::black_box(d);
        render_s += (t1 - t0).as_secs_f64();
        analyze_s += (t2 - t1).as_secs_f64();
        if i % 10 == 0 {
            let t3 = Instant::now();
            std::hint::black_box(encode(&img, Format::Png).unwrap());
            let t4 = Instant::now();
            std::hint::black_box(encode(&img, Format::Jpeg(85)).unwrap());
            png_s += (t4 - t3).as_secs_f64();
            jpg_s += t4.elapsed().as_secs_f64();
        }
        t.step(0.2);
    }
    let ms = |s: f64, n: usize| 1000.0 * s / n as f64;
    let coded = frames.div_ceil(10);
    println!(
        "{} conditions, {frames} frames 640x360, one thread: render {:.2} ms/frame, analyze {:.2} ms/frame, png encode {:.2} ms, jpeg encode {:.2} ms",
        cond.name,
        ms(render_s, frames),
        ms(analyze_s, frames),
        ms(png_s, coded),
        ms(jpg_s, coded)
    );
}
