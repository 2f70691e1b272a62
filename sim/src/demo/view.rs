//! The demo's terminal summary, computed from a snapshot (pure, so it can be tested as text).

use std::fmt::Write;
use std::time::Duration;

use skyway_world::summary::{RunwaySummary, SegmentSummary};

use crate::live::snapshot::Snapshot;

/// The summary of `snapshot`, `elapsed` wall time into the demo.
pub fn render(snapshot: &Snapshot, roles: &[String], elapsed: Duration) -> String {
    let mut out = String::new();
    let stats = &snapshot.stats;
    let _ = writeln!(
        out,
        "-- {:.0} s wall, {} simulated ({}x) · world thread {:.1} % of a core",
        elapsed.as_secs_f64(),
        clock(stats.time_s),
        snapshot.speed,
        snapshot.world_cpu_share * 100.0
    );
    if let Some(h) = &stats.highway {
        let _ = writeln!(
            out,
            "   road: {} vehicles ({} entered, {} left, {} waiting to enter), mean {:.0} km/h, {} stalled, {} hard brakings",
            h.present, h.entered, h.exited, h.waiting, h.mean_speed_kmh, h.stalled, h.hard_brakings
        );
    }
    let _ = writeln!(out, "   {:<11} {:>8} {:>7} {:>6} {:>7}  primary", "role", "veh/h", "km/h", "limit", "closed");
    for role in roles {
        let primary =
            snapshot.roles.get(role).and_then(|v| v.primary.as_ref().map(|p| format!("{p} (token {})", v.token)));
        let primary = primary.unwrap_or_else(|| "none yet".into());
        match role.strip_prefix("segment/").and_then(|n| n.parse::<u32>().ok()) {
            Some(n) => {
                let (flow, speed, limit, closed) = match snapshot.segments.get(&n) {
                    Some(summary) => segment_figures(summary),
                    None => ("-".into(), "-".into(), "-".into(), "-".into()),
                };
                let _ = writeln!(out, "   {role:<11} {flow:>8} {speed:>7} {limit:>6} {closed:>7}  {primary}");
            }
            None => {
                let id = role.strip_prefix("runway/").unwrap_or(role);
                let state = snapshot.runways.get(id).map_or_else(|| "-".to_string(), runway_state);
                let _ = writeln!(out, "   {role:<11} {state:<32}  {primary}");
            }
        }
    }
    if let Some(a) = &stats.airport {
        let _ = writeln!(
            out,
            "   airport: {} landed, {} departed, {} crossed, {} go-arounds, {} diverted",
            a.landed, a.departed, a.crossed, a.go_arounds, a.diverted
        );
    }
    let _ = writeln!(
        out,
        "   INCURSIONS {} · world conflicts {} · refused commands {} · to the coordinator: {} writes, {} bytes",
        stats.airport.as_ref().map_or(0, |a| a.incursions),
        stats.conflicts,
        snapshot.refused(),
        snapshot.published.writes,
        snapshot.published.bytes
    );
    for line in snapshot.recent.iter().rev().take(RECENT_SHOWN).rev() {
        let _ = writeln!(out, "   · {line}");
    }
    out
}

/// How many recent events a summary shows.
const RECENT_SHOWN: usize = 6;

/// Simulated time as h:mm:ss.
fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Flow (veh/h, mean over the segment's loops), count-weighted mean speed, limit, closed lanes.
fn segment_figures(summary: &SegmentSummary) -> (String, String, String, String) {
    let loops = summary.loops.len().max(1) as f64;
    let flow: f64 = summary.loops.iter().flat_map(|l| &l.lanes).map(|lane| lane.flow_vph).sum::<f64>() / loops;
    let counted: u32 = summary.loops.iter().flat_map(|l| &l.lanes).map(|lane| lane.count).sum();
    let speed_sum: f64 = summary
        .loops
        .iter()
        .flat_map(|l| &l.lanes)
        .filter_map(|lane| lane.mean_speed_kmh.map(|v| v * f64::from(lane.count)))
        .sum();
    let speed = if counted == 0 { "-".to_string() } else { format!("{:.0}", speed_sum / f64::from(counted)) };
    let limit = summary.speed_limit_kmh.map_or_else(|| "-".to_string(), |v| v.to_string());
    let closed = if summary.closed_lanes.is_empty() {
        "-".to_string()
    } else {
        summary.closed_lanes.iter().map(u8::to_string).collect::<Vec<_>>().join(",")
    };
    (format!("{flow:.0}"), speed, limit, closed)
}

/// Who is on the runway and who waits.
fn runway_state(summary: &RunwaySummary) -> String {
    let on = if summary.closed {
        "CLOSED".to_string()
    } else if summary.occupants.is_empty() {
        "free".to_string()
    } else {
        summary.occupants.iter().map(|o| format!("{} {}", o.id, o.activity)).collect::<Vec<_>>().join(" + ")
    };
    format!("{on}; {} on final, {} to depart", summary.arrivals.len(), summary.departures.len())
}

/// The final report for people.
pub fn final_report(report: &super::DemoReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n== The demo ran {:.0} s ({:.0} s simulated)", report.wall_s, report.world.stats.time_s);
    for record in &report.faults {
        let outcome = match (record.takeover_ms, record.longest_gap_ms) {
            (Some(ms), _) => {
                format!("taken over by {} after {ms} ms", record.new_primary.as_deref().unwrap_or("?"))
            }
            (None, Some(gap)) => format!("no role moved; longest command gap {gap} ms"),
            (None, None) => "NOT taken over".to_string(),
        };
        let _ = writeln!(
            out,
            "   {:?} {} ({}): {outcome}",
            record.fault,
            record.role.as_deref().unwrap_or("-"),
            record.victim
        );
    }
    let _ = writeln!(
        out,
        "   every role commanded: {} · split brains {} · world conflicts {} · incursions {} · refused commands {}",
        report.every_role_commanded,
        report.split_brains,
        report.world_conflicts,
        report.incursions,
        report.refused_commands
    );
    out
}
