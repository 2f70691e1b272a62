//! The `skyway` command line: one binary, subcommands, `--help` at every level.

pub mod bench;
pub mod bench_watch;
pub mod certs;
pub mod client_tls;
pub mod collect;
pub mod config_file;
pub mod controller;
pub mod coordinator_tour;
pub mod ctl;
pub mod ctl_auth;
pub mod ctl_session;
pub mod dashboard;
pub mod demo;
pub mod drill;
pub mod endpoint;
pub mod lesson;
pub mod serve;
pub mod sim;
pub mod txn_file;

use clap::{Parser, Subcommand};

/// Skyway: the control plane of a smart highway and an airport, around a replicated, durable
/// coordination service with sessions, watches, elections and fencing tokens.
#[derive(Debug, Parser)]
#[command(name = "skyway", version = crate::BUILD_VERSION, propagate_version = true)]
#[command(
    after_help = "Start here: `skyway demo --tour` runs the highway, the airport, their controllers and a 3-node coordinator on\nthis machine, kills and pauses some of them, and shows the backups taking over.\n\
Logs go to stderr; set RUST_LOG=debug (or e.g. RUST_LOG=skyway_coord=debug) for more."
)]
pub struct Cli {
    /// Log format on stderr: text for people, json (one object per line) for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "SKYWAY_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per event (timestamp, level, target, fields, span).
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run and manage coordinator nodes.
    Coord {
        /// What to do with a node.
        #[command(subcommand)]
        command: CoordCommand,
    },
    /// Talk to a running cluster, in the manner of etcdctl and zkCli.
    Ctl(ctl::CtlArgs),
    /// Measure a running cluster: throughput and latency percentiles of puts or gets.
    Bench(bench::BenchArgs),
    /// The main job: a 3-node coordinator, the highway and the airport, and three controllers
    /// holding every segment and runway role, all on this machine; a live summary in the
    /// terminal; --tour injects faults (kills, a pause, the coordinator's leader) and explains
    /// each.
    Demo(demo::DemoArgs),
    /// The live dashboard of a running system (`skyway demo` serves its own): the coordinator's
    /// nodes and membership log, watched through its endpoints. Faults need `skyway demo`.
    Dashboard(dashboard::DashboardArgs),
    /// Lessons to run and measure, e.g. `skyway lesson logs`: why a log in cloud storage loses
    /// records and causes split brain while the coordinator's log does not.
    Lesson(lesson::LessonArgs),
    /// Run a controller: hold roles (runway/07, segment/12) with sessions, elections and
    /// fencing tokens, and command an actuator while primary.
    Controller(controller::ControllerArgs),
    /// Run an actuator: obey only commands with a current fencing token, audit every decision.
    Actuator(controller::ActuatorArgs),
    /// Failover drills on real processes: kill, pause (SIGSTOP) and cut off primaries and the
    /// coordinator's leader; measure detection and takeover; fail on any split brain.
    Drill(drill::DrillArgs),
    /// One roadside camera: renders its stretch from the world's scene feed, puts each frame in
    /// blob storage, then records only its URL, SHA-256 and size in the coordinator.
    Camera(collect::CameraArgs),
    /// One analyzer process for several cameras: exactly one primary per camera (role
    /// `analyze/<camera>`); reads frames by URL, checks them, analyses them, writes results.
    Analyzer(collect::AnalyzerArgs),
    /// The world with cameras only (and optionally analyzers), to try storage backends: reports
    /// bytes to blob storage next to bytes to the coordinator.
    Collect(collect::CollectArgs),
    /// The analysis pipeline's accuracy against the truth: `skyway analyze eval`.
    Analyze(collect::AnalyzeArgs),
    /// The highway and airport world alone, with no coordinator: run a scenario and print its
    /// loop tables, print the model's credibility figures, or measure its speed.
    Sim(sim::SimArgs),
    /// Certificates for TLS: `skyway certs init DIR` makes a development CA, node certificates
    /// and client certificates (no openssl needed).
    Certs(certs::CertsArgs),
    /// Print a shell completion script: `skyway completions bash > /etc/bash_completion.d/skyway`,
    /// `skyway completions zsh > "${fpath[1]}/_skyway"`, `skyway completions fish >
    /// ~/.config/fish/completions/skyway.fish`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Writes the completion script for `shell` to standard output.
pub fn print_completions(shell: clap_complete::Shell) {
    use clap::CommandFactory;
    clap_complete::generate(shell, &mut Cli::command(), "skyway", &mut std::io::stdout());
}

/// Coordinator node commands.
#[derive(Debug, Subcommand)]
pub enum CoordCommand {
    /// Run one coordinator node. Three nodes started with the same --peers form a cluster on
    /// first start, and come back from --data-dir on restart.
    Serve(serve::ServeArgs),
}

/// Completes on Ctrl-C or SIGTERM: the signals that ask a command to stop cleanly.
pub async fn interrupted() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
