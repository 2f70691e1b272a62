//! `skyway bench`: throughput and latency of puts or linearizable gets against a running
//! cluster. Each client has its own connection and one request in flight; clients are spread
//! over the endpoints. Figures are printed, never asserted.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use serde_json::json;
use skyway_coord::CoordError;
use skyway_coord::client::{Client, Consistency};

use super::ctl::Output;

/// Flags of `skyway bench`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example: skyway bench --endpoints 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003 --op put --clients 64 --value-bytes 256 --duration 10"
)]
pub struct BenchArgs {
    /// Cluster endpoints, HOST:PORT,...
    #[arg(long, env = "SKYWAY_ENDPOINTS", value_delimiter = ',', default_value = "127.0.0.1:7001")]
    pub endpoints: Vec<String>,
    /// Operation to measure.
    #[arg(long, value_enum, default_value_t = Op::Put)]
    pub op: Op,
    /// Concurrent clients, each with its own connection and one request in flight.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Size of each value written, in bytes.
    #[arg(long, default_value_t = 256)]
    pub value_bytes: usize,
    /// How long to measure, in seconds (after a one-second warm-up).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Human)]
    pub output: Output,
}

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Op {
    /// Set a 256-byte (--value-bytes) value on a key per client.
    Put,
    /// Linearizable (read-index) get of a key per client.
    Get,
    /// Serializable (local) get of a key per client.
    GetSerializable,
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.clients > 0, "--clients must be at least 1");
    let setup = Client::connect(&args.endpoints)?;
    let value = bytes::Bytes::from(vec![b'x'; args.value_bytes]);
    match setup.create(skyway_coord::proto::coord::CreateRequest { path: "/bench".into(), ..Default::default() }).await
    {
        Ok(_) | Err(CoordError::NodeExists { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    for c in 0..args.clients {
        match setup.create_node(&format!("/bench/k{c}"), value.clone()).await {
            Ok(_) | Err(CoordError::NodeExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let warmup = Duration::from_secs(1);
    let measure = Duration::from_secs_f64(args.duration);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        // Each client its own connection, to one endpoint, spread over the cluster.
        let endpoint = args.endpoints[c % args.endpoints.len()].clone();
        let others: Vec<String> = std::iter::once(endpoint).chain(args.endpoints.iter().cloned()).collect();
        let client = Client::connect(&others)?;
        let value = value.clone();
        let op = args.op;
        tasks.push(tokio::spawn(async move {
            let key = format!("/bench/k{c}");
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while start.elapsed() < warmup + measure {
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
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (latencies, e) = task.await?;
        all.extend(latencies);
        errors += e;
    }
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() { 0.0 } else { all[((all.len() as f64 * p) as usize).min(all.len() - 1)] as f64 / 1000.0 }
    };
    let ops = all.len() as f64 / measure.as_secs_f64();
    let op_name = format!("{:?}", args.op).to_lowercase();
    match args.output {
        Output::Human => println!(
            "{op_name}: {} clients, {} B values, {:.1} s: {:.0} ops/s, p50 {:.2} ms, p99 {:.2} ms, p999 {:.2} ms, max {:.2} ms, errors {errors}",
            args.clients,
            args.value_bytes,
            measure.as_secs_f64(),
            ops,
            pct(0.50),
            pct(0.99),
            pct(0.999),
            pct(1.0)
        ),
        Output::Json => println!(
            "{}",
            json!({"op": op_name, "clients": args.clients, "value_bytes": args.value_bytes, "seconds": measure.as_secs_f64(), "ops_per_sec": ops, "p50_ms": pct(0.5), "p99_ms": pct(0.99), "p999_ms": pct(0.999), "max_ms": pct(1.0), "errors": errors, "completed": all.len()})
        ),
    }
    Ok(ExitCode::SUCCESS)
}
