//! The `skyway` binary's library: the command line, the world run live behind its actuator,
//! the rig that starts and faults real processes, the failover drills and the lessons. The
//! world itself is the pure crate `skyway-world` (`sim/world/`).
//!
//! - [`cli`]: one module per subcommand.
//! - [`live`]: the world in real time: actuator, published summaries, the controllers' policies.
//! - [`rig`]: coordinator clusters (processes or in-process), fault proxies.
//! - [`dashboard`]: the live web dashboard: recorded history, pure view model, server, page.
//! - [`demo`]: `skyway demo`, the main job: everything at once, with a tour of faults.
//! - [`drill`]: failover drills with real kills, pauses and partitions, and the chaos drill.
//! - [`lincheck`]: the linearizability checker the chaos drill and the end-to-end tests judge
//!   recorded histories with.
//! - [`lesson`]: lessons a student runs and measures.

/// The commit this binary was built from (12 hex digits), or `unknown` outside a git checkout.
pub const BUILD_COMMIT: &str = env!("SKYWAY_COMMIT");

/// The build's version and commit, as `skyway --version` and the `Status` RPC report them.
pub const BUILD_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("SKYWAY_COMMIT"), ")");

pub mod cli;
pub mod collect;
pub mod dashboard;
pub mod demo;
pub mod drill;
pub mod lesson;
pub mod lincheck;
pub mod live;
pub mod rig;
