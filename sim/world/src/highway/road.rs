//! [`Highway`]: the road and everything on it, one tick at a time.
//!
//! Vehicles live in a slab (`Vec<Vehicle>`, slots reused in a fixed order); each lane is a
//! `Vec` of slots sorted by position, rear of the road first. A tick is a **two-phase update
//! from a snapshot**:
//!
//! 1. Stalls start and clear, arrivals queue, and queued vehicles enter where there is a gap.
//! 2. From the state at this point (the snapshot), every vehicle's IDM acceleration and MOBIL
//!    lane-change wish is computed, lane by lane, rear to front. Nothing moves yet.
//! 3. Lane changes are made in that same fixed order, each rechecked against the lanes as they
//!    now are (two vehicles may have wanted the same gap: the first one takes it).
//! 4. Everyone moves (ballistic: `x += v·dt + a·dt²/2`, stopping at `v = 0`), front to rear in
//!    each lane, so a move can be kept behind the leader's new position; loops see each move.
//! 5. Vehicles leave (road end, off-ramps) or wrap around (a ring), and loop periods end.
//!
//! A driver who must change lane soon (its off-ramp within 300 m, or stopped in a lane closed
//! ahead) and finds no safe gap asks to be let in; next tick the driver behind it in the target lane treats it as
//! a leader if it can do so braking comfortably (a zipper), so the gap opens.
//!
//! Neighbours in another lane are found by binary search, so a tick is `O(n log n)` with no
//! allocation once the vectors have grown. The invariants ([`Highway::check_invariants`]) hold
//! after every tick: no vehicle overlaps its leader, speeds are finite and never negative,
//! vehicles are conserved, loop counts equal crossings.
//!
//! A closed lane of a segment is an obstacle at the start of its closed stretch: vehicles
//! upstream brake for it (unless it closed too close ahead of them to stop at 4 m/s²) and MOBIL pushes them out (with a bias that grows as it nears); vehicles
//! already inside drive on; nobody changes into it. A speed limit caps a driver's desired speed
//! at `limit × compliance`.
//!
//! Caveats: on-ramp vehicles appear in the rightmost lane at the first safe gap of a 250 m merge
//! zone (no acceleration lane is simulated); a vehicle that cannot reach the rightmost lane before its off-ramp drives on to the
//! end of the road (counted as a missed exit).

use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use super::demand::{Entry, Waiting};
use super::driver::{A_THRESHOLD, B_SAFE, Driver, mobil_incentive};
use super::loops::Loops;
use super::spec::{HighwaySpec, LIMIT_KMH_MAX, LIMIT_KMH_MIN, RoadKind};
use super::{Event, HighwayStats, SegmentOrder, VehicleKind, VehicleView};
use crate::error::Refusal;
use crate::rng::{Stream, exponential, stream, uniform};
use crate::summary::SegmentSummary;

/// A driver changes lane at most once in this many seconds.
const LANE_CHANGE_COOLDOWN_S: f64 = 3.0;
/// How far ahead of a closed stretch drivers start to leave its lane, metres.
const CLOSURE_NOTICE_M: f64 = 1200.0;
/// Nobody changes into a lane whose closed stretch starts within this distance, metres.
const CLOSURE_KEEP_OUT_M: f64 = 300.0;
/// How far ahead of its off-ramp a driver starts to move right, metres.
const EXIT_NOTICE_M: f64 = 2500.0;
/// A stalling vehicle stops at this deceleration, m/s².
const STALL_DECEL: f64 = 3.5;
/// A driver this close to its off-ramp asks to be let in, metres.
const URGENT_M: f64 = 300.0;
/// The new follower's deceleration a stranded driver accepts when it forces its way in, m/s².
const B_SAFE_STRANDED: f64 = 4.0;
/// An on-ramp's vehicles may join anywhere this far downstream of its position, metres.
const MERGE_ZONE_M: f64 = 250.0;
/// A leader further than this does not limit a vehicle's entry speed, metres.
const ENTRY_FREE_M: f64 = 400.0;

#[derive(Debug, Clone, Copy)]
struct Vehicle {
    id: u32,
    alive: bool,
    lane: u8,
    x: f64,
    v: f64,
    d: Driver,
    exit: Option<u16>,
    stalled: bool,
    stall_until_s: f64,
    entry_x: f64,
    laps: u32,
    last_change_tick: u64,
    braking_hard: bool,
}

/// A vehicle next to a position: its slot and its position, shifted by a lap on a ring.
type Neighbour = Option<(u32, f64)>;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Incident {
    Waiting,
    Armed,
    Done,
}

/// What a vehicle follows: the rear of its leader (or an obstacle) and its speed.
#[derive(Debug, Clone, Copy)]
struct Ahead {
    rear_m: f64,
    v: f64,
}

/// The road and everything on it.
pub struct Highway {
    spec: HighwaySpec,
    dt_s: f64,
    ring: bool,
    segments: u32,
    vehicles: Vec<Vehicle>,
    free_slots: Vec<u32>,
    lanes: Vec<Vec<u32>>,
    next_id: u32,
    limits: Vec<Option<u32>>,
    closed: Vec<Vec<u8>>,
    v0_cap: Vec<f64>,
    closures: Vec<Vec<(f64, f64)>>,
    entries: Vec<Entry>,
    off_ramps: Vec<(f64, f64)>,
    incidents: Vec<Incident>,
    next_random_stall_s: f64,
    demand: ChaCha8Rng,
    drivers: ChaCha8Rng,
    hazards: ChaCha8Rng,
    loops: Loops,
    period_ticks: u64,
    stats: HighwayStats,
    exited_crossings: u64,
    accel: Vec<f64>,
    changes: Vec<(u32, u8, f64)>,
    requests: Vec<Vec<Ahead>>,
    next_requests: Vec<Vec<Ahead>>,
    tick: u64,
}

impl Highway {
    /// A road for `spec`, ticking `dt_s` seconds, random streams from `seed`.
    pub fn new(spec: &HighwaySpec, dt_s: f64, seed: u64) -> Result<Self, (String, String)> {
        spec.validate()?;
        let period_ticks = (spec.loop_period_s / dt_s).round() as u64;
        if period_ticks == 0 || (period_ticks as f64 * dt_s - spec.loop_period_s).abs() > 1e-6 {
            return Err(("loop_period_s".into(), format!("{} s: a whole number of ticks", spec.loop_period_s)));
        }
        let segments = spec.segments();
        let mut demand = stream(seed, Stream::Demand);
        let ring = spec.kind == RoadKind::Ring;
        let mut entries = Vec::new();
        if !ring {
            entries.push(Entry::new(0.0, false, spec.demand.clone(), &mut demand));
            for ramp in &spec.on_ramps {
                entries.push(Entry::new(ramp.position_m, true, ramp.demand.clone(), &mut demand));
            }
        }
        let mut hazards = stream(seed, Stream::Incidents);
        let next_random_stall_s = exponential(&mut hazards, spec.random_stalls_per_h / 3600.0);
        let mut road = Self {
            spec: spec.clone(),
            dt_s,
            ring,
            segments,
            vehicles: Vec::new(),
            free_slots: Vec::new(),
            lanes: vec![Vec::new(); usize::from(spec.lanes)],
            next_id: 1,
            limits: vec![None; segments as usize],
            closed: vec![Vec::new(); segments as usize],
            v0_cap: vec![f64::INFINITY; segments as usize],
            closures: vec![Vec::new(); usize::from(spec.lanes)],
            entries,
            off_ramps: spec.off_ramps.iter().map(|r| (r.position_m, r.share)).collect(),
            incidents: vec![Incident::Waiting; spec.incidents.len()],
            next_random_stall_s,
            demand,
            drivers: stream(seed, Stream::Drivers),
            hazards,
            loops: Loops::new(spec.length_m, spec.segment_length_m, &spec.loop_offsets_m, spec.lanes, ring),
            period_ticks,
            stats: HighwayStats::default(),
            exited_crossings: 0,
            accel: Vec::new(),
            changes: Vec::new(),
            requests: vec![Vec::new(); usize::from(spec.lanes)],
            next_requests: vec![Vec::new(); usize::from(spec.lanes)],
            tick: 0,
        };
        road.refresh_limits();
        if ring {
            road.fill_ring();
        }
        Ok(road)
    }

    fn fill_ring(&mut self) {
        let n = self.spec.ring_vehicles;
        let lanes = u32::from(self.spec.lanes);
        for i in 0..n {
            let lane = (i % lanes) as u8 + 1;
            let in_lane = n / lanes + u32::from(i % lanes < n % lanes);
            let k = i / lanes;
            let spacing = self.spec.length_m / f64::from(in_lane);
            let x = f64::from(k) * spacing + f64::from(lane - 1) * spacing / f64::from(lanes);
            let d = Driver::draw(&mut self.drivers, self.spec.truck_share, self.spec.driver_spread);
            let v0 = self.desired(&d, x);
            let mut v = d.equilibrium_speed(v0, (spacing - d.length_m).max(0.1));
            if i == 0 {
                v = (v - self.spec.ring_perturbation_mps).max(0.0);
            }
            let slot = self.spawn(Waiting { driver: d, exit: None }, lane, x, v);
            self.lanes[usize::from(lane - 1)].push(slot);
        }
        for lane in &mut self.lanes {
            let vehicles = &self.vehicles;
            lane.sort_by(|a, b| vehicles[*a as usize].x.total_cmp(&vehicles[*b as usize].x));
        }
    }

    /// How many segments.
    pub fn segments(&self) -> u32 {
        self.segments
    }

    /// The scenario's table.
    pub fn spec(&self) -> &HighwaySpec {
        &self.spec
    }

    /// The induction loops.
    pub fn loops(&self) -> &Loops {
        &self.loops
    }

    fn segment_of(&self, x: f64) -> usize {
        ((x / self.spec.segment_length_m) as usize).min(self.segments as usize - 1)
    }

    fn segment_start(&self, segment: usize) -> f64 {
        segment as f64 * self.spec.segment_length_m
    }

    #[inline]
    fn desired(&self, d: &Driver, x: f64) -> f64 {
        let cap = self.v0_cap[self.segment_of(x.max(0.0))];
        if cap.is_finite() { d.v0.min(cap * d.compliance) } else { d.v0 }
    }

    fn refresh_limits(&mut self) {
        for s in 0..self.segments as usize {
            let limit = self.limits[s].or(self.spec.speed_limit_kmh);
            self.v0_cap[s] = limit.map_or(f64::INFINITY, |l| f64::from(l) / 3.6);
        }
        for lane in 1..=self.spec.lanes {
            let mut stretches: Vec<(f64, f64)> = Vec::new();
            for s in 0..self.segments as usize {
                if self.closed[s].contains(&lane) {
                    let (start, end) = (self.segment_start(s), self.segment_start(s + 1).min(self.spec.length_m));
                    match stretches.last_mut() {
                        Some(last) if last.1 >= start => last.1 = end,
                        _ => stretches.push((start, end)),
                    }
                }
            }
            self.closures[usize::from(lane - 1)] = stretches;
        }
    }

    /// Obeys a segment's order (the whole desired state of the segment).
    pub fn apply(
        &mut self,
        segment: u32,
        order: &SegmentOrder,
        _now_s: f64,
        events: &mut Vec<Event>,
    ) -> Result<(), Refusal> {
        if segment == 0 || segment > self.segments {
            return Err(Refusal::new(format!("no segment {segment}: this road has segments 1..={}", self.segments)));
        }
        if let Some(limit) = order.speed_limit_kmh
            && !(LIMIT_KMH_MIN..=LIMIT_KMH_MAX).contains(&limit)
        {
            return Err(Refusal::new(format!(
                "limit {limit} km/h: a limit is {LIMIT_KMH_MIN}..={LIMIT_KMH_MAX} km/h, or none"
            )));
        }
        if let Some(lane) = order.closed_lanes.iter().find(|l| **l == 0 || **l > self.spec.lanes) {
            return Err(Refusal::new(format!("lane {lane}: this road has lanes 1..={}", self.spec.lanes)));
        }
        if order.closed_lanes.len() >= usize::from(self.spec.lanes) {
            return Err(Refusal::new("closing every lane: keep at least one lane open"));
        }
        let s = segment as usize - 1;
        let (before_limit, before_closed) = (self.limits[s], self.closed[s].clone());
        if before_limit == order.speed_limit_kmh && before_closed == order.closed_lanes {
            return Ok(());
        }
        if before_limit != order.speed_limit_kmh {
            events.push(Event::LimitChanged { segment, from: before_limit, to: order.speed_limit_kmh });
        }
        for lane in &order.closed_lanes {
            if !before_closed.contains(lane) {
                events.push(Event::LaneClosed { segment, lane: *lane });
            }
        }
        for lane in &before_closed {
            if !order.closed_lanes.contains(lane) {
                events.push(Event::LaneReopened { segment, lane: *lane });
            }
        }
        self.limits[s] = order.speed_limit_kmh;
        self.closed[s] = order.closed_lanes.clone();
        self.refresh_limits();
        events.push(Event::OrderApplied { segment, order: order.clone() });
        Ok(())
    }

    fn spawn(&mut self, w: Waiting, lane: u8, x: f64, v: f64) -> u32 {
        let vehicle = Vehicle {
            id: self.next_id,
            alive: true,
            lane,
            x,
            v,
            d: w.driver,
            exit: w.exit,
            stalled: false,
            stall_until_s: 0.0,
            entry_x: x,
            laps: 0,
            last_change_tick: 0,
            braking_hard: false,
        };
        self.next_id += 1;
        self.stats.entered += 1;
        match self.free_slots.pop() {
            Some(slot) => {
                self.vehicles[slot as usize] = vehicle;
                slot
            }
            None => {
                self.vehicles.push(vehicle);
                self.accel.push(0.0);
                (self.vehicles.len() - 1) as u32
            }
        }
    }

    fn v(&self, slot: u32) -> &Vehicle {
        &self.vehicles[slot as usize]
    }

    /// The vehicles just ahead of and just behind position `x` in lane index `lane`, with their
    /// positions shifted by a lap on a ring so that they compare with `x`.
    #[inline]
    fn around(&self, lane: usize, x: f64) -> (Neighbour, Neighbour) {
        let slots = &self.lanes[lane];
        let i = slots.partition_point(|s| self.v(*s).x <= x);
        let n = slots.len();
        let ring_m = self.spec.length_m;
        let leader = if i < n {
            Some((slots[i], self.v(slots[i]).x))
        } else if self.ring && n > 0 {
            Some((slots[0], self.v(slots[0]).x + ring_m))
        } else {
            None
        };
        let follower = if i > 0 {
            Some((slots[i - 1], self.v(slots[i - 1]).x))
        } else if self.ring && n > 0 {
            Some((slots[n - 1], self.v(slots[n - 1]).x - ring_m))
        } else {
            None
        };
        (leader, follower)
    }

    fn ahead_of(&self, leader: Option<(u32, f64)>) -> Option<Ahead> {
        leader.map(|(s, x)| {
            let l = self.v(s);
            Ahead { rear_m: x - l.d.length_m, v: l.v }
        })
    }

    /// The start of the next closed stretch ahead of `x` in lane index `lane` (not one `x` is in).
    #[inline]
    fn closure_ahead(&self, lane: usize, x: f64) -> Option<f64> {
        self.closures[lane].iter().find(|(start, _)| *start > x).map(|(start, _)| *start)
    }

    fn closed_at(&self, lane: usize, x: f64) -> bool {
        self.closures[lane].iter().any(|(start, end)| *start <= x && x < *end)
    }

    /// The IDM acceleration of vehicle `d` at `x`, `v` in lane index `lane` behind `ahead`.
    #[inline]
    fn accel_behind(&self, d: &Driver, lane: usize, x: f64, v: f64, ahead: Option<Ahead>) -> f64 {
        let v0 = self.desired(d, x);
        let mut a = match ahead {
            Some(l) => d.idm(v0, v, l.rear_m - x, v - l.v),
            None => d.idm(v0, v, f64::INFINITY, 0.0),
        };
        // A closed stretch too close to stop for (it closed just ahead) is driven into, as by
        // the vehicles already inside it.
        if let Some(start) = self.closure_ahead(lane, x)
            && start - x > v * v / (2.0 * B_SAFE)
        {
            a = a.min(d.idm(v0, v, start - x, v));
        }
        a
    }

    /// Advances one tick.
    pub fn step(&mut self, tick: u64, events: &mut Vec<Event>, summaries: &mut Vec<SegmentSummary>) {
        self.tick = tick;
        let t0 = (tick - 1) as f64 * self.dt_s;
        self.hazards(t0, events);
        self.arrivals(t0);
        self.decide();
        self.change_lanes();
        self.advance(t0 + self.dt_s, events);
        if tick.is_multiple_of(self.period_ticks) {
            self.summarise(tick as f64 * self.dt_s, summaries);
        }
    }

    fn hazards(&mut self, t0: f64, events: &mut Vec<Event>) {
        for i in 0..self.incidents.len() {
            if self.incidents[i] == Incident::Waiting && self.spec.incidents[i].at_s <= t0 {
                self.incidents[i] = Incident::Armed;
            }
        }
        for slot in 0..self.vehicles.len() {
            let v = &mut self.vehicles[slot];
            if v.alive && v.stalled && v.stall_until_s <= t0 {
                v.stalled = false;
                events.push(Event::StallCleared { vehicle: v.id, lane: v.lane, position_m: v.x });
            }
        }
        while self.next_random_stall_s <= t0 {
            self.next_random_stall_s += exponential(&mut self.hazards, self.spec.random_stalls_per_h / 3600.0);
            let present: usize = self.lanes.iter().map(Vec::len).sum();
            if present == 0 {
                continue;
            }
            let mut k = ((uniform(&mut self.hazards) * present as f64) as usize).min(present - 1);
            let lane = self.lanes.iter().position(|l| {
                if k < l.len() {
                    true
                } else {
                    k -= l.len();
                    false
                }
            });
            if let Some(lane) = lane {
                let slot = self.lanes[lane][k];
                let until = t0 + self.spec.random_stall_duration_s;
                self.stall(slot, until, events);
            }
        }
    }

    fn stall(&mut self, slot: u32, until_s: f64, events: &mut Vec<Event>) {
        let v = &mut self.vehicles[slot as usize];
        if v.stalled {
            return;
        }
        v.stalled = true;
        v.stall_until_s = until_s;
        v.exit = None;
        events.push(Event::StallStarted { vehicle: v.id, lane: v.lane, position_m: v.x });
    }

    fn arrivals(&mut self, t0: f64) {
        for e in 0..self.entries.len() {
            let entry = &mut self.entries[e];
            entry.arrive(
                t0,
                self.dt_s,
                &mut self.demand,
                &mut self.drivers,
                self.spec.truck_share,
                self.spec.driver_spread,
                &self.off_ramps,
            );
            for _ in 0..self.spec.lanes {
                let Some(w) = self.entries[e].queue.front().copied() else { break };
                let x = self.entries[e].position_m;
                let Some((lane, x, v)) = self.entry_gap(&w.driver, x, self.entries[e].ramp) else { break };
                self.entries[e].queue.pop_front();
                let slot = self.spawn(w, lane, x, v);
                let lane_slots = &self.lanes[usize::from(lane - 1)];
                let i = lane_slots.partition_point(|s| self.vehicles[*s as usize].x <= x);
                self.lanes[usize::from(lane - 1)].insert(i, slot);
            }
        }
        self.stats.waiting = self.entries.iter().map(|e| e.queue.len() as u64).sum();
        self.stats.turned_away = self.entries.iter().map(|e| e.turned_away).sum();
    }

    /// Where a driver can safely join: the lane, the position and the speed. The main entry tries
    /// every open lane at its position and takes the largest gap; an on-ramp tries the rightmost
    /// lane along its merge zone, upstream first.
    fn entry_gap(&self, d: &Driver, x: f64, ramp: bool) -> Option<(u8, f64, f64)> {
        if ramp {
            if self.closed_at(0, x) {
                return None;
            }
            if let Some((v, _)) = self.try_join(d, 0, x) {
                return Some((1, x, v));
            }
            let slots = &self.lanes[0];
            let first = slots.partition_point(|s| self.v(*s).x <= x);
            for s in &slots[first..] {
                let l = self.v(*s);
                let candidate = l.x - l.d.length_m - (d.s0 + l.v * d.t) - 0.1;
                if candidate > x + MERGE_ZONE_M {
                    break;
                }
                if candidate > x
                    && let Some((v, _)) = self.try_join(d, 0, candidate)
                {
                    return Some((1, candidate, v));
                }
            }
            return None;
        }
        let mut best: Option<(u8, f64, f64)> = None;
        for li in 0..self.lanes.len() {
            if self.closed_at(li, x) {
                continue;
            }
            if let Some((v, gap)) = self.try_join(d, li, x)
                && best.is_none_or(|(_, _, g)| gap > g)
            {
                best = Some((li as u8 + 1, v, gap));
            }
        }
        best.map(|(lane, v, _)| (lane, x, v))
    }

    /// Whether a driver can join lane index `li` at `x`: its speed and the gap ahead.
    fn try_join(&self, d: &Driver, li: usize, x: f64) -> Option<(f64, f64)> {
        let v0 = self.desired(d, x);
        let (leader, follower) = self.around(li, x);
        let ahead = self.ahead_of(leader);
        let (gap, v) = match ahead {
            Some(a) if a.rear_m - x < ENTRY_FREE_M => (a.rear_m - x, v0.min(a.v)),
            _ => (ENTRY_FREE_M, v0),
        };
        // Join at the leader's speed if the gap allows, else somewhat slower (no slower than 60 %
        // of it) with the gap that speed needs.
        let v = if gap >= d.s0 + v * d.t { v } else { ((gap - d.s0) / d.t).min(v) };
        let lead_v = ahead.map_or(v0, |a| a.v.min(v0));
        if v < 0.0 || (v < 0.6 * lead_v && (v < 1.0 || gap < ENTRY_FREE_M)) {
            return None;
        }
        if let Some((f, fx)) = follower {
            let fv = self.v(f);
            let behind = x - d.length_m - fx;
            if behind < 1.0 || self.accel_behind(&fv.d, li, fx, fv.v, Some(Ahead { rear_m: x - d.length_m, v })) < -2.0
            {
                return None;
            }
        }
        Some((v, gap))
    }

    /// Phase 2: every vehicle's acceleration and lane-change wish, from the snapshot.
    fn decide(&mut self) {
        self.changes.clear();
        std::mem::swap(&mut self.requests, &mut self.next_requests);
        for r in &mut self.requests {
            r.sort_by(|a, b| a.rear_m.total_cmp(&b.rear_m));
        }
        for r in &mut self.next_requests {
            r.clear();
        }
        let cooldown = (LANE_CHANGE_COOLDOWN_S / self.dt_s).round() as u64;
        for lane in 0..self.lanes.len() {
            let n = self.lanes[lane].len();
            for i in 0..n {
                let slot = self.lanes[lane][i];
                let c = *self.v(slot);
                if c.stalled {
                    self.accel[slot as usize] = if c.v > 0.0 { -STALL_DECEL.min(c.v / self.dt_s) } else { 0.0 };
                    continue;
                }
                let leader = self.leader_in_lane(lane, i);
                let ahead = self.ahead_of(leader);
                let mut a = self.accel_behind(&c.d, lane, c.x, c.v, ahead);
                if let Some(r) = self.request_between(lane, c.x, ahead) {
                    // Zipper: make room for a driver who must come into this lane.
                    let a_yield = c.d.idm(self.desired(&c.d, c.x), c.v, r.rear_m - c.x, c.v - r.v);
                    if a_yield >= -c.d.b {
                        a = a.min(a_yield);
                    }
                }
                self.accel[slot as usize] = a;
                if self.spec.lanes > 1 && self.tick >= c.last_change_tick + cooldown {
                    match self.lane_wish(lane, i, a, leader) {
                        (Some((target, a_new)), _) => self.changes.push((slot, target, a_new)),
                        (None, Some(target)) => {
                            let rear = c.x - c.d.length_m;
                            self.next_requests[target].push(Ahead { rear_m: rear, v: c.v });
                        }
                        (None, None) => {}
                    }
                }
            }
        }
    }

    /// The nearest driver asking to come into lane index `lane` whose rear is ahead of `x` and
    /// behind `ahead` (the leader).
    #[inline]
    fn request_between(&self, lane: usize, x: f64, ahead: Option<Ahead>) -> Option<Ahead> {
        let requests = &self.requests[lane];
        if requests.is_empty() {
            return None;
        }
        let i = requests.partition_point(|r| r.rear_m <= x);
        requests.get(i).copied().filter(|r| ahead.is_none_or(|a| r.rear_m < a.rear_m) && r.rear_m - x < 100.0)
    }

    #[inline]
    fn leader_in_lane(&self, lane: usize, i: usize) -> Option<(u32, f64)> {
        let slots = &self.lanes[lane];
        if i + 1 < slots.len() {
            Some((slots[i + 1], self.v(slots[i + 1]).x))
        } else if self.ring {
            // Alone in the lane, a ring vehicle follows itself a lap ahead.
            Some((slots[0], self.v(slots[0]).x + self.spec.length_m))
        } else {
            None
        }
    }

    #[inline]
    fn follower_in_lane(&self, lane: usize, i: usize) -> Option<(u32, f64)> {
        let slots = &self.lanes[lane];
        if i > 0 {
            Some((slots[i - 1], self.v(slots[i - 1]).x))
        } else if self.ring && slots.len() > 1 {
            let last = slots[slots.len() - 1];
            Some((last, self.v(last).x - self.spec.length_m))
        } else {
            None
        }
    }

    /// MOBIL for the vehicle at index `i` of lane index `lane`: the lane (from 1) it wants and its
    /// acceleration there; or, if it must change soon and cannot, the lane index it asks to be let
    /// into.
    fn lane_wish(
        &self,
        lane: usize,
        i: usize,
        a_own: f64,
        leader: Option<(u32, f64)>,
    ) -> (Option<(u8, f64)>, Option<usize>) {
        let slot = self.lanes[lane][i];
        let c = self.v(slot);
        let (x, v, d) = (c.x, c.v, c.d);
        // Mandatory wishes: towards the exit, away from a closed stretch.
        let mut right_bias = 0.0;
        let mut left_allowed = true;
        let mut urgent: Option<usize> = None;
        let mut b_safe = B_SAFE;
        if let Some(r) = c.exit {
            let to_ramp = self.off_ramps[usize::from(r)].0 - x;
            if to_ramp > 0.0 && to_ramp < EXIT_NOTICE_M && lane > 0 {
                right_bias = 1.0 + 3.0 * (1.0 - to_ramp / EXIT_NOTICE_M);
                left_allowed = false;
                if to_ramp < URGENT_M {
                    urgent = Some(lane - 1);
                }
            }
        }
        let mut leave_bias = 0.0;
        if let Some(start) = self.closure_ahead(lane, x) {
            let to_closure = start - x;
            if to_closure < CLOSURE_NOTICE_M {
                leave_bias = 1.0 + 4.0 * (1.0 - to_closure / CLOSURE_NOTICE_M);
                // Stopped in a lane closed ahead: ask to be let in, and accept a harder brake
                // from the new follower.
                if v < 1.0 && urgent.is_none() {
                    let open = |t: usize| t < self.lanes.len() && !self.closed_at(t, start);
                    urgent =
                        if lane > 0 && open(lane - 1) { Some(lane - 1) } else { Some(lane + 1).filter(|t| open(*t)) };
                    b_safe = B_SAFE_STRANDED;
                }
            }
        }
        if right_bias == 0.0 && leave_bias == 0.0 && (a_own > d.a * 0.9 || v < 0.0) {
            // Free road at full acceleration: nothing to gain anywhere.
            return (None, None);
        }
        let old_follower = self.follower_in_lane(lane, i);
        let (old_f_old, old_f_new) = match old_follower {
            Some((f, fx)) if f != slot => {
                let fv = self.v(f);
                let with_c = Some(Ahead { rear_m: x - d.length_m, v });
                let without = self.ahead_of(leader.filter(|(l, _)| *l != f));
                (self.accel_behind(&fv.d, lane, fx, fv.v, with_c), self.accel_behind(&fv.d, lane, fx, fv.v, without))
            }
            _ => (0.0, 0.0),
        };
        let mut best: Option<(u8, f64, f64)> = None;
        for (target, bias) in [(lane.wrapping_sub(1), right_bias + leave_bias), (lane + 1, -right_bias + leave_bias)] {
            if target >= self.lanes.len() || (target > lane && !left_allowed) {
                continue;
            }
            if self.closed_at(target, x) || self.closure_ahead(target, x).is_some_and(|s| s - x < CLOSURE_KEEP_OUT_M) {
                continue;
            }
            let (new_leader, new_follower) = self.around(target, x);
            let ahead = self.ahead_of(new_leader);
            if ahead.is_some_and(|a| a.rear_m - x < 1.0) {
                continue;
            }
            let a_new = self.accel_behind(&d, target, x, v, ahead);
            let (new_f_old, new_f_new) = match new_follower {
                Some((f, fx)) => {
                    let fv = self.v(f);
                    if x - d.length_m - fx < 1.0 {
                        continue;
                    }
                    let with_c = self.accel_behind(&fv.d, target, fx, fv.v, Some(Ahead { rear_m: x - d.length_m, v }));
                    if with_c < -b_safe {
                        continue;
                    }
                    (self.accel_behind(&fv.d, target, fx, fv.v, ahead), with_c)
                }
                None => (0.0, 0.0),
            };
            let incentive = mobil_incentive(&d, (a_own, a_new), (new_f_old, new_f_new), (old_f_old, old_f_new), bias);
            if incentive > A_THRESHOLD && best.is_none_or(|(_, _, g)| incentive > g) {
                best = Some((target as u8 + 1, a_new, incentive));
            }
        }
        match best {
            Some((lane, a, _)) => (Some((lane, a)), None),
            None => (None, urgent),
        }
    }

    /// Phase 3: lane changes, in the fixed order they were decided, each rechecked.
    fn change_lanes(&mut self) {
        for k in 0..self.changes.len() {
            let (slot, target, a_new) = self.changes[k];
            let c = *self.v(slot);
            let (from, to) = (usize::from(c.lane - 1), usize::from(target - 1));
            let (leader, follower) = self.around(to, c.x);
            if self.ahead_of(leader).is_some_and(|a| a.rear_m - c.x < 0.5) {
                continue;
            }
            if follower.is_some_and(|(f, fx)| f == slot || c.x - c.d.length_m - fx < 0.5) {
                continue;
            }
            let i = self.index_in_lane(from, slot);
            self.lanes[from].remove(i);
            let j = self.lanes[to].partition_point(|s| self.vehicles[*s as usize].x <= c.x);
            self.lanes[to].insert(j, slot);
            let v = &mut self.vehicles[slot as usize];
            v.lane = target;
            v.last_change_tick = self.tick;
            self.accel[slot as usize] = a_new;
            self.stats.lane_changes += 1;
        }
    }

    fn index_in_lane(&self, lane: usize, slot: u32) -> usize {
        let x = self.v(slot).x;
        let slots = &self.lanes[lane];
        let mut i = slots.partition_point(|s| self.v(*s).x < x);
        while slots[i] != slot {
            i += 1;
        }
        i
    }

    /// Phase 4 and 5: everyone moves, front to rear; leavers leave, a ring wraps.
    fn advance(&mut self, t1: f64, events: &mut Vec<Event>) {
        let dt = self.dt_s;
        let length = self.spec.length_m;
        let hard = self.spec.hard_braking_mps2;
        let armed = self.incidents.contains(&Incident::Armed);
        for lane in 0..self.lanes.len() {
            let n = self.lanes[lane].len();
            let mut any_left = false;
            // The leader's new rear and speed (on a ring, the first vehicle's old rear, a lap on).
            let mut limit: Option<(f64, f64)> = if self.ring && n > 0 {
                let first = self.v(self.lanes[lane][0]);
                Some((first.x + length - first.d.length_m, first.v))
            } else {
                None
            };
            for i in (0..n).rev() {
                let slot = self.lanes[lane][i];
                let a = self.accel[slot as usize];
                let veh = &mut self.vehicles[slot as usize];
                let (x0, v0) = (veh.x, veh.v);
                let mut v1 = v0 + a * dt;
                let mut x1 = if v1 < 0.0 {
                    v1 = 0.0;
                    x0 - 0.5 * v0 * v0 / a
                } else {
                    x0 + v0 * dt + 0.5 * a * dt * dt
                };
                if let Some((rear, lead_v)) = limit
                    && x1 > rear
                {
                    x1 = rear.max(x0);
                    v1 = v1.min(lead_v);
                    self.stats.clamped_moves += 1;
                }
                assert!(v1 >= 0.0 && x1 >= x0, "v{} would move from {x0} to {x1} at {v1} m/s", veh.id);
                veh.x = x1;
                veh.v = v1;
                if a < -hard {
                    if !veh.braking_hard {
                        veh.braking_hard = true;
                        self.stats.hard_brakings += 1;
                    }
                } else {
                    veh.braking_hard = false;
                }
                limit = Some((x1 - veh.d.length_m, v1));
                let (len, lane_no) = (veh.d.length_m, veh.lane);
                self.loops.observe(lane_no, x0, x1, v0, v1, len, dt);
                if let Some(r) = veh.exit {
                    let ramp = self.off_ramps[usize::from(r)].0;
                    if x0 < ramp && ramp <= x1 {
                        if lane_no == 1 {
                            veh.alive = false;
                        } else {
                            veh.exit = None;
                            self.stats.missed_exits += 1;
                        }
                    }
                }
                if !self.ring && x1 >= length {
                    veh.alive = false;
                }
                if !veh.alive {
                    any_left = true;
                    self.stats.exited += 1;
                    self.exited_crossings +=
                        self.loops.count_at_or_before(x1) - self.loops.count_at_or_before(veh.entry_x);
                    self.free_slots.push(slot);
                } else if armed && !veh.stalled {
                    self.maybe_stall(slot, lane_no, x0, x1, v1, t1, events);
                }
            }
            if any_left {
                let vehicles = &self.vehicles;
                self.lanes[lane].retain(|s| vehicles[*s as usize].alive);
                // Reuse slots in a fixed order: lowest first.
                self.free_slots.sort_unstable_by(|a, b| b.cmp(a));
            }
            if self.ring {
                let slots = &mut self.lanes[lane];
                let mut k = 0;
                while k < slots.len() && self.vehicles[slots[slots.len() - 1 - k] as usize].x >= length {
                    let v = &mut self.vehicles[slots[slots.len() - 1 - k] as usize];
                    v.x -= length;
                    v.laps += 1;
                    k += 1;
                }
                slots.rotate_right(k);
            }
        }
        self.stats.vehicle_updates += self.lanes.iter().map(|l| l.len() as u64).sum::<u64>();
    }

    fn crossings_before(&self, slot: u32) -> u64 {
        self.loops.count_at_or_before(self.v(slot).entry_x)
    }

    /// An armed incident in `lane` takes the first vehicle that would stop at its position
    /// braking at [`STALL_DECEL`] from where it is now.
    #[allow(clippy::too_many_arguments)]
    fn maybe_stall(&mut self, slot: u32, lane: u8, x0: f64, x1: f64, v1: f64, t1: f64, events: &mut Vec<Event>) {
        let reach = x1 + v1 * v1 / (2.0 * STALL_DECEL);
        for i in 0..self.incidents.len() {
            let spec = &self.spec.incidents[i];
            if self.incidents[i] == Incident::Armed
                && spec.lane == lane
                && x0 < spec.position_m
                && spec.position_m <= reach
            {
                self.incidents[i] = Incident::Done;
                let until = t1 + spec.duration_s;
                self.stall(slot, until, events);
                return;
            }
        }
    }

    fn summarise(&mut self, now_s: f64, out: &mut Vec<SegmentSummary>) {
        for s in 1..=self.segments {
            out.push(SegmentSummary {
                segment: s,
                period_end_s: now_s,
                period_s: self.spec.loop_period_s,
                speed_limit_kmh: self.limits[s as usize - 1],
                closed_lanes: self.closed[s as usize - 1].clone(),
                loops: self.loops.take_segment(s, self.spec.loop_period_s),
            });
        }
    }

    /// The vehicles on the road, lane by lane, rear first.
    pub fn vehicles(&self) -> Vec<VehicleView> {
        let mut out = Vec::with_capacity(self.lanes.iter().map(Vec::len).sum());
        for slots in &self.lanes {
            for s in slots {
                let v = self.v(*s);
                out.push(VehicleView {
                    id: v.id,
                    lane: v.lane,
                    position_m: v.x,
                    speed_mps: v.v,
                    length_m: v.d.length_m,
                    kind: if v.d.truck { VehicleKind::Truck } else { VehicleKind::Car },
                    stalled: v.stalled,
                });
            }
        }
        out
    }

    /// Counters.
    pub fn stats(&self) -> HighwayStats {
        let mut stats = self.stats.clone();
        let (mut n, mut sum, mut stalled) = (0u64, 0.0, 0u64);
        for slots in &self.lanes {
            for s in slots {
                let v = self.v(*s);
                n += 1;
                sum += v.v;
                stalled += u64::from(v.stalled);
            }
        }
        stats.present = n;
        stats.stalled = stalled;
        stats.mean_speed_kmh = if n > 0 { sum / n as f64 * 3.6 } else { 0.0 };
        stats
    }

    /// The invariants; the first broken one.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut present = 0u64;
        let mut crossings = self.exited_crossings;
        for (li, slots) in self.lanes.iter().enumerate() {
            for (i, s) in slots.iter().enumerate() {
                let v = self.v(*s);
                present += 1;
                if !v.alive || usize::from(v.lane) != li + 1 {
                    return Err(format!("v{} is listed in lane {} but is in lane {}", v.id, li + 1, v.lane));
                }
                if !(v.v >= 0.0 && v.v.is_finite() && v.x.is_finite()) {
                    return Err(format!("v{} has speed {} at {}", v.id, v.v, v.x));
                }
                if let Some((l, lx)) = self.leader_in_lane(li, i).filter(|(l, _)| l != s) {
                    let gap = lx - self.v(l).d.length_m - v.x;
                    if gap < -1e-6 {
                        return Err(format!(
                            "v{} overlaps v{} in lane {} by {:.3} m",
                            v.id,
                            self.v(l).id,
                            li + 1,
                            -gap
                        ));
                    }
                }
                if !self.ring {
                    crossings += self.loops.count_at_or_before(v.x) - self.crossings_before(*s);
                }
            }
        }
        if self.stats.entered != self.stats.exited + present {
            return Err(format!(
                "vehicles not conserved: {} entered, {} exited, {present} present",
                self.stats.entered, self.stats.exited
            ));
        }
        if !self.ring && crossings != self.loops.total_count() {
            return Err(format!("loops counted {} crossings, vehicles made {crossings}", self.loops.total_count()));
        }
        Ok(())
    }

    /// Feeds the state into a digest.
    pub fn digest(&self, hasher: &mut Sha256) {
        for slots in &self.lanes {
            hasher.update((slots.len() as u64).to_le_bytes());
            for s in slots {
                let v = self.v(*s);
                hasher.update(v.id.to_le_bytes());
                hasher.update(v.x.to_le_bytes());
                hasher.update(v.v.to_le_bytes());
                hasher.update([u8::from(v.stalled)]);
            }
        }
        for (limit, closed) in self.limits.iter().zip(&self.closed) {
            hasher.update(limit.unwrap_or(0).to_le_bytes());
            hasher.update(closed);
        }
        for entry in &self.entries {
            entry.digest(hasher);
        }
        self.loops.digest(hasher);
        hasher.update(self.stats.entered.to_le_bytes());
        hasher.update(self.stats.exited.to_le_bytes());
        hasher.update(self.stats.hard_brakings.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

#[cfg(test)]
mod speed {
    use super::*;

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

#[cfg(test)]
mod demo {
    use super::*;
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
