//! The controllers' side of the loop: the world's pure policies ([`skyway_world::policy`])
//! behind the controller's generic [`Commander`]. A segment's primary reads its own segment's
//! loop summary and the next one downstream; a runway's primary reads the runway's state. Each
//! new term starts a new policy from what it reads: status first, then act.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use skyway_controller::commander::{Commander, RoleCommander};
use skyway_world::Target;
use skyway_world::highway::SegmentOrder;
use skyway_world::policy::segment::SegmentPolicy;
use skyway_world::policy::tower::TowerPolicy;
use skyway_world::summary::{RunwaySummary, SegmentSummary};

use super::paths;

/// Segment and tower decisions from the summaries under `/world`.
#[derive(Debug, Default, Clone, Copy)]
pub struct WorldCommander;

impl Commander for WorldCommander {
    fn inputs(&self, role: &str) -> Vec<String> {
        match Target::of_role(role) {
            Ok(Target::Segment(n)) => vec![paths::segment(n), paths::segment(n + 1)],
            Ok(Target::Runway(id)) => vec![paths::runway(&id)],
            Err(_) => Vec::new(),
        }
    }

    fn start(&self, role: &str, token: u64) -> Box<dyn RoleCommander> {
        match Target::of_role(role) {
            Ok(Target::Segment(n)) => Box::new(SegmentTerm { policy: SegmentPolicy::new(n) }),
            Ok(Target::Runway(id)) => Box::new(TowerTerm { policy: TowerPolicy::new(id, token) }),
            Err(refusal) => {
                tracing::error!(role, "this role means nothing to the world: {refusal}");
                Box::new(Silent)
            }
        }
    }
}

/// A summary from a node's bytes; a malformed one is treated as missing (and logged), so a
/// primary never acts on what it cannot read.
fn parse<T: DeserializeOwned>(input: Option<&Option<Bytes>>) -> Option<T> {
    let bytes = input?.as_ref()?;
    match serde_json::from_slice(bytes) {
        Ok(value) => Some(value),
        Err(e) => {
            tracing::warn!("ignoring a malformed summary: {e}");
            None
        }
    }
}

struct SegmentTerm {
    policy: SegmentPolicy,
}

impl RoleCommander for SegmentTerm {
    fn next(&mut self, inputs: &[Option<Bytes>]) -> Option<String> {
        let downstream: Vec<SegmentSummary> = parse(inputs.get(1)).into_iter().collect();
        let downstream: Vec<&SegmentSummary> = downstream.iter().collect();
        match parse::<SegmentSummary>(inputs.first()) {
            Some(own) => Some(self.policy.decide(&own, &downstream).to_string()),
            // Before the segment's first loop period ends there is nothing to judge: the road's
            // defaults (nothing can have been changed yet, since every change follows a summary).
            None => Some(SegmentOrder::default().to_string()),
        }
    }
}

struct TowerTerm {
    policy: TowerPolicy,
}

impl RoleCommander for TowerTerm {
    fn next(&mut self, inputs: &[Option<Bytes>]) -> Option<String> {
        let summary: Option<RunwaySummary> = parse(inputs.first());
        Some(self.policy.decide(summary.as_ref()))
    }
}

struct Silent;

impl RoleCommander for Silent {
    fn next(&mut self, _inputs: &[Option<Bytes>]) -> Option<String> {
        None
    }
}
