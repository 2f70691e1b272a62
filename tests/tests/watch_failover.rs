//! Watches lose nothing: a watcher resumes across a leader failover with no gap and no
//! duplicate, and a watcher that asks for compacted history gets a clear error, never a gap.

use std::collections::BTreeSet;
use std::time::Duration;

use skyway_coord::CoordError;
use skyway_coord::client::{Client, Consistency, Watcher};
use skyway_tests::harness::start_cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_resumes_across_a_leader_failover_with_no_gap_and_no_duplicate() -> anyhow::Result<()> {
    let (mut cluster, _dir) = start_cluster(&[])?;
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await?;
    // The watcher's stream starts on the leader, so killing it breaks the stream.
    let leader_index = cluster.nodes.keys().position(|id| *id == leader).expect("leader is a node");
    let watch_client = Client::starting_at(&cluster.endpoints(), Default::default(), leader_index)?;
    let client = cluster.client()?;
    let created = client.create_node("/w", "start").await?;
    let mut watcher = Watcher::start(&watch_client, "/w", false, created.revision.0 + 1).await?;

    let writer = {
        let client = client.clone();
        tokio::spawn(async move {
            let (mut acknowledged, mut attempted) = (Vec::new(), Vec::new());
            for i in 0..300 {
                let value = format!("v{i}");
                attempted.push(value.clone());
                match client.set("/w", value.clone(), None).await {
                    Ok(_) => acknowledged.push(value),
                    Err(
                        CoordError::OutcomeUnknown { .. }
                        | CoordError::Unavailable { .. }
                        | CoordError::NotLeader { .. },
                    ) => {}
                    Err(e) => panic!("unexpected error: {e}"),
                }
            }
            (acknowledged, attempted)
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    cluster.kill(leader).await?;
    let (acknowledged, attempted) = writer.await?;
    client.set("/w", "end", None).await?;

    let mut seen: Vec<(u64, String)> = Vec::new();
    while seen.last().is_none_or(|(_, v)| v != "end") {
        let events = tokio::time::timeout(Duration::from_secs(20), watcher.next()).await??;
        seen.extend(events.into_iter().map(|e| (e.revision.0, String::from_utf8_lossy(&e.data).into_owned())));
    }
    println!("{} events seen, {} writes acknowledged of {}", seen.len(), acknowledged.len(), attempted.len());

    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "revisions must strictly increase (no duplicate, in order)");
    let values: Vec<&str> = seen.iter().map(|(_, v)| v.as_str()).collect();
    let distinct: BTreeSet<&str> = values.iter().copied().collect();
    assert_eq!(distinct.len(), values.len(), "a value was delivered twice");
    // Order: the values seen follow the order they were written in.
    let position = |v: &str| attempted.iter().position(|a| a == v).unwrap_or(usize::MAX);
    let order: Vec<usize> = values.iter().filter(|v| **v != "end").map(|v| position(v)).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "events out of write order: {order:?}");
    // No gap: every acknowledged write was delivered.
    for value in &acknowledged {
        assert!(distinct.contains(value.as_str()), "acknowledged write {value} never reached the watcher");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_behind_compaction_gets_a_clear_error_never_a_gap() -> anyhow::Result<()> {
    let (cluster, _dir) = start_cluster(&["--watch-history", "50"])?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let client = cluster.client()?;
    let first = client.create_node("/c", "0").await?.revision.0;
    for i in 1..200 {
        client.set("/c", format!("{i}"), None).await?;
    }
    match Watcher::start(&client, "/c", true, first).await {
        Err(CoordError::Compacted { requested, oldest, current }) => {
            assert_eq!(requested, first);
            assert!(oldest > first && oldest <= current, "oldest {oldest} should lie in ({first}, {current}]");
            // The error's advice works: re-read, then watch from the revision after the read.
            let read = client.get("/c", Consistency::Linearizable).await?;
            assert_eq!(read.data.as_ref(), b"199");
            let mut watcher = Watcher::start(&client, "/c", true, read.revision.0 + 1).await?;
            client.set("/c", "after", None).await?;
            let events = tokio::time::timeout(Duration::from_secs(10), watcher.next()).await??;
            assert_eq!(events[0].data.as_ref(), b"after");
        }
        Err(other) => panic!("expected Compacted, got {other}"),
        Ok(_) => panic!("a watch from compacted revision {first} must fail, not skip silently"),
    }
    Ok(())
}
