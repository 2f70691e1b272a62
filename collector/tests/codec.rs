//! Frames as bytes: round trips, bad input, and determinism of the renderer.

use skyway_collector::eval::traffic::{Traffic, TrafficConfig};
use skyway_collector::*;

fn frame(seed: u64, seconds: f64) -> (image::GrayImage, Truth) {
    let camera = CameraSpec::default();
    let cond = Conditions::hard();
    let mut t = Traffic::new(TrafficConfig::three_lanes(&cond, true, None), camera, seed);
    t.step(seconds);
    render(&t.scene(), &cond, seed).unwrap()
}

#[test]
fn png_round_trip_is_exact_and_jpeg_keeps_the_size() {
    let (img, _) = frame(3, 20.0);
    let png = encode(&img, Format::Png).unwrap();
    assert_eq!(decode(&png, 640 * 360).unwrap(), img);
    let jpg = encode(&img, Format::Jpeg(85)).unwrap();
    let back = decode(&jpg, 640 * 360).unwrap();
    assert_eq!(back.dimensions(), (640, 360));
    assert!(jpg.len() < png.len(), "jpeg {} png {}", jpg.len(), png.len());
}

#[test]
fn bytes_that_are_not_an_image_are_refused() {
    for bytes in [&b""[..], b"hello, world", &[0x89, b'P', b'N', b'G', 0, 0, 0, 0][..]] {
        match decode(bytes, 1 << 20) {
            Err(CollectorError::NotAnImage { reason }) => assert!(!reason.is_empty()),
            other => panic!("expected NotAnImage, got {other:?}"),
        }
    }
    let (img, _) = frame(3, 5.0);
    let mut png = encode(&img, Format::Png).unwrap();
    png.truncate(png.len() / 2);
    assert!(matches!(decode(&png, 1 << 20), Err(CollectorError::NotAnImage { .. })));
}

#[test]
fn an_image_over_the_limit_is_refused_before_decoding() {
    let (img, _) = frame(3, 5.0);
    let png = encode(&img, Format::Png).unwrap();
    let err = decode(&png, 640 * 360 - 1).unwrap_err();
    assert_eq!(err, CollectorError::TooLarge { width: 640, height: 360, pixels: 640 * 360, max: 640 * 360 - 1 });
    assert!(err.to_string().contains("raise the limit"));
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (a, ta) = frame(11, 30.0);
    let (b, tb) = frame(11, 30.0);
    let (c, _) = frame(12, 30.0);
    assert_eq!(encode(&a, Format::Png).unwrap(), encode(&b, Format::Png).unwrap());
    assert_eq!(serde_json::to_string(&ta).unwrap(), serde_json::to_string(&tb).unwrap());
    assert_ne!(a, c);
    let json = serde_json::to_string(&ta).unwrap();
    let back: Truth = serde_json::from_str(&json).unwrap();
    assert_eq!(back, ta);
}

#[test]
fn analysis_refuses_a_frame_of_the_wrong_size() {
    let g = LaneGeometry::new(&CameraSpec::default(), 3, 3.5).unwrap();
    let mut model = Background::new(&g, AnalyzerConfig::default()).unwrap();
    let small = image::GrayImage::new(320, 180);
    assert!(matches!(analyze(&small, &mut model, &g), Err(CollectorError::WrongSize { .. })));
}
