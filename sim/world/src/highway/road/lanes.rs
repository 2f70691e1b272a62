//! Phases 2 and 3 of a tick: every vehicle's IDM acceleration and MOBIL wish from the snapshot,
//! then the lane changes, in a fixed order, each rechecked.

use super::*;

impl Highway {
    /// Phase 2: every vehicle's acceleration and lane-change wish, from the snapshot.
    pub(super) fn decide(&mut self) {
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
                let mut a = self.accel_passing(&c.d, lane, c.x, c.v, ahead, c.cleared_closure_m);
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
    pub(super) fn request_between(&self, lane: usize, x: f64, ahead: Option<Ahead>) -> Option<Ahead> {
        let requests = &self.requests[lane];
        if requests.is_empty() {
            return None;
        }
        let i = requests.partition_point(|r| r.rear_m <= x);
        requests.get(i).copied().filter(|r| ahead.is_none_or(|a| r.rear_m < a.rear_m) && r.rear_m - x < 100.0)
    }

    #[inline]
    pub(super) fn leader_in_lane(&self, lane: usize, i: usize) -> Option<(u32, f64)> {
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
    pub(super) fn follower_in_lane(&self, lane: usize, i: usize) -> Option<(u32, f64)> {
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
    pub(super) fn lane_wish(
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
        } else if v < 1.0 && self.closed_at(lane, x) && leader.is_some_and(|(_, lx)| self.closed_at(lane, lx)) {
            // Stopped inside a closed stretch (it closed around the driver) behind what blocks it:
            // leave it at the first safe gap. No zipper here: the open lane beside flows, and
            // stopping it for every stranded driver would break it down. (A driver moving freely
            // in the stretch drives on, out of its end, as the blockage itself does when it clears.)
            leave_bias = 5.0;
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
            if a_new < -b_safe {
                // Not into a gap the driver itself would have to brake hard in.
                continue;
            }
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
    pub(super) fn change_lanes(&mut self) {
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

    pub(super) fn index_in_lane(&self, lane: usize, slot: u32) -> usize {
        let x = self.v(slot).x;
        let slots = &self.lanes[lane];
        let mut i = slots.partition_point(|s| self.v(*s).x < x);
        while slots[i] != slot {
            i += 1;
        }
        i
    }
}
