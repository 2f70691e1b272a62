//! Controllers and an actuator inside one process — the arrangement the simulator uses — on an
//! embedded coordinator: one primary commands the role, a clean shutdown hands it to the backup,
//! and the in-process actuator's fsynced trail shows increasing tokens and no split brain. And
//! the health check that `skyway controller --health` serves tells a working controller from one
//! that holds a role but cannot act.

use std::sync::Arc;
use std::time::{Duration, Instant};

use skyway_controller::actuator::{Actuator, CLAIM, read_trail};
use skyway_controller::commander::Heartbeat;
use skyway_controller::controller::{self, ControllerConfig, RoleStatus};
use skyway_controller::health::Limits;
use skyway_controller::link::ActuatorTarget;
use skyway_controller::role::Phase;
use skyway_sim::cli::controller::health_routes;
use skyway_sim::drill::judge_trail;
use skyway_sim::rig::embedded::EmbeddedCluster;
use std::future::IntoFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

const ROLE: &str = "runway/07";

struct Running {
    status: RoleStatus,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<skyway_controller::Result<()>>,
}

fn start(name: &str, endpoints: &[String], actuator: &Arc<Actuator>) -> Running {
    start_with(name, endpoints, ActuatorTarget::Local(actuator.clone()))
}

fn start_with(name: &str, endpoints: &[String], actuator: ActuatorTarget) -> Running {
    let config = ControllerConfig {
        name: name.into(),
        roles: vec![ROLE.into()],
        endpoints: endpoints.to_vec(),
        client: Default::default(),
        actuator,
        ttl: Duration::from_secs(1),
        command_interval: Duration::from_millis(20),
        commander: Arc::new(Heartbeat),
    };
    let status = RoleStatus::default();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(controller::run(config, status.clone(), async {
        let _ = stopped.await;
    }));
    Running { status, stop, task }
}

/// Waits until the actuator has accepted a command (not a claim) from `controller`.
async fn wait_commanded_by(actuator: &Actuator, controller: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !actuator.audit(ROLE).iter().any(|e| e.accepted && e.controller == controller && e.action != CLAIM) {
        anyhow::ensure!(Instant::now() < deadline, "{controller} never commanded {ROLE}: {:?}", actuator.audit(ROLE));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_controllers_hand_a_role_over_through_an_in_process_actuator() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = EmbeddedCluster::start(&dir.path().join("coord"), 3).await?;
    let actuator = Arc::new(Actuator::open(&dir.path().join("actuator"))?);

    let a = start("a", cluster.endpoints(), &actuator);
    wait_commanded_by(&actuator, "a").await?;
    let b = start("b", cluster.endpoints(), &actuator);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !matches!(b.status.report().roles.get(ROLE).map(|r| r.phase), Some(Phase::Backup { .. })) {
        anyhow::ensure!(Instant::now() < deadline, "b did not line up as backup: {:?}", b.status.report());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        matches!(a.status.report().roles.get(ROLE).map(|r| r.phase), Some(Phase::Primary { .. })),
        "a came first and stays"
    );

    // A clean shutdown resigns: b takes over without waiting for a's session to expire.
    let _ = a.stop.send(());
    a.task.await??;
    wait_commanded_by(&actuator, "b").await?;

    let trail = actuator.audit(ROLE);
    assert_eq!(judge_trail(&trail), (0, 0), "split brains, token inversions: {trail:?}");
    let b_claim = trail.iter().position(|e| e.controller == "b" && e.action == CLAIM && e.accepted).expect("b claimed");
    assert!(
        trail[b_claim..].iter().all(|e| e.controller == "b" || !e.accepted),
        "a command of a was accepted after b claimed the role: {trail:?}"
    );
    let a_token = trail.iter().find(|e| e.controller == "a" && e.accepted).map(|e| e.token).unwrap();
    assert!(trail[b_claim].token > a_token, "the new primary's token must be higher");

    let _ = b.stop.send(());
    b.task.await??;
    // What the in-process actuator decided is on disk, as with an actuator process.
    assert_eq!(read_trail(actuator.trail_path())?, actuator.audit(""));
    cluster.stop().await
}

/// Serves the health routes of `status` and returns the answer to `GET path`: (status code, body).
async fn get(status: &RoleStatus, path: &str) -> anyhow::Result<(u16, String)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let limits = Limits::for_controller(Duration::from_secs(1), Duration::from_millis(20));
    let server = tokio::spawn(axum::serve(listener, health_routes("c".into(), status.clone(), limits)).into_future());
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    server.abort();
    let code = response.split_whitespace().nth(1).unwrap_or_default().parse()?;
    let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default();
    Ok((code, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_tells_a_working_primary_from_one_that_cannot_reach_its_actuator() -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).try_init();
    let dir = tempfile::tempdir()?;
    let cluster = EmbeddedCluster::start(&dir.path().join("coord"), 3).await?;
    let actuator = Arc::new(Actuator::open(&dir.path().join("actuator"))?);
    let working = start("a", cluster.endpoints(), &actuator);
    wait_commanded_by(&actuator, "a").await?;
    let (code, body) = get(&working.status, "/health").await?;
    assert_eq!(code, 200, "{body}");
    let (code, body) = get(&working.status, "/status").await?;
    let json: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(code, 200);
    assert!(json["roles"][ROLE]["phase"].as_str().unwrap().starts_with("primary"), "{json}");
    let _ = working.stop.send(());
    working.task.await??;

    // First in line, but its actuator is unreachable: it claims and claims and never acts. It
    // must not look healthy (the trap of an elector that reports fine while doing nothing).
    let stuck = start_with("s", cluster.endpoints(), ActuatorTarget::Remote("127.0.0.1:9".into()));
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let (code, body) = get(&stuck.status, "/health").await?;
        if code == 503 && body.contains("claiming") {
            break body;
        }
        anyhow::ensure!(Instant::now() < deadline, "still {code} after 20 s: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!("{body}");
    assert!(body.contains(ROLE), "{body}");
    let _ = stuck.stop.send(());
    stuck.task.await??;
    cluster.stop().await
}
