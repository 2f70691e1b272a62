//! Unit tests of the airport: orders, arrivals, go-arounds, occupancy, incursions, summaries.

use super::*;

const DT: f64 = 0.25;

/// A test bench: an airport, its tick, and everything it produced.
struct Bench {
    airport: Airport,
    tick: u64,
    events: Vec<Event>,
    summaries: Vec<RunwaySummary>,
}

impl Bench {
    fn new(spec: AirportSpec, seed: u64) -> Self {
        Self { airport: Airport::new(&spec, DT, seed).unwrap(), tick: 0, events: vec![], summaries: vec![] }
    }

    fn step(&mut self) {
        self.tick += 1;
        self.airport.step(self.tick, &mut self.events, &mut self.summaries);
        self.airport.check_invariants().unwrap();
    }

    /// Steps until `done` holds, at most `ticks` ticks; whether it did.
    fn until(&mut self, ticks: u64, done: impl Fn(&Self) -> bool) -> bool {
        for _ in 0..ticks {
            if done(self) {
                return true;
            }
            self.step();
        }
        done(self)
    }

    fn order(&mut self, runway: &str, text: &str) -> Result<(), Refusal> {
        let order = RunwayOrder::parse(text).unwrap();
        let now_s = self.tick as f64 * DT;
        let result = self.airport.apply(runway, &order, now_s, &mut self.events, &mut self.summaries);
        self.airport.check_invariants().unwrap();
        result
    }

    fn summary(&self) -> RunwaySummary {
        self.airport.summary("07L").unwrap()
    }

    fn saw(&self, text: &str) -> bool {
        self.events.iter().any(|e| e.to_string().contains(text))
    }
}

/// One runway, nothing but arrivals.
fn arrivals_only() -> AirportSpec {
    AirportSpec {
        runways: vec!["07L".into()],
        arrivals_per_hour: 30.0,
        departures_per_hour: 0.0,
        crossings_per_hour: 0.0,
        ..AirportSpec::default()
    }
}

#[test]
fn unknown_runways_are_refused_naming_the_known_ones() {
    let mut bench = Bench::new(AirportSpec::default(), 1);
    let e = bench.order("09", "hold #1").unwrap_err().0;
    assert!(e.contains("no runway \"09\"") && e.contains("07L, 07R"), "{e}");
    let e = bench.airport.claim("09", 5, &mut vec![]).unwrap_err().0;
    assert!(e.contains("07L, 07R"), "{e}");
    assert_eq!(bench.airport.runways(), ["07L", "07R"]);
    assert_eq!(bench.airport.summary("09"), None);
}

#[test]
fn arrivals_come_at_their_rate_and_nobody_cleared_means_go_arounds_then_diversions() {
    let mut bench = Bench::new(arrivals_only(), 3);
    let hours = 6;
    for _ in 0..hours * 3600 * 4 {
        bench.step();
    }
    let stats = bench.airport.stats();
    let per_hour = stats.arrivals as f64 / hours as f64;
    assert!((22.0..=38.0).contains(&per_hour), "{per_hour} arrivals an hour for 30 asked");
    // Nobody was cleared: every arrival went around twice, then diverted.
    assert_eq!(stats.landed, 0);
    assert!(stats.diverted > 0);
    let still_around = stats.arrivals - stats.diverted;
    assert!(stats.go_arounds >= 2 * stats.diverted && stats.go_arounds <= 2 * stats.diverted + 2 * still_around);
    assert!(bench.saw("GO-AROUND") && bench.saw("rejoins final after 1 go-around") && bench.saw("DIVERTED after 2"));
}

#[test]
fn a_landing_occupies_the_runway_from_its_clearance_until_it_vacates() {
    let mut bench = Bench::new(arrivals_only(), 1);
    assert!(bench.until(40_000, |b| !b.summary().arrivals.is_empty()));
    let arrival = bench.summary().arrivals[0].clone();
    assert!(arrival.decision_in_s > 100.0, "just joined: {arrival:?}");
    // Clear it 20 s before its decision point.
    assert!(bench.until(1_000, |b| b.summary().arrivals[0].decision_in_s <= 20.0));
    let cleared_at = bench.tick;
    bench.order("07L", &format!("land {} #5-1", arrival.callsign)).unwrap();
    let s = bench.summary();
    assert_eq!(s.last_command.as_deref(), Some("#5-1"));
    assert_eq!(s.occupants.len(), 1);
    assert_eq!((s.occupants[0].id.as_str(), s.occupants[0].activity.as_str()), (arrival.callsign.as_str(), "landing"));
    assert!(!s.arrivals.iter().any(|a| a.callsign == arrival.callsign), "a cleared arrival is no longer waiting");
    assert!(bench.saw(&format!("runway 07L: {} cleared to land (#5-1)", arrival.callsign)));
    assert!(bench.until(1_000, |b| b.summary().occupants.is_empty()));
    let occupied_s = (bench.tick - cleared_at) as f64 * DT;
    assert!((20.0 + 45.0..=20.0 + 55.0 + DT).contains(&occupied_s), "occupied {occupied_s} s");
    assert!(bench.saw(&format!("{} landed and vacated", arrival.callsign)));
    assert_eq!(bench.airport.stats().landed, 1);
}

#[test]
fn takeoffs_and_crossings_occupy_the_runway_for_their_draw() {
    let spec = AirportSpec {
        runways: vec!["07L".into()],
        arrivals_per_hour: 0.0,
        departures_per_hour: 30.0,
        crossings_per_hour: 30.0,
        ..AirportSpec::default()
    };
    let mut bench = Bench::new(spec, 2);
    for (what, verb, range) in [("departures", "takeoff", 35.0..=45.25), ("crossings", "cross", 15.0..=25.25)] {
        assert!(bench.until(100_000, |b| {
            let s = b.summary();
            !(if what == "departures" { s.departures } else { s.crossings }).is_empty()
        }));
        let s = bench.summary();
        let who = if what == "departures" { s.departures[0].clone() } else { s.crossings[0].clone() };
        let start = bench.tick;
        bench.order("07L", &format!("{verb} {who} #1-{verb}")).unwrap();
        assert!(bench.until(1_000, |b| b.summary().occupants.is_empty()));
        let occupied_s = (bench.tick - start) as f64 * DT;
        assert!(range.contains(&occupied_s), "{what}: {occupied_s} s");
    }
    let stats = bench.airport.stats();
    assert_eq!((stats.departed, stats.crossed, stats.incursions), (1, 1, 0));
    assert!(stats.mean_departure_wait_s >= 0.0);
}

#[test]
fn a_clearance_onto_an_occupied_runway_is_obeyed_and_counted_as_an_incursion() {
    let spec = AirportSpec { runways: vec!["07L".into()], departures_per_hour: 60.0, ..AirportSpec::default() };
    let mut bench = Bench::new(spec, 4);
    assert!(bench.until(100_000, |b| {
        let s = b.summary();
        !s.arrivals.is_empty() && !s.departures.is_empty() && !s.crossings.is_empty()
    }));
    let s = bench.summary();
    bench.order("07L", &format!("land {} #1-1", s.arrivals[0].callsign)).unwrap();
    bench.order("07L", &format!("takeoff {} #1-2", s.departures[0])).unwrap();
    bench.order("07L", &format!("cross {} #1-3", s.crossings[0])).unwrap();
    assert_eq!(bench.summary().occupants.len(), 3, "the world obeys");
    assert_eq!(bench.airport.stats().incursions, 2, "two moments someone joined an occupied runway");
    assert!(
        bench.saw(&format!("INCURSION {} cleared onto the runway with {}", s.departures[0], s.arrivals[0].callsign))
    );
    assert!(bench.until(1_000, |b| b.summary().occupants.is_empty()));
    assert_eq!(bench.airport.stats().incursions, 2, "counted once, at the moment it happened");
}

#[test]
fn what_cannot_be_done_is_refused_and_changes_nothing() {
    let spec =
        AirportSpec { runways: vec!["07L".into(), "07R".into()], departures_per_hour: 60.0, ..AirportSpec::default() };
    let mut bench = Bench::new(spec, 5);
    assert!(bench.until(100_000, |b| {
        let s = b.summary();
        !s.arrivals.is_empty() && !s.departures.is_empty() && !s.crossings.is_empty()
    }));
    let s = bench.summary();
    let (arrival, departure, vehicle) =
        (s.arrivals[0].callsign.clone(), s.departures[0].clone(), s.crossings[0].clone());
    let before = (bench.summary(), bench.airport.stats());
    let published = bench.summaries.len();
    for (text, says) in [
        ("land NOBODY #1-1".to_string(), "unknown callsign NOBODY"),
        (format!("land {departure} #1-2"), "is at the holding point for runway 07L, not on final"),
        (format!("takeoff {arrival} #1-3"), "is on final for runway 07L, not at the holding point"),
        (format!("cross {arrival} #1-4"), "not waiting to cross"),
        (format!("takeoff {vehicle} #1-5"), "is waiting to cross"),
    ] {
        let e = bench.order("07L", &text).unwrap_err().0;
        assert!(e.contains(says), "{text}: {e}");
    }
    let e = bench.order("07R", &format!("land {arrival} #1-6")).unwrap_err().0;
    assert!(e.contains("for runway 07L, not on final for runway 07R"), "{e}");
    assert_eq!((bench.summary(), bench.airport.stats()), before, "a refusal changes nothing");
    assert_eq!(bench.summaries.len(), published, "and publishes nothing");
}

#[test]
fn a_closed_runway_clears_nobody_and_its_arrivals_go_around() {
    let mut bench = Bench::new(arrivals_only(), 6);
    bench.order("07L", "close #1-1").unwrap();
    assert!(bench.summary().closed && bench.saw("runway 07L: closed (#1-1)"));
    assert!(bench.until(100_000, |b| !b.summary().arrivals.is_empty()));
    let callsign = bench.summary().arrivals[0].callsign.clone();
    let e = bench.order("07L", &format!("land {callsign} #1-2")).unwrap_err().0;
    assert!(e.contains("closed"), "{e}");
    assert!(bench.until(1_000, |b| b.airport.stats().go_arounds == 1));
    bench.order("07L", "open #1-3").unwrap();
    assert!(!bench.summary().closed && bench.saw("runway 07L: opened (#1-3)"));
    assert_eq!(bench.summary().last_command.as_deref(), Some("#1-3"));
}

#[test]
fn summaries_are_published_on_change_only_and_record_claims_and_orders() {
    let mut bench = Bench::new(arrivals_only(), 7);
    assert!(bench.until(100_000, |b| !b.summary().arrivals.is_empty()));
    let published = bench.summaries.len();
    let seq = bench.summary().seq;
    for _ in 0..40 {
        bench.step(); // 10 s: the arrival's decision point only comes closer
    }
    assert_eq!(bench.summaries.len(), published, "decision_in_s ticking down is not a change");
    assert_eq!(bench.summary().seq, seq);
    let mut changed = vec![];
    bench.airport.claim("07L", 5, &mut changed).unwrap();
    assert_eq!((changed.len(), changed[0].claim_token, changed[0].seq), (1, 5, seq + 1));
    bench.airport.claim("07L", 3, &mut changed).unwrap();
    assert_eq!((changed.len(), bench.summary().claim_token), (1, 5), "the highest token stays");
    bench.order("07L", "hold #5-1").unwrap();
    let last = bench.summaries.last().unwrap();
    assert_eq!((last.last_command.as_deref(), last.seq), (Some("#5-1"), seq + 2));
    assert!(bench.summaries.windows(2).all(|w| w[0].seq < w[1].seq));
}

#[test]
fn the_same_seed_is_the_same_run() {
    let run = |seed| {
        let mut bench = Bench::new(AirportSpec::default(), seed);
        let mut digests = vec![];
        for i in 0..4 * 1800 {
            bench.step();
            if i % 400 == 0 {
                let mut h = Sha256::new();
                bench.airport.digest(&mut h);
                digests.push(hex::encode(h.finalize()));
            }
        }
        (digests, bench.events.iter().map(ToString::to_string).collect::<Vec<_>>())
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11).0, run(12).0);
}

#[test]
fn movers_show_everyone_once() {
    let mut bench = Bench::new(AirportSpec::default(), 8);
    for _ in 0..4 * 900 {
        bench.step();
    }
    let movers = bench.airport.movers();
    let mut ids: Vec<&str> = movers.iter().map(|m| m.id.as_str()).collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n);
    assert!(movers.iter().any(|m| m.phase == Phase::OnFinal && m.remaining_s.is_some()));
    assert!(movers.iter().all(|m| (0.0..=1.0).contains(&m.progress)));
}
