//! The bridge between openraft and the pure [`CoordState`]: applies committed entries, answers
//! each proposer, builds and installs snapshots, and tells local readers what has been applied.
//!
//! Readers (the gRPC service, watch streams) share the state through [`SharedState`]: a
//! read-write lock around the state plus a `watch` channel carrying the last applied revision,
//! so a linearizable read can wait until its read index is applied and a watch stream can sleep
//! until there is something new.
//!
//! Snapshots are the whole state encoded with postcard, stored in the node's redb file, so a
//! restarted node starts from its latest snapshot and replays only the log after it.
//!
//! Nothing here blocks a runtime worker: encoding or decoding a whole state and committing it to
//! redb (a write transaction ends in an fsync) run on tokio's blocking pool (`off_runtime`), so
//! that a node building a large snapshot keeps answering reads, heartbeats and keep-alives —
//! a stalled worker would be a stalled lease. openraft still waits for the snapshot to be durable
//! before it counts it: the async call returns only after the blocking commit has.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use futures::{Stream, TryStreamExt};
use openraft::entry::RaftEntry;
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder};
use redb::{Database, ReadableDatabase};
use tokio::sync::watch;

use super::codec::{decode, encode};
use super::database::{SNAPSHOT, io_err};
use super::{LogId, Response, Snapshot, SnapshotData, SnapshotMeta, StoredMembership, TypeConfig};
use crate::core::command::{Command, Outcome};
use crate::core::history::HistoryBounds;
use crate::core::invariants::decode_snapshot;
use crate::core::state::CoordState;
use crate::core::types::{Revision, SessionId};
use crate::error::CoordError;
use crate::observe::CoordMetrics;

const SNAPSHOT_META_KEY: &str = "meta";
const SNAPSHOT_DATA_KEY: &str = "data";

/// The applied state, shared between the Raft state machine worker and local readers.
pub struct SharedState {
    state: RwLock<CoordState>,
    applied_tx: watch::Sender<Revision>,
    /// When this node applied each session's opening or last lease checkpoint, by its own clock. Local,
    /// not replicated: a new leader counts a checkpointed remaining TTL from here (see `leases`).
    checkpoint_applied: Mutex<HashMap<SessionId, Instant>>,
}

impl SharedState {
    /// Read access to the state.
    pub fn read(&self) -> RwLockReadGuard<'_, CoordState> {
        self.state.read().expect("state lock poisoned")
    }

    /// When this node applied each session's opening or last lease checkpoint. Take it after
    /// [`SharedState::read`] if both are needed: applying takes them in that order.
    pub fn checkpoint_applied(&self) -> MutexGuard<'_, HashMap<SessionId, Instant>> {
        self.checkpoint_applied.lock().expect("checkpoint times poisoned")
    }

    /// A receiver that sees the last applied revision change.
    pub fn subscribe(&self) -> watch::Receiver<Revision> {
        self.applied_tx.subscribe()
    }

    /// The last applied revision.
    pub fn applied(&self) -> Revision {
        *self.applied_tx.borrow()
    }

    /// Waits until `revision` is applied locally.
    pub async fn wait_applied(&self, revision: Revision) {
        let mut rx = self.subscribe();
        // The sender lives as long as `self`, so this cannot fail while we hold `&self`.
        let _ = rx.wait_for(|applied| *applied >= revision).await;
    }

    /// Waits until `revision` is applied locally, at most `timeout`: a node cut off from the
    /// leader, or far behind it, says so instead of holding its caller forever.
    pub async fn wait_applied_within(&self, revision: Revision, timeout: Duration) -> Result<(), CoordError> {
        tokio::time::timeout(timeout, self.wait_applied(revision)).await.map_err(|_| CoordError::Unavailable {
            reason: format!(
                "this node has applied up to revision {} and did not reach revision {} within {timeout:?}; \
                 it is cut off from the leader or far behind: retry, on another node if it persists",
                self.applied().0,
                revision.0
            ),
        })
    }
}

/// What openraft needs to know about the applied log besides the state itself.
#[derive(Debug, Clone, Default)]
struct AppliedMeta {
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
}

/// openraft's view of the state machine. Cheap to clone.
#[derive(Clone)]
pub struct StateMachineStore {
    shared: Arc<SharedState>,
    meta: Arc<Mutex<AppliedMeta>>,
    db: Arc<Database>,
    history: HistoryBounds,
    /// Where snapshot sizes and durations are recorded, if anywhere.
    metrics: Option<Arc<CoordMetrics>>,
}

impl StateMachineStore {
    /// Opens the state machine, starting from the latest snapshot in `db` if there is one.
    pub fn open(db: Arc<Database>, history: impl Into<HistoryBounds>) -> io::Result<Self> {
        let history = history.into();
        let (state, meta) = match read_snapshot(&db)? {
            Some(snapshot) => {
                let state = decode_snapshot(&snapshot.snapshot, history.events)
                    .map_err(invalid)?
                    .with_history_bytes_max(history.bytes);
                let meta = AppliedMeta {
                    last_applied: snapshot.meta.last_log_id,
                    last_membership: snapshot.meta.last_membership.clone(),
                };
                (state, meta)
            }
            None => (CoordState::new(history.events).with_history_bytes_max(history.bytes), AppliedMeta::default()),
        };
        let (applied_tx, _) = watch::channel(state.revision());
        let shared =
            Arc::new(SharedState { state: RwLock::new(state), applied_tx, checkpoint_applied: Mutex::default() });
        Ok(Self { shared, meta: Arc::new(Mutex::new(meta)), db, history, metrics: None })
    }

    /// Records snapshot sizes and build durations into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<CoordMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn note_snapshot(&self, bytes: usize, built_in: Option<std::time::Duration>) {
        if let Some(metrics) = &self.metrics {
            metrics.snapshot_size_bytes.set(crate::observe::coord_metrics::gauge_value(bytes as u64));
            if let Some(duration) = built_in {
                metrics.snapshot_duration.observe(duration.as_secs_f64());
            }
        }
    }

    /// The state shared with local readers.
    pub fn shared(&self) -> Arc<SharedState> {
        self.shared.clone()
    }

    /// Remembers when this node applied a session's opening or lease checkpoint: a new leader
    /// counts the session's remaining TTL from that moment.
    fn note_lease_start(&self, command: &Command, outcome: &Result<Outcome, CoordError>, state: &CoordState) {
        if outcome.is_err() {
            return;
        }
        let now = Instant::now();
        let mut applied = self.shared.checkpoint_applied();
        match (command, outcome) {
            (Command::OpenSession { .. }, Ok(Outcome::SessionOpened { session, .. })) => {
                applied.insert(*session, now);
            }
            (Command::CheckpointLeases { remaining }, _) => {
                let open = remaining.iter().map(|(id, _)| *id).filter(|id| state.sessions().contains_key(id));
                applied.extend(open.map(|id| (id, now)));
            }
            (Command::CloseSession { session }, _) => {
                applied.remove(session);
            }
            (Command::ExpireSessions { sessions }, _) => sessions.iter().for_each(|id| {
                applied.remove(id);
            }),
            _ => {}
        }
    }

    fn save_snapshot(&self, snapshot: &Snapshot) -> io::Result<()> {
        let meta = encode(&snapshot.meta)?;
        let txn = self.db.begin_write().map_err(io_err)?;
        {
            let mut table = txn.open_table(SNAPSHOT).map_err(io_err)?;
            table.insert(SNAPSHOT_META_KEY, meta.as_slice()).map_err(io_err)?;
            table.insert(SNAPSHOT_DATA_KEY, snapshot.snapshot.as_slice()).map_err(io_err)?;
        }
        txn.commit().map_err(io_err)
    }
}

fn invalid(error: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

fn read_snapshot(db: &Database) -> io::Result<Option<Snapshot>> {
    let txn = db.begin_read().map_err(io_err)?;
    let table = txn.open_table(SNAPSHOT).map_err(io_err)?;
    let (Some(meta), Some(data)) =
        (table.get(SNAPSHOT_META_KEY).map_err(io_err)?, table.get(SNAPSHOT_DATA_KEY).map_err(io_err)?)
    else {
        return Ok(None);
    };
    let meta: SnapshotMeta = decode(meta.value())?;
    Ok(Some(Snapshot { meta, snapshot: data.value().to_vec() }))
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> io::Result<Snapshot> {
        let started = Instant::now();
        let store = self.clone();
        let snapshot = off_runtime(move || store.build_and_save_snapshot()).await?;
        self.note_snapshot(snapshot.snapshot.len(), Some(started.elapsed()));
        tracing::info!(bytes = snapshot.snapshot.len(), last = ?snapshot.meta.last_log_id, "built snapshot");
        Ok(snapshot)
    }
}

impl StateMachineStore {
    /// Encodes the applied state and commits it to redb. Blocking: call through [`off_runtime`].
    fn build_and_save_snapshot(&self) -> io::Result<Snapshot> {
        // Encode under the read lock so the snapshot and its metadata describe the same point.
        let (data, meta) = {
            let state = self.shared.read();
            let meta = self.meta.lock().expect("meta lock poisoned").clone();
            (state.to_snapshot().map_err(|e| invalid(format!("snapshot: {e}")))?, meta)
        };
        let snapshot = Snapshot {
            meta: SnapshotMeta { last_log_id: meta.last_applied, last_membership: meta.last_membership },
            snapshot: data,
        };
        self.save_snapshot(&snapshot)?;
        Ok(snapshot)
    }
}

/// Runs blocking storage work (a large encode, a redb commit and its fsync) on tokio's blocking
/// pool and waits for it, so that the caller's runtime worker stays free meanwhile.
async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| io::Error::other(format!("a blocking storage task did not finish: {e}")))?
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> io::Result<(Option<LogId>, StoredMembership)> {
        let meta = self.meta.lock().expect("meta lock poisoned");
        Ok((meta.last_applied, meta.last_membership.clone()))
    }

    async fn apply<S>(&mut self, mut entries: S) -> io::Result<()>
    where
        S: Stream<Item = io::Result<EntryResponder<TypeConfig>>> + Unpin + OptionalSend,
    {
        let mut last = None;
        while let Some((entry, responder)) = entries.try_next().await? {
            let log_id = entry.log_id();
            let revision = Revision(log_id.index());
            let response = {
                let mut state = self.shared.state.write().expect("state lock poisoned");
                match &entry.payload {
                    EntryPayload::Normal(proposal) => {
                        let answer = state.apply_request(
                            revision,
                            proposal.request.as_ref(),
                            &proposal.caller,
                            &proposal.command,
                        );
                        // A duplicate answered from memory changed nothing, leases included.
                        if answer.revision == revision {
                            self.note_lease_start(&proposal.command, &answer.result, &state);
                        }
                        Some(answer)
                    }
                    EntryPayload::Blank => {
                        state.apply_empty(revision);
                        None
                    }
                    EntryPayload::Membership(membership) => {
                        state.apply_empty(revision);
                        self.meta.lock().expect("meta lock poisoned").last_membership =
                            StoredMembership::new(Some(log_id), membership.clone());
                        None
                    }
                }
            };
            self.meta.lock().expect("meta lock poisoned").last_applied = Some(log_id);
            if let Some(responder) = responder {
                responder.send(response.unwrap_or(Response { revision, result: Ok(Outcome::Empty) }));
            }
            last = Some(revision);
        }
        if let Some(revision) = last {
            self.shared.applied_tx.send_replace(revision);
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMeta, snapshot: SnapshotData) -> io::Result<()> {
        let (store, meta_owned) = (self.clone(), meta.clone());
        // Decoded and made durable before it replaces the state: a crash in between restarts
        // from the installed snapshot, never from a state that was not saved.
        let (state, bytes) = off_runtime(move || {
            let state = decode_snapshot(&snapshot, store.history.events)
                .map_err(invalid)?
                .with_history_bytes_max(store.history.bytes);
            let snapshot = Snapshot { meta: meta_owned, snapshot };
            store.save_snapshot(&snapshot)?;
            Ok((state, snapshot.snapshot.len()))
        })
        .await?;
        let revision = state.revision();
        self.note_snapshot(bytes, None);
        *self.shared.state.write().expect("state lock poisoned") = state;
        // Checkpoints inside the snapshot were applied elsewhere: count them from now instead.
        self.shared.checkpoint_applied().clear();
        *self.meta.lock().expect("meta lock poisoned") =
            AppliedMeta { last_applied: meta.last_log_id, last_membership: meta.last_membership.clone() };
        self.shared.applied_tx.send_replace(revision);
        tracing::info!(last = ?meta.last_log_id, "installed snapshot");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> io::Result<Option<Snapshot>> {
        // Copies the whole snapshot out of the file: not on a runtime worker either.
        let db = self.db.clone();
        off_runtime(move || read_snapshot(&db)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::database::init_database;

    fn store() -> StateMachineStore {
        let db = redb::Database::builder().create_with_backend(redb::backends::InMemoryBackend::new()).unwrap();
        StateMachineStore::open(init_database(db).unwrap(), HistoryBounds { events: 100, bytes: 1 << 20 }).unwrap()
    }

    /// Waiting for an index that is never applied (a node cut off from its leader) ends with an
    /// error that says where the node is, not never.
    #[tokio::test]
    async fn waiting_for_an_index_never_applied_times_out_with_a_clear_error() {
        let shared = store().shared();
        shared.wait_applied_within(Revision(0), Duration::ZERO).await.expect("revision 0 is applied");
        let error = shared.wait_applied_within(Revision(7), Duration::from_millis(20)).await.unwrap_err();
        assert!(matches!(error, CoordError::Unavailable { .. }), "{error}");
        let message = error.to_string();
        assert!(message.contains("applied up to revision 0") && message.contains("revision 7"), "{message}");
    }
}
