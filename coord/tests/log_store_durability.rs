//! The log store reports entries flushed only once they are durable.
//!
//! A SIGKILL test cannot prove this (the page cache survives a killed process), so these tests
//! put the log store on a crash model of a device: writes land in a volatile image, only a
//! synced flush makes them durable, and a simulated crash keeps the durable image alone. If the
//! store acknowledged anything before asking for (and hearing back from) a sync, entries or the
//! vote acknowledged before the crash would be missing afterwards.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};

use openraft::RaftLogReader;
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::type_config::TypeConfigExt;
use skyway_coord::raft::wal_store::{DeviceState, Flushed, LogDevice, WalStore};
use skyway_coord::raft::{Entry, LogId, TypeConfig, Vote};

/// What a device holds.
#[derive(Debug, Clone, Default)]
struct Image {
    vote: Option<Vote>,
    entries: BTreeMap<u64, Entry>,
    committed: Option<LogId>,
    purged: Option<LogId>,
}

/// A device with a volatile cache in front of durable storage.
#[derive(Debug, Clone, Default)]
struct CrashModel {
    images: Arc<Mutex<(Image, Image)>>, // (volatile, durable)
}

impl CrashModel {
    /// The device after power loss: only the durable image is left.
    fn after_crash(&self) -> CrashModel {
        let durable = self.images.lock().unwrap().1.clone();
        CrashModel { images: Arc::new(Mutex::new((durable.clone(), durable))) }
    }

    fn volatile<R>(&self, f: impl FnOnce(&mut Image) -> R) -> R {
        f(&mut self.images.lock().unwrap().0)
    }
}

impl LogDevice for CrashModel {
    fn state(&self) -> DeviceState {
        let images = self.images.lock().unwrap();
        let v = &images.0;
        DeviceState {
            vote: v.vote,
            last: v.entries.values().last().map(|e| e.log_id()),
            committed: v.committed,
            purged: v.purged,
        }
    }
    fn read(&self, from: u64, to: u64) -> io::Result<Vec<Entry>> {
        Ok(self.images.lock().unwrap().0.entries.range(from..to).map(|(_, e)| e.clone()).collect())
    }
    fn save_vote(&mut self, vote: Vote) -> io::Result<()> {
        self.volatile(|v| v.vote = Some(vote));
        Ok(())
    }
    fn append(&mut self, entries: Vec<Entry>) -> io::Result<()> {
        self.volatile(|v| entries.into_iter().for_each(|e| drop(v.entries.insert(e.index(), e))));
        Ok(())
    }
    fn truncate(&mut self, from: u64) -> io::Result<()> {
        self.volatile(|v| v.entries.retain(|i, _| *i < from));
        Ok(())
    }
    fn purge(&mut self, upto: LogId) -> io::Result<()> {
        self.volatile(|v| {
            v.entries.retain(|i, _| *i > upto.index());
            v.purged = Some(upto);
        });
        Ok(())
    }
    fn commit(&mut self, committed: LogId) -> io::Result<()> {
        self.volatile(|v| v.committed = Some(committed));
        Ok(())
    }
    fn flush(&mut self, sync: bool, done: Option<Flushed>) -> io::Result<()> {
        if sync {
            let mut images = self.images.lock().unwrap();
            images.1 = images.0.clone();
        }
        if let Some(done) = done {
            done.complete(Ok(()));
        }
        Ok(())
    }
}

fn blank(index: u64) -> Entry {
    openraft::testing::blank_ent::<TypeConfig>(1, 1, index)
}

#[tokio::test]
async fn entries_and_votes_reported_durable_survive_a_crash() {
    let disk = CrashModel::default();
    let mut store = WalStore::new(disk.clone());
    let vote = Vote::new(3, 1);
    store.save_vote(&vote).await.unwrap();
    for batch in 0..5u64 {
        let (tx, rx) = TypeConfig::oneshot();
        store.append((batch * 10..batch * 10 + 10).map(blank), IOFlushed::<TypeConfig>::signal(tx)).await.unwrap();
        rx.await.unwrap().expect("flush reported ok");
    }
    // Power loss right after the last acknowledgement.
    let recovered_disk = disk.after_crash();
    let mut recovered = WalStore::new(recovered_disk.clone());
    let indexes: Vec<u64> = recovered.try_get_log_entries(0..100).await.unwrap().iter().map(|e| e.index()).collect();
    assert_eq!(indexes, (0..50).collect::<Vec<_>>(), "every entry reported flushed must survive the crash");
    assert_eq!(recovered.read_vote().await.unwrap(), Some(vote), "a saved vote must survive the crash");

    // A truncation that returned is durable too (a crash must not resurrect removed entries).
    recovered.truncate_after(Some(blank(44).log_id())).await.unwrap();
    let mut after_second_crash = WalStore::new(recovered_disk.after_crash());
    let indexes: Vec<u64> =
        after_second_crash.try_get_log_entries(0..100).await.unwrap().iter().map(|e| e.index()).collect();
    assert_eq!(indexes, (0..45).collect::<Vec<_>>(), "a completed truncation must survive the crash");
}

#[tokio::test]
async fn the_crash_model_drops_unsynced_writes() {
    // The negative control: writes flushed without a sync do not survive, so the test above
    // would catch a store that acknowledged before syncing.
    let mut disk = CrashModel::default();
    disk.append(vec![blank(0)]).unwrap();
    disk.flush(false, None).unwrap();
    assert_eq!(disk.read(0, 10).unwrap().len(), 1, "visible before the crash");
    assert!(disk.after_crash().read(0, 10).unwrap().is_empty(), "an unsynced write must not survive the crash");
}

/// A sync asked for: the image it will make durable, and who to tell.
type PendingSync = (Image, Option<Flushed>);

/// A crash model whose syncs complete only when the test says so: a sync makes durable what
/// was written when it was asked for, as a real device's fsync does.
#[derive(Clone, Default)]
struct SlowSyncs {
    disk: CrashModel,
    pending: Arc<Mutex<Vec<PendingSync>>>,
    asked: Arc<Mutex<usize>>,
}

impl SlowSyncs {
    fn syncs_asked(&self) -> usize {
        *self.asked.lock().unwrap()
    }

    /// Completes the oldest sync asked for.
    fn complete_one(&self) {
        let (image, done) = self.pending.lock().unwrap().remove(0);
        self.disk.images.lock().unwrap().1 = image;
        if let Some(done) = done {
            done.complete(Ok(()));
        }
    }

    async fn wait_for_syncs(&self, count: usize) {
        for _ in 0..500 {
            if self.syncs_asked() >= count {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        panic!("{count} syncs were never asked for (only {})", self.syncs_asked());
    }
}

impl LogDevice for SlowSyncs {
    fn state(&self) -> DeviceState {
        self.disk.state()
    }
    fn read(&self, from: u64, to: u64) -> io::Result<Vec<Entry>> {
        self.disk.read(from, to)
    }
    fn save_vote(&mut self, vote: Vote) -> io::Result<()> {
        self.disk.save_vote(vote)
    }
    fn append(&mut self, entries: Vec<Entry>) -> io::Result<()> {
        self.disk.append(entries)
    }
    fn truncate(&mut self, from: u64) -> io::Result<()> {
        self.disk.truncate(from)
    }
    fn purge(&mut self, upto: LogId) -> io::Result<()> {
        self.disk.purge(upto)
    }
    fn commit(&mut self, committed: LogId) -> io::Result<()> {
        self.disk.commit(committed)
    }
    fn flush(&mut self, sync: bool, done: Option<Flushed>) -> io::Result<()> {
        if !sync {
            return self.disk.flush(false, done);
        }
        *self.asked.lock().unwrap() += 1;
        let image = self.disk.images.lock().unwrap().0.clone();
        self.pending.lock().unwrap().push((image, done));
        Ok(())
    }
}

/// Hears when an append is reported flushed.
struct Reported(openraft::alias::OneshotReceiverOf<TypeConfig, Result<(), io::Error>>);

/// Appends while a sync is in flight share the next sync (group commit), are reported only once
/// it is done and in order, and a crash before it loses only what was never reported; an
/// append with no sync in flight is synced at once.
#[tokio::test]
async fn appends_during_a_sync_share_the_next_one_and_are_reported_only_after_it() {
    let device = SlowSyncs::default();
    let mut store = WalStore::new(device.clone());
    // Returns the receiver that hears when the append is reported flushed.
    let mut append = async |range: std::ops::Range<u64>| {
        let (tx, rx) = TypeConfig::oneshot();
        store.append(range.map(blank), IOFlushed::<TypeConfig>::signal(tx)).await.unwrap();
        Reported(rx)
    };
    let mut first = append(0..10).await;
    let mut second = append(10..20).await;
    let mut third = append(20..30).await;
    assert_eq!(device.syncs_asked(), 1, "the second and third appends wait for the sync in flight");

    device.complete_one();
    assert!(first.0.try_recv().is_ok(), "the first append is reported once its sync is done");
    assert!(second.0.try_recv().is_err() && third.0.try_recv().is_err(), "not yet synced, not reported");
    device.wait_for_syncs(2).await;
    let crashed = device.disk.after_crash();
    assert_eq!(crashed.read(0, 100).unwrap().len(), 10, "a crash now keeps what was reported, and only that");

    device.complete_one();
    assert!(second.0.try_recv().is_ok() && third.0.try_recv().is_ok(), "both reported by the one group sync");
    assert_eq!(device.disk.after_crash().read(0, 100).unwrap().len(), 30);

    let _fourth = append(30..40).await;
    assert_eq!(device.syncs_asked(), 3, "with nothing in flight an append is synced at once: three for four");
}
