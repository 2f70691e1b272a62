//! A leader stopped cleanly (SIGTERM) hands leadership to a caught-up voter before it exits,
//! so the cluster does not wait out an election timeout.

use std::time::{Duration, Instant};

use skyway_coord::client::Consistency;
use skyway_tests::harness::start_cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_stopped_cleanly_hands_over_leadership() -> anyhow::Result<()> {
    let (mut cluster, _dir) = start_cluster(&[])?;
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let client = cluster.client()?;
    client.create_node("/before", "1").await?;

    let stopped = Instant::now();
    let status = cluster.terminate(leader).await?;
    assert!(status.success(), "a clean shutdown exits 0, got {status}");
    let new_leader = cluster.wait_for_leader(Duration::from_secs(20)).await?;
    println!("new leader {new_leader} agreed {:?} after SIGTERM to leader {leader}", stopped.elapsed());
    assert_ne!(new_leader, leader);

    let log = std::fs::read_to_string(cluster.log_path(leader))?;
    assert!(log.contains("leadership handed over"), "the old leader's log shows no handover:\n{log}");

    client.create_node("/after", "2").await?;
    assert_eq!(client.get("/before", Consistency::Linearizable).await?.data.as_ref(), b"1");
    assert_eq!(client.get("/after", Consistency::Linearizable).await?.data.as_ref(), b"2");
    Ok(())
}
