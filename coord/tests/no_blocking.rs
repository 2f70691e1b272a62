//! No blocking on runtime workers: building and installing a snapshot commits it to redb, and
//! that commit's fsync must not hold the async thread the state machine runs on.
//!
//! The state machine is opened over a redb backend whose fsync waits until the test releases
//! it. The test runs on a single-threaded runtime, so the releasing task can only run if the
//! snapshot's commit is elsewhere (tokio's blocking pool); were it on the runtime's one thread,
//! the fsync would wait in vain, give up after a guard of 10 s and fail the commit.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use openraft::RaftSnapshotBuilder;
use openraft::storage::RaftStateMachine;
use redb::StorageBackend;
use redb::backends::InMemoryBackend;
use skyway_coord::raft::database::init_database;
use skyway_coord::raft::state_machine::StateMachineStore;

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
