//! `skyway dashboard --endpoints …`: the dashboard of a running system. It reaches only the
//! coordinator, so it shows what the coordinator knows: each node's Raft role, term, commit and
//! applied index, leader changes, the membership log (streamed from a watch) and the cameras'
//! latest frames with the analyzers' counts (frames drawn when `--store` names their storage). The world's frames and the actuator's
//! decisions live in the demo's process (`skyway demo` serves them); fault controls are refused
//! with that reason, since this command started none of the processes.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::Args;
use skyway_coord::client::Client;
use skyway_storage::BlobStore;

use super::client_tls::ClientTlsArgs;
use crate::dashboard::history::{History, Layout};
use crate::dashboard::{feed, server};

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
    let feeding = [
        tokio::spawn(feed::coordinator(history.clone(), client.clone())),
        tokio::spawn(feed::membership(history.clone(), client.clone())),
        tokio::spawn(feed::cameras(history.clone(), client, store.clone())),
    ];
    let mut dashboard = server::Dashboard::new(history, None, &listener)?;
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
