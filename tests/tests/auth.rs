//! Authentication and permissions on a real cluster, managed through the real `skyway ctl`:
//! users minted with `ctl user add`, grants with `ctl acl set`, `ctl auth enable` refused until a
//! root user exists. Then each rule of least privilege, as the demo's processes would meet it:
//! a controller cannot campaign for a role it was not granted; a camera cannot overwrite
//! another camera's URL; an analyzer writes only its results; nobody writes the membership log;
//! a missing or wrong token is UNAUTHENTICATED; a refused transaction changes nothing; a revoke
//! takes effect at once; and all of it survives a restart of every node from a snapshot.

use std::process::Output;
use std::time::Duration;

use bytes::Bytes;
use skyway_coord::CoordError;
use skyway_coord::client::{Client, ClientOptions, Consistency, Create, Election, Op, Session, Txn};
use skyway_coord::proto::coord as pb;
use skyway_tests::harness::{http_get, http_post_json, skyway_binary, start_cluster};

async fn skyway(args: &[&str]) -> anyhow::Result<Output> {
    Ok(tokio::process::Command::new(skyway_binary()).args(args).output().await?)
}

/// `skyway ctl --endpoints E [--token T] ARGS -w json`, which must succeed; its JSON answer.
async fn ctl(endpoints: &str, token: Option<&str>, args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let mut all = vec!["ctl", "--endpoints", endpoints, "-w", "json"];
    if let Some(token) = token {
        all.extend(["--token", token]);
    }
    all.extend(args);
    let out = skyway(&all).await?;
    anyhow::ensure!(out.status.success(), "ctl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn client(endpoints: &[String], token: &str) -> anyhow::Result<Client> {
    Ok(Client::new(endpoints, ClientOptions::default().with_token(Some(token.to_string())))?)
}

/// Asserts `result` is a permission refusal naming `identity`, `path` and `permission`.
fn assert_denied<T: std::fmt::Debug>(result: Result<T, CoordError>, identity: &str, path: &str, permission: &str) {
    match result {
        Err(CoordError::PermissionDenied { identity: who, path: at, permission: what, .. }) => {
            assert_eq!((who.as_str(), at.as_str(), what.as_str()), (identity, path, permission));
        }
        other => panic!("expected {identity} to be refused {permission} on {path}, got {other:?}"),
    }
}

async fn data(client: &Client, path: &str) -> anyhow::Result<(Bytes, u64)> {
    let node = client.get(path, Consistency::Linearizable).await?;
    Ok((node.data, node.stat.mod_revision.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_holds_and_survives_a_restart_from_a_snapshot() -> anyhow::Result<()> {
    // Snapshots after every 20 entries, so the restart below loads the table from one.
    let (mut cluster, _dir) = start_cluster(&["--snapshot-after", "20"])?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let endpoints = cluster.endpoints();
    let e = endpoints.join(",");

    // Bootstrap while authentication is off: `auth enable` first refuses (no root yet).
    let out = skyway(&["ctl", "--endpoints", &e, "auth", "enable"]).await?;
    assert!(!out.status.success(), "auth enable without a root user was accepted");
    assert!(String::from_utf8_lossy(&out.stderr).contains("ctl user add root"), "{out:?}");
    let mut tokens = std::collections::BTreeMap::new();
    for name in ["root", "controller-a", "camera-1", "camera-2", "analyzer-1"] {
        let added = ctl(&e, None, &["user", "add", name]).await?;
        tokens.insert(name, added["token"].as_str().expect("a token").to_string());
    }
    let root = client(&endpoints, &tokens["root"])?;
    for path in ["/roles/runway/07", "/roles/runway/09", "/cameras/cam-1/latest", "/cameras/cam-2/latest"] {
        root.create(Create { path: path.into(), make_parents: true, ..Default::default() }).await?;
    }
    for path in ["/analysis/cam-1", "/analysis/cam-2"] {
        root.create(Create { path: path.into(), make_parents: true, ..Default::default() }).await?;
    }
    for (path, identity, perms) in [
        ("/roles/runway/07", "controller-a", "cd"),
        ("/cameras/cam-1", "camera-1", "rwcd"),
        ("/cameras/cam-2", "camera-2", "rwcd"),
        ("/analysis/cam-1", "analyzer-1", "w"),
        ("/", "*", "r"),
    ] {
        ctl(&e, None, &["acl", "set", path, identity, perms]).await?;
    }
    ctl(&e, None, &["auth", "enable"]).await?;
    let users = ctl(&e, Some(&tokens["root"]), &["user", "list"]).await?;
    assert_eq!(users["auth_enabled"], true);
    assert_eq!(users["users"].as_array().map(Vec::len), Some(5));
    let acl = ctl(&e, Some(&tokens["root"]), &["acl", "get", "/cameras/cam-1/latest"]).await?;
    let perms: Vec<_> = acl["grants"].as_array().unwrap().iter().map(|g| g["perms"].as_str().unwrap()).collect();
    assert_eq!(perms, ["r----", "rwcd-"], "{acl}");

    // No token, a wrong token: UNAUTHENTICATED, from the library and on the wire.
    let anonymous = Client::connect(&endpoints)?;
    let refused = anonymous.get("/", Consistency::Linearizable).await;
    assert!(matches!(refused, Err(CoordError::Unauthenticated { .. })), "{refused:?}");
    let wrong = client(&endpoints, "not-a-token")?;
    let refused = wrong.set("/cameras/cam-1/latest", "x", None).await;
    assert!(matches!(refused, Err(CoordError::Unauthenticated { .. })), "{refused:?}");
    let mut raw = pb::coord_client::CoordClient::connect(format!("http://{}", endpoints[0])).await?;
    let status = raw.get(pb::GetRequest { path: "/".into(), consistency: 0 }).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    let out = skyway(&["ctl", "--endpoints", &e, "--token", "nope", "get", "/"]).await?;
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("unauthenticated"), "{out:?}");

    // A controller campaigns for its role, never for one it was not granted.
    let controller = client(&endpoints, &tokens["controller-a"])?;
    let session = Session::open(&controller, Duration::from_secs(2), Some("controller-a")).await?;
    let candidate = Election::new(&controller, "runway/07")?.campaign(&session, "a").await?;
    assert!(candidate.path().starts_with("/roles/runway/07/"), "{}", candidate.path());
    let refused = Election::new(&controller, "runway/09")?.campaign(&session, "a").await.map(|c| c.path().to_string());
    assert_denied(refused, "controller-a", "/roles/runway/09/c-", "create");
    assert!(root.children("/roles/runway/09", Consistency::Linearizable).await?.names.is_empty());
    let refused = controller.set("/cameras/cam-1/latest", "x", None).await;
    assert_denied(refused, "controller-a", "/cameras/cam-1/latest", "write");

    // A camera records its own URL and cannot overwrite another camera's.
    let camera = client(&endpoints, &tokens["camera-1"])?;
    camera.set("/cameras/cam-1/latest", "s3://frames/cam-1/1.jpg", None).await?;
    let before = data(&root, "/cameras/cam-2/latest").await?;
    let refused = camera.set("/cameras/cam-2/latest", "s3://evil", None).await;
    assert_denied(refused, "camera-1", "/cameras/cam-2/latest", "write");
    assert_eq!(data(&root, "/cameras/cam-2/latest").await?, before);

    // An analyzer writes only its camera's results.
    let analyzer = client(&endpoints, &tokens["analyzer-1"])?;
    analyzer.set("/analysis/cam-1", "{\"vehicles\": 3}", None).await?;
    assert_denied(analyzer.set("/analysis/cam-2", "{}", None).await, "analyzer-1", "/analysis/cam-2", "write");
    let refused = analyzer.set("/cameras/cam-1/latest", "x", None).await;
    assert_denied(refused, "analyzer-1", "/cameras/cam-1/latest", "write");

    // The membership log is read-only to everyone, root included (reserved: no grant opens
    // it); everyone may read it.
    let refused = root.create_node("/skyway/log/m-forged", "x").await;
    assert!(matches!(refused, Err(CoordError::Reserved { .. })), "{refused:?}");
    assert_denied(camera.create_node("/skyway/log/m-forged", "x").await, "camera-1", "/skyway/log/m-forged", "create");
    let log = camera.membership_log(0, Consistency::Linearizable).await?;
    assert!(log.iter().any(|r| r.member == "controller-a"), "{log:?}");

    // A refused transaction changes nothing, though its first step was allowed.
    let own = data(&root, "/cameras/cam-1/latest").await?;
    let other = data(&root, "/cameras/cam-2/latest").await?;
    let set = |path: &str| Op::Set { path: path.into(), data: "t".into(), expected_version: None };
    let txn = Txn { ops: vec![set("/cameras/cam-1/latest"), set("/cameras/cam-2/latest")], ..Default::default() };
    assert_denied(camera.txn(txn).await, "camera-1", "/cameras/cam-2/latest", "write");
    assert_eq!(
        (data(&root, "/cameras/cam-1/latest").await?, data(&root, "/cameras/cam-2/latest").await?),
        (own, other)
    );

    // Only an admin changes the table; a revoke applies from its entry on.
    let refused = controller.set_acl("/roles", "controller-a", "all").await;
    assert_denied(refused, "controller-a", "/roles", "admin");
    let refused = camera.add_user("mallory", "t").await;
    assert_denied(refused, "camera-1", "/", "admin");
    // Listing sessions shows every member and owner: an admin's view only.
    assert_denied(camera.list_sessions(0, 0).await, "camera-1", "/", "admin");
    let sessions = root.list_sessions(0, 0).await?;
    assert!(sessions.sessions.iter().any(|s| s.owner.as_deref() == Some("controller-a")), "{sessions:?}");
    root.set_acl("/cameras/cam-1", "camera-1", "").await?;
    let refused = camera.set("/cameras/cam-1/latest", "x", None).await;
    assert_denied(refused, "camera-1", "/cameras/cam-1/latest", "write");
    root.set_acl("/cameras/cam-1", "camera-1", "rwcd").await?;
    drop(candidate);
    session.close().await?;

    // Enough entries for a snapshot, then every node killed and restarted.
    for i in 0..30 {
        camera.set("/cameras/cam-1/latest", format!("s3://frames/cam-1/{i}.jpg"), None).await?;
    }
    for id in 1..=3 {
        cluster.kill(id).await?;
    }
    for id in 1..=3 {
        cluster.spawn(id)?;
    }
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let snapshots = (1..=3)
        .filter(|id| std::fs::read_to_string(cluster.log_path(*id)).is_ok_and(|log| log.contains("built snapshot")));
    assert!(snapshots.count() > 0, "no node built a snapshot");
    let refused = anonymous.get("/", Consistency::Linearizable).await;
    assert!(matches!(refused, Err(CoordError::Unauthenticated { .. })), "after restart: {refused:?}");
    camera.set("/cameras/cam-1/latest", "after restart", None).await?;
    let refused = camera.set("/cameras/cam-2/latest", "s3://evil", None).await;
    assert_denied(refused, "camera-1", "/cameras/cam-2/latest", "write");

    // Authentication off again: everyone may do everything.
    ctl(&e, Some(&tokens["root"]), &["auth", "disable"]).await?;
    anonymous.set("/cameras/cam-2/latest", "anyone", None).await?;
    Ok(())
}

/// `skyway demo --auth --tls`: every process runs with its own token and least privilege, over
/// TLS with a certificate of its own (nodes demand client certificates), and still
/// does its job — every role commanded, frames recorded and read back by the analyzer — with
/// no split brain and no refusal in any process's log. (The rules themselves, the analyzer's
/// result write among them, are proven above; this proves the demo's grants are enough.)
/// Results are not counted: the first needs a full analysis period, which a loaded 2-core
/// machine does not always reach in the run, with or without `--auth`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_with_auth_and_tls_runs_every_process_with_least_privilege_over_tls() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(skyway_binary());
    command
        .args(["demo", "--auth", "--tls", "--duration", "40", "--speed", "4", "--analyzers", "1", "--warmup-min", "2"])
        .args(["--listen", "127.0.0.1:0", "--output", "json", "--data-dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("cannot run skyway demo");
    // The dashboard's URL is on stderr (stdout is the JSON report); the rest of stderr is kept
    // for the failure message.
    let (url_tx, url_rx) = tokio::sync::oneshot::channel();
    let stderr = child.stderr.take().unwrap();
    let stderr_lines = tokio::spawn(async move {
        let (mut lines, mut kept, mut url_tx) =
            (tokio::io::BufReader::new(stderr).lines(), String::new(), Some(url_tx));
        while let Ok(Some(line)) = lines.next_line().await {
            if let (Some(url), Some(tx)) =
                (line.split("dashboard: ").nth(1), url_tx.take_if(|_| line.contains("dashboard: ")))
            {
                let _ = tx.send(url.trim().trim_start_matches("http://").trim_end_matches('/').to_string());
            }
            kept.push_str(&line);
            kept.push('\n');
        }
        kept
    });
    let addr = tokio::time::timeout(Duration::from_secs(60), url_rx)
        .await
        .expect("the demo printed no dashboard URL within 60 s")
        .expect("the demo ended before printing its dashboard URL");
    // The operator's order under --auth: the demo's identity writes it, the segment's primary
    // reads it and closes the lane with its own fenced command.
    let (status, answer) =
        http_post_json(&addr, "/api/faults", r#"{"action":"close-lane","target":"segment/2","lane":2}"#).await.unwrap();
    assert_eq!(status, 200, "the operator's order: {answer}");
    let deadline = std::time::Instant::now() + Duration::from_secs(25);
    loop {
        let (_, body) = http_get(&addr, "/api/state").await.unwrap();
        let state: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let segment = &state["world"]["highway"]["segments"][1];
        let closed_by_primary = segment["closed"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["lane"] == 2 && c["by"][0].as_str().is_some_and(|by| by.starts_with('c')));
        if closed_by_primary {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "lane 2 of segment/2 never closed by its primary: {segment}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut stdout = String::new();
    tokio::io::AsyncReadExt::read_to_string(child.stdout.as_mut().unwrap(), &mut stdout).await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(120), child.wait())
        .await
        .expect("the demo did not end within 120 s")
        .expect("cannot wait for skyway demo");
    let stderr = stderr_lines.await.unwrap_or_default();
    let output = Output { status, stdout: stdout.into_bytes(), stderr: stderr.into_bytes() };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); stderr:\n{}", String::from_utf8_lossy(&output.stderr)));
    let logs = dir.keep();
    let collector = &report["collector"];
    let problems: Vec<&str> = [
        (output.status.success(), "the demo reported a violation"),
        (report["every_role_commanded"] == true, "a role was never commanded"),
        (report["split_brains"] == 0, "split brain"),
        (collector["frames_recorded"].as_u64().unwrap_or(0) > 0, "no camera recorded a frame"),
        (collector["frames_analysed"].as_u64().unwrap_or(0) > 0, "the analyzer read no frame"),
    ]
    .into_iter()
    .filter_map(|(ok, what)| (!ok).then_some(what))
    .collect();
    assert!(problems.is_empty(), "{problems:?}\nreport: {report:#}\nlogs in {}", logs.display());
    // Nothing any process did was refused: the grants are enough, not just mostly enough.
    let refused: Vec<String> = walk(&logs.join("logs"))
        .into_iter()
        .filter(|path| std::fs::read_to_string(path).is_ok_and(|log| log.contains("permission denied")))
        .map(|path| path.display().to_string())
        .collect();
    assert!(refused.is_empty(), "refusals in {refused:?}");
    // --tls: every node served its clients over TLS and its peers over mutual TLS, and every
    // process had a certificate of its own.
    let serving: Vec<String> = walk(&logs)
        .into_iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|log| {
            log.lines()
                .filter(|l| l.contains("serving clients") || l.contains("serving peers"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(serving.len() >= 6, "three nodes, each serving clients and peers: {serving:#?}");
    assert!(serving.iter().all(|l| l.contains("tls=true")), "a node served plaintext: {serving:#?}");
    for identity in ["demo", "c1", "c2", "c3", "a1"] {
        assert!(logs.join("certs").join(format!("client-{identity}.pem")).exists(), "no certificate for {identity}");
    }
    let _ = std::fs::remove_dir_all(logs);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().flat_map(|e| if e.path().is_dir() { walk(&e.path()) } else { vec![e.path()] }).collect()
}
