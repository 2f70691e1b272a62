//! The failover drills in the test suite (one run each): real coordinator, actuator and
//! controller processes, real SIGKILL, SIGSTOP and network cuts. Fails on any split brain or
//! token inversion in the actuator's audit trail, on a role that did not move when its
//! primary failed, and on a false expiry when only the coordinator's leader failed.

use std::time::Duration;

use skyway_sim::drill::{DrillConfig, Scenario, run_once};
use skyway_tests::harness::skyway_binary;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_fails_over_without_split_brain() {
    let config = DrillConfig {
        binary: skyway_binary(),
        controllers: 3,
        roles: vec!["runway/07".into(), "segment/12".into()],
        ttl: Duration::from_millis(1000),
        command_interval: Duration::from_millis(20),
        load_clients: 0,
        seed: 1,
        tls: false,
    };
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for scenario in &Scenario::failovers() {
        let outcome = match run_once(&config, *scenario, &dir.path().join(format!("{scenario:?}")), 0).await {
            Ok(outcome) => outcome,
            Err(e) => panic!("{scenario:?}: {e:#}\nlogs in {}", dir.keep().display()),
        };
        println!("{outcome:?}");
        if outcome.violated() {
            failures.push(format!("{scenario:?}: invariant violated: {outcome:?}"));
        }
        if scenario.moves_the_role() {
            if outcome.takeover_ms.is_none() || outcome.detection_ms.is_none() {
                failures.push(format!("{scenario:?}: the role did not move: {outcome:?}"));
            }
        } else if outcome.false_expiries > 0 || outcome.takeover_ms.is_some() {
            failures.push(format!("{scenario:?}: a live controller lost its session: {outcome:?}"));
        }
    }
    if !failures.is_empty() {
        let kept = dir.keep();
        panic!("{}\nlogs in {}", failures.join("\n"), kept.display());
    }
}
