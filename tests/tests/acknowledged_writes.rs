//! No acknowledged write is lost: not when the leader is SIGKILLed in the middle of a stream
//! of writes, and not when all three nodes are killed at once and restarted from disk (also
//! with snapshots and log compaction in play).

use std::collections::BTreeMap;
use std::time::Duration;

use skyway_coord::CoordError;
use skyway_coord::client::{Client, Consistency};
use skyway_tests::harness::start_cluster;

/// Writes `/ack/k{i}` = `v{i}` for `range`, returning the acknowledged ones. Errors are allowed
/// (the cluster may be failing over); only acknowledged writes are promised.
async fn write_range(client: &Client, range: std::ops::Range<usize>) -> BTreeMap<String, String> {
    let mut acknowledged = BTreeMap::new();
    for i in range {
        let (path, value) = (format!("/ack/k{i}"), format!("v{i}"));
        match client
            .create(skyway_coord::client::Create {
                path: path.clone(),
                data: value.clone().into(),
                make_parents: true,
                ..Default::default()
            })
            .await
        {
            Ok(_) => {
                acknowledged.insert(path, value);
            }
            Err(CoordError::OutcomeUnknown { .. } | CoordError::Unavailable { .. } | CoordError::NotLeader { .. }) => {}
            Err(e) => panic!("unexpected error writing {path}: {e}"),
        }
    }
    acknowledged
}

/// Reads every acknowledged key back, linearizably, and checks its value.
async fn assert_all_present(client: &Client, acknowledged: &BTreeMap<String, String>) -> anyhow::Result<()> {
    for (path, value) in acknowledged {
        let node = client
            .get(path, Consistency::Linearizable)
            .await
            .map_err(|e| anyhow::anyhow!("acknowledged {path} lost: {e}"))?;
        assert_eq!(node.data.as_ref(), value.as_bytes(), "acknowledged {path} has the wrong value");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_of_the_leader() -> anyhow::Result<()> {
    let (mut cluster, _dir) = start_cluster(&[])?;
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let client = cluster.client()?;
    let mut acknowledged = write_range(&client, 0..100).await;
    assert_eq!(acknowledged.len(), 100, "a healthy cluster acknowledges every write");

    // Kill the leader while a writer is running.
    let writer = {
        let client = client.clone();
        tokio::spawn(async move { write_range(&client, 100..300).await })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    cluster.kill(leader).await?;
    acknowledged.extend(writer.await?);
    let new_leader = cluster.wait_for_leader(Duration::from_secs(20)).await?;
    assert_ne!(new_leader, leader);
    acknowledged.extend(write_range(&client, 300..350).await);
    println!("{} writes acknowledged across the leader's SIGKILL", acknowledged.len());
    assert!(acknowledged.len() >= 150, "writes after the failover must be acknowledged");
    assert_all_present(&client, &acknowledged).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_of_every_node() -> anyhow::Result<()> {
    // A small snapshot interval, so recovery goes through a snapshot plus the log after it.
    let (mut cluster, _dir) = start_cluster(&["--snapshot-after", "50"])?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let client = cluster.client()?;
    let acknowledged = write_range(&client, 0..300).await;
    assert_eq!(acknowledged.len(), 300);

    let ids: Vec<u64> = cluster.nodes.keys().copied().collect();
    for id in &ids {
        cluster.kill(*id).await?;
    }
    for id in &ids {
        cluster.spawn(*id)?;
    }
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    assert_all_present(&cluster.client()?, &acknowledged).await?;

    // Every node individually recovered everything (serializable reads, once caught up).
    for endpoint in cluster.endpoints() {
        let one = Client::connect(std::slice::from_ref(&endpoint))?;
        one.get("/ack/k299", Consistency::Linearizable).await?; // waits until this node caught up
        for (path, value) in &acknowledged {
            let node = one.get(path, Consistency::Serializable).await?;
            assert_eq!(node.data.as_ref(), value.as_bytes(), "{endpoint} lost {path}");
        }
    }
    Ok(())
}
