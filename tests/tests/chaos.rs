//! A short chaos drill: random kills, pauses and partitions of coordinator nodes and
//! controllers (real processes) under a workload, then the recorded history judged —
//! linearizable, no acknowledged write missing, every watch complete and in order, no role with
//! two primaries, no ephemeral node outliving its session, every role served again. The long run
//! is `skyway drill --scenario chaos --minutes 30`.

use std::time::Duration;

use skyway_sim::drill::DrillConfig;
use skyway_sim::drill::chaos::{ChaosConfig, run};
use skyway_tests::harness::skyway_binary;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_chaos_run_keeps_every_invariant() {
    let config = ChaosConfig {
        drill: DrillConfig {
            binary: skyway_binary(),
            controllers: 3,
            roles: vec!["runway/07".into(), "segment/12".into()],
            ttl: Duration::from_millis(1000),
            command_interval: Duration::from_millis(20),
            load_clients: 0,
            seed: 12,
            tls: false,
        },
        duration: Duration::from_secs(25),
        clients: 3,
        watchers: 2,
        sessions: 1,
    };
    let dir = tempfile::tempdir().unwrap();
    let report = match run(&config, dir.path()).await {
        Ok(report) => report,
        Err(e) => panic!("{e:#}\nlogs in {}", dir.keep().display()),
    };
    for check in &report.checks {
        println!("{check}");
    }
    println!("faults: {:?}\nops: {:?}", report.faults, report.ops);
    let faults: usize = report.faults.values().sum();
    assert!(faults >= 3, "too few faults to mean anything: {:?}", report.faults);
    assert!(report.ops.register_ops > 100 && report.ops.creates_acked > 10, "too little workload: {:?}", report.ops);
    if report.violated() {
        panic!("a check failed:\n{:#?}\nlogs in {}", report.checks, dir.keep().display());
    }
}
