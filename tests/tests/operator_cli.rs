//! The operator's command line, through the real binary: `--output`/`-w` anywhere on the line,
//! `ctl stat`, `ctl txn` from standard input (and a bad file refused, changing nothing), `ctl
//! session revoke`, `ctl endpoint status|health` (etcdctl's table; unhealthy exits 1), shell
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
