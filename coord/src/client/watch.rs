//! A resumable watch: delivers every change to a path or subtree in revision order, and when
//! its stream breaks (a node dies, the leader changes) reconnects to another node and resumes
//! from the revision after the last one it delivered — no gap, no duplicate. If the history
//! it needs has been compacted meanwhile, it says so with `Compacted`, never skipping silently.

use std::time::Duration;

use bytes::Bytes;
use tonic::Streaming;

use super::connection::Client;
use super::convert;
use super::types::{Revision, SessionId};
use crate::error::CoordError;
use crate::proto::coord as pb;
use crate::status::from_status;

/// What happened to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEventKind {
    /// Created.
    Created,
    /// Data changed.
    Changed,
    /// Deleted.
    Deleted,
}

/// One change, as a watcher sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    /// Revision of the change.
    pub revision: Revision,
    /// What happened.
    pub kind: WatchEventKind,
    /// The node.
    pub path: String,
    /// Data after the change (empty for deletions).
    pub data: Bytes,
    /// Version after the change.
    pub version: u64,
    /// The owning session of an ephemeral node (`None` if persistent).
    pub ephemeral_owner: Option<SessionId>,
}

/// A watch that survives reconnects.
pub struct Watcher {
    client: Client,
    path: String,
    prefix: bool,
    /// The next revision to deliver.
    next: u64,
    stream: Option<(usize, Streaming<pb::WatchResponse>)>,
    endpoint_index: usize,
    /// Most time spent reconnecting before giving up.
    reconnect_budget: Duration,
}

impl Watcher {
    /// Starts watching `path` (and with `prefix`, its subtree) from revision `from` (0: from now).
    pub async fn start(client: &Client, path: &str, prefix: bool, from: u64) -> Result<Self, CoordError> {
        let mut watcher = Self {
            client: client.clone(),
            path: path.to_string(),
            prefix,
            next: from,
            stream: None,
            endpoint_index: client.preferred_index(),
            reconnect_budget: Duration::from_secs(30),
        };
        watcher.reconnect().await?;
        Ok(watcher)
    }

    /// The next revision this watcher will deliver.
    pub fn next_revision(&self) -> u64 {
        self.next
    }

    /// Connects to a node that can continue the watch from `self.next`. Nodes keep their own
    /// history window (a node restarted from a snapshot holds less), so `Compacted` from one
    /// node sends the watcher to the next, as does `LimitReached` (too many watches on that
    /// connection); only if every node says so is it returned.
    async fn reconnect(&mut self) -> Result<(), CoordError> {
        let started = std::time::Instant::now();
        let endpoints = self.client.endpoints().len();
        let mut refused_by = std::collections::BTreeSet::new();
        let mut backoff = RECONNECT_BACKOFF_MIN;
        loop {
            let index = self.endpoint_index % endpoints;
            let request = pb::WatchRequest { path: self.path.clone(), prefix: self.prefix, from_revision: self.next };
            let result = tokio::time::timeout(Duration::from_secs(2), self.client.raw(index).watch(request)).await;
            let error = match result {
                Ok(Ok(response)) => {
                    self.stream = Some((index, response.into_inner()));
                    return Ok(());
                }
                Ok(Err(status)) => from_status(&status),
                Err(_) => CoordError::Unavailable { reason: "watch request timed out".into() },
            };
            match error {
                // This node cannot serve the watch (its history moved past us, or this
                // connection holds its limit of watches); another node may.
                CoordError::Compacted { .. } | CoordError::LimitReached { .. } => {
                    refused_by.insert(index);
                    if refused_by.len() == endpoints {
                        return Err(error);
                    }
                }
                CoordError::InvalidPath { .. } | CoordError::InvalidArgument { .. } => return Err(error),
                _ if started.elapsed() > self.reconnect_budget => return Err(error),
                _ => {
                    tracing::debug!(endpoint = index, "watch reconnect failed: {error}");
                    // Backs off with jitter: after a leader change every watcher of a cluster
                    // reconnects at once, and must not do so in lockstep, forever.
                    // It grows after each full round over the endpoints, so that finding the one
                    // node that still serves stays quick.
                    tokio::time::sleep(jittered(backoff)).await;
                    if (self.endpoint_index + 1).is_multiple_of(endpoints) {
                        backoff = (backoff * 2).min(RECONNECT_BACKOFF_MAX);
                    }
                }
            }
            self.endpoint_index += 1;
        }
    }

    /// The next batch of events (all events of one or more revisions, in order). Reconnects
    /// transparently; returns an error only if the watch cannot continue without a gap.
    pub async fn next(&mut self) -> Result<Vec<WatchEvent>, CoordError> {
        loop {
            if self.stream.is_none() {
                self.reconnect().await?;
            }
            let (index, stream) = self.stream.as_mut().expect("connected above");
            let index = *index;
            match stream.message().await {
                Ok(Some(response)) => {
                    let events: Vec<WatchEvent> = response
                        .events
                        .into_iter()
                        .filter(|e| e.revision >= self.next)
                        .map(convert::watch_event)
                        .collect();
                    if let Some(last) = events.last() {
                        self.next = last.revision.0 + 1;
                    }
                    // Progress: everything we watch up to this revision has been delivered.
                    self.next = self.next.max(response.revision + 1);
                    if !events.is_empty() {
                        return Ok(events);
                    }
                }
                Ok(None) => {
                    tracing::debug!(endpoint = index, "watch stream ended; resuming elsewhere");
                    self.stream = None;
                    self.endpoint_index = index + 1;
                }
                Err(status) => {
                    // Also `Compacted` (this node's window moved past us): another node may
                    // still hold the history; `reconnect` gives up only if none does.
                    let error = from_status(&status);
                    tracing::debug!(endpoint = index, "watch stream broke ({error}); resuming elsewhere");
                    self.stream = None;
                    self.endpoint_index = index + 1;
                }
            }
        }
    }
}

/// First pause between two failed reconnects of a watch.
const RECONNECT_BACKOFF_MIN: Duration = Duration::from_millis(50);
/// Longest pause between two failed reconnects.
const RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// A pause between half of `backoff` and all of it, chosen at random.
fn jittered(backoff: Duration) -> Duration {
    let half = backoff / 2;
    half + half.mul_f64(rand::random::<f64>())
}
