//! The policies without processes: every role of a world decided in the same loop that steps
//! it, from the summaries that loop just produced. What `skyway sim run --control` and the live
//! world's warm-up use, so the effect of control is a number without a coordinator — and what
//! the real controllers do, minus the network, the sessions and the elections.
//!
//! It behaves as one controller holding every role under one token: it claims each role first
//! (so the towers' status-first rule sees its claim in the runway summaries), then sends each
//! role's order every `every_ticks` ticks. A real controller that takes over later holds a
//! higher token (a coordinator revision), so the world sees a takeover, not a conflict.

use std::collections::BTreeMap;

use crate::command::{Applied, CLAIM, Target};
use crate::policy::segment::SegmentPolicy;
use crate::policy::tower::TowerPolicy;
use crate::summary::{RunwaySummary, SegmentSummary};
use crate::world::Outputs;

/// Every role of a world, decided in-process.
pub struct Autopilot {
    controller: String,
    token: u64,
    every_ticks: u64,
    roles: Vec<String>,
    claimed: bool,
    segments: BTreeMap<u32, SegmentPolicy>,
    towers: BTreeMap<String, TowerPolicy>,
    seen_segments: BTreeMap<u32, SegmentSummary>,
    seen_runways: BTreeMap<String, RunwaySummary>,
}

impl Autopilot {
    /// An autopilot for `roles` (from [`crate::World::roles`]) under `token`, deciding every
    /// `every_ticks` ticks.
    pub fn new(roles: &[String], controller: &str, token: u64, every_ticks: u64) -> Self {
        let mut segments = BTreeMap::new();
        let mut towers = BTreeMap::new();
        for role in roles {
            match Target::of_role(role) {
                Ok(Target::Segment(n)) => {
                    segments.insert(n, SegmentPolicy::new(n));
                }
                Ok(Target::Runway(id)) => {
                    towers.insert(id.clone(), TowerPolicy::new(id, token));
                }
                Err(_) => {}
            }
        }
        Self {
            controller: controller.to_string(),
            token,
            every_ticks: every_ticks.max(1),
            roles: roles.to_vec(),
            claimed: false,
            segments,
            towers,
            seen_segments: BTreeMap::new(),
            seen_runways: BTreeMap::new(),
        }
    }

    /// Takes in what a tick produced (the summaries it reads next).
    pub fn observe(&mut self, outputs: &Outputs) {
        for s in &outputs.segments {
            self.seen_segments.insert(s.segment, s.clone());
        }
        for r in &outputs.runways {
            self.seen_runways.insert(r.runway.clone(), r.clone());
        }
    }

    /// The commands to apply at `tick` (the next tick's number): claims first, then each role's
    /// order every `every_ticks` ticks.
    pub fn commands(&mut self, tick: u64) -> Vec<Applied> {
        if !self.claimed {
            self.claimed = true;
            return self.roles.iter().map(|role| self.applied(role, CLAIM.to_string())).collect();
        }
        if !tick.is_multiple_of(self.every_ticks) {
            return Vec::new();
        }
        let mut commands = Vec::new();
        for (n, policy) in &mut self.segments {
            // Before a segment's first summary there is nothing to decide.
            if let Some(own) = self.seen_segments.get(n) {
                let downstream: Vec<&SegmentSummary> = self.seen_segments.get(&(n + 1)).into_iter().collect();
                let order = policy.decide(own, &downstream).to_string();
                commands.push((Target::Segment(*n).role(), order));
            }
        }
        for (id, policy) in &mut self.towers {
            let order = policy.decide(self.seen_runways.get(id));
            commands.push((Target::Runway(id.clone()).role(), order));
        }
        commands.into_iter().map(|(role, action)| self.applied(&role, action)).collect()
    }

    fn applied(&self, role: &str, action: String) -> Applied {
        Applied { role: role.to_string(), controller: self.controller.clone(), token: self.token, action }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Scenario, World};

    #[test]
    fn an_autopilot_lands_aircraft_without_incursions_or_conflicts() {
        let mut world = World::new(&Scenario::builtin("highway").unwrap(), 1).unwrap();
        let mut pilot = Autopilot::new(&world.roles(), "autopilot", 1, 4);
        for _ in 0..(30 * 60 * 4) {
            let commands = pilot.commands(world.tick() + 1);
            let outputs = world.step(&commands);
            pilot.observe(&outputs);
        }
        let stats = world.stats();
        let airport = stats.airport.clone().unwrap();
        assert!(airport.landed > 10, "{airport:?}");
        assert_eq!(airport.incursions, 0);
        assert_eq!(stats.conflicts, 0);
        assert!(stats.commands_obeyed > 1000, "{stats:?}");
        assert_eq!(stats.commands_refused, 0, "{stats:?}");
    }
}
