//! Snapshots travel in chunks: a state several times larger than one peer message reaches a
//! new node and a wiped follower, which then serve it.
//!
//! The peer message limit is lowered to 256 KiB (`--peer-message-bytes-max`) so the test stays
//! small: 24 values of 30 KiB make a state of about 720 KiB. Sent as one message, as before,
//! that snapshot is refused by the receiver's transport and the new node never catches up.

use std::time::{Duration, Instant};

use skyway_coord::client::{Client, Consistency};
use skyway_tests::harness::start_cluster;

const VALUES: usize = 24;
const VALUE_BYTES: usize = 30 * 1024;

fn value(i: usize) -> Vec<u8> {
    vec![b'a' + (i % 26) as u8; VALUE_BYTES]
}

/// Waits until `node` answers a serializable read of the last value with the right data.
async fn caught_up(node: &Client, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let last = format!("/big/v{}", VALUES - 1);
    loop {
        if let Ok(read) = node.get(&last, Consistency::Serializable).await
            && read.data.as_ref() == value(VALUES - 1).as_slice()
        {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "the node did not catch up in {timeout:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every value, read on `node`.
async fn check_all(node: &Client) -> anyhow::Result<()> {
    for i in 0..VALUES {
        let read = node.get(&format!("/big/v{i}"), Consistency::Serializable).await?;
        anyhow::ensure!(read.data.as_ref() == value(i).as_slice(), "/big/v{i} differs on the new node");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_larger_than_one_peer_message_reaches_a_new_node_and_a_wiped_follower() -> anyhow::Result<()> {
    let (mut cluster, _dir) = start_cluster(&[
        "--peer-message-bytes-max",
        "262144",
        "--request-bytes-max",
        "32768",
        "--value-bytes-max",
        "32000",
        "--snapshot-after",
        "8",
        "--log-entries-kept",
        "0",
    ])?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let client = cluster.client()?;
    client.create_node("/big", "").await?;
    for i in 0..VALUES {
        client.create_node(&format!("/big/v{i}"), value(i)).await?;
    }
    // Some entries after the last snapshot, so the log past it is short and the rest must come
    // from the snapshot.
    client.create_node("/after", "x").await?;

    let id = cluster.start_joining_node()?;
    let addr = cluster.nodes[&id].addr.clone();
    // Members are added by the address their peers dial: the node's peer port.
    client.add_node(id, &cluster.nodes[&id].peer_addr, false).await?;
    let learner = Client::connect(std::slice::from_ref(&addr))?;
    caught_up(&learner, Duration::from_secs(30)).await?;
    check_all(&learner).await?;

    // A follower that lost its disk is sent the snapshot too.
    let wiped = 3;
    cluster.kill(wiped).await?;
    std::fs::remove_dir_all(&cluster.nodes[&wiped].data_dir)?;
    client.create_node("/while-down", "").await?;
    for i in 0..8 {
        client.create_node(&format!("/while-down/n{i}"), "y").await?;
    }
    cluster.spawn(wiped)?;
    let follower = Client::connect(std::slice::from_ref(&cluster.nodes[&wiped].addr))?;
    caught_up(&follower, Duration::from_secs(30)).await?;
    check_all(&follower).await?;
    // The snapshot may predate the writes made while it was down; those follow as log entries,
    // applied a moment after the snapshot (a serializable read sees the node's own state).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match follower.get("/while-down/n7", Consistency::Serializable).await {
            Ok(read) if read.data.as_ref() == b"y" => break,
            outcome => anyhow::ensure!(
                Instant::now() < deadline,
                "the wiped follower never applied the writes made while it was down: {outcome:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
