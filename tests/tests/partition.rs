//! A network partition between real processes: the Raft leader is cut off from the other two
//! nodes (its messages and theirs are held, as TCP holds them), the majority elects a new
//! leader and keeps serving, the old leader commits nothing, and the partition heals. The
//! history recorded by clients all the while must be linearizable.

use std::time::{Duration, Instant};

use skyway_coord::client::Consistency;
use skyway_sim::rig::cluster::ProcessCluster;
use skyway_tests::harness::skyway_binary;
use skyway_tests::workload::{assert_linearizable, create_keys, spawn_clients};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_leader_is_replaced_and_the_history_stays_linearizable() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    println!("logs in {}", dir.path().display());
    let (cluster, links) = ProcessCluster::start_with_links(&skyway_binary(), dir.path(), 3, &[]).await?;
    let old_leader = cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let start = Instant::now();
    let mut history = create_keys(&cluster.client()?, start).await?;
    let tasks = spawn_clients(&cluster.endpoints(), 6, start, Duration::from_secs(8))?;

    tokio::time::sleep(Duration::from_secs(2)).await;
    links.isolate(old_leader);
    let majority: Vec<u64> = cluster.nodes.keys().copied().filter(|id| *id != old_leader).collect();
    let new_leader = cluster.wait_for_leader_among(&majority, Duration::from_secs(20)).await?;
    println!("node {old_leader} isolated; node {new_leader} leads the majority after {:?}", start.elapsed());
    assert_ne!(new_leader, old_leader);

    // The majority takes writes while the old leader is cut off.
    let majority_endpoints: Vec<String> = majority.iter().map(|id| cluster.nodes[id].addr.clone()).collect();
    let majority_client = skyway_coord::client::Client::connect(&majority_endpoints)?;
    majority_client.create_node("/during-partition", "ok").await?;

    tokio::time::sleep(Duration::from_secs(2)).await;
    links.heal();
    for task in tasks {
        history.extend(task.await?);
    }

    // Healed: the old leader catches up and agrees.
    let all = cluster.client()?;
    assert_eq!(all.get("/during-partition", Consistency::Linearizable).await?.data.as_ref(), b"ok");
    let kept = dir.keep();
    assert_linearizable(&history, &kept)?;
    let _ = std::fs::remove_dir_all(&kept);
    Ok(())
}

/// The leader's lease, checked where it could go wrong: a leader cut off from its followers
/// may answer linearizable reads from its lease only until the lease ends, and the majority
/// cannot elect a new leader (let alone commit a write) before then. So once the majority has
/// written, a linearizable read at the old leader must fail or see that write — never the value
/// before it. The same holds with `--read-index-only`, which never uses the lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_leader_never_answers_a_linearizable_read_with_a_value_the_majority_overwrote() -> anyhow::Result<()>
{
    for extra in [&[][..], &["--read-index-only"][..]] {
        let dir = tempfile::tempdir()?;
        let (cluster, links) = ProcessCluster::start_with_links(&skyway_binary(), dir.path(), 3, extra).await?;
        let old_leader = cluster.wait_for_leader(Duration::from_secs(20)).await?;
        cluster.client()?.create_node("/lease", "before").await?;
        let at_old_leader = skyway_coord::client::Client::connect(&[cluster.nodes[&old_leader].addr.clone()])?;
        assert_eq!(at_old_leader.get("/lease", Consistency::Linearizable).await?.data.as_ref(), b"before");

        links.isolate(old_leader);
        let majority: Vec<u64> = cluster.nodes.keys().copied().filter(|id| *id != old_leader).collect();
        let new_leader = cluster.wait_for_leader_among(&majority, Duration::from_secs(20)).await?;
        assert_ne!(new_leader, old_leader);
        let majority_endpoints: Vec<String> = majority.iter().map(|id| cluster.nodes[id].addr.clone()).collect();
        skyway_coord::client::Client::connect(&majority_endpoints)?.set("/lease", "after", None).await?;

        match at_old_leader.get("/lease", Consistency::Linearizable).await {
            Ok(node) => assert_eq!(node.data.as_ref(), b"after", "{extra:?}: a stale linearizable read"),
            Err(e) => println!("{extra:?}: the cut-off old leader refused the read, as it should: {e}"),
        }
        links.heal();
    }
    Ok(())
}
