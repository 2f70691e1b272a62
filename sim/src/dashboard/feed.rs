//! Filling the history from a live system: the world's snapshots and the actuator's decisions
//! (in the demo, where the world runs in this process), and the coordinator's nodes and
//! membership log (anywhere a client reaches it).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use skyway_controller::proto::AuditEntry;
use skyway_coord::client::{Client, Consistency};
use skyway_coord::core::membership::MembershipKind;
use skyway_coord::proto::coord as pb;
use tokio::sync::{broadcast, watch};

use super::history::{Frame, History, MemberChange, NodeSample, Record};
use crate::live::snapshot::Snapshot;

/// How often the coordinator's nodes and membership log are sampled.
pub const COORDINATOR_EVERY: Duration = Duration::from_millis(500);

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Records every decision and a frame per snapshot until aborted.
pub async fn world(
    history: Arc<Mutex<History>>,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    mut decisions: broadcast::Receiver<AuditEntry>,
) {
    loop {
        tokio::select! {
            decision = decisions.recv() => match decision {
                Ok(entry) => {
                    history.lock().expect("history poisoned").push(Record::Decision { entry });
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "the dashboard fell behind the actuator: {missed} decisions not drawn");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            changed = snapshots.changed() => {
                if changed.is_err() {
                    return;
                }
                let snapshot = snapshots.borrow_and_update().clone();
                let frame = Frame {
                    at_ms: unix_ms(),
                    time_s: snapshot.stats.time_s,
                    speed: snapshot.speed,
                    stats: snapshot.stats.clone(),
                    vehicles: snapshot.vehicles.clone(),
                    movers: snapshot.movers.clone(),
                    segments: snapshot.segments.values().cloned().collect(),
                    runways: snapshot.runways.values().cloned().collect(),
                };
                history.lock().expect("history poisoned").frame(frame);
            }
        }
    }
}

/// The sample of one node's status answer.
pub fn sample(endpoint: &str, status: &Result<pb::StatusResponse, skyway_coord::CoordError>) -> NodeSample {
    match status {
        Ok(s) => NodeSample {
            endpoint: endpoint.to_string(),
            id: s.node_id,
            up: true,
            role: s.raft_role.clone(),
            term: s.term,
            committed: s.committed,
            applied: s.last_applied,
            leader: if s.has_leader { s.leader_id } else { 0 },
        },
        Err(e) => NodeSample {
            endpoint: endpoint.to_string(),
            id: 0,
            up: false,
            role: format!("down: {e}"),
            term: 0,
            committed: 0,
            applied: 0,
            leader: 0,
        },
    }
}

/// Samples the nodes and follows the membership log until aborted.
pub async fn coordinator(history: Arc<Mutex<History>>, client: Client) {
    let mut from = 0;
    let mut last: Vec<NodeSample> = Vec::new();
    let mut ids: Vec<u64> = Vec::new();
    loop {
        let statuses = client.status_all().await;
        let mut nodes: Vec<NodeSample> = statuses.iter().map(|(endpoint, s)| sample(endpoint, s)).collect();
        // A node that is down keeps the id it had when it answered.
        ids.resize(nodes.len(), 0);
        for (node, id) in nodes.iter_mut().zip(ids.iter_mut()) {
            if node.up {
                *id = node.id;
            } else {
                node.id = *id;
            }
        }
        if nodes != last {
            let at_ms = unix_ms();
            history.lock().expect("history poisoned").push(Record::Coordinator { at_ms, nodes: nodes.clone() });
            last = nodes;
        }
        match client.membership_log(from, Consistency::Linearizable).await {
            Ok(records) => {
                let at_ms = unix_ms();
                let mut history = history.lock().expect("history poisoned");
                for r in records {
                    from = from.max(r.revision.0 + 1);
                    let kind = match r.kind {
                        MembershipKind::Joined => "joined",
                        MembershipKind::Left => "left",
                        MembershipKind::Failed => "failed",
                    };
                    let change = MemberChange { revision: r.revision.0, kind: kind.into(), member: r.member };
                    history.push(Record::Membership { at_ms, change });
                }
            }
            // The log's window moved past what this feed had read (more churn between two
            // polls than the log keeps): say so and go on from the oldest record kept.
            Err(skyway_coord::CoordError::LogTrimmed { requested, oldest, records_max }) => {
                tracing::warn!(
                    requested,
                    oldest,
                    records_max,
                    "membership records were trimmed before the dashboard read them"
                );
                from = oldest;
            }
            Err(e) => tracing::debug!("cannot read the membership log now: {e}"),
        }
        tokio::time::sleep(COORDINATOR_EVERY).await;
    }
}
