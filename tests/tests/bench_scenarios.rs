//! `skyway bench` scenarios through the real binary against a real 3-node cluster: the watch
//! fan-out delivers every acknowledged change to every watcher exactly once, and says so.
//! (Figures are printed, never asserted: only what the run counted is checked.)

use std::process::Output;
use std::time::Duration;

use skyway_tests::harness::{skyway_binary, start_cluster};

async fn skyway(args: &[&str]) -> anyhow::Result<Output> {
    Ok(tokio::process::Command::new(skyway_binary()).args(args).output().await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_fan_out_delivers_every_change_to_every_watcher_once() -> anyhow::Result<()> {
    let (cluster, _dir) = start_cluster(&[])?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let endpoints = cluster.endpoints().join(",");
    // 150 watchers: two connections (at most 100 watchers each), on two different nodes.
    let out = skyway(&[
        "bench",
        "--endpoints",
        &endpoints,
        "--op",
        "watch",
        "--watchers",
        "150",
        "--write-rate",
        "160",
        "--duration",
        "2",
        "--output",
        "json",
    ])
    .await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let figures: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(figures["watchers"], 150, "{figures}");
    assert_eq!(figures["connections"], 2, "{figures}");
    let writes = figures["writes_per_sec"].as_f64().unwrap() * 2.0;
    let events = figures["events_per_sec"].as_f64().unwrap() * 2.0;
    assert!(writes >= 100.0, "the writers wrote too little to tell anything: {figures}");
    assert_eq!(figures["write_errors"], 0, "{figures}");
    assert_eq!((figures["lost"].as_u64(), figures["duplicated"].as_u64()), (Some(0), Some(0)), "{figures}");
    assert_eq!(figures["watch_errors"], 0, "{figures}");
    // Every watcher saw every change written in the window.
    assert!(events >= writes * 150.0, "{events} events for {writes} writes and 150 watchers: {figures}");
    assert!(figures["delivery_p50_ms"].as_f64().unwrap() > 0.0, "{figures}");
    Ok(())
}

/// `--value-bytes` with a list measures once per size, and reads read values of the size
/// measured: the keys are rewritten for each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_of_value_sizes_measures_each_size_on_values_of_that_size() -> anyhow::Result<()> {
    let (cluster, _dir) = start_cluster(&[])?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let endpoints = cluster.endpoints().join(",");
    let out = skyway(&[
        "bench",
        "--endpoints",
        &endpoints,
        "--op",
        "get",
        "--clients",
        "2",
        "--value-bytes",
        "1024,16384",
        "--duration",
        "1",
        "--output",
        "json",
    ])
    .await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out.stdout)?.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    let sizes: Vec<_> = lines.iter().map(|l| l["value_bytes"].as_u64()).collect();
    assert_eq!(sizes, [Some(1024), Some(16384)], "{lines:?}");
    for line in &lines {
        assert_eq!(line["errors"], 0, "{line}");
        assert!(line["completed"].as_u64().unwrap() > 0, "{line}");
    }
    let client = cluster.client()?;
    for key in ["/bench/k0", "/bench/k1"] {
        let read = client.get(key, skyway_coord::client::Consistency::Linearizable).await?;
        assert_eq!(read.data.len(), 16384, "{key} holds a value of the last size measured");
    }
    Ok(())
}

/// `--local-cluster --local-nodes 5` measures a cluster of five voters it starts itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_cluster_of_five_voters_is_measured() -> anyhow::Result<()> {
    let out = skyway(&[
        "bench",
        "--local-cluster",
        "--local-nodes",
        "5",
        "--op",
        "put",
        "--clients",
        "2",
        "--duration",
        "1",
        "--output",
        "json",
    ])
    .await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("local 5-node cluster"), "{stderr}");
    let pids = stderr.split("pids [").nth(1).and_then(|rest| rest.split(']').next()).unwrap_or_default();
    assert_eq!(pids.split(',').count(), 5, "five server processes: {stderr}");
    let figures: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(figures["errors"], 0, "{figures}");
    assert!(figures["completed"].as_u64().unwrap() > 0, "{figures}");
    Ok(())
}
