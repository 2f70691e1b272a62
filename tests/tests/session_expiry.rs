//! Sessions end by agreement: an expiry committed by the leader deletes the session's
//! ephemeral nodes and appends the same failure record on every node; closing a session does
//! the same at once with a "left" record; and a live session survives a leader failover.

use std::time::{Duration, Instant};

use skyway_coord::client::{Client, Consistency, Session};
use skyway_coord::core::membership::{MembershipKind, MembershipRecord};
use skyway_coord::proto::coord::CreateRequest;
use skyway_tests::harness::start_cluster;

async fn create_ephemeral(client: &Client, session: &Session, path: &str) -> anyhow::Result<u64> {
    let request = CreateRequest {
        path: path.into(),
        ephemeral: true,
        session_id: session.id().0,
        make_parents: true,
        ..Default::default()
    };
    Ok(client.create(request).await?.revision)
}

/// Polls until `path` no longer exists, returning how long that took.
async fn wait_gone(client: &Client, path: &str, timeout: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while client.exists(path, Consistency::Linearizable).await?.found {
        anyhow::ensure!(started.elapsed() < timeout, "{path} still exists after {timeout:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(started.elapsed())
}

/// The membership log as each node has it, once each has applied `revision`.
async fn logs_per_node(endpoints: &[String], revision: u64) -> anyhow::Result<Vec<Vec<MembershipRecord>>> {
    let mut logs = Vec::new();
    for endpoint in endpoints {
        let one = Client::connect(std::slice::from_ref(endpoint))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let status = one.status_all().await.remove(0).1?;
            if status.last_applied >= revision {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "{endpoint} did not apply revision {revision}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        logs.push(one.membership_log(0, Consistency::Serializable).await?);
    }
    Ok(logs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_deletes_ephemerals_and_every_node_records_the_same_failure() -> anyhow::Result<()> {
    let (cluster, _dir) = start_cluster(&[])?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let client = cluster.client()?;
    let session = Session::open(&client, Duration::from_millis(500), Some("cam-1")).await?;
    create_ephemeral(&client, &session, "/eph/cam-1").await?;
    assert_eq!(client.children("/skyway/members", Consistency::Linearizable).await?.names, ["cam-1"]);

    drop(session); // the process "crashes": keep-alives stop
    let took = wait_gone(&client, "/eph/cam-1", Duration::from_secs(10)).await?;
    println!("ephemeral node gone {took:?} after keep-alives stopped (TTL 500 ms)");
    assert!(!client.exists("/skyway/members/cam-1", Consistency::Linearizable).await?.found);

    let revision = client.get("/", Consistency::Linearizable).await?.revision;
    let logs = logs_per_node(&cluster.endpoints(), revision).await?;
    let kinds: Vec<_> = logs[0].iter().map(|r| (r.kind, r.member.as_str())).collect();
    assert_eq!(kinds, [(MembershipKind::Joined, "cam-1"), (MembershipKind::Failed, "cam-1")]);
    for (endpoint, log) in cluster.endpoints().iter().zip(&logs) {
        assert_eq!(log, &logs[0], "{endpoint} disagrees about the membership history");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_session_deletes_its_ephemerals_at_once_and_records_leaving() -> anyhow::Result<()> {
    let (cluster, _dir) = start_cluster(&[])?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let client = cluster.client()?;
    let session = Session::open(&client, Duration::from_secs(30), Some("ctl-a")).await?;
    create_ephemeral(&client, &session, "/eph/a").await?;
    create_ephemeral(&client, &session, "/eph/b").await?;
    session.close().await?;
    // No waiting: the close entry itself deleted them.
    assert!(!client.exists("/eph/a", Consistency::Linearizable).await?.found);
    assert!(!client.exists("/eph/b", Consistency::Linearizable).await?.found);
    let kinds: Vec<_> = client.membership_log(0, Consistency::Linearizable).await?.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [MembershipKind::Joined, MembershipKind::Left]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_session_survives_a_leader_failover() -> anyhow::Result<()> {
    let (mut cluster, _dir) = start_cluster(&[])?;
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let client = cluster.client()?;
    let session = Session::open(&client, Duration::from_secs(2), Some("survivor")).await?;
    create_ephemeral(&client, &session, "/eph/survivor").await?;
    cluster.kill(leader)?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    // Well past the TTL: the new leader granted a fresh TTL and the keep-alives kept it alive.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        client.exists("/eph/survivor", Consistency::Linearizable).await?.found,
        "a live session was expired across a failover"
    );
    let kinds: Vec<_> = client.membership_log(0, Consistency::Linearizable).await?.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [MembershipKind::Joined], "no failure may be recorded for a live member");
    session.close().await?;
    Ok(())
}
