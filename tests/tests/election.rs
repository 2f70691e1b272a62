//! The election recipe: one primary per role, ranked backups, fencing tokens that strictly
//! increase from one primary to the next, takeover when the primary's session ends (crash or
//! clean resignation), and a campaign that fails instead of waiting on a dead session.

use std::time::Duration;

use skyway_coord::CoordError;
use skyway_coord::client::{Election, Session};
use skyway_sim::rig::process::Signal;
use skyway_tests::harness::start_cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primaries_follow_each_other_with_increasing_tokens() -> anyhow::Result<()> {
    let (cluster, _dir) = start_cluster(&[])?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let client = cluster.client()?;
    let election = Election::new(&client, "runway/07")?;

    let session_a = Session::open(&client, Duration::from_millis(1000), Some("ctl-a")).await?;
    let session_b = Session::open(&client, Duration::from_secs(3), Some("ctl-b")).await?;
    let session_c = Session::open(&client, Duration::from_secs(3), Some("ctl-c")).await?;
    let a = election.campaign(&session_a, "ctl-a").await?;
    let b = election.campaign(&session_b, "ctl-b").await?;
    let c = election.campaign(&session_c, "ctl-c").await?;

    let token_a = a.wait_primary(&session_a).await?;
    let view = election.observe().await?;
    assert_eq!(view.primary.as_ref().map(|p| p.data.as_ref()), Some(&b"ctl-a"[..]));
    let backups: Vec<&[u8]> = view.backups.iter().map(|b| b.data.as_ref()).collect();
    assert_eq!(backups, [&b"ctl-b"[..], &b"ctl-c"[..]], "backups are ranked in campaign order");
    assert_eq!(b.rank().await?, Some(1));
    assert_eq!(c.rank().await?, Some(2));

    // B waits; A crashes (its session's keep-alives stop): B takes over after the TTL.
    let b_waits = {
        let session = &session_b;
        async move { b.wait_primary(session).await.map(|token| (b, token)) }
    };
    drop(session_a);
    let (b, token_b) = tokio::time::timeout(Duration::from_secs(10), b_waits).await??;
    assert!(token_b > token_a, "tokens must strictly increase: {token_a} then {token_b}");

    // B resigns cleanly: C takes over at once, with a higher token still.
    let c_waits = async { c.wait_primary(&session_c).await };
    let resign = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        b.resign().await
    };
    let (token_c, resigned) = tokio::join!(c_waits, resign);
    resigned?;
    let token_c = token_c?;
    assert!(token_c > token_b, "tokens must strictly increase: {token_b} then {token_c}");
    assert_eq!(election.observe().await?.primary.map(|p| p.token), Some(token_c));
    drop(session_b);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_fails_when_its_session_is_gone() -> anyhow::Result<()> {
    let (cluster, _dir) = start_cluster(&[])?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let client = cluster.client()?;
    let election = Election::new(&client, "segment/12")?;
    let holder = Session::open(&client, Duration::from_secs(30), Some("holder")).await?;
    election.campaign(&holder, "holder").await?.wait_primary(&holder).await?;

    let waiter = Session::open(&client, Duration::from_millis(500), Some("waiter")).await?;
    let candidate = election.campaign(&waiter, "waiter").await?;
    // Cut the waiter off from the whole cluster: its keep-alives fail, so its session is lost.
    // The campaign must end with an error rather than keep waiting (or report success).
    let ids: Vec<u64> = cluster.nodes.keys().copied().collect();
    for id in &ids {
        cluster.signal(*id, Signal::Stop).await?;
    }
    let outcome = tokio::time::timeout(Duration::from_secs(10), candidate.wait_primary(&waiter)).await;
    for id in &ids {
        cluster.signal(*id, Signal::Cont).await?;
    }
    match outcome {
        Ok(Err(CoordError::SessionExpired { .. })) => {}
        Ok(other) => panic!("a campaign on a lost session must fail with SessionExpired, got {other:?}"),
        Err(_) => panic!("a campaign on a lost session kept waiting"),
    }
    Ok(())
}

/// A backup second in line takes over as soon as the primary's node goes, without reading the
/// role again; one further back must not: when the backup ahead of it goes, the primary is still
/// there, and it only moves up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_primarys_successor_takes_over_when_a_node_ahead_goes() -> anyhow::Result<()> {
    let (cluster, _dir) = start_cluster(&[])?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let client = cluster.client()?;
    let election = Election::new(&client, "runway/25")?;
    let ttl = Duration::from_secs(30);
    let (session_a, session_b, session_c) = (
        Session::open(&client, ttl, Some("ctl-a")).await?,
        Session::open(&client, ttl, Some("ctl-b")).await?,
        Session::open(&client, ttl, Some("ctl-c")).await?,
    );
    let a = election.campaign(&session_a, "ctl-a").await?;
    let b = election.campaign(&session_b, "ctl-b").await?;
    let c = election.campaign(&session_c, "ctl-c").await?;
    let token_a = a.wait_primary(&session_a).await?;

    // C waits behind B; B leaves (its session closes, so its node goes): A is still primary.
    let c_waits = c.wait_primary(&session_c);
    tokio::pin!(c_waits);
    tokio::select! {
        result = &mut c_waits => panic!("C is behind B and A; it cannot be primary yet: {result:?}"),
        closed = session_b.close() => closed?,
    }
    drop(b);
    tokio::select! {
        result = &mut c_waits => panic!("B left but A is still primary; C cannot be: {result:?}"),
        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
    }
    assert_eq!(c.rank().await?, Some(1), "C moved up behind A");
    assert_eq!(election.observe().await?.primary.map(|p| p.token), Some(token_a));

    // A leaves: C, now second in line, takes over.
    a.resign().await?;
    let token_c = tokio::time::timeout(Duration::from_secs(10), c_waits).await??;
    assert!(token_c > token_a, "tokens must strictly increase: {token_a} then {token_c}");
    assert_eq!(election.observe().await?.primary.map(|p| p.token), Some(token_c));
    drop(session_a);
    Ok(())
}
