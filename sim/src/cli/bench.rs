//! `skyway bench`: throughput and latency of puts or linearizable gets against a cluster.
//! Each client has its own connection and one request in flight; clients are spread over the
//! endpoints. Figures are printed, never asserted.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, ValueEnum};
use serde_json::json;
use skyway_coord::CoordError;
use skyway_coord::client::{Client, ClientOptions, Consistency};

use super::client_tls::ClientTlsArgs;
use super::ctl::Output;
use crate::rig::cluster::ProcessCluster;

/// Flags of `skyway bench`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
skyway bench --local-cluster --op put --clients 1,16,64     # starts its own 3-node cluster\n  \
skyway bench --endpoints 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003 --op get --clients 64 --duration 10")]
pub struct BenchArgs {
    /// Cluster endpoints, HOST:PORT,...
    #[arg(long, env = "SKYWAY_ENDPOINTS", value_delimiter = ',', default_value = "127.0.0.1:7001")]
    pub endpoints: Vec<String>,
    /// A user's token (from `skyway ctl user add`), needed once the coordinator's
    /// authentication is on.
    #[arg(long, env = "SKYWAY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Start a fresh 3-node cluster of this binary on loopback (data in a temporary
    /// directory, fsync on) and measure that instead of --endpoints.
    #[arg(long)]
    pub local_cluster: bool,
    /// Operation to measure.
    #[arg(long, value_enum, default_value_t = Op::Put)]
    pub op: Op,
    /// Concurrent clients, each with its own connection and one request in flight. A list
    /// (1,16,64) runs one measurement per count.
    #[arg(long, value_delimiter = ',', default_value = "16")]
    pub clients: Vec<usize>,
    /// Size of each value written, in bytes.
    #[arg(long, default_value_t = 256)]
    pub value_bytes: usize,
    /// How long to measure each count, in seconds (after a one-second warm-up).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Human)]
    pub output: Output,
    /// TLS to --endpoints.
    #[command(flatten)]
    pub tls: ClientTlsArgs,
}

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Op {
    /// Set a value (--value-bytes) on a key of the client's own.
    Put,
    /// Linearizable (read-index) get of a key of the client's own.
    Get,
    /// Serializable (local) get of a key of the client's own.
    GetSerializable,
}

/// One measurement.
struct Figures {
    clients: usize,
    seconds: f64,
    latencies_us: Vec<u64>,
    errors: u64,
}

impl Figures {
    fn ops_per_sec(&self) -> f64 {
        self.latencies_us.len() as f64 / self.seconds
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let index = ((self.latencies_us.len() as f64 * p) as usize).min(self.latencies_us.len() - 1);
        self.latencies_us[index] as f64 / 1000.0
    }
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.clients.iter().all(|c| *c > 0), "--clients must be at least 1");
    let temp = tempfile::tempdir()?;
    let (_cluster, endpoints, options) = if args.local_cluster {
        let binary = std::env::current_exe()?;
        let cluster = ProcessCluster::start(&binary, temp.path(), 3, &[])?;
        cluster.wait_for_leader(Duration::from_secs(20)).await?;
        let endpoints = cluster.endpoints();
        eprintln!("started a local 3-node cluster at {}", endpoints.join(","));
        (Some(cluster), endpoints, ClientOptions::default())
    } else {
        (None, args.endpoints.clone(), args.tls.client_options()?.with_token(args.token.clone()))
    };
    let value = Bytes::from(vec![b'x'; args.value_bytes]);
    let max_clients = args.clients.iter().copied().max().unwrap_or(1);
    prepare_keys(&Client::new(&endpoints, options.clone())?, max_clients, &value).await?;
    let op_name = format!("{:?}", args.op).to_lowercase();
    for &clients in &args.clients {
        let figures =
            measure(&endpoints, &options, args.op, clients, &value, Duration::from_secs_f64(args.duration)).await?;
        match args.output {
            Output::Human => println!(
                "{op_name}: {clients} clients, {} B values, {:.1} s: {:.0} ops/s, p50 {:.2} ms, p99 {:.2} ms, p999 {:.2} ms, max {:.2} ms, errors {}",
                args.value_bytes,
                figures.seconds,
                figures.ops_per_sec(),
                figures.percentile_ms(0.50),
                figures.percentile_ms(0.99),
                figures.percentile_ms(0.999),
                figures.percentile_ms(1.0),
                figures.errors
            ),
            Output::Json => println!(
                "{}",
                json!({"op": op_name, "clients": figures.clients, "value_bytes": args.value_bytes, "seconds": figures.seconds,
                       "ops_per_sec": figures.ops_per_sec(), "p50_ms": figures.percentile_ms(0.5), "p99_ms": figures.percentile_ms(0.99),
                       "p999_ms": figures.percentile_ms(0.999), "max_ms": figures.percentile_ms(1.0), "errors": figures.errors,
                       "completed": figures.latencies_us.len()})
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates `/bench/k{c}` for every client. A create whose outcome is unknown (the leader
/// failed as it was sent) is tried again: "already exists" then means it had applied.
async fn prepare_keys(client: &Client, clients: usize, value: &Bytes) -> anyhow::Result<()> {
    let paths = std::iter::once("/bench".to_string()).chain((0..clients).map(|c| format!("/bench/k{c}")));
    for path in paths {
        let data = if path == "/bench" { Bytes::new() } else { value.clone() };
        let mut attempts = 0;
        loop {
            match client.create_node(&path, data.clone()).await {
                Ok(_) | Err(CoordError::NodeExists { .. }) => break,
                Err(CoordError::OutcomeUnknown { .. }) if attempts < 5 => attempts += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// Runs `clients` closed-loop clients for a warm-up second plus `duration`.
async fn measure(
    endpoints: &[String],
    options: &ClientOptions,
    op: Op,
    clients: usize,
    value: &Bytes,
    duration: Duration,
) -> anyhow::Result<Figures> {
    let warmup = Duration::from_secs(1);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        // Each client its own connection, first to one endpoint, spread over the cluster.
        let mut own: Vec<String> = endpoints.to_vec();
        own.rotate_left(c % endpoints.len());
        let client = Client::new(&own, options.clone())?;
        let value = value.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("/bench/k{c}");
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while start.elapsed() < warmup + duration {
                let t = Instant::now();
                let result = match op {
                    Op::Put => client.set(&key, value.clone(), None).await.map(|_| ()),
                    Op::Get => client.get(&key, Consistency::Linearizable).await.map(|_| ()),
                    Op::GetSerializable => client.get(&key, Consistency::Serializable).await.map(|_| ()),
                };
                if t.duration_since(start) >= warmup {
                    match result {
                        Ok(()) => latencies.push(t.elapsed().as_micros() as u64),
                        Err(_) => errors += 1,
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut figures = Figures { clients, seconds: duration.as_secs_f64(), latencies_us: Vec::new(), errors: 0 };
    for task in tasks {
        let (latencies, errors) = task.await?;
        figures.latencies_us.extend(latencies);
        figures.errors += errors;
    }
    figures.latencies_us.sort_unstable();
    Ok(figures)
}
