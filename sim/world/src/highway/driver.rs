//! Drivers and the two models they follow: the Intelligent Driver Model (Treiber, Hennecke and
//! Helbing 2000) for the pedal, MOBIL (Kesting, Treiber and Helbing 2007) for the indicator.
//!
//! Each vehicle draws its own [`Driver`] from the `Drivers` stream when it arrives: desired
//! speed, time headway, maximum acceleration, comfortable deceleration, minimum gap, politeness
//! and how far above a posted limit it drives. Trucks are longer, slower and keep longer gaps.
//!
//! The means are chosen so that the road is credible against the literature (see
//! [`crate::credibility`]): a lane carries about 2,000 veh/h, a standing queue holds about 140
//! veh/km, congestion waves travel upstream at 15–20 km/h, and a single-lane ring is stable at
//! low densities and unstable (stop-and-go) in the medium range, as IDM is with `a ≈ 1 m/s²`.
//!
//! Caveats: the IDM's free-road term is bounded below by `-b`, so a vehicle entering a segment
//! with a lower limit slows comfortably instead of braking at `a·(1-(v/v0)⁴)`; and the total
//! deceleration is bounded by [`DECEL_MAX`], what tyres can do.

use rand_chacha::ChaCha8Rng;

use crate::rng::{normal, uniform};

/// The strongest deceleration any vehicle can apply, m/s².
pub const DECEL_MAX: f64 = 9.0;
/// MOBIL's safety limit: a lane change may not make the new follower brake harder, m/s².
pub const B_SAFE: f64 = 4.0;
/// MOBIL's threshold: a lane change must gain at least this much, m/s².
pub const A_THRESHOLD: f64 = 0.1;

/// One driver's parameters (and its vehicle's length).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Driver {
    /// A truck (else a car).
    pub truck: bool,
    /// Vehicle length, metres.
    pub length_m: f64,
    /// Desired speed on a free road, m/s.
    pub v0: f64,
    /// Desired time headway, seconds.
    pub t: f64,
    /// Maximum acceleration, m/s².
    pub a: f64,
    /// Comfortable deceleration, m/s².
    pub b: f64,
    /// Minimum gap at standstill, metres.
    pub s0: f64,
    /// MOBIL politeness, 0 (selfish) ..= 1.
    pub politeness: f64,
    /// Speed kept relative to a posted limit (1.05: 5 % above).
    pub compliance: f64,
    /// `2·√(a·b)`, for the IDM's dynamic term.
    two_sqrt_ab: f64,
}

impl Driver {
    /// A driver from explicit means (no spread): the homogeneous driver of stability tests.
    pub fn mean(truck: bool) -> Self {
        let (length_m, v0, t, a, b, s0, politeness) =
            if truck { (12.0, 24.0, 1.6, 0.7, 1.5, 2.5, 0.5) } else { (4.5, 33.3, 1.3, 1.0, 1.5, 2.0, 0.3) };
        Self::new(truck, length_m, v0, t, a, b, s0, politeness, 1.05)
    }

    #[allow(clippy::too_many_arguments)]
    fn new(truck: bool, length_m: f64, v0: f64, t: f64, a: f64, b: f64, s0: f64, politeness: f64, c: f64) -> Self {
        Self { truck, length_m, v0, t, a, b, s0, politeness, compliance: c, two_sqrt_ab: 2.0 * (a * b).sqrt() }
    }

    /// A random driver: a truck with probability `truck_share`, its parameters spread around the
    /// means by `spread` (1 the default spread).
    pub fn draw(rng: &mut ChaCha8Rng, truck_share: f64, spread: f64) -> Self {
        let truck = uniform(rng) < truck_share;
        let m = Self::mean(truck);
        let mut n = |mean: f64, sd: f64| normal(rng, mean, sd * spread);
        let v0 = n(m.v0, if truck { 1.0 } else { 3.0 });
        let t = n(m.t, 0.12);
        let a = n(m.a, 0.1);
        let b = n(m.b, 0.15);
        let s0 = n(m.s0, 0.2);
        let politeness = n(m.politeness, 0.1).clamp(0.0, 1.0);
        let compliance = n(m.compliance, 0.04);
        Self::new(truck, m.length_m, v0, t, a, b, s0, politeness, compliance)
    }

    /// The IDM acceleration at speed `v` with desired speed `v0`, behind a leader `gap` metres
    /// ahead (rear bumper to front bumper; infinite for none) that is `dv` m/s slower.
    #[inline]
    pub fn idm(&self, v0: f64, v: f64, gap: f64, dv: f64) -> f64 {
        let r = v / v0;
        let r2 = r * r;
        let free = (self.a * (1.0 - r2 * r2)).max(-self.b);
        if gap.is_infinite() {
            return free;
        }
        let s_star = self.s0 + (v * self.t + v * dv / self.two_sqrt_ab).max(0.0);
        let q = s_star / gap.max(0.01);
        (free - self.a * q * q).max(-DECEL_MAX)
    }

    /// The speed at which this driver keeps a steady `gap` (the IDM's equilibrium), m/s.
    pub fn equilibrium_speed(&self, v0: f64, gap: f64) -> f64 {
        let (mut lo, mut hi) = (0.0, v0);
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if self.idm(v0, mid, gap, 0.0) > 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }
}

/// MOBIL's incentive for a lane change: the driver's own gain plus its politeness times the
/// gains of the two followers concerned (the new one loses, the old one usually gains), plus a
/// `bias` (towards an exit, away from a closed lane). Change if it exceeds [`A_THRESHOLD`] and
/// the new follower's new acceleration is above `-B_SAFE`.
#[inline]
pub fn mobil_incentive(
    d: &Driver,
    own: (f64, f64),
    new_follower: (f64, f64),
    old_follower: (f64, f64),
    bias: f64,
) -> f64 {
    (own.1 - own.0) + d.politeness * ((new_follower.1 - new_follower.0) + (old_follower.1 - old_follower.0)) + bias
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idm_brakes_behind_a_stopped_leader_and_cruises_alone() {
        let d = Driver::mean(false);
        assert!(d.idm(d.v0, d.v0, f64::INFINITY, 0.0).abs() < 1e-9);
        assert!(d.idm(d.v0, 0.0, f64::INFINITY, 0.0) > 0.99);
        assert!(d.idm(d.v0, 30.0, 50.0, 30.0) < -4.0);
        assert!(d.idm(15.0, 30.0, f64::INFINITY, 0.0) >= -d.b - 1e-9, "a lower limit is approached comfortably");
        let v = d.equilibrium_speed(d.v0, 30.0);
        assert!(v > 10.0 && v < 25.0, "{v}");
    }
}
