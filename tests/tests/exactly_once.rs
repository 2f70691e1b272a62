//! Every write applied exactly once, however often the client retries it: a fault proxy in
//! front of one node delivers every request but, for a while at a time, holds the responses and
//! then cuts the connection (so they are never delivered), while a client does sets, sequential
//! creates and campaigns through it. The client retries each write whose answer it lost, with
//! the same request id; afterwards the versions, the sequential names and the candidates are
//! counted: N sets made version N, N sequential creates made N nodes, every campaign left one
//! candidate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use skyway_coord::client::{Client, ClientOptions, Consistency, Election, Session};
use skyway_sim::rig::netfault::{FaultProxy, Mode};
use skyway_tests::harness::start_cluster;

const SETS: u64 = 30;
const CREATES: usize = 30;
const CAMPAIGNS: usize = 4;

/// Until `stop`: pass for a while, then hold the responses (requests still go through), then cut
/// the connection so the held responses are lost, and refuse new connections for a moment.
async fn lose_responses(proxy: Arc<FaultProxy>, stop: Arc<AtomicBool>) -> usize {
    let mut rounds = 0;
    while !stop.load(Ordering::Relaxed) {
        proxy.set(Mode::Pass);
        tokio::time::sleep(Duration::from_millis(250)).await;
        proxy.set_to_client(Mode::Hold);
        tokio::time::sleep(Duration::from_millis(700)).await;
        proxy.set_to_client(Mode::Cut);
        tokio::time::sleep(Duration::from_millis(150)).await;
        rounds += 1;
    }
    proxy.set(Mode::Pass);
    rounds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_writes_apply_exactly_once() -> anyhow::Result<()> {
    let (cluster, _dir) = start_cluster(&[])?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let direct = cluster.client()?;
    let target: SocketAddr = cluster.nodes[&1].addr.parse()?;
    let proxy = Arc::new(FaultProxy::start(target).await?);
    let options = ClientOptions {
        request_timeout: Duration::from_millis(400),
        retry_budget: Duration::from_secs(60),
        connect_timeout: Duration::from_millis(300),
        token: None,
        tls: None,
    };
    let faulty = Client::new(&[proxy.addr().to_string()], options)?;

    // Sessions through the direct client, so their keep-alives are not disturbed.
    let mut sessions = Vec::new();
    for _ in 0..CAMPAIGNS {
        sessions.push(Session::open(&direct, Duration::from_secs(20), None).await?);
    }
    direct.create_node("/once", "").await?;
    direct.create_node("/once/counter", "0").await?;
    direct.create_node("/once/seq", "").await?;

    let stop = Arc::new(AtomicBool::new(false));
    let faults = tokio::spawn(lose_responses(proxy.clone(), stop.clone()));
    let slow_after = Duration::from_millis(400);
    let mut slow = 0;
    let pace = Duration::from_millis(40);

    for i in 1..=SETS {
        let started = Instant::now();
        faulty.set("/once/counter", i.to_string(), None).await?;
        slow += usize::from(started.elapsed() > slow_after);
        tokio::time::sleep(pace).await;
    }
    let mut created = Vec::new();
    for i in 0..CREATES {
        let started = Instant::now();
        let request = skyway_coord::client::Create {
            path: "/once/seq/n-".into(),
            data: i.to_string().into(),
            sequential: true,
            ..Default::default()
        };
        created.push(faulty.create(request).await?.path);
        slow += usize::from(started.elapsed() > slow_after);
        tokio::time::sleep(pace).await;
    }
    let election = Election::new(&faulty, "once/role")?;
    let mut candidates = Vec::new();
    for session in &sessions {
        let started = Instant::now();
        candidates.push(election.campaign(session, session.id().0.to_string()).await?);
        slow += usize::from(started.elapsed() > slow_after);
        tokio::time::sleep(pace * 5).await;
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = faults.await?;
    println!("{rounds} rounds of lost responses; {slow} writes needed retries");
    assert!(slow >= 3, "the faults must have made writes retry (only {slow} did)");

    // Counted through the direct client.
    let counter = direct.get("/once/counter", Consistency::Linearizable).await?;
    let version = counter.stat.version;
    assert_eq!(version, SETS, "{SETS} sets must make version {SETS}, not {version}");
    assert_eq!(counter.data.as_ref(), SETS.to_string().as_bytes());

    let names = direct.children("/once/seq", Consistency::Linearizable).await?.names;
    assert_eq!(names.len(), CREATES, "{CREATES} sequential creates made {} nodes: {names:?}", names.len());
    let mut answered: Vec<String> =
        created.iter().map(|p| p.rsplit('/').next().unwrap_or_default().to_string()).collect();
    answered.sort();
    assert_eq!(answered, names, "every create answered with the node it made");

    let view = Election::new(&direct, "once/role")?.observe().await?;
    for (session, candidate) in sessions.iter().zip(&candidates) {
        let own: Vec<_> = view.all().filter(|c| c.session == Some(session.id())).collect();
        assert_eq!(own.len(), 1, "session {} has {} candidates: {own:?}", session.id(), own.len());
        assert!(candidate.path().ends_with(&own[0].name), "the campaign answered with its own candidate");
    }
    assert_eq!(view.all().count(), CAMPAIGNS, "one candidate per campaign");
    Ok(())
}
