//! The log on disk and in memory stays bounded however many entries pass through it: once
//! entries are purged (after a snapshot), their chunk files go and their payloads leave memory.
//! raft-log's defaults (1 GiB / 1 Mi-record chunks, evictable only when closed) kept every
//! payload since the node started in memory and every byte on disk.

use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::type_config::TypeConfigExt;
use skyway_coord::raft::wal_store::{LOG_CACHE_ENTRIES, LOG_CHUNK_RECORDS, WalStore};
use skyway_coord::raft::{Entry, TypeConfig};

fn blank(index: u64) -> Entry {
    openraft::testing::blank_ent::<TypeConfig>(1, 1, index)
}

async fn append(store: &mut WalStore, range: std::ops::Range<u64>) {
    let (tx, rx) = TypeConfig::oneshot();
    store.append(range.map(blank), IOFlushed::<TypeConfig>::signal(tx)).await.unwrap();
    rx.await.unwrap().expect("flushed");
}

fn files_and_bytes(dir: &std::path::Path) -> (usize, u64) {
    let files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().metadata().unwrap()).collect();
    (files.len(), files.iter().map(|m| m.len()).sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purged_entries_leave_the_disk_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = WalStore::open(dir.path()).unwrap();
    let total = 4 * LOG_CHUNK_RECORDS as u64;
    for start in (0..total).step_by(1000) {
        append(&mut store, start..(start + 1000).min(total)).await;
    }
    let bound = (LOG_CHUNK_RECORDS + LOG_CACHE_ENTRIES) as u64;
    assert!(store.payloads_in_memory() <= bound, "{} payloads in memory (bound {bound})", store.payloads_in_memory());

    let (_, bytes_before) = files_and_bytes(dir.path());
    store.purge(blank(total - 1000).log_id).await.unwrap();
    // A synced flush carries the purge; the flush thread removes the chunks after it.
    append(&mut store, total..total + 1).await;
    append(&mut store, total + 1..total + 2).await;
    let (files, bytes) = files_and_bytes(dir.path());
    assert!(files <= 3, "{files} files left after purging all but the last 1,000 entries");
    assert!(bytes * 2 < bytes_before, "{bytes} bytes left of {bytes_before}: purged chunks were not removed");
}
