//! The controllers' side of the loop: the world's pure policies ([`skyway_world::policy`])
//! behind the controller's generic [`Commander`]. A segment's primary reads its own segment's
//! loop summary and the next one downstream; a runway's primary reads the runway's state.

use bytes::Bytes;
use skyway_controller::commander::{Commander, RoleCommander};

use super::paths;

/// Segment and tower decisions from the summaries under `/world`.
#[derive(Debug, Default, Clone, Copy)]
pub struct WorldCommander;

impl Commander for WorldCommander {
    fn inputs(&self, role: &str) -> Vec<String> {
        match skyway_world::Target::of_role(role) {
            Ok(skyway_world::Target::Segment(n)) => vec![paths::segment(n), paths::segment(n + 1)],
            Ok(skyway_world::Target::Runway(id)) => vec![paths::runway(&id)],
            Err(_) => Vec::new(),
        }
    }

    fn start(&self, _role: &str, _token: u64) -> Box<dyn RoleCommander> {
        Box::new(Placeholder)
    }
}

struct Placeholder;

impl RoleCommander for Placeholder {
    fn next(&mut self, _inputs: &[Option<Bytes>]) -> Option<String> {
        None
    }
}
