//! `skyway demo`, the main job: a 3-node coordinator (real processes), the highway and the airport
//! behind their fenced actuator, and controller processes holding every segment and runway role,
//! all on this machine. It prints a live summary, and with a tour it injects faults through the
//! same rig the drills use — and says what each one shows.
//!
//! What it proves, in its report: every role was commanded; each fault's role was taken over
//! (fault → first accepted command of the new primary); split brains (the actuator's trail judged
//! by the drills' checker, and the world's own conflict count) and runway incursions stayed zero.

pub mod collect;
pub mod tour;
pub mod view;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::Serialize;
use skyway_controller::actuator::CLAIM;
use skyway_controller::proto::AuditEntry;
use skyway_world::Scenario;

use crate::drill::judge_trail;
use crate::live::runner::{LiveConfig, LiveWorld};
use crate::live::snapshot::Snapshot;
use crate::rig::cluster::ProcessCluster;
use crate::rig::process::{Process, Signal};
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
    let logs = config.root.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    say(
        &config,
        &format!(
            "Starting a 3-node coordinator on 127.0.0.1 (real processes, fsync on); data in {}",
            config.root.display()
        ),
    );
    let mut cluster = ProcessCluster::start(&config.binary, &config.root.join("coord"), 3, &[])?;
    let leader = cluster.wait_for_leader(Duration::from_secs(30)).await?;
    say(&config, &format!("coordinator nodes {} elected node {leader} leader", cluster.endpoints().join(", ")));
    let client = cluster.client()?;
    let live = LiveConfig {
        scenario: config.scenario.clone(),
        seed: config.seed,
        speed: config.speed,
        actuator_dir: config.root.join("actuator"),
        actuator_listen: "127.0.0.1:0".parse()?,
        warmup_s: config.warmup_s,
    };
    let mut world = LiveWorld::start(live, client).await?;
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
    let mut slots: Vec<Slot> = Vec::new();
    if config.control {
        for i in 0..config.controllers {
            let name = format!("c{}", i + 1);
            let process = spawn_controller(&config, &name, &cluster.endpoints(), &world, &roles)?;
            slots.push(Slot { name, process: Some(process) });
        }
        say(
            &config,
            &format!(
                "{} controllers started, each a candidate for every role; logs in {}",
                slots.len(),
                logs.display()
            ),
        );
    } else {
        say(&config, "no controllers (--no-control): the world runs on its defaults");
    }

    let mut collectors = match &config.collect {
        Some(settings) => {
            let (collectors, store) = collect::start(settings, &config, &cluster.endpoints(), &mut world).await?;
            say(
                &config,
                &format!(
                    "{} cameras and {} analyzers started; frames go to {store}, only their URLs to the coordinator",
                    world.cameras().len(),
                    settings.analyzers
                ),
            );
            Some(collectors)
        }
        None => None,
    };
    let started = Instant::now();
    let mut settled: Option<Instant> = None;
    let mut faults: Vec<FaultRecord> = Vec::new();
    let mut later: Vec<(Instant, Later)> = Vec::new();
    let mut last_summary = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            _ = &mut interrupted => {
                say(&config, "interrupted: stopping everything");
                break;
            }
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        let snapshot = world.snapshot();
        if settled.is_none() && roles.iter().all(|r| snapshot.roles.get(r).is_some_and(|v| v.accepted > 0)) {
            settled = Some(now);
            say(&config, &format!("every role is commanded, {:.1} s after the start", started.elapsed().as_secs_f64()));
        }
        // What was scheduled for now.
        let due: Vec<Later> = {
            let (due, rest): (Vec<_>, Vec<_>) = later.drain(..).partition(|(at, _)| *at <= now);
            later = rest;
            due.into_iter().map(|(_, what)| what).collect()
        };
        for what in due {
            match what {
                Later::Resume(i) => {
                    if let Some(process) = &slots[i].process {
                        process.signal(Signal::Cont).await?;
                        say(
                            &config,
                            &format!("{} resumed (SIGCONT): its next commands carry a stale token", slots[i].name),
                        );
                    }
                }
                Later::Restart(i) => {
                    let process = spawn_controller(&config, &slots[i].name, &cluster.endpoints(), &world, &roles)?;
                    slots[i].process = Some(process);
                    say(
                        &config,
                        &format!("{} restarted: it joins at the back of every line, as a backup", slots[i].name),
                    );
                }
                Later::RestartNode(id) => {
                    cluster.spawn(id)?;
                    say(&config, &format!("coordinator node {id} restarted: it catches up from the log"));
                }
            }
        }
        if config.tour
            && let Some(settled) = settled
            && faults.len() < Fault::TOUR.len()
            && now >= settled + config.tour_gap * (faults.len() as u32 + 1)
        {
            let fault = Fault::TOUR[faults.len()];
            let record =
                inject(&config, fault, faults.len(), &roles, &snapshot, &mut slots, &mut cluster, &mut later).await?;
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

    for slot in &mut slots {
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
    let audit = actuator.audit("");
    let final_snapshot = world.stop().await;
    drop(cluster);
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

fn spawn_controller(
    config: &DemoConfig,
    name: &str,
    endpoints: &[String],
    world: &LiveWorld,
    roles: &[String],
) -> anyhow::Result<Process> {
    let args: Vec<String> = [
        "controller",
        "--name",
        name,
        "--roles",
        &roles.join(","),
        "--endpoints",
        &endpoints.join(","),
        "--actuator",
        &world.actuator_addr().to_string(),
        "--commands",
        "world",
        "--ttl-ms",
        &config.ttl.as_millis().to_string(),
        "--command-interval-ms",
        &config.command_interval.as_millis().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Process::spawn(name, &config.binary, &args, &config.root.join("logs").join(format!("{name}.log")))
}

#[allow(clippy::too_many_arguments)]
async fn inject(
    config: &DemoConfig,
    fault: Fault,
    n: usize,
    roles: &[String],
    snapshot: &Snapshot,
    slots: &mut [Slot],
    cluster: &mut ProcessCluster,
    later: &mut Vec<(Instant, Later)>,
) -> anyhow::Result<FaultRecord> {
    say(config, fault.explanation());
    let mut record = FaultRecord {
        fault,
        role: None,
        victim: String::new(),
        at_unix_ms: 0,
        takeover_ms: None,
        new_primary: None,
        longest_gap_ms: None,
    };
    if let Some(kind) = fault.role_kind() {
        let role = tour::pick_role(roles, kind, n).context("the world has no role of this kind")?;
        let primary = snapshot.roles.get(&role).and_then(|v| v.primary.clone()).context("the role has no primary")?;
        let index = slots.iter().position(|s| s.name == primary).context("the primary is not a demo controller")?;
        record.at_unix_ms = unix_ms();
        let process = slots[index].process.as_mut().context("the primary is not running")?;
        match fault {
            Fault::PauseTowerPrimary => {
                process.signal(Signal::Stop).await?;
                let pause = (config.ttl * 3).max(Duration::from_secs(2));
                later.push((Instant::now() + pause, Later::Resume(index)));
                say(config, &format!("{primary}, primary of {role}, paused (SIGSTOP) for {pause:?}"));
            }
            _ => {
                process.kill().await?;
                slots[index].process = None;
                later.push((Instant::now() + Duration::from_secs(3), Later::Restart(index)));
                say(config, &format!("{primary}, primary of {role}, killed (SIGKILL)"));
            }
        }
        record.role = Some(role);
        record.victim = primary;
    } else {
        let leader = cluster.wait_for_leader(Duration::from_secs(10)).await?;
        record.at_unix_ms = unix_ms();
        cluster.kill(leader).await?;
        later.push((Instant::now() + Duration::from_secs(5), Later::RestartNode(leader)));
        record.victim = format!("node {leader}");
        say(config, &format!("coordinator node {leader}, the leader, killed (SIGKILL)"));
    }
    Ok(record)
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
