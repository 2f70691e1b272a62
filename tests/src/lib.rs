//! End-to-end tests for Skyway: real `skyway` processes on 127.0.0.1, faults injected from
//! outside (SIGKILL, SIGSTOP), and checkers that judge recorded histories. The tests live in
//! `tests/tests/`; this library holds what they share.

pub mod harness;
pub mod lincheck;
pub mod workload;
