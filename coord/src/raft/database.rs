//! The node's embedded database (redb): it holds the state machine's latest snapshot. Commits
//! are durable (fsync) when they return.

use std::io;
use std::path::Path;
use std::sync::Arc;

use redb::{Database, TableDefinition};

/// The snapshot table: metadata and data under fixed keys.
pub(crate) const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshot");

/// Converts any storage error into the `io::Error` openraft expects.
pub(crate) fn io_err(error: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::other(error)
}

/// Opens (or creates) a node's database file and its tables.
pub fn open_database(path: &Path) -> io::Result<Arc<Database>> {
    init_database(Database::create(path).map_err(io_err)?)
}

/// Creates the tables in an opened database (any redb backend).
pub fn init_database(db: Database) -> io::Result<Arc<Database>> {
    let txn = db.begin_write().map_err(io_err)?;
    txn.open_table(SNAPSHOT).map_err(io_err)?;
    txn.commit().map_err(io_err)?;
    Ok(Arc::new(db))
}
