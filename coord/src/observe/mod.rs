//! Observability: what a process tells its operators. Metrics in the Prometheus text format
//! from an explicit registry per process, and health endpoints, served over plain HTTP on a
//! listener of their own (`--metrics-listen`).
//!
//! - [`http`]: the HTTP endpoint (`/metrics`, `/health`, `/livez`, `/readyz`) for any process
//!   that implements [`http::Probe`] — coordinator nodes here, controllers and the collector's
//!   processes in their crates;
//! - [`coord_metrics`]: the coordinator node's metric families;
//! - [`grpc`]: a tower layer counting and timing every gRPC call by method and status code;
//! - `node_probe`: the coordinator node's probe (gauges read at scrape time, the quorum read
//!   behind `/health`, the gRPC health service's status); only with the `server` feature.

pub mod coord_metrics;
pub mod grpc;
pub mod http;
#[cfg(feature = "server")]
pub mod node_probe;

pub use self::coord_metrics::CoordMetrics;
pub use self::http::{Health, Probe, RegistryProbe, serve_http};
