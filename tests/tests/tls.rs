//! TLS end to end, on real processes: certificates from `skyway certs init`, a 3-node cluster of
//! `skyway coord serve` demanding client certificates, writes and linearizable reads through
//! `ctl`, `bench` over TLS; refused: a plaintext client, a client without a certificate, a peer
//! whose certificate is not from the CA, a client's certificate and a non-member node's on the
//! peer port; the client port no longer serving the Raft transport; and bad certificate files
//! named in the error; the failover drill over TLS.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use skyway_coord::proto::raft::Payload;
use skyway_coord::proto::raft::raft_transport_client::RaftTransportClient;
use skyway_sim::rig::cluster::{ClusterTls, ProcessCluster};
use skyway_tests::harness::skyway_binary;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

async fn skyway(args: &[&str]) -> anyhow::Result<Output> {
    Ok(tokio::process::Command::new(skyway_binary()).args(args).kill_on_drop(true).output().await?)
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

async fn certs_init(dir: &Path, extra: &[&str]) -> anyhow::Result<()> {
    let mut args = vec!["certs", "init", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = skyway(&args).await?;
    anyhow::ensure!(out.status.success(), "certs init failed: {}", text(&out));
    Ok(())
}

fn pem(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

/// A TLS channel to `addr` trusting `ca_dir`'s CA and showing `identity` (`node-1`,
/// `client-root`…) from `identity_dir`.
async fn tls_channel(addr: &str, ca_dir: &Path, identity: Option<(&Path, &str)>) -> Result<Channel, String> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem(ca_dir, "ca.pem")));
    if let Some((dir, name)) = identity {
        tls = tls.identity(Identity::from_pem(pem(dir, &format!("{name}.pem")), pem(dir, &format!("{name}.key"))));
    }
    let endpoint =
        Endpoint::from_shared(format!("https://{addr}")).unwrap().tls_config(tls).map_err(|e| e.to_string())?;
    endpoint.connect_timeout(Duration::from_secs(2)).connect().await.map_err(|e| format!("{e:?}"))
}

/// A vote with a garbage payload: a member reaches the handler (which refuses the bytes as
/// malformed); anyone else must be stopped before it.
async fn garbage_vote(channel: Channel) -> tonic::Status {
    let mut client = RaftTransportClient::new(channel);
    client.vote(Payload { data: vec![0xff; 8].into() }).await.expect_err("garbage is never a valid vote")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_cluster_serves_its_clients_and_refuses_everyone_else() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let certs = dir.path().join("certs");
    // Node certificates for 4 nodes: node-4 is valid but never a member.
    certs_init(&certs, &["--nodes", "4", "--client", "root", "--client", "controller"]).await?;
    let foreign = dir.path().join("foreign");
    certs_init(&foreign, &["--nodes", "1"]).await?;
    let again = skyway(&["certs", "init", certs.to_str().unwrap()]).await?;
    assert!(!again.status.success() && text(&again).contains("--force"), "{}", text(&again));

    let tls = ClusterTls { dir: certs.clone(), require_client_certs: true, client: Some("root".into()) };
    let cluster = ProcessCluster::start_tls(&skyway_binary(), &dir.path().join("cluster"), 3, tls, &[])?;
    cluster.wait_for_leader(Duration::from_secs(30)).await?;
    let endpoints = cluster.endpoints().join(",");
    let file = |name: &str| certs.join(name).display().to_string();
    let (ca, cert, key) = (file("ca.pem"), file("client-root.pem"), file("client-root.key"));
    let ctl = |args: &[&str]| {
        let mut all = vec!["ctl", "--endpoints", &endpoints, "--cacert", &ca, "--cert", &cert, "--key", &key];
        all.extend_from_slice(args);
        all.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| async move { skyway(&args.iter().map(String::as_str).collect::<Vec<_>>()).await };

    // Writes and linearizable reads over TLS, through every node.
    let created = run(ctl(&["create", "/tls", "over-tls"])).await?;
    assert!(created.status.success(), "{}", text(&created));
    for node in cluster.nodes.values() {
        let mut args = ctl(&["get", "/tls", "-w", "json"]);
        args[2] = node.addr.clone();
        let got = run(args).await?;
        assert!(got.status.success() && text(&got).contains("over-tls"), "node {}: {}", node.id, text(&got));
    }
    let set = run(ctl(&["set", "/tls", "again"])).await?;
    assert!(set.status.success(), "{}", text(&set));
    let got = run(ctl(&["get", "/tls"])).await?;
    assert!(text(&got).contains("again"), "{}", text(&got));

    // A plaintext client is refused, and told why.
    let plain = skyway(&["ctl", "--endpoints", &endpoints, "get", "/tls"]).await?;
    assert!(!plain.status.success(), "a plaintext client must be refused: {}", text(&plain));
    assert!(text(&plain).contains("TLS"), "the error should say the cluster may need TLS: {}", text(&plain));
    // A client without a certificate is refused when the nodes demand one.
    let anonymous = skyway(&["ctl", "--endpoints", &endpoints, "--cacert", &ca, "get", "/tls"]).await?;
    assert!(!anonymous.status.success(), "a client without a certificate must be refused: {}", text(&anonymous));
    assert!(text(&anonymous).contains("certificate"), "{}", text(&anonymous));

    // Bench over TLS with another identity.
    let bench = skyway(&[
        "bench",
        "--endpoints",
        &endpoints,
        "--cacert",
        &ca,
        "--cert",
        &file("client-controller.pem"),
        "--key",
        &file("client-controller.key"),
        "--clients",
        "2",
        "--duration",
        "1",
        "--output",
        "json",
    ])
    .await?;
    assert!(bench.status.success(), "{}", text(&bench));
    let figures: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&bench.stdout).lines().next().unwrap())?;
    assert!(figures["completed"].as_u64().unwrap_or(0) > 0, "bench over TLS did no operation: {figures}");

    // The peer port: a member's certificate reaches the handler...
    let node1 = &cluster.nodes[&1];
    let member = garbage_vote(tls_channel(&node1.peer_addr, &certs, Some((&certs, "node-2"))).await.unwrap()).await;
    assert_eq!(member.code(), tonic::Code::InvalidArgument, "a member reaches the handler: {member:?}");
    // ...a certificate from another CA does not even complete the handshake...
    match tls_channel(&node1.peer_addr, &certs, Some((&foreign, "node-1"))).await {
        Err(_) => {}
        Ok(channel) => {
            let refused = garbage_vote(channel).await;
            assert_ne!(refused.code(), tonic::Code::InvalidArgument, "a foreign CA's peer got in: {refused:?}");
        }
    }
    // ...nor does a peer without a certificate...
    if let Ok(channel) = tls_channel(&node1.peer_addr, &certs, None).await {
        let refused = garbage_vote(channel).await;
        assert_ne!(refused.code(), tonic::Code::InvalidArgument, "a peer without a certificate got in: {refused:?}");
    }
    // ...a client's certificate and a non-member node's are refused by identity.
    let client =
        garbage_vote(tls_channel(&node1.peer_addr, &certs, Some((&certs, "client-root"))).await.unwrap()).await;
    assert_eq!(client.code(), tonic::Code::PermissionDenied, "{client:?}");
    let stranger = garbage_vote(tls_channel(&node1.peer_addr, &certs, Some((&certs, "node-4"))).await.unwrap()).await;
    assert_eq!(stranger.code(), tonic::Code::PermissionDenied, "{stranger:?}");
    assert!(stranger.message().contains("node-4 is not a member"), "{stranger:?}");

    // The client port no longer serves the Raft transport.
    let on_client_port = tls_channel(&node1.addr, &certs, Some((&certs, "client-root"))).await.unwrap();
    let unserved = garbage_vote(on_client_port).await;
    assert_eq!(unserved.code(), tonic::Code::Unimplemented, "{unserved:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_certificate_files_are_refused_naming_the_flag_and_the_file() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n")?;
    let missing = dir.path().join("missing.pem");
    let (garbage, missing) = (garbage.display().to_string(), missing.display().to_string());

    let out = skyway(&["ctl", "--cacert", &missing, "get", "/"]).await?;
    assert!(
        !out.status.success() && text(&out).contains("--cacert") && text(&out).contains(&missing),
        "{}",
        text(&out)
    );
    let out = skyway(&["ctl", "--cacert", &garbage, "get", "/"]).await?;
    assert!(text(&out).contains("--cacert") && text(&out).contains("no certificate"), "{}", text(&out));

    let data = dir.path().join("data").display().to_string();
    let serve = |extra: &[&str]| {
        let mut args = vec!["coord", "serve", "--id", "1", "--listen", "127.0.0.1:0", "--data-dir", &data];
        args.extend(["--peer-listen", "127.0.0.1:0", "--join"]);
        args.extend_from_slice(extra);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| async move { skyway(&args.iter().map(String::as_str).collect::<Vec<_>>()).await };
    let out = run(serve(&["--cert", &garbage, "--key", &garbage, "--ca", &garbage])).await?;
    assert!(!out.status.success() && text(&out).contains("--cert") && text(&out).contains(&garbage), "{}", text(&out));
    let out = run(serve(&["--peer-cert", &missing, "--peer-key", &missing, "--peer-ca", &missing])).await?;
    assert!(text(&out).contains("--peer-cert") && text(&out).contains(&missing), "{}", text(&out));
    Ok(())
}

/// `skyway drill --tls`: the failover drill on a cluster that serves TLS and demands client
/// certificates, every controller showing its own: the role still moves after its primary is
/// killed, with no split brain, and every node served only TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_failover_drill_runs_over_tls() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keep = dir.path().join("drill");
    let keep_arg = keep.display().to_string();
    let args = ["drill", "--tls", "--scenario", "kill-primary", "--output", "json", "--keep", &keep_arg];
    let out = tokio::time::timeout(Duration::from_secs(120), skyway(&args)).await??;
    assert!(out.status.success(), "{}", text(&out));
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let run = &runs[0];
    assert!(run["takeover_ms"].as_f64().is_some() && run["detection_ms"].as_f64().is_some(), "{run}");
    assert_eq!(run["split_brains"], 0, "{run}");
    let run_dir = keep.join("KillPrimary-0");
    for identity in ["drill", "c1", "c2", "c3"] {
        assert!(run_dir.join("certs").join(format!("client-{identity}.pem")).exists(), "no certificate for {identity}");
    }
    let mut serving = Vec::new();
    for entry in std::fs::read_dir(run_dir.join("coord").join("logs"))? {
        let log = std::fs::read_to_string(entry?.path())?;
        serving.extend(log.lines().filter(|l| l.contains("serving clients")).map(str::to_string));
    }
    assert_eq!(serving.len(), 3, "{serving:#?}");
    assert!(serving.iter().all(|l| l.contains("tls=true")), "a node served plaintext: {serving:#?}");
    Ok(())
}
