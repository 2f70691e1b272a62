//! Synthetic traffic for the evaluation and the tests: vehicles in lanes, no simulator needed.
//!
//! Each lane is fed at its own flow (Poisson arrivals upstream of the camera's view) and speed.
//! Vehicles follow their leader with the Intelligent Driver Model; a *signal* downstream can stop
//! the right lane for a few seconds every minute (stop-and-go queues that reach back towards the
//! camera); and one vehicle can stall at a given time: it brakes to a standstill and stays, and
//! those behind it change lane when the next lane has room.
//!
//! Everything is seeded: the same config gives the same traffic.

// Pixel and vehicle loops index several parallel buffers at once; an index reads best.
#![allow(clippy::needless_range_loop)]

use serde::{Deserialize, Serialize};

use crate::conditions::Conditions;
use crate::render::ROAD_SHADE;
use crate::rng::Rng;
use crate::scene::{CameraSpec, Scene, SceneVehicle};

/// What traffic to make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrafficConfig {
    /// Number of lanes.
    pub lanes: u8,
    /// Lane width, metres.
    pub lane_width_m: f64,
    /// Desired speed per lane (lane 1 first), m/s.
    pub speeds_m_s: Vec<f64>,
    /// Flow per lane, vehicles per hour.
    pub flows_veh_h: Vec<f64>,
    /// Stop-and-go: every `period` seconds lane 1 is stopped for `red` seconds at `position_m`.
    pub stop_and_go: Option<StopAndGo>,
    /// One vehicle stalls: (time it starts braking, lane).
    pub stall: Option<(f64, u8)>,
    /// Share of vehicles painted close to the road's grey.
    pub low_contrast_share: f64,
}

/// A signal that stops lane 1 now and then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopAndGo {
    /// Where it stands along the stretch, metres.
    pub position_m: f64,
    /// Cycle length, seconds.
    pub period_s: f64,
    /// Red time per cycle, seconds.
    pub red_s: f64,
}

impl TrafficConfig {
    /// Three lanes of free-flowing traffic, the given conditions' paint, a stall at `stall_s`.
    pub fn three_lanes(conditions: &Conditions, stop_and_go: bool, stall_s: Option<f64>) -> Self {
        Self {
            lanes: 3,
            lane_width_m: 3.5,
            speeds_m_s: vec![24.0, 28.0, 32.0],
            flows_veh_h: vec![900.0, 800.0, 600.0],
            stop_and_go: stop_and_go.then_some(StopAndGo { position_m: 200.0, period_s: 60.0, red_s: 6.0 }),
            stall: stall_s.map(|t| (t, 2)),
            low_contrast_share: conditions.low_contrast_share,
        }
    }
}

#[derive(Debug, Clone)]
struct Vehicle {
    v: SceneVehicle,
    speed: f64,
    desired: f64,
    target_lane: u8,
    stalling: bool,
    brake: f64,
}

/// The traffic's state.
#[derive(Debug, Clone)]
pub struct Traffic {
    config: TrafficConfig,
    camera: CameraSpec,
    rng: Rng,
    vehicles: Vec<Vehicle>,
    next_id: u64,
    next_arrival: Vec<f64>,
    time_s: f64,
    /// When the stalled vehicle came to a standstill: (time, lane, rear position).
    pub stalled_at: Option<(f64, u8, f64)>,
}

const SPAWN_M: f64 = -60.0;
/// Where (front bumper, along the stretch) the stalling vehicle aims to stop, metres.
pub const STALL_M: f64 = 80.0;

impl Traffic {
    /// Empty road at time 0.
    pub fn new(config: TrafficConfig, camera: CameraSpec, seed: u64) -> Self {
        let mut rng = Rng::stream(seed, 0x7AFF1C);
        let next_arrival = config.flows_veh_h.iter().map(|&f| rng.range(0.0, 3600.0 / f.max(1.0))).collect();
        Self { config, camera, rng, vehicles: Vec::new(), next_id: 1, next_arrival, time_s: 0.0, stalled_at: None }
    }

    /// World time.
    pub fn time_s(&self) -> f64 {
        self.time_s
    }

    /// The current scene.
    pub fn scene(&self) -> Scene {
        let mut vehicles: Vec<SceneVehicle> = self.vehicles.iter().map(|v| v.v.clone()).collect();
        vehicles.sort_by_key(|v| v.id);
        Scene {
            time_s: self.time_s,
            camera: self.camera.clone(),
            lanes: self.config.lanes,
            lane_width_m: self.config.lane_width_m,
            vehicles,
        }
    }

    /// Front positions of every vehicle, by id (for counting crossings).
    pub fn fronts(&self) -> Vec<(u64, u8, f64)> {
        self.vehicles.iter().map(|v| (v.v.id, v.v.lane, v.v.position_m)).collect()
    }

    fn new_vehicle(&mut self, lane: u8) -> Vehicle {
        let r = &mut self.rng;
        let kind = r.unit();
        let (l, w, h) = if kind < 0.8 {
            (r.range(4.0, 4.9), r.range(1.7, 1.9), r.range(1.4, 1.6))
        } else if kind < 0.92 {
            (r.range(5.2, 6.0), 2.0, r.range(2.0, 2.4))
        } else {
            (r.range(10.0, 14.0), 2.5, r.range(3.3, 3.8))
        };
        let shade = if r.chance(self.config.low_contrast_share) {
            let d = r.range(0.06, 0.12);
            if r.chance(0.5) { ROAD_SHADE + d } else { ROAD_SHADE - d }
        } else {
            let d = r.range(0.18, 0.5);
            if r.chance(0.5) { (ROAD_SHADE + d).min(0.95) } else { (ROAD_SHADE - d).max(0.04) }
        };
        let desired = self.config.speeds_m_s[lane as usize - 1] * r.range(0.9, 1.1);
        let id = self.next_id;
        self.next_id += 1;
        let v = SceneVehicle {
            id,
            lane,
            offset_m: 0.0,
            position_m: SPAWN_M,
            length_m: l,
            width_m: w,
            height_m: h,
            shade,
            stalled: false,
        };
        Vehicle { v, speed: desired, desired, target_lane: lane, stalling: false, brake: 0.0 }
    }

    /// The nearest vehicle ahead of `i` that occupies `lane`: (gap, its speed).
    fn leader(&self, i: usize, lane: u8) -> Option<(f64, f64)> {
        let me = &self.vehicles[i];
        self.vehicles
            .iter()
            .enumerate()
            .filter(|&(j, o)| j != i && (o.v.lane == lane || o.target_lane == lane) && o.v.position_m > me.v.position_m)
            .map(|(_, o)| (o.v.position_m - o.v.length_m - me.v.position_m, o.speed))
            .min_by(|a, b| a.0.total_cmp(&b.0))
    }

    fn room_in(&self, i: usize, lane: u8) -> bool {
        let me = &self.vehicles[i].v;
        self.vehicles.iter().enumerate().all(|(j, o)| {
            j == i
                || (o.v.lane != lane && o.target_lane != lane)
                || o.v.position_m < me.position_m - me.length_m - 25.0
                || o.v.position_m - o.v.length_m > me.position_m + 15.0
        })
    }

    /// Advances the traffic by `dt` seconds.
    pub fn step(&mut self, dt: f64) {
        let sub = (dt / 0.1).ceil().max(1.0) as usize;
        for _ in 0..sub {
            self.substep(dt / sub as f64);
        }
    }

    fn substep(&mut self, dt: f64) {
        let t = self.time_s;
        // Arrivals.
        for lane in 1..=self.config.lanes {
            let k = lane as usize - 1;
            if t >= self.next_arrival[k] {
                let blocked = self.vehicles.iter().any(|o| {
                    (o.v.lane == lane || o.target_lane == lane) && o.v.position_m - o.v.length_m < SPAWN_M + 25.0
                });
                if !blocked {
                    let v = self.new_vehicle(lane);
                    self.vehicles.push(v);
                    let rate = self.config.flows_veh_h[k].max(1.0) / 3600.0;
                    let gap = -(1.0 - self.rng.unit()).max(1e-9).ln() / rate;
                    self.next_arrival[k] = t + gap.max(1.2);
                }
            }
        }
        // The stall begins.
        if let Some((ts, lane)) = self.config.stall
            && t >= ts
            && !self.vehicles.iter().any(|v| v.stalling)
            && self.stalled_at.is_none()
            && let Some(v) = self
                .vehicles
                .iter_mut()
                .filter(|v| v.v.lane == lane && v.v.position_m > 0.0 && v.v.position_m < STALL_M - 30.0)
                .max_by(|a, b| a.v.position_m.total_cmp(&b.v.position_m))
        {
            v.stalling = true;
            v.brake = (v.speed * v.speed / (2.0 * (STALL_M - v.v.position_m))).min(8.0);
        }
        let red = self.config.stop_and_go.as_ref().is_some_and(|s| (t % s.period_s) < s.red_s);
        // Accelerations (IDM), then lane changes, then motion.
        let mut acc = vec![0.0; self.vehicles.len()];
        for i in 0..self.vehicles.len() {
            let me = &self.vehicles[i];
            let v0 = if me.stalling { 0.0 } else { me.desired };
            let mut a = if me.stalling { -me.brake } else { 1.5 * (1.0 - (me.speed / v0.max(0.1)).powi(4)) };
            let mut lead = self.leader(i, me.v.lane);
            if me.target_lane != me.v.lane {
                let other = self.leader(i, me.target_lane);
                if other.is_some_and(|o| lead.is_none_or(|l| o.0 < l.0)) {
                    lead = other;
                }
            }
            if red
                && me.v.lane == 1
                && let Some(s) = &self.config.stop_and_go
                && me.v.position_m < s.position_m
            {
                let g = s.position_m - me.v.position_m;
                if lead.is_none_or(|l| g < l.0) {
                    lead = Some((g, 0.0));
                }
            }
            if let Some((gap, vl)) = lead
                && !me.stalling
            {
                let s_star = 2.0 + me.speed * 1.3 + me.speed * (me.speed - vl) / (2.0 * (1.5f64 * 2.0).sqrt());
                a -= 1.5 * (s_star.max(0.0) / gap.max(0.1)).powi(2);
            }
            acc[i] = a.max(-8.0);
        }
        let stalled_pos = self.vehicles.iter().find(|v| v.stalling).map(|v| (v.v.lane, v.v.position_m));
        for i in 0..self.vehicles.len() {
            let me = &self.vehicles[i];
            if let Some((lane, pos)) = stalled_pos
                && me.v.lane == lane
                && me.target_lane == lane
                && !me.stalling
                && me.v.position_m < pos
                && pos - me.v.position_m < 150.0
            {
                let choices = [lane + 1, lane.saturating_sub(1)];
                if let Some(&to) = choices.iter().find(|&&l| l >= 1 && l <= self.config.lanes && self.room_in(i, l)) {
                    self.vehicles[i].target_lane = to;
                }
            }
        }
        let w = self.config.lane_width_m;
        for (v, a) in self.vehicles.iter_mut().zip(acc) {
            v.speed = (v.speed + a * dt).max(0.0);
            v.v.position_m += v.speed * dt;
            if v.target_lane != v.v.lane || v.v.offset_m != 0.0 {
                // Lateral: offset is from the current lane's centre, positive left (higher lanes).
                let dir = (v.target_lane as f64 - v.v.lane as f64).signum();
                v.v.offset_m += dir * 1.2 * dt;
                if v.v.offset_m.abs() >= w / 2.0 {
                    v.v.lane = v.target_lane;
                    v.v.offset_m -= dir * w;
                }
                if v.v.lane == v.target_lane && v.v.offset_m.abs() <= 1.2 * dt {
                    v.v.offset_m = 0.0;
                }
            }
            if v.stalling && v.speed == 0.0 && !v.v.stalled {
                v.v.stalled = true;
                self.stalled_at = Some((t + dt, v.v.lane, v.v.position_m - v.v.length_m));
            }
        }
        let end = self.camera.stretch_length_m + 30.0;
        self.vehicles.retain(|v| v.v.position_m - v.v.length_m < end);
        self.time_s = t + dt;
    }
}
