//! Seeded random streams, one per purpose, so that changing how often one part draws (more
//! drivers, a new incident) does not shift what another part draws: the demand of a run with an
//! extra incident is the same demand.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What a stream is for. The number is the ChaCha stream id, so it must never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stream {
    /// Vehicle arrivals at the highway's entries.
    Demand = 1,
    /// Per-driver parameters and vehicle kinds.
    Drivers = 2,
    /// Random incidents (stalls).
    Incidents = 3,
    /// Aircraft arrivals.
    Arrivals = 4,
    /// Departures joining the holding point.
    Departures = 5,
    /// Ground vehicles asking to cross.
    Crossings = 6,
}

/// The generator of `stream` for a run with `seed`.
pub fn stream(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream as u64);
    rng
}

/// A uniform draw in [0, 1).
pub fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    rng.random::<f64>()
}

/// An exponentially distributed draw with the given rate (events per unit); infinite for a
/// rate of zero.
pub fn exponential(rng: &mut ChaCha8Rng, rate: f64) -> f64 {
    if rate <= 0.0 {
        return f64::INFINITY;
    }
    // 1 - U is in (0, 1], so the logarithm is finite.
    -(1.0 - uniform(rng)).ln() / rate
}

/// A normally distributed draw (Box–Muller), clamped to `mean ± 3 sd` so that no driver is
/// absurd.
pub fn normal(rng: &mut ChaCha8Rng, mean: f64, sd: f64) -> f64 {
    let u1 = 1.0 - uniform(rng);
    let u2 = uniform(rng);
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    mean + sd * z.clamp(-3.0, 3.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let a: Vec<f64> = (0..4).map(|_| uniform(&mut stream(7, Stream::Demand))).collect();
        let mut s = stream(7, Stream::Demand);
        let b: Vec<f64> = (0..4).map(|_| uniform(&mut s)).collect();
        assert_eq!(a[0], b[0]);
        let mut d = stream(7, Stream::Drivers);
        assert_ne!(uniform(&mut d), b[0], "two purposes must not share a stream");
    }

    #[test]
    fn exponential_has_its_mean() {
        let mut s = stream(1, Stream::Arrivals);
        let n = 20_000;
        let mean = (0..n).map(|_| exponential(&mut s, 2.0)).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
        assert!(exponential(&mut s, 0.0).is_infinite());
    }
}
