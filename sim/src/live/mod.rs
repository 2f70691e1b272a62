//! The world, live: the pure [`skyway_world::World`] run in real time (or faster) behind a fenced
//! actuator, its sensor summaries published to the coordinator, its state shared with whoever
//! reports on it (the demo's terminal summary, later the dashboard).
//!
//! The loop is closed here: controllers read `/world/…` summaries from the coordinator, their
//! primaries send fenced commands to the actuator this module serves, the actuator records each
//! decision durably and hands the accepted ones to the world, which obeys them at its next tick.
//!
//! - [`paths`]: where in the coordinator the world publishes.
//! - [`runner`]: the real-time loop around the world and its in-process actuator.
//! - [`publisher`]: writes the latest summaries to the coordinator without holding up the world.
//! - [`commander`]: the controllers' side: the world's pure policies behind the controller's
//!   generic [`Commander`](skyway_controller::commander::Commander).
//! - [`sightings`]: what the controllers take from the cameras' analyses (pure).
//! - [`cameras`]: where the cameras stand and what each sees (the world as `collector::Scene`).
//! - [`feed`]: serves those scenes to camera processes over gRPC.
//! - [`snapshot`]: what the world looks like now, for reports: counters, primaries, takeovers.

pub mod cameras;
pub mod commander;
pub mod feed;
pub mod paths;
pub mod publisher;
pub mod runner;
pub mod sightings;
pub mod snapshot;
