//! openraft's own storage test suite, run against Skyway's redb log store and state machine.

use openraft::StorageError;
use openraft::testing::log::{StoreBuilder, Suite};
use skyway_coord::raft::TypeConfig;
use skyway_coord::raft::log_store::{LogStore, open_database};
use skyway_coord::raft::state_machine::StateMachineStore;

struct RedbBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, tempfile::TempDir> for RedbBuilder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachineStore), StorageError<TypeConfig>> {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = open_database(&dir.path().join("skyway.redb")).expect("open database");
        let sm = StateMachineStore::open(db.clone(), 1000).expect("open state machine");
        Ok((dir, LogStore::new(db), sm))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redb_log_store_passes_openraft_suite() -> Result<(), StorageError<TypeConfig>> {
    Suite::test_all(RedbBuilder).await
}
