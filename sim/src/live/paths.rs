//! Where the world publishes in the coordinator. Small JSON values only, never per-vehicle data.

/// Below this, everything the world publishes.
pub const WORLD: &str = "/world";

/// The latest loop summary of segment `n` ([`skyway_world::summary::SegmentSummary`]).
pub fn segment(n: u32) -> String {
    format!("{WORLD}/segments/{n}")
}

/// The state of runway `id` ([`skyway_world::summary::RunwaySummary`]).
pub fn runway(id: &str) -> String {
    format!("{WORLD}/runways/{id}")
}

/// The world's counters, refreshed every few seconds (time, vehicles, landings, incursions…).
pub fn status() -> String {
    format!("{WORLD}/status")
}

/// Below this, the operator's orders ([`skyway_world::policy::operator`]): written by whoever
/// operates the system (the demo's dashboard), read by the roles' primaries.
pub const OPERATOR: &str = "/operator";

/// The operator's order for segment `n` ([`skyway_world::policy::operator::SegmentOperatorOrder`]).
pub fn operator_segment(n: u32) -> String {
    format!("{OPERATOR}/segments/{n}")
}

/// The operator's closure of runway `id` ([`skyway_world::policy::operator::RunwayOperatorOrder`]),
/// present only while the runway is closed.
pub fn operator_runway(id: &str) -> String {
    format!("{OPERATOR}/runways/{id}")
}
