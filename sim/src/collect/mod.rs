//! The collector's processes around its pure core (`skyway-collector`): cameras that render
//! frames from the live world's scene feed and push them to blob storage, recording only the
//! reference in the coordinator; analyzers that read frames by that reference and write results
//! guarded by their role; the janitor that keeps blob storage within a retention window.
//!
//! - [`camera`]: `skyway camera`, one process per camera.
//! - [`analyzer`]: `skyway analyzer`, one process serving several cameras, one primary each.
//! - [`janitor`]: the retention role, run by camera processes (one primary among them).
//! - [`stats`]: the counters each process reports, and the percentiles of lag.
//! - [`metrics`]: the same counters as Prometheus metrics, with health endpoints.
//! - [`run`]: starting cameras and analyzers as processes (for `skyway collect` and the demo).
//!
//! Paths, keys and record formats live in `skyway_collector::record`, for every reader.

pub mod analyzer;
pub mod camera;
pub mod janitor;
pub mod metrics;
pub mod run;
pub mod stats;
