//! Demand: seeded arrivals at each entry (the main entry and the on-ramps), following a time
//! profile, queued until the road has a safe gap.
//!
//! Arrivals are a non-homogeneous Poisson process drawn by time change: each entry holds an
//! exponential budget with mean 1; every tick spends `rate · dt` of it, and each time it runs out
//! a vehicle arrives and a new budget is drawn. All entries draw from the `Demand` stream in
//! entry order; drivers (and whether they will take an off-ramp) come from the `Drivers` stream,
//! so that a change in driver behaviour does not change when vehicles arrive.

use std::collections::VecDeque;

use rand_chacha::ChaCha8Rng;

use super::driver::Driver;
use super::spec::{Profile, rate_at};
use crate::rng::{exponential, uniform};

/// The most vehicles an entry holds waiting; arrivals beyond are turned away (and counted).
pub const QUEUE_MAX: usize = 5_000;

/// A vehicle waiting at an entry.
#[derive(Debug, Clone, Copy)]
pub struct Waiting {
    /// Its driver.
    pub driver: Driver,
    /// The off-ramp it will take, if any (index into the road's off-ramps).
    pub exit: Option<u16>,
}

/// One entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Where its vehicles join, metres from the road's start.
    pub position_m: f64,
    /// Whether it joins the rightmost lane only (an on-ramp) or any lane (the main entry).
    pub ramp: bool,
    profile: Profile,
    budget: f64,
    /// Vehicles waiting for a gap, first come first.
    pub queue: VecDeque<Waiting>,
    /// Arrivals turned away because the queue was full.
    pub turned_away: u64,
}

impl Entry {
    /// An entry at `position_m` with its arrival profile.
    pub fn new(position_m: f64, ramp: bool, profile: Profile, rng: &mut ChaCha8Rng) -> Self {
        Self { position_m, ramp, profile, budget: exponential(rng, 1.0), queue: VecDeque::new(), turned_away: 0 }
    }

    /// Draws this tick's arrivals (the tick starts at `t_s`), queueing their drivers.
    #[allow(clippy::too_many_arguments)]
    pub fn arrive(
        &mut self,
        t_s: f64,
        dt_s: f64,
        demand: &mut ChaCha8Rng,
        drivers: &mut ChaCha8Rng,
        truck_share: f64,
        spread: f64,
        off_ramps: &[(f64, f64)],
    ) {
        let rate = rate_at(&self.profile, t_s / 60.0) / 3600.0;
        self.budget -= rate * dt_s;
        while self.budget <= 0.0 {
            self.budget += exponential(demand, 1.0);
            let driver = Driver::draw(drivers, truck_share, spread);
            let mut exit = None;
            for (i, (x, share)) in off_ramps.iter().enumerate() {
                if *x > self.position_m + 300.0 && uniform(drivers) < *share {
                    exit = Some(i as u16);
                    break;
                }
            }
            if self.queue.len() < QUEUE_MAX {
                self.queue.push_back(Waiting { driver, exit });
            } else {
                self.turned_away += 1;
            }
        }
    }

    /// Feeds the entry's state into a digest.
    pub fn digest(&self, hasher: &mut sha2::Sha256) {
        use sha2::Digest;
        hasher.update(self.budget.to_le_bytes());
        hasher.update((self.queue.len() as u64).to_le_bytes());
        hasher.update(self.turned_away.to_le_bytes());
    }
}
