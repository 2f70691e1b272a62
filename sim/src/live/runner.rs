//! The real-time loop around the pure world, and the actuator in front of it.
//!
//! The world runs on its own thread (it computes; it must not hold up the async runtime the
//! coordinator client and the actuator's gRPC service run on). The actuator is in this process:
//! its observer hands every decision, after it is fsynced and in the order made, to the world
//! thread, which obeys the accepted ones at its next tick. Summaries go to the
//! [`Publisher`]; a [`Snapshot`] is refreshed about ten times a
//! second of wall time.
//!
//! Time: the loop keeps simulated time at `speed` × wall time since it started (or since the
//! speed last changed), stepping as many ticks as are due; if it falls behind (too fast a speed
//! for this machine) it says so once and runs as fast as it can.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use skyway_controller::actuator::{self, Actuator};
use skyway_controller::proto::AuditEntry;
use skyway_coord::client::Client;
use skyway_world::policy::autopilot::Autopilot;
use skyway_world::{Applied, Event, Outputs, Scenario, World};
use tokio::sync::{broadcast, watch};

use super::cameras::{self, FeedTick, Placement};
use super::feed::{self, TickSender};
use super::paths;
use super::publisher::Publisher;
use super::snapshot::Snapshot;

/// How a live world runs.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// The scenario.
    pub scenario: Scenario,
    /// The seed of its random streams.
    pub seed: u64,
    /// Simulated seconds per wall second (1 = real time).
    pub speed: f64,
    /// Where the actuator keeps its audit trail.
    pub actuator_dir: PathBuf,
    /// Where the actuator serves controller processes (port 0: any free port).
    pub actuator_listen: SocketAddr,
    /// Simulated seconds run as fast as possible before going live, so that the road is full
    /// and aircraft are on final when the class starts watching.
    pub warmup_s: f64,
}

/// The fastest speed the loop accepts.
pub const SPEED_MAX: f64 = 1_000.0;

/// What the world thread is told.
enum Input {
    Decision(AuditEntry),
    Speed(f64),
    Stall { position_m: f64, lane: u8, duration_s: f64, reply: tokio::sync::oneshot::Sender<Result<(), String>> },
    Stop,
}

/// A running world with its actuator.
pub struct LiveWorld {
    actuator: Arc<Actuator>,
    actuator_addr: SocketAddr,
    inputs: std_mpsc::Sender<Input>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
    thread: Option<std::thread::JoinHandle<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    roles: Vec<String>,
    ticks: TickSender,
    placements: Vec<Placement>,
    decisions: broadcast::Sender<AuditEntry>,
}

/// Decisions buffered for a listener of [`LiveWorld::decisions`] that falls behind.
const DECISIONS_BUFFERED: usize = 16_384;

impl LiveWorld {
    /// Builds the world, opens its actuator and serves it, and starts the loop; summaries are
    /// published through `client`.
    pub async fn start(config: LiveConfig, client: Client) -> anyhow::Result<Self> {
        anyhow::ensure!(
            config.speed > 0.0 && config.speed <= SPEED_MAX,
            "speed {} is out of range: 0 < speed <= {SPEED_MAX}",
            config.speed
        );
        let world = World::new(&config.scenario, config.seed)?;
        let roles = world.roles();
        let placements = cameras::placements(&config.scenario);
        let ticks = TickSender::default();
        let loop_ticks = ticks.clone();
        let (inputs, received) = std_mpsc::channel();
        let observer_inputs = std::sync::Mutex::new(inputs.clone());
        let (decisions, _) = broadcast::channel(DECISIONS_BUFFERED);
        let observer_decisions = decisions.clone();
        let actuator = Arc::new(Actuator::open_observed(
            &config.actuator_dir,
            Box::new(move |entry: &AuditEntry| {
                let _ = observer_inputs.lock().expect("observer poisoned").send(Input::Decision(entry.clone()));
                // Nobody listening is fine; a listener that lags learns how many it missed.
                let _ = observer_decisions.send(entry.clone());
            }),
        )?);
        let listener = tokio::net::TcpListener::bind(config.actuator_listen)
            .await
            .with_context(|| format!("cannot serve the actuator on {}", config.actuator_listen))?;
        let actuator_addr = listener.local_addr()?;
        let publisher = Publisher::default();
        let initial = Snapshot {
            scenario: config.scenario.name.clone(),
            seed: config.seed,
            speed: config.speed,
            ..Default::default()
        };
        let (snapshots, snapshot) = watch::channel(Arc::new(initial.clone()));
        let loop_publisher = publisher.clone();
        let speed = config.speed;
        let warmup_ticks = (config.warmup_s.max(0.0) / config.scenario.dt_s()) as u64;
        let thread = std::thread::Builder::new()
            .name("world".into())
            .spawn(move || {
                let mut world = world;
                let mut initial = initial;
                // Warmed up under the in-process policies (token 1: every real primary holds a
                // higher one, so its claim is a takeover), so the runways are not left alone.
                let mut pilot = Autopilot::new(&world.roles(), "warm-up", 1, 4);
                for _ in 0..warmup_ticks {
                    let commands = pilot.commands(world.tick() + 1);
                    let outputs = world.step(&commands);
                    pilot.observe(&outputs);
                    handle(&outputs, &mut initial, &loop_publisher);
                }
                run_loop(world, initial, speed, received, loop_publisher, snapshots, loop_ticks)
            })
            .context("cannot start the world's thread")?;
        let serving = actuator.clone();
        let tasks = vec![
            tokio::spawn(publisher.run(client)),
            tokio::spawn(async move {
                if let Err(e) = actuator::serve(serving, listener, std::future::pending()).await {
                    tracing::error!("the world's actuator stopped serving: {e:#}");
                }
            }),
        ];
        tracing::info!(%actuator_addr, roles = roles.len(), "world running");
        Ok(Self {
            actuator,
            actuator_addr,
            inputs,
            snapshot,
            thread: Some(thread),
            tasks,
            roles,
            ticks,
            placements,
            decisions,
        })
    }

    /// Where controllers reach the world's actuator.
    pub fn actuator_addr(&self) -> SocketAddr {
        self.actuator_addr
    }

    /// The actuator (for in-process controllers and audit reads).
    pub fn actuator(&self) -> &Arc<Actuator> {
        &self.actuator
    }

    /// The world's cameras: one per segment, one per runway.
    pub fn cameras(&self) -> &[Placement] {
        &self.placements
    }

    /// Serves the scene feed (what each camera sees, `fps` frames per second of world time) on
    /// `listen` (port 0: any free port); returns where.
    pub async fn serve_feed(&mut self, listen: SocketAddr, fps: f64) -> anyhow::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot serve the scene feed on {listen}"))?;
        let addr = listener.local_addr()?;
        let (ticks, placements) = (self.ticks.clone(), self.placements.clone());
        self.tasks.push(tokio::spawn(async move {
            if let Err(e) = feed::serve(listener, ticks, placements, fps).await {
                tracing::error!("{e:#}");
            }
        }));
        Ok(addr)
    }

    /// Every role the world has a target for.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// The world now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// Every actuator decision from now on, in the order made (after it is durable).
    pub fn decisions(&self) -> broadcast::Receiver<AuditEntry> {
        self.decisions.subscribe()
    }

    /// Changes of the snapshot.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshot.clone()
    }

    /// Changes the speed (simulated seconds per wall second).
    pub fn set_speed(&self, speed: f64) -> anyhow::Result<()> {
        anyhow::ensure!(speed > 0.0 && speed <= SPEED_MAX, "speed {speed} is out of range: 0 < speed <= {SPEED_MAX}");
        let _ = self.inputs.send(Input::Speed(speed));
        Ok(())
    }

    /// Stalls the first vehicle to reach `position_m` in `lane` from now on, for `duration_s`
    /// simulated seconds; refused, saying why, for an impossible place or a world without a road.
    pub async fn stall(&self, position_m: f64, lane: u8, duration_s: f64) -> Result<(), String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.inputs
            .send(Input::Stall { position_m, lane, duration_s, reply })
            .map_err(|_| "the world has stopped".to_string())?;
        answer.await.unwrap_or_else(|_| Err("the world has stopped".into()))
    }

    /// Stops the loop and the actuator's service; returns the final snapshot.
    pub async fn stop(mut self) -> Arc<Snapshot> {
        let _ = self.inputs.send(Input::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        for task in &self.tasks {
            task.abort();
        }
        self.snapshot()
    }
}

impl Drop for LiveWorld {
    fn drop(&mut self) {
        let _ = self.inputs.send(Input::Stop);
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// How often the snapshot is refreshed and the world's status published, in wall time.
const SNAPSHOT_EVERY: Duration = Duration::from_millis(100);
const STATUS_EVERY: Duration = Duration::from_secs(2);
/// The longest the loop sleeps, so that inputs are seen promptly.
const SLEEP_MAX: Duration = Duration::from_millis(20);

fn run_loop(
    mut world: World,
    mut snapshot: Snapshot,
    mut speed: f64,
    inputs: std_mpsc::Receiver<Input>,
    publisher: Publisher,
    snapshots: watch::Sender<Arc<Snapshot>>,
    ticks: TickSender,
) {
    let dt = world.dt_s();
    let mut anchor = (Instant::now(), world.tick());
    let mut pending: Vec<Applied> = Vec::new();
    let mut last_snapshot = Instant::now();
    let mut last_status = Instant::now();
    let mut busy = Duration::ZERO;
    let mut busy_since = Instant::now();
    let mut cpu_at_window = thread_cpu();
    let mut behind_warned = false;
    let mut carried: Option<Input> = None;
    loop {
        let woke = Instant::now();
        loop {
            let input = match carried.take() {
                Some(input) => input,
                None => match inputs.try_recv() {
                    Ok(input) => input,
                    Err(std_mpsc::TryRecvError::Empty) => break,
                    Err(std_mpsc::TryRecvError::Disconnected) => Input::Stop,
                },
            };
            match input {
                Input::Decision(entry) => {
                    snapshot.observe(&entry);
                    if entry.accepted {
                        pending.push(Applied {
                            role: entry.role,
                            controller: entry.controller,
                            token: entry.token,
                            action: entry.action,
                        });
                    }
                }
                Input::Stall { position_m, lane, duration_s, reply } => {
                    let _ = reply.send(world.stall(position_m, lane, duration_s));
                }
                Input::Speed(new) => {
                    speed = new;
                    anchor = (Instant::now(), world.tick());
                    snapshot.speed = new;
                }
                Input::Stop => {
                    snapshot.stats = world.stats();
                    snapshot.published = publisher.stats();
                    let _ = snapshots.send(Arc::new(snapshot));
                    return;
                }
            }
        }
        let due = anchor.1 + (anchor.0.elapsed().as_secs_f64() * speed / dt) as u64;
        // Commands apply at the next tick; a burst of due ticks gets them at its first.
        let mut stepped = 0;
        while world.tick() < due && stepped < 10_000 {
            let outputs = world.step(&pending);
            pending.clear();
            handle(&outputs, &mut snapshot, &publisher);
            if ticks.wanted() {
                ticks.send(FeedTick {
                    time_s: world.time_s(),
                    dt_s: dt,
                    vehicles: world.highway().map(|h| h.vehicles()).unwrap_or_default(),
                    movers: world.airport().map(|a| a.movers()).unwrap_or_default(),
                    closures: world
                        .highway()
                        .map(|h| {
                            let spec = h.spec();
                            cameras::road_closures(&h.orders(), spec.segment_length_m, spec.length_m)
                        })
                        .unwrap_or_default(),
                });
            }
            stepped += 1;
        }
        if world.tick() + 1 < due && !behind_warned {
            tracing::warn!(
                speed,
                "the world cannot keep up with this speed on this machine: running as fast as it can"
            );
            behind_warned = true;
        }
        busy += woke.elapsed();
        if last_snapshot.elapsed() >= SNAPSHOT_EVERY {
            snapshot.stats = world.stats();
            snapshot.vehicles = world.highway().map(|h| h.vehicles()).unwrap_or_default();
            snapshot.orders = world.highway().map(|h| h.orders()).unwrap_or_default();
            snapshot.movers = world.airport().map(|a| a.movers()).unwrap_or_default();
            snapshot.published = publisher.stats();
            let window = busy_since.elapsed().as_secs_f64();
            if window >= 1.0 {
                let cpu = thread_cpu();
                snapshot.world_cpu_share = match (cpu, cpu_at_window) {
                    (Some(now), Some(then)) => now.saturating_sub(then).as_secs_f64() / window,
                    _ => busy.as_secs_f64() / window,
                };
                cpu_at_window = cpu;
                busy = Duration::ZERO;
                busy_since = Instant::now();
            }
            let _ = snapshots.send(Arc::new(snapshot.clone()));
            last_snapshot = Instant::now();
        }
        if last_status.elapsed() >= STATUS_EVERY {
            if let Ok(json) = serde_json::to_vec(&snapshot.stats) {
                publisher.offer(paths::status(), Bytes::from(json));
            }
            last_status = Instant::now();
        }
        let next_tick = anchor.0 + Duration::from_secs_f64((world.tick() + 1 - anchor.1) as f64 * dt / speed);
        let sleep = next_tick.saturating_duration_since(Instant::now()).min(SLEEP_MAX);
        // Wakes early for a decision, so that a command is obeyed at the very next tick.
        match inputs.recv_timeout(sleep) {
            Ok(input) => carried = Some(input),
            Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            Err(std_mpsc::RecvTimeoutError::Disconnected) => carried = Some(Input::Stop),
        }
    }
}

/// CPU time this thread has used (Linux's schedstat, in ns); None elsewhere, and the loop falls
/// back to the wall time it spent busy.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(text.split_whitespace().next()?.parse().ok()?))
}

fn handle(outputs: &Outputs, snapshot: &mut Snapshot, publisher: &Publisher) {
    for summary in &outputs.runways {
        snapshot.runways.insert(summary.runway.clone(), summary.clone());
        if let Ok(json) = serde_json::to_vec(summary) {
            publisher.offer(paths::runway(&summary.runway), Bytes::from(json));
        }
    }
    for summary in &outputs.segments {
        snapshot.segments.insert(summary.segment, summary.clone());
        if let Ok(json) = serde_json::to_vec(summary) {
            publisher.offer(paths::segment(summary.segment), Bytes::from(json));
        }
    }
    for event in &outputs.events {
        match event {
            Event::Conflict { .. } => tracing::error!(time_s = outputs.time_s, "{event}"),
            Event::Refused { .. } => tracing::warn!(time_s = outputs.time_s, "{event}"),
            Event::Obeyed { .. } => continue,
            _ => tracing::info!(time_s = outputs.time_s, "{event}"),
        }
        snapshot.remember(format!("{:>7.1}s {event}", outputs.time_s));
    }
}
