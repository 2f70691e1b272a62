//! Phase 1 of a tick: stalls start and clear, arrivals queue at the entries and join the road
//! where there is a safe gap.

use super::*;

impl Highway {
    pub(super) fn hazards(&mut self, t0: f64, events: &mut Vec<Event>) {
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

    pub(super) fn stall(&mut self, slot: u32, until_s: f64, events: &mut Vec<Event>) {
        let v = &mut self.vehicles[slot as usize];
        if v.stalled {
            return;
        }
        v.stalled = true;
        v.stall_until_s = until_s;
        v.exit = None;
        events.push(Event::StallStarted { vehicle: v.id, lane: v.lane, position_m: v.x });
    }

    pub(super) fn arrivals(&mut self, t0: f64) {
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
    pub(super) fn entry_gap(&self, d: &Driver, x: f64, ramp: bool) -> Option<(u8, f64, f64)> {
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
    pub(super) fn try_join(&self, d: &Driver, li: usize, x: f64) -> Option<(f64, f64)> {
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

    /// An armed incident in `lane` takes the first vehicle that would stop at its position
    /// braking at [`STALL_DECEL`] from where it is now.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn maybe_stall(
        &mut self,
        slot: u32,
        lane: u8,
        x0: f64,
        x1: f64,
        v1: f64,
        t1: f64,
        events: &mut Vec<Event>,
    ) {
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
}
