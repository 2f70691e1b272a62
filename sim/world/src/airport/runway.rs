//! One runway and the traffic that wants it: its final approach, its missed-approach circuit,
//! its holding point, its crossing, and who is on it.
//!
//! The runway obeys; it does not judge. A clearance onto an occupied runway is carried out, and
//! counted as an **incursion** at the moment it happens: every clearance either starts a busy
//! period (the runway was empty) or is an incursion, so `entries == busy_periods + incursions`
//! is kept as an invariant and checked.

use sha2::{Digest, Sha256};

use super::Tally;
use super::event::{Activity, Event};
use super::spec::AirportSpec;
use super::traffic::{Approach, Mover, MoverKind, Occupant, Phase, Traffic, Waiting};
use crate::summary::{self, RunwaySummary};

/// A runway's whole state.
pub(super) struct Runway {
    /// Its designator.
    pub id: String,
    /// Summaries published so far.
    pub seq: u64,
    /// Closed: nothing is cleared.
    pub closed: bool,
    /// The highest claim token seen for its role.
    pub claim_token: u64,
    /// The id of the last order obeyed.
    pub last_command: Option<String>,
    /// Who is on it, in the order they were cleared.
    pub occupants: Vec<Occupant>,
    /// Arrivals on final, by decision point (the sequence keeps them in order).
    pub finals: Vec<Approach>,
    /// Arrivals flying a missed-approach circuit, in the order they went around.
    pub circling: Vec<Approach>,
    /// The holding point's queue.
    pub departures: Vec<Waiting>,
    /// The crossing's queue.
    pub crossings: Vec<Waiting>,
    /// When the next arrival joins final, tick.
    pub next_arrival: u64,
    /// When the next departure reaches the holding point, tick.
    pub next_departure: u64,
    /// When the next vehicle asks to cross, tick.
    pub next_crossing: u64,
    /// The latest decision point given to an arrival, tick (the sequence's tail).
    pub last_decision: u64,
    /// Clearances obeyed.
    pub entries: u64,
    /// Clearances onto an empty runway.
    pub busy_periods: u64,
    /// Clearances onto an occupied runway.
    pub incursions: u64,
}

impl Runway {
    /// An empty runway whose streams start with the given gaps.
    pub fn new(id: &str, spec: &AirportSpec, traffic: &mut Traffic) -> Self {
        Self {
            id: id.to_string(),
            seq: 0,
            closed: false,
            claim_token: 0,
            last_command: None,
            occupants: Vec::new(),
            finals: Vec::new(),
            circling: Vec::new(),
            departures: Vec::new(),
            crossings: Vec::new(),
            next_arrival: traffic.arrival_gap(spec),
            next_departure: traffic.departure_gap(spec),
            next_crossing: traffic.crossing_gap(spec),
            last_decision: 0,
            entries: 0,
            busy_periods: 0,
            incursions: 0,
        }
    }

    /// Its summary as of `tick` (the current `seq`).
    pub fn summary(&self, tick: u64, dt_s: f64) -> RunwaySummary {
        let s = |t: u64| t as f64 * dt_s;
        RunwaySummary {
            runway: self.id.clone(),
            seq: self.seq,
            time_s: s(tick),
            closed: self.closed,
            occupants: self
                .occupants
                .iter()
                .map(|o| summary::Occupant {
                    id: o.id.clone(),
                    activity: o.activity.as_str().into(),
                    since_s: s(o.since),
                })
                .collect(),
            arrivals: self
                .finals
                .iter()
                .map(|a| summary::Arrival {
                    callsign: a.callsign.clone(),
                    decision_in_s: s(a.due.saturating_sub(tick)),
                })
                .collect(),
            departures: self.departures.iter().map(|d| d.id.clone()).collect(),
            crossings: self.crossings.iter().map(|c| c.id.clone()).collect(),
            claim_token: self.claim_token,
            last_command: self.last_command.clone(),
        }
    }

    /// Counts a change and pushes the new summary.
    pub fn publish(&mut self, tick: u64, dt_s: f64, changed: &mut Vec<RunwaySummary>) {
        self.seq += 1;
        changed.push(self.summary(tick, dt_s));
    }

    /// Where `id` is on or around this runway.
    pub fn phase_of(&self, id: &str) -> Option<Phase> {
        if let Some(o) = self.occupants.iter().find(|o| o.id == id) {
            return Some(match o.activity {
                Activity::Landing => Phase::Landing,
                Activity::Takeoff => Phase::TakingOff,
                Activity::Crossing => Phase::Crossing,
            });
        }
        if self.finals.iter().any(|a| a.callsign == id) {
            Some(Phase::OnFinal)
        } else if self.circling.iter().any(|a| a.callsign == id) {
            Some(Phase::Circling)
        } else if self.departures.iter().any(|d| d.id == id) {
            Some(Phase::HoldingPoint)
        } else if self.crossings.iter().any(|c| c.id == id) {
            Some(Phase::Waiting)
        } else {
            None
        }
    }

    /// Obeys a clearance for `who`, who the caller has found in the right place.
    pub fn clear(
        &mut self,
        who: &str,
        activity: Activity,
        id: &str,
        now: u64,
        tally: &mut Tally,
        events: &mut Vec<Event>,
    ) {
        let until = match activity {
            Activity::Landing => {
                let i = self.finals.iter().position(|a| a.callsign == who).expect("the caller found it on final");
                let a = self.finals.remove(i);
                a.due.max(now) + a.roll
            }
            Activity::Takeoff => {
                let i = self.departures.iter().position(|d| d.id == who).expect("the caller found it holding");
                let d = self.departures.remove(i);
                tally.takeoffs_cleared += 1;
                tally.departure_wait_ticks += now - d.since;
                now + d.occupancy
            }
            Activity::Crossing => {
                let i = self.crossings.iter().position(|c| c.id == who).expect("the caller found it waiting");
                now + self.crossings.remove(i).occupancy
            }
        };
        events.push(Event::Cleared { runway: self.id.clone(), who: who.into(), activity, id: id.into() });
        self.entries += 1;
        if self.occupants.is_empty() {
            self.busy_periods += 1;
        } else {
            self.incursions += 1;
            tally.stats.incursions += 1;
            events.push(Event::Incursion {
                runway: self.id.clone(),
                entering: who.into(),
                present: self.occupants.iter().map(|o| o.id.clone()).collect(),
            });
        }
        self.occupants.push(Occupant { id: who.into(), activity, since: now, until });
    }

    /// Advances to `tick`: people leave the runway, arrivals reach their decision points or
    /// rejoin, new traffic appears. Whether anything a summary shows changed.
    pub fn step(
        &mut self,
        tick: u64,
        spec: &AirportSpec,
        traffic: &mut Traffic,
        tally: &mut Tally,
        events: &mut Vec<Event>,
    ) -> bool {
        let before = (self.occupants.len(), self.finals.len(), self.departures.len(), self.crossings.len());
        let mut changed = false;
        self.vacate(tick, tally, events);
        changed |= self.decide(tick, spec, traffic, tally, events);
        changed |= self.rejoin(tick, spec, traffic, events);
        changed |= self.appear(tick, spec, traffic, tally, events);
        changed || before != (self.occupants.len(), self.finals.len(), self.departures.len(), self.crossings.len())
    }

    fn vacate(&mut self, tick: u64, tally: &mut Tally, events: &mut Vec<Event>) {
        let (gone, stay): (Vec<Occupant>, Vec<Occupant>) = self.occupants.drain(..).partition(|o| o.until <= tick);
        self.occupants = stay;
        for o in gone {
            match o.activity {
                Activity::Landing => tally.stats.landed += 1,
                Activity::Takeoff => tally.stats.departed += 1,
                Activity::Crossing => tally.stats.crossed += 1,
            }
            events.push(Event::Vacated { runway: self.id.clone(), who: o.id, activity: o.activity });
        }
    }

    /// Arrivals at their decision point without a clearance go around, or divert.
    fn decide(
        &mut self,
        tick: u64,
        spec: &AirportSpec,
        traffic: &Traffic,
        tally: &mut Tally,
        events: &mut Vec<Event>,
    ) -> bool {
        let mut changed = false;
        while self.finals.first().is_some_and(|a| a.due <= tick) {
            let mut a = self.finals.remove(0);
            changed = true;
            if a.go_arounds >= spec.go_arounds_max {
                tally.stats.diverted += 1;
                events.push(Event::Diverted {
                    runway: self.id.clone(),
                    callsign: a.callsign,
                    go_arounds: a.go_arounds,
                });
                continue;
            }
            a.go_arounds += 1;
            a.since = tick;
            a.due = tick + a.missed;
            tally.stats.go_arounds += 1;
            events.push(Event::GoAround {
                runway: self.id.clone(),
                callsign: a.callsign.clone(),
                count: a.go_arounds,
                rejoins_in_s: traffic.seconds(a.missed),
            });
            self.circling.push(a);
        }
        changed
    }

    fn rejoin(&mut self, tick: u64, spec: &AirportSpec, traffic: &Traffic, events: &mut Vec<Event>) -> bool {
        let mut changed = false;
        while let Some(i) = self.circling.iter().position(|a| a.due <= tick) {
            let a = self.circling.remove(i);
            self.join_final(a, tick, spec, traffic, events);
            changed = true;
        }
        changed
    }

    fn join_final(
        &mut self,
        mut a: Approach,
        tick: u64,
        spec: &AirportSpec,
        traffic: &Traffic,
        events: &mut Vec<Event>,
    ) {
        let decision =
            (tick + traffic.ticks(spec.final_s)).max(self.last_decision + traffic.ticks(spec.final_spacing_s));
        self.last_decision = decision;
        a.since = tick;
        a.due = decision;
        events.push(Event::OnFinal {
            runway: self.id.clone(),
            callsign: a.callsign.clone(),
            decision_in_s: traffic.seconds(decision - tick),
            go_arounds: a.go_arounds,
        });
        self.finals.push(a);
    }

    fn appear(
        &mut self,
        tick: u64,
        spec: &AirportSpec,
        traffic: &mut Traffic,
        tally: &mut Tally,
        events: &mut Vec<Event>,
    ) -> bool {
        let mut changed = false;
        while self.next_arrival <= tick {
            self.next_arrival = self.next_arrival.saturating_add(traffic.arrival_gap(spec));
            let a = traffic.arrival(spec, tick);
            tally.stats.arrivals += 1;
            self.join_final(a, tick, spec, traffic, events);
            changed = true;
        }
        while self.next_departure <= tick {
            self.next_departure = self.next_departure.saturating_add(traffic.departure_gap(spec));
            let d = traffic.departure(spec, tick);
            tally.stats.departures += 1;
            if self.departures.len() >= spec.holding_point_max as usize {
                tally.stats.held_at_gate += 1;
                events.push(Event::HeldAtGate { runway: self.id.clone(), callsign: d.id });
                continue;
            }
            events.push(Event::AtHoldingPoint { runway: self.id.clone(), callsign: d.id.clone() });
            self.departures.push(d);
            tally.stats.max_departure_queue = tally.stats.max_departure_queue.max(self.departures.len() as u64);
            changed = true;
        }
        while self.next_crossing <= tick {
            self.next_crossing = self.next_crossing.saturating_add(traffic.crossing_gap(spec));
            let c = traffic.crossing(spec, tick);
            tally.stats.crossing_requests += 1;
            if self.crossings.len() >= spec.crossing_queue_max as usize {
                tally.stats.turned_away += 1;
                events.push(Event::TurnedAway { runway: self.id.clone(), vehicle: c.id });
                continue;
            }
            events.push(Event::WaitingToCross { runway: self.id.clone(), vehicle: c.id.clone() });
            self.crossings.push(c);
            tally.stats.max_crossing_queue = tally.stats.max_crossing_queue.max(self.crossings.len() as u64);
            changed = true;
        }
        changed
    }

    /// Everyone on or around this runway, for a dashboard.
    pub fn movers(&self, tick: u64, traffic: &Traffic, out: &mut Vec<Mover>) {
        let progress = |since: u64, until: u64| {
            if until <= since {
                1.0
            } else {
                (tick.saturating_sub(since) as f64 / (until - since) as f64).clamp(0.0, 1.0)
            }
        };
        let mover = |id: &str, kind, phase, progress, remaining: Option<u64>, position| Mover {
            id: id.to_string(),
            kind,
            runway: self.id.clone(),
            phase,
            progress,
            remaining_s: remaining.map(|t| traffic.seconds(t)),
            position,
        };
        for o in &self.occupants {
            let (kind, phase) = match o.activity {
                Activity::Landing => (MoverKind::Arrival, Phase::Landing),
                Activity::Takeoff => (MoverKind::Departure, Phase::TakingOff),
                Activity::Crossing => (MoverKind::Vehicle, Phase::Crossing),
            };
            out.push(mover(&o.id, kind, phase, progress(o.since, o.until), Some(o.until.saturating_sub(tick)), None));
        }
        for (i, a) in self.finals.iter().enumerate() {
            let left = Some(a.due.saturating_sub(tick));
            out.push(mover(&a.callsign, MoverKind::Arrival, Phase::OnFinal, progress(a.since, a.due), left, Some(i)));
        }
        for a in &self.circling {
            let left = Some(a.due.saturating_sub(tick));
            out.push(mover(&a.callsign, MoverKind::Arrival, Phase::Circling, progress(a.since, a.due), left, None));
        }
        for (i, d) in self.departures.iter().enumerate() {
            out.push(mover(&d.id, MoverKind::Departure, Phase::HoldingPoint, 0.0, None, Some(i)));
        }
        for (i, c) in self.crossings.iter().enumerate() {
            out.push(mover(&c.id, MoverKind::Vehicle, Phase::Waiting, 0.0, None, Some(i)));
        }
    }

    /// Every id on or around this runway, each once per place it is in.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        (self.occupants.iter().map(|o| o.id.as_str()))
            .chain(self.finals.iter().map(|a| a.callsign.as_str()))
            .chain(self.circling.iter().map(|a| a.callsign.as_str()))
            .chain(self.departures.iter().map(|d| d.id.as_str()))
            .chain(self.crossings.iter().map(|c| c.id.as_str()))
    }

    /// Who is doing `activity` on the runway.
    pub fn count(&self, activity: Activity) -> u64 {
        self.occupants.iter().filter(|o| o.activity == activity).count() as u64
    }

    /// This runway's own invariants at `tick`; the first broken one.
    pub fn check(&self, tick: u64, spec: &AirportSpec) -> Result<(), String> {
        let id = &self.id;
        if self.entries != self.busy_periods + self.incursions {
            return Err(format!(
                "runway {id}: {} clearances but {} busy periods and {} incursions",
                self.entries, self.busy_periods, self.incursions
            ));
        }
        if self.occupants.len() as u64 > 1 + self.incursions {
            return Err(format!(
                "runway {id}: {} occupants but only {} incursions",
                self.occupants.len(),
                self.incursions
            ));
        }
        if let Some(o) = self.occupants.iter().find(|o| o.until <= tick) {
            return Err(format!("runway {id}: {} should have left the runway at tick {}", o.id, o.until));
        }
        if let Some(a) = self.finals.iter().find(|a| a.due <= tick) {
            return Err(format!("runway {id}: {} is on final past its decision point", a.callsign));
        }
        if self.finals.windows(2).any(|w| w[0].due >= w[1].due) {
            return Err(format!("runway {id}: the arrivals on final are out of sequence"));
        }
        if let Some(a) = self.finals.iter().chain(&self.circling).find(|a| a.go_arounds > spec.go_arounds_max) {
            return Err(format!("runway {id}: {} has flown {} go-arounds", a.callsign, a.go_arounds));
        }
        if self.departures.len() > spec.holding_point_max as usize
            || self.crossings.len() > spec.crossing_queue_max as usize
        {
            return Err(format!("runway {id}: a queue is over its limit"));
        }
        Ok(())
    }

    /// Feeds the state into a digest.
    pub fn digest(&self, hasher: &mut Sha256) {
        hasher.update(self.id.as_bytes());
        for n in [self.seq, self.claim_token, u64::from(self.closed), self.next_arrival, self.next_departure]
            .into_iter()
            .chain([self.next_crossing, self.last_decision, self.entries, self.busy_periods, self.incursions])
        {
            hasher.update(n.to_le_bytes());
        }
        hasher.update(self.last_command.as_deref().unwrap_or("-").as_bytes());
        for o in &self.occupants {
            hasher.update(o.id.as_bytes());
            hasher.update([o.activity as u8]);
            hasher.update(o.since.to_le_bytes());
            hasher.update(o.until.to_le_bytes());
        }
        for a in self.finals.iter().chain(std::iter::once(&MARK)).chain(&self.circling) {
            hasher.update(a.callsign.as_bytes());
            for n in [a.since, a.due, a.roll, a.missed, u64::from(a.go_arounds)] {
                hasher.update(n.to_le_bytes());
            }
        }
        for w in self.departures.iter().chain(std::iter::once(&WAIT_MARK)).chain(&self.crossings) {
            hasher.update(w.id.as_bytes());
            hasher.update(w.since.to_le_bytes());
            hasher.update(w.occupancy.to_le_bytes());
        }
    }
}

/// A separator in the digest between two lists of approaches.
static MARK: Approach =
    Approach { callsign: String::new(), since: u64::MAX, due: u64::MAX, roll: 0, missed: 0, go_arounds: 0 };

/// A separator in the digest between two queues.
static WAIT_MARK: Waiting = Waiting { id: String::new(), since: u64::MAX, occupancy: 0 };
