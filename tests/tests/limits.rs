//! Limits on everything, checked at the edge with an error that names the limit: the request
//! size (not only the value's), the namespace quota (deletes still work past it), watches per
//! connection, and watch batches bounded by bytes (a watcher of many large values still gets
//! every event, in order).

use std::time::Duration;

use bytes::Bytes;
use skyway_coord::CoordError;
use skyway_coord::client::{Client, Consistency, Create, Op, Txn, Watcher};
use skyway_tests::harness::start_cluster;

fn set_op(path: &str, bytes: usize) -> Op {
    Op::Set { path: path.into(), data: Bytes::from(vec![7u8; bytes]), expected_version: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_limit_is_the_requests_and_says_so() -> anyhow::Result<()> {
    let (cluster, _dir) = start_cluster(&[])?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let client = cluster.client()?;
    for path in ["/a", "/b", "/c", "/d"] {
        client.create_node(path, "").await?;
    }
    // Two values of 600 kB each: each under the 1 MiB value limit, together under the request's.
    let two = Txn { ops: vec![set_op("/a", 600_000), set_op("/b", 600_000)], ..Default::default() };
    client.txn(two).await?;
    assert_eq!(client.get("/b", Consistency::Linearizable).await?.data.len(), 600_000);

    // Four of 900 kB: over the 3 MiB request limit, refused with what to do, nothing applied.
    let revision = client.get("/", Consistency::Linearizable).await?.revision.0;
    let four = Txn { ops: ["/a", "/b", "/c", "/d"].iter().map(|p| set_op(p, 900_000)).collect(), ..Default::default() };
    let error = client.txn(four).await.unwrap_err();
    assert!(matches!(error, CoordError::RequestTooLarge { max: 3_145_728, .. }), "{error}");
    let text = error.to_string();
    assert!(text.contains("--request-bytes-max") && text.contains("split"), "the error must name the limit: {text}");
    assert_eq!(
        client.get("/", Consistency::Linearizable).await?.revision.0,
        revision,
        "a refused request changed something"
    );

    // A watcher from before all that gets every event of those large values, in order.
    let mut watcher = Watcher::start(&client, "/", true, 1).await?;
    let mut seen = Vec::new();
    while seen.last().is_none_or(|&r| r < revision) {
        let batch = tokio::time::timeout(Duration::from_secs(10), watcher.next()).await??;
        seen.extend(batch.iter().map(|e| e.revision.0));
    }
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "events out of order: {seen:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_quota_creates_are_refused_and_deletes_still_work() -> anyhow::Result<()> {
    let (cluster, _dir) = start_cluster(&["--quota-nodes", "40", "--quota-bytes", "100000"])?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let client = cluster.client()?;
    client.create_node("/q", "").await?;
    let mut made = Vec::new();
    let refused = loop {
        let path = format!("/q/n{}", made.len());
        match client.create_node(&path, "v").await {
            Ok(_) => made.push(path),
            Err(error) => break error,
        }
        assert!(made.len() < 40, "the node quota of 40 never refused a create");
    };
    assert!(matches!(&refused, CoordError::QuotaExceeded { what, max: 40, .. } if what == "nodes"), "{refused}");
    assert!(refused.to_string().contains("--quota-nodes"), "{refused}");
    // Deletes work past the quota, and make room again.
    client.delete(made.last().unwrap(), None).await?;
    client.delete(&made[0], None).await?;
    client.create_node("/q/again", "v").await?;
    for path in &made[1..6] {
        client.delete(path, None).await?; // room for the nodes below: their quota is bytes
    }

    // The byte quota: one 90 kB value fits, a second does not; a set that shrinks does.
    client.create_node("/q/big", vec![1u8; 90_000]).await?;
    let error = client.create_node("/q/big2", vec![1u8; 20_000]).await.unwrap_err();
    assert!(matches!(&error, CoordError::QuotaExceeded { what, .. } if what == "bytes"), "{error}");
    client.delete("/q/big", None).await?;
    client.create_node("/q/big2", vec![1u8; 20_000]).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_per_connection_are_limited_with_a_clear_error() -> anyhow::Result<()> {
    let (cluster, _dir) = start_cluster(&["--watches-per-connection-max", "3"])?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    // One endpoint, one connection: the fourth watch has nowhere else to go.
    let endpoint = cluster.endpoints()[0].clone();
    let client = Client::connect(&[endpoint])?;
    let mut watchers = Vec::new();
    for i in 0..3 {
        watchers.push(Watcher::start(&client, &format!("/w{i}"), false, 0).await?);
    }
    let error = Watcher::start(&client, "/w3", false, 0).await.err().expect("a fourth watch on one connection");
    assert!(matches!(error, CoordError::LimitReached { max: 3, .. }), "{error}");
    assert!(error.to_string().contains("--watches-per-connection-max"), "{error}");
    // A closed watch frees its place (the server notices the stream is gone).
    watchers.pop();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match Watcher::start(&client, "/w3", false, 0).await {
            Ok(_) => break,
            Err(e) if tokio::time::Instant::now() < deadline => {
                assert!(matches!(e, CoordError::LimitReached { .. }), "{e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("a closed watch never freed its place: {e}"),
        }
    }
    // Other requests on the connection are not affected.
    client.create(Create { path: "/still".into(), ..Default::default() }).await?;
    Ok(())
}
