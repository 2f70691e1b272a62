//! The tower in the loop: a [`World`] running the `airport` scenario, one tower per runway, with
//! the coordinator's round trip in between — summaries reach the towers a few ticks late, orders
//! reach the world a few ticks late, in order, through an actuator that fences stale tokens —
//! and a handover half-way: a second primary claims each runway while the first keeps sending
//! for a minute (a paused primary waking up), its late orders refused by the actuator.
//!
//! With [`TowerPolicy`] the world must count no incursion and no conflict while aircraft land
//! and depart, even when the round trip is slower than the tower's margins; with [`BrokenTower`]
//! it must count incursions, which proves the counter counts; and the tower's own choices
//! without the status-first rule cause incursions once summaries are slow, which proves the rule
//! is what keeps the runway safe. An observer's count from the published summaries must agree
//! with the world's.

use std::collections::{BTreeMap, VecDeque};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::RunwayOrder;
use crate::command::{Applied, CLAIM};
use crate::policy::tower::{BrokenTower, TowerPolicy, order_id};
use crate::summary::RunwaySummary;
use crate::world::{Event, World};
use crate::{Scenario, Target};

/// Ticks between two decisions of a primary (1 s at the scenario's 250 ms tick).
const DECIDE_EVERY: u64 = 4;
/// How late a summary reaches the towers, and an accepted order the world, ticks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Delays {
    pub summary: (u64, u64),
    pub order: (u64, u64),
}

/// Summaries up to 10 s late and orders up to 5 s late: more than the tower's margins.
pub(super) const SLOW: Delays = Delays { summary: (4, 40), order: (4, 20) };

/// A few ticks each way: a coordinator round trip of up to 5 s.
pub(super) const ROUND_TRIP: Delays = Delays { summary: (2, 12), order: (1, 8) };
/// How long a deposed primary keeps sending after the handover, ticks.
const LATE_SENDING: u64 = 240;

/// Which tower runs the runways.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Safe,
    /// The tower's choice from whatever summary it holds, without the status-first rule.
    Naive,
    Broken,
}

enum Brain {
    Safe(TowerPolicy),
    Naive(String, u64, u64),
    Broken(BrokenTower),
}

struct Primary {
    name: String,
    role: String,
    runway: String,
    token: u64,
    brain: Brain,
    /// It sends from this tick (its claim first) …
    from: u64,
    /// … until this one.
    until: u64,
}

impl Primary {
    fn decide(&mut self, summary: Option<&RunwaySummary>) -> String {
        match &mut self.brain {
            Brain::Safe(tower) => tower.decide(summary),
            Brain::Naive(runway, token, sent) => {
                // A fresh tower each time, shown a summary that looks current: it forgets what
                // it cleared and trusts whatever it holds.
                *sent += 1;
                let looks_current = summary.map(|s| RunwaySummary { claim_token: *token, ..s.clone() });
                let clearance = TowerPolicy::new(runway.clone(), *token).choose(looks_current.as_ref());
                RunwayOrder::new(clearance, order_id(*token, *sent)).to_string()
            }
            Brain::Broken(tower) => tower.decide(summary),
        }
    }
}

/// The fenced actuator and the way to the world: accepted decisions, in order, each with the
/// tick it reaches the world.
struct Actuator {
    delay: (u64, u64),
    floors: BTreeMap<String, u64>,
    pipe: VecDeque<(u64, Applied)>,
    last_due: u64,
    refused: u64,
}

impl Actuator {
    fn send(&mut self, applied: Applied, now: u64, rng: &mut ChaCha8Rng) {
        let floor = self.floors.entry(applied.role.clone()).or_default();
        if applied.token < *floor {
            self.refused += 1;
            return;
        }
        *floor = applied.token;
        self.last_due = self.last_due.max(now + rng.random_range(self.delay.0..=self.delay.1));
        self.pipe.push_back((self.last_due, applied));
    }

    fn due(&mut self, tick: u64) -> Vec<Applied> {
        let mut out = vec![];
        while self.pipe.front().is_some_and(|(due, _)| *due <= tick) {
            out.push(self.pipe.pop_front().unwrap().1);
        }
        out
    }
}

/// What a loop run measured.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Report {
    pub hours: f64,
    pub landed: u64,
    pub landed_after_handover: u64,
    pub departed_after_handover: u64,
    pub max_departure_queue: u64,
    pub departed: u64,
    pub crossed: u64,
    pub go_arounds: u64,
    pub diverted: u64,
    pub incursions: u64,
    pub incursions_seen_in_summaries: u64,
    pub conflicts: u64,
    pub refused_by_actuator: u64,
    pub refused_by_world: u64,
    pub mean_departure_wait_s: f64,
}

/// Runs the `airport` scenario for `hours` with `kind` towers and the round trip in between.
pub(super) fn run(kind: Kind, hours: u64, seed: u64, delays: Delays) -> Report {
    let scenario = Scenario::builtin("airport").unwrap();
    let mut world = World::new(&scenario, seed).unwrap();
    let ticks = hours * 3600 * 1000 / u64::from(scenario.dt_ms);
    let handover = ticks / 2;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let mut primaries = vec![];
    for (i, runway) in world.airport().unwrap().runways().into_iter().enumerate() {
        let role = Target::Runway(runway.clone()).role();
        for (name, token, from, until) in
            [("tower-a", 5 + i as u64, 0, handover + LATE_SENDING), ("tower-b", 20 + i as u64, handover, u64::MAX)]
        {
            let brain = match kind {
                Kind::Safe => Brain::Safe(TowerPolicy::new(runway.clone(), token)),
                Kind::Naive => Brain::Naive(runway.clone(), token, 0),
                Kind::Broken => Brain::Broken(BrokenTower::new(token)),
            };
            primaries.push(Primary {
                name: name.into(),
                role: role.clone(),
                runway: runway.clone(),
                token,
                brain,
                from,
                until,
            });
        }
    }
    let mut actuator =
        Actuator { delay: delays.order, floors: BTreeMap::new(), pipe: VecDeque::new(), last_due: 0, refused: 0 };
    // Summaries on their way to the towers, and what the towers see.
    let mut inflight: VecDeque<(u64, RunwaySummary)> = VecDeque::new();
    let mut last_delivery = 0;
    let mut seen: BTreeMap<String, RunwaySummary> = BTreeMap::new();
    let mut refused_by_world = 0;
    let mut at_handover = (0, 0);
    let mut published: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut incursions_seen = 0;
    for tick in 0..ticks {
        while inflight.front().is_some_and(|(due, _)| *due <= tick) {
            let (_, s) = inflight.pop_front().unwrap();
            assert!(seen.get(&s.runway).is_none_or(|old| old.seq < s.seq), "watches deliver in order");
            seen.insert(s.runway.clone(), s);
        }
        for p in &mut primaries {
            let applied =
                |action: String| Applied { role: p.role.clone(), controller: p.name.clone(), token: p.token, action };
            if tick == p.from {
                actuator.send(applied(CLAIM.into()), tick, &mut rng);
            } else if tick > p.from && tick < p.until && tick % DECIDE_EVERY == 0 {
                let action = p.decide(seen.get(&p.runway));
                let applied = Applied { role: p.role.clone(), controller: p.name.clone(), token: p.token, action };
                actuator.send(applied, tick, &mut rng);
            }
        }
        if tick == handover {
            let a = world.stats().airport.unwrap();
            at_handover = (a.landed, a.departed);
        }
        let out = world.step(&actuator.due(tick));
        for e in &out.events {
            if let Event::Refused { .. } = e {
                refused_by_world += 1;
            }
        }
        for s in out.runways {
            // An observer's own count: someone new on a runway that someone else is on.
            let before = published.insert(s.runway.clone(), s.occupants.iter().map(|o| o.id.clone()).collect());
            let before: Vec<String> = before.unwrap_or_default();
            if s.occupants.len() >= 2 {
                incursions_seen += s.occupants.iter().filter(|o| !before.contains(&o.id)).count() as u64;
            }
            last_delivery = last_delivery.max(tick + rng.random_range(delays.summary.0..=delays.summary.1));
            inflight.push_back((last_delivery, s));
        }
        if tick % 400 == 0 {
            world.check_invariants().unwrap_or_else(|e| panic!("tick {tick}: {e}"));
        }
    }
    world.check_invariants().unwrap();
    let stats = world.stats();
    let airport = stats.airport.unwrap();
    Report {
        hours: hours as f64,
        landed: airport.landed,
        landed_after_handover: airport.landed - at_handover.0,
        departed_after_handover: airport.departed - at_handover.1,
        max_departure_queue: airport.max_departure_queue,
        departed: airport.departed,
        crossed: airport.crossed,
        go_arounds: airport.go_arounds,
        diverted: airport.diverted,
        incursions: airport.incursions,
        incursions_seen_in_summaries: incursions_seen,
        conflicts: stats.conflicts,
        refused_by_actuator: actuator.refused,
        refused_by_world,
        mean_departure_wait_s: airport.mean_departure_wait_s,
    }
}

#[test]
fn the_tower_keeps_the_runways_safe_through_stale_summaries_and_a_handover() {
    for seed in [1, 2] {
        let r = run(Kind::Safe, 4, seed, ROUND_TRIP);
        println!("TowerPolicy, seed {seed}: {r:?}");
        assert_eq!((r.incursions, r.conflicts), (0, 0), "{r:?}");
        assert!(r.refused_by_actuator > 0, "the deposed primaries' late orders were fenced off: {r:?}");
        // Two runways at 32 arrivals and 12 departures an hour each.
        assert!(r.landed as f64 / r.hours >= 50.0, "{r:?}");
        assert!(r.departed as f64 / r.hours >= 15.0, "{r:?}");
        assert!(r.crossed > 0, "{r:?}");
        assert!(r.landed_after_handover as f64 >= 0.4 * r.landed as f64, "the new primaries took over: {r:?}");
        assert!(r.departed_after_handover > 0, "{r:?}");
        assert!((r.go_arounds as f64 / r.hours) <= 4.0, "{r:?}");
        assert_eq!(r.diverted, 0, "{r:?}");
    }
}

#[test]
fn a_broken_tower_causes_incursions_and_the_world_counts_them() {
    let r = run(Kind::Broken, 1, 1, ROUND_TRIP);
    println!("BrokenTower: {r:?}");
    assert!(r.incursions > 0, "{r:?}");
    assert_eq!(r.incursions, r.incursions_seen_in_summaries, "the world's count is what an observer sees");
    assert_eq!(r.conflicts, 0, "fencing still works; only the tower is broken");
}

#[test]
fn a_slow_round_trip_is_never_an_incursion() {
    let r = run(Kind::Safe, 2, 3, SLOW);
    println!("TowerPolicy, slow round trip: {r:?}");
    assert_eq!((r.incursions, r.incursions_seen_in_summaries, r.conflicts), (0, 0, 0), "{r:?}");
    assert!(r.landed > 0 && r.departed > 0, "{r:?}");
}

#[test]
fn without_status_first_stale_summaries_cause_incursions() {
    // The same choices from the same slow summaries, without waiting for the claim and the last
    // clearance to show: the runway looks free in a summary from before the last clearance.
    let r = run(Kind::Naive, 4, 1, SLOW);
    println!("naive tower: {r:?}");
    assert!(r.incursions > 0, "{r:?}");
    assert_eq!(r.incursions, r.incursions_seen_in_summaries, "{r:?}");
}
