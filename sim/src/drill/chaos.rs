//! The chaos drill: for a few minutes, random kills (SIGKILL, then a restart), pauses
//! (SIGSTOP, then SIGCONT) and partitions (the links' fault proxies held, then healed) of
//! coordinator nodes and controllers, under a workload of register reads, writes and
//! compare-and-sets, creates, watches, sessions with ephemeral nodes, and the controllers
//! holding their roles. At the end, with every fault healed, the recorded history is judged
//! ([`history::judge`]): linearizable, no acknowledged write missing, every watch complete and in
//! order, no role with two primaries, no ephemeral node outliving its session.
//!
//! The faults come one at a time from a seeded plan ([`FaultPlan`], pure), so a run is told by
//! its seed; at most one coordinator node is faulted at once, so a quorum stays and the workload
//! keeps going. Registers are renewed every [`EPOCH`] (new keys), which keeps each key's history
//! small enough for the linearizability search however long the run.
//!
//! Caveats: the processes' timing is not reproducible, only the plan is; the workload's clients
//! dial the coordinator nodes directly (a paused node stalls them until their request timeout,
//! which the history records as unknown outcomes).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use skyway_coord::CoordError;
use skyway_coord::client::{Client, ClientOptions, Consistency, Create, Session, WatchEvent, Watcher};
use tokio::sync::watch;

use super::history::{self, ChaosHistory, Check, CreateOutcome, EPHEMERALS, LOG, REGISTERS, ROOT};
use super::{DrillConfig, Rig, audit, kill_controller, settle, spawn_controller, start_rig};
use crate::lincheck::{CheckOptions, Input, Operation, Output};
use crate::rig::netfault::Mode;
use crate::rig::process::Signal;

/// How long one set of registers is used before the workload moves to fresh keys.
pub const EPOCH: Duration = Duration::from_secs(10);
/// Registers per epoch.
pub const KEYS: usize = 3;
/// TTL of the session workers' sessions.
const SESSION_TTL: Duration = Duration::from_secs(2);
/// Created once the workload has stopped: the watchers are drained up to its revision.
const END: &str = "/chaos/end";

/// What a chaos run does.
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    /// The rig (binary, controllers, roles, TTL, seed); its `load_clients` is ignored.
    pub drill: DrillConfig,
    /// How long faults are injected.
    pub duration: Duration,
    /// Register and create clients.
    pub clients: usize,
    /// Watchers of the whole workload.
    pub watchers: usize,
    /// Session workers (open a session, create an ephemeral node, close it, again).
    pub sessions: usize,
}

/// What is faulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Target {
    /// The coordinator's Raft leader at the time of the fault.
    CoordLeader,
    /// A coordinator node, by id.
    CoordNode(u64),
    /// A controller, by index.
    Controller(usize),
}

/// How it is faulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum FaultKind {
    /// SIGKILL, restarted after the hold.
    Kill,
    /// SIGSTOP, SIGCONT after the hold.
    Pause,
    /// Every link held both ways, healed after the hold.
    Partition,
}

/// One fault of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Fault {
    /// How.
    pub kind: FaultKind,
    /// What.
    pub target: Target,
    /// How long the fault lasts.
    pub hold: Duration,
    /// How long everything runs healed before the next fault.
    pub quiet: Duration,
}

impl Fault {
    /// Its kind and target class, for the summary (`kill coordinator leader`).
    pub fn label(&self) -> String {
        let kind = match self.kind {
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::Partition => "partition",
        };
        let target = match self.target {
            Target::CoordLeader => "coordinator leader",
            Target::CoordNode(_) => "coordinator node",
            Target::Controller(_) => "controller",
        };
        format!("{kind} {target}")
    }
}

/// The seeded sequence of faults. Pure: the same seed gives the same faults.
pub struct FaultPlan {
    rng: StdRng,
    nodes: u64,
    controllers: usize,
    ttl: Duration,
}

impl FaultPlan {
    /// A plan for a cluster of `nodes` and `controllers` whose sessions have `ttl`.
    pub fn new(seed: u64, nodes: u64, controllers: usize, ttl: Duration) -> Self {
        Self { rng: StdRng::seed_from_u64(seed), nodes, controllers, ttl }
    }

    /// The next fault: half on the coordinator (its leader half of those), half on controllers;
    /// held from half a TTL to three TTLs (past the TTL, sessions expire), then up to a TTL quiet.
    pub fn next_fault(&mut self) -> Fault {
        let kind = match self.rng.random_range(0..3) {
            0 => FaultKind::Kill,
            1 => FaultKind::Pause,
            _ => FaultKind::Partition,
        };
        let target = match self.rng.random_range(0..4) {
            0 => Target::CoordLeader,
            1 => Target::CoordNode(self.rng.random_range(1..=self.nodes)),
            _ => Target::Controller(self.rng.random_range(0..self.controllers)),
        };
        let hold = self.ttl.mul_f64(self.rng.random_range(0.5..3.0));
        let quiet = Duration::from_millis(200) + self.ttl.mul_f64(self.rng.random_range(0.0..1.0));
        Fault { kind, target, hold, quiet }
    }
}

/// What the workload did, by kind.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OpCounts {
    /// Register reads, writes and compare-and-sets recorded (unknown outcomes included).
    pub register_ops: usize,
    /// Creates in the log acknowledged.
    pub creates_acked: usize,
    /// Creates in the log with an unknown outcome.
    pub creates_unknown: usize,
    /// Sessions opened by the session workers.
    pub sessions_opened: usize,
    /// Events delivered to the watchers, all together.
    pub watch_events: usize,
    /// Commands the actuator accepted from the controllers.
    pub commands_accepted: usize,
    /// Operations that failed in a way that proves they were not applied (not recorded).
    pub refused: usize,
}

/// A chaos run's summary.
#[derive(Debug, Clone, Serialize)]
pub struct ChaosReport {
    /// The plan's seed (rerun with `--seed`).
    pub seed: u64,
    /// Seconds faults were injected.
    pub seconds: f64,
    /// Faults injected, by kind and target class.
    pub faults: BTreeMap<String, usize>,
    /// The workload.
    pub ops: OpCounts,
    /// The checks, in order.
    pub checks: Vec<Check>,
}

impl ChaosReport {
    /// Whether any check failed.
    pub fn violated(&self) -> bool {
        self.checks.iter().any(|c| !c.passed)
    }
}

/// Shared between the workload's tasks.
struct Workload {
    start: Instant,
    /// The newest epoch whose registers exist.
    epoch: watch::Receiver<u64>,
    stop: watch::Receiver<bool>,
    refused: AtomicU64,
}

impl Workload {
    fn micros(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }
}

fn register(epoch: u64, k: usize) -> String {
    format!("{REGISTERS}/e{epoch}-k{k}")
}

/// Errors that prove a write was not applied: the operation is left out of the history.
fn certainly_not_applied(error: &CoordError) -> bool {
    matches!(error, CoordError::NotLeader { .. } | CoordError::Unavailable { .. })
}

/// Runs the chaos drill with its processes under `root`; the report says what the checks found.
pub async fn run(config: &ChaosConfig, root: &Path) -> anyhow::Result<ChaosReport> {
    let mut drill = config.drill.clone();
    drill.load_clients = 0;
    let mut rig = start_rig(&drill, root).await?;
    settle(&mut rig, &drill, Duration::from_secs(30)).await?;
    for dir in [ROOT, REGISTERS, LOG, EPHEMERALS] {
        create_until_there(&rig.client, dir, String::new()).await?;
    }
    let from = rig.client.get("/", Consistency::Linearizable).await?.revision.0 + 1;
    let endpoints = rig.cluster.endpoints();
    let (epoch_tx, epoch) = watch::channel(0);
    let (stop_tx, stop) = watch::channel(false);
    let workload = Arc::new(Workload { start: Instant::now(), epoch, stop, refused: AtomicU64::new(0) });
    let registers: Arc<Mutex<Vec<Operation>>> = Arc::default();
    create_registers(&rig.client, &workload, 0, &registers).await?;

    let mut watchers = Vec::new();
    for i in 0..config.watchers {
        let client = Client::starting_at(&endpoints, ClientOptions::default(), i)?;
        let watcher = Watcher::start(&client, ROOT, true, from).await?;
        watchers.push(tokio::spawn(record_watch(watcher, workload.stop.clone())));
    }
    let keeper = tokio::spawn(keep_epochs(rig.client.clone(), workload.clone(), epoch_tx, registers.clone()));
    let mut clients = Vec::new();
    for id in 1..=config.clients as u64 {
        let client = Client::starting_at(&endpoints, ClientOptions::default(), id as usize)?;
        clients.push(tokio::spawn(run_client(id, client, workload.clone(), config.drill.seed)));
    }
    let mut sessions = Vec::new();
    for id in 1..=config.sessions as u64 {
        let client = Client::starting_at(&endpoints, ClientOptions::default(), id as usize)?;
        sessions.push(tokio::spawn(run_sessions(id, client, workload.clone())));
    }

    let started = Instant::now();
    let mut plan = FaultPlan::new(drill.seed, endpoints.len() as u64, rig.controllers.len(), drill.ttl);
    let mut faults: BTreeMap<String, usize> = BTreeMap::new();
    while started.elapsed() < config.duration {
        let fault = plan.next_fault();
        tracing::info!(?fault, "chaos: injecting");
        inject(&mut rig, &drill, root, fault).await.with_context(|| format!("injecting {fault:?}"))?;
        *faults.entry(fault.label()).or_default() += 1;
        tokio::time::sleep(fault.quiet).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    stop_tx.send_replace(true);

    let mut chaos = ChaosHistory::default();
    let mut ops = OpCounts::default();
    for client in clients {
        let (register_ops, creates) = client.await?;
        ops.register_ops += register_ops.len();
        registers.lock().expect("registers poisoned").extend(register_ops);
        chaos.creates.extend(creates);
    }
    keeper.await??;
    for session in sessions {
        ops.sessions_opened += session.await?;
    }
    rig.cluster.wait_for_leader(Duration::from_secs(30)).await?;
    let epochs = *workload.epoch.borrow();
    let mut history_ops = std::mem::take(&mut *registers.lock().expect("registers poisoned"));
    for epoch in 0..=epochs {
        for k in 0..KEYS {
            let (op, version) = final_read(&rig.client, &workload, &register(epoch, k)).await?;
            history_ops.push(op);
            chaos.register_versions.insert(register(epoch, k), version);
        }
    }
    chaos.registers = history_ops;
    chaos.log_at_end = children(&rig.client, LOG).await?;
    // A last write under the watched tree: every watcher must deliver up to it.
    create_until_there(&rig.client, END, String::new()).await?;
    let end = rig.client.get(END, Consistency::Linearizable).await?.stat.mod_revision.0;
    for watcher in watchers {
        let (events, mut watcher) = watcher.await?;
        chaos.watches.push(drain_watch(events, &mut watcher, end).await?);
    }
    chaos.ephemerals_left = ephemerals_after_sessions(&rig.client).await?;
    let served_again = settle(&mut rig, &drill, Duration::from_secs(60)).await;
    chaos.audit = audit(&rig).await?;

    ops.creates_acked = chaos.creates.values().filter(|o| **o == CreateOutcome::Acked).count();
    ops.creates_unknown = chaos.creates.len() - ops.creates_acked;
    ops.watch_events = chaos.watches.iter().map(Vec::len).sum();
    ops.commands_accepted = chaos.audit.iter().filter(|e| e.accepted).count();
    ops.refused = workload.refused.load(Ordering::Relaxed) as usize;
    let mut checks = history::judge(&chaos, &CheckOptions::default());
    checks.push(Check {
        name: "every role served again after the faults",
        passed: served_again.is_ok(),
        detail: served_again
            .map_or_else(|e| format!("{e:#}"), |()| "every role commanded, every controller a member".into()),
    });
    Ok(ChaosReport { seed: drill.seed, seconds, faults, ops, checks })
}

/// Injects one fault, holds it, heals it.
async fn inject(rig: &mut Rig, config: &DrillConfig, root: &Path, fault: Fault) -> anyhow::Result<()> {
    let node = match fault.target {
        Target::CoordLeader => Some(rig.cluster.wait_for_leader(Duration::from_secs(30)).await?),
        Target::CoordNode(id) => Some(id),
        Target::Controller(_) => None,
    };
    if let Some(id) = node {
        match fault.kind {
            FaultKind::Kill => {
                rig.cluster.kill(id).await?;
                tokio::time::sleep(fault.hold).await;
                rig.cluster.spawn(id)?;
            }
            FaultKind::Pause => {
                rig.cluster.signal(id, Signal::Stop).await?;
                tokio::time::sleep(fault.hold).await;
                rig.cluster.signal(id, Signal::Cont).await?;
            }
            FaultKind::Partition => {
                rig.links.isolate(id);
                tokio::time::sleep(fault.hold).await;
                rig.links.heal();
            }
        }
        return Ok(());
    }
    let Target::Controller(index) = fault.target else { unreachable!("coordinator faults returned above") };
    match fault.kind {
        FaultKind::Kill => {
            kill_controller(&mut rig.controllers[index]).await?;
            tokio::time::sleep(fault.hold).await;
            let child = spawn_controller(config, &rig.controllers[index], &root.join("logs"))?;
            rig.controllers[index].child = Some(child);
        }
        FaultKind::Pause => {
            rig.controllers[index].signal(Signal::Stop).await?;
            tokio::time::sleep(fault.hold).await;
            rig.controllers[index].signal(Signal::Cont).await?;
        }
        FaultKind::Partition => {
            rig.controllers[index].set_links(Mode::Hold);
            tokio::time::sleep(fault.hold).await;
            rig.controllers[index].set_links(Mode::Pass);
        }
    }
    Ok(())
}

/// Creates a persistent node, retrying through faults; `Ok` once it is there (a retry that finds
/// it is an earlier attempt that was applied).
async fn create_until_there(client: &Client, path: &str, data: String) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let request = Create { path: path.into(), data: data.clone().into(), ..Default::default() };
        match client.create(request).await {
            Ok(_) | Err(CoordError::NodeExists { .. }) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e).with_context(|| format!("cannot create {path}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Creates an epoch's registers, each recorded as a write from its first attempt to its success.
async fn create_registers(
    client: &Client,
    workload: &Workload,
    epoch: u64,
    registers: &Mutex<Vec<Operation>>,
) -> anyhow::Result<()> {
    for k in 0..KEYS {
        let (path, value) = (register(epoch, k), format!("init-e{epoch}-k{k}"));
        let call = workload.micros();
        create_until_there(client, &path, value.clone()).await?;
        let op = Operation {
            client: 0,
            key: path,
            call,
            ret: workload.micros(),
            input: Input::Write(value),
            output: Output::Written,
        };
        registers.lock().expect("registers poisoned").push(op);
    }
    Ok(())
}

/// Every [`EPOCH`], creates the next epoch's registers and moves the clients to them.
async fn keep_epochs(
    client: Client,
    workload: Arc<Workload>,
    epoch_tx: watch::Sender<u64>,
    registers: Arc<Mutex<Vec<Operation>>>,
) -> anyhow::Result<()> {
    let mut stop = workload.stop.clone();
    let mut epoch = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(EPOCH) => {}
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
        epoch += 1;
        create_registers(&client, &workload, epoch, &registers).await?;
        epoch_tx.send_replace(epoch);
    }
}

/// One client: random register operations and creates until stopped.
async fn run_client(
    id: u64,
    client: Client,
    workload: Arc<Workload>,
    seed: u64,
) -> (Vec<Operation>, BTreeMap<String, CreateOutcome>) {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(1000).wrapping_add(id));
    let (mut ops, mut creates) = (Vec::new(), BTreeMap::new());
    // The last value and version read per register, for compare-and-sets.
    let mut last_read: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let mut n = 0u64;
    while !workload.stopped() {
        let epoch = *workload.epoch.borrow();
        let key = register(epoch, rng.random_range(0..KEYS));
        n += 1;
        let value = format!("c{id}-{n}");
        let call = workload.micros();
        let choice = rng.random_range(0..10);
        let (input, output) = match (choice, last_read.get(&key).cloned()) {
            (8.., _) => {
                let path = format!("{LOG}/c{id}-{n}");
                match client.create_node(&path, Vec::new()).await {
                    Ok(_) => creates.insert(path, CreateOutcome::Acked),
                    Err(e) if certainly_not_applied(&e) => {
                        workload.refused.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                    Err(_) => creates.insert(path, CreateOutcome::Unknown),
                };
                continue;
            }
            (0..4, _) | (_, None) => match client.get(&key, Consistency::Linearizable).await {
                Ok(node) => {
                    let read = String::from_utf8_lossy(&node.data).into_owned();
                    last_read.insert(key.clone(), (read.clone(), node.stat.version));
                    (Input::Read, Output::Read(Some(read)))
                }
                Err(_) => continue, // a failed read has no effect
            },
            (4..6, _) => match client.set(&key, value.clone(), None).await {
                Ok(_) => (Input::Write(value), Output::Written),
                Err(e) if certainly_not_applied(&e) => {
                    workload.refused.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Err(_) => (Input::Write(value), Output::Unknown),
            },
            (_, Some((expected, version))) => {
                // Values are unique, so "at version v" is "holding the value read at v".
                let output = match client.set(&key, value.clone(), Some(version)).await {
                    Ok(_) => Output::Cas(true),
                    Err(CoordError::BadVersion { .. }) => Output::Cas(false),
                    Err(e) if certainly_not_applied(&e) => {
                        workload.refused.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    Err(_) => Output::Unknown,
                };
                (Input::Cas { expected: Some(expected), new: value }, output)
            }
        };
        ops.push(Operation { client: id, key, call, ret: workload.micros(), input, output });
    }
    (ops, creates)
}

/// One session worker: opens a session, creates an ephemeral node in it, keeps it a moment,
/// closes it; again until stopped. Returns the sessions it opened.
async fn run_sessions(id: u64, client: Client, workload: Arc<Workload>) -> usize {
    let mut opened = 0;
    let mut n = 0;
    while !workload.stopped() {
        let Ok(session) = Session::open(&client, SESSION_TTL, None).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        opened += 1;
        n += 1;
        let request =
            Create { path: format!("{EPHEMERALS}/s{id}-{n}"), ephemeral: Some(session.id()), ..Default::default() };
        let _ = client.create(request).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        // A close that fails leaves the session to expire: the check waits for that too.
        let _ = session.close().await;
    }
    opened
}

/// Records a watcher's events until the workload stops; returns them and the watcher, to drain.
async fn record_watch(mut watcher: Watcher, mut stop: watch::Receiver<bool>) -> (Vec<WatchEvent>, Watcher) {
    let mut events = Vec::new();
    loop {
        tokio::select! {
            batch = watcher.next() => match batch {
                Ok(batch) => events.extend(batch),
                Err(error) => {
                    tracing::warn!("chaos: a watch ended: {error}");
                    return (events, watcher);
                }
            },
            _ = stop.wait_for(|s| *s) => return (events, watcher),
        }
    }
}

/// Reads a watcher on until it has delivered every revision up to `end`; what it has by then
/// is what the checks judge (a watcher that cannot get there is judged on what it delivered).
async fn drain_watch(mut events: Vec<WatchEvent>, watcher: &mut Watcher, end: u64) -> anyhow::Result<Vec<WatchEvent>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while watcher.next_revision() <= end {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, watcher.next()).await {
            Ok(Ok(batch)) => events.extend(batch),
            Ok(Err(error)) => {
                tracing::warn!("chaos: a watch ended while draining: {error}");
                break;
            }
            Err(_) => {
                tracing::warn!(next = watcher.next_revision(), end, "chaos: a watcher did not reach the end");
                break;
            }
        }
    }
    Ok(events)
}

/// A final linearizable read of a register, recorded; and its version.
async fn final_read(client: &Client, workload: &Workload, path: &str) -> anyhow::Result<(Operation, u64)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let call = workload.micros();
        match client.get(path, Consistency::Linearizable).await {
            Ok(node) => {
                let value = String::from_utf8_lossy(&node.data).into_owned();
                let op = Operation {
                    client: 0,
                    key: path.to_string(),
                    call,
                    ret: workload.micros(),
                    input: Input::Read,
                    output: Output::Read(Some(value)),
                };
                return Ok((op, node.stat.version));
            }
            Err(e) if Instant::now() > deadline => return Err(e).with_context(|| format!("final read of {path}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn children(client: &Client, parent: &str) -> anyhow::Result<std::collections::BTreeSet<String>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match client.children(parent, Consistency::Linearizable).await {
            Ok(children) => return Ok(children.names.iter().map(|name| format!("{parent}/{name}")).collect()),
            Err(e) if Instant::now() > deadline => return Err(e).with_context(|| format!("children of {parent}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The ephemeral nodes still there once every session worker's session has closed or had time
/// to expire (a few TTLs, polled: expiry is committed by the leader on its own schedule).
async fn ephemerals_after_sessions(client: &Client) -> anyhow::Result<Vec<String>> {
    let deadline = Instant::now() + SESSION_TTL * 5 + Duration::from_secs(5);
    loop {
        let left = children(client, EPHEMERALS).await?;
        if left.is_empty() || Instant::now() > deadline {
            return Ok(left.into_iter().collect());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_is_told_by_its_seed_and_covers_every_fault() {
        let ttl = Duration::from_millis(1000);
        let faults = |seed| {
            let mut plan = FaultPlan::new(seed, 3, 3, ttl);
            (0..200).map(|_| plan.next_fault()).collect::<Vec<_>>()
        };
        assert_eq!(faults(7), faults(7), "the same seed, the same plan");
        assert_ne!(faults(7), faults(8));
        let labels: std::collections::BTreeSet<String> = faults(7).iter().map(Fault::label).collect();
        assert_eq!(labels.len(), 9, "every kind on every target class: {labels:?}");
        for fault in faults(7) {
            assert!(fault.hold >= ttl / 2 && fault.hold < ttl * 3, "{fault:?}");
            if let Target::CoordNode(id) = fault.target {
                assert!((1..=3).contains(&id));
            }
            if let Target::Controller(i) = fault.target {
                assert!(i < 3);
            }
        }
    }
}
