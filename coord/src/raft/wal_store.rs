//! The Raft log and vote on disk, in `raft-log`: a chunked write-ahead log with group commit,
//! by openraft's author and used in production by databend-meta.
//!
//! Durability: [`RaftLogStorage::append`] hands the entries to the log device and asks for a
//! flush *with fsync*; openraft is told the entries are flushed only from the device's
//! callback, after the fsync, and acknowledges a write only once a majority has flushed it.
//! The vote is saved the same way and waited for before it is answered. Concurrent appends
//! share one fsync (group commit), and a record is one sequential write to one file — far less
//! disk work per write than a B-tree commit.
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
//! (`raft-log` creates the next chunk file and fsyncs the directory, once per 1 GiB or 1 Mi
//! records), a read of entries evicted from the payload cache (a follower far behind), and an
//! append that waits for room in `raft-log`'s 64 MiB flush queue while the disk is stalled.
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
        }
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

/// The production device: `raft-log` in a directory.
pub struct RaftLogDevice(raft_log::RaftLog<WalTypes>);

impl RaftLogDevice {
    /// Opens (or creates) the log in `dir`.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut config = raft_log::Config::new(dir.display());
        // Group commit gathers whatever is queued; waiting for more would only add latency.
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
    /// Where fsync'd flushes are timed, if anywhere.
    fsync: Option<Histogram>,
}

impl<D: LogDevice> Clone for WalStore<D> {
    fn clone(&self) -> Self {
        Self { device: self.device.clone(), fsync: self.fsync.clone() }
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
}

impl<D: LogDevice> WalStore<D> {
    /// A store over `device`.
    pub fn new(device: D) -> Self {
        Self { device: Arc::new(Mutex::new(device)), fsync: None }
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

    /// Flushes with fsync and waits until it is on disk.
    async fn flush_and_wait(&self) -> io::Result<()> {
        let (tx, rx) = TypeConfig::oneshot();
        let done = self.timed(Flushed::Waiter(tx));
        self.lock().flush(true, Some(done))?;
        rx.await.map_err(|_| io::Error::other("the log's flush worker stopped"))?
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
        let mut device = self.lock();
        device.append(entries.into_iter().collect())?;
        // Reported flushed only by the device, after the fsync.
        device.flush(true, Some(self.timed(Flushed::Raft(callback))))
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
