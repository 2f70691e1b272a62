//! Phases 4 and 5 of a tick: everyone moves (ballistic, front to rear in each lane), the loops
//! see each move, leavers leave and a ring wraps.

use super::*;

impl Highway {
    /// Phase 4 and 5: everyone moves, front to rear; leavers leave, a ring wraps.
    pub(super) fn advance(&mut self, t1: f64, events: &mut Vec<Event>) {
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

    pub(super) fn crossings_before(&self, slot: u32) -> u64 {
        self.loops.count_at_or_before(self.v(slot).entry_x)
    }
}
