//! `skyway dashboard --endpoints …`: the dashboard of a running system. It reaches only the
//! coordinator, so it shows what the coordinator knows: each node's Raft role, term, commit and
//! applied index, leader changes, and the membership log. The world's frames and the actuator's
//! decisions live in the demo's process (`skyway demo` serves them); fault controls are refused
//! with that reason, since this command started none of the processes.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::Args;
use skyway_coord::client::Client;

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
    /// Serve the dashboard here (127.0.0.1:0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// TLS to the coordinator.
    #[command(flatten)]
    pub tls: ClientTlsArgs,
}

/// Runs it until interrupted.
pub async fn run(args: DashboardArgs) -> anyhow::Result<ExitCode> {
    let listener = server::bind(args.listen).await?;
    let client = Client::new(&args.endpoints, args.tls.client_options()?)
        .context("cannot reach the coordinator (--endpoints)")?;
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as u64;
    let layout =
        Layout { scenario: "(a running system)".into(), endpoints: args.endpoints.clone(), ..Default::default() };
    let history = Arc::new(Mutex::new(History::new(layout, started)));
    let feeding = tokio::spawn(feed::coordinator(history.clone(), client));
    let dashboard = server::Dashboard::new(history, None, &listener)?;
    println!("dashboard: {}", dashboard.url());
    tokio::select! {
        _ = dashboard.serve(listener) => {}
        _ = super::interrupted() => {}
    }
    feeding.abort();
    Ok(ExitCode::SUCCESS)
}
