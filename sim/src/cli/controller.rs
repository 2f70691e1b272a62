//! `skyway controller` and `skyway actuator`: the processes that failover drills kill, pause
//! and cut off.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use clap::Args;
use skyway_controller::actuator::{self, Actuator};
use skyway_controller::commander::{Commander, Heartbeat};
use skyway_controller::controller::{self, ControllerConfig, RoleStatus};
use skyway_controller::health::{Limits, StatusJson};
use skyway_controller::link::ActuatorTarget;
use skyway_coord::client::SESSION_TTL_DEFAULT;

use super::client_tls::ClientTlsArgs;

/// Flags of `skyway controller`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  skyway controller --name A --roles runway/07,segment/12 \\\n    \
--endpoints 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003 --actuator 127.0.0.1:7100\n\n\
It joins the membership with a session, campaigns for each role, and acts only as primary, \
stamping every command with the role's fencing token. It stops acting as soon as it cannot be \
sure of its session, rejoins as a backup when the session is lost, and resigns every role on \
Ctrl-C or SIGTERM so that backups take over at once.")]
pub struct ControllerArgs {
    /// This controller's name (unique among controllers).
    #[arg(long)]
    pub name: String,
    /// The roles to serve, e.g. runway/07,segment/12.
    #[arg(long, value_delimiter = ',', required = true)]
    pub roles: Vec<String>,
    /// Coordinator endpoints.
    #[arg(long, value_delimiter = ',', required = true)]
    pub endpoints: Vec<String>,
    /// A user's token (from `skyway ctl user add`), needed once the coordinator's
    /// authentication is on.
    #[arg(long, env = "SKYWAY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// TLS to the coordinator.
    #[command(flatten)]
    pub tls: ClientTlsArgs,
    /// The actuator's address.
    #[arg(long)]
    pub actuator: String,
    /// Session TTL in milliseconds: a crashed primary is replaced about this long after it stops.
    #[arg(long, default_value_t = SESSION_TTL_DEFAULT.as_millis() as u64)]
    pub ttl_ms: u64,
    /// How often a primary sends a command, in milliseconds.
    #[arg(long, default_value_t = 50)]
    pub command_interval_ms: u64,
    /// Serve health checks on this address: GET /health answers 200 "healthy" or 503 with what
    /// is wrong (session in doubt, a role stuck, a primary whose commands are not accepted);
    /// GET /status gives the roles as JSON.
    #[arg(long)]
    pub health: Option<SocketAddr>,
    /// Serve /metrics (Prometheus: roles held, takeovers, commands accepted and refused,
    /// session in doubt), /health, /livez and /readyz over HTTP on this address (port 0: any
    /// free port, printed in the log).
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// What a primary sends: heartbeat (numbered `hold N` commands, for drills) or world (the
    /// simulator's policies: speed limits and lane closures from the segments' loop summaries,
    /// runway clearances from the runways' states, read from /world in the coordinator).
    #[arg(long, value_enum, default_value_t = Commands::Heartbeat)]
    pub commands: Commands,
}

/// What a controller's primaries send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Commands {
    /// Numbered heartbeats.
    Heartbeat,
    /// The world's policies.
    World,
}

impl Commands {
    /// The commander.
    pub fn commander(self) -> Arc<dyn Commander> {
        match self {
            Commands::Heartbeat => Arc::new(Heartbeat),
            Commands::World => Arc::new(crate::live::commander::WorldCommander),
        }
    }
}

/// Flags of `skyway actuator`.
#[derive(Debug, Args)]
#[command(after_help = "It obeys a command only if its fencing token is at least the highest it has \
accepted for the command's role, and records every decision, fsynced, in DATA_DIR/audit.jsonl before \
it takes effect; on restart it rebuilds its floors from that trail. The trail rotates: a full \
audit.jsonl is sealed as audit.<first seq>.jsonl and the oldest sealed segments are deleted; every \
segment begins with the floors of every role, so rotation never loses a floor.")]
pub struct ActuatorArgs {
    /// Address to serve on (port 0: any free port, printed as "listening on ADDR").
    #[arg(long)]
    pub listen: SocketAddr,
    /// Where the audit trail (and so the durable floors) live.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Bytes at which the trail's active segment is sealed and a new one begun.
    #[arg(long, env = "SKYWAY_AUDIT_SEGMENT_BYTES_MAX", default_value_t = skyway_controller::audit::SEGMENT_BYTES_DEFAULT)]
    pub audit_segment_bytes_max: u64,
    /// Sealed segments kept; older ones are deleted (reading them is a clear error).
    #[arg(long, env = "SKYWAY_AUDIT_SEGMENTS_KEPT_MAX", default_value_t = skyway_controller::audit::SEGMENTS_KEPT_DEFAULT)]
    pub audit_segments_kept_max: usize,
    /// Newest decisions kept in memory (older pages are read from the segments on disk).
    #[arg(long, env = "SKYWAY_AUDIT_MEMORY_ENTRIES_MAX", default_value_t = skyway_controller::audit::MEMORY_ENTRIES_DEFAULT)]
    pub audit_memory_entries_max: usize,
}

/// Runs a controller until Ctrl-C or SIGTERM.
pub async fn run_controller(args: ControllerArgs) -> anyhow::Result<ExitCode> {
    if args.name.is_empty() || args.name.contains('/') {
        anyhow::bail!("--name must be a non-empty name without '/'");
    }
    if args.ttl_ms < 50 {
        anyhow::bail!("--ttl-ms {} is too short: at least 50 ms", args.ttl_ms);
    }
    let config = ControllerConfig {
        name: args.name,
        roles: args.roles,
        endpoints: args.endpoints,
        client: args.tls.client_options()?.with_token(args.token),
        actuator: ActuatorTarget::Remote(args.actuator),
        ttl: Duration::from_millis(args.ttl_ms),
        command_interval: Duration::from_millis(args.command_interval_ms.max(1)),
        commander: args.commands.commander(),
    };
    let board = RoleStatus::default();
    if let Some(addr) = args.health {
        let listener =
            tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot serve health on {addr}"))?;
        let limits = Limits::for_controller(config.ttl, config.command_interval);
        let app = health_routes(config.name.clone(), board.clone(), limits);
        tracing::info!(addr = %listener.local_addr()?, "health checks at /health and /status");
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("health server stopped: {e}");
            }
        });
    }
    if let Some(addr) = args.metrics_listen {
        let listener =
            tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot serve metrics on {addr}"))?;
        let limits = Limits::for_controller(config.ttl, config.command_interval);
        let probe = controller_probe(config.name.clone(), board.clone(), limits);
        tokio::spawn(async move {
            if let Err(e) = skyway_coord::observe::serve_http(listener, probe, std::future::pending()).await {
                tracing::error!("metrics server stopped: {e}");
            }
        });
    }
    controller::run(config, board, super::interrupted()).await?;
    Ok(ExitCode::SUCCESS)
}

/// A controller's probe: its metrics (gauges refreshed from the board at each scrape) and its
/// health, the same verdict as `--health`'s `/health`.
pub fn controller_probe(name: String, board: RoleStatus, limits: Limits) -> Arc<dyn skyway_coord::observe::Probe> {
    use skyway_coord::observe::{Health, Probe, http::encode_registry};

    struct ControllerProbe {
        name: String,
        board: RoleStatus,
        limits: Limits,
        registry: prometheus_client::registry::Registry,
    }
    impl ControllerProbe {
        fn verdict(&self) -> Health {
            let status = StatusJson::new(&self.name, &self.board.report(), Instant::now(), self.limits);
            if status.healthy { Health::ok() } else { Health::failing(status.problems.join("; ")) }
        }
    }
    impl Probe for ControllerProbe {
        fn metrics(&self) -> String {
            self.board.metrics.refresh(&self.board.report());
            encode_registry(&self.registry)
        }
        fn health(&self) -> futures::future::BoxFuture<'_, Health> {
            Box::pin(async move { self.verdict() })
        }
        fn ready(&self) -> Health {
            self.verdict()
        }
    }
    let mut registry = prometheus_client::registry::Registry::default();
    board.metrics.register(&mut registry);
    Arc::new(ControllerProbe { name, board, limits, registry })
}

/// `/health` (200 or 503, for probes) and `/status` (JSON) over a controller's status board.
pub fn health_routes(name: String, board: RoleStatus, limits: Limits) -> Router {
    let status = move || StatusJson::new(&name, &board.report(), Instant::now(), limits);
    let for_health = status.clone();
    Router::new()
        .route(
            "/health",
            get(move || async move {
                let status = for_health();
                let code = if status.healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
                (code, status.text())
            }),
        )
        .route("/status", get(move || async move { Json(status()) }))
}

/// Runs an actuator until Ctrl-C or SIGTERM.
pub async fn run_actuator(args: ActuatorArgs) -> anyhow::Result<ExitCode> {
    let limits = skyway_controller::audit::TrailLimits {
        segment_bytes_max: args.audit_segment_bytes_max,
        segments_kept_max: args.audit_segments_kept_max,
        memory_entries_max: args.audit_memory_entries_max,
    };
    let actuator = Arc::new(Actuator::open_with(&args.data_dir, limits, None)?);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    // On stdout, so that a launcher that asked for port 0 learns the port.
    println!("listening on {}", listener.local_addr()?);
    actuator::serve(actuator, listener, super::interrupted()).await?;
    Ok(ExitCode::SUCCESS)
}
