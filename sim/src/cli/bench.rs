//! `skyway bench`: throughput and latency of puts or linearizable gets against a cluster, and
//! the servers' CPU per operation. Each client has its own connection, with `--inflight`
//! requests outstanding on it (1: a closed loop, as ZooKeeper's and etcd's synchronous clients;
//! more: a pipelined client, as their asynchronous ones); clients are spread over the endpoints.
//! Counted like `shared/peerbench`: after a one-second warm-up, a request counts if it started
//! and finished inside the measured window, and the CPU is read from `/proc` at the window's
//! edges. Figures are printed, never asserted.

use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use clap::{Args, ValueEnum};
use serde_json::json;
use skyway_coord::CoordError;
use skyway_coord::client::{Client, ClientOptions, Consistency};
use tokio::time::{Instant, sleep, sleep_until};

use super::bench_watch;
use super::client_tls::ClientTlsArgs;
use super::ctl::Output;
use crate::rig::cluster::ProcessCluster;
use crate::rig::cpu;

/// Flags of `skyway bench`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
skyway bench --local-cluster --op put --clients 1,16,64     # starts its own 3-node cluster\n  \
skyway bench --local-cluster --op put --clients 1 --inflight 16,64   # one pipelined client\n  \
skyway bench --local-cluster --op put --value-bytes 1024,16384,262144   # what value size costs\n  \
skyway bench --local-cluster --op watch --watchers 100,1000,10000 --write-rate 1000   # watch fan-out\n  \
skyway bench --endpoints 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003 --server-pids 4101,4102,4103 --op get --clients 64 --duration 10\n\n\
Each line reports the servers' CPU per operation (all nodes together, from /proc): with\n\
--local-cluster the nodes are this command's children; with --endpoints, give their process\n\
ids with --server-pids to get it.")]
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
    /// With --local-cluster: how many voting nodes it has (5 shows what two more voters cost:
    /// every write waits for three fsyncs of five instead of two of three).
    #[arg(long, default_value_t = 3, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=9))]
    pub local_nodes: usize,
    /// Process ids of the servers behind --endpoints (PID,...), to report their CPU per
    /// operation. Not needed with --local-cluster.
    #[arg(long, value_delimiter = ',')]
    pub server_pids: Vec<u32>,
    /// Operation to measure.
    #[arg(long, value_enum, default_value_t = Op::Put)]
    pub op: Op,
    /// Concurrent clients, each with its own connection. A list (1,16,64) runs one measurement
    /// per count.
    #[arg(long, value_delimiter = ',', default_value = "16")]
    pub clients: Vec<usize>,
    /// Requests each client keeps in flight on its connection (1: wait for each answer before
    /// sending the next). A list runs one measurement per count, for every --clients count.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub inflight: Vec<usize>,
    /// Size of each value written (and, with --op get, read), in bytes. A list (1024,16384,262144)
    /// runs every measurement once per size.
    #[arg(long, value_delimiter = ',', default_value = "256")]
    pub value_bytes: Vec<usize>,
    /// With --op watch: watchers of the prefix, at most 100 per connection. A list runs one
    /// measurement per count.
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    pub watchers: Vec<usize>,
    /// With --op watch: changes per second the writers make together.
    #[arg(long, default_value_t = 1000.0)]
    pub write_rate: f64,
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
    /// Watch fan-out: --watchers watchers of one prefix get every change while 16 writers
    /// change it at --write-rate; reports delivery latency, lost events and CPU per event.
    Watch,
}

/// The shape of one measurement's load.
#[derive(Debug, Clone, Copy)]
struct Shape {
    clients: usize,
    inflight: usize,
}

impl Shape {
    /// Requests outstanding at once, each on a key of its own.
    fn streams(&self) -> usize {
        self.clients * self.inflight
    }
}

/// One measurement.
struct Figures {
    shape: Shape,
    seconds: f64,
    latencies_us: Vec<u64>,
    errors: u64,
    cpu: cpu::Usage,
    /// Whether server process ids were known (else the servers' CPU is not reported).
    servers_known: bool,
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

    fn server_us_per_op(&self) -> f64 {
        self.cpu.server_us_per_op(self.latencies_us.len() as u64)
    }

    fn human(&self, op_name: &str, value_bytes: usize) -> String {
        let Shape { clients, inflight } = self.shape;
        let mut line = format!(
            "{op_name}: {clients} clients x {inflight} in flight, {value_bytes} B values, {:.1} s: {:.0} ops/s, \
             p50 {:.2} ms, p99 {:.2} ms, p999 {:.2} ms, max {:.2} ms, errors {}",
            self.seconds,
            self.ops_per_sec(),
            self.percentile_ms(0.50),
            self.percentile_ms(0.99),
            self.percentile_ms(0.999),
            self.percentile_ms(1.0),
            self.errors
        );
        if self.servers_known {
            line +=
                &format!("; servers {:.2} cores = {:.0} µs CPU/op", self.cpu.servers_cores, self.server_us_per_op());
        }
        line += &format!(
            "; this process {:.2} cores, others {:.2} cores of {} (machine {:.2} busy)",
            self.cpu.loadgen_cores,
            self.cpu.other_cores,
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            self.cpu.machine_cores
        );
        line
    }

    fn json(&self, op_name: &str, value_bytes: usize) -> serde_json::Value {
        let round2 = |x: f64| (x * 100.0).round() / 100.0;
        json!({"op": op_name, "clients": self.shape.clients, "inflight": self.shape.inflight,
               "value_bytes": value_bytes, "seconds": self.seconds,
               "ops_per_sec": self.ops_per_sec(), "p50_ms": self.percentile_ms(0.5), "p99_ms": self.percentile_ms(0.99),
               "p999_ms": self.percentile_ms(0.999), "max_ms": self.percentile_ms(1.0), "errors": self.errors,
               "completed": self.latencies_us.len(),
               "server_cpu_us_per_op": self.servers_known.then(|| round2(self.server_us_per_op())),
               "cpu": {"servers_cores": self.servers_known.then(|| round2(self.cpu.servers_cores)),
                       "loadgen_cores": round2(self.cpu.loadgen_cores), "other_cores": round2(self.cpu.other_cores),
                       "machine_cores": round2(self.cpu.machine_cores),
                       "ncpu": std::thread::available_parallelism().map_or(1, |n| n.get())}})
    }
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.clients.iter().all(|c| *c > 0), "--clients must be at least 1");
    anyhow::ensure!(args.inflight.iter().all(|c| *c > 0), "--inflight must be at least 1");
    let temp = tempfile::tempdir()?;
    let (_cluster, endpoints, server_pids, options) = if args.local_cluster {
        let binary = std::env::current_exe()?;
        let cluster = ProcessCluster::start(&binary, temp.path(), args.local_nodes, &[])?;
        cluster.wait_for_leader(Duration::from_secs(20)).await?;
        let endpoints = cluster.endpoints();
        let pids: Vec<u32> = cluster.nodes.values().filter_map(|n| n.pid()).collect();
        eprintln!("started a local {}-node cluster at {} (pids {pids:?})", args.local_nodes, endpoints.join(","));
        (Some(cluster), endpoints, pids, ClientOptions::default())
    } else {
        (
            None,
            args.endpoints.clone(),
            args.server_pids.clone(),
            args.tls.client_options()?.with_token(args.token.clone()),
        )
    };
    if args.op == Op::Watch {
        for &value_bytes in &args.value_bytes {
            let load = bench_watch::WatchLoad {
                endpoints: &endpoints,
                options: &options,
                server_pids: &server_pids,
                write_rate: args.write_rate,
                value_bytes,
                duration: Duration::from_secs_f64(args.duration),
                output: args.output,
            };
            bench_watch::run(&load, &args.watchers).await?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let shapes: Vec<Shape> = args
        .clients
        .iter()
        .flat_map(|&clients| args.inflight.iter().map(move |&inflight| Shape { clients, inflight }))
        .collect();
    let streams_max = shapes.iter().map(Shape::streams).max().unwrap_or(1);
    let client = Client::new(&endpoints, options.clone())?;
    let op_name = format!("{:?}", args.op).to_lowercase();
    let duration = Duration::from_secs_f64(args.duration);
    for &value_bytes in &args.value_bytes {
        let value = Bytes::from(vec![b'x'; value_bytes]);
        prepare_keys(&client, streams_max, &value).await?;
        for &shape in &shapes {
            let figures = measure(&endpoints, &options, &server_pids, args.op, shape, &value, duration).await?;
            match args.output {
                Output::Human => println!("{}", figures.human(&op_name, value_bytes)),
                Output::Json => println!("{}", figures.json(&op_name, value_bytes)),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates `/bench/k{n}` for every request stream, holding `value` (so reads read values of
/// the size measured).
async fn prepare_keys(client: &Client, streams: usize, value: &Bytes) -> anyhow::Result<()> {
    ensure_node(client, "/bench", Bytes::new()).await?;
    for n in 0..streams {
        let path = format!("/bench/k{n}");
        ensure_node(client, &path, value.clone()).await?;
        client.set(&path, value.clone(), None).await?;
    }
    Ok(())
}

/// Creates `path` unless it exists. A create whose outcome is unknown (the leader failed as it
/// was sent) is tried again: "already exists" then means it had applied.
pub(super) async fn ensure_node(client: &Client, path: &str, data: Bytes) -> anyhow::Result<()> {
    let mut attempts = 0;
    loop {
        match client.create_node(path, data.clone()).await {
            Ok(_) | Err(CoordError::NodeExists { .. }) => return Ok(()),
            Err(CoordError::OutcomeUnknown { .. }) if attempts < 5 => attempts += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Runs `shape.clients` clients, each keeping `shape.inflight` requests in flight, for a
/// warm-up second plus `duration`; the servers' CPU is read at the measured window's edges.
async fn measure(
    endpoints: &[String],
    options: &ClientOptions,
    server_pids: &[u32],
    op: Op,
    shape: Shape,
    value: &Bytes,
    duration: Duration,
) -> anyhow::Result<Figures> {
    let start = Instant::now() + Duration::from_millis(50);
    let warm_end = start + Duration::from_secs(1);
    let end = warm_end + duration;
    let mut tasks = Vec::new();
    for c in 0..shape.clients {
        // Each client its own connection, first to one endpoint, spread evenly over the cluster.
        let client = Client::starting_at(endpoints, options.clone(), c)?;
        for slot in 0..shape.inflight {
            // The client's requests in flight share its connection; each has a key of its own.
            let client = client.clone();
            let value = value.clone();
            let key = format!("/bench/k{}", c * shape.inflight + slot);
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                sleep_until(start).await;
                loop {
                    let began = Instant::now();
                    if began >= end {
                        break;
                    }
                    let result = match op {
                        Op::Put => client.set(&key, value.clone(), None).await.map(|_| ()),
                        Op::Get => client.get(&key, Consistency::Linearizable).await.map(|_| ()),
                        Op::GetSerializable => client.get(&key, Consistency::Serializable).await.map(|_| ()),
                        Op::Watch => unreachable!("--op watch is measured by bench_watch"),
                    };
                    let done = Instant::now();
                    let counted = began >= warm_end && done <= end;
                    match result {
                        Ok(()) if counted => latencies.push((done - began).as_micros() as u64),
                        Ok(()) => {}
                        Err(_) => {
                            errors += counted as u64;
                            // Do not spin on a refusing cluster.
                            sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
                (latencies, errors)
            }));
        }
    }
    sleep_until(warm_end).await;
    let before = cpu::snapshot(server_pids);
    sleep_until(end).await;
    let after = cpu::snapshot(server_pids);
    let mut figures = Figures {
        shape,
        seconds: duration.as_secs_f64(),
        latencies_us: Vec::new(),
        errors: 0,
        cpu: cpu::usage(&before, &after),
        servers_known: !server_pids.is_empty(),
    };
    for task in tasks {
        let (latencies, errors) = task.await?;
        figures.latencies_us.extend(latencies);
        figures.errors += errors;
    }
    figures.latencies_us.sort_unstable();
    Ok(figures)
}
