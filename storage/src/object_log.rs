//! An append-only log kept as one object in blob storage: the teaching log.
//!
//! Blob storage has no append. To add a record a writer reads the whole object, adds a line and
//! writes the whole object back. Done the naive way ([`AppendMode::ReadModifyWrite`]), two
//! writers that read the same version both write back their own record on top of it, and the
//! second write erases the first writer's record, which that writer already believes is in the
//! log. Done with a conditional write ([`AppendMode::Conditional`]), the second write is refused
//! because the object changed since it was read, and the writer reads again and retries: no
//! record is lost. (Neither way tells anyone who is alive: that needs sessions.)
//!
//! A conditional append needs update-only-if-unchanged (`If-Match`). A backend that has only
//! create-only-if-absent (a local directory) gets the layout Delta Lake uses for its
//! transaction log instead: one object per record, `KEY.d/0000000001`, `…/0000000002`, each
//! created only if absent; a writer that loses the race for a number takes the next. See
//! [`Layout`].
//!
//! Records are lines, so a record must not contain a newline, and each record must be unique
//! (carry an id): a conditional write that the client library retried after it had already
//! landed is reported as "changed", and the writer recognises its own record on the re-read
//! instead of appending it twice.

use std::future::Future;

use bytes::{BufMut, Bytes, BytesMut};

use crate::blob::{BlobStore, Condition, ObjectVersion};
use crate::error::StorageError;

/// How a writer adds its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendMode {
    /// Read the object, add the line, overwrite the object: loses records under concurrency.
    ReadModifyWrite,
    /// Read the object, add the line, write only if the object is unchanged; else retry.
    Conditional,
}

/// A point where a writer is about to do I/O. The lesson's seeded scheduler implements it to
/// decide, from a seed, which writer goes next; outside the lesson use [`Ungated`].
pub trait IoGate: Send + Sync {
    /// Held while the step's I/O runs; dropping it ends the step.
    type Turn: Send;
    /// Waits for this writer's turn.
    fn turn(&self) -> impl Future<Output = Self::Turn> + Send;
}

/// No gate: every step goes at once, with whatever real concurrency there is.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ungated;

impl IoGate for Ungated {
    type Turn = ();
    async fn turn(&self) {}
}

/// How the log is laid out in the store, and so how it is appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One object, rewritten whole by read-modify-write: loses records under concurrency.
    OneObjectOverwrite,
    /// One object, rewritten whole only if unchanged since read (`If-Match`), else retried.
    OneObjectIfMatch,
    /// One object per record, numbered, each created only if absent (`If-None-Match: *`).
    NumberedObjects,
}

impl Layout {
    /// The layout for `mode` on `store`: conditional appends use `If-Match` where the store has
    /// it and numbered objects where it has only create-if-absent.
    pub fn for_mode(store: &BlobStore, mode: AppendMode) -> Result<Self, StorageError> {
        let capabilities = store.capabilities();
        match mode {
            AppendMode::ReadModifyWrite => Ok(Self::OneObjectOverwrite),
            AppendMode::Conditional if capabilities.update_if_unchanged => Ok(Self::OneObjectIfMatch),
            AppendMode::Conditional if capabilities.create_if_absent => Ok(Self::NumberedObjects),
            AppendMode::Conditional => {
                Err(StorageError::Unsupported { backend: store.backend(), what: "conditional writes" })
            }
        }
    }

    /// A sentence for people: how an append works in this layout.
    pub fn describe(self) -> &'static str {
        match self {
            Self::OneObjectOverwrite => "one object, read-modify-write (overwrite)",
            Self::OneObjectIfMatch => "one object, read-modify-write only if unchanged (If-Match), retry if not",
            Self::NumberedObjects => "one object per record, next number created only if absent, retry if taken",
        }
    }
}

/// The log as one read saw it.
#[derive(Debug, Clone, Default)]
pub struct LogSnapshot {
    /// The records, top to bottom.
    pub records: Vec<Bytes>,
    /// The object's version; `None` if the log did not exist yet.
    pub version: Option<ObjectVersion>,
}

/// How an append went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Writes tried (more than one when a conditional write found the log changed).
    pub attempts: u32,
}

/// Gives up a conditional append after this many refused writes (a livelock guard).
const CONDITIONAL_ATTEMPTS_MAX: u32 = 10_000;

/// An append-only log kept in `store` at `key`, in one [`Layout`].
#[derive(Debug, Clone)]
pub struct ObjectLog {
    store: BlobStore,
    key: String,
    layout: Layout,
}

impl ObjectLog {
    /// The log at `key` (created by the first append), appended as `mode` says; an error if the
    /// store cannot do conditional writes and `mode` asks for them.
    pub fn new(store: BlobStore, key: impl Into<String>, mode: AppendMode) -> Result<Self, StorageError> {
        let layout = Layout::for_mode(&store, mode)?;
        Ok(Self { store, key: key.into(), layout })
    }

    /// How this log is laid out and appended.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The log's URL (of the object, or of the folder of numbered objects).
    pub fn url(&self) -> String {
        match self.layout {
            Layout::NumberedObjects => self.store.url(&self.folder()),
            _ => self.store.url(&self.key),
        }
    }

    fn folder(&self) -> String {
        format!("{}.d", self.key)
    }

    /// Reads the whole log.
    pub async fn read(&self) -> Result<LogSnapshot, StorageError> {
        if self.layout == Layout::NumberedObjects {
            return self.read_numbered().await;
        }
        match self.store.read(&self.key).await {
            Ok(object) => Ok(LogSnapshot { records: split_lines(&object.data), version: Some(object.version) }),
            Err(StorageError::NotFound { .. }) => Ok(LogSnapshot::default()),
            Err(error) => Err(error),
        }
    }

    async fn read_numbered(&self) -> Result<LogSnapshot, StorageError> {
        let mut records = Vec::new();
        for info in self.store.list(&self.folder()).await? {
            records.push(self.store.read(&info.key).await?.data);
        }
        Ok(LogSnapshot { records, version: None })
    }

    /// Appends `record`, taking a turn at `gate` before each read and each write.
    pub async fn append<G: IoGate>(&self, record: Bytes, gate: &G) -> Result<Appended, StorageError> {
        if record.contains(&b'\n') {
            return Err(StorageError::InvalidKey {
                key: String::from_utf8_lossy(&record).into_owned(),
                reason: "a log record must not contain a newline".into(),
            });
        }
        if self.layout == Layout::NumberedObjects {
            return self.append_numbered(record, gate).await;
        }
        let mut attempts = 0;
        loop {
            let snapshot = {
                let _turn = gate.turn().await;
                self.read().await?
            };
            if attempts > 0 && snapshot.records.contains(&record) {
                // An earlier attempt landed although its answer said otherwise.
                return Ok(Appended { attempts });
            }
            attempts += 1;
            let condition = match (self.layout, &snapshot.version) {
                (Layout::OneObjectOverwrite, _) => Condition::None,
                (_, None) => Condition::Absent,
                (_, Some(version)) => Condition::Unchanged(version.clone()),
            };
            let written = {
                let _turn = gate.turn().await;
                self.store.put_if(&self.key, join_lines(&snapshot.records, &record), condition).await
            };
            match written {
                Ok(_) => return Ok(Appended { attempts }),
                Err(StorageError::Changed { .. } | StorageError::AlreadyExists { .. })
                    if attempts < CONDITIONAL_ATTEMPTS_MAX => {}
                Err(error) => return Err(error),
            }
        }
    }
}

impl ObjectLog {
    async fn append_numbered<G: IoGate>(&self, record: Bytes, gate: &G) -> Result<Appended, StorageError> {
        let mut next = {
            let _turn = gate.turn().await;
            self.store.list(&self.folder()).await?.len() as u64 + 1
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let key = format!("{}/{next:010}", self.folder());
            let created = {
                let _turn = gate.turn().await;
                self.store.put_if(&key, record.clone(), Condition::Absent).await
            };
            match created {
                Ok(_) => return Ok(Appended { attempts }),
                Err(StorageError::AlreadyExists { .. }) if attempts < CONDITIONAL_ATTEMPTS_MAX => {
                    // Taken — by another writer, or by an earlier attempt of ours that landed.
                    let taken = {
                        let _turn = gate.turn().await;
                        self.store.read(&key).await?
                    };
                    if taken.data == record {
                        return Ok(Appended { attempts });
                    }
                    next += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

fn split_lines(data: &Bytes) -> Vec<Bytes> {
    data.split(|b| *b == b'\n').filter(|line| !line.is_empty()).map(|line| data.slice_ref(line)).collect()
}

fn join_lines(records: &[Bytes], last: &Bytes) -> Bytes {
    let size = records.iter().map(|r| r.len() + 1).sum::<usize>() + last.len() + 1;
    let mut out = BytesMut::with_capacity(size);
    for record in records.iter().chain(std::iter::once(last)) {
        out.put_slice(record);
        out.put_u8(b'\n');
    }
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> BlobStore {
        BlobStore::open_url("memory://log-test").unwrap()
    }

    #[tokio::test]
    async fn appends_read_back_in_order() {
        for mode in [AppendMode::ReadModifyWrite, AppendMode::Conditional] {
            let log = ObjectLog::new(store(), format!("logs/{mode:?}"), mode).unwrap();
            assert!(log.read().await.unwrap().records.is_empty());
            for record in ["one", "two", "three"] {
                log.append(Bytes::from(record), &Ungated).await.unwrap();
            }
            assert_eq!(log.read().await.unwrap().records, ["one", "two", "three"].map(Bytes::from));
        }
    }

    #[tokio::test]
    async fn a_record_with_a_newline_is_refused() {
        let log = ObjectLog::new(store(), "logs/b", AppendMode::Conditional).unwrap();
        assert!(log.append(Bytes::from("two\nlines"), &Ungated).await.is_err());
        assert!(log.read().await.unwrap().records.is_empty());
    }

    #[tokio::test]
    async fn a_local_directory_gets_numbered_objects_and_concurrent_appends_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let local = BlobStore::open(&crate::StorageConfig::local_dir(dir.path()).unwrap()).unwrap();
        let log = ObjectLog::new(local, "logs/c", AppendMode::Conditional).unwrap();
        assert_eq!(log.layout(), Layout::NumberedObjects);
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let log = log.clone();
                tokio::spawn(async move {
                    for i in 0..10 {
                        log.append(Bytes::from(format!("{w}-{i}")), &Ungated).await.unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap();
        }
        let mut records = log.read().await.unwrap().records;
        records.sort();
        records.dedup();
        assert_eq!(records.len(), 80);
    }
}
