//! The `skyway` binary. See `skyway --help`.

use clap::Parser;
use skyway_sim::cli::{Cli, Command, CoordCommand, LogFormat};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc's allocator: a coordinator write allocates and frees small buffers
/// on one thread and another (requests, entries, responses), where glibc's per-thread arenas
/// cost about 9 % of the servers' CPU. Measured with `skyway bench --endpoints … --op put`,
/// fresh 3-node clusters, the two builds interleaved: 64 clients 9,834 / 10,121 → 11,472 /
/// 11,307 puts/s and 144 → 125 µs of server CPU per put; 1 and 16 clients unchanged. A small C
/// library (libmimalloc-sys builds it in seconds).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // `coord serve --config FILE`: the file's settings join the arguments before clap parses
    // them (the command line and the environment win).
    let env = |name: &str| std::env::var(name).ok();
    let args = match skyway_sim::cli::config_file::config_path(&args, &env) {
        None => args,
        Some(path) => match std::fs::read_to_string(&path)
            .map_err(anyhow::Error::from)
            .and_then(|text| skyway_sim::cli::config_file::merge(&args, &text, &env))
        {
            Ok(args) => args,
            Err(e) => {
                eprintln!("error: configuration file {path}: {e:#}");
                return std::process::ExitCode::FAILURE;
            }
        },
    };
    let cli = Cli::parse_from(args);
    if let Command::Completions { shell } = cli.command {
        skyway_sim::cli::print_completions(shell);
        return std::process::ExitCode::SUCCESS;
    }
    let default_filter = match &cli.command {
        Command::Coord { .. }
        | Command::Controller(_)
        | Command::Actuator(_)
        | Command::Camera(_)
        | Command::Analyzer(_) => "info",
        _ => "warn",
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(log_filter(default_filter))
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal: the demo's, drills' and tests' log files
        // stay plain text that grep and editors read.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Coord { command: CoordCommand::Serve(args) } => skyway_sim::cli::serve::run(args).await,
            Command::Ctl(args) => skyway_sim::cli::ctl::run(args).await,
            Command::Certs(args) => skyway_sim::cli::certs::run(args),
            Command::Bench(args) => skyway_sim::cli::bench::run(args).await,
            Command::Demo(args) => skyway_sim::cli::demo::run(args).await,
            Command::Dashboard(args) => skyway_sim::cli::dashboard::run(args).await,
            Command::Lesson(args) => skyway_sim::cli::lesson::run(args).await,
            Command::Controller(args) => skyway_sim::cli::controller::run_controller(args).await,
            Command::Actuator(args) => skyway_sim::cli::controller::run_actuator(args).await,
            Command::Drill(args) => skyway_sim::cli::drill::run(args).await,
            Command::Sim(args) => skyway_sim::cli::sim::run(args).await,
            Command::Camera(args) => skyway_sim::cli::collect::run_camera(args).await,
            Command::Analyzer(args) => skyway_sim::cli::collect::run_analyzer(args).await,
            Command::Collect(args) => skyway_sim::cli::collect::run_collect(args).await,
            Command::Analyze(args) => skyway_sim::cli::collect::run_analyze(args).await,
            Command::Completions { .. } => unreachable!("handled before the runtime starts"),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// RUST_LOG, or `default` when it is unset. raft-log logs a line at INFO for every flush of its
/// log once a chunk has closed (its payload cache's eviction mark): thousands of lines a second
/// under load, costing the coordinator's CPU and burying everything else. It is kept at WARN
/// unless RUST_LOG names `raft_log` itself.
fn log_filter(default: &str) -> EnvFilter {
    let from_env = std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty());
    let names_raft_log = from_env.as_deref().is_some_and(|v| v.contains("raft_log"));
    let filter = from_env.map_or_else(|| EnvFilter::new(default), EnvFilter::new);
    if names_raft_log {
        return filter;
    }
    filter.add_directive("raft_log::raft_log::state_machine::payload_cache=warn".parse().expect("a valid directive"))
}
