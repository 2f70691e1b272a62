//! Sessions end by agreement: an expiry committed by the leader deletes the session's
//! ephemeral nodes and appends the same failure record on every node; closing a session does
//! the same at once with a "left" record; a live session survives a leader failover; and a dead
//! one still expires while coordinator leaders keep failing (no fresh TTL per election).

use std::time::{Duration, Instant};

use skyway_coord::client::{Client, Consistency, Create, Session};
use skyway_coord::core::membership::{MembershipKind, MembershipRecord};
use skyway_sim::rig::netfault::{FaultProxy, Mode};
use skyway_tests::harness::start_cluster;

async fn create_ephemeral(client: &Client, session: &Session, path: &str) -> anyhow::Result<u64> {
    let request = Create { path: path.into(), ephemeral: Some(session.id()), make_parents: true, ..Default::default() };
    Ok(client.create(request).await?.revision.0)
}

/// Polls until `path` no longer exists, returning how long that took.
async fn wait_gone(client: &Client, path: &str, timeout: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while client.exists(path, Consistency::Linearizable).await?.stat.is_some() {
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
    assert!(client.exists("/skyway/members/cam-1", Consistency::Linearizable).await?.stat.is_none());

    let revision = client.get("/", Consistency::Linearizable).await?.revision.0;
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
    assert!(client.exists("/eph/a", Consistency::Linearizable).await?.stat.is_none());
    assert!(client.exists("/eph/b", Consistency::Linearizable).await?.stat.is_none());
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
    cluster.kill(leader).await?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    // Well past the TTL: the new leader granted a grace, in which the keep-alives found it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        client.exists("/eph/survivor", Consistency::Linearizable).await?.stat.is_some(),
        "a live session was expired across a failover"
    );
    let kinds: Vec<_> = client.membership_log(0, Consistency::Linearizable).await?.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [MembershipKind::Joined], "no failure may be recorded for a live member");
    session.close().await?;
    Ok(())
}

/// The trap of leases reset by every coordinator election: the holder is dead, and the
/// coordinator's leader is killed every 2.5 s — more often than the 4 s TTL. A new leader that
/// granted fresh TTLs would keep the dead session alive for as long as the elections go on; here
/// each new leader honours the checkpointed remainder or a grace of 1.83 s, so it expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_session_expires_while_coordinator_leaders_keep_failing() -> anyhow::Result<()> {
    let ttl = Duration::from_secs(4);
    let (mut cluster, _dir) = start_cluster(&[])?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let client = cluster.client()?;
    let session = Session::open(&client, ttl, Some("dead-holder")).await?;
    create_ephemeral(&client, &session, "/eph/dead-holder").await?;
    // Let a lease checkpoint or two commit, then the holder dies.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    drop(session);
    let died = Instant::now();

    let mut elections = 0;
    let expired_after = loop {
        if client.exists("/eph/dead-holder", Consistency::Linearizable).await?.stat.is_none() {
            break died.elapsed();
        }
        anyhow::ensure!(
            elections < 6,
            "the dead session outlived {elections} coordinator elections ({:?} after it died, TTL {ttl:?})",
            died.elapsed()
        );
        let leader = cluster.wait_for_leader(Duration::from_secs(20)).await?;
        let term_ends = Instant::now() + Duration::from_millis(2500);
        while Instant::now() < term_ends
            && client.exists("/eph/dead-holder", Consistency::Linearizable).await?.stat.is_some()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if Instant::now() >= term_ends {
            cluster.kill(leader).await?;
            cluster.spawn(leader)?;
            elections += 1;
        }
    };
    println!("dead session expired {expired_after:?} after its holder died, across {elections} leader kills");
    // By the committed remainder (≤ 4 s from the death) or one grace into some leader's term:
    // never more than a TTL plus one kill interval and one election here.
    assert!(expired_after < ttl + Duration::from_secs(4), "took {expired_after:?}");
    let kinds: Vec<_> = client.membership_log(0, Consistency::Linearizable).await?.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [MembershipKind::Joined, MembershipKind::Failed]);
    Ok(())
}

/// The endpoint a client prefers goes silent — connections stay open but nothing comes back, as
/// with a cut-off or paused node. Keep-alives must move to another endpoint within the TTL, not
/// retry the silent one until the session expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alives_move_off_an_endpoint_that_went_silent() -> anyhow::Result<()> {
    let (cluster, _dir) = start_cluster(&[])?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let endpoints = cluster.endpoints();
    let proxy = FaultProxy::start(endpoints[0].parse()?).await?;
    // The proxy first, so it is where this client starts.
    let client = Client::connect(&[proxy.addr().to_string(), endpoints[1].clone(), endpoints[2].clone()])?;
    let session = Session::open(&client, Duration::from_secs(1), Some("steady")).await?;
    create_ephemeral(&client, &session, "/eph/steady").await?;

    proxy.set(Mode::Hold);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let observer = cluster.client()?;
    assert!(
        observer.exists("/eph/steady", Consistency::Linearizable).await?.stat.is_some(),
        "the session expired while two nodes were reachable"
    );
    assert!(session.is_certain(), "the session should be certain again: {:?}", session.health());
    proxy.set(Mode::Pass);
    session.close().await?;
    Ok(())
}
