//! Skyway's controllers: processes that hold roles (`runway/07`, `segment/12`) through the
//! coordinator's election recipe, act only while primary, and stamp every command with the
//! role's fencing token so that actuators refuse a stale primary.
//!
//! - [`fencing`]: the actuator's rule, pure.
//! - [`actuator`]: an actuator with a durable floor and an audit trail, served over gRPC.
//! - [`audit`]: the audit trail: checksummed lines in bounded segments, read in pages.
//! - [`role`]: the role logic, pure: events in, actions out.
//! - [`controller`]: the running controller: session, elections, actuator.
//! - [`commander`]: what a primary sends — the controller's user decides, the controller stamps.
//! - [`health`]: is a controller doing its job? Pure judgement over its status.
//! - [`link`]: how a controller reaches its actuator: gRPC to a process, or in-process calls.
//! - [`balance`]: spreading roles over controllers, pure.
//! - [`error`]: the crate's one error type, and its gRPC statuses.

pub mod actuator;
pub mod audit;
pub mod balance;
pub mod commander;
pub mod controller;
pub mod error;
pub mod fencing;
pub mod health;
pub mod link;
pub mod metrics;
pub mod role;

pub use error::{Error, Result};

/// The actuator protocol (generated from `proto/actuator.proto`).
#[allow(missing_docs, clippy::all)]
pub mod proto {
    tonic::include_proto!("skyway.actuator");
}
