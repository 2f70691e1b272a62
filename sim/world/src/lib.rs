//! The highway and the airport that Skyway's controllers control: a pure, seeded, tick-based
//! world. No clock, no sockets, no threads, no randomness but seeded streams, no iteration over
//! hash maps — the same scenario and seed give the same run, byte for byte.
//!
//! Shaped like etcd's raft: [`World::step`] takes the commands the fenced actuators accepted
//! since the last tick and returns what happened (events, sensor summaries, violations). The
//! shells that run it in real time, publish its summaries and feed it commands live in
//! `skyway-sim`; nothing here knows of them.
//!
//! - [`scenario`]: what a world is made of (TOML), validated, and the shipped scenarios.
//! - [`highway`]: a multi-lane road: IDM car following, MOBIL lane changes, ramps, demand,
//!   incidents, lane closures, speed limits, induction loops.
//! - [`airport`]: runways as exclusive resources, arrivals, departures, crossings, go-arounds,
//!   and the incursion counter.
//! - [`command`]: what an actuator's accepted action means to the world, parsed and checked.
//! - [`summary`]: the small per-period sensor summaries the world publishes.
//! - [`policy`]: the controllers' decisions, pure: summaries in, a command out.
//! - [`world`]: the two together, stepped one tick at a time.
//! - [`rng`]: the seeded random streams.

pub mod airport;
pub mod command;
pub mod credibility;
pub mod error;
pub mod highway;
pub mod policy;
pub mod rng;
pub mod scenario;
pub mod summary;
pub mod world;

pub use command::{Applied, Target};
pub use error::{Refusal, ScenarioError};
pub use scenario::Scenario;
pub use world::{Event, Outputs, World};
