//! The live dashboard: a web page of the highway, the airport, the roles and the logs, with
//! fault buttons, for a lecture hall's projector.
//!
//! - [`history`]: the recorded event history (world frames, actuator decisions, faults,
//!   coordinator samples, the membership log, the lesson's results), sequence-numbered.
//! - [`model`]: the pure view model computed from it (golden-tested); the page only draws it.
//! - [`feed`]: the tasks that fill the history from a live system.
//! - [`server`]: axum: the page, `/events` (SSE), `/api/state`, `/api/faults`.
//!
//! The page itself (`page/`) is plain HTML, CSS and JavaScript drawing SVG, embedded in the
//! binary: no build step, nothing to install.

pub mod feed;
pub mod history;
pub mod model;
pub mod server;

#[cfg(test)]
mod golden;
