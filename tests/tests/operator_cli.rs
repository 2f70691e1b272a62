//! The operator's command line, through the real binary: `--output`/`-w` anywhere on the line,
//! `ctl stat`, `ctl txn` from standard input (and a bad file refused, changing nothing), `ctl
//! session list|revoke`, `ctl endpoint status|health` (etcdctl's table; unhealthy exits 1), shell
//! completions, and `coord serve` configured from a TOML file and environment variables.

use std::process::{Output, Stdio};
use std::time::Duration;

use skyway_coord::client::{Consistency, Session};
use skyway_sim::rig::cluster::free_ports;
use skyway_sim::rig::process::Process;
use skyway_tests::harness::{http_get, skyway_binary, start_cluster};
use tokio::io::AsyncWriteExt;

async fn skyway(args: &[&str], stdin: Option<&str>) -> anyhow::Result<Output> {
    let mut child = tokio::process::Command::new(skyway_binary())
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(text) = stdin {
        let mut input = child.stdin.take().unwrap();
        input.write_all(text.as_bytes()).await?;
        drop(input);
    }
    Ok(child.wait_with_output().await?)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_commands_and_output_flags_anywhere_on_the_line() -> anyhow::Result<()> {
    let (cluster, _dir) = start_cluster(&[])?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let endpoints = cluster.endpoints().join(",");
    let e = ["--endpoints", endpoints.as_str()];
    let client = cluster.client()?;

    // --output after the subcommand, -w before it, --write-out as etcdctl spells it.
    for flags in [vec!["status", "--output", "json"], vec!["-w", "json", "status"], vec!["status", "--write-out=json"]]
    {
        let args: Vec<&str> = ["ctl"].into_iter().chain(e).chain(flags.iter().copied()).collect();
        let out = skyway(&args, None).await?;
        assert!(out.status.success(), "{flags:?}: {}", stderr(&out));
        for line in stdout(&out).lines() {
            let status: serde_json::Value = serde_json::from_str(line)?;
            assert!(status["id"].as_u64().is_some(), "{line}");
        }
    }

    // txn from standard input: every op in one revision.
    let txn = r#"{"checks": [{"path": "/t", "exists": false}],
                  "ops": [{"create": {"path": "/t", "data": "1"}}, {"create": {"path": "/u", "data": "2"}}]}"#;
    let out = skyway(&["ctl", e[0], e[1], "txn", "-", "-w", "json"], Some(txn)).await?;
    assert!(out.status.success(), "{}", stderr(&out));
    let answer: serde_json::Value = serde_json::from_str(stdout(&out).trim())?;
    let revision = answer["revision"].as_u64().unwrap();
    let t = client.get("/t", Consistency::Linearizable).await?;
    let u = client.get("/u", Consistency::Linearizable).await?;
    assert_eq!((t.data.as_ref(), u.data.as_ref()), (&b"1"[..], &b"2"[..]));
    assert_eq!(t.stat.create_revision.0, revision);
    assert_eq!(u.stat.create_revision.0, revision);

    // The same checks again fail, and a malformed file is refused before anything is sent.
    let out = skyway(&["ctl", e[0], e[1], "txn"], Some(txn)).await?;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("nothing was applied"), "{}", stderr(&out));
    let out = skyway(&["ctl", e[0], e[1], "txn"], Some(r#"{"ops": [{"put": {"path": "/x"}}]}"#)).await?;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unknown variant `put`"), "{}", stderr(&out));
    let t_after = client.get("/t", Consistency::Linearizable).await?;
    assert_eq!(t_after.stat.mod_revision.0, revision, "the failed txn changed /t");
    assert!(client.exists("/x", Consistency::Linearizable).await?.stat.is_none(), "the malformed txn applied an op");

    // stat: the stat without the value.
    let out = skyway(&["ctl", e[0], e[1], "stat", "/t", "-w", "json"], None).await?;
    assert!(out.status.success(), "{}", stderr(&out));
    let stat: serde_json::Value = serde_json::from_str(stdout(&out).trim())?;
    assert_eq!(stat["stat"]["create_revision"].as_u64(), Some(revision));
    assert_eq!(stat["stat"]["data_length"].as_u64(), Some(1));
    let out = skyway(&["ctl", e[0], e[1], "stat", "/missing"], None).await?;
    assert!(!out.status.success() && stderr(&out).contains("/missing"), "{}", stderr(&out));

    // session revoke: the session's ephemeral node goes with it.
    let session = Session::open(&client, Duration::from_secs(30), None).await?;
    client
        .create(skyway_coord::client::Create {
            path: "/eph".into(),
            ephemeral: Some(session.id()),
            ..Default::default()
        })
        .await?;
    let id = session.id().0.to_string();
    let out = skyway(&["ctl", e[0], e[1], "session", "revoke", &id], None).await?;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        client.exists("/eph", Consistency::Linearizable).await?.stat.is_none(),
        "revoked: its ephemeral node is gone"
    );

    // endpoint status: etcdctl's table, exactly one leader.
    let out = skyway(&["ctl", e[0], e[1], "endpoint", "status"], None).await?;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("ENDPOINT") && text.contains("IS LEADER") && text.contains("RAFT APPLIED INDEX"),
        "{text}"
    );
    let out = skyway(&["ctl", e[0], e[1], "endpoint", "status", "-w", "json"], None).await?;
    let leaders = stdout(&out)
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v["is_leader"] == true))
        .count();
    assert_eq!(leaders, 1, "{}", stdout(&out));

    // Every node reports the build it runs: the same version and commit as `skyway --version`.
    let version = skyway(&["--version"], None).await?;
    let version = stdout(&version);
    let commit = version.split("(commit ").nth(1).and_then(|rest| rest.split(')').next()).unwrap_or_default();
    assert!(commit.len() == 12 || commit == "unknown", "--version names the commit: {version}");
    for line in stdout(&out).lines() {
        let status: serde_json::Value = serde_json::from_str(line)?;
        assert_eq!(status["version"], env!("CARGO_PKG_VERSION"), "{line}");
        assert_eq!(status["commit"], commit, "{line}");
    }

    // endpoint health: healthy; a dead endpoint makes it exit 1 and says which.
    let out = skyway(&["ctl", e[0], e[1], "endpoint", "health"], None).await?;
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out).matches("is healthy").count(), 3, "{}", stdout(&out));
    let dead = format!("127.0.0.1:{}", free_ports(1)?[0]);
    let out = skyway(&["ctl", "--endpoints", &dead, "endpoint", "health", "--timeout-ms", "1000"], None).await?;
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains(&format!("{dead} is unhealthy")), "{}", stdout(&out));
    Ok(())
}

/// `ctl session list`: every open session with its TTL, the time the leader still gives it, its
/// member name and ephemeral nodes, from any node (a follower asks the leader for the time
/// left), in pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_session_list_shows_each_session_from_any_node_in_pages() -> anyhow::Result<()> {
    let (cluster, _dir) = start_cluster(&[])?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let client = cluster.client()?;
    let camera = Session::open(&client, Duration::from_secs(30), Some("camera-1")).await?;
    let plain = Session::open(&client, Duration::from_secs(20), None).await?;
    let short = Session::open(&client, Duration::from_secs(10), None).await?;
    client
        .create(skyway_coord::client::Create {
            path: "/cam-eph".into(),
            ephemeral: Some(camera.id()),
            ..Default::default()
        })
        .await?;
    let ids = [camera.id().0, plain.id().0, short.id().0];
    let ttls = [30_000, 20_000, 10_000];

    for endpoint in cluster.endpoints() {
        let out = skyway(&["ctl", "--endpoints", &endpoint, "session", "list", "-w", "json"], None).await?;
        assert!(out.status.success(), "{endpoint}: {}", stderr(&out));
        let list: serde_json::Value = serde_json::from_str(stdout(&out).trim())?;
        assert_eq!(list["total"], 3, "{endpoint}: {list}");
        assert!(list["remaining_unknown"].is_null(), "{endpoint}: the leader was not asked: {list}");
        let sessions = list["sessions"].as_array().unwrap();
        let listed: Vec<u64> = sessions.iter().map(|s| s["id"].as_u64().unwrap()).collect();
        assert_eq!(listed, ids, "{endpoint}: sessions in id order");
        for (session, ttl) in sessions.iter().zip(ttls) {
            assert_eq!(session["ttl_ms"], ttl, "{endpoint}: {session}");
            let remaining = session["remaining_ms"].as_u64().expect("the leader's time left");
            assert!(remaining > 0 && remaining <= ttl, "{endpoint}: {remaining} ms left of {ttl}: {session}");
        }
        assert_eq!(sessions[0]["member"], "camera-1", "{list}");
        // Joining the membership is an ephemeral node too.
        let ephemerals = serde_json::json!(["/cam-eph", "/skyway/members/camera-1"]);
        assert_eq!(sessions[0]["ephemerals"], ephemerals, "{list}");
        assert_eq!(sessions[0]["ephemeral_count"], 2, "{list}");
        assert!(sessions[1]["member"].is_null() && sessions[1]["ephemeral_count"] == 0, "{list}");
    }

    // Pages: --limit stops early and says where to go on; --after goes on from there.
    let e = cluster.endpoints().join(",");
    let out = skyway(&["ctl", "--endpoints", &e, "session", "list", "--limit", "2", "-w", "json"], None).await?;
    let first: serde_json::Value = serde_json::from_str(stdout(&out).trim())?;
    assert_eq!(first["sessions"].as_array().map(Vec::len), Some(2), "{first}");
    assert_eq!(first["next_after"], ids[1], "{first}");
    let after = ids[1].to_string();
    let out = skyway(&["ctl", "--endpoints", &e, "session", "list", "--after", &after, "-w", "json"], None).await?;
    let rest: serde_json::Value = serde_json::from_str(stdout(&out).trim())?;
    let rest_ids: Vec<u64> = rest["sessions"].as_array().unwrap().iter().map(|s| s["id"].as_u64().unwrap()).collect();
    assert_eq!(rest_ids, [ids[2]], "{rest}");
    assert!(rest["next_after"].is_null(), "{rest}");

    // The table, for people; a revoked session is gone from it.
    let out = skyway(&["ctl", "--endpoints", &e, "session", "list", "--limit", "2"], None).await?;
    let text = stdout(&out);
    assert!(text.starts_with(&format!("{:>20}", "SESSION")) && text.contains("REMAINING"), "{text}");
    assert!(text.contains("camera-1") && text.contains("/cam-eph") && text.contains("30.0s"), "{text}");
    assert!(text.contains("more: skyway ctl session list --after"), "{text}");
    let revoke = ids[0].to_string();
    assert!(skyway(&["ctl", "--endpoints", &e, "session", "revoke", &revoke], None).await?.status.success());
    let out = skyway(&["ctl", "--endpoints", &e, "session", "list", "-w", "json"], None).await?;
    let after_revoke: serde_json::Value = serde_json::from_str(stdout(&out).trim())?;
    assert_eq!(after_revoke["total"], 2, "{after_revoke}");
    let out = skyway(&["ctl", "--endpoints", &e, "session", "list", "--limit", "20000"], None).await?;
    assert!(out.status.success(), "pages are capped by the client: {}", stderr(&out));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_for_each_shell() -> anyhow::Result<()> {
    for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef skyway"), ("fish", "complete -c skyway")] {
        let out = skyway(&["completions", shell], None).await?;
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        assert!(script.contains("endpoint") && script.contains("metrics-listen"), "{shell}: subcommands and flags");
    }
    let out = skyway(&["completions", "tcsh"], None).await?;
    assert!(!out.status.success() && stderr(&out).contains("bash"), "{}", stderr(&out));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coord_serve_reads_a_toml_file_and_the_environment_wins_over_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ports = free_ports(4)?;
    let (listen, metrics_from_file, metrics_from_env, peer) = (
        format!("127.0.0.1:{}", ports[0]),
        format!("127.0.0.1:{}", ports[1]),
        format!("127.0.0.1:{}", ports[2]),
        format!("127.0.0.1:{}", ports[3]),
    );
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "id = 1\nlisten = \"{listen}\"\npeers = [\"1={peer}\"]\ndata-dir = \"{}\"\nmetrics-listen = \"{metrics_from_file}\"\nelection-timeout-ms = 300\n",
            dir.path().join("data").display()
        ),
    )?;
    let args: Vec<String> = ["coord", "serve", "--config", &config.display().to_string()].map(String::from).to_vec();
    let _node = Process::spawn_env(
        "node 1",
        &skyway_binary(),
        &args,
        &[("SKYWAY_METRICS_LISTEN", &metrics_from_env)],
        &dir.path().join("node.log"),
    )?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok((200, _)) = http_get(&metrics_from_env, "/health").await {
            break;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the node from the file never became healthy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(http_get(&metrics_from_file, "/health").await.is_err(), "the environment wins over the file");
    let client = skyway_coord::client::Client::connect(&[listen])?;
    client.create_node("/configured", "yes").await?;

    // A key that is no flag is refused, naming the keys there are.
    std::fs::write(&config, "data_dir = \"/tmp/x\"\n")?;
    let out = skyway(&["coord", "serve", "--config", &config.display().to_string()], None).await?;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unknown key \"data_dir\"") && stderr(&out).contains("data-dir"), "{}", stderr(&out));
    Ok(())
}
