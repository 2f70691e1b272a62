//! Controllers and an actuator inside one process — the arrangement the simulator uses — on an
//! embedded coordinator: one primary commands the role, a clean shutdown hands it to the backup,
//! and the in-process actuator's fsynced trail shows increasing tokens and no split brain.

use std::sync::Arc;
use std::time::{Duration, Instant};

use skyway_controller::actuator::{Actuator, CLAIM, read_trail};
use skyway_controller::controller::{self, ControllerConfig, RoleStatus};
use skyway_controller::link::ActuatorTarget;
use skyway_controller::role::Phase;
use skyway_sim::drill::judge_trail;
use skyway_sim::embedded::EmbeddedCluster;
use tokio::sync::oneshot;

const ROLE: &str = "runway/07";

struct Running {
    status: RoleStatus,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

fn start(name: &str, endpoints: &[String], actuator: &Arc<Actuator>) -> Running {
    let config = ControllerConfig {
        name: name.into(),
        roles: vec![ROLE.into()],
        endpoints: endpoints.to_vec(),
        actuator: ActuatorTarget::Local(actuator.clone()),
        ttl: Duration::from_secs(1),
        command_interval: Duration::from_millis(20),
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
    while !matches!(b.status.lock().unwrap().get(ROLE), Some(Phase::Backup { .. })) {
        anyhow::ensure!(Instant::now() < deadline, "b did not line up as backup: {:?}", b.status.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(matches!(a.status.lock().unwrap().get(ROLE), Some(Phase::Primary { .. })), "a came first and stays");

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
