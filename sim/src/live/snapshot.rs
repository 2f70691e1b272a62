//! What the live world looks like now: its counters and latest summaries, and for each role who
//! the actuator obeys, since when, and every takeover with its gap — as seen from the actuator's
//! decisions, which is where "who controls this segment" is decided.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;
use skyway_controller::actuator::CLAIM;
use skyway_controller::proto::AuditEntry;
use skyway_world::airport::Mover;
use skyway_world::highway::{SegmentOrder, VehicleView};
use skyway_world::summary::{RunwaySummary, SegmentSummary};
use skyway_world::world::WorldStats;

use super::publisher::PublishStats;

/// How many recent event lines a snapshot keeps.
pub const RECENT_MAX: usize = 40;

/// One role, as the actuator sees it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RoleView {
    /// The controller whose commands are being obeyed.
    pub primary: Option<String>,
    /// Its fencing token.
    pub token: u64,
    /// Commands accepted for this role.
    pub accepted: u64,
    /// Commands (and claims) refused for stale tokens.
    pub refused: u64,
    /// When the last command was accepted, ms since the Unix epoch.
    pub last_accepted_unix_ms: Option<u64>,
    /// Every change of primary, oldest first.
    pub takeovers: Vec<Takeover>,
}

/// A new primary's first accepted command.
#[derive(Debug, Clone, Serialize)]
pub struct Takeover {
    /// The primary before (None for the first).
    pub from: Option<String>,
    /// The new primary.
    pub to: String,
    /// Its token.
    pub token: u64,
    /// When, ms since the Unix epoch.
    pub at_unix_ms: u64,
    /// From the previous primary's last accepted command to this one, ms: how long the role was
    /// not commanded.
    pub gap_ms: Option<u64>,
}

/// The world now.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    /// The scenario's name.
    pub scenario: String,
    /// The run's seed.
    pub seed: u64,
    /// Simulated seconds per wall second.
    pub speed: f64,
    /// The world's counters (time, ticks, vehicles, landings, incursions, conflicts…).
    pub stats: WorldStats,
    /// The latest loop summary of each segment.
    pub segments: BTreeMap<u32, SegmentSummary>,
    /// The latest state of each runway.
    pub runways: BTreeMap<String, RunwaySummary>,
    /// Each role, from the actuator's decisions.
    pub roles: BTreeMap<String, RoleView>,
    /// Recent events, oldest first, each with its simulated time.
    pub recent: VecDeque<String>,
    /// What the world published to the coordinator.
    pub published: PublishStats,
    /// Share of one core the world's thread used over the last second (stepping the world and
    /// handing summaries to the publisher; the coordinator writes run elsewhere).
    pub world_cpu_share: f64,
    /// Every vehicle on the road now, for the dashboard (not in reports: it is large).
    #[serde(skip)]
    pub vehicles: Vec<VehicleView>,
    /// The order in force on each segment now, upstream first (the summaries say it only once a
    /// period), for the dashboard.
    #[serde(skip)]
    pub orders: Vec<SegmentOrder>,
    /// Every aircraft and ground vehicle at the airport now, for the dashboard.
    #[serde(skip)]
    pub movers: Vec<Mover>,
}

impl Snapshot {
    /// Records an actuator decision.
    pub fn observe(&mut self, entry: &AuditEntry) {
        let role = self.roles.entry(entry.role.clone()).or_default();
        if !entry.accepted {
            role.refused += 1;
            return;
        }
        if entry.action == CLAIM {
            return;
        }
        role.accepted += 1;
        if role.primary.as_deref() != Some(entry.controller.as_str()) || role.token != entry.token {
            let gap_ms = role.last_accepted_unix_ms.map(|last| entry.unix_ms.saturating_sub(last));
            role.takeovers.push(Takeover {
                from: role.primary.clone(),
                to: entry.controller.clone(),
                token: entry.token,
                at_unix_ms: entry.unix_ms,
                gap_ms,
            });
            role.primary = Some(entry.controller.clone());
            role.token = entry.token;
        }
        role.last_accepted_unix_ms = Some(entry.unix_ms);
    }

    /// Keeps an event line.
    pub fn remember(&mut self, line: String) {
        if self.recent.len() == RECENT_MAX {
            self.recent.pop_front();
        }
        self.recent.push_back(line);
    }

    /// Commands refused for stale tokens, over all roles.
    pub fn refused(&self) -> u64 {
        self.roles.values().map(|r| r.refused).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ms: u64, controller: &str, token: u64, action: &str, accepted: bool) -> AuditEntry {
        AuditEntry {
            unix_ms: ms,
            role: "segment/1".into(),
            controller: controller.into(),
            token,
            action: action.into(),
            accepted,
            floor: token,
            seq: 0,
        }
    }

    #[test]
    fn takeovers_are_seen_at_the_first_accepted_command_with_their_gap() {
        let mut s = Snapshot::default();
        s.observe(&entry(1_000, "c1", 5, CLAIM, true));
        s.observe(&entry(1_010, "c1", 5, "limit=none closed=none", true));
        s.observe(&entry(1_200, "c1", 5, "limit=none closed=none", true));
        s.observe(&entry(2_000, "c2", 9, CLAIM, true));
        s.observe(&entry(2_050, "c1", 5, "limit=80 closed=none", false));
        s.observe(&entry(2_100, "c2", 9, "limit=none closed=none", true));
        let role = &s.roles["segment/1"];
        assert_eq!(role.primary.as_deref(), Some("c2"));
        assert_eq!((role.accepted, role.refused), (3, 1));
        assert_eq!(role.takeovers.len(), 2);
        assert_eq!(role.takeovers[1].from.as_deref(), Some("c1"));
        assert_eq!(role.takeovers[1].gap_ms, Some(900));
        assert_eq!(s.refused(), 1);
    }
}
