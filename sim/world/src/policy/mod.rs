//! The controllers' decisions, pure: what a segment's or a runway's primary commands, given the
//! summaries the world published. The controller processes run these; they stay in the world's
//! crate because what "close lane 2" or "clear to land" means is the world's business, not the
//! generic controller's.
//!
//! - [`segment`]: speed-limit harmonisation and closing the lane of a stalled vehicle.
//! - [`camera`]: congestion levels from a camera's analysis, for the segment policy's limits.
//! - [`tower`]: runway clearances, one at a time, with the handover protocol.
//! - [`operator`]: closures an operator ordered, which a primary carries out as its own
//!   fenced commands.
//! - [`autopilot`]: every role decided in-process, for runs without controllers' processes.

pub mod autopilot;
pub mod camera;
pub mod operator;
pub mod segment;
pub mod tower;
