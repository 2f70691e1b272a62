//! openraft's own storage test suite, run against Skyway's log store (raft-log) and state
//! machine (snapshots in redb).

use openraft::StorageError;
use openraft::testing::log::{StoreBuilder, Suite};
use skyway_coord::raft::TypeConfig;
use skyway_coord::raft::database::open_database;
use skyway_coord::raft::state_machine::StateMachineStore;
use skyway_coord::raft::wal_store::WalStore;

struct Builder;

impl StoreBuilder<TypeConfig, WalStore, StateMachineStore, tempfile::TempDir> for Builder {
    async fn build(&self) -> Result<(tempfile::TempDir, WalStore, StateMachineStore), StorageError<TypeConfig>> {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = open_database(&dir.path().join("skyway.redb")).expect("open database");
        let sm = StateMachineStore::open(db, 1000).expect("open state machine");
        let wal = WalStore::open(&dir.path().join("wal")).expect("open log");
        Ok((dir, wal, sm))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_store_passes_openraft_suite() -> Result<(), StorageError<TypeConfig>> {
    Suite::test_all(Builder).await
}
