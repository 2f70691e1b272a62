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
//! The phases live in `entry` (1), `lanes` (2, 3) and `motion` (4, 5).
//!
//! Neighbours in another lane are found by binary search, so a tick is `O(n log n)` with no
//! allocation once the vectors have grown. The invariants ([`Highway::check_invariants`]) hold
//! after every tick: no vehicle overlaps its leader, speeds are finite and never negative,
//! vehicles are conserved, loop counts equal crossings.
//!
//! A closed lane of a segment is an obstacle at the start of its closed stretch: vehicles
//! upstream brake for it (unless it closed too close ahead of them to stop at 4 m/s²: those
//! drive in) and MOBIL pushes them out (with a bias that grows as it nears); vehicles
//! already inside drive on; nobody changes into it. A speed limit caps a driver's desired speed
//! at `limit × compliance`.
//!
//! Caveats: on-ramp vehicles appear in the rightmost lane at the first safe gap of a 250 m merge
//! zone (no acceleration lane is simulated); a vehicle that cannot reach the rightmost lane before its off-ramp drives on to the
//! end of the road (counted as a missed exit).

use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use super::demand::{Entry, Waiting};

mod entry;
mod lanes;
mod motion;
use super::driver::{A_THRESHOLD, B_SAFE, Driver, mobil_incentive};
use super::loops::Loops;
use super::spec::{HighwaySpec, IncidentSpec, LIMIT_KMH_MAX, LIMIT_KMH_MIN, RoadKind};
use super::{ClosedStretch, Event, HighwayStats, SegmentOrder, VehicleKind, VehicleView};
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
    cleared_closure_m: f64,
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
    stretches: Vec<Vec<ClosedStretch>>,
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
            stretches: vec![Vec::new(); segments as usize],
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

    /// The order in force on each segment, upstream first: what the last obeyed orders left (the
    /// road's defaults where none changed anything).
    pub fn orders(&self) -> Vec<SegmentOrder> {
        (0..self.segments as usize)
            .map(|s| SegmentOrder {
                speed_limit_kmh: self.limits[s],
                closed_lanes: self.closed[s].clone(),
                stretches: self.stretches[s].clone(),
                why: Vec::new(),
            })
            .collect()
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
                    let (seg_start, seg_end) =
                        (self.segment_start(s), self.segment_start(s + 1).min(self.spec.length_m));
                    let (start, end) = match self.stretches[s].iter().find(|st| st.lane == lane) {
                        Some(st) => (seg_start + f64::from(st.from_m), (seg_start + f64::from(st.to_m)).min(seg_end)),
                        None => (seg_start, seg_end),
                    };
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
        let seg_len = self.segment_start(s + 1).min(self.spec.length_m) - self.segment_start(s);
        for st in &order.stretches {
            if !order.closed_lanes.contains(&st.lane) {
                return Err(Refusal::new(format!("stretch of lane {}: the lane is not closed", st.lane)));
            }
            if st.from_m >= st.to_m || f64::from(st.to_m) > seg_len {
                return Err(Refusal::new(format!(
                    "lane {} closed from {} m to {} m: a stretch is 0 <= from < to <= {seg_len} m",
                    st.lane, st.from_m, st.to_m
                )));
            }
        }
        let (before_limit, before_closed) = (self.limits[s], self.closed[s].clone());
        if before_limit == order.speed_limit_kmh
            && before_closed == order.closed_lanes
            && self.stretches[s] == order.stretches
        {
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
        let before_stretches = std::mem::replace(&mut self.stretches[s], order.stretches.clone());
        self.closed[s] = order.closed_lanes.clone();
        self.refresh_limits();
        for lane in &order.closed_lanes {
            let from = order.stretch(*lane).map_or(0.0, |st| f64::from(st.from_m));
            let moved = before_stretches.iter().find(|st| st.lane == *lane).copied() != order.stretch(*lane);
            if !before_closed.contains(lane) || moved {
                self.clear_too_close(usize::from(lane - 1), self.segment_start(s) + from);
            }
        }
        events.push(Event::OrderApplied { segment, order: order.clone() });
        Ok(())
    }

    /// Vehicles of lane index `li` that cannot stop (at [`B_SAFE`]) before the closed stretch
    /// holding `x` drive into it.
    fn clear_too_close(&mut self, li: usize, x: f64) {
        let Some(&(start, _)) = self.closures[li].iter().find(|(a, b)| *a <= x && x < *b) else { return };
        for k in 0..self.lanes[li].len() {
            let v = &mut self.vehicles[self.lanes[li][k] as usize];
            if v.x < start && start - v.x <= v.v * v.v / (2.0 * B_SAFE) + v.d.s0 {
                v.cleared_closure_m = start;
            }
        }
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
            cleared_closure_m: f64::NAN,
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
        self.accel_passing(d, lane, x, v, ahead, f64::NAN)
    }

    /// As [`Highway::accel_behind`], but a closed stretch starting at `cleared_m` is no obstacle
    /// (it closed too close ahead of the vehicle to stop for, so it drives into it as the vehicles
    /// already inside do).
    #[inline]
    fn accel_passing(&self, d: &Driver, lane: usize, x: f64, v: f64, ahead: Option<Ahead>, cleared_m: f64) -> f64 {
        let v0 = self.desired(d, x);
        let mut a = match ahead {
            Some(l) => d.idm(v0, v, l.rear_m - x, v - l.v),
            None => d.idm(v0, v, f64::INFINITY, 0.0),
        };
        if let Some(start) = self.closure_ahead(lane, x)
            && start != cleared_m
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

    fn summarise(&mut self, now_s: f64, out: &mut Vec<SegmentSummary>) {
        for s in 1..=self.segments {
            out.push(SegmentSummary {
                segment: s,
                period_end_s: now_s,
                period_s: self.spec.loop_period_s,
                speed_limit_kmh: self.limits[s as usize - 1],
                closed_lanes: self.closed[s as usize - 1].clone(),
                stretches: self.stretches[s as usize - 1].clone(),
                length_m: self.segment_start(s as usize).min(self.spec.length_m) - self.segment_start(s as usize - 1),
                start_m: self.segment_start(s as usize - 1),
                loops: self.loops.take_segment(s, self.spec.loop_period_s),
            });
        }
    }

    /// Adds an incident while the road runs (a dashboard's "stall a vehicle"), checked as a
    /// scenario's would be: from `incident.at_s` on, the first vehicle in its lane that reaches
    /// its position stalls there. An impossible one is refused as `(field, reason)`.
    pub fn add_incident(&mut self, incident: IncidentSpec) -> Result<(), (String, String)> {
        let mut spec = self.spec.clone();
        spec.incidents = vec![incident.clone()];
        spec.validate()?;
        self.spec.incidents.push(incident);
        self.incidents.push(Incident::Waiting);
        Ok(())
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
        for st in self.stretches.iter().flatten() {
            // Only roads with partial closures feed this, so older digests stay as they were.
            hasher.update([st.lane]);
            hasher.update(st.from_m.to_le_bytes());
            hasher.update(st.to_m.to_le_bytes());
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
mod tests;
