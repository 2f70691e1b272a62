//! No blocking on runtime workers: building and installing a snapshot commits it to redb, and
//! that commit's fsync must not hold the async thread the state machine runs on; nor may a
//! call on the Raft log's device (which may create a chunk file or read one back).
//!
//! The state machine is opened over a redb backend whose fsync waits until the test releases
//! it; the log store over a device whose appends and reads wait the same way. The tests run on
//! a single-threaded runtime, so the releasing task can only run if the held call is elsewhere
//! (tokio's blocking pool, the log's own thread); were it on the runtime's one thread, the call
//! would wait in vain, give up after a guard of 10 s and fail.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogStorage, RaftStateMachine};
use openraft::type_config::TypeConfigExt;
use openraft::{RaftLogReader, RaftSnapshotBuilder};
use redb::StorageBackend;
use redb::backends::InMemoryBackend;
use skyway_coord::raft::database::init_database;
use skyway_coord::raft::state_machine::StateMachineStore;
use skyway_coord::raft::wal_store::{DeviceState, Flushed, LogDevice, WalStore};
use skyway_coord::raft::{Entry, LogId, TypeConfig, Vote};

/// How long a held fsync waits for its release before it fails the commit (a deadlock guard,
/// not a speed bound).
const RELEASE_GUARD: Duration = Duration::from_secs(10);

/// An in-memory redb backend whose `sync_data`, once armed, tells the test it started and then
/// waits for the test to release it.
#[derive(Debug)]
struct HeldFsync {
    inner: InMemoryBackend,
    armed: AtomicBool,
    started: Mutex<Option<tokio::sync::mpsc::UnboundedSender<()>>>,
    release: Mutex<Option<mpsc::Receiver<()>>>,
}

impl StorageBackend for HeldFsync {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        if !self.armed.load(Ordering::SeqCst) {
            return self.inner.sync_data();
        }
        if let Some(started) = self.started.lock().unwrap().as_ref() {
            let _ = started.send(());
        }
        let release = self.release.lock().unwrap();
        match release.as_ref().map(|r| r.recv_timeout(RELEASE_GUARD)) {
            Some(Ok(())) => self.inner.sync_data(),
            _ => Err(io::Error::other("the fsync was never released: its commit blocked the runtime's only thread")),
        }
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.inner.write(offset, data)
    }
}

/// Opens a state machine over a held backend; returns it, the backend, the "fsync started"
/// receiver and the release sender. The backend is armed after the database is created.
fn held_store() -> (StateMachineStore, Arc<HeldFsync>, tokio::sync::mpsc::UnboundedReceiver<()>, mpsc::Sender<()>) {
    let (started_tx, started_rx) = tokio::sync::mpsc::unbounded_channel();
    let (release_tx, release_rx) = mpsc::channel();
    let backend = Arc::new(HeldFsync {
        inner: InMemoryBackend::new(),
        armed: AtomicBool::new(false),
        started: Mutex::new(Some(started_tx)),
        release: Mutex::new(Some(release_rx)),
    });
    let db = redb::Database::builder().create_with_backend(SharedBackend(backend.clone())).unwrap();
    let store = StateMachineStore::open(init_database(db).unwrap(), 1000).unwrap();
    backend.armed.store(true, Ordering::SeqCst);
    (store, backend, started_rx, release_tx)
}

/// Lets the test keep a handle on the backend redb owns.
#[derive(Debug)]
struct SharedBackend(Arc<HeldFsync>);

impl StorageBackend for SharedBackend {
    fn len(&self) -> io::Result<u64> {
        self.0.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.0.read(offset, out)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.0.write(offset, data)
    }
}

/// Releases every fsync as soon as it starts, from a task on the runtime's one thread.
fn release_from_the_runtime(mut started: tokio::sync::mpsc::UnboundedReceiver<()>, release: mpsc::Sender<()>) {
    tokio::spawn(async move {
        while started.recv().await.is_some() {
            let _ = release.send(());
        }
    });
}

#[tokio::test(flavor = "current_thread")]
async fn a_snapshot_being_built_or_installed_leaves_the_runtime_thread_free() {
    let (mut store, backend, started, release) = held_store();
    release_from_the_runtime(started, release);

    let mut builder = store.get_snapshot_builder().await;
    let snapshot = builder.build_snapshot().await.expect("built while the runtime thread stayed free");

    let meta = snapshot.meta.clone();
    store
        .install_snapshot(&meta, snapshot.snapshot.clone())
        .await
        .expect("installed while the runtime thread stayed free");
    let current = store.get_current_snapshot().await.unwrap().expect("the installed snapshot is stored");
    assert_eq!(current.snapshot, snapshot.snapshot);
    // The database's own fsync when it is dropped, at the end, is no snapshot's.
    backend.armed.store(false, Ordering::SeqCst);
}

/// A log device in memory whose appends and reads — the calls that may touch the disk in
/// `raft-log` (a new chunk file, a read past the payload cache) — tell the test they started
/// and then wait for its release.
struct HeldLog {
    entries: std::collections::BTreeMap<u64, Entry>,
    vote: Option<Vote>,
    started: tokio::sync::mpsc::UnboundedSender<()>,
    release: mpsc::Receiver<()>,
}

impl HeldLog {
    fn hold(&self, what: &str) -> io::Result<()> {
        let _ = self.started.send(());
        self.release.recv_timeout(RELEASE_GUARD).map_err(|_| {
            io::Error::other(format!("the log's {what} was never released: it blocked the runtime's only thread"))
        })
    }
}

impl LogDevice for HeldLog {
    fn state(&self) -> DeviceState {
        DeviceState { vote: self.vote, last: self.entries.values().last().map(|e| e.log_id()), ..Default::default() }
    }
    fn read(&self, from: u64, to: u64) -> io::Result<Vec<Entry>> {
        self.hold("read")?;
        Ok(self.entries.range(from..to).map(|(_, e)| e.clone()).collect())
    }
    fn save_vote(&mut self, vote: Vote) -> io::Result<()> {
        self.vote = Some(vote);
        Ok(())
    }
    fn append(&mut self, entries: Vec<Entry>) -> io::Result<()> {
        self.hold("append")?;
        self.entries.extend(entries.into_iter().map(|e| (e.index(), e)));
        Ok(())
    }
    fn truncate(&mut self, from: u64) -> io::Result<()> {
        self.entries.retain(|i, _| *i < from);
        Ok(())
    }
    fn purge(&mut self, upto: LogId) -> io::Result<()> {
        self.entries.retain(|i, _| *i > upto.index());
        Ok(())
    }
    fn commit(&mut self, _committed: LogId) -> io::Result<()> {
        Ok(())
    }
    fn flush(&mut self, _sync: bool, done: Option<Flushed>) -> io::Result<()> {
        if let Some(done) = done {
            done.complete(Ok(()));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_log_append_or_read_that_touches_the_disk_leaves_the_runtime_thread_free() {
    let (started_tx, started) = tokio::sync::mpsc::unbounded_channel();
    let (release, release_rx) = mpsc::channel();
    release_from_the_runtime(started, release);
    let blank = |index| openraft::testing::blank_ent::<TypeConfig>(1, 1, index);
    // Entries 0..3 are on the device from before (as after a restart), so the store holds
    // none of them in memory and must read them from the device.
    let entries = (0..3).map(|index| (index, blank(index))).collect();
    let device = HeldLog { entries, vote: None, started: started_tx, release: release_rx };
    let mut store = WalStore::new(device).unwrap();

    let (tx, rx) = TypeConfig::oneshot();
    store.append((3..5).map(blank), IOFlushed::<TypeConfig>::signal(tx)).await.expect("the append was queued");
    rx.await.unwrap().expect("appended and flushed while the runtime thread stayed free");

    let read = store.try_get_log_entries(0..5).await.expect("read while the runtime thread stayed free");
    assert_eq!(read.iter().map(|e| e.index()).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
}
