//! The rig: how Skyway's parts are started, stopped and faulted on one machine — coordinator
//! nodes as real processes ([`cluster`]) or in this process ([`embedded`]), and a TCP proxy that
//! can hold, drop and delay a link's bytes ([`netfault`]). Drills, the demo and the end-to-end
//! tests all use these, so a fault is injected the same way everywhere; benchmarks also count
//! the CPU the processes used ([`cpu`]).

pub mod cluster;
pub mod controller;
pub mod cpu;
pub mod embedded;
pub mod leader;
pub mod netfault;
pub mod process;
