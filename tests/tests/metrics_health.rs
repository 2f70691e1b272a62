//! Every process's `/metrics`, scraped and parsed with a real Prometheus text parser
//! (`prometheus-parse`), and the health endpoints: a node of a real 3-node cluster (the request
//! counter and the applied index move with a write; `/health` is 503 on a node cut from the
//! quorum; the gRPC health service answers SERVING and server reflection lists the API), and a
//! controller (it holds its role, took it over once, its commands are accepted).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use skyway_sim::rig::cluster::{ProcessCluster, free_ports};
use skyway_sim::rig::process::Process;
use skyway_tests::harness::{http_get, skyway_binary};
use skyway_tests::metrics::Scrape;

async fn eventually<T>(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        anyhow::ensure!(Instant::now() < deadline, "{what} did not happen within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_reports_its_metrics_and_health_and_fails_health_when_cut_from_the_quorum() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (cluster, links) = ProcessCluster::start_with_links(&skyway_binary(), dir.path(), 3, &[]).await?;
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let follower = *cluster.nodes.keys().find(|id| **id != leader).unwrap();
    let node = &cluster.nodes[&follower];

    // Every node is live, ready and healthy.
    for n in cluster.nodes.values() {
        assert_eq!(http_get(&n.metrics_addr, "/livez").await?.0, 200);
        eventually("readiness", Duration::from_secs(5), async || {
            (http_get(&n.metrics_addr, "/readyz").await.ok()?.0 == 200).then_some(())
        })
        .await?;
        let (status, body) = http_get(&n.metrics_addr, "/health").await?;
        assert_eq!(status, 200, "{body}");
        let health: serde_json::Value = serde_json::from_str(&body)?;
        assert_eq!(health["health"], "true", "{body}");
    }

    // A write through the follower raises its request counter and its applied index.
    let before = Scrape::of(&node.metrics_addr).await?;
    let client = skyway_coord::client::Client::connect(std::slice::from_ref(&node.addr))?;
    let created = client.create_node("/metrics-test", "x").await?;
    // The write is acknowledged by the leader's quorum; the follower applies it just after.
    let after = eventually("the follower applying the write", Duration::from_secs(5), async || {
        let scrape = Scrape::of(&node.metrics_addr).await.ok()?;
        (scrape.value("skyway_coord_raft_applied_index", &[]) >= created.revision.0 as f64).then_some(scrape)
    })
    .await?;
    let creates = |s: &Scrape| {
        s.value("skyway_coord_requests_total", &[("service", "Coord"), ("method", "Create"), ("code", "OK")])
    };
    assert_eq!(creates(&after), creates(&before) + 1.0, "one Create answered OK");
    assert!(after.value("skyway_coord_raft_applied_index", &[]) > before.value("skyway_coord_raft_applied_index", &[]));
    assert!(after.value("skyway_coord_raft_term", &[]) >= 1.0);
    assert_eq!(after.value("skyway_coord_raft_has_leader", &[]), 1.0);
    assert!(after.value("skyway_coord_raft_leader_changes_total", &[]) >= 1.0);
    assert!(after.value("skyway_coord_log_fsync_duration_seconds_count", &[]) >= 1.0, "the follower fsyncs its log");
    assert!(after.value("skyway_coord_request_duration_seconds_count", &[("method", "Create")]) >= 1.0);
    let leader_scrape = Scrape::of(&cluster.nodes[&leader].metrics_addr).await?;
    assert_eq!(leader_scrape.value("skyway_coord_raft_is_leader", &[]), 1.0);

    // The standard gRPC health service, on the client port.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", node.addr))?.connect().await?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    for service in ["", "skyway.coord.v1.Coord"] {
        let answer = health.check(tonic_health::pb::HealthCheckRequest { service: service.into() }).await?;
        assert_eq!(answer.into_inner().status(), tonic_health::pb::health_check_response::ServingStatus::Serving);
    }

    // Server reflection lists the client API and the health service (not the peer transport).
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = ServerReflectionClient::new(channel)
        .server_reflection_info(futures::stream::iter([request]))
        .await?
        .into_inner();
    let answer = answers.message().await?.context("no reflection answer")?;
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        anyhow::bail!("unexpected reflection answer {answer:?}");
    };
    let services: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(services.contains(&"skyway.coord.v1.Coord".to_string()), "{services:?}");
    assert!(services.contains(&"grpc.health.v1.Health".to_string()), "{services:?}");
    assert!(!services.iter().any(|s| s.contains("Raft")), "the peer transport is not advertised: {services:?}");

    // Cut the follower from the other two: its /health fails (503, with a reason), the others' not.
    links.isolate(follower);
    let body = eventually("503 from the isolated node", Duration::from_secs(10), async || {
        let (status, body) = http_get(&node.metrics_addr, "/health").await.ok()?;
        (status == 503).then_some(body)
    })
    .await?;
    let verdict: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(verdict["health"], "false", "{body}");
    assert!(!verdict["reason"].as_str().unwrap_or_default().is_empty(), "{body}");
    let (status, body) = http_get(&cluster.nodes[&leader].metrics_addr, "/health").await?;
    assert_eq!(status, 200, "the majority stays healthy: {body}");

    links.heal();
    eventually("the healed node healthy again", Duration::from_secs(20), async || {
        (http_get(&node.metrics_addr, "/health").await.ok()?.0 == 200).then_some(())
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_reports_the_role_it_holds_and_its_accepted_commands() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let binary = skyway_binary();
    let cluster = ProcessCluster::start(&binary, &dir.path().join("coord"), 3, &[])?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs)?;
    let actuator_args: Vec<String> =
        ["actuator", "--listen", "127.0.0.1:0", "--data-dir", &dir.path().join("actuator").display().to_string()]
            .iter()
            .map(|s| s.to_string())
            .collect();
    let (_actuator, line) = Process::spawn_reporting(
        "actuator",
        &binary,
        &actuator_args,
        &logs.join("actuator.log"),
        Duration::from_secs(10),
    )
    .await?;
    let actuator_addr = line.trim().strip_prefix("listening on ").context("actuator's first line")?.to_string();
    let metrics_addr = format!("127.0.0.1:{}", free_ports(1)?[0]);
    let args: Vec<String> = [
        "controller",
        "--name",
        "m1",
        "--roles",
        "runway/07",
        "--endpoints",
        &cluster.endpoints().join(","),
        "--actuator",
        &actuator_addr,
        "--metrics-listen",
        &metrics_addr,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let _controller = Process::spawn("controller m1", &binary, &args, &logs.join("m1.log"))?;

    let scrape = eventually("the controller acting as primary", Duration::from_secs(15), async || {
        let scrape = Scrape::of(&metrics_addr).await.ok()?;
        let acting = scrape.value("skyway_controller_roles_held", &[]) == 1.0
            && scrape.value("skyway_controller_commands_accepted_total", &[("role", "runway/07")]) >= 2.0;
        acting.then_some(scrape)
    })
    .await?;
    assert_eq!(scrape.value("skyway_controller_takeovers_total", &[("role", "runway/07")]), 1.0);
    assert_eq!(scrape.value("skyway_controller_session_in_doubt", &[]), 0.0);
    assert_eq!(scrape.value("skyway_controller_commands_refused_total", &[("role", "runway/07")]), 0.0);
    let (status, body) = http_get(&metrics_addr, "/health").await?;
    assert_eq!(status, 200, "{body}");
    let names: BTreeMap<&str, ()> = scrape.0.iter().map(|s| (s.metric.as_str(), ())).collect();
    assert!(names.keys().all(|n| n.starts_with("skyway_controller_")), "{names:?}");
    Ok(())
}
