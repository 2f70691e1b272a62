//! A cluster of real `skyway coord serve` processes on 127.0.0.1: started, killed (SIGKILL),
//! paused (SIGSTOP), resumed and restarted from their data directories. Used by `skyway demo`
//! and by the end-to-end tests.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use anyhow::Context;
use skyway_coord::client::{Client, ClientOptions};
use skyway_coord::tls::{ClientTls, PemPath};

use crate::rig::netfault::{FaultProxy, Mode};
use crate::rig::process::{Process, Signal};

/// One node's process and identity.
pub struct NodeProcess {
    /// Node id.
    pub id: u64,
    /// Its client address (`--listen`).
    pub addr: String,
    /// Its peer address (`--peer-listen`): what the membership records and peers dial.
    pub peer_addr: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Where it serves `/metrics` and `/health` over HTTP.
    pub metrics_addr: String,
    /// Started with `--join`: waits to be added to the cluster instead of forming one.
    pub joining: bool,
    child: Option<Process>,
}

/// A cluster of coordinator processes.
pub struct ProcessCluster {
    binary: PathBuf,
    /// The nodes, by id.
    pub nodes: BTreeMap<u64, NodeProcess>,
    extra_args: Vec<String>,
    /// Arguments for one node only (its routes through link proxies).
    node_args: BTreeMap<u64, Vec<String>>,
    root: PathBuf,
    log_dir: PathBuf,
    /// Every node's ports (client, peer, metrics), held for the cluster's life (see [`PortHold`]).
    reserved: BTreeMap<u64, [PortHold; 3]>,
    /// TLS on every node, with certificates from `skyway certs init`.
    tls: Option<ClusterTls>,
}

/// TLS for a [`ProcessCluster`]: the directory `skyway certs init` wrote (`ca.pem`,
/// `node-N.pem`/`.key`, `client-NAME.pem`/`.key`).
#[derive(Debug, Clone)]
pub struct ClusterTls {
    /// The certificates' directory.
    pub dir: PathBuf,
    /// Nodes demand client certificates (`serve --ca`); otherwise only peers show theirs.
    pub require_client_certs: bool,
    /// The client identity the cluster's own clients show (`client-NAME.pem`), e.g. `root`.
    pub client: Option<String>,
}

impl ClusterTls {
    /// Makes a development CA and certificates in `dir` (replacing any there), as `skyway certs
    /// init` does: one per node of a `nodes`-node cluster and a client certificate for each of
    /// `identities`; nodes demand client certificates, and the cluster's own clients show
    /// `client`'s (which must be among `identities`).
    pub fn create(dir: &Path, nodes: u64, identities: &[String], client: &str) -> anyhow::Result<Self> {
        let files = crate::cli::certs::make(nodes, identities, &[])?;
        crate::cli::certs::write(dir, &files, true)?;
        Ok(Self { dir: dir.to_path_buf(), require_client_certs: true, client: Some(client.to_string()) })
    }

    /// Client options trusting the cluster's CA and showing the configured client identity.
    pub fn client_options(&self) -> anyhow::Result<ClientOptions> {
        let ca = PemPath::new("--cacert", self.dir.join("ca.pem"));
        let (cert, key) = match &self.client {
            Some(name) => (
                Some(PemPath::new("--cert", self.dir.join(format!("client-{name}.pem")))),
                Some(PemPath::new("--key", self.dir.join(format!("client-{name}.key")))),
            ),
            None => (None, None),
        };
        let tls = ClientTls::load(&ca, cert.as_ref(), key.as_ref(), None)?;
        Ok(ClientOptions { tls: Some(tls), ..ClientOptions::default() })
    }

    /// The environment of a child process that talks to this cluster as `identity`: the CA it
    /// trusts and the certificate it shows (`client-IDENTITY.pem`, which must exist).
    pub fn client_env(&self, identity: &str) -> Vec<(String, String)> {
        let file = |name: String| self.dir.join(name).display().to_string();
        vec![
            ("SKYWAY_CACERT".to_string(), file("ca.pem".into())),
            ("SKYWAY_CERT".to_string(), file(format!("client-{identity}.pem"))),
            ("SKYWAY_KEY".to_string(), file(format!("client-{identity}.key"))),
        ]
    }

    /// `coord serve` flags for node `id`.
    fn serve_args(&self, id: u64) -> Vec<String> {
        let file = |name: String| self.dir.join(name).display().to_string();
        let mut args = vec![
            "--cert".to_string(),
            file(format!("node-{id}.pem")),
            "--key".to_string(),
            file(format!("node-{id}.key")),
            "--peer-ca".to_string(),
            file("ca.pem".into()),
        ];
        if self.require_client_certs {
            args.extend(["--ca".to_string(), file("ca.pem".into())]);
        }
        args
    }
}

/// Picks free loopback ports (bound then released; good enough on a test machine).
pub fn free_ports(count: usize) -> anyhow::Result<Vec<u16>> {
    let listeners: Vec<TcpListener> = (0..count).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<Result<_, _>>()?;
    Ok(listeners.iter().map(|l| l.local_addr().map(|a| a.port())).collect::<Result<_, _>>()?)
}

/// A loopback port held for a node for the cluster's whole life: bound with `SO_REUSEADDR` and
/// never listening. Port 0 is never handed out while it is held, so no fault proxy, actuator or
/// outgoing connection can take a node's port between picking it and the node binding it, or
/// while a killed node is down (the node would then exit, "cannot listen", and the cluster wait
/// for a leader that cannot come). The node still binds and listens on it (its own socket uses
/// `SO_REUSEADDR` too; Linux refuses only a second *listening* socket), and a client of a node
/// that is down is refused at once, as with no hold.
struct PortHold(tokio::net::TcpSocket);

impl PortHold {
    fn new(addr: std::net::SocketAddr) -> anyhow::Result<Self> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind(addr).with_context(|| format!("cannot hold a port on {addr}"))?;
        Ok(Self(socket))
    }

    fn addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.local_addr()
    }

    /// A node's three ports, held: its client, peer and metrics addresses, and the holds.
    fn for_node() -> anyhow::Result<([String; 3], [PortHold; 3])> {
        let any = "127.0.0.1:0".parse().expect("an address");
        let holds = [Self::new(any)?, Self::new(any)?, Self::new(any)?];
        let [client, peer, metrics] = holds.each_ref().map(|hold| hold.addr().map(|a| a.to_string()));
        Ok(([client?, peer?, metrics?], holds))
    }
}

impl NodeProcess {
    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Process::pid)
    }
}

impl ProcessCluster {
    /// Starts `size` nodes of `binary` with data under `root`. `extra_args` go to every node.
    pub fn start(binary: &Path, root: &Path, size: usize, extra_args: &[&str]) -> anyhow::Result<Self> {
        let mut cluster = Self::prepare(binary, root, size, extra_args)?;
        cluster.spawn_all()?;
        Ok(cluster)
    }

    /// Like [`ProcessCluster::start`], every node serving TLS with the certificates in `tls`.
    pub fn start_tls(
        binary: &Path,
        root: &Path,
        size: usize,
        tls: ClusterTls,
        extra_args: &[&str],
    ) -> anyhow::Result<Self> {
        let mut cluster = Self::prepare(binary, root, size, extra_args)?;
        cluster.tls = Some(tls);
        cluster.spawn_all()?;
        Ok(cluster)
    }

    /// Like [`ProcessCluster::start`], with a fault proxy on every link between two nodes (each
    /// node dials its peers through its own proxies), so links can be held or cut.
    pub async fn start_with_links(
        binary: &Path,
        root: &Path,
        size: usize,
        extra_args: &[&str],
    ) -> anyhow::Result<(Self, Links)> {
        Self::start_with_links_tls(binary, root, size, None, extra_args).await
    }

    /// Like [`ProcessCluster::start_with_links`], every node serving TLS when `tls` is given.
    pub async fn start_with_links_tls(
        binary: &Path,
        root: &Path,
        size: usize,
        tls: Option<ClusterTls>,
        extra_args: &[&str],
    ) -> anyhow::Result<(Self, Links)> {
        let mut cluster = Self::prepare(binary, root, size, extra_args)?;
        cluster.tls = tls;
        let mut proxies = BTreeMap::new();
        for (from, node) in &cluster.nodes {
            let mut routes = Vec::new();
            for (to, peer) in &cluster.nodes {
                if from != to {
                    let proxy = FaultProxy::start(peer.peer_addr.parse()?).await?;
                    routes.push(format!("{}={}", peer.peer_addr, proxy.addr()));
                    proxies.insert((*from, *to), proxy);
                }
            }
            cluster.node_args.insert(node.id, vec!["--route".into(), routes.join(",")]);
        }
        cluster.spawn_all()?;
        Ok((cluster, Links { proxies }))
    }

    fn spawn_all(&mut self) -> anyhow::Result<()> {
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        for id in ids {
            self.spawn(id)?;
        }
        Ok(())
    }

    fn prepare(binary: &Path, root: &Path, size: usize, extra_args: &[&str]) -> anyhow::Result<Self> {
        let mut addrs = BTreeMap::new();
        let mut reserved = BTreeMap::new();
        for id in 1..=size as u64 {
            let ([client, peer, metrics], holds) = PortHold::for_node()?;
            addrs.insert(id, (client, peer, metrics));
            reserved.insert(id, holds);
        }
        let peers: BTreeMap<u64, String> = addrs.iter().map(|(id, (_, peer, _))| (*id, peer.clone())).collect();
        let log_dir = root.join("logs");
        std::fs::create_dir_all(&log_dir)?;
        let mut cluster = Self {
            binary: binary.to_path_buf(),
            nodes: BTreeMap::new(),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            node_args: BTreeMap::new(),
            root: root.to_path_buf(),
            log_dir,
            reserved,
            tls: None,
        };
        let peers_arg = peers.iter().map(|(id, addr)| format!("{id}={addr}")).collect::<Vec<_>>().join(",");
        cluster.extra_args.extend(["--peers".to_string(), peers_arg]);
        for (id, (addr, peer_addr, metrics_addr)) in addrs {
            let data_dir = root.join(format!("node-{id}"));
            let node = NodeProcess { id, addr, peer_addr, data_dir, metrics_addr, joining: false, child: None };
            cluster.nodes.insert(id, node);
        }
        Ok(cluster)
    }

    /// (Re)starts node `id` from its data directory.
    pub fn spawn(&mut self, id: u64) -> anyhow::Result<()> {
        let node = self.nodes.get_mut(&id).context("no such node")?;
        let mut args: Vec<String> = [
            "coord",
            "serve",
            "--id",
            &id.to_string(),
            "--listen",
            &node.addr,
            "--peer-listen",
            &node.peer_addr,
            "--metrics-listen",
            &node.metrics_addr,
            "--data-dir",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(node.data_dir.display().to_string());
        args.extend(self.extra_args.iter().cloned());
        args.extend(self.tls.iter().flat_map(|tls| tls.serve_args(id)));
        if node.joining {
            args.push("--join".into());
        }
        args.extend(self.node_args.get(&id).into_iter().flatten().cloned());
        let log_level = std::env::var("SKYWAY_NODE_LOG").unwrap_or_else(|_| "info".into());
        let log = self.log_dir.join(format!("node-{id}.log"));
        let child = Process::spawn_env(&format!("node {id}"), &self.binary, &args, &[("RUST_LOG", &log_level)], &log)?;
        node.child = Some(child);
        Ok(())
    }

    /// Starts one more node with `--join` (not yet a member: add it with `Client::add_node`).
    /// Returns its id.
    pub fn start_joining_node(&mut self) -> anyhow::Result<u64> {
        let id = self.nodes.keys().max().copied().unwrap_or(0) + 1;
        let ([addr, peer_addr, metrics_addr], holds) = PortHold::for_node()?;
        self.reserved.insert(id, holds);
        let data_dir = self.root.join(format!("node-{id}"));
        let node = NodeProcess { id, addr, peer_addr, data_dir, metrics_addr, joining: true, child: None };
        self.nodes.insert(id, node);
        self.spawn(id)?;
        Ok(id)
    }

    /// Every node's address, in id order.
    pub fn endpoints(&self) -> Vec<String> {
        self.nodes.values().map(|n| n.addr.clone()).collect()
    }

    /// A client for the whole cluster (over TLS when the cluster serves it).
    pub fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::new(&self.endpoints(), self.client_options()?)?)
    }

    /// The TLS every node serves, if any.
    pub fn tls(&self) -> Option<&ClusterTls> {
        self.tls.as_ref()
    }

    /// Options for clients of this cluster: its TLS, if any.
    pub fn client_options(&self) -> anyhow::Result<ClientOptions> {
        self.tls.as_ref().map_or_else(|| Ok(ClientOptions::default()), ClusterTls::client_options)
    }

    /// Sends SIGKILL to node `id` and reaps it.
    pub async fn kill(&mut self, id: u64) -> anyhow::Result<()> {
        let node = self.nodes.get_mut(&id).context("no such node")?;
        if let Some(mut child) = node.child.take() {
            child.kill().await?;
        }
        Ok(())
    }

    /// Stops node `id` cleanly (SIGTERM) and waits for it to exit.
    pub async fn terminate(&mut self, id: u64) -> anyhow::Result<ExitStatus> {
        let node = self.nodes.get_mut(&id).context("no such node")?;
        let mut child = node.child.take().context("node not running")?;
        child.signal(Signal::Term).await?;
        child.wait().await
    }

    /// Sends a signal (SIGSTOP, SIGCONT…) to node `id`.
    pub async fn signal(&self, id: u64, signal: Signal) -> anyhow::Result<()> {
        let node = self.nodes.get(&id).context("no such node")?;
        node.child.as_ref().context("node not running")?.signal(signal).await
    }

    /// Whether node `id` is running (as far as this launcher knows).
    pub fn is_running(&self, id: u64) -> bool {
        self.nodes.get(&id).is_some_and(|n| n.child.is_some())
    }

    /// Waits until some running node reports a leader that all answering nodes agree on.
    pub async fn wait_for_leader(&self, timeout: Duration) -> anyhow::Result<u64> {
        let running: Vec<u64> = self.nodes.values().filter(|n| n.child.is_some()).map(|n| n.id).collect();
        self.wait_for_leader_among(&running, timeout).await
    }

    /// Waits until the nodes `ids` agree on a leader among them.
    pub async fn wait_for_leader_among(&self, ids: &[u64], timeout: Duration) -> anyhow::Result<u64> {
        let running: Vec<String> = ids.iter().filter_map(|id| self.nodes.get(id)).map(|n| n.addr.clone()).collect();
        let client = Client::new(&running, self.client_options()?)?;
        crate::rig::leader::wait_for_agreed_leader(&client, timeout, |leader| {
            self.is_running(leader) && ids.contains(&leader)
        })
        .await
        .map_err(|e| {
            // Why a node did not answer is in its log (a node that could not start says so on
            // its last line): put that in the error, which may be all a CI run keeps.
            let tails: Vec<String> =
                ids.iter().map(|id| format!("node {id}'s log ends: {}", self.log_tail(*id, 3))).collect();
            anyhow::anyhow!("{e:#}\n{}", tails.join("\n"))
        })
    }

    /// The last `lines` lines of node `id`'s log, each cut to 300 characters.
    fn log_tail(&self, id: u64, lines: usize) -> String {
        let Ok(text) = std::fs::read_to_string(self.log_path(id)) else { return "(no log)".into() };
        let tail: Vec<&str> = text.lines().rev().take(lines).collect();
        tail.iter().rev().map(|line| line.chars().take(300).collect::<String>()).collect::<Vec<_>>().join(" | ")
    }

    /// The log file of node `id`.
    pub fn log_path(&self, id: u64) -> PathBuf {
        self.log_dir.join(format!("node-{id}.log"))
    }
}

// No Drop: every node is a [`Process`], killed when the cluster is dropped.

/// The fault proxies on the links of a [`ProcessCluster`], by (from, to) node id.
pub struct Links {
    proxies: BTreeMap<(u64, u64), FaultProxy>,
}

impl Links {
    /// Sets the link from one node to another (one way).
    pub fn set(&self, from: u64, to: u64, mode: Mode) {
        if let Some(proxy) = self.proxies.get(&(from, to)) {
            proxy.set(mode);
        }
    }

    /// Partitions `node` from every other node, both ways: its messages and theirs are held,
    /// as TCP holds them across a network partition.
    pub fn isolate(&self, node: u64) {
        for ((from, to), proxy) in &self.proxies {
            if *from == node || *to == node {
                proxy.set(Mode::Hold);
            }
        }
    }

    /// Lets every link pass again (held bytes are delivered, late).
    pub fn heal(&self) {
        self.proxies.values().for_each(|p| p.set(Mode::Pass));
    }
}
