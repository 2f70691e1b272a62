//! The running controller: holds a session, runs the election recipe for each of its roles,
//! and talks to the actuator — doing what the pure [`RoleMachine`](crate::role::RoleMachine)
//! decides.
//!
//! One session after another ([`run`]); per session, one task per role (`role_task`: the thin
//! shell around the role machine), one that spreads the roles over the controllers, and one that
//! publishes what this controller holds under [`STATUS_PATH`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use skyway_coord::client::{Client, ClientOptions, Create, Election, Session};
use tokio::sync::{Notify, mpsc, watch};

use crate::commander::Commander;
use crate::error::{Error, Result};
use crate::health::{Report, RoleReport};
use crate::link::{ActuatorLink, ActuatorTarget};
use crate::metrics::{ControllerMetrics, RoleLabel};
use crate::role::Phase;

/// How a controller runs.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// The controller's name (its member name and the data of its candidate nodes).
    pub name: String,
    /// The roles it serves, e.g. `runway/07`.
    pub roles: Vec<String>,
    /// Coordinator endpoints.
    pub endpoints: Vec<String>,
    /// How to talk to the coordinator (its TLS, timeouts).
    pub client: ClientOptions,
    /// The actuator: a process at host:port, or one in this process.
    pub actuator: ActuatorTarget,
    /// Session TTL.
    pub ttl: Duration,
    /// How often a primary asks its commander for a command and sends it.
    pub command_interval: Duration,
    /// What a primary sends ([`Heartbeat`](crate::commander::Heartbeat) for drills).
    pub commander: Arc<dyn Commander>,
}

/// What the controller holds, kept up to date by its tasks and read by status and health
/// reports (see [`crate::health`]).
#[derive(Default)]
pub struct StatusBoard {
    state: Mutex<BoardState>,
    changed: Notify,
    /// The controller's metrics, counted as the board hears of events.
    pub metrics: ControllerMetrics,
}

#[derive(Default)]
struct BoardState {
    /// Weak, so that a report never keeps a session from being closed.
    session: Weak<Session>,
    roles: BTreeMap<String, RoleReport>,
}

impl StatusBoard {
    /// A snapshot, with the session's certainty as of now.
    pub fn report(&self) -> Report {
        let state = self.state.lock().expect("status poisoned");
        Report { session: state.session.upgrade().map(|s| (s.id().0, s.is_certain())), roles: state.roles.clone() }
    }

    fn set_session(&self, session: &Arc<Session>) {
        self.state.lock().expect("status poisoned").session = Arc::downgrade(session);
    }

    fn set_phase(&self, role: &str, phase: Phase) {
        let now = Instant::now();
        let mut state = self.state.lock().expect("status poisoned");
        let before = state.roles.get(role).map(|r| r.phase);
        if before != Some(phase) {
            self.metrics.note_phase(role, before, phase);
        }
        let report =
            state.roles.entry(role.to_string()).or_insert(RoleReport { phase, since: now, last_accepted: None });
        if report.phase != phase {
            report.phase = phase;
            report.since = now;
        }
        drop(state);
        self.changed.notify_one();
    }

    fn refused(&self, role: &str) {
        self.metrics.commands_refused.get_or_create(&RoleLabel { role: role.to_string() }).inc();
    }

    fn accepted(&self, role: &str) {
        self.metrics.commands_accepted.get_or_create(&RoleLabel { role: role.to_string() }).inc();
        if let Some(report) = self.state.lock().expect("status poisoned").roles.get_mut(role) {
            report.last_accepted = Some(Instant::now());
        }
    }
}

/// A controller's status board, shared with whoever reports on it.
pub type RoleStatus = Arc<StatusBoard>;

struct Shared {
    config: ControllerConfig,
    client: Client,
    actuator: ActuatorLink,
    status: RoleStatus,
}

/// Where a controller publishes what it holds: an ephemeral node per controller, so that
/// `skyway ctl get /controllers/NAME` shows it and it vanishes with the session.
pub const STATUS_PATH: &str = "/controllers";

/// How long a resignation or the closing of the session may take: a coordinator that cannot be
/// reached must not keep a stopping controller from exiting (its session expires instead).
const RESIGN_TIMEOUT: Duration = Duration::from_secs(1);

mod role_task;

use self::role_task::run_role;

/// Why a role task ended.
enum RoleExit {
    SessionGone,
    Shutdown,
}

/// Runs a controller until `shutdown` completes; then resigns every role and closes the
/// session, so backups take over at once.
pub async fn run(
    config: ControllerConfig,
    status: RoleStatus,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let client = Client::new(&config.endpoints, config.client.clone()).map_err(Error::BadEndpoints)?;
    let actuator = ActuatorLink::new(&config.actuator)?;
    let shared = Arc::new(Shared { config, client, actuator, status });
    let (stop, stopping) = watch::channel(false);
    let epochs = tokio::spawn(run_sessions(shared.clone(), stopping));
    shutdown.await;
    tracing::info!(controller = %shared.config.name, "shutting down: resigning every role");
    let _ = stop.send(true);
    epochs.await.map_err(|e| Error::task("the controller's task", e))?
}

/// One session after another: when a session is lost, every role rejoins with a new one.
async fn run_sessions(shared: Arc<Shared>, stopping: watch::Receiver<bool>) -> Result<()> {
    let name = shared.config.name.clone();
    loop {
        let session = match Session::open(&shared.client, shared.config.ttl, Some(&name)).await {
            Ok(session) => Arc::new(session),
            Err(e) => {
                tracing::warn!(controller = %name, "cannot open a session: {e}; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(200)) => continue,
                    _ = wait_stop(stopping.clone()) => return Ok(()),
                }
            }
        };
        tracing::info!(controller = %name, session = %session.id(), "joined");
        shared.status.set_session(&session);
        let mut handovers = BTreeMap::new();
        let mut tasks = Vec::new();
        for role in &shared.config.roles {
            let (handover, handover_rx) = mpsc::channel(4);
            handovers.insert(role.clone(), handover);
            let task = run_role(shared.clone(), role.clone(), session.clone(), stopping.clone(), handover_rx);
            tasks.push(tokio::spawn(task));
        }
        let helpers = [
            tokio::spawn(spread_roles(shared.clone(), session.clone(), handovers)),
            tokio::spawn(publish_status(shared.clone(), session.clone())),
        ];
        let mut shutdown = false;
        for task in tasks {
            if let RoleExit::Shutdown = task.await.map_err(|e| Error::task("a role's task", e))? {
                shutdown = true;
            }
        }
        helpers.iter().for_each(|helper| helper.abort());
        for helper in helpers {
            let _ = helper.await;
        }
        if shutdown {
            if let Ok(session) = Arc::try_unwrap(session)
                && tokio::time::timeout(RESIGN_TIMEOUT, session.close()).await.is_err()
            {
                tracing::warn!(controller = %name, "the coordinator did not answer the session's close: it will expire");
            }
            tracing::info!(controller = %name, "stopped");
            return Ok(());
        }
        tracing::warn!(controller = %name, "session lost: rejoining as a candidate with a new session");
    }
}

async fn wait_stop(mut stopping: watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// Every so often, reads every role's line: tells backups their rank, and hands over one role
/// if this controller holds too many (see [`balance`]).
///
/// [`balance`]: crate::balance
async fn spread_roles(shared: Arc<Shared>, session: Arc<Session>, nudges: BTreeMap<String, mpsc::Sender<Nudge>>) {
    let name = &shared.config.name;
    let mut tick = tokio::time::interval(shared.config.ttl.max(Duration::from_millis(500)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !session.is_certain() {
            continue;
        }
        let Ok(lines) = role_lines(&shared.client, &shared.config.roles).await else { continue };
        // Backups learn their place in line, for status reports.
        for (role, line) in &lines {
            if let (Some(rank), Some(nudge)) = (line.iter().position(|c| c == name), nudges.get(role))
                && rank > 0
            {
                let _ = nudge.try_send(Nudge::Rank(rank));
            }
        }
        if let Some((role, next)) = crate::balance::handover(name, &lines) {
            tracing::info!(controller = %name, role, to = next, "handing a role over to spread the roles");
            if let Some(nudge) = nudges.get(role) {
                let _ = nudge.try_send(Nudge::HandOver);
            }
        }
    }
}

/// What the role-watching task tells a role task.
#[derive(Debug, Clone, Copy)]
enum Nudge {
    /// Hand the role over (spreading).
    HandOver,
    /// Our place in the role's line.
    Rank(usize),
}

/// Every role's line of candidates (controller names, primary first).
pub async fn role_lines(client: &Client, roles: &[String]) -> Result<BTreeMap<String, Vec<String>>> {
    let mut lines = BTreeMap::new();
    for role in roles {
        let view = Election::new(client, role)?.observe().await?;
        let line = view.all().map(|c| String::from_utf8_lossy(&c.data).into_owned()).collect();
        lines.insert(role.clone(), line);
    }
    Ok(lines)
}

/// Keeps `/controllers/NAME` (ephemeral, owned by the session) saying what each role is.
async fn publish_status(shared: Arc<Shared>, session: Arc<Session>) {
    let path = format!("{STATUS_PATH}/{}", shared.config.name);
    let mut created = false;
    loop {
        let status: BTreeMap<String, String> =
            shared.status.report().roles.iter().map(|(role, r)| (role.clone(), r.phase.to_string())).collect();
        let data = serde_json::json!({ "session": session.id().0, "roles": status }).to_string();
        let result = if created {
            shared.client.set(&path, data, None).await.map(|_| ())
        } else {
            let request = Create::new(path.clone(), data).ephemeral(session.id()).make_parents();
            // Fails with NodeExists while an earlier session of ours has not expired: retried.
            shared.client.create(request).await.map(|_| ())
        };
        match result {
            Ok(()) => created = true,
            Err(e) => {
                tracing::debug!(controller = %shared.config.name, "cannot publish status: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        }
        shared.status.changed.notified().await;
    }
}
