//! The demo's terminal summary, computed from a snapshot (pure, so it can be tested as text).

use std::fmt::Write;
use std::time::Duration;

use crate::live::snapshot::Snapshot;

/// The summary of `snapshot`, `elapsed` wall time into the demo.
pub fn render(snapshot: &Snapshot, roles: &[String], elapsed: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "-- {:>5.0} s wall, {:>6.0} s simulated ({}x); world {:.1} % of a core",
        elapsed.as_secs_f64(),
        snapshot.stats.time_s,
        snapshot.speed,
        snapshot.world_cpu_share * 100.0
    );
    for role in roles {
        let view = snapshot.roles.get(role);
        let primary = view
            .and_then(|v| v.primary.as_ref().map(|p| format!("{p} (token {})", v.token)))
            .unwrap_or_else(|| "no primary yet".into());
        let _ = writeln!(out, "   {role:<11} {primary}");
    }
    let _ = writeln!(
        out,
        "   incursions {} · world conflicts {} · refused commands {} · coordinator writes {} ({} bytes)",
        snapshot.stats.airport.as_ref().map_or(0, |a| a.incursions),
        snapshot.stats.conflicts,
        snapshot.refused(),
        snapshot.published.writes,
        snapshot.published.bytes
    );
    out
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
