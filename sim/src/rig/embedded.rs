//! A coordinator cluster inside this process: the embedded default for lessons and the
//! simulator. Every node is a real node (Raft over gRPC on 127.0.0.1, its log fsynced in its
//! own directory); only the processes are shared.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use skyway_coord::client::Client;
use skyway_coord::config::NodeConfig;
use skyway_coord::server::Listeners;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running in-process cluster; stopped when dropped (or cleanly with [`EmbeddedCluster::stop`]).
pub struct EmbeddedCluster {
    endpoints: Vec<String>,
    nodes: Vec<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl EmbeddedCluster {
    /// Starts `size` nodes with data under `root` and waits until they have a leader.
    pub async fn start(root: &Path, size: usize) -> anyhow::Result<Self> {
        let mut listeners = Vec::new();
        for _ in 0..size {
            let client = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let peer = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            listeners.push(Listeners { client, peer, metrics: None });
        }
        let mut endpoints = Vec::new();
        let mut peers = BTreeMap::new();
        for (i, l) in listeners.iter().enumerate() {
            endpoints.push(l.client.local_addr()?.to_string());
            peers.insert(i as u64 + 1, l.peer.local_addr()?.to_string());
        }
        let mut nodes = Vec::new();
        for (i, listener) in listeners.into_iter().enumerate() {
            let id = i as u64 + 1;
            let mut config = NodeConfig::new(id, listener.client.local_addr()?, root.join(format!("node-{id}")));
            config.peers = peers.clone();
            config.validate()?;
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(async move {
                let shutdown = async {
                    let _ = stopped.await;
                };
                if let Err(error) = skyway_coord::server::serve(config, listener, shutdown).await {
                    tracing::error!(node = id, "embedded coordinator node failed: {error}");
                }
            });
            nodes.push((stop, task));
        }
        let cluster = Self { endpoints, nodes };
        cluster.wait_for_leader(Duration::from_secs(20)).await?;
        Ok(cluster)
    }

    /// The nodes' addresses.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// A client for the cluster.
    pub fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::connect(&self.endpoints)?)
    }

    async fn wait_for_leader(&self, timeout: Duration) -> anyhow::Result<()> {
        crate::rig::leader::wait_for_agreed_leader(&self.client()?, timeout, |_| true).await.map(|_| ())
    }

    /// Stops every node at once and waits for them.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let mut tasks = Vec::new();
        for (stop, task) in self.nodes.drain(..) {
            let _ = stop.send(());
            tasks.push(task);
        }
        for task in tasks {
            task.await.context("an embedded node panicked")?;
        }
        Ok(())
    }
}

impl Drop for EmbeddedCluster {
    fn drop(&mut self) {
        for (_, task) in &self.nodes {
            task.abort();
        }
    }
}
