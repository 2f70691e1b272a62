//! Tests of the road: invariants on every shipped road, orders, and two printed measurements.

mod invariants {
    use super::super::*;
    use crate::scenario::Scenario;

    fn run(name: &str, ticks: u64) -> Highway {
        let scenario = Scenario::builtin(name).unwrap();
        let mut road = Highway::new(scenario.highway.as_ref().unwrap(), scenario.dt_s(), 7).unwrap();
        let (mut events, mut summaries) = (Vec::new(), Vec::new());
        for tick in 1..=ticks {
            road.step(tick, &mut events, &mut summaries);
            road.check_invariants().unwrap_or_else(|e| panic!("{name} tick {tick}: {e}"));
        }
        road
    }

    #[test]
    fn every_road_keeps_its_invariants() {
        for name in ["highway", "incident", "ring"] {
            let road = run(name, 2_400);
            let stats = road.stats();
            assert!(stats.present > 0, "{name}: {stats:?}");
        }
    }

    #[test]
    fn orders_are_checked_and_take_effect() {
        let scenario = Scenario::builtin("incident").unwrap();
        let mut road = Highway::new(scenario.highway.as_ref().unwrap(), 0.25, 1).unwrap();
        let mut events = Vec::new();
        let order = |t: &str| SegmentOrder::parse(t).unwrap();
        assert!(road.apply(1, &order("limit=10 closed=none"), 0.0, &mut events).is_err());
        assert!(road.apply(1, &order("limit=140 closed=none"), 0.0, &mut events).is_err());
        assert!(road.apply(1, &order("limit=none closed=3"), 0.0, &mut events).unwrap_err().0.contains("lanes 1..=2"));
        assert!(
            road.apply(1, &order("limit=none closed=1,2"), 0.0, &mut events).unwrap_err().0.contains("at least one")
        );
        assert!(events.is_empty());
        road.apply(3, &order("limit=80 closed=2"), 0.0, &mut events).unwrap();
        let text: Vec<String> = events.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["segment 3 limit 80 (was none)", "segment 3 lane 2 closed", "segment 3: limit=80 closed=2"]);
        events.clear();
        road.apply(3, &order("limit=80 closed=2"), 0.0, &mut events).unwrap();
        assert!(events.is_empty(), "the same order again changes nothing");
    }
}

mod speed {
    use super::super::*;

    /// The real-time factor on one core: `cargo test --release -p skyway-world real_time -- --ignored --nocapture`.
    /// A measurement, never a timed assertion.
    #[test]
    #[ignore]
    fn real_time_factor_of_a_4_km_two_lane_road_at_2800_vph() {
        let lanes: u8 = std::env::var("LANES").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
        let vph: f64 = std::env::var("VPH").ok().and_then(|v| v.parse().ok()).unwrap_or(2800.0);
        let mut spec = HighwaySpec::plain(RoadKind::Open, 4000.0, lanes);
        spec.demand = vec![[0.0, vph]];
        let mut road = Highway::new(&spec, 0.25, 1).unwrap();
        let (mut events, mut summaries) = (Vec::new(), Vec::new());
        let hours = 2.0;
        let ticks = (hours * 3600.0 * 4.0) as u64;
        let started = std::time::Instant::now();
        for tick in 1..=ticks {
            road.step(tick, &mut events, &mut summaries);
            summaries.clear();
        }
        let wall = started.elapsed().as_secs_f64();
        let stats = road.stats();
        println!(
            "{hours} h simulated in {wall:.2} s: {:.0}x real time; {} vehicle updates ({:.1} M/s), {} present, {} waiting, mean {:.0} km/h",
            hours * 3600.0 / wall,
            stats.vehicle_updates,
            stats.vehicle_updates as f64 / wall / 1e6,
            stats.present,
            stats.waiting,
            stats.mean_speed_kmh
        );
    }
}

mod demo {
    use super::super::*;
    use crate::scenario::Scenario;

    /// The demo's road over its peak, every 5 minutes: `--ignored --nocapture`.
    #[test]
    #[ignore]
    fn the_demo_road_over_its_peak() {
        let scenario = Scenario::builtin("highway").unwrap();
        let mut road = Highway::new(scenario.highway.as_ref().unwrap(), 0.25, 1).unwrap();
        let (mut events, mut summaries) = (Vec::new(), Vec::new());
        for tick in 1..=(90 * 240) {
            road.step(tick, &mut events, &mut summaries);
            summaries.clear();
            road.check_invariants().unwrap();
            if tick % (5 * 240) == 0 {
                let s = road.stats();
                println!(
                    "{} min: {:?} queues, {} present, {} waiting, {:.0} km/h, {} exited, {} missed exits, {} hard brakings, {} clamps",
                    tick / 240,
                    road.entries.iter().map(|e| e.queue.len()).collect::<Vec<_>>(),
                    s.present,
                    s.waiting,
                    s.mean_speed_kmh,
                    s.exited,
                    s.missed_exits,
                    s.hard_brakings,
                    s.clamped_moves
                );
            }
        }
        for e in &events {
            println!("{e}");
        }
    }
}
