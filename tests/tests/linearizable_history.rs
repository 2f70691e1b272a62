//! Reads, writes and compare-and-sets on a few keys, from several clients at once, while the
//! Raft leader is SIGKILLed: the recorded history must be linearizable.

use std::time::{Duration, Instant};

use skyway_tests::harness::start_cluster;
use skyway_tests::workload::{assert_linearizable, create_keys, spawn_clients};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_taken_while_the_leader_is_killed_is_linearizable() -> anyhow::Result<()> {
    let (mut cluster, dir) = start_cluster(&[])?;
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let start = Instant::now();
    let mut history = create_keys(&cluster.client()?, start).await?;
    let tasks = spawn_clients(&cluster.endpoints(), 6, start, Duration::from_secs(6))?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.kill(leader).await?;
    for task in tasks {
        history.extend(task.await?);
    }
    let kept = dir.keep();
    assert_linearizable(&history, &kept)?;
    let _ = std::fs::remove_dir_all(&kept);
    Ok(())
}
