//! `skyway sim …`: the world alone, as fast as it can, with no coordinator: loop tables, the
//! credibility figures a traffic engineer would ask for, and the world's speed.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use skyway_world::policy::autopilot::Autopilot;
use skyway_world::summary::SegmentSummary;
use skyway_world::world::WorldStats;
use skyway_world::{Scenario, ScenarioError, World};

/// Flags of `skyway sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SimCommand,
}

/// The `skyway sim` subcommands.
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Run a scenario alone, as fast as it can, and print its induction loops' tables.
    #[command(after_help = "Examples:\n  skyway sim run --scenario incident --minutes 30\n  \
skyway sim run --scenario my-road.toml --seed 7 --output csv > loops.csv\n  \
skyway sim run --scenario highway --minutes 60 --control --output json\n\n\
Shipped scenarios: highway (the demo's), incident, ring, airport, bench; or the path of a TOML file \
(see sim/world/scenarios/ for commented examples).")]
    Run(RunArgs),
    /// Measure the world's speed: real-time factor, vehicle-updates per second, peak memory.
    #[command(
        after_help = "Example:\n  skyway sim bench                 # 4 km, two lanes, 2,800 veh/h, 60 simulated minutes\n  \
skyway sim bench --scenario highway --minutes 30\n\nBuild with --release for figures worth reading."
    )]
    Bench(BenchArgs),
    /// The figures a traffic engineer checks a model by, measured on the world alone: the
    /// flow–density fundamental diagram (capacity, jam density, wave speed), the stability of a
    /// ring road, an incident's queue, and what the segment policy changes (with vs without).
    #[command(after_help = "Example:
  skyway sim report --seed 2 --json

A few seconds in a release build.")]
    Report(ReportArgs),
}

/// Flags of `skyway sim report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Seed of every run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Output formats of `skyway sim run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SimOutput {
    /// A table for people.
    Table,
    /// One JSON document.
    Json,
    /// One CSV row per lane per loop per period.
    Csv,
}

/// Flags of `skyway sim run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A shipped scenario's name, or the path of a TOML file.
    #[arg(long, default_value = "highway")]
    pub scenario: String,
    /// Simulated minutes to run.
    #[arg(long, default_value_t = 30.0)]
    pub minutes: f64,
    /// Seed of the random streams (default: the scenario's own).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SimOutput::Table)]
    pub output: SimOutput,
    /// Run the controllers' policies in-process (every segment and runway decided each second
    /// from the summaries, as the controller processes would); without it nothing commands the
    /// world: no speed limits, no lane closures, no runway clearances.
    #[arg(long)]
    pub control: bool,
    /// Also write every vehicle's position and speed (the floating-car data) to this CSV file,
    /// one row per vehicle per sample.
    #[arg(long)]
    pub floating_car: Option<std::path::PathBuf>,
    /// Seconds between two floating-car samples (the tick, 0.25 s, is the finest).
    #[arg(long, default_value_t = 1.0)]
    pub floating_car_every_s: f64,
}

/// Flags of `skyway sim bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A shipped scenario's name, or the path of a TOML file.
    #[arg(long, default_value = "bench")]
    pub scenario: String,
    /// Simulated minutes to run.
    #[arg(long, default_value_t = 60.0)]
    pub minutes: f64,
    /// Seed of the random streams.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `skyway sim …`.
pub async fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    // Pure computation: off the async runtime's workers.
    tokio::task::spawn_blocking(move || match args.command {
        SimCommand::Run(args) => run_scenario(args),
        SimCommand::Bench(args) => bench(args),
        SimCommand::Report(args) => report(args),
    })
    .await?
}

/// A shipped scenario by name, or a TOML file by path.
pub fn load_scenario(name_or_path: &str) -> Result<Scenario, ScenarioError> {
    let path = Path::new(name_or_path);
    if name_or_path.ends_with(".toml") || path.exists() {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::Parse {
            origin: name_or_path.to_string(),
            message: format!("cannot read it: {e}"),
        })?;
        return Scenario::parse(&text, name_or_path);
    }
    Scenario::builtin(name_or_path)
}

fn ticks_for(scenario: &Scenario, minutes: f64) -> anyhow::Result<u64> {
    anyhow::ensure!(minutes > 0.0 && minutes <= 7.0 * 24.0 * 60.0, "--minutes {minutes}: give 0 < minutes <= 10080");
    Ok((minutes * 60.0 / scenario.dt_s()).round() as u64)
}

#[derive(Serialize)]
struct RunReport {
    scenario: String,
    seed: u64,
    minutes: f64,
    control: bool,
    stats: WorldStats,
    digest: String,
    segments: Vec<SegmentSummary>,
}

fn run_scenario(args: RunArgs) -> anyhow::Result<ExitCode> {
    let scenario = load_scenario(&args.scenario)?;
    let seed = args.seed.unwrap_or(scenario.seed);
    let ticks = ticks_for(&scenario, args.minutes)?;
    let mut world = World::new(&scenario, seed)?;
    let mut pilot = args.control.then(|| Autopilot::new(&world.roles(), "autopilot", 1, 4));
    let mut segments = Vec::new();
    let mut events = 0usize;
    let mut floating = match &args.floating_car {
        Some(path) => {
            let file =
                std::fs::File::create(path).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
            let mut writer = std::io::BufWriter::new(file);
            writeln!(writer, "time_s,id,kind,lane,position_m,speed_kmh,stalled")?;
            Some(writer)
        }
        None => None,
    };
    let every = ((args.floating_car_every_s / scenario.dt_s()).round() as u64).max(1);
    for _ in 0..ticks {
        let commands = pilot.as_mut().map(|p| p.commands(world.tick() + 1)).unwrap_or_default();
        let outputs = world.step(&commands);
        if let Some(pilot) = &mut pilot {
            pilot.observe(&outputs);
        }
        events += outputs.events.iter().filter(|e| !matches!(e, skyway_world::Event::Obeyed { .. })).count();
        segments.extend(outputs.segments);
        if let (Some(writer), Some(highway)) = (&mut floating, world.highway())
            && world.tick().is_multiple_of(every)
        {
            for v in highway.vehicles() {
                writeln!(
                    writer,
                    "{:.2},{},{:?},{},{:.2},{:.1},{}",
                    world.time_s(),
                    v.id,
                    v.kind,
                    v.lane,
                    v.position_m,
                    v.speed_mps * 3.6,
                    v.stalled
                )?;
            }
        }
    }
    if let Some(mut writer) = floating {
        writer.flush()?;
    }
    let report = RunReport {
        scenario: scenario.name.clone(),
        seed,
        minutes: args.minutes,
        control: args.control,
        stats: world.stats(),
        digest: world.digest(),
        segments,
    };
    match args.output {
        SimOutput::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        SimOutput::Csv => {
            println!("period_end_s,segment,loop,position_m,lane,count,flow_vph,occupancy_pct,mean_speed_kmh");
            for s in &report.segments {
                for l in &s.loops {
                    for lane in &l.lanes {
                        let speed = lane.mean_speed_kmh.map_or(String::new(), |v| format!("{v:.1}"));
                        println!(
                            "{:.0},{},{},{:.0},{},{},{:.0},{:.1},{speed}",
                            s.period_end_s,
                            s.segment,
                            l.id,
                            l.position_m,
                            lane.lane,
                            lane.count,
                            lane.flow_vph,
                            lane.occupancy_pct
                        );
                    }
                }
            }
        }
        SimOutput::Table => print_table(&report, events),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(report: &RunReport, events: usize) {
    println!(
        "scenario {} seed {}: {} simulated minutes, {} events, digest {}",
        report.scenario, report.seed, report.minutes, events, report.digest
    );
    println!("\n{:>8} {:>4} {:>10} {:>9} {:>8} {:>10}  limit  closed", "time", "seg", "loop", "veh/h", "occ %", "km/h");
    for s in &report.segments {
        for l in &s.loops {
            let flow: f64 = l.lanes.iter().map(|x| x.flow_vph).sum();
            let occupancy = l.lanes.iter().map(|x| x.occupancy_pct).sum::<f64>() / l.lanes.len().max(1) as f64;
            let counted: u32 = l.lanes.iter().map(|x| x.count).sum();
            let speed = if counted == 0 {
                "-".to_string()
            } else {
                let sum: f64 = l.lanes.iter().filter_map(|x| x.mean_speed_kmh.map(|v| v * f64::from(x.count))).sum();
                format!("{:.1}", sum / f64::from(counted))
            };
            let limit = s.speed_limit_kmh.map_or("-".to_string(), |v| v.to_string());
            let closed: Vec<String> = s.closed_lanes.iter().map(u8::to_string).collect();
            println!(
                "{:>8.0} {:>4} {:>10} {:>9.0} {:>8.1} {:>10}  {:>5}  {}",
                s.period_end_s,
                s.segment,
                l.id,
                flow,
                occupancy,
                speed,
                limit,
                if closed.is_empty() { "-".to_string() } else { closed.join(",") }
            );
        }
    }
    println!("\n{}", serde_json::to_string_pretty(&report.stats).unwrap_or_default());
}

#[derive(Serialize)]
struct BenchReport {
    scenario: String,
    simulated_s: f64,
    wall_s: f64,
    real_time_factor: f64,
    ticks_per_s: f64,
    vehicle_updates: u64,
    vehicle_updates_per_s: f64,
    peak_vehicles: u64,
    peak_rss_mib: Option<f64>,
    cores_used: usize,
}

fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let scenario = load_scenario(&args.scenario)?;
    let seed = args.seed.unwrap_or(scenario.seed);
    let ticks = ticks_for(&scenario, args.minutes)?;
    let mut world = World::new(&scenario, seed)?;
    let mut peak_vehicles = 0;
    let started = Instant::now();
    for tick in 0..ticks {
        world.step(&[]);
        // Sampled: the count is cheap, but not free.
        if tick % 40 == 0 {
            peak_vehicles = peak_vehicles.max(world.highway().map_or(0, |h| h.stats().present));
        }
    }
    let wall_s = started.elapsed().as_secs_f64();
    let vehicle_updates = world.highway().map_or(0, |h| h.stats().vehicle_updates);
    let simulated_s = world.time_s();
    let report = BenchReport {
        scenario: scenario.name.clone(),
        simulated_s,
        wall_s,
        real_time_factor: simulated_s / wall_s,
        ticks_per_s: ticks as f64 / wall_s,
        vehicle_updates,
        vehicle_updates_per_s: vehicle_updates as f64 / wall_s,
        peak_vehicles,
        peak_rss_mib: peak_rss_mib(),
        cores_used: 1,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{}: {:.0} simulated s in {:.2} s on one core: {:.0}x real time, {:.0} ticks/s, {:.2} M vehicle-updates/s, \
             peak {} vehicles, peak memory {}",
            report.scenario,
            report.simulated_s,
            report.wall_s,
            report.real_time_factor,
            report.ticks_per_s,
            report.vehicle_updates_per_s / 1e6,
            report.peak_vehicles,
            report.peak_rss_mib.map_or("unknown".to_string(), |m| format!("{m:.1} MiB (whole process)")),
        );
        if cfg!(debug_assertions) {
            println!("(a debug build: build with --release for figures worth reading)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The process's peak resident memory, from /proc (Linux only).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let r = skyway_world::credibility::report(args.seed);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    let fd = &r.fundamental;
    println!("Credibility of the highway model, seed {} (the literature's ranges in brackets)\n", r.seed);
    println!("fundamental diagram (single-lane ring, mixed traffic):");
    println!("   lane capacity       {:>7.0} veh/h     [1,800-2,200]", fd.capacity_vph);
    println!("   jam density         {:>7.0} veh/km    [120-160]", fd.jam_density_vpkm);
    println!("   wave speed          {:>7.1} km/h      [10-25, upstream] (congested branch)", fd.wave_speed_kmh);
    println!(
        "   wave speed, direct  {:>7.1} km/h      (the slowest car's track on a ring at 60 veh/km)",
        r.wave_speed_kmh
    );
    println!("\nring stability (identical cars, one slowed):");
    for run in &r.stability.runs {
        let verdict = if skyway_world::credibility::is_stop_and_go(run) {
            "stop-and-go"
        } else if skyway_world::credibility::healed(run) {
            "healed"
        } else {
            "grew, not yet stop-and-go"
        };
        println!("   {:>5.0} veh/km  {verdict}", run.density_vpkm);
    }
    println!("   [heals below about 25 veh/km, stop-and-go above about 40]");
    println!("\nincident (two lanes, 2,800 veh/h, a stall for 10 min), without and with the segment policy:");
    let (a, b) = (&r.control.without, &r.control.with);
    let secs = |v: Option<f64>| v.map_or_else(|| "never".to_string(), |s| format!("{s:.0} s"));
    println!("   {:<38} {:>12} {:>12}", "", "no control", "control");
    println!("   {:<38} {:>12} {:>12}", "stalled lane closed after", secs(a.closed_after_s), secs(b.closed_after_s));
    println!("   {:<38} {:>10.0} m {:>10.0} m", "longest queue", a.queue_max_m, b.queue_max_m);
    println!(
        "   {:<38} {:>7.1} km/h {:>7.1} km/h",
        "queue tail moving upstream at", a.tail_speed_kmh, b.tail_speed_kmh
    );
    println!(
        "   {:<38} {:>12} {:>12}",
        "queue gone after the stall cleared",
        secs(a.discharged_after_s),
        secs(b.discharged_after_s)
    );
    println!(
        "   {:<38} {:>12.0} {:>12.0}",
        "upstream speed variance, (km/h)^2", a.upstream_speed_variance, b.upstream_speed_variance
    );
    println!("   {:<38} {:>12} {:>12}", "hard brakings", a.hard_brakings, b.hard_brakings);
    println!("   {:<38} {:>12} {:>12}", "vehicles through", a.exited, b.exited);
    println!("   {:<38} {:>12} {:>12}", "still waiting to enter at the end", a.waiting_end, b.waiting_end);
    Ok(ExitCode::SUCCESS)
}
