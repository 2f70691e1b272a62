//! Writes the world's latest summaries to the coordinator. The world never waits for it: a
//! summary replaces the unwritten one for the same path (only the latest matters to a
//! controller), and a write that fails is retried with the newest value. Runway states are
//! written before segment summaries (paths sort that way), since a tower waits on them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use skyway_coord::CoordError;
use skyway_coord::client::{Client, Create};
use tokio::sync::Notify;

/// Counters of what was published.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PublishStats {
    /// Writes that succeeded.
    pub writes: u64,
    /// Bytes written (values only).
    pub bytes: u64,
    /// Summaries replaced before they were written (the coordinator was slower than the world).
    pub superseded: u64,
    /// Writes that failed (retried with the newest value).
    pub failures: u64,
}

#[derive(Default)]
struct Pending {
    values: BTreeMap<String, Bytes>,
    stats: PublishStats,
}

/// The handle the world loop offers values to.
#[derive(Clone, Default)]
pub struct Publisher {
    pending: Arc<Mutex<Pending>>,
    wake: Arc<Notify>,
}

impl Publisher {
    /// Offers `value` for `path`; never blocks.
    pub fn offer(&self, path: String, value: Bytes) {
        let mut pending = self.pending.lock().expect("publisher poisoned");
        if pending.values.insert(path, value).is_some() {
            pending.stats.superseded += 1;
        }
        drop(pending);
        self.wake.notify_one();
    }

    /// Counters so far.
    pub fn stats(&self) -> PublishStats {
        self.pending.lock().expect("publisher poisoned").stats
    }

    /// Writes offered values until the task is dropped (abort it to stop).
    pub async fn run(self, client: Client) {
        let mut created: std::collections::BTreeSet<String> = Default::default();
        loop {
            let batch = std::mem::take(&mut self.pending.lock().expect("publisher poisoned").values);
            if batch.is_empty() {
                self.wake.notified().await;
                continue;
            }
            for (path, value) in batch {
                let size = value.len() as u64;
                let result = write(&client, &path, value.clone(), created.contains(&path)).await;
                let failed = {
                    let mut pending = self.pending.lock().expect("publisher poisoned");
                    match result {
                        Ok(()) => {
                            pending.stats.writes += 1;
                            pending.stats.bytes += size;
                            false
                        }
                        Err(e) => {
                            tracing::debug!(path, "cannot publish: {e}; retrying");
                            pending.stats.failures += 1;
                            pending.values.entry(path.clone()).or_insert(value);
                            true
                        }
                    }
                };
                if failed {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                } else {
                    created.insert(path);
                }
            }
        }
    }
}

async fn write(client: &Client, path: &str, value: Bytes, exists: bool) -> Result<(), CoordError> {
    if exists {
        return client.set(path, value, None).await.map(|_| ());
    }
    let request = Create { path: path.into(), data: value.clone(), make_parents: true, ..Default::default() };
    match client.create(request).await {
        Ok(_) => Ok(()),
        // Left by an earlier run, or created by a retry whose answer was lost: overwrite.
        Err(CoordError::NodeExists { .. }) => client.set(path, value, None).await.map(|_| ()),
        Err(e) => Err(e),
    }
}
