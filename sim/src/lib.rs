//! The `skyway` binary's library: its command line and the pieces the end-to-end tests reuse
//! (a launcher for real coordinator processes on loopback). Later: the highway and airport
//! simulator, the failover drills, the lessons and the dashboard.

pub mod cli;
pub mod cluster;
pub mod drill;
pub mod embedded;
pub mod lesson;
pub mod netfault;
