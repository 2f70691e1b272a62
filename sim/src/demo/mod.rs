//! `skyway demo`, the main job: a 3-node coordinator (real processes), the highway and the airport
//! behind their fenced actuator, and controller processes holding every segment and runway role,
//! all on this machine. It prints a live summary, and with a tour it injects faults through the
//! same rig the drills use — and says what each one shows.
//!
//! With `--listen` it serves the live dashboard ([`crate::dashboard`]) and takes faults from it
//! through a [`control::Control`]: the tour and the dashboard call the same fault stage.
//!
//! What it proves, in its report: every role was commanded; each fault's role was taken over
//! (fault → first accepted command of the new primary); split brains (the actuator's trail judged
//! by the drills' checker, and the world's own conflict count) and runway incursions stayed zero.

pub mod auth;
pub mod collect;
pub mod control;
pub mod operator;
pub mod tour;
pub mod view;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::Serialize;
use skyway_controller::actuator::CLAIM;
use skyway_controller::proto::AuditEntry;
use skyway_world::Scenario;

use crate::dashboard::{self, history::History};
use crate::drill::judge_trail;
use crate::live::runner::{LiveConfig, LiveWorld};
use crate::live::snapshot::Snapshot;
use crate::rig::cluster::{ClusterTls, ProcessCluster};
use crate::rig::netfault::{FaultProxy, Mode};
use crate::rig::process::{Process, Signal};
use control::{Answer, Refused, Request, Target};
use tour::Fault;

/// How a demo runs.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// The `skyway` binary (controllers and coordinator nodes are this binary).
    pub binary: PathBuf,
    /// Where everything keeps its data and logs.
    pub root: PathBuf,
    /// The world.
    pub scenario: Scenario,
    /// The world's seed.
    pub seed: u64,
    /// Simulated seconds per wall second.
    pub speed: f64,
    /// Simulated seconds run before going live (a full road, aircraft on final).
    pub warmup_s: f64,
    /// Controller processes (each serves every role).
    pub controllers: usize,
    /// Whether controllers run at all (`--no-control` runs the same seed without them).
    pub control: bool,
    /// The controllers' session TTL.
    pub ttl: Duration,
    /// How often a primary decides and sends a command.
    pub command_interval: Duration,
    /// Inject the tour's faults.
    pub tour: bool,
    /// Wall time between two faults of the tour (the first comes this long after every role is
    /// commanded).
    pub tour_gap: Duration,
    /// Stop after this much wall time (None: until interrupted).
    pub duration: Option<Duration>,
    /// Print a summary this often (None: silent, for `--output json`).
    pub summary_every: Option<Duration>,
    /// Cameras and analyzers (None: `--no-cameras`).
    pub collect: Option<collect::DemoCollect>,
    /// Serve the dashboard here (None: no dashboard).
    pub listen: Option<SocketAddr>,
    /// Turn the coordinator's authentication on, one identity per process with least
    /// privilege (see [`auth`]).
    pub auth: bool,
    /// Serve TLS: a development CA and a certificate per node and per process (made in
    /// `ROOT/certs`), mutual TLS between nodes and from every client.
    pub tls: bool,
}

/// One fault the demo injected, and what followed.
#[derive(Debug, Clone, Serialize)]
pub struct FaultRecord {
    /// The fault.
    pub fault: Fault,
    /// The role whose primary was faulted.
    pub role: Option<String>,
    /// Who was faulted: a controller's name or `node N`.
    pub victim: String,
    /// When, ms since the Unix epoch.
    pub at_unix_ms: u64,
    /// Fault → the first command of another controller the actuator accepted for the role.
    pub takeover_ms: Option<u64>,
    /// Who took over.
    pub new_primary: Option<String>,
    /// For a coordinator fault: the longest stretch any role went without an accepted command in
    /// the 10 s after it.
    pub longest_gap_ms: Option<u64>,
}

/// What a demo run showed.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// The world at the end (counters, roles with their takeovers, latest summaries).
    pub world: Snapshot,
    /// Wall seconds the demo ran.
    pub wall_s: f64,
    /// Whether controllers ran.
    pub control: bool,
    /// Whether every role had a command accepted.
    pub every_role_commanded: bool,
    /// The faults injected.
    pub faults: Vec<FaultRecord>,
    /// Split brains in the actuator's trail (one token, two controllers) plus token inversions.
    pub split_brains: usize,
    /// Conflicting commands the world itself saw obeyed.
    pub world_conflicts: u64,
    /// Runway incursions the world counted.
    pub incursions: u64,
    /// Commands the actuator refused for stale tokens.
    pub refused_commands: u64,
    /// The cameras and analyzers (None with `--no-cameras`): frames, bytes to blob storage vs
    /// the coordinator, lag, drops, blob errors.
    pub collector: Option<crate::collect::run::CollectReport>,
}

struct Slot {
    name: String,
    process: Option<Process>,
    /// Its links to the coordinator's nodes, one proxy each, so that it can be cut off, and
    /// its link to the actuator (held while it is paused: see [`Stage::pause`]).
    links: Links,
    cut_off: bool,
}

/// A controller's links, each through a proxy of the rig.
struct Links {
    coordinator: Vec<FaultProxy>,
    actuator: FaultProxy,
}

/// Something the demo does later: resume a paused controller, restart a killed one or a node.
enum Later {
    Resume(usize),
    Restart(usize),
    RestartNode(u64),
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Runs the demo until its duration passes or `interrupted` completes; stops everything it
/// started either way.
pub async fn run(config: DemoConfig, interrupted: impl std::future::Future<Output = ()>) -> anyhow::Result<DemoReport> {
    anyhow::ensure!(!config.tour || config.control, "--tour needs controllers: drop --no-control");
    // The dashboard's port first: a busy one is an error before anything starts.
    let listener = match config.listen {
        Some(addr) => Some(dashboard::server::bind(addr).await?),
        None => None,
    };
    let logs = config.root.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    say(
        &config,
        &format!(
            "Starting a 3-node coordinator on 127.0.0.1 (real processes, fsync on); data in {}",
            config.root.display()
        ),
    );
    let coord_dir = config.root.join("coord");
    let cluster = match tls_for(&config)? {
        Some(tls) => {
            let dir = tls.dir.display().to_string();
            let cluster = ProcessCluster::start_tls(&config.binary, &coord_dir, 3, tls, &[])?;
            say(
                &config,
                &format!(
                    "TLS on: every node and every process has its own certificate from a development CA in {dir}; \
                     nodes admit only members on their peer ports and only certified clients on their client ports"
                ),
            );
            cluster
        }
        None => ProcessCluster::start(&config.binary, &coord_dir, 3, &[])?,
    };
    let leader = cluster.wait_for_leader(Duration::from_secs(30)).await?;
    say(&config, &format!("coordinator nodes {} elected node {leader} leader", cluster.endpoints().join(", ")));
    // With --auth the demo's own token is minted first, so that the world publishes with it
    // from the start (ignored until authentication goes on, below).
    let mut tokens = config.auth.then(auth::Tokens::default);
    let client = match &mut tokens {
        Some(tokens) => {
            tokens.mint(auth::DEMO_IDENTITY);
            let options = cluster.client_options()?.with_token(tokens.of(auth::DEMO_IDENTITY).map(str::to_string));
            skyway_coord::client::Client::new(&cluster.endpoints(), options)?
        }
        None => cluster.client()?,
    };
    let live = LiveConfig {
        scenario: config.scenario.clone(),
        seed: config.seed,
        speed: config.speed,
        actuator_dir: config.root.join("actuator"),
        actuator_listen: "127.0.0.1:0".parse()?,
        warmup_s: config.warmup_s,
    };
    let mut world = LiveWorld::start(live, client.clone()).await?;
    let actuator = world.actuator().clone();
    let roles = world.roles().to_vec();
    say(
        &config,
        &format!(
            "world {:?} (seed {}) running at {}x real time; its actuator is at {}; roles: {}",
            config.scenario.name,
            config.seed,
            config.speed,
            world.actuator_addr(),
            roles.join(" ")
        ),
    );
    let names: Vec<String> =
        if config.control { (1..=config.controllers).map(|i| format!("c{i}")).collect() } else { Vec::new() };
    if let Some(tokens) = &mut tokens {
        let cast = auth::Cast {
            controllers: names.iter().map(|name| (name.clone(), roles.clone())).collect(),
            cameras: match &config.collect {
                Some(_) => world.cameras().iter().map(|p| p.spec.id.clone()).collect(),
                None => Vec::new(),
            },
            analyzers: (1..=config.collect.as_ref().map_or(0, |c| c.analyzers)).map(|n| format!("a{n}")).collect(),
        };
        auth::provision(&cluster.client()?, &cast, tokens).await?;
        say(&config, "authentication on: each process has its own token and may write only what it owns");
    }
    let history = Arc::new(Mutex::new(History::new(
        dashboard::history::Layout {
            scenario: config.scenario.name.clone(),
            highway: config.scenario.highway.clone(),
            runways: config.scenario.airport.as_ref().map(|a| a.runways.clone()).unwrap_or_default(),
            roles: roles.clone(),
            controllers: names.clone(),
            endpoints: cluster.endpoints(),
            ttl_ms: config.ttl.as_millis() as u64,
            // Filled in below once the cameras started (none with --no-cameras).
            cameras: Vec::new(),
        },
        unix_ms(),
    )));
    let (control, mut requests) = control::Control::channel();
    let mut background = Vec::new();
    // Cameras before the stage: they need the world mutably (its scene feed), the stage borrows it.
    let (mut collectors, store) = match &config.collect {
        Some(settings) => {
            let (collectors, store) =
                collect::start(settings, &config, &cluster.endpoints(), &mut world, tokens.as_ref(), cluster.tls())
                    .await?;
            say(
                &config,
                &format!(
                    "{} cameras and {} analyzers started; frames go to {store}, only their URLs to the coordinator",
                    world.cameras().len(),
                    settings.analyzers
                ),
            );
            (Some(collectors), Some(store))
        }
        None => (None, None),
    };
    if let Some(listener) = listener {
        let store = match &store {
            Some(url) => Some(
                skyway_storage::BlobStore::open_url(url).with_context(|| format!("cannot open blob storage {url}"))?,
            ),
            None => None,
        };
        if store.is_some() {
            history.lock().expect("history poisoned").layout.cameras =
                world.cameras().iter().map(|p| p.spec.id.clone()).collect();
        }
        background.push(tokio::spawn(dashboard::feed::world(history.clone(), world.subscribe(), world.decisions())));
        background.push(tokio::spawn(dashboard::feed::coordinator(history.clone(), client.clone())));
        background.push(tokio::spawn(dashboard::feed::membership(history.clone(), client.clone())));
        background.push(tokio::spawn(dashboard::feed::cameras(history.clone(), client.clone(), store.clone())));
        let mut served = dashboard::server::Dashboard::new(history.clone(), Some(control.clone()), &listener)?;
        if let Some(store) = store {
            served = served.with_store(store);
        }
        let url = served.url();
        background.push(tokio::spawn(served.serve(listener)));
        announce(&config, &format!("dashboard: {url}"));
    }
    let mut stage = Stage {
        config: &config,
        slots: Vec::new(),
        cluster,
        later: Vec::new(),
        history,
        world: &world,
        lesson: None,
        tokens,
    };
    for name in &names {
        let endpoints = stage.cluster.endpoints();
        let (process, links) =
            spawn_controller(&config, name, &endpoints, &world, &roles, stage.tokens.as_ref(), stage.cluster.tls())
                .await?;
        stage.slots.push(Slot { name: name.clone(), process: Some(process), links, cut_off: false });
    }
    if config.control {
        say(
            &config,
            &format!(
                "{} controllers started, each a candidate for every role; logs in {}",
                stage.slots.len(),
                logs.display()
            ),
        );
    } else {
        say(&config, "no controllers (--no-control): the world runs on its defaults");
    }

    let started = Instant::now();
    let mut settled: Option<Instant> = None;
    let mut faults: Vec<FaultRecord> = Vec::new();
    let mut last_summary = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            _ = &mut interrupted => {
                say(&config, "interrupted: stopping everything");
                break;
            }
            Some((request, reply)) = requests.recv() => {
                let answer = stage.serve(request, &world.snapshot(), &roles, &client).await;
                let _ = reply.send(answer);
                continue;
            }
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        let snapshot = world.snapshot();
        if settled.is_none() && roles.iter().all(|r| snapshot.roles.get(r).is_some_and(|v| v.accepted > 0)) {
            settled = Some(now);
            say(&config, &format!("every role is commanded, {:.1} s after the start", started.elapsed().as_secs_f64()));
        }
        stage.due(now, &roles).await?;
        if config.tour
            && let Some(settled) = settled
            && faults.len() < Fault::TOUR.len()
            && now >= settled + config.tour_gap * (faults.len() as u32 + 1)
        {
            let fault = Fault::TOUR[faults.len()];
            let record = stage.inject(fault, faults.len(), &roles, &snapshot).await?;
            faults.push(record);
        }
        if let Some(every) = config.summary_every
            && last_summary.elapsed() >= every
        {
            println!("{}", view::render(&snapshot, &roles, started.elapsed()));
            if let Some(c) = &collectors {
                println!("{}", collect::summary(&c.report()));
            }
            last_summary = now;
        }
        if config.duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
    }

    for slot in &mut stage.slots {
        if let Some(mut process) = slot.process.take() {
            let _ = process.stop(Duration::from_secs(3)).await;
        }
    }
    let collector = match collectors.as_mut() {
        Some(c) => {
            let report = c.report();
            c.stop().await;
            Some(report)
        }
        None => None,
    };
    for task in background.iter().chain(&stage.lesson) {
        task.abort();
    }
    drop(stage);
    let audit = actuator.audit("");
    let final_snapshot = world.stop().await;
    for record in &mut faults {
        measure(record, &audit);
    }
    let (split, inverted) = judge_trail(&audit);
    let report = DemoReport {
        every_role_commanded: roles.iter().all(|r| final_snapshot.roles.get(r).is_some_and(|v| v.accepted > 0)),
        wall_s: started.elapsed().as_secs_f64(),
        control: config.control,
        faults,
        split_brains: split + inverted,
        world_conflicts: final_snapshot.stats.conflicts,
        incursions: final_snapshot.stats.airport.as_ref().map_or(0, |a| a.incursions),
        refused_commands: final_snapshot.refused(),
        collector,
        world: Arc::unwrap_or_clone(final_snapshot),
    };
    Ok(report)
}

fn say(config: &DemoConfig, line: &str) {
    if config.summary_every.is_some() {
        println!("== {line}");
    } else {
        tracing::info!("{line}");
    }
}

/// A line a user must see even with `--output json` (there on stderr, so stdout stays JSON).
fn announce(config: &DemoConfig, line: &str) {
    if config.summary_every.is_some() {
        println!("== {line}");
    } else {
        eprintln!("{line}");
    }
}

/// With `--tls`, a development CA and certificates in `ROOT/certs` (remade at every start): one
/// per coordinator node, and a client certificate for each identity a process of the demo
/// talks to the coordinator as — the demo itself, each controller, camera and analyzer.
fn tls_for(config: &DemoConfig) -> anyhow::Result<Option<ClusterTls>> {
    if !config.tls {
        return Ok(None);
    }
    let mut identities = vec![auth::DEMO_IDENTITY.to_string()];
    identities.extend((1..=config.controllers).map(|i| format!("c{i}")));
    if let Some(collect) = &config.collect {
        identities.extend(crate::live::cameras::placements(&config.scenario).into_iter().map(|p| p.spec.id));
        identities.extend((1..=collect.analyzers).map(|n| format!("a{n}")));
    }
    Ok(Some(ClusterTls::create(&config.root.join("certs"), 3, &identities, auth::DEMO_IDENTITY)?))
}

/// Starts controller `name`, its links through proxies (so it can be cut off, and its last
/// command held while it is paused).
async fn spawn_controller(
    config: &DemoConfig,
    name: &str,
    endpoints: &[String],
    world: &LiveWorld,
    roles: &[String],
    tokens: Option<&auth::Tokens>,
    tls: Option<&ClusterTls>,
) -> anyhow::Result<(Process, Links)> {
    let mut coordinator = Vec::new();
    for endpoint in endpoints {
        let target: SocketAddr = endpoint
            .trim_start_matches("http://")
            .parse()
            .with_context(|| format!("coordinator endpoint {endpoint} is not host:port"))?;
        coordinator.push(FaultProxy::start(target).await.context("cannot start a link proxy")?);
    }
    let actuator = FaultProxy::start(world.actuator_addr()).await.context("cannot start a link proxy")?;
    let proxied: Vec<String> = coordinator.iter().map(|l| l.addr().to_string()).collect();
    let args = crate::rig::controller::ControllerLaunch {
        name,
        roles,
        endpoints: &proxied,
        actuator: &actuator.addr().to_string(),
        commands: Some("world"),
        ttl: config.ttl,
        command_interval: config.command_interval,
    }
    .args();
    let tls_env = tls.map(|tls| tls.client_env(name)).unwrap_or_default();
    let mut env = tokens.map(|t| t.env(name)).unwrap_or_default();
    env.extend(tls_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let log = config.root.join("logs").join(format!("{name}.log"));
    let process = Process::spawn_env(name, &config.binary, &args, &env, &log)?;
    Ok((process, Links { coordinator, actuator }))
}

/// The demo's processes and what it will do to them later: the one place faults are injected,
/// by the tour and by the dashboard alike. Every fault is written to the dashboard's history.
struct Stage<'a> {
    config: &'a DemoConfig,
    slots: Vec<Slot>,
    cluster: ProcessCluster,
    later: Vec<(Instant, Later)>,
    history: Arc<Mutex<History>>,
    world: &'a LiveWorld,
    /// The storage lesson, while it runs.
    lesson: Option<tokio::task::JoinHandle<()>>,
    /// The processes' tokens, with `--auth`.
    tokens: Option<auth::Tokens>,
}

impl Stage<'_> {
    /// Says what happened and records it.
    fn note(&self, action: &str, target: &str, role: Option<&str>, line: &str) {
        say(self.config, line);
        let record = dashboard::history::Record::Fault {
            at_ms: unix_ms(),
            action: action.into(),
            target: target.into(),
            role: role.map(str::to_string),
            note: line.into(),
        };
        self.history.lock().expect("history poisoned").push(record);
    }

    /// Carries out what was scheduled for `now`.
    async fn due(&mut self, now: Instant, roles: &[String]) -> anyhow::Result<()> {
        let due: Vec<Later> = {
            let (due, rest): (Vec<_>, Vec<_>) = self.later.drain(..).partition(|(at, _)| *at <= now);
            self.later = rest;
            due.into_iter().map(|(_, what)| what).collect()
        };
        for what in due {
            match what {
                Later::Resume(i) => {
                    let _ = self.resume(i).await;
                }
                Later::Restart(i) => {
                    if self.slots[i].process.is_none() {
                        self.restart(i, roles).await?;
                    }
                }
                Later::RestartNode(id) => {
                    if !self.cluster.is_running(id) {
                        self.restart_node(id)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn running(&mut self, i: usize) -> Result<&mut Process, Refused> {
        let name = self.slots[i].name.clone();
        self.slots[i]
            .process
            .as_mut()
            .ok_or_else(|| Refused::new(409, format!("{name} is not running (killed; it restarts by itself)")))
    }

    async fn kill(&mut self, i: usize, role: Option<&str>) -> Result<String, Refused> {
        let name = self.slots[i].name.clone();
        self.running(i)?.kill().await.map_err(|e| Refused::new(500, format!("cannot kill {name}: {e:#}")))?;
        self.slots[i].process = None;
        self.later.push((Instant::now() + Duration::from_secs(3), Later::Restart(i)));
        let of = role.map(|r| format!(", primary of {r},")).unwrap_or_default();
        let line = format!("{name}{of} killed (SIGKILL); it restarts in 3 s");
        self.note("kill", &name, role, &line);
        Ok(line)
    }

    /// SIGSTOPs a controller with its last command still in flight: its link to the actuator is
    /// held from a command interval before the stop until it resumes, as if the process had
    /// stopped right after sending (a GC pause, a swapped-out VM). The backup takes over meanwhile;
    /// on resume the held command arrives late, and the actuator refuses its stale token.
    async fn pause(&mut self, i: usize, role: Option<&str>) -> Result<String, Refused> {
        let name = self.slots[i].name.clone();
        self.running(i)?;
        self.slots[i].links.actuator.set(Mode::Hold);
        tokio::time::sleep(self.config.command_interval + Duration::from_millis(100)).await;
        let stopped = self.running(i)?.signal(Signal::Stop).await;
        if let Err(e) = stopped {
            self.slots[i].links.actuator.set(Mode::Pass);
            return Err(Refused::new(500, format!("cannot pause {name}: {e:#}")));
        }
        let pause = (self.config.ttl * 3).max(Duration::from_secs(2));
        self.later.push((Instant::now() + pause, Later::Resume(i)));
        let of = role.map(|r| format!(", primary of {r},")).unwrap_or_default();
        let line = format!("{name}{of} paused (SIGSTOP) for {pause:?}, its last command still in flight");
        self.note("pause", &name, role, &line);
        Ok(line)
    }

    async fn resume(&mut self, i: usize) -> Result<String, Refused> {
        let name = self.slots[i].name.clone();
        self.running(i)?;
        // The held command goes on its way first, while the process is still stopped: woken
        // first, its client would find the command's deadline long past and cancel it before
        // the proxy let it through, and the late command would never reach the actuator.
        self.slots[i].links.actuator.set_to_target(Mode::Pass);
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.running(i)?
            .signal(Signal::Cont)
            .await
            .map_err(|e| Refused::new(500, format!("cannot resume {name}: {e:#}")))?;
        self.slots[i].links.actuator.set(Mode::Pass);
        let line =
            format!("{name} resumed (SIGCONT): the command it sent before the pause arrives now, with a stale token");
        self.note("resume", &name, None, &line);
        Ok(line)
    }

    async fn restart(&mut self, i: usize, roles: &[String]) -> anyhow::Result<()> {
        let name = self.slots[i].name.clone();
        let endpoints = self.cluster.endpoints();
        let (process, links) = spawn_controller(
            self.config,
            &name,
            &endpoints,
            self.world,
            roles,
            self.tokens.as_ref(),
            self.cluster.tls(),
        )
        .await?;
        self.slots[i].process = Some(process);
        self.slots[i].links = links;
        self.slots[i].cut_off = false;
        self.note(
            "restart",
            &name,
            None,
            &format!("{name} restarted: it joins at the back of every line, as a backup"),
        );
        Ok(())
    }

    fn cut_off(&mut self, i: usize, role: Option<&str>, cut: bool) -> Result<String, Refused> {
        let name = self.slots[i].name.clone();
        self.running(i)?;
        if self.slots[i].cut_off == cut {
            let state = if cut { "already cut off" } else { "not cut off" };
            return Err(Refused::new(409, format!("{name} is {state}")));
        }
        for link in &self.slots[i].links.coordinator {
            link.set(if cut { Mode::Cut } else { Mode::Pass });
        }
        self.slots[i].cut_off = cut;
        let (action, line) = if cut {
            let of = role.map(|r| format!(", primary of {r},")).unwrap_or_default();
            ("cut-off", format!("{name}{of} cut off from the coordinator: its keep-alives stop reaching it"))
        } else {
            ("reconnect", format!("{name} reconnected to the coordinator"))
        };
        self.note(action, &name, role, &line);
        Ok(line)
    }

    async fn kill_node(&mut self, id: u64, leader: bool) -> Result<String, Refused> {
        if !self.cluster.is_running(id) {
            return Err(Refused::new(409, format!("coordinator node {id} is not running (it restarts by itself)")));
        }
        self.cluster.kill(id).await.map_err(|e| Refused::new(500, format!("cannot kill node {id}: {e:#}")))?;
        self.later.push((Instant::now() + Duration::from_secs(5), Later::RestartNode(id)));
        let what = if leader { ", the leader," } else { "" };
        let line = format!("coordinator node {id}{what} killed (SIGKILL); it restarts in 5 s");
        self.note("kill", &format!("node {id}"), None, &line);
        Ok(line)
    }

    fn restart_node(&mut self, id: u64) -> anyhow::Result<()> {
        self.cluster.spawn(id)?;
        self.note(
            "restart",
            &format!("node {id}"),
            None,
            &format!("coordinator node {id} restarted: it catches up from the log"),
        );
        Ok(())
    }

    async fn leader(&self) -> Result<u64, Refused> {
        self.cluster
            .wait_for_leader(Duration::from_secs(5))
            .await
            .map_err(|e| Refused::new(409, format!("the coordinator has no agreed leader now: {e:#}")))
    }

    /// The controller a target names (for a role: its primary now) and the role.
    fn controller(&self, target: &Target, snapshot: &Snapshot) -> Result<(usize, Option<String>), Refused> {
        match target {
            Target::Controller(i) => Ok((*i, None)),
            Target::PrimaryOf(role) => {
                let primary = snapshot
                    .roles
                    .get(role)
                    .and_then(|v| v.primary.clone())
                    .ok_or_else(|| Refused::new(409, format!("{role} has no primary yet")))?;
                let i =
                    self.slots.iter().position(|s| s.name == primary).ok_or_else(|| {
                        Refused::new(409, format!("{role}'s primary {primary} is not a demo controller"))
                    })?;
                Ok((i, Some(role.clone())))
            }
            Target::Node(_) | Target::Leader => {
                Err(Refused::new(400, "this fault is for a controller: give a controller's name or a role"))
            }
        }
    }

    /// Carries out a request from the dashboard; refuses, touching nothing, what it cannot do.
    async fn serve(
        &mut self,
        request: Request,
        snapshot: &Snapshot,
        roles: &[String],
        client: &skyway_coord::client::Client,
    ) -> Answer {
        let names: Vec<String> = self.slots.iter().map(|s| s.name.clone()).collect();
        let nodes = self.cluster.endpoints().len() as u64;
        let target = |text: &str| control::parse_target(text, &names, roles, nodes).map_err(|e| Refused::new(404, e));
        match request {
            Request::Kill { target: text } => match target(&text)? {
                Target::Node(id) => self.kill_node(id, false).await,
                Target::Leader => {
                    let id = self.leader().await?;
                    self.kill_node(id, true).await
                }
                other => {
                    let (i, role) = self.controller(&other, snapshot)?;
                    self.kill(i, role.as_deref()).await
                }
            },
            Request::Pause { target: text } => {
                let (i, role) = self.controller(&target(&text)?, snapshot)?;
                self.pause(i, role.as_deref()).await
            }
            Request::Resume { target: text } => {
                let (i, _) = self.controller(&target(&text)?, snapshot)?;
                self.resume(i).await
            }
            Request::CutOff { target: text } => {
                let (i, role) = self.controller(&target(&text)?, snapshot)?;
                self.cut_off(i, role.as_deref(), true)
            }
            Request::Reconnect { target: text } => {
                let (i, _) = self.controller(&target(&text)?, snapshot)?;
                self.cut_off(i, None, false)
            }
            Request::Restart { target: text } => match target(&text)? {
                Target::Node(id) if !self.cluster.is_running(id) => {
                    self.restart_node(id).map_err(|e| Refused::new(500, format!("cannot restart node {id}: {e:#}")))?;
                    Ok(format!("coordinator node {id} restarted"))
                }
                Target::Node(id) => Err(Refused::new(409, format!("coordinator node {id} is running"))),
                _ => Err(Refused::new(400, "restart takes `node N` (a killed controller restarts by itself)")),
            },
            Request::Speed { value } => {
                self.world.set_speed(value).map_err(|e| Refused::new(400, format!("{e:#}")))?;
                let line = format!("the world now runs at {value}x real time");
                self.note("speed", "world", None, &line);
                Ok(line)
            }
            Request::Lesson => self.lesson(client),
            Request::Stall { position_m, lane, duration_s } => {
                self.world
                    .stall(position_m, lane, duration_s)
                    .await
                    .map_err(|e| Refused::new(400, format!("cannot stall a vehicle there: {e}")))?;
                let line = format!(
                    "the next vehicle to reach {position_m:.0} m in lane {lane} stalls there for {duration_s:.0} s \
                     (simulated): watch the queue build and the segment's primary react"
                );
                self.note("stall", &format!("road {position_m:.0} m lane {lane}"), None, &line);
                Ok(line)
            }
            Request::CloseLane { target, lane } => self.order_lane(&target, lane, true, snapshot, roles, client).await,
            Request::ReopenLane { target, lane } => {
                self.order_lane(&target, lane, false, snapshot, roles, client).await
            }
            Request::CloseRunway { target } => self.order_runway(&target, true, snapshot, roles, client).await,
            Request::ReopenRunway { target } => self.order_runway(&target, false, snapshot, roles, client).await,
        }
    }

    /// Who is primary of `role` now, for the answer: `c2 (token 41)`.
    fn primary_now(snapshot: &Snapshot, role: &str) -> String {
        match snapshot.roles.get(role).and_then(|v| v.primary.as_ref().map(|p| (p, v.token))) {
            Some((primary, token)) => format!("{primary} (token {token})"),
            None => "no primary yet: the first one".to_string(),
        }
    }

    /// The operator closes or reopens a lane: the order is written to the segment's operator
    /// node, for its primary to carry out (the demo does not command the actuator).
    async fn order_lane(
        &mut self,
        target: &str,
        lane: u8,
        close: bool,
        snapshot: &Snapshot,
        roles: &[String],
        client: &skyway_coord::client::Client,
    ) -> Answer {
        let n = operator::segment_of(target, roles)?;
        let lanes = self.config.scenario.highway.as_ref().map_or(0, |h| h.lanes);
        let order = operator::order_lane(client, n, lane, close, lanes, unix_ms()).await?;
        let role = format!("segment/{n}");
        let (verb, now) = if close { ("close", "closes") } else { ("reopen", "reopens") };
        let line = format!(
            "the operator's order to {verb} lane {lane} of {role} is in {}; {role}'s primary, {}, {now} it with its \
             next fenced command (closed by the operator now: {:?})",
            crate::live::paths::operator_segment(n),
            Self::primary_now(snapshot, &role),
            order.lanes()
        );
        say(self.config, &line);
        self.history.lock().expect("history poisoned").push(dashboard::history::Record::Operator {
            at_ms: unix_ms(),
            role,
            lane: Some(lane),
            closed: close,
            note: line.clone(),
        });
        Ok(line)
    }

    /// The operator closes or reopens a runway, the same way.
    async fn order_runway(
        &mut self,
        target: &str,
        close: bool,
        snapshot: &Snapshot,
        roles: &[String],
        client: &skyway_coord::client::Client,
    ) -> Answer {
        let id = operator::runway_of(target, roles)?;
        operator::order_runway(client, &id, close, unix_ms()).await?;
        let role = format!("runway/{id}");
        let (verb, now) = if close { ("close", "closes") } else { ("reopen", "reopens") };
        let line = format!(
            "the operator's order to {verb} runway {id} is in {}; {role}'s primary, {}, {now} it with its next \
             fenced command",
            crate::live::paths::operator_runway(&id),
            Self::primary_now(snapshot, &role),
        );
        say(self.config, &line);
        self.history.lock().expect("history poisoned").push(dashboard::history::Record::Operator {
            at_ms: unix_ms(),
            role,
            lane: None,
            closed: close,
            note: line.clone(),
        });
        Ok(line)
    }

    /// Starts the storage lesson (seeded, so it repeats) on a local object store and the demo's
    /// coordinator, in the background (it takes seconds; the demo goes on meanwhile), and
    /// records its results when it ends.
    fn lesson(&mut self, client: &skyway_coord::client::Client) -> Answer {
        if self.lesson.as_ref().is_some_and(|task| !task.is_finished()) {
            return Err(Refused::new(409, "the lesson is already running: its results appear when it ends"));
        }
        let store = skyway_storage::StorageConfig::local_dir(self.config.root.join("lesson").join("blobs"))
            .map_err(anyhow::Error::from)
            .and_then(|c| Ok(skyway_storage::BlobStore::open(&c)?))
            .map_err(|e| Refused::new(500, format!("cannot open the lesson's object store: {e:#}")))?;
        let line = "running the storage lesson: three logs, 6 writers appending 6 records each, 3 readers";
        self.note("lesson", "lesson", None, line);
        let (client, history, human) = (client.clone(), self.history.clone(), self.config.summary_every.is_some());
        self.lesson = Some(tokio::spawn(async move {
            use crate::lesson::{LessonConfig, LessonTargets, run_lesson};
            let targets = LessonTargets { store, prefix: format!("dash-{}", unix_ms()), coordinator: Some(client) };
            // Smaller than the command's default, so that it ends within seconds beside a
            // running demo; the naive log still loses acknowledged records.
            let config = LessonConfig { writers: 6, records_per_writer: 6, readers: 3, ..LessonConfig::default() };
            let (reports, skipped) = match run_lesson(&targets, &config).await {
                Ok(done) => done,
                Err(e) => {
                    tracing::error!("the lesson failed: {e:#}");
                    return;
                }
            };
            let logs = reports
                .iter()
                .map(|r| dashboard::history::LessonLogResult {
                    title: r.log.title().to_string(),
                    written: r.written,
                    acknowledged: r.acknowledged,
                    present: r.present,
                    lost: r.lost,
                    split_brain_runways: r.verdict.split_brain_runways.clone(),
                    disagreeing_reader_pairs: r.verdict.disagreeing_reader_pairs,
                    explanation: r.explanation.clone(),
                    marks: r.marks.clone(),
                    beliefs: r.beliefs.clone(),
                })
                .collect();
            let skipped: Vec<String> = skipped.iter().map(|s| format!("{}: {}", s.log.title(), s.why)).collect();
            let summary: Vec<String> = reports
                .iter()
                .map(|r| format!("{}: {} of {} acknowledged lost", r.log.title(), r.lost, r.acknowledged))
                .collect();
            history.lock().expect("history poisoned").push(dashboard::history::Record::Lesson {
                at_ms: unix_ms(),
                logs,
                skipped,
            });
            let line = format!("lesson: {}", summary.join("; "));
            if human { println!("== {line}") } else { tracing::info!("{line}") }
        }));
        Ok(format!("{line}; its results appear in the lesson panel when it ends (seconds)"))
    }

    /// One fault of the tour.
    async fn inject(
        &mut self,
        fault: Fault,
        n: usize,
        roles: &[String],
        snapshot: &Snapshot,
    ) -> anyhow::Result<FaultRecord> {
        say(self.config, fault.explanation());
        let mut record = FaultRecord {
            fault,
            role: None,
            victim: String::new(),
            at_unix_ms: 0,
            takeover_ms: None,
            new_primary: None,
            longest_gap_ms: None,
        };
        let refused = |r: Refused| anyhow::anyhow!(r.error);
        if let Some(kind) = fault.role_kind() {
            let role = tour::pick_role(roles, kind, n).context("the world has no role of this kind")?;
            let (index, _) = self.controller(&Target::PrimaryOf(role.clone()), snapshot).map_err(refused)?;
            record.at_unix_ms = unix_ms();
            match fault {
                Fault::PauseTowerPrimary => self.pause(index, Some(&role)).await.map_err(refused)?,
                _ => self.kill(index, Some(&role)).await.map_err(refused)?,
            };
            record.role = Some(role);
            record.victim = self.slots[index].name.clone();
        } else {
            let leader = self.leader().await.map_err(refused)?;
            record.at_unix_ms = unix_ms();
            self.kill_node(leader, true).await.map_err(refused)?;
            record.victim = format!("node {leader}");
        }
        Ok(record)
    }
}

/// Fills in what followed a fault, from the actuator's trail.
fn measure(record: &mut FaultRecord, audit: &[AuditEntry]) {
    let commands = audit.iter().filter(|e| e.accepted && e.action != CLAIM && e.unix_ms >= record.at_unix_ms);
    match &record.role {
        Some(role) => {
            if let Some(first) = commands.filter(|e| e.role == *role).find(|e| e.controller != record.victim) {
                record.takeover_ms = Some(first.unix_ms - record.at_unix_ms);
                record.new_primary = Some(first.controller.clone());
            }
        }
        None => {
            let until = record.at_unix_ms + 10_000;
            let mut last: BTreeMap<&str, u64> = BTreeMap::new();
            let mut longest = 0;
            for e in commands.filter(|e| e.unix_ms <= until) {
                let before = last.insert(e.role.as_str(), e.unix_ms).unwrap_or(record.at_unix_ms);
                longest = longest.max(e.unix_ms - before);
            }
            record.longest_gap_ms = Some(longest);
        }
    }
}
