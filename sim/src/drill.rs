//! Failover drills: real processes on 127.0.0.1, real faults, measured outcomes.
//!
//! A run starts a 3-node coordinator cluster, an actuator, and several controllers that all
//! serve the same roles; each controller reaches the coordinator through its own fault proxies
//! (this kernel has no netem or iptables), so it can be cut off without a flag inside it. Once
//! every role is being commanded, the drill injects the scenario's fault and reads the outcome
//! from outside: the coordinator's membership (detection), and the actuator's audit trail
//! (takeover, refused commands, split brain, token order).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde::Serialize;
use skyway_controller::actuator::CLAIM;
use skyway_controller::balance::handover;
use skyway_controller::controller::role_lines;
use skyway_controller::proto::AuditEntry;
use skyway_controller::proto::actuator_client::ActuatorClient;
use skyway_coord::client::{Client, Consistency, Election, WatchEventKind, Watcher};

use crate::rig::cluster::{ClusterTls, Links, ProcessCluster};
use crate::rig::netfault::{FaultProxy, Mode};
use crate::rig::process::{Process, Signal};

pub mod chaos;
pub mod history;

/// A fault to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// SIGKILL the primary of the first role.
    KillPrimary,
    /// SIGSTOP the primary past its TTL, then SIGCONT it: it must not be obeyed.
    PausePrimary,
    /// Cut the primary off from the coordinator (held both ways), then heal.
    PartitionPrimary,
    /// Cut the primary off from the coordinator and hold its commands to the actuator; after
    /// the backup took over, deliver the held commands late: they must be refused.
    LateCommands,
    /// SIGTERM the primary: it resigns, the backup takes over at once.
    CleanShutdown,
    /// SIGKILL the actuator and pause the primary; the backup takes over while the actuator is
    /// down; the actuator restarts from its trail and must still refuse the old token.
    ActuatorRestart,
    /// SIGKILL the coordinator's Raft leader: roles must not move, sessions must survive.
    KillCoordLeader,
    /// Cut the coordinator's leader off from the other nodes, then heal.
    PartitionCoordLeader,
    /// SIGKILL the primary and the coordinator's leader at once.
    KillPrimaryAndCoordLeader,
    /// Random kills, pauses and partitions of coordinator nodes and controllers for
    /// `--minutes` under a workload, then the recorded history checked ([`chaos`]).
    Chaos,
}

impl Scenario {
    /// The single-fault scenarios, measured by [`run_once`] (all but [`Scenario::Chaos`]).
    pub fn failovers() -> Vec<Scenario> {
        <Scenario as clap::ValueEnum>::value_variants().iter().copied().filter(|s| *s != Scenario::Chaos).collect()
    }

    /// Whether the fault is meant to move the role to another controller.
    pub fn moves_the_role(self) -> bool {
        !matches!(self, Scenario::KillCoordLeader | Scenario::PartitionCoordLeader)
    }
}

/// What a drill runs.
#[derive(Debug, Clone)]
pub struct DrillConfig {
    /// The `skyway` binary.
    pub binary: PathBuf,
    /// Controllers (all serve every role).
    pub controllers: usize,
    /// Roles served.
    pub roles: Vec<String>,
    /// Session TTL of the controllers.
    pub ttl: Duration,
    /// Command interval of the primaries.
    pub command_interval: Duration,
    /// Seed of each run's choices (which role's primary to fault, and a delay before the
    /// fault of up to half a TTL, so that faults land at different points of the command cycle).
    pub seed: u64,
    /// Clients of a `skyway bench` put load on the coordinator during the run (0 for none).
    pub load_clients: usize,
    /// Serve TLS: certificates from a development CA in the run's directory, mutual TLS between
    /// nodes and from every client (each controller shows its own certificate).
    pub tls: bool,
}

/// What one run measured. Times are from the fault, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    /// The scenario.
    pub scenario: Scenario,
    /// The role whose primary was faulted (or watched, for coordinator faults).
    pub role: String,
    /// The controller that was primary of that role when the fault hit.
    pub primary: String,
    /// Fault → the primary's membership node deleted (session expiry or close committed).
    pub detection_ms: Option<f64>,
    /// Fault → first accepted command of another controller for the role.
    pub takeover_ms: Option<f64>,
    /// Longest stretch without an accepted command for the role, from the fault on.
    pub longest_gap_ms: f64,
    /// Commands refused for stale tokens after the fault.
    pub refused: usize,
    /// Pairs of controllers whose commands were accepted at the same fencing level.
    pub split_brains: usize,
    /// Accepted tokens that went down for a role.
    pub non_monotonic: usize,
    /// Sessions of controllers that were not faulted that expired anyway.
    pub false_expiries: usize,
    /// Writes per second the coordinator committed during the run (the load, if any).
    pub coordinator_writes_per_sec: f64,
}

impl RunOutcome {
    /// Whether an invariant was violated.
    pub fn violated(&self) -> bool {
        self.split_brains > 0 || self.non_monotonic > 0
    }
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

struct Controller {
    name: String,
    child: Option<Process>,
    proxies: Vec<FaultProxy>,
    actuator_link: FaultProxy,
    /// Its TLS environment (CA and certificate), when the cluster serves TLS.
    tls_env: Vec<(String, String)>,
}

impl Controller {
    async fn signal(&self, signal: Signal) -> anyhow::Result<()> {
        self.child.as_ref().context("controller not running")?.signal(signal).await
    }

    fn set_links(&self, mode: Mode) {
        self.proxies.iter().for_each(|p| p.set(mode));
    }
}

/// Everything one run started; every process is killed when it is dropped.
struct Rig {
    cluster: ProcessCluster,
    links: Links,
    actuator: Process,
    actuator_addr: String,
    /// One channel to the actuator for the drill's own audit reads (reconnects after a restart).
    auditor: ActuatorClient<tonic::transport::Channel>,
    controllers: Vec<Controller>,
    client: Client,
    load: Option<Process>,
}

/// The client identities of a drill with TLS: the drill's own client and the load generator
/// (controllers are `cN`).
const DRILL_IDENTITY: &str = "drill";
const LOAD_IDENTITY: &str = "load";

async fn start_rig(config: &DrillConfig, root: &Path) -> anyhow::Result<Rig> {
    let tls = match config.tls {
        true => {
            let mut identities = vec![DRILL_IDENTITY.to_string(), LOAD_IDENTITY.to_string()];
            identities.extend((1..=config.controllers).map(|i| format!("c{i}")));
            Some(ClusterTls::create(&root.join("certs"), 3, &identities, DRILL_IDENTITY)?)
        }
        false => None,
    };
    let (cluster, links) =
        ProcessCluster::start_with_links_tls(&config.binary, &root.join("coord"), 3, tls, &[]).await?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let logs = root.join("logs");
    std::fs::create_dir_all(&logs)?;
    let (actuator, actuator_addr) = start_actuator(&config.binary, root, "127.0.0.1:0").await?;
    let client = cluster.client()?;
    // From here on the rig owns every process it starts: an error stops them all.
    let auditor =
        ActuatorClient::new(tonic::transport::Endpoint::from_shared(format!("http://{actuator_addr}"))?.connect_lazy());
    let mut rig = Rig { cluster, links, actuator, actuator_addr, auditor, controllers: Vec::new(), client, load: None };
    for i in 0..config.controllers {
        let name = format!("c{}", i + 1);
        let mut proxies = Vec::new();
        for addr in rig.cluster.endpoints() {
            proxies.push(FaultProxy::start(addr.parse()?).await?);
        }
        let actuator_link = FaultProxy::start(rig.actuator_addr.parse()?).await?;
        let tls_env = rig.cluster.tls().map(|tls| tls.client_env(&name)).unwrap_or_default();
        let mut controller = Controller { name, child: None, proxies, actuator_link, tls_env };
        controller.child = Some(spawn_controller(config, &controller, &logs)?);
        rig.controllers.push(controller);
    }
    if config.load_clients > 0 {
        // A separate load generator process, as a user's other clients would be.
        let args: Vec<String> =
            ["bench", "--op", "put", "--duration", "3600", "--endpoints", &rig.cluster.endpoints().join(",")]
                .iter()
                .map(|s| s.to_string())
                .chain(["--clients".to_string(), config.load_clients.to_string()])
                .collect();
        let env = rig.cluster.tls().map(|tls| tls.client_env(LOAD_IDENTITY)).unwrap_or_default();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let child = Process::spawn_env("load generator", &config.binary, &args, &env, &logs.join("load.log"))?;
        rig.load = Some(child);
    }
    Ok(rig)
}

/// Starts (or restarts) `controller`'s process, dialling the coordinator and the actuator
/// through its own proxies; its log is appended to `logs/NAME.log`.
fn spawn_controller(config: &DrillConfig, controller: &Controller, logs: &Path) -> anyhow::Result<Process> {
    let endpoints: Vec<String> = controller.proxies.iter().map(|p| p.addr().to_string()).collect();
    let args = crate::rig::controller::ControllerLaunch {
        name: &controller.name,
        roles: &config.roles,
        endpoints: &endpoints,
        actuator: &controller.actuator_link.addr().to_string(),
        commands: None,
        ttl: config.ttl,
        command_interval: config.command_interval,
    }
    .args();
    let log_level = std::env::var("SKYWAY_CONTROLLER_LOG").unwrap_or_else(|_| "info".into());
    let env: Vec<(&str, &str)> = [("RUST_LOG", log_level.as_str())]
        .into_iter()
        .chain(controller.tls_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .collect();
    Process::spawn_env(&controller.name, &config.binary, &args, &env, &logs.join(format!("{}.log", controller.name)))
}

/// Starts (or restarts) the actuator whose trail is under `root`; returns it and its address.
async fn start_actuator(binary: &Path, root: &Path, listen: &str) -> anyhow::Result<(Process, String)> {
    let args: Vec<String> = ["actuator", "--listen", listen, "--data-dir"]
        .iter()
        .map(|s| s.to_string())
        .chain([root.join("actuator").display().to_string()])
        .collect();
    let (actuator, line) =
        Process::spawn_reporting("actuator", binary, &args, &root.join("logs/actuator.log"), Duration::from_secs(10))
            .await
            .context("the actuator did not start (see actuator.log)")?;
    let addr = line.trim().strip_prefix("listening on ").map(str::to_string);
    Ok((actuator, addr.with_context(|| format!("unexpected output from the actuator: {line:?}"))?))
}

async fn audit(rig: &Rig) -> anyhow::Result<Vec<AuditEntry>> {
    Ok(skyway_controller::actuator::fetch_audit(&mut rig.auditor.clone(), "").await?)
}

/// Waits until every role is being commanded, every controller is a member, and the roles are
/// spread (no controller is about to hand one over).
async fn settle(rig: &mut Rig, config: &DrillConfig, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let audited = audit(rig).await;
        let entries = audited.as_ref().map(Vec::as_slice).unwrap_or_default();
        let commanded =
            config.roles.iter().all(|role| entries.iter().any(|e| e.role == *role && e.accepted && e.action != CLAIM));
        let members =
            rig.client.children("/skyway/members", Consistency::Linearizable).await.map_or(0, |c| c.names.len());
        let spread = match role_lines(&rig.client, &config.roles).await {
            Ok(lines) => rig.controllers.iter().all(|c| handover(&c.name, &lines).is_none()),
            Err(_) => false,
        };
        if commanded && spread && members == config.controllers {
            return Ok(());
        }
        if Instant::now() > deadline {
            let mut exited = Vec::new();
            for controller in &mut rig.controllers {
                if let Some(status) = controller.child.as_mut().and_then(Process::exited) {
                    exited.push(format!("{} exited ({status})", controller.name));
                }
            }
            if let Some(status) = rig.actuator.exited() {
                exited.push(format!("the actuator exited ({status})"));
            }
            bail!(
                "the drill did not settle within {timeout:?}: {members} members, roles commanded: {commanded}, \
                 spread: {spread}; actuator audit: {}; {}",
                audited.as_ref().map_or_else(|e| format!("{e:#}"), |_| "ok".into()),
                if exited.is_empty() { "all processes running".to_string() } else { exited.join(", ") }
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs one scenario once, with its processes under `root`; `run` picks this run's seeded
/// choices.
pub async fn run_once(config: &DrillConfig, scenario: Scenario, root: &Path, run: u64) -> anyhow::Result<RunOutcome> {
    use rand::{Rng, SeedableRng};
    anyhow::ensure!(scenario != Scenario::Chaos, "the chaos drill is no single fault: run it with chaos::run");
    let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed.wrapping_add(run));
    let role = config.roles[rng.random_range(0..config.roles.len())].clone();
    let jitter = config.ttl.mul_f64(rng.random_range(0.0..0.5));
    let mut rig = start_rig(config, root).await?;
    settle(&mut rig, config, Duration::from_secs(30)).await?;
    if config.load_clients > 0 {
        wait_for_load(&rig, root, Duration::from_secs(30)).await?;
    }
    tokio::time::sleep(jitter).await;
    let view = Election::new(&rig.client, &role)?.observe().await?;
    let primary_name = view.primary.map(|c| String::from_utf8_lossy(&c.data).into_owned()).context("no primary")?;
    let target = rig.controllers.iter().position(|c| c.name == primary_name).context("primary is no controller")?;

    // Watch the membership from now on, to time the primary's removal.
    let revision = rig.client.get("/", Consistency::Linearizable).await?.revision.0;
    let removals: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let mut watcher = Watcher::start(&rig.client, "/skyway/members", true, revision + 1).await?;
    let recorded = removals.clone();
    let watch_task = tokio::spawn(async move {
        while let Ok(events) = watcher.next().await {
            for event in events.into_iter().filter(|e| e.kind == WatchEventKind::Deleted) {
                let member = event.path.rsplit('/').next().unwrap_or_default().to_string();
                recorded.lock().expect("removals poisoned").push((member, unix_ms()));
            }
        }
    });

    // Found before the clock starts: asking the nodes takes a connection and a round trip to
    // each, which under load is tens of milliseconds no failover spends.
    let coord_leader = rig.cluster.wait_for_leader(Duration::from_secs(5)).await?;
    let fault_at = unix_ms();
    let fault_instant = Instant::now();
    let settle_after = config.ttl * 4 + Duration::from_secs(2);
    match scenario {
        Scenario::KillPrimary => kill_controller(&mut rig.controllers[target]).await?,
        Scenario::PausePrimary => {
            rig.controllers[target].signal(Signal::Stop).await?;
            tokio::time::sleep(config.ttl * 3).await;
            rig.controllers[target].signal(Signal::Cont).await?;
        }
        Scenario::PartitionPrimary => {
            rig.controllers[target].set_links(Mode::Hold);
            tokio::time::sleep(config.ttl * 3).await;
            rig.controllers[target].set_links(Mode::Pass);
        }
        Scenario::LateCommands => {
            let primary = &rig.controllers[target];
            primary.set_links(Mode::Hold);
            primary.actuator_link.set(Mode::Hold);
            tokio::time::sleep(config.ttl * 3).await;
            primary.actuator_link.set(Mode::Pass); // its held commands arrive now, late
            tokio::time::sleep(config.ttl).await;
            primary.set_links(Mode::Pass);
        }
        Scenario::CleanShutdown => rig.controllers[target].signal(Signal::Term).await?,
        Scenario::ActuatorRestart => {
            rig.actuator.kill().await?;
            rig.controllers[target].signal(Signal::Stop).await?;
            tokio::time::sleep(config.ttl * 3).await;
            let (actuator, _) = start_actuator(&config.binary, root, &rig.actuator_addr).await?;
            rig.actuator = actuator;
            rig.controllers[target].signal(Signal::Cont).await?;
        }
        Scenario::KillCoordLeader => rig.cluster.kill(coord_leader).await?,
        Scenario::PartitionCoordLeader => {
            rig.links.isolate(coord_leader);
            tokio::time::sleep(config.ttl * 3).await;
            rig.links.heal();
        }
        Scenario::KillPrimaryAndCoordLeader => {
            kill_controller(&mut rig.controllers[target]).await?;
            rig.cluster.kill(coord_leader).await?;
        }
        Scenario::Chaos => unreachable!("refused above"),
    }
    tokio::time::sleep(settle_after).await;
    watch_task.abort();

    let entries = audit(&rig).await?;
    let removals = removals.lock().expect("removals poisoned").clone();
    let faulted = if scenario.moves_the_role() { Some(primary_name.as_str()) } else { None };
    let mut outcome = measure(scenario, &primary_name, faulted, &role, fault_at, &entries, &removals);
    let revision_after = rig.client.get("/", Consistency::Linearizable).await?.revision.0;
    outcome.coordinator_writes_per_sec =
        revision_after.saturating_sub(revision) as f64 / fault_instant.elapsed().as_secs_f64();
    Ok(outcome)
}

/// Waits until the load generator's writes are flowing (a few hundred committed in half a
/// second), so that the fault hits a loaded coordinator and not one still starting its load.
async fn wait_for_load(rig: &Rig, root: &Path, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let before = rig.client.get("/", Consistency::Linearizable).await?.revision.0;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = rig.client.get("/", Consistency::Linearizable).await?.revision.0;
        if after.saturating_sub(before) >= 300 {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the load generator is not writing ({} writes in the last 0.5 s): see {}",
            after.saturating_sub(before),
            root.join("logs/load.log").display()
        );
    }
}

async fn kill_controller(controller: &mut Controller) -> anyhow::Result<()> {
    controller.child.take().context("controller not running")?.kill().await?;
    Ok(())
}

/// Reads a run's outcome from the actuator's audit trail and the membership removals. Pure.
pub fn measure(
    scenario: Scenario,
    primary: &str,
    faulted: Option<&str>,
    role: &str,
    fault_at: u64,
    entries: &[AuditEntry],
    removals: &[(String, u64)],
) -> RunOutcome {
    let since = |at: u64| at.saturating_sub(fault_at) as f64;
    let detection_ms = removals.iter().find(|(member, _)| member == primary).map(|(_, at)| since(*at));
    let takeover_ms = entries
        .iter()
        .find(|e| e.unix_ms >= fault_at && e.role == role && e.accepted && e.action != CLAIM && e.controller != primary)
        .map(|e| since(e.unix_ms));
    let mut last = fault_at;
    let mut longest_gap = 0u64;
    for e in entries.iter().filter(|e| e.role == role && e.accepted && e.action != CLAIM && e.unix_ms >= fault_at) {
        longest_gap = longest_gap.max(e.unix_ms - last);
        last = e.unix_ms;
    }
    let refused = entries.iter().filter(|e| e.unix_ms >= fault_at && !e.accepted).count();
    let (split_brains, non_monotonic) = judge_trail(entries);
    let false_expiries = removals.iter().filter(|(member, _)| Some(member.as_str()) != faulted).count();
    RunOutcome {
        scenario,
        role: role.to_string(),
        primary: primary.to_string(),
        detection_ms,
        takeover_ms,
        longest_gap_ms: longest_gap as f64,
        refused,
        split_brains,
        non_monotonic,
        false_expiries,
        coordinator_writes_per_sec: 0.0,
    }
}

/// Split brains and token inversions in an audit trail: per role, accepted entries must carry
/// non-decreasing tokens, and one token belongs to one controller.
pub fn judge_trail(entries: &[AuditEntry]) -> (usize, usize) {
    let mut owner: BTreeMap<(&str, u64), &str> = BTreeMap::new();
    let mut highest: BTreeMap<&str, u64> = BTreeMap::new();
    let (mut split, mut inverted) = (0, 0);
    for e in entries.iter().filter(|e| e.accepted) {
        if *owner.entry((e.role.as_str(), e.token)).or_insert(e.controller.as_str()) != e.controller {
            split += 1;
        }
        let high = highest.entry(e.role.as_str()).or_insert(0);
        if e.token < *high {
            inverted += 1;
        }
        *high = (*high).max(e.token);
    }
    (split, inverted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at: u64, controller: &str, token: u64, action: &str, accepted: bool) -> AuditEntry {
        AuditEntry {
            unix_ms: at,
            role: "runway/07".into(),
            controller: controller.into(),
            token,
            action: action.into(),
            accepted,
            floor: token,
            seq: 0,
        }
    }

    #[test]
    fn a_clean_takeover_is_measured_and_judged_sound() {
        let trail = [
            entry(100, "c1", 5, "lights on", true),
            entry(1900, "c2", 9, CLAIM, true),
            entry(1910, "c2", 9, "lights on", true),
            entry(2500, "c1", 5, "lights on", false),
        ];
        let removals = [("c1".to_string(), 1800)];
        let outcome = measure(Scenario::PausePrimary, "c1", Some("c1"), "runway/07", 1000, &trail, &removals);
        assert_eq!(outcome.detection_ms, Some(800.0));
        assert_eq!(outcome.takeover_ms, Some(910.0));
        assert_eq!(
            (outcome.refused, outcome.split_brains, outcome.non_monotonic, outcome.false_expiries),
            (1, 0, 0, 0)
        );
        assert!(!outcome.violated());
    }

    #[test]
    fn two_controllers_on_one_token_or_a_falling_token_are_violations() {
        let same_token = [entry(1, "c1", 5, "lights on", true), entry(2, "c2", 5, "lights on", true)];
        assert_eq!(judge_trail(&same_token), (1, 0));
        let falling = [entry(1, "c2", 9, "lights on", true), entry(2, "c1", 5, "lights on", true)];
        assert_eq!(judge_trail(&falling), (0, 1));
    }
}
