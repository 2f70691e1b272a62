//! End-to-end tests for Skyway: real `skyway` processes on 127.0.0.1, faults injected from
//! outside (SIGKILL, SIGSTOP, link proxies), a real S3-protocol server, and checkers that judge
//! recorded histories. The tests live in `tests/tests/`; this library holds what they share.

pub mod cdp;
pub mod harness;
pub mod metrics;
pub mod s3server;
pub mod workload;

/// The linearizability checker lives with the drills that also use it (`skyway drill --scenario chaos`).
pub use skyway_sim::lincheck;
