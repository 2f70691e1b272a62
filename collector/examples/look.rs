//! Renders one scene to /tmp/look.png for a person to look at.
use skyway_collector::*;

fn main() {
    let mut vehicles = Vec::new();
    let mut id = 0;
    for lane in 1..=3u8 {
        for k in 0..6 {
            id += 1;
            let truck = id % 5 == 0;
            vehicles.push(SceneVehicle {
                id,
                lane,
                offset_m: 0.0,
                position_m: 5.0 + k as f64 * 45.0 + lane as f64 * 11.0,
                length_m: if truck { 12.0 } else { 4.5 },
                width_m: if truck { 2.5 } else { 1.8 },
                height_m: if truck { 3.5 } else { 1.5 },
                shade: [0.1, 0.9, 0.6, 0.25, 0.75, 0.5][(id % 6) as usize],
                stalled: false,
            });
        }
    }
    let scene = Scene { time_s: 300.0, camera: CameraSpec::default(), lanes: 3, lane_width_m: 3.5, vehicles };
    let name = std::env::args().nth(1).unwrap_or("easy".into());
    let c = Conditions::by_name(&name).unwrap();
    let (img, truth) = render(&scene, &c, 1).unwrap();
    img.save("/tmp/look.png").unwrap();
    println!("{}", serde_json::to_string(&truth).unwrap().len());
}
