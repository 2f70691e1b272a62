//! `skyway lesson coordinator`: a guided tour of the coordination service on a real 3-node
//! cluster started on this machine (writes, a watch, an ephemeral node vanishing with its
//! session, the membership log, a leader killed and restarted).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use skyway_coord::client::{Client, Consistency, Create, Election, Session, Watcher};

use crate::rig::cluster::ProcessCluster;

/// Flags of `skyway lesson coordinator`.
#[derive(Debug, Args)]
pub struct TourArgs {
    /// Keep the data here instead of a temporary directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Keep the cluster running after the tour, until Ctrl-C, so you can try `skyway ctl`.
    #[arg(long)]
    pub keep_running: bool,
}

fn step(title: &str) {
    println!("\n== {title}");
}

/// Runs the tour.
pub async fn run(args: TourArgs) -> anyhow::Result<ExitCode> {
    let temp = tempfile::tempdir()?;
    let root = args.data_dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let binary = std::env::current_exe().context("cannot find the skyway binary")?;

    step("Starting a 3-node coordinator cluster on 127.0.0.1 (real processes, fsync on)");
    let mut cluster = ProcessCluster::start(&binary, &root, 3, &[])?;
    let started = Instant::now();
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await?;
    println!("nodes {:?}; node {leader} was elected leader in {:?}", cluster.endpoints(), started.elapsed());
    println!("data in {}", root.display());
    let client = cluster.client()?;

    step("A watch on /airport (every change below it, in revision order)");
    let mut watcher = Watcher::start(&client, "/airport", true, 0).await?;
    let watch_task = tokio::spawn(async move {
        while let Ok(events) = watcher.next().await {
            for e in events {
                println!("   watch: @{} {:?} {} {:?}", e.revision.0, e.kind, e.path, String::from_utf8_lossy(&e.data));
            }
        }
    });

    step("Writes: nodes hold small values; every change gets a revision");
    client
        .create(Create {
            path: "/airport/runways/07".into(),
            data: "open".into(),
            make_parents: true,
            ..Default::default()
        })
        .await?;
    let set = client.set("/airport/runways/07", "closed for snow", Some(0)).await?;
    println!("set /airport/runways/07 -> version {}", set.stat.version);
    match client.set("/airport/runways/07", "open", Some(0)).await {
        Err(e) => println!("a stale compare-and-set is refused: {e}"),
        Ok(_) => anyhow::bail!("a stale compare-and-set was accepted"),
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    step("A controller joins with a session (TTL 1 s) and becomes primary for runway 07");
    let session = Session::open(&client, Duration::from_secs(1), Some("controller-a")).await?;
    let election = Election::new(&client, "runway/07")?;
    let candidate = election.campaign(&session, "controller-a").await?;
    let token = candidate.wait_primary(&session).await?;
    println!("controller-a is primary for runway/07 with fencing token {}", token.0);
    client
        .create(Create {
            path: "/airport/controllers/a".into(),
            ephemeral: Some(session.id()),
            make_parents: true,
            ..Default::default()
        })
        .await?;
    println!("it also holds an ephemeral node /airport/controllers/a");

    step("The controller crashes (its keep-alives stop); the leader expires its session after the TTL");
    let crashed = Instant::now();
    drop(candidate);
    drop(session);
    loop {
        if client.exists("/airport/controllers/a", Consistency::Linearizable).await?.stat.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("the ephemeral node vanished {:?} after the crash; the membership log says:", crashed.elapsed());
    for record in client.membership_log(0, Consistency::Linearizable).await? {
        println!("   {record}");
    }

    step(&format!("Killing the leader, node {leader}, with SIGKILL"));
    let killed = Instant::now();
    cluster.kill(leader).await?;
    let survivors: Vec<String> =
        cluster.nodes.values().filter(|n| cluster.is_running(n.id)).map(|n| n.addr.clone()).collect();
    let client = Client::connect(&survivors)?;
    let new_leader = cluster.wait_for_leader(Duration::from_secs(20)).await?;
    println!("node {new_leader} is the new leader, {:?} after the kill", killed.elapsed());
    let node = client.get("/airport/runways/07", Consistency::Linearizable).await?;
    println!("nothing acknowledged was lost: /airport/runways/07 = {:?}", String::from_utf8_lossy(&node.data));
    client.set("/airport/runways/07", "open", None).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;

    step(&format!("Restarting node {leader} from its data directory"));
    cluster.spawn(leader)?;
    cluster.wait_for_leader(Duration::from_secs(20)).await?;
    // Give the restarted node a moment to catch up from the leader, then show everyone.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut statuses = cluster.client()?.status_all().await;
    while Instant::now() < deadline {
        let applied: Vec<u64> = statuses.iter().filter_map(|(_, s)| s.as_ref().ok()).map(|s| s.last_applied).collect();
        if applied.len() == 3 && applied.iter().all(|a| *a == applied[0]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        statuses = cluster.client()?.status_all().await;
    }
    println!("node {leader} rejoined as a follower and caught up from the log:");
    for (endpoint, status) in statuses {
        match status {
            Ok(s) => {
                println!("   {endpoint} node {} {} term {} applied {}", s.node_id, s.raft_role, s.term, s.last_applied)
            }
            Err(e) => println!("   {endpoint} {e}"),
        }
    }
    watch_task.abort();

    if args.keep_running {
        println!(
            "\nThe cluster keeps running. Try:\n  skyway ctl --endpoints {} status\nCtrl-C stops it.",
            cluster.endpoints().join(",")
        );
        tokio::signal::ctrl_c().await?;
    }
    println!("\nDone. `skyway lesson coordinator --keep-running` leaves the cluster up for `skyway ctl`.");
    Ok(ExitCode::SUCCESS)
}
