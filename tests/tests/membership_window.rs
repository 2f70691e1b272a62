//! The membership log keeps a bounded window, trimmed alike on every node, read in pages.
//!
//! A cluster started with `--membership-log-records-max 4`: the leader commits that window,
//! then six members join and leave (twelve records). Every node keeps the same newest four, a
//! read from before them is a clear `LogTrimmed` naming the oldest kept, and pages of one
//! record join into the same log.

use std::time::{Duration, Instant};

use skyway_coord::CoordError;
use skyway_coord::client::{Client, Consistency, Session};
use skyway_tests::harness::start_cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_keeps_the_same_window_and_reading_before_it_is_a_clear_error() -> anyhow::Result<()> {
    let (cluster, _dir) = start_cluster(&["--membership-log-records-max", "4"])?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let client = cluster.client()?;
    for i in 0..6 {
        let session = Session::open(&client, Duration::from_secs(30), Some(&format!("m{i}"))).await?;
        session.close().await?;
    }
    // The leader commits its window on its next tick; until then the log may be longer.
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = client.membership_log(0, Consistency::Linearizable).await?;
        if log.len() <= 4 || Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let members: Vec<_> = log.iter().map(|r| r.member.as_str()).collect();
    assert_eq!(members, ["m4", "m4", "m5", "m5"], "the newest four records: {log:?}");
    let oldest = log[0].revision.0;

    // Before the window: refused, with the oldest record kept.
    match client.membership_log(1, Consistency::Linearizable).await {
        Err(CoordError::LogTrimmed { requested: 1, oldest: said, records_max: 4 }) => assert_eq!(said, oldest),
        other => panic!("expected LogTrimmed, got {other:?}"),
    }

    // Pages of one record, followed from one to the next, give the same log.
    let mut paged = Vec::new();
    let mut from = 0;
    loop {
        let page = client.membership_page(from, 1, Consistency::Linearizable).await?;
        assert!(page.records.len() <= 1);
        assert_eq!(page.oldest.map(|r| r.0), Some(oldest));
        paged.extend(page.records);
        match page.next {
            Some(next) => from = next.0,
            None => break,
        }
    }
    assert_eq!(paged, log);

    // Trimming is part of applying: every node has trimmed the very same records.
    let revision = log.last().unwrap().revision.0;
    for endpoint in cluster.endpoints() {
        let one = Client::connect(std::slice::from_ref(&endpoint))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while one.status_all().await.remove(0).1?.last_applied < revision {
            anyhow::ensure!(Instant::now() < deadline, "{endpoint} did not apply revision {revision}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(one.membership_log(0, Consistency::Serializable).await?, log, "{endpoint}");
    }
    Ok(())
}
