//! `skyway dashboard --endpoints …`: the dashboard of a running system. It reaches only the
//! coordinator, so it shows what the coordinator knows: each node's Raft role, term, commit and
//! applied index, leader changes, the membership log (streamed from a watch) and the cameras'
//! latest frames with the analyzers' counts (frames drawn when `--store` names their storage). The world's frames and the actuator's
//! decisions live in the demo's process (`skyway demo` serves them); fault controls are refused
//! with that reason (501), since this command started none of the processes.
//!
//! The operator's orders are the exception: closing and reopening a lane or a runway goes
//! through the coordinator alone (the order is written to the role's operator node and its
//! primary carries it out, [`crate::demo::operator`]), so this dashboard takes them too, checked
//! against what the running world publishes there (its segments, their lanes, its runways).

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::Args;
use skyway_coord::client::Client;
use skyway_storage::BlobStore;

use super::client_tls::ClientTlsArgs;
use crate::dashboard::history::{History, Layout, Record};
use crate::dashboard::{feed, server};
use crate::demo::control::{Answer, Control, Refused, Request, Requests};
use crate::demo::operator::{self, PublishedLayout};

/// Flags of `skyway dashboard`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  skyway dashboard --endpoints 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003")]
pub struct DashboardArgs {
    /// The coordinator's nodes, comma-separated host:port.
    #[arg(long, value_delimiter = ',', required = true)]
    pub endpoints: Vec<String>,
    /// A user's token (from `skyway ctl user add`), needed once the coordinator's
    /// authentication is on.
    #[arg(long, env = "SKYWAY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Serve the dashboard here (127.0.0.1:0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The cameras' blob storage (file:///dir, s3://bucket/prefix), so that their frames can be
    /// drawn; without it the cameras panel shows counts only.
    #[arg(long)]
    pub store: Option<String>,
    /// TLS to the coordinator.
    #[command(flatten)]
    pub tls: ClientTlsArgs,
}

/// Runs it until interrupted.
pub async fn run(args: DashboardArgs) -> anyhow::Result<ExitCode> {
    let listener = server::bind(args.listen).await?;
    let client = Client::new(&args.endpoints, args.tls.client_options()?.with_token(args.token.clone()))
        .context("cannot reach the coordinator (--endpoints)")?;
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as u64;
    let layout =
        Layout { scenario: "(a running system)".into(), endpoints: args.endpoints.clone(), ..Default::default() };
    let history = Arc::new(Mutex::new(History::new(layout, started)));
    let store = match &args.store {
        Some(url) => {
            Some(BlobStore::open_url(url).with_context(|| format!("cannot open blob storage {url} (--store)"))?)
        }
        None => None,
    };
    let (control, requests) = Control::channel();
    let feeding = [
        tokio::spawn(feed::coordinator(history.clone(), client.clone())),
        tokio::spawn(feed::membership(history.clone(), client.clone())),
        tokio::spawn(feed::cameras(history.clone(), client.clone(), store.clone())),
        tokio::spawn(carry_out(requests, client, history.clone())),
    ];
    let mut dashboard = server::Dashboard::new(history, Some(control), &listener)?;
    if let Some(store) = store {
        dashboard = dashboard.with_store(store);
    }
    println!("dashboard: {}", dashboard.url());
    tokio::select! {
        _ = dashboard.serve(listener) => {}
        _ = super::interrupted() => {}
    }
    for task in feeding {
        task.abort();
    }
    Ok(ExitCode::SUCCESS)
}

/// Why everything but the operator's orders is refused here.
const NOT_HERE: &str = "this dashboard observes a running system (skyway dashboard --endpoints): it did not start its \
                        processes, so it cannot kill, pause or cut them off, stall a vehicle or change the world's \
                        speed; run `skyway demo` for fault controls (closing and reopening lanes and runways works \
                        here)";

/// Answers the page's requests: the operator's orders are written to the coordinator, the
/// rest refused with [`NOT_HERE`].
async fn carry_out(mut requests: Requests, client: Client, history: Arc<Mutex<History>>) {
    while let Some((request, reply)) = requests.recv().await {
        let answer = answer(request, &client, &history).await;
        let _ = reply.send(answer);
    }
}

async fn answer(request: Request, client: &Client, history: &Mutex<History>) -> Answer {
    let now = unix_ms();
    let close = matches!(request, Request::CloseLane { .. } | Request::CloseRunway { .. });
    let (role, lane, closed, line) = match request {
        Request::CloseLane { target, lane } | Request::ReopenLane { target, lane } => {
            let layout = PublishedLayout::read(client).await?;
            let n = operator::segment_of(&target, &layout.roles)?;
            let lanes = layout.lanes.get(&n).copied().unwrap_or(0);
            let order = operator::order_lane(client, n, lane, close, lanes, now).await?;
            let verb = if close { "close" } else { "reopen" };
            let line = format!(
                "the operator's order to {verb} lane {lane} of segment/{n} is in {}; the segment's primary carries \
                 it out with its next fenced command (closed by the operator now: {:?})",
                crate::live::paths::operator_segment(n),
                order.lanes()
            );
            (format!("segment/{n}"), Some(lane), close, line)
        }
        Request::CloseRunway { target } | Request::ReopenRunway { target } => {
            let layout = PublishedLayout::read(client).await?;
            let id = operator::runway_of(&target, &layout.roles)?;
            operator::order_runway(client, &id, close, now).await?;
            let verb = if close { "close" } else { "reopen" };
            let line = format!(
                "the operator's order to {verb} runway {id} is in {}; the runway's primary carries it out with its \
                 next fenced command",
                crate::live::paths::operator_runway(&id)
            );
            (format!("runway/{id}"), None, close, line)
        }
        _ => return Err(Refused::new(501, NOT_HERE)),
    };
    tracing::info!("{line}");
    history.lock().expect("history poisoned").push(Record::Operator {
        at_ms: now,
        role,
        lane,
        closed,
        note: line.clone(),
    });
    Ok(line)
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
