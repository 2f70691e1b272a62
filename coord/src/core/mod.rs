//! The pure core of the coordination service: paths, nodes, commands, the state machine and
//! the leader's lease table. Nothing here does I/O, reads a clock or draws a random number.

pub mod acl;
pub mod clients;
pub mod command;
pub mod event;
pub mod history;
pub mod invariants;
pub mod leases;
pub mod membership;
pub mod namespace;
pub mod node;
pub mod path;
pub mod state;
pub mod types;

#[doc(hidden)]
pub mod golden;
#[cfg(test)]
mod script_tests;
#[cfg(test)]
mod state_tests;
