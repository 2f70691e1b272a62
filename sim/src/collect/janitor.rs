//! The janitor: keeps blob storage within a retention window, as a single-primary role
//! (`collector/janitor`) so that two never race.
//!
//! Every camera process is a candidate (the election recipe the controllers use); the primary
//! sweeps every `retention / 4` (at least every second, at most every 30 s): it lists the
//! `frames/` prefix, reads the age of each object from its key (the capture's wall time leads
//! the name, see `skyway_collector::record`), and deletes those older than the window — except
//! the frame and truth that any camera's `latest` names, read right before the deletions. A
//! camera only ever moves `latest` to a newer frame, so a frame older than the window that
//! `latest` does not name now never becomes `latest` again.
//!
//! Caveats: a frame that was stored but not recorded (a coordinator write that failed) is found
//! by the same listing and deleted once it is old; a primary checks it is still primary before
//! each sweep, not before each deletion (a deposed janitor's last deletions are of old frames
//! either way, and never of a `latest`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use skyway_collector::record::{self, FrameRecord};
use skyway_coord::client::{Client, Consistency, Election, Session};
use skyway_storage::BlobStore;

use super::camera::wall_ms;

/// Tells the camera's counters what the janitor did: (objects deleted, primary now).
pub type Report = Arc<dyn Fn(u64, bool) + Send + Sync>;

/// Campaigns for the janitor's role with `session` and sweeps while primary.
pub async fn run(
    client: Client,
    session: Arc<Session>,
    store: BlobStore,
    me: String,
    retention: Duration,
    report: Report,
) {
    let election = match Election::new(&client, record::JANITOR_ROLE) {
        Ok(e) => e,
        Err(e) => return tracing::error!("janitor: {e}"),
    };
    let candidate = match election.campaign(&session, me.clone()).await {
        Ok(c) => c,
        Err(e) => return tracing::warn!("janitor: cannot campaign: {e}"),
    };
    let token = match candidate.wait_primary(&session).await {
        Ok(token) => token,
        Err(e) => return tracing::info!("janitor: not primary: {e}"),
    };
    tracing::info!(%me, token = token.0, "janitor primary");
    report(0, true);
    let every = (retention / 4).clamp(Duration::from_secs(1), Duration::from_secs(30));
    loop {
        tokio::time::sleep(every).await;
        match candidate.rank().await {
            Ok(Some(0)) => {}
            Ok(_) => {
                tracing::info!(%me, "janitor deposed");
                report(0, false);
                return;
            }
            Err(e) => {
                tracing::warn!("janitor: cannot check the role: {e}");
                continue;
            }
        }
        match sweep(&client, &store, retention).await {
            Ok(deleted) => report(deleted, true),
            Err(e) => tracing::warn!("janitor: sweep failed, trying again later: {e:#}"),
        }
    }
}

/// One sweep: deletes frames and truths older than `retention` except what a `latest` names.
pub async fn sweep(client: &Client, store: &BlobStore, retention: Duration) -> anyhow::Result<u64> {
    let cutoff = wall_ms().saturating_sub(retention.as_millis() as u64);
    let listed = store.list(&format!("{}/", record::FRAMES_PREFIX)).await?;
    let mut old: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for object in listed {
        let Some(ms) = record::key_wall_ms(&object.key) else { continue };
        let camera = object.key.split('/').nth(1).unwrap_or_default().to_string();
        if ms < cutoff {
            old.entry(camera).or_default().push(object.key);
        }
    }
    let mut deleted = 0;
    for (camera, keys) in old {
        let protected = protected_keys(client, store, &camera).await?;
        for key in keys.iter().filter(|k| !protected.contains(*k)) {
            match store.delete(key).await {
                Ok(()) => deleted += 1,
                Err(e) => tracing::warn!(%key, "janitor: cannot delete: {e}"),
            }
        }
    }
    if deleted > 0 {
        tracing::info!(deleted, "janitor swept");
    }
    Ok(deleted)
}

/// The keys a camera's `latest` names (frame and truth), read linearizably.
async fn protected_keys(client: &Client, store: &BlobStore, camera: &str) -> anyhow::Result<BTreeSet<String>> {
    let mut keys = BTreeSet::new();
    match client.get(&record::latest_path(camera), Consistency::Linearizable).await {
        Ok(node) => {
            let latest: FrameRecord = serde_json::from_slice(&node.data)?;
            for url in [&latest.frame.url, &latest.truth.url] {
                if let Ok(key) = store.key_of(url) {
                    keys.insert(key.to_string());
                }
            }
        }
        Err(skyway_coord::CoordError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(keys)
}
