//! The Raft log and vote on disk, in redb.
//!
//! Durability is the point of this module: [`RaftLogStorage::append`] commits the entries with
//! redb's `Durability::Immediate` (an fsync) *before* it reports them flushed, and openraft
//! acknowledges a write only after a majority has flushed it. The vote is saved the same way
//! before it is answered. openraft batches the leader's client writes, so one fsync covers a
//! whole batch of writes, not one write.
//!
//! The same database file holds the state machine's latest snapshot (see `state_machine`), so a
//! node's whole durable state is one file that redb keeps crash-consistent.
//!
//! Caveats: appends commit synchronously on the caller's thread; a dedicated writer thread with
//! group commit across calls would overlap the fsync with the next batch.

use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::Arc;

use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use super::codec::{decode, encode};
use super::{Entry, LogId, TypeConfig, Vote};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");
pub(crate) const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshot");

const VOTE_KEY: &str = "vote";
const COMMITTED_KEY: &str = "committed";
const PURGED_KEY: &str = "last_purged";

/// Converts any storage error into the `io::Error` openraft expects.
pub(crate) fn io_err(error: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::other(error)
}

/// Opens (or creates) a node's database file and its tables.
pub fn open_database(path: &Path) -> io::Result<Arc<Database>> {
    init_database(Database::create(path).map_err(io_err)?)
}

/// Creates the tables in an opened database (any redb backend: a file, or a test double).
pub fn init_database(db: Database) -> io::Result<Arc<Database>> {
    let txn = db.begin_write().map_err(io_err)?;
    txn.open_table(LOG).map_err(io_err)?;
    txn.open_table(META).map_err(io_err)?;
    txn.open_table(SNAPSHOT).map_err(io_err)?;
    txn.commit().map_err(io_err)?;
    Ok(Arc::new(db))
}

/// The durable Raft log of one node.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
    /// The latest committed log id not yet written: it rides along with the next append, so
    /// advancing the commit index costs no transaction of its own.
    unsaved_committed: Arc<std::sync::Mutex<Option<Option<LogId>>>>,
}

impl LogStore {
    /// A log store over an opened database.
    pub fn new(db: Arc<Database>) -> Self {
        Self { db, unsaved_committed: Arc::default() }
    }

    fn read_meta<T: serde::de::DeserializeOwned>(&self, key: &str) -> io::Result<Option<T>> {
        let txn = self.db.begin_read().map_err(io_err)?;
        let table = txn.open_table(META).map_err(io_err)?;
        match table.get(key).map_err(io_err)? {
            Some(bytes) => Ok(Some(decode(bytes.value())?)),
            None => Ok(None),
        }
    }

    fn write_meta<T: serde::Serialize>(&self, key: &str, value: &T, durability: Durability) -> io::Result<()> {
        let bytes = encode(value)?;
        let mut txn = self.db.begin_write().map_err(io_err)?;
        txn.set_durability(durability).map_err(io_err)?;
        txn.open_table(META).map_err(io_err)?.insert(key, bytes.as_slice()).map_err(io_err)?;
        txn.commit().map_err(io_err)
    }
}

impl Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogStore")
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> io::Result<Vec<Entry>> {
        let txn = self.db.begin_read().map_err(io_err)?;
        let table = txn.open_table(LOG).map_err(io_err)?;
        let mut entries = Vec::new();
        for item in table.range::<u64>(range).map_err(io_err)? {
            let (_, value) = item.map_err(io_err)?;
            entries.push(decode(value.value())?);
        }
        Ok(entries)
    }

    async fn read_vote(&mut self) -> io::Result<Option<Vote>> {
        self.read_meta(VOTE_KEY)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> io::Result<LogState<TypeConfig>> {
        let last_purged: Option<LogId> = self.read_meta(PURGED_KEY)?;
        let txn = self.db.begin_read().map_err(io_err)?;
        let table = txn.open_table(LOG).map_err(io_err)?;
        let last = match table.last().map_err(io_err)? {
            Some((_, value)) => Some(decode::<Entry>(value.value())?.log_id()),
            None => last_purged,
        };
        Ok(LogState { last_purged_log_id: last_purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> io::Result<()> {
        self.write_meta(VOTE_KEY, vote, Durability::Immediate)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> io::Result<()> {
        // Losing the committed index in a crash is harmless (a restarted node re-learns it from
        // the leader), so it is kept in memory and written with the next append.
        *self.unsaved_committed.lock().expect("committed lock poisoned") = Some(committed);
        Ok(())
    }

    async fn read_committed(&mut self) -> io::Result<Option<LogId>> {
        if let Some(committed) = *self.unsaved_committed.lock().expect("committed lock poisoned") {
            return Ok(committed);
        }
        Ok(self.read_meta::<Option<LogId>>(COMMITTED_KEY)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> io::Result<()>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
    {
        let txn = self.db.begin_write().map_err(io_err)?;
        {
            let mut table = txn.open_table(LOG).map_err(io_err)?;
            for entry in entries {
                let bytes = encode(&entry)?;
                table.insert(entry.index(), bytes.as_slice()).map_err(io_err)?;
            }
        }
        if let Some(committed) = self.unsaved_committed.lock().expect("committed lock poisoned").take() {
            let bytes = encode(&committed)?;
            txn.open_table(META).map_err(io_err)?.insert(COMMITTED_KEY, bytes.as_slice()).map_err(io_err)?;
        }
        // Durability::Immediate is redb's default: commit returns after the fsync.
        let result = txn.commit().map_err(io_err);
        let reported = result.as_ref().map(|_| ()).map_err(|e| io::Error::new(e.kind(), e.to_string()));
        callback.io_completed(reported);
        result
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> io::Result<()> {
        let start = last_log_id.map_or(0, |id| id.index() + 1);
        let txn = self.db.begin_write().map_err(io_err)?;
        txn.open_table(LOG).map_err(io_err)?.retain_in(start.., |_, _| false).map_err(io_err)?;
        txn.commit().map_err(io_err)
    }

    async fn purge(&mut self, log_id: LogId) -> io::Result<()> {
        // Record the purge point now; from here on openraft never reads below it. Deleting
        // thousands of entries in one transaction would hold redb's single writer for a long
        // time and stall appends (seen as ~300 ms latency spikes at every snapshot), so the
        // entries go in small transactions in the background, interleaved with appends.
        // Neither needs an fsync: entries left below the purge point after a crash are
        // harmless, and redb keeps commit order, so a deletion never survives without the
        // purge point it follows.
        self.write_meta(PURGED_KEY, &log_id, Durability::None)?;
        let db = self.db.clone();
        let upto = log_id.index();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = delete_entries_upto(&db, upto) {
                tracing::warn!("deleting purged log entries up to {upto}: {e}");
            }
        });
        Ok(())
    }
}

/// Deletes log entries with index ≤ `upto`, a bounded number per transaction.
fn delete_entries_upto(db: &Database, upto: u64) -> io::Result<()> {
    const ENTRIES_PER_TXN: usize = 512;
    loop {
        let mut txn = db.begin_write().map_err(io_err)?;
        txn.set_durability(Durability::None).map_err(io_err)?;
        let deleted = {
            let mut table = txn.open_table(LOG).map_err(io_err)?;
            let keys: Vec<u64> = table
                .range(..=upto)
                .map_err(io_err)?
                .take(ENTRIES_PER_TXN)
                .map(|item| item.map(|(key, _)| key.value()))
                .collect::<Result<_, _>>()
                .map_err(io_err)?;
            for key in &keys {
                table.remove(key).map_err(io_err)?;
            }
            keys.len()
        };
        txn.commit().map_err(io_err)?;
        if deleted < ENTRIES_PER_TXN {
            return Ok(());
        }
    }
}
