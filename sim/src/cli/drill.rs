//! `skyway drill`: failover drills on real processes, with measured detection and takeover.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::drill::chaos::{ChaosConfig, ChaosReport};
use crate::drill::{DrillConfig, RunOutcome, Scenario, run_once};

/// Flags of `skyway drill`.
#[derive(Debug, Args)]
#[command(after_help = "Each run starts a 3-node coordinator cluster, an actuator and the controllers \
(real processes on 127.0.0.1, each controller behind its own fault proxies), waits until every role \
is commanded, injects the fault and measures:\n  detection  fault → the primary's session expiry (or \
close) committed\n  takeover   fault → the first accepted command of another controller\n  refused    \
commands refused for stale fencing tokens\n  split brain  two controllers accepted at one fencing level \
(must be 0)\n\nThe chaos scenario instead injects random kills, pauses and partitions of coordinator nodes and \
controllers (seeded: --seed, printed) for --minutes under a workload of reads, writes, compare-and-sets, \
creates, watches, sessions and the controllers' roles, then checks the recorded history: linearizable, no \
acknowledged write missing, every watch saw every event in order, no role had two primaries, no \
ephemeral node outlived its session, every role served again.\nExit status 1 if any invariant is violated \
or any check fails.\n\nExamples:\n  skyway drill\n  skyway drill --scenario pause-primary --runs 5\n  \
skyway drill --ttl-ms 100 --scenario kill-primary --runs 10 --output json\n  skyway drill --scenario chaos \
--minutes 30 --seed 7")]
pub struct DrillArgs {
    /// Scenarios to run (default: every single-fault scenario; `chaos` only when named).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub scenario: Vec<Scenario>,
    /// Runs of each scenario.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// Controllers, all serving every role.
    #[arg(long, default_value_t = 3)]
    pub controllers: usize,
    /// Roles served.
    #[arg(long, value_delimiter = ',', default_value = "runway/07,segment/12")]
    pub roles: Vec<String>,
    /// Controllers' session TTL in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub ttl_ms: u64,
    /// How often a primary commands its actuator, in milliseconds.
    #[arg(long, default_value_t = 20)]
    pub command_interval_ms: u64,
    /// Seed of the runs' choices (which role's primary is faulted, and when in its command cycle).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Put load on the coordinator during each run: this many `skyway bench` clients.
    #[arg(long, default_value_t = 0)]
    pub load_clients: usize,
    /// Keep the processes' logs and data here (default: a temporary directory, removed).
    #[arg(long)]
    pub keep: Option<std::path::PathBuf>,
    /// How long the chaos scenario injects faults, in minutes (fractions allowed: 0.5).
    #[arg(long, default_value_t = 5.0)]
    pub minutes: f64,
    /// Workload clients of the chaos scenario (register operations and creates).
    #[arg(long, default_value_t = 4)]
    pub chaos_clients: usize,
    /// Serve TLS: a development CA and certificates in the run's directory, mutual TLS between
    /// the nodes and from every client (each controller with its own certificate), so the
    /// failover is measured with the handshakes a production cluster pays.
    #[arg(long)]
    pub tls: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub output: super::ctl::Output,
}

/// Runs the drills.
pub async fn run(args: DrillArgs) -> anyhow::Result<ExitCode> {
    let scenarios = if args.scenario.is_empty() { Scenario::failovers() } else { args.scenario.clone() };
    if !(args.minutes > 0.0 && args.minutes.is_finite()) {
        anyhow::bail!("--minutes {}: give a positive number of minutes (e.g. 0.5 or 30)", args.minutes);
    }
    if args.controllers < 2 {
        anyhow::bail!("--controllers must be at least 2: a drill needs a backup to take over");
    }
    let config = DrillConfig {
        binary: std::env::current_exe().context("cannot find the skyway binary")?,
        controllers: args.controllers,
        roles: args.roles.clone(),
        ttl: Duration::from_millis(args.ttl_ms),
        command_interval: Duration::from_millis(args.command_interval_ms.max(1)),
        load_clients: args.load_clients,
        seed: args.seed,
        tls: args.tls,
    };
    let mut temp = Some(tempfile::tempdir()?);
    let root = args.keep.clone().unwrap_or_else(|| temp.as_ref().expect("just made").path().to_path_buf());
    // A run reusing an earlier run's coordinator data would start nodes that remember other
    // peers' addresses: refuse, rather than drill a confused cluster.
    if let Some(earlier) = std::fs::read_dir(&root).into_iter().flatten().flatten().next() {
        anyhow::bail!(
            "--keep {}: it already holds {} from an earlier drill; give an empty or new directory",
            root.display(),
            earlier.file_name().to_string_lossy()
        );
    }
    let human = args.output == super::ctl::Output::Human;
    let mut outcomes = Vec::new();
    let mut interrupted = false;
    let mut chaos_reports = Vec::new();
    'scenarios: for scenario in &scenarios {
        if *scenario == Scenario::Chaos {
            let chaos = ChaosConfig {
                drill: config.clone(),
                duration: Duration::from_secs_f64(args.minutes * 60.0),
                clients: args.chaos_clients.max(1),
                watchers: 2,
                sessions: 2,
            };
            if human {
                eprintln!("chaos for {} min, seed {} (rerun with --seed {})…", args.minutes, args.seed, args.seed);
            }
            let chaos_root = root.join("chaos");
            let report = tokio::select! {
                report = crate::drill::chaos::run(&chaos, &chaos_root) => {
                    report.context("chaos").map_err(|e| keep_logs(&mut temp, &root, e))?
                }
                _ = super::interrupted() => {
                    eprintln!("interrupted: its processes are stopped; the runs finished so far:");
                    interrupted = true;
                    break 'scenarios;
                }
            };
            if human {
                print_chaos(&report);
            }
            chaos_reports.push(report);
            continue;
        }
        for run in 0..args.runs {
            if human {
                eprint!("{scenario:?} run {}/{}… ", run + 1, args.runs);
            }
            let dir = root.join(format!("{scenario:?}-{run}"));
            // Ctrl-C or SIGTERM drops the run, and with it every process it started.
            let outcome = tokio::select! {
                outcome = run_once(&config, *scenario, &dir, run as u64) => {
                    outcome.with_context(|| format!("{scenario:?} run {run}")).map_err(|e| keep_logs(&mut temp, &root, e))?
                }
                _ = super::interrupted() => {
                    eprintln!("interrupted: its processes are stopped; the runs finished so far:");
                    interrupted = true;
                    break 'scenarios;
                }
            };
            if human {
                eprintln!(
                    "detection {} takeover {} refused {} split brains {} (coordinator {:.0} writes/s)",
                    ms(outcome.detection_ms),
                    ms(outcome.takeover_ms),
                    outcome.refused,
                    outcome.split_brains,
                    outcome.coordinator_writes_per_sec
                );
            }
            outcomes.push(outcome);
        }
    }
    let failovers: Vec<Scenario> = scenarios.iter().copied().filter(|s| *s != Scenario::Chaos).collect();
    if human {
        if !failovers.is_empty() {
            print_table(&failovers, &outcomes, &args);
        }
    } else if chaos_reports.is_empty() {
        println!("{}", serde_json::to_string_pretty(&outcomes)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "runs": outcomes, "chaos": chaos_reports }))?);
    }
    let violated = outcomes.iter().any(RunOutcome::violated) || chaos_reports.iter().any(ChaosReport::violated);
    if violated && human {
        eprintln!("INVARIANT VIOLATED: see the checks / split brain columns above; logs in {}", root.display());
        let _ = temp.map(tempfile::TempDir::keep);
    }
    Ok(if violated {
        ExitCode::FAILURE
    } else if interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_chaos(report: &ChaosReport) {
    println!("\nchaos: {:.0} s of faults, seed {}", report.seconds, report.seed);
    println!("faults injected: {}", report.faults.values().sum::<usize>());
    for (fault, count) in &report.faults {
        println!("  {fault:<28} {count:>5}");
    }
    let ops = &report.ops;
    println!(
        "workload: {} register ops, {} creates acknowledged ({} unknown), {} sessions, {} watch events, \
         {} commands accepted, {} refused as certainly not applied",
        ops.register_ops,
        ops.creates_acked,
        ops.creates_unknown,
        ops.sessions_opened,
        ops.watch_events,
        ops.commands_accepted,
        ops.refused
    );
    println!("checks:");
    for check in &report.checks {
        println!("  {check}");
    }
    let passed = report.checks.iter().filter(|c| c.passed).count();
    println!("{passed}/{} checks passed", report.checks.len());
}

fn ms(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{v:.0} ms"))
}

/// min, median, p99, max of the present values.
fn spread(values: impl Iterator<Item = Option<f64>>) -> String {
    let mut values: Vec<f64> = values.flatten().collect();
    if values.is_empty() {
        return "-".into();
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    format!("{:.0}/{:.0}/{:.0}/{:.0}", at(0.0), at(0.5), at(0.99), at(1.0))
}

fn print_table(scenarios: &[Scenario], outcomes: &[RunOutcome], args: &DrillArgs) {
    println!(
        "\nTTL {} ms, {} controllers, roles {}, {} load clients; times in ms from the fault (min/median/p99/max)\n",
        args.ttl_ms,
        args.controllers,
        args.roles.join(","),
        args.load_clients
    );
    println!(
        "{:<30} {:>4} {:>22} {:>22} {:>14} {:>7} {:>11} {:>13}",
        "scenario", "runs", "detection", "takeover", "longest gap", "refused", "split brain", "false expiry"
    );
    for scenario in scenarios {
        let runs: Vec<&RunOutcome> = outcomes.iter().filter(|o| o.scenario == *scenario).collect();
        println!(
            "{:<30} {:>4} {:>22} {:>22} {:>14} {:>7} {:>11} {:>13}",
            format!("{scenario:?}"),
            runs.len(),
            spread(runs.iter().map(|o| o.detection_ms)),
            spread(runs.iter().map(|o| o.takeover_ms)),
            spread(runs.iter().map(|o| Some(o.longest_gap_ms))),
            runs.iter().map(|o| o.refused).sum::<usize>(),
            runs.iter().map(|o| o.split_brains + o.non_monotonic).sum::<usize>(),
            runs.iter().map(|o| o.false_expiries).sum::<usize>(),
        );
    }
}

/// A run that stopped on an error keeps its processes' logs and data (they are what explains
/// it), and the error says where.
fn keep_logs(temp: &mut Option<tempfile::TempDir>, root: &std::path::Path, e: anyhow::Error) -> anyhow::Error {
    if let Some(temp) = temp.take() {
        let _ = temp.keep();
    }
    e.context(format!("the drill stopped; its logs and data are kept in {}", root.display()))
}
