//! Adding and removing coordinator nodes at run time: a learner catches up and serves reads, a
//! learner is promoted to voter, a voter is removed, and writes keep working throughout.

use std::time::{Duration, Instant};

use skyway_coord::client::{Client, Consistency};
use skyway_tests::harness::start_cluster;

/// Polls `node`'s status until `check` holds or `timeout` passes.
async fn wait_status(
    node: &Client,
    timeout: Duration,
    check: impl Fn(&skyway_coord::client::NodeStatus) -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some((_, Ok(status))) = node.status_all().await.into_iter().next()
            && check(&status)
        {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "node status did not reach the expected state in {timeout:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_catches_up_serves_reads_and_becomes_a_voter_then_leaves() -> anyhow::Result<()> {
    let (mut cluster, _dir) = start_cluster(&[])?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let client = cluster.client()?;
    for i in 0..20 {
        client.create_node(&format!("/m{i}"), format!("v{i}")).await?;
    }

    let id = cluster.start_joining_node()?;
    // The membership records the peer address; clients use the client port.
    let addr = cluster.nodes[&id].peer_addr.clone();
    let client_addr = cluster.nodes[&id].addr.clone();
    let added = client.add_node(id, &addr, false).await?;
    assert!(added.learners.contains(&id), "node {id} should be a learner: {added:?}");
    assert!(!added.voters.contains(&id));

    // The learner has the whole history and answers reads, linearizable ones included.
    let learner = Client::connect(std::slice::from_ref(&client_addr))?;
    let node = learner.get("/m19", Consistency::Linearizable).await?;
    assert_eq!(node.data.as_ref(), b"v19");
    client.create_node("/after-learner", "x").await?;
    let node = learner.get("/after-learner", Consistency::Linearizable).await?;
    assert_eq!(node.data.as_ref(), b"x", "a linearizable read on a learner sees the latest write");

    // Writes sent to the learner reach the leader.
    learner.create_node("/via-learner", "y").await?;
    assert_eq!(client.get("/via-learner", Consistency::Linearizable).await?.data.as_ref(), b"y");

    let promoted = client.add_node(id, &addr, true).await?;
    assert!(promoted.voters.contains(&id), "node {id} should be a voter: {promoted:?}");
    wait_status(&learner, Duration::from_secs(10), |s| s.voters.len() == 4 && s.voters.contains(&id)).await?;

    let removed = client.remove_node(id).await?;
    assert!(!removed.voters.contains(&id) && !removed.learners.contains(&id), "node {id} should be gone: {removed:?}");
    // The remaining three still take writes.
    client.create_node("/after-removal", "z").await?;
    assert_eq!(client.get("/after-removal", Consistency::Linearizable).await?.data.as_ref(), b"z");
    Ok(())
}
