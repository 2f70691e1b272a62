//! The Raft log and vote on disk, in `raft-log`: a chunked write-ahead log with group commit,
//! by openraft's author and used in production by databend-meta.
//!
//! Durability: [`RaftLogStorage::append`] hands the entries to the log device and asks for a
//! flush *with fsync*; openraft is told the entries are flushed only from the device's
//! callback, after the fsync, and acknowledges a write only once a majority has flushed it.
//! The vote is saved the same way and waited for before it is answered. Appends made while an
//! fsync is in flight share the next one ([`GroupCommit`]), and a record is one sequential write
//! to one file — far less disk work per write than a B-tree commit.
//!
//! The common path does not wait on the disk on a runtime worker: `raft-log` queues records
//! in memory, and its own flush thread writes them, fsyncs and then runs the callbacks; the
//! async methods hold the device's lock for that in-memory work, and those that must wait (the
//! vote, a truncation) await the flush thread's answer.
//!
//! The commit index and purges are written without an fsync of their own: losing them in a
//! crash is harmless (the commit index is re-learned from the leader; purged entries below the
//! snapshot are ignored), and the next synced flush carries them to disk.
//!
//! The device is a trait ([`LogDevice`]) so that the tests can put a crash model under this
//! adapter: a device that loses everything not synced, proving that nothing is reported
//! flushed before it is durable.
//!
//! Caveats: `raft-log` keeps the log's index in memory (payloads are cached up to a bound and
//! read back from disk beyond it); snapshots keep the log short. Three rare device calls still
//! touch the disk on the runtime worker, holding the lock: an append that fills the open chunk
//! (`raft-log` creates the next chunk file and fsyncs the directory, once per
//! [`LOG_CHUNK_RECORDS`] records or [`LOG_CHUNK_BYTES`]), a read of entries evicted from the
//! payload cache (a follower far behind), and an append that waits for room in `raft-log`'s 64 MiB flush queue while the disk is stalled.
//! Moving every device call to a thread of the log's own (branch `raftlog-log-thread`: a
//! bounded channel, appends returning once queued, the newest entries read from memory) was
//! measured with `skyway bench --local-cluster --op put --clients 1,16,64`: at 64 clients it
//! cost about 30% more server CPU per put and about a quarter of the throughput, so it was
//! not taken.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::type_config::TypeConfigExt;
use openraft::{EntryPayload, OptionalSend, RaftLogReader};
use prometheus_client::metrics::histogram::Histogram;
use raft_log::api::raft_log_writer::RaftLogWriter;
use raft_log::codeq::{Decode, Encode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::codec::{decode, encode};
use super::{Entry, LogId, TypeConfig, Vote};

/// Who is told when a flush is on disk.
pub enum Flushed {
    /// openraft, for appended entries.
    Raft(IOFlushed<TypeConfig>),
    /// A caller waiting for a synchronous save (the vote, a truncation).
    Waiter(openraft::alias::OneshotSenderOf<TypeConfig, io::Result<()>>),
    /// Another callback, timed from the flush request to its completion.
    Timed(Box<Flushed>, std::time::Instant, Histogram),
    /// The callbacks of one group commit, in order, then the group told that its flush is done.
    Batch(Vec<Flushed>, Option<Arc<GroupCommit>>),
}

impl Flushed {
    /// Delivers the flush's result.
    pub fn complete(self, result: io::Result<()>) {
        match self {
            Flushed::Raft(callback) => callback.io_completed(result),
            Flushed::Waiter(tx) => {
                let _ = openraft::type_config::async_runtime::OneshotSender::send(tx, result);
            }
            Flushed::Timed(inner, started, histogram) => {
                histogram.observe(started.elapsed().as_secs_f64());
                inner.complete(result);
            }
            Flushed::Batch(callbacks, group) => {
                for callback in callbacks {
                    // io::Error is not Clone: each callback hears the same kind and message.
                    callback.complete(result.as_ref().map(|_| ()).map_err(|e| io::Error::new(e.kind(), e.to_string())));
                }
                if let Some(group) = group {
                    group.flush_done();
                }
            }
        }
    }
}

/// Group commit above the device: at most one fsync'd flush of appended entries is in flight.
/// openraft appends again before the last append is on disk; each append asking the device for
/// a sync of its own made the log fsync about once per two writes under load (the device's
/// flush thread syncs one request at a time when it does not wait for more, and waiting would
/// add to every write at low load). Here an append made while a sync is in flight only queues
/// its callback; when that sync completes, one more sync covers every append queued meanwhile.
/// At low load nothing is ever queued and an append is synced at once, as before.
///
/// Ordering: a queued callback is always for entries appended after the sync in flight was
/// asked for, so it completes after it; a synchronous save (the vote, a truncation) takes the
/// queued callbacks into its own flush, ahead of its waiter, so they keep their order too.
pub struct GroupCommit {
    state: Mutex<GroupState>,
    /// Asks the follow-up task for the next sync (it needs the device, which the flush thread
    /// that runs the callbacks must never wait for).
    follow_up: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<()>>,
}

#[derive(Default)]
struct GroupState {
    /// A sync of appended entries is in flight (or about to be asked for by the follow-up task).
    in_flight: bool,
    /// Callbacks of appends made while it was, oldest first.
    waiting: Vec<Flushed>,
}

impl GroupCommit {
    fn new() -> Arc<Self> {
        Arc::new(Self { state: Mutex::new(GroupState::default()), follow_up: std::sync::OnceLock::new() })
    }

    fn state(&self) -> MutexGuard<'_, GroupState> {
        self.state.lock().expect("group commit lock poisoned")
    }

    /// Called by the flush thread when a group's sync is done.
    fn flush_done(&self) {
        let mut state = self.state();
        if state.waiting.is_empty() {
            state.in_flight = false;
        } else if self.follow_up.get().is_none_or(|follow_up| follow_up.send(()).is_err()) {
            // No follow-up task (the store is gone): the next append takes them along.
            state.in_flight = false;
        }
        // Otherwise it stays in flight: the follow-up task asks for the next sync.
    }
}

/// The durable state a log device reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceState {
    /// The last saved vote.
    pub vote: Option<Vote>,
    /// The last entry's id.
    pub last: Option<LogId>,
    /// The last committed id written.
    pub committed: Option<LogId>,
    /// The last purged id.
    pub purged: Option<LogId>,
}

/// What the log store needs from the storage underneath. Writes take effect for reads at
/// once; they are durable only when a `flush(sync = true)` reports completion.
pub trait LogDevice: Send + 'static {
    /// The current state (including writes not yet flushed).
    fn state(&self) -> DeviceState;
    /// Entries with index in `from..to`.
    fn read(&self, from: u64, to: u64) -> io::Result<Vec<Entry>>;
    /// Records a vote.
    fn save_vote(&mut self, vote: Vote) -> io::Result<()>;
    /// Appends entries.
    fn append(&mut self, entries: Vec<Entry>) -> io::Result<()>;
    /// Removes entries at and after `from` (which must exist).
    fn truncate(&mut self, from: u64) -> io::Result<()>;
    /// Removes entries up to and including `upto`.
    fn purge(&mut self, upto: LogId) -> io::Result<()>;
    /// Records the committed id.
    fn commit(&mut self, committed: LogId) -> io::Result<()>;
    /// Writes out everything so far; with `sync`, durably. `done` hears when that is so.
    fn flush(&mut self, sync: bool, done: Option<Flushed>) -> io::Result<()>;
}

/// A value stored in `raft-log`, encoded with postcard behind a length prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Encoded<T>(pub T);

impl<T: Serialize> Encode for Encoded<T> {
    fn encode<W: io::Write>(&self, mut w: W) -> io::Result<usize> {
        let bytes = encode(&self.0)?;
        w.write_all(&(bytes.len() as u32).to_be_bytes())?;
        w.write_all(&bytes)?;
        Ok(bytes.len() + 4)
    }
}

impl<T: DeserializeOwned> Decode for Encoded<T> {
    fn decode<R: io::Read>(mut r: R) -> io::Result<Self> {
        let mut len = [0u8; 4];
        r.read_exact(&mut len)?;
        let mut bytes = vec![0u8; u32::from_be_bytes(len) as usize];
        r.read_exact(&mut bytes)?;
        Ok(Self(decode(&bytes)?))
    }
}

impl raft_log::Callback for Flushed {
    fn send(self, result: io::Result<()>) {
        self.complete(result);
    }
}

/// `raft-log`'s type configuration.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WalTypes;

impl raft_log::Types for WalTypes {
    type LogId = Encoded<LogId>;
    type LogPayload = Encoded<openraft::alias::EntryPayloadOf<TypeConfig>>;
    type Vote = Encoded<Vote>;
    type Callback = Flushed;
    type UserData = Encoded<()>;

    fn log_index(log_id: &Self::LogId) -> u64 {
        log_id.0.index()
    }

    fn payload_size(payload: &Self::LogPayload) -> u64 {
        match &payload.0 {
            EntryPayload::Normal(proposal) => 96 + proposal.command.approximate_bytes() as u64,
            _ => 64,
        }
    }
}

/// Log entries whose payloads `raft-log` keeps in memory; older ones are read from disk.
pub const LOG_CACHE_ENTRIES: usize = 8192;
/// The payload cache's bound in bytes (by [`raft_log::Types::payload_size`]'s estimate).
pub const LOG_CACHE_BYTES: usize = 64 << 20;

/// Records per log chunk file: what one chunk holds in memory, and the unit of purging.
pub const LOG_CHUNK_RECORDS: usize = 16_384;
/// Bytes per log chunk file at most.
pub const LOG_CHUNK_BYTES: usize = 64 << 20;

/// The production device: `raft-log` in a directory.
pub struct RaftLogDevice(raft_log::RaftLog<WalTypes>);

impl RaftLogDevice {
    /// Opens (or creates) the log in `dir`.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut config = raft_log::Config::new(dir.display());
        // The payload cache serves replication (followers read the newest entries) and
        // nothing else; raft-log's default of 100,000 entries and 1 GiB held every entry since
        // the last few snapshots in memory — 100 MB and more on every node of a busy cluster.
        config.log_cache_max_items = Some(LOG_CACHE_ENTRIES);
        config.log_cache_capacity = Some(LOG_CACHE_BYTES);
        // raft-log keeps every payload of the open chunk in memory (only a closed chunk's are
        // evictable) and purges whole chunks: with its default 1 GiB / 1 Mi-record chunks a
        // node held about 800 bytes of memory and all the disk of every write since its start,
        // snapshots or not (300 MB after 300,000 puts).
        config.wal.chunk_max_records = Some(LOG_CHUNK_RECORDS);
        config.wal.chunk_max_size = Some(LOG_CHUNK_BYTES);
        // No waiting for more requests once one arrives (it would add its wait to every write
        // at low load, timer slack included); the batching is the store's group commit.
        config.wal.flush_batch_wait = Some(std::time::Duration::ZERO);
        Ok(Self(raft_log::RaftLog::open(Arc::new(config))?))
    }
}

impl LogDevice for RaftLogDevice {
    fn state(&self) -> DeviceState {
        let state = self.0.log_state();
        DeviceState {
            vote: state.vote().map(|v| v.0),
            last: state.last().map(|l| l.0),
            committed: state.committed().map(|l| l.0),
            purged: state.purged().map(|l| l.0),
        }
    }

    fn read(&self, from: u64, to: u64) -> io::Result<Vec<Entry>> {
        self.0
            .read(from, to)
            .map(|item| item.map(|(log_id, payload)| Entry { log_id: log_id.0, payload: payload.0 }))
            .collect()
    }

    fn save_vote(&mut self, vote: Vote) -> io::Result<()> {
        self.0.save_vote(Encoded(vote)).map(drop)
    }

    fn append(&mut self, entries: Vec<Entry>) -> io::Result<()> {
        self.0.append(entries.into_iter().map(|entry| (Encoded(entry.log_id()), Encoded(entry.payload)))).map(drop)
    }

    fn truncate(&mut self, from: u64) -> io::Result<()> {
        self.0.truncate(from).map(drop)
    }

    fn purge(&mut self, upto: LogId) -> io::Result<()> {
        self.0.purge(Encoded(upto)).map(drop)
    }

    fn commit(&mut self, committed: LogId) -> io::Result<()> {
        self.0.commit(Encoded(committed)).map(drop)
    }

    fn flush(&mut self, sync: bool, done: Option<Flushed>) -> io::Result<()> {
        self.0.flush(sync, done)
    }
}

/// openraft's log storage over a [`LogDevice`].
pub struct WalStore<D: LogDevice = RaftLogDevice> {
    device: Arc<Mutex<D>>,
    group: Arc<GroupCommit>,
    /// Where fsync'd flushes are timed, if anywhere.
    fsync: Option<Histogram>,
}

impl<D: LogDevice> Clone for WalStore<D> {
    fn clone(&self) -> Self {
        Self { device: self.device.clone(), group: self.group.clone(), fsync: self.fsync.clone() }
    }
}

impl<D: LogDevice> Debug for WalStore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WalStore")
    }
}

impl WalStore<RaftLogDevice> {
    /// Opens (or creates) the log in `dir`.
    pub fn open(dir: &Path) -> io::Result<Self> {
        Ok(Self::new(RaftLogDevice::open(dir)?))
    }

    /// How many entries' payloads the log holds in memory (the open chunk's and the cache's).
    pub fn payloads_in_memory(&self) -> u64 {
        self.lock().0.stat().payload_cache_item_count
    }
}

impl<D: LogDevice> WalStore<D> {
    /// A store over `device`.
    pub fn new(device: D) -> Self {
        Self { device: Arc::new(Mutex::new(device)), group: GroupCommit::new(), fsync: None }
    }

    /// Times every fsync'd flush, from the request to the device's report, into `histogram`.
    pub fn with_fsync_histogram(mut self, histogram: Histogram) -> Self {
        self.fsync = Some(histogram);
        self
    }

    fn timed(&self, done: Flushed) -> Flushed {
        match &self.fsync {
            Some(histogram) => Flushed::Timed(Box::new(done), std::time::Instant::now(), histogram.clone()),
            None => done,
        }
    }

    fn lock(&self) -> MutexGuard<'_, D> {
        self.device.lock().expect("log device lock poisoned")
    }

    /// Flushes with fsync and waits until it is on disk. Appends queued for the next group
    /// commit ride along, ahead of the waiter (see [`GroupCommit`]).
    async fn flush_and_wait(&self) -> io::Result<()> {
        let (tx, rx) = TypeConfig::oneshot();
        {
            let mut device = self.lock();
            let mut callbacks = std::mem::take(&mut self.group.state().waiting);
            callbacks.push(self.timed(Flushed::Waiter(tx)));
            device.flush(true, Some(Flushed::Batch(callbacks, None)))?;
        }
        rx.await.map_err(|_| io::Error::other("the log's flush worker stopped"))?
    }

    /// The task that asks for a group's follow-up sync, started with the first append (a
    /// runtime is there then). It ends when the store's last clone is dropped.
    fn start_follow_up(&self) {
        self.group.follow_up.get_or_init(|| {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
            // Weak handles: the channel closes when the group goes with the store's last clone.
            let (device, group) = (Arc::downgrade(&self.device), Arc::downgrade(&self.group));
            tokio::spawn(async move {
                while rx.recv().await.is_some() {
                    let (Some(device), Some(group)) = (device.upgrade(), group.upgrade()) else { return };
                    let mut device = device.lock().expect("log device lock poisoned");
                    let callbacks = std::mem::take(&mut group.state().waiting);
                    if callbacks.is_empty() {
                        // A synchronous save took them along meanwhile.
                        group.state().in_flight = false;
                        continue;
                    }
                    let batch = Flushed::Batch(callbacks, Some(group.clone()));
                    if let Err(e) = device.flush(true, Some(batch)) {
                        // The device refused the request; the callbacks went with it, and
                        // openraft hears nothing for them, as with a failed append.
                        tracing::error!("the log refused a group commit: {e}");
                        group.state().in_flight = false;
                    }
                }
            });
            tx
        });
    }
}

impl<D: LogDevice> RaftLogReader<TypeConfig> for WalStore<D> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> io::Result<Vec<Entry>> {
        let from = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i + 1,
            Bound::Unbounded => 0,
        };
        let to = match range.end_bound() {
            Bound::Included(i) => i + 1,
            Bound::Excluded(i) => *i,
            Bound::Unbounded => u64::MAX,
        };
        self.lock().read(from, to)
    }

    async fn read_vote(&mut self) -> io::Result<Option<Vote>> {
        Ok(self.lock().state().vote)
    }
}

impl<D: LogDevice> RaftLogStorage<TypeConfig> for WalStore<D> {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> io::Result<LogState<TypeConfig>> {
        let state = self.lock().state();
        Ok(LogState { last_purged_log_id: state.purged, last_log_id: state.last.or(state.purged) })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> io::Result<()> {
        self.lock().save_vote(*vote)?;
        self.flush_and_wait().await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> io::Result<()> {
        if let Some(committed) = committed {
            let mut device = self.lock();
            device.commit(committed)?;
            device.flush(false, None)?;
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> io::Result<Option<LogId>> {
        Ok(self.lock().state().committed)
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> io::Result<()>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
    {
        self.start_follow_up();
        let mut device = self.lock();
        device.append(entries.into_iter().collect())?;
        // Reported flushed only by the device, after the fsync: this append's own, or the
        // group commit's next one if a sync is in flight.
        let callback = self.timed(Flushed::Raft(callback));
        let callbacks = {
            let mut group = self.group.state();
            group.waiting.push(callback);
            if group.in_flight {
                return Ok(());
            }
            group.in_flight = true;
            std::mem::take(&mut group.waiting)
        };
        let batch = Flushed::Batch(callbacks, Some(self.group.clone()));
        let result = device.flush(true, Some(batch));
        if result.is_err() {
            self.group.state().in_flight = false;
        }
        result
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> io::Result<()> {
        let from = last_log_id.map_or(0, |id| id.index() + 1);
        {
            let mut device = self.lock();
            // Nothing at or after `from`: nothing to truncate (raft-log refuses a missing index).
            if device.state().last.is_none_or(|last| last.index() < from) {
                return Ok(());
            }
            device.truncate(from)?;
        }
        self.flush_and_wait().await
    }

    async fn purge(&mut self, log_id: LogId) -> io::Result<()> {
        let mut device = self.lock();
        device.purge(log_id)?;
        device.flush(false, None)
    }
}
