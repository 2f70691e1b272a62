//! `skyway coord serve`: one coordinator node.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use skyway_coord::NodeConfig;
use skyway_coord::config::{self, TXN_OPS_MAX_DEFAULT, VALUE_BYTES_MAX_DEFAULT};

/// Flags of `skyway coord serve`.
#[derive(Debug, Args)]
#[command(after_help = "Example (three terminals):\n  \
skyway coord serve --id 1 --listen 127.0.0.1:7001 --peers 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 --data-dir /tmp/sky/1\n  \
(and the same with --id 2 / 7002 and --id 3 / 7003)\n\n\
Every flag can also be given as an environment variable (SKYWAY_ID, SKYWAY_DATA_DIR, ...) or in the TOML file of\n\
--config; the command line wins over the environment, which wins over the file.")]
pub struct ServeArgs {
    /// This node's id (1, 2, 3, ...), unique in the cluster.
    #[arg(long, env = "SKYWAY_ID")]
    pub id: u64,
    /// Address to serve clients and peers on.
    #[arg(long, env = "SKYWAY_LISTEN", default_value = "127.0.0.1:7001")]
    pub listen: SocketAddr,
    /// The cluster's initial voters as ID=HOST:PORT,...; include this node. Omit (with --join)
    /// for a node that an existing cluster adds with `skyway ctl member-add`.
    #[arg(long, env = "SKYWAY_PEERS", value_parser = parse_peers, default_value = "")]
    pub peers: BTreeMap<u64, String>,
    /// Reach a peer through another address: ADDR=VIA,... where ADDR is the peer's address as
    /// in --peers and VIA what to dial instead (a proxy on the link, as the failover drills use).
    #[arg(long, env = "SKYWAY_ROUTE", value_parser = parse_routes, default_value = "")]
    pub route: BTreeMap<String, String>,
    /// Do not form a cluster: wait to be added to an existing one.
    #[arg(long, env = "SKYWAY_JOIN")]
    pub join: bool,
    /// Directory for the node's log, vote and snapshots (created if missing).
    #[arg(long, env = "SKYWAY_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Largest value a node may hold, in bytes.
    #[arg(long, env = "SKYWAY_VALUE_BYTES_MAX", default_value_t = VALUE_BYTES_MAX_DEFAULT)]
    pub value_bytes_max: usize,
    /// Most checks plus operations per transaction.
    #[arg(long, env = "SKYWAY_TXN_OPS_MAX", default_value_t = TXN_OPS_MAX_DEFAULT)]
    pub txn_ops_max: usize,
    /// Watch events kept for resuming watchers (older ones are compacted).
    #[arg(long, env = "SKYWAY_WATCH_HISTORY", default_value_t = skyway_coord::core::history::HISTORY_EVENTS_DEFAULT)]
    pub watch_history: usize,
    /// Raft heartbeat interval in milliseconds.
    #[arg(long, env = "SKYWAY_HEARTBEAT_MS", default_value_t = 50)]
    pub heartbeat_ms: u64,
    /// Raft election timeout in milliseconds (lower bound; the upper is twice this).
    #[arg(long, env = "SKYWAY_ELECTION_TIMEOUT_MS", default_value_t = 250)]
    pub election_timeout_ms: u64,
    /// Linearizable reads always confirm leadership with a round trip to a quorum (Raft's read
    /// index), instead of being served from the leader's lease while it holds one (the default,
    /// which assumes the nodes' clocks run at nearly the same rate; see the README's "Speed").
    #[arg(long, env = "SKYWAY_READ_INDEX_ONLY")]
    pub read_index_only: bool,
    /// Take a snapshot and compact the log after this many entries.
    #[arg(long, env = "SKYWAY_SNAPSHOT_AFTER", default_value_t = 20_000)]
    pub snapshot_after: u64,
    /// Serve /metrics (Prometheus), /health, /livez and /readyz over HTTP on this address
    /// (port 0: any free port, printed in the log). Off when not given.
    #[arg(long, env = "SKYWAY_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Read flags from this TOML file (keys are the flags' long names, e.g. `data-dir = "/var/lib/skyway"`);
    /// a flag on the command line or in the environment wins over the file.
    #[arg(long, env = "SKYWAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Limits: every one is checked at the edge and refused with an error that names it.
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// The node's limits on requests, the namespace and connections.
#[derive(Debug, Args)]
#[command(next_help_heading = "Limits")]
pub struct LimitArgs {
    /// Largest request, its paths and values together, in bytes (at least --value-bytes-max).
    #[arg(long, env = "SKYWAY_REQUEST_BYTES_MAX", default_value_t = config::REQUEST_BYTES_MAX_DEFAULT)]
    pub request_bytes_max: usize,
    /// Bytes of watch events kept for resuming watchers, besides their number (--watch-history).
    #[arg(long, env = "SKYWAY_WATCH_HISTORY_BYTES", default_value_t = skyway_coord::core::history::HISTORY_BYTES_DEFAULT)]
    pub watch_history_bytes: usize,
    /// Most nodes the namespace may hold; past it creates are refused, deletes still work.
    #[arg(long, env = "SKYWAY_QUOTA_NODES", default_value_t = config::QUOTA_NODES_DEFAULT)]
    pub quota_nodes: u64,
    /// Most bytes of paths and values the namespace may hold; likewise.
    #[arg(long, env = "SKYWAY_QUOTA_BYTES", default_value_t = config::QUOTA_BYTES_DEFAULT)]
    pub quota_bytes: u64,
    /// Most connections served at once (clients and peers); more are closed with a warning.
    #[arg(long, env = "SKYWAY_CONNECTIONS_MAX", default_value_t = config::CONNECTIONS_MAX_DEFAULT)]
    pub connections_max: usize,
    /// Most concurrent requests (HTTP/2 streams, watches included) on one connection.
    #[arg(long, env = "SKYWAY_STREAMS_PER_CONNECTION_MAX", default_value_t = config::STREAMS_PER_CONNECTION_MAX_DEFAULT)]
    pub streams_per_connection_max: u32,
    /// Most watches open on one connection.
    #[arg(long, env = "SKYWAY_WATCHES_PER_CONNECTION_MAX", default_value_t = config::WATCHES_PER_CONNECTION_MAX_DEFAULT)]
    pub watches_per_connection_max: usize,
    /// Most writes a follower holds on their way to the leader; past it, writes are refused as
    /// unavailable (certainly not applied).
    #[arg(long, env = "SKYWAY_FORWARDED_WRITES_MAX", default_value_t = config::FORWARDED_WRITES_MAX_DEFAULT)]
    pub forwarded_writes_max: usize,
}

fn parse_routes(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut routes = BTreeMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (addr, via) = part.split_once('=').ok_or_else(|| format!("route {part:?} is not ADDR=VIA"))?;
        for a in [addr, via] {
            a.parse::<SocketAddr>().map_err(|_| format!("route address {a:?} is not HOST:PORT"))?;
        }
        routes.insert(addr.to_string(), via.to_string());
    }
    Ok(routes)
}

fn parse_peers(text: &str) -> Result<BTreeMap<u64, String>, String> {
    let mut peers = BTreeMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addr) = part.split_once('=').ok_or_else(|| format!("peer {part:?} is not ID=HOST:PORT"))?;
        let id: u64 = id.parse().map_err(|_| format!("peer id {id:?} is not a number"))?;
        addr.parse::<SocketAddr>().map_err(|_| format!("peer address {addr:?} is not HOST:PORT"))?;
        if peers.insert(id, addr.to_string()).is_some() {
            return Err(format!("peer id {id} appears twice"));
        }
    }
    Ok(peers)
}

/// Runs the node until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    if args.peers.is_empty() && !args.join {
        bail!(
            "give --peers (the initial voters, this node included), or --join to wait to be added to a running cluster"
        );
    }
    let mut config = NodeConfig::new(args.id, args.listen, args.data_dir);
    config.peers = if args.join { BTreeMap::new() } else { args.peers };
    config.peer_routes = args.route;
    config.value_bytes_max = args.value_bytes_max;
    config.txn_ops_max = args.txn_ops_max;
    config.history_events_max = args.watch_history;
    config.heartbeat_interval = Duration::from_millis(args.heartbeat_ms);
    config.election_timeout = Duration::from_millis(args.election_timeout_ms);
    config.snapshot_after_entries = args.snapshot_after;
    config.lease_reads = !args.read_index_only;
    let limits = args.limits;
    config.request_bytes_max = limits.request_bytes_max;
    config.history_bytes_max = limits.watch_history_bytes;
    config.quota_nodes = limits.quota_nodes;
    config.quota_bytes = limits.quota_bytes;
    config.connections_max = limits.connections_max;
    config.streams_per_connection_max = limits.streams_per_connection_max;
    config.watches_per_connection_max = limits.watches_per_connection_max;
    config.forwarded_writes_max = limits.forwarded_writes_max;
    config.validate()?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let metrics_listener = match args.metrics_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen for metrics on {addr}"))?,
        ),
        None => None,
    };
    if let Some(listener) = &metrics_listener {
        tracing::info!(addr = %listener.local_addr()?, "metrics and health over HTTP");
    }
    let shutdown = async {
        super::interrupted().await;
        tracing::info!("shutting down");
    };
    skyway_coord::server::serve_with_metrics(config, listener, metrics_listener, shutdown).await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
