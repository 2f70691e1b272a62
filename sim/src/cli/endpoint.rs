//! `skyway ctl endpoint status|health`: each endpoint asked on its own, in etcdctl's table.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::json;
use skyway_coord::client::{Client, ClientOptions, Consistency};

use super::ctl::{Output, print};

/// etcdctl's `endpoint status` table: one row per endpoint.
pub async fn status(endpoints: &[String], options: ClientOptions, out: Output) -> anyhow::Result<()> {
    let client = Client::new(endpoints, options)?;
    let statuses = client.status_all().await;
    if out == Output::Human {
        println!(
            "{:<22} {:>4} {:<28} {:>9} {:>10} {:>9} {:>10} {:>18} ERRORS",
            "ENDPOINT", "ID", "VERSION", "IS LEADER", "IS LEARNER", "RAFT TERM", "RAFT INDEX", "RAFT APPLIED INDEX"
        );
    }
    let mut any_ok = false;
    for (endpoint, status) in statuses {
        match status {
            Ok(s) => {
                any_ok = true;
                let leader = s.leader_id == Some(s.node_id);
                let learner = s.learners.contains(&s.node_id);
                print(
                    out,
                    || {
                        format!(
                            "{endpoint:<22} {:>4} {:<28} {:>9} {:>10} {:>9} {:>10} {:>18} {}",
                            s.node_id,
                            format!("{} ({})", s.version, s.commit),
                            leader,
                            learner,
                            s.term,
                            s.last_log_index,
                            s.last_applied,
                            if s.leader_id.is_some() { "" } else { "no leader" }
                        )
                    },
                    || {
                        json!({"endpoint": endpoint, "id": s.node_id, "version": s.version, "commit": s.commit, "is_leader": leader, "is_learner": learner,
                               "raft_term": s.term, "raft_index": s.last_log_index, "raft_applied_index": s.last_applied,
                               "leader": s.leader_id, "errors": if s.leader_id.is_some() { vec![] } else { vec!["no leader"] }})
                    },
                );
            }
            Err(e) => print(
                out,
                || {
                    format!(
                        "{endpoint:<22} {:>4} {:<28} {:>9} {:>10} {:>9} {:>10} {:>18} {e}",
                        "-", "-", "-", "-", "-", "-", "-"
                    )
                },
                || json!({"endpoint": endpoint, "errors": [e.to_string()]}),
            ),
        }
    }
    if !any_ok {
        anyhow::bail!("no endpoint answered: is the cluster running at {}?", endpoints.join(","));
    }
    Ok(())
}

/// etcdctl's `endpoint health`: a linearizable read on each endpoint alone (it goes through the
/// quorum), timed. Exits 1 if any endpoint is unhealthy.
pub async fn health(
    endpoints: &[String],
    options: ClientOptions,
    out: Output,
    timeout: Duration,
) -> anyhow::Result<ExitCode> {
    let mut all_healthy = true;
    for endpoint in endpoints {
        let started = Instant::now();
        let verdict = match Client::new(std::slice::from_ref(endpoint), options.clone()) {
            Err(e) => Err(e.to_string()),
            Ok(client) => match tokio::time::timeout(timeout, client.exists("/", Consistency::Linearizable)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {timeout:?}")),
            },
        };
        let took = started.elapsed();
        match verdict {
            Ok(()) => print(
                out,
                || format!("{endpoint} is healthy: successfully read through the quorum: took = {took:?}"),
                || json!({"endpoint": endpoint, "health": true, "took_ms": took.as_secs_f64() * 1e3}),
            ),
            Err(error) => {
                all_healthy = false;
                print(
                    out,
                    || format!("{endpoint} is unhealthy: failed to read through the quorum: {error}"),
                    || json!({"endpoint": endpoint, "health": false, "took_ms": took.as_secs_f64() * 1e3, "error": error}),
                );
            }
        }
    }
    if !all_healthy {
        eprintln!("error: unhealthy cluster");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
