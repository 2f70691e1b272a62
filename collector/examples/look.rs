//! Runs traffic for a while and saves the last frame with truth (white) and detections (black)
//! outlined, the foreground mask (`/tmp/mask.png`) and
//! the shadow mask (`/tmp/shadow.png`): `cargo run --release --example look -- hard 60 1 [stall time, s]`.
use skyway_collector::eval::traffic::{Traffic, TrafficConfig};
use skyway_collector::*;

fn outline(img: &mut image::GrayImage, b: &BBox, v: u8) {
    for x in b.x..(b.x + b.w).min(img.width()) {
        for y in [b.y, (b.y + b.h - 1).min(img.height() - 1)] {
            img.put_pixel(x, y, image::Luma([v]));
        }
    }
    for y in b.y..(b.y + b.h).min(img.height()) {
        for x in [b.x, (b.x + b.w - 1).min(img.width() - 1)] {
            img.put_pixel(x, y, image::Luma([v]));
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cond = Conditions::by_name(args.get(1).map_or("easy", |s| s)).unwrap();
    let seconds: f64 = args.get(2).map_or(60.0, |s| s.parse().unwrap());
    let seed: u64 = args.get(3).map_or(1, |s| s.parse().unwrap());
    let camera = CameraSpec::default();
    let stall_s: f64 = args.get(4).map_or(40.0, |s| s.parse().unwrap());
    let tcfg = TrafficConfig::three_lanes(&cond, cond.name == "hard", Some(stall_s));
    let g = LaneGeometry::new(&camera, 3, 3.5).unwrap();
    let r = Renderer::new(g.clone());
    let mut model = Background::new(&g, AnalyzerConfig::default()).unwrap();
    let mut t = Traffic::new(tcfg, camera, seed);
    let mut last = None;
    for _ in 0..(seconds * 5.0) as usize {
        let (img, truth) = r.render(&t.scene(), &cond, seed);
        let d = analyze(&img, &mut model, &g).unwrap();
        last = Some((img, truth, d));
        t.step(0.2);
    }
    let (mut img, truth, d) = last.unwrap();
    let mask = image::GrayImage::from_raw(640, 360, model.foreground().iter().map(|&v| v * 255).collect()).unwrap();
    mask.save("/tmp/mask.png").unwrap();
    let shadow = model.shadow().iter().map(|&v| v * 255).collect();
    image::GrayImage::from_raw(640, 360, shadow).unwrap().save("/tmp/shadow.png").unwrap();
    for tb in &truth.vehicles {
        outline(&mut img, &tb.bbox, 255);
    }
    for b in &d.blobs {
        outline(&mut img, &b.bbox, 0);
    }
    img.save("/tmp/look.png").unwrap();
    // Side by side, twice the size, the road's columns only: frame, foreground, shadow.
    let (x0, cw) = (200u32, 256u32);
    let mut side = image::GrayImage::new(3 * cw * 2, 360 * 2);
    for (k, src) in [img.as_raw().as_slice(), model.foreground(), model.shadow()].iter().enumerate() {
        for y in 0..720u32 {
            for x in 0..cw * 2 {
                let v = src[(y / 2) as usize * 640 + (x0 + x / 2) as usize];
                let v = if k == 0 { v } else { v * 255 };
                side.put_pixel(k as u32 * cw * 2 + x, y, image::Luma([v]));
            }
        }
    }
    side.save("/tmp/side.png").unwrap();
    println!("{}", serde_json::to_string(&d).unwrap());
    let still = model.still().iter().map(|&v| v * 255).collect();
    image::GrayImage::from_raw(640, 360, still).unwrap().save("/tmp/still.png").unwrap();
    println!("stalled_at {:?}", t.stalled_at);
}
