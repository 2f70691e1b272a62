//! The running controller: holds a session, runs the election recipe for each of its roles,
//! and talks to the actuator — doing what the pure [`RoleMachine`] decides.
//!
//! One task per role. Each waits for whichever comes first — the election making it first in
//! line, a change of session health, the next command tick while primary, or shutdown — feeds
//! it to the machine, and carries out the actions. Right before every command it checks that
//! the session is still certainly alive by its own clock ([`Session::is_certain`]), so a
//! process that was paused or cut off does not act on a session the leader may have expired;
//! the fencing token covers the rest.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use skyway_coord::CoordError;
use skyway_coord::client::{Candidate, Client, ClientOptions, Consistency, Election, Session, SessionHealth};
use skyway_coord::proto::coord as pb;
use tokio::sync::{Notify, mpsc, watch};

use crate::commander::{Commander, RoleCommander};
use crate::error::{Error, Result};
use crate::health::{Report, RoleReport};
use crate::link::{ActuatorLink, ActuatorTarget};
use crate::metrics::{ControllerMetrics, RoleLabel};
use crate::proto::Decision;
use crate::role::{Action, Event, Phase, RoleMachine};

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

/// First wait before retrying a failed campaign or claim; it doubles up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(1);

/// How long a resignation or the closing of the session may take: a coordinator that cannot be
/// reached must not keep a stopping controller from exiting (its session expires instead).
const RESIGN_TIMEOUT: Duration = Duration::from_secs(1);

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

/// Waits until `candidate` is first in line; never completes without a candidate.
async fn first_in_line(candidate: Option<&Candidate>, session: &Session) -> Result<u64, CoordError> {
    match candidate {
        Some(candidate) => candidate.wait_primary(session).await.map(|token| token.0),
        None => std::future::pending().await,
    }
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
            let request = pb::CreateRequest {
                path: path.clone(),
                data: data.into(),
                ephemeral: true,
                make_parents: true,
                session_id: session.id().0,
                ..Default::default()
            };
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

async fn run_role(
    shared: Arc<Shared>,
    role: String,
    session: Arc<Session>,
    stopping: watch::Receiver<bool>,
    mut nudges: mpsc::Receiver<Nudge>,
) -> RoleExit {
    let name = shared.config.name.clone();
    let election = match Election::new(&shared.client, &role) {
        Ok(election) => election,
        Err(e) => {
            tracing::error!(controller = %name, %role, "cannot serve this role: {e}");
            return RoleExit::Shutdown;
        }
    };
    let mut machine = RoleMachine::new(&role);
    let mut health = session.health_changes();
    let mut pending: VecDeque<Action> = machine.on(Event::SessionOpened).into();
    let mut candidate: Option<Candidate> = None;
    let mut ticker = tokio::time::interval(shared.config.command_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let inputs = shared.config.commander.inputs(&role);
    let mut term: Option<(u64, Box<dyn RoleCommander>)> = None;
    let mut reported = machine.phase();
    shared.status.set_phase(&role, reported);
    // A failed campaign or claim is retried from the select below, with a growing backoff.
    let mut retry: Option<(Action, tokio::time::Instant)> = None;
    let mut backoff = RETRY_MIN;
    loop {
        while let Some(action) = pending.pop_front() {
            report(&shared, &role, &mut reported, machine.phase());
            match action {
                Action::Campaign => match election.campaign(&session, name.clone()).await {
                    Ok(created) => {
                        backoff = RETRY_MIN;
                        candidate = Some(created);
                        pending.extend(machine.on(Event::Campaigned));
                    }
                    Err(e) if session.health() == SessionHealth::Gone => {
                        tracing::debug!(%role, "campaign failed with the session gone: {e}");
                        pending.extend(machine.on(Event::SessionGone));
                    }
                    Err(e) => {
                        tracing::warn!(controller = %name, %role, "campaign failed: {e}; retrying in {backoff:?}");
                        retry = Some((Action::Campaign, tokio::time::Instant::now() + backoff));
                        backoff = (backoff * 2).min(RETRY_MAX);
                        break;
                    }
                },
                Action::Claim { token } => match claim(&shared, &role, token).await {
                    Ok(decision) if decision.accepted => {
                        backoff = RETRY_MIN;
                        shared.status.accepted(&role);
                        pending.extend(machine.on(Event::ClaimAccepted))
                    }
                    Ok(decision) => {
                        shared.status.refused(&role);
                        pending.extend(machine.on(Event::Refused { floor: decision.floor }))
                    }
                    Err(e) if session.is_certain() => {
                        // Not in a loop here: while it waits to retry, the task still hears
                        // shutdown, session changes and nudges, and reports itself as claiming.
                        tracing::warn!(controller = %name, %role, "claim failed: {e}; retrying in {backoff:?}");
                        retry = Some((Action::Claim { token }, tokio::time::Instant::now() + backoff));
                        backoff = (backoff * 2).min(RETRY_MAX);
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(controller = %name, %role, "claim failed and the session is in doubt: {e}");
                        pending.extend(machine.on(Event::SessionUncertain));
                    }
                },
                Action::StartActing { token } => {
                    tracing::info!(controller = %name, %role, token, "primary: acting");
                    // A new term starts a new decision-maker; resuming the same term keeps it.
                    if term.as_ref().is_none_or(|(current, _)| *current != token) {
                        term = Some((token, shared.config.commander.start(&role, token)));
                    }
                    ticker.reset_immediately();
                }
                Action::StopActing { reason } => {
                    tracing::warn!(controller = %name, %role, "stopped acting: {reason}");
                }
                Action::Resign => {
                    if let Some(candidate) = candidate.take() {
                        match tokio::time::timeout(RESIGN_TIMEOUT, candidate.resign()).await {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => {
                                tracing::warn!(controller = %name, %role, "resign failed (the session's end will remove it): {e}")
                            }
                            Err(_) => tracing::warn!(
                                controller = %name, %role, "no answer to the resignation within {RESIGN_TIMEOUT:?}: the session's end will remove it"
                            ),
                        }
                    }
                }
                Action::Rejoin => {
                    report(&shared, &role, &mut reported, machine.phase());
                    return RoleExit::SessionGone;
                }
            }
        }
        report(&shared, &role, &mut reported, machine.phase());
        if machine.phase() == Phase::Stopped {
            return RoleExit::Shutdown;
        }
        let waiting = matches!(machine.phase(), Phase::Backup { .. }) && session.health() == SessionHealth::Alive;
        let acting = machine.acting_token();
        tokio::select! {
            _ = wait_stop(stopping.clone()) => pending.extend(machine.on(Event::Shutdown)),
            _ = tokio::time::sleep_until(retry.as_ref().map_or_else(tokio::time::Instant::now, |(_, at)| *at)),
                if retry.is_some() => {
                // Only if the machine still wants it: an event meanwhile may have moved it on.
                let (action, _) = retry.take().expect("retry");
                let still_wanted = match (&action, machine.phase()) {
                    (Action::Campaign, Phase::Campaigning) => true,
                    (Action::Claim { token }, Phase::Claiming { token: current }) => *token == current,
                    _ => false,
                };
                if still_wanted {
                    pending.push_front(action);
                }
            }
            Some(nudge) = nudges.recv() => pending.extend(machine.on(match nudge {
                Nudge::HandOver => Event::HandOver,
                Nudge::Rank(rank) => Event::Ranked(rank),
            })),
            changed = health.changed() => {
                let event = match (changed, *health.borrow_and_update()) {
                    (Err(_), _) | (_, SessionHealth::Gone) => Event::SessionGone,
                    (_, SessionHealth::Uncertain) => Event::SessionUncertain,
                    (_, SessionHealth::Alive) => Event::SessionAlive,
                };
                pending.extend(machine.on(event));
            }
            first = first_in_line(candidate.as_ref().filter(|_| waiting), &session) => match first {
                Ok(token) => pending.extend(machine.on(Event::FirstInLine { token })),
                Err(_) if session.health() == SessionHealth::Gone => pending.extend(machine.on(Event::SessionGone)),
                Err(_) if session.health() != SessionHealth::Alive => {} // health change comes next
                Err(CoordError::SessionExpired { .. }) => pending.extend(machine.on(Event::CandidateLost)),
                Err(e) => {
                    tracing::warn!(controller = %name, %role, "watching the election failed: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = ticker.tick(), if acting.is_some() => {
                let token = acting.expect("acting");
                // The last check before acting: is the session certainly alive right now?
                if !session.is_certain() {
                    pending.extend(machine.on(Event::SessionUncertain));
                    continue;
                }
                let Some(action) = next_command(&shared, &inputs, &mut term, token).await else { continue };
                match shared.actuator.command(&role, &name, token, action).await {
                    Ok(decision) if decision.accepted => shared.status.accepted(&role),
                    Ok(decision) => {
                        shared.status.refused(&role);
                        tracing::warn!(controller = %name, %role, "{}", decision.reason);
                        pending.extend(machine.on(Event::Refused { floor: decision.floor }));
                    }
                    Err(e) => tracing::warn!(controller = %name, %role, "command not delivered: {e}"),
                }
            }
        }
    }
}

fn report(shared: &Shared, role: &str, reported: &mut Phase, phase: Phase) {
    if *reported != phase {
        tracing::info!(controller = %shared.config.name, role, %phase, "role changed");
        *reported = phase;
        shared.status.set_phase(role, phase);
    }
}

async fn claim(shared: &Shared, role: &str, token: u64) -> Result<Decision> {
    shared.actuator.claim(role, &shared.config.name, token).await
}

/// Reads the role's inputs and asks the term's commander what to send; None if it has nothing
/// to say or an input could not be read (a primary does not act on what it could not see).
async fn next_command(
    shared: &Shared,
    inputs: &[String],
    term: &mut Option<(u64, Box<dyn RoleCommander>)>,
    token: u64,
) -> Option<String> {
    let mut values = Vec::with_capacity(inputs.len());
    for path in inputs {
        match shared.client.get(path, Consistency::Linearizable).await {
            Ok(reply) => values.push(Some(reply.data)),
            Err(CoordError::NotFound { .. }) => values.push(None),
            Err(e) => {
                tracing::debug!(controller = %shared.config.name, path, "cannot read an input: {e}");
                return None;
            }
        }
    }
    let (_, commander) = term.as_mut().filter(|(current, _)| *current == token)?;
    commander.next(&values)
}
