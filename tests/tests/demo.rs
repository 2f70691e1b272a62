//! `skyway demo` as a user runs it, on real processes: three coordinator nodes and three
//! controller processes around the world and its actuator, with the tour's faults (a segment's
//! primary killed, a tower's primary killed, a tower's primary paused past its TTL, the
//! coordinator's leader killed). Judged from its JSON report: every role was commanded, every
//! faulted role was taken over by another controller, and there were no split brains, no
//! conflicting commands obeyed and no runway incursions. And with cameras: a stalled vehicle in a
//! camera's view gets its lane closed on that camera's alarm, as the actuator's trail says.

use std::time::Duration;

use serde_json::Value;
use skyway_controller::actuator::read_trail;
use skyway_tests::harness::skyway_binary;
use skyway_world::highway::{Cause, SegmentOrder};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_fails_over_every_faulted_role_without_split_brain_or_incursion() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(skyway_binary());
    // Without cameras: this test measures failover, and eight cameras plus two analyzers would
    // share the two cores with it (tests/tests/collector.rs runs them end to end).
    command
        .args([
            "demo",
            "--tour",
            "--tour-gap-s",
            "6",
            "--duration",
            "34",
            "--speed",
            "4",
            "--no-cameras",
            "--listen",
            "127.0.0.1:0",
            "--output",
            "json",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("the demo did not end within 120 s")
        .expect("cannot run skyway demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("no JSON report ({e}); exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", output.status)
    });
    let mut failures: Vec<String> = Vec::new();
    let mut check = |ok: bool, what: &str| {
        if !ok {
            failures.push(what.to_string());
        }
    };

    check(output.status.success(), "the demo reported a violation (non-zero exit)");
    check(report["every_role_commanded"] == Value::Bool(true), "a role was never commanded");
    check(report["split_brains"] == 0, "split brain in the actuator's trail");
    check(report["world_conflicts"] == 0, "the world obeyed conflicting commands");
    check(report["incursions"] == 0, "a runway incursion");
    let faults = report["faults"].as_array().cloned().unwrap_or_default();
    check(faults.len() == 4, "the tour did not inject its four faults");
    for fault in &faults {
        if fault["role"].is_null() {
            continue; // the coordinator's leader: no role is meant to move
        }
        let taken_over = fault["takeover_ms"].as_u64().is_some()
            && fault["new_primary"].as_str().is_some_and(|p| Some(p) != fault["victim"].as_str());
        check(taken_over, &format!("not taken over: {fault}"));
    }
    let kinds: Vec<&str> = faults.iter().filter_map(|f| f["fault"].as_str()).collect();
    check(kinds.contains(&"kill-segment-primary") && kinds.contains(&"kill-tower-primary"), "faults missing");
    let highway = &report["world"]["stats"]["highway"];
    check(highway["entered"].as_u64().unwrap_or(0) > 0, "no vehicle entered the highway");
    if !failures.is_empty() {
        panic!("{}\nreport: {report:#}\nlogs in {}", failures.join("\n"), dir.keep().display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cameras_stalled_vehicle_alarm_closes_its_lane_in_the_demo() {
    // The `incident` world: a car stalls in lane 2 at 2.6 km (segment 3) at 600 s, in cam-3's
    // view (2.5–2.75 km). Live from 510 s, so the analyzer's model is warm before the stall.
    let dir = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(skyway_binary());
    command
        .args(["demo", "--scenario", "incident", "--warmup-min", "8.5", "--speed", "4", "--duration", "50"])
        .args(["--analyzers", "1", "--no-dashboard", "--output", "json", "--data-dir"])
        .arg(dir.path())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(150), command.output())
        .await
        .expect("the demo did not end within 150 s")
        .expect("cannot run skyway demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("no JSON report ({e}); exit {:?}\nstderr:\n{}", output.status, String::from_utf8_lossy(&output.stderr))
    });
    assert!(report["collector"]["results_written"].as_u64().unwrap_or(0) > 0, "no camera results: {report:#}");
    // Every command the actuator obeyed for segment/3; the first that closes lane 2 on cam-3's word.
    let mut obeyed = Vec::new();
    for file in std::fs::read_dir(dir.path().join("actuator")).unwrap() {
        let path = file.unwrap().path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            obeyed.extend(read_trail(&path).unwrap().into_iter().filter(|e| e.accepted && e.role == "segment/3"));
        }
    }
    let on_camera = obeyed.iter().find_map(|e| {
        let order = SegmentOrder::parse(&e.action).ok()?;
        order.why.contains(&Cause::lane(2, "cam-3")).then_some(order)
    });
    let Some(order) = on_camera else {
        let actions: std::collections::BTreeSet<&str> = obeyed.iter().map(|e| e.action.as_str()).collect();
        panic!(
            "no closure of lane 2 on cam-3's alarm was obeyed; segment/3 was sent {actions:?}\nlogs in {}",
            dir.keep().display()
        );
    };
    // Closed over the stall (600 m into the segment, stopping a little beyond), tapering upstream.
    let stretch = order.stretch(2).expect("a camera closes a stretch, not the whole segment");
    assert!(stretch.from_m <= 551 && stretch.to_m >= 600, "the closure misses the stall: {order}");
    assert_eq!(report["world_conflicts"], 0);
}
