//! The log store reports entries flushed only once they are on disk.
//!
//! A SIGKILL test cannot prove this (the page cache survives a killed process), so these tests
//! run the log store on a redb backend that models a disk: writes land in a volatile image and
//! only `sync_data` makes them durable. A simulated crash keeps the durable image alone. If the
//! store acknowledged before syncing, entries acknowledged before the crash would be missing.

use std::io;
use std::sync::{Arc, Mutex};

use openraft::RaftLogReader;
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::type_config::TypeConfigExt;
use redb::{Database, Durability, ReadableDatabase, StorageBackend, TableDefinition};
use skyway_coord::raft::log_store::{LogStore, init_database};
use skyway_coord::raft::{Entry, TypeConfig};

/// A disk with a volatile write cache: only synced bytes survive a crash.
#[derive(Debug, Clone, Default)]
struct CrashDisk {
    inner: Arc<Mutex<Images>>,
}

#[derive(Debug, Default)]
struct Images {
    volatile: Vec<u8>,
    durable: Vec<u8>,
}

impl CrashDisk {
    /// The disk as it is after power loss: the durable image, on a fresh device.
    fn after_crash(&self) -> CrashDisk {
        let durable = self.inner.lock().unwrap().durable.clone();
        CrashDisk { inner: Arc::new(Mutex::new(Images { volatile: durable.clone(), durable })) }
    }
}

impl StorageBackend for CrashDisk {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.inner.lock().unwrap().volatile.len() as u64)
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        let images = self.inner.lock().unwrap();
        let start = offset as usize;
        let end = start + out.len();
        if end > images.volatile.len() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past end"));
        }
        out.copy_from_slice(&images.volatile[start..end]);
        Ok(())
    }
    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.inner.lock().unwrap().volatile.resize(len as usize, 0);
        Ok(())
    }
    fn sync_data(&self) -> Result<(), io::Error> {
        let mut images = self.inner.lock().unwrap();
        images.durable = images.volatile.clone();
        Ok(())
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut images = self.inner.lock().unwrap();
        let end = offset as usize + data.len();
        if end > images.volatile.len() {
            images.volatile.resize(end, 0);
        }
        images.volatile[offset as usize..end].copy_from_slice(data);
        Ok(())
    }
}

fn open(disk: &CrashDisk) -> Arc<Database> {
    init_database(Database::builder().create_with_backend(disk.clone()).expect("open database")).expect("init tables")
}

fn blank(index: u64) -> Entry {
    openraft::testing::blank_ent::<TypeConfig>(1, 1, index)
}

#[tokio::test]
async fn entries_reported_flushed_survive_a_crash() {
    let disk = CrashDisk::default();
    let mut store = LogStore::new(open(&disk));
    for batch in 0..5u64 {
        let (tx, rx) = TypeConfig::oneshot();
        store.append((batch * 10..batch * 10 + 10).map(blank), IOFlushed::<TypeConfig>::signal(tx)).await.unwrap();
        rx.await.unwrap().expect("flush reported ok");
    }
    // Power loss right after the last flush was reported.
    let mut recovered = LogStore::new(open(&disk.after_crash()));
    let entries = recovered.try_get_log_entries(0..50).await.unwrap();
    let indexes: Vec<u64> = entries.iter().map(|e| e.index()).collect();
    assert_eq!(indexes, (0..50).collect::<Vec<_>>(), "every entry reported flushed must survive the crash");
}

#[tokio::test]
async fn the_crash_model_drops_unsynced_writes() {
    // The negative control: without an fsync a commit does not survive, so the test above
    // would catch a store that acknowledged before syncing.
    const T: TableDefinition<u64, u64> = TableDefinition::new("t");
    let disk = CrashDisk::default();
    let db = open(&disk);
    let mut txn = db.begin_write().unwrap();
    txn.set_durability(Durability::None).unwrap();
    txn.open_table(T).unwrap().insert(1, 1).unwrap();
    txn.commit().unwrap();
    assert!(db.begin_read().unwrap().open_table(T).is_ok(), "visible before the crash");
    let after = open(&disk.after_crash());
    assert!(after.begin_read().unwrap().open_table(T).is_err(), "an unsynced commit must not survive the crash");
}
