//! Filling the history from a live system: the world's snapshots and the actuator's decisions
//! (in the demo, where the world runs in this process), and from the coordinator (anywhere a
//! client reaches it) its nodes (sampled: status is not watchable), the membership log and the
//! cameras' and analyzers' records (both streamed by watches, which resume on another node when
//! one fails, from the revision after the last one delivered).
//!
//! A watch is started before the first read of what is already there, so nothing that changes
//! in between is missed; what both deliver is taken once (the membership log by revision, a
//! camera's frames by sequence number).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::collections::BTreeMap;

use bytes::Bytes;
use skyway_collector::record::{self, AnalysisRecord, Calibration, FrameRecord};
use skyway_controller::proto::AuditEntry;
use skyway_coord::CoordError;
use skyway_coord::client::{Client, Consistency, NodeStatus, WatchEventKind, Watcher};
use skyway_coord::core::membership::{LOG_PATH, LOG_RECORD_PREFIX, MembershipKind, MembershipRecord};
use skyway_storage::BlobStore;
use tokio::sync::{broadcast, watch};

use super::history::{Frame, History, MemberChange, NodeSample, Record, TruthCount};
use crate::live::snapshot::Snapshot;

/// How often the coordinator's nodes are sampled.
pub const COORDINATOR_EVERY: Duration = Duration::from_millis(500);
/// How long a watch that cannot go on (every node refused it) waits before starting over.
const WATCH_RESTART: Duration = Duration::from_secs(1);

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
                    orders: snapshot.orders.clone(),
                    runways: snapshot.runways.values().cloned().collect(),
                };
                history.lock().expect("history poisoned").frame(frame);
            }
        }
    }
}

/// The sample of one node's status answer.
pub fn sample(endpoint: &str, status: &Result<NodeStatus, skyway_coord::CoordError>) -> NodeSample {
    match status {
        Ok(s) => NodeSample {
            endpoint: endpoint.to_string(),
            id: s.node_id,
            up: true,
            role: s.raft_role.clone(),
            term: s.term,
            committed: s.committed,
            applied: s.last_applied,
            leader: s.leader_id.unwrap_or(0),
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

/// Samples the nodes until aborted.
pub async fn coordinator(history: Arc<Mutex<History>>, client: Client) {
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
        tokio::time::sleep(COORDINATOR_EVERY).await;
    }
}

/// Streams the membership log from a watch until aborted: every record once, in order, across
/// coordinator failovers (the watcher resumes elsewhere; if it cannot, this starts over and
/// reads what it missed from the log itself).
pub async fn membership(history: Arc<Mutex<History>>, client: Client) {
    let mut next = 0;
    loop {
        if let Err(e) = follow_membership(&history, &client, &mut next).await {
            tracing::warn!("the dashboard's watch of the membership log stopped ({e}); starting over");
        }
        tokio::time::sleep(WATCH_RESTART).await;
    }
}

fn take_member(history: &Mutex<History>, next: &mut u64, r: MembershipRecord) {
    if r.revision.0 < *next {
        return;
    }
    *next = r.revision.0 + 1;
    let kind = match r.kind {
        MembershipKind::Joined => "joined",
        MembershipKind::Left => "left",
        MembershipKind::Failed => "failed",
    };
    let change = MemberChange { revision: r.revision.0, kind: kind.into(), member: r.member };
    history.lock().expect("history poisoned").push(Record::Membership { at_ms: unix_ms(), change });
}

async fn follow_membership(history: &Mutex<History>, client: &Client, next: &mut u64) -> Result<(), CoordError> {
    let mut watcher = Watcher::start(client, LOG_PATH, true, 0).await?;
    let missed = match client.membership_log(*next, Consistency::Linearizable).await {
        Ok(records) => records,
        // The log's window moved past what the dashboard had read (more churn while it was
        // away than the log keeps): say so and go on from the oldest record kept.
        Err(CoordError::LogTrimmed { requested, oldest, records_max }) => {
            tracing::warn!(
                requested,
                oldest,
                records_max,
                "membership records were trimmed before the dashboard read them"
            );
            *next = oldest;
            client.membership_log(oldest, Consistency::Linearizable).await?
        }
        Err(e) => return Err(e),
    };
    for r in missed {
        take_member(history, next, r);
    }
    loop {
        for event in watcher.next().await? {
            // The watch also sees the log's own node (made with the first record): not a record.
            if event.kind != WatchEventKind::Created || !event.path.starts_with(LOG_RECORD_PREFIX) {
                continue;
            }
            match MembershipRecord::from_bytes(&event.data, event.revision) {
                Ok(r) => take_member(history, next, r),
                Err(e) => tracing::warn!("skipping a membership record the dashboard cannot read: {e}"),
            }
        }
    }
}

/// Streams the cameras' frame records and the analyzers' results from watches of `/cameras` and
/// `/analysis` until aborted, and reads each new frame's truth from `store` (None: no truth).
pub async fn cameras(history: Arc<Mutex<History>>, client: Client, store: Option<BlobStore>) {
    loop {
        if let Err(e) = follow_cameras(&history, &client, store.as_ref()).await {
            tracing::warn!("the dashboard's watch of the cameras stopped ({e}); starting over");
        }
        tokio::time::sleep(WATCH_RESTART).await;
    }
}

async fn follow_cameras(
    history: &Mutex<History>,
    client: &Client,
    store: Option<&BlobStore>,
) -> Result<(), CoordError> {
    let mut frames = Watcher::start(client, record::CAMERAS, true, 0).await?;
    let mut results = Watcher::start(client, record::ANALYSIS, true, 0).await?;
    let ids = match client.children(record::CAMERAS, Consistency::Linearizable).await {
        Ok(children) => children.names,
        Err(CoordError::NotFound { .. }) => Vec::new(),
        Err(e) => return Err(e),
    };
    for id in ids {
        for path in [record::calibration_path(&id), record::latest_path(&id), record::analysis_path(&id)] {
            match client.get(&path, Consistency::Linearizable).await {
                Ok(got) => take_camera(history, store, &path, &got.data).await,
                Err(CoordError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    loop {
        // Both watchers' `next` are cancel-safe: an event is taken only when returned.
        let events = tokio::select! {
            events = frames.next() => events?,
            events = results.next() => events?,
        };
        // Only the newest value of each node matters (a camera writes five a second).
        let newest: BTreeMap<String, Bytes> =
            events.into_iter().filter(|e| e.kind != WatchEventKind::Deleted).map(|e| (e.path, e.data)).collect();
        for (path, data) in newest {
            take_camera(history, store, &path, &data).await;
        }
    }
}

/// Takes one camera node's value into the history; what does not parse is logged and skipped.
async fn take_camera(history: &Mutex<History>, store: Option<&BlobStore>, path: &str, data: &[u8]) {
    // Nodes are made empty before their first value (an analyzer makes its result node so that
    // its first result can be a conditional set): nothing to take yet, and nothing wrong.
    if data.is_empty() {
        return;
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["cameras", id, "latest"] => {
            let Ok(frame) = serde_json::from_slice::<FrameRecord>(data) else {
                tracing::warn!("{path} holds no frame record the dashboard can read");
                return;
            };
            let (camera, seq, truth) = (frame.camera.clone(), frame.seq, frame.truth.clone());
            if camera != *id || !history.lock().expect("history poisoned").camera_frame(unix_ms(), frame) {
                return;
            }
            let Some(store) = store else { return };
            let blob = skyway_storage::BlobRef { url: truth.url, sha256: truth.sha256, size: truth.size };
            match store
                .get(&blob)
                .await
                .map_err(|e| e.to_string())
                .and_then(|bytes| serde_json::from_slice::<skyway_collector::Truth>(&bytes).map_err(|e| e.to_string()))
            {
                Ok(truth) => {
                    history.lock().expect("history poisoned").camera_truth(&camera, seq, TruthCount::of(&truth))
                }
                Err(e) => tracing::debug!("cannot read the truth of {camera} frame {seq}: {e}"),
            }
        }
        ["cameras", id, "calibration"] => match serde_json::from_slice::<Calibration>(data) {
            Ok(c) => history.lock().expect("history poisoned").camera_stretch(id, c.camera.stretch_length_m),
            Err(e) => tracing::warn!("{path} holds no calibration the dashboard can read: {e}"),
        },
        ["analysis", id] => match serde_json::from_slice::<AnalysisRecord>(data) {
            Ok(a) => history.lock().expect("history poisoned").camera_analysis(id, a),
            Err(e) => tracing::warn!("{path} holds no analysis the dashboard can read: {e}"),
        },
        _ => {}
    }
}
