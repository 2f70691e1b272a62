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
use skyway_coord::server::Listeners;
use skyway_coord::tls::{PeerTls, PemPath, ServerTls};

/// Flags of `skyway coord serve`.
#[derive(Debug, Args)]
#[command(after_help = "Example (three terminals):\n  \
skyway coord serve --id 1 --listen 127.0.0.1:7001 --peers 1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103 --data-dir /tmp/sky/1\n  \
(and the same with --id 2 / 7002 and --id 3 / 7003). Clients use --listen; --peers names the peer ports, where\n\
this node serves the Raft transport (its own entry, unless --peer-listen says otherwise).\n\n\
Over TLS (certificates from `skyway certs init certs`):\n  \
skyway coord serve --id 1 ... --cert certs/node-1.pem --key certs/node-1.key --ca certs/ca.pem\n\
(--ca makes clients show a certificate from that CA; the peer port always runs mutual TLS when TLS is on).\n\n\
Every flag can also be given as an environment variable (SKYWAY_ID, SKYWAY_DATA_DIR, ...) or in the TOML file of\n\
--config; the command line wins over the environment, which wins over the file.")]
pub struct ServeArgs {
    /// This node's id (1, 2, 3, ...), unique in the cluster.
    #[arg(long, env = "SKYWAY_ID")]
    pub id: u64,
    /// Address to serve clients on (the API, health and reflection; never the Raft transport).
    #[arg(long, env = "SKYWAY_LISTEN", default_value = "127.0.0.1:7001")]
    pub listen: SocketAddr,
    /// Address to serve peers on: the Raft transport (append entries, votes, snapshots,
    /// leadership transfer, forwarded writes). Default: this node's own address in --peers;
    /// required with --join (and then the address to give `ctl member-add`).
    #[arg(long, env = "SKYWAY_PEER_LISTEN")]
    pub peer_listen: Option<SocketAddr>,
    /// The cluster's initial voters as ID=HOST:PORT,... with each node's peer address (its
    /// --peer-listen); include this node. Omit (with --join) for a node that an existing
    /// cluster adds with `skyway ctl member-add`.
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
    #[arg(long, env = "SKYWAY_HEARTBEAT_MS", default_value_t = skyway_coord::config::HEARTBEAT_INTERVAL_DEFAULT.as_millis() as u64)]
    pub heartbeat_ms: u64,
    /// Raft election timeout in milliseconds (lower bound; the upper is twice this). A dead
    /// leader is replaced after three to four of these (its lease, then the timeout); raise it
    /// on links slower than a LAN, to many round trips between the nodes.
    #[arg(long, env = "SKYWAY_ELECTION_TIMEOUT_MS", default_value_t = skyway_coord::config::ELECTION_TIMEOUT_DEFAULT.as_millis() as u64)]
    pub election_timeout_ms: u64,
    /// Linearizable reads always confirm leadership with a round trip to a quorum (Raft's read
    /// index), instead of being served from the leader's lease while it holds one (the default,
    /// which assumes the nodes' clocks run at nearly the same rate; see the README's "Speed").
    #[arg(long, env = "SKYWAY_READ_INDEX_ONLY")]
    pub read_index_only: bool,
    /// Take a snapshot and compact the log after this many entries.
    #[arg(long, env = "SKYWAY_SNAPSHOT_AFTER", default_value_t = 20_000)]
    pub snapshot_after: u64,
    /// Log entries kept behind a snapshot, so that a slightly lagging follower needs no
    /// snapshot (0: a follower behind the snapshot always gets one).
    #[arg(long, env = "SKYWAY_LOG_ENTRIES_KEPT", default_value_t = 5_000)]
    pub log_entries_kept: u64,
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
    /// TLS on the client port and between nodes.
    #[command(flatten)]
    pub tls: ServeTlsArgs,
}

/// The node's certificates. The environment variables are `SKYWAY_TLS_*` and `SKYWAY_PEER_*`
/// (not `SKYWAY_CERT`, which is the certificate a client shows).
#[derive(Debug, Args)]
#[command(next_help_heading = "TLS")]
pub struct ServeTlsArgs {
    /// Serve clients over TLS with this certificate (PEM; its SANs must name the addresses
    /// clients dial). Also the peer certificate unless --peer-cert is given.
    #[arg(long, env = "SKYWAY_TLS_CERT", value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// The private key of --cert (PEM).
    #[arg(long, env = "SKYWAY_TLS_KEY", value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Require every client to show a certificate signed by this CA (PEM), and verify it; its
    /// CN is the client's identity. Without it clients need no certificate. Also the peer CA
    /// unless --peer-ca is given.
    #[arg(long, env = "SKYWAY_TLS_CA", value_name = "FILE", requires = "cert")]
    pub ca: Option<PathBuf>,
    /// The certificate this node shows its peers, as a server and as a client (PEM; CN
    /// `node-<id>`, as `skyway certs init` makes them). Default: --cert.
    #[arg(long, env = "SKYWAY_PEER_CERT", value_name = "FILE", requires = "peer_key")]
    pub peer_cert: Option<PathBuf>,
    /// The private key of --peer-cert. Default: --key.
    #[arg(long, env = "SKYWAY_PEER_KEY", value_name = "FILE", requires = "peer_cert")]
    pub peer_key: Option<PathBuf>,
    /// The CA every peer's certificate must come from: the peer port runs mutual TLS and lets
    /// in members only. Default: --ca.
    #[arg(long, env = "SKYWAY_PEER_CA", value_name = "FILE")]
    pub peer_ca: Option<PathBuf>,
}

impl ServeTlsArgs {
    /// The client port's TLS, if asked for.
    fn server_tls(&self) -> anyhow::Result<Option<ServerTls>> {
        let (Some(cert), Some(key)) = (&self.cert, &self.key) else { return Ok(None) };
        let ca = self.ca.as_ref().map(|ca| PemPath::new("--ca", ca));
        Ok(Some(ServerTls::load(&PemPath::new("--cert", cert), &PemPath::new("--key", key), ca.as_ref())?))
    }

    /// The peer port's mutual TLS, if asked for: the peer files, or the client port's.
    fn peer_tls(&self) -> anyhow::Result<Option<PeerTls>> {
        let (cert, key) = match (&self.peer_cert, &self.peer_key, &self.cert, &self.key) {
            (Some(cert), Some(key), _, _) => (PemPath::new("--peer-cert", cert), PemPath::new("--peer-key", key)),
            (None, None, Some(cert), Some(key)) => (PemPath::new("--cert", cert), PemPath::new("--key", key)),
            _ if self.peer_ca.is_some() => bail!(
                "--peer-ca needs a certificate to show peers: give --peer-cert and --peer-key (or --cert and --key)"
            ),
            _ => return Ok(None),
        };
        let ca = match (&self.peer_ca, &self.ca) {
            (Some(ca), _) => PemPath::new("--peer-ca", ca),
            (None, Some(ca)) => PemPath::new("--ca", ca),
            (None, None) => bail!(
                "TLS between nodes is mutual: give --peer-ca (or --ca), the CA the peers' certificates are signed by"
            ),
        };
        Ok(Some(PeerTls::load(&cert, &key, &ca)?))
    }
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
    /// Records the membership log keeps (older ones are trimmed; reading them is a clear
    /// `log_trimmed` error). The leader commits its value, so every node trims alike.
    #[arg(long, env = "SKYWAY_MEMBERSHIP_LOG_RECORDS_MAX", default_value_t = skyway_coord::core::membership::MEMBERSHIP_LOG_RECORDS_DEFAULT)]
    pub membership_log_records_max: u64,
    /// Largest message between coordinator nodes, in bytes (at least four --request-bytes-max).
    /// Replication batches stay below half of it and snapshots travel in chunks, so a state of
    /// any size still reaches a new or wiped node.
    #[arg(long, env = "SKYWAY_PEER_MESSAGE_BYTES_MAX", default_value_t = skyway_coord::raft::network::PEER_MESSAGE_BYTES_MAX)]
    pub peer_message_bytes_max: usize,
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
    let peer_listen = match (args.peer_listen, args.peers.get(&args.id)) {
        (Some(addr), _) => addr,
        (None, Some(own)) => {
            own.parse().with_context(|| format!("this node's address in --peers, {own:?}, is not HOST:PORT"))?
        }
        (None, None) if args.join => {
            bail!("give --peer-listen: the address peers reach this node at (the one to give `ctl member-add`)")
        }
        (None, None) => bail!("--peers must include this node's own id {} (its peer address)", args.id),
    };
    if peer_listen == args.listen && peer_listen.port() != 0 {
        bail!(
            "the peer address {peer_listen} is also --listen: the client port no longer serves the Raft transport; \
             give peers their own port (--peer-listen, and that address in --peers)"
        );
    }
    let mut config = NodeConfig::new(args.id, args.listen, args.data_dir);
    config.tls = args.tls.server_tls()?;
    config.peer_tls = args.tls.peer_tls()?;
    config.peers = if args.join { BTreeMap::new() } else { args.peers };
    config.peer_routes = args.route;
    config.build = skyway_coord::config::BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        commit: crate::BUILD_COMMIT.to_string(),
    };
    config.value_bytes_max = args.value_bytes_max;
    config.txn_ops_max = args.txn_ops_max;
    config.history_events_max = args.watch_history;
    config.heartbeat_interval = Duration::from_millis(args.heartbeat_ms);
    config.election_timeout = Duration::from_millis(args.election_timeout_ms);
    config.snapshot_after_entries = args.snapshot_after;
    config.log_entries_kept = args.log_entries_kept;
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
    config.membership_log_records_max = limits.membership_log_records_max;
    config.peer_message_bytes_max = limits.peer_message_bytes_max;
    config.validate()?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let peer_listener = tokio::net::TcpListener::bind(peer_listen)
        .await
        .with_context(|| format!("cannot listen for peers on {peer_listen}"))?;
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
    let listeners = Listeners { client: listener, peer: peer_listener, metrics: metrics_listener };
    skyway_coord::server::serve(config, listeners, shutdown).await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
