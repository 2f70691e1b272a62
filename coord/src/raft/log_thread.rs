//! The log thread: the one thread that owns a node's log device and makes every call on it, so
//! that no device call — a chunk file created and its directory fsynced when `raft-log`
//! rotates, a read of an entry evicted from the payload cache, a wait for room in `raft-log`'s
//! bounded flush queue — ever runs on a runtime worker.
//!
//! The log store's async methods send it requests over a bounded channel (a full channel makes
//! them wait asynchronously, never block) and the thread serves them in order. One queue in one
//! order is what keeps openraft's rule that an appended entry is readable as soon as `append`
//! returns: a read sent after an append is served after it.
//!
//! Appends, commits and purges change the device's in-memory state and return; durability is
//! reported by the device's flush callback after its fsync, never by this thread. A write the
//! device refuses is reported to its caller (the append's callback, the purge's reply) and
//! makes the thread refuse every later request with the same error: a log that failed a write
//! is not trusted with another, and openraft stops on the first storage error anyway. That is
//! also how a failed commit, which nobody waits for, reaches openraft.
//!
//! When the last handle is dropped, the thread drops the device (`raft-log` then writes what
//! is pending and joins its own flush thread) and ends.

use std::io;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::wal_store::{DeviceState, Flushed, LogDevice};
use super::{Entry, LogId, Vote};

/// Requests queued for the log thread at most; more wait (asynchronously) for room. Each is
/// served in microseconds (memory only, or one read), so the bound only bites while the device
/// itself is stalled, and then it keeps the queue from growing without limit.
const LOG_REQUESTS_MAX: usize = 256;

/// What the log thread is asked to do.
enum Request {
    /// Append entries, then flush with fsync; `done` hears when they are durable.
    Append { entries: Vec<Entry>, done: Flushed },
    /// Save the vote, then flush with fsync; `done` hears when it is durable.
    SaveVote { vote: Vote, done: Flushed },
    /// Remove entries at and after `from` (if there are any), then flush with fsync.
    Truncate { from: u64, done: Flushed },
    /// Record the newest committed id (taken from the shared slot) and write it out without an
    /// fsync of its own.
    Commit,
    /// Remove entries up to `upto` and write that out without an fsync of its own.
    Purge { upto: LogId, reply: oneshot::Sender<io::Result<()>> },
    /// Read entries with index in `from..to`.
    Read { from: u64, to: u64, reply: oneshot::Sender<io::Result<Vec<Entry>>> },
    /// Report the device's state.
    State { reply: oneshot::Sender<io::Result<DeviceState>> },
}

/// A handle on the log thread; clones share the thread.
#[derive(Clone)]
pub(crate) struct LogThread {
    requests: mpsc::Sender<Request>,
    /// The newest committed id not yet taken by the thread. Commits advance on every write and
    /// nobody waits for them, so while one request is queued, later ids only replace its value
    /// rather than queue (and wake the thread) again.
    committed: Arc<Mutex<Option<LogId>>>,
}

impl LogThread {
    /// Starts the thread that owns `device`.
    pub(crate) fn spawn<D: LogDevice>(device: D) -> io::Result<Self> {
        let (requests, queue) = mpsc::channel(LOG_REQUESTS_MAX);
        let committed = Arc::new(Mutex::new(None));
        let slot = committed.clone();
        std::thread::Builder::new().name("skyway-raft-log".into()).spawn(move || serve(device, queue, &slot))?;
        Ok(Self { requests, committed })
    }

    /// Queues entries to append; `done` hears when they are durable (or why not).
    pub(crate) async fn append(&self, entries: Vec<Entry>, done: Flushed) -> io::Result<()> {
        self.send(Request::Append { entries, done }).await
    }

    /// Saves the vote and waits until it is durable.
    pub(crate) async fn save_vote(&self, vote: Vote, done: Flushed) -> io::Result<()> {
        self.send(Request::SaveVote { vote, done }).await
    }

    /// Queues a truncation at `from`; `done` hears when it is durable.
    pub(crate) async fn truncate(&self, from: u64, done: Flushed) -> io::Result<()> {
        self.send(Request::Truncate { from, done }).await
    }

    /// Queues the committed id (nobody waits for it; a failure fails the next request).
    pub(crate) async fn commit(&self, committed: LogId) -> io::Result<()> {
        let queued = lock(&self.committed).replace(committed).is_some();
        if queued { Ok(()) } else { self.send(Request::Commit).await }
    }

    /// Purges up to `upto` and waits for the device to accept it.
    pub(crate) async fn purge(&self, upto: LogId) -> io::Result<()> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Purge { upto, reply }).await?;
        answered(answer).await
    }

    /// Reads entries with index in `from..to`.
    pub(crate) async fn read(&self, from: u64, to: u64) -> io::Result<Vec<Entry>> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Read { from, to, reply }).await?;
        answered(answer).await
    }

    /// The device's state, after every request sent before this one.
    pub(crate) async fn state(&self) -> io::Result<DeviceState> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::State { reply }).await?;
        answered(answer).await
    }

    async fn send(&self, request: Request) -> io::Result<()> {
        self.requests.send(request).await.map_err(|_| stopped())
    }
}

fn lock(committed: &Mutex<Option<LogId>>) -> std::sync::MutexGuard<'_, Option<LogId>> {
    committed.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn stopped() -> io::Error {
    io::Error::other("the Raft log's thread stopped (see the log for the panic that ended it)")
}

async fn answered<T>(answer: oneshot::Receiver<io::Result<T>>) -> io::Result<T> {
    answer.await.map_err(|_| stopped())?
}

/// The thread's loop: serves requests in order until every handle is gone.
fn serve<D: LogDevice>(mut device: D, mut queue: mpsc::Receiver<Request>, committed: &Mutex<Option<LogId>>) {
    let mut failed: Option<io::Error> = None;
    while let Some(request) = queue.blocking_recv() {
        if let Some(error) = &failed {
            refuse(request, error);
            continue;
        }
        if let Err(error) = serve_one(&mut device, request, committed) {
            tracing::error!("the Raft log failed a write; it refuses every later request: {error}");
            failed = Some(error);
        }
    }
    tracing::debug!("the Raft log's last handle is gone; closing the log");
}

/// Serves one request. An error returned is a failed write, already reported to whoever
/// waits for it.
fn serve_one<D: LogDevice>(device: &mut D, request: Request, committed: &Mutex<Option<LogId>>) -> io::Result<()> {
    match request {
        Request::Append { entries, done } => match device.append(entries) {
            Ok(()) => flush_synced(device, done),
            Err(error) => fail(done, error),
        },
        Request::SaveVote { vote, done } => match device.save_vote(vote) {
            Ok(()) => flush_synced(device, done),
            Err(error) => fail(done, error),
        },
        // Nothing at or after `from`: nothing to truncate (raft-log refuses a missing index).
        Request::Truncate { from, done } if device.state().last.is_none_or(|last| last.index() < from) => {
            done.complete(Ok(()));
            Ok(())
        }
        Request::Truncate { from, done } => match device.truncate(from) {
            Ok(()) => flush_synced(device, done),
            Err(error) => fail(done, error),
        },
        Request::Commit => match lock(committed).take() {
            Some(committed) => device.commit(committed).and_then(|()| device.flush(false, None)),
            None => Ok(()),
        },
        Request::Purge { upto, reply } => {
            let result = device.purge(upto).and_then(|()| device.flush(false, None));
            let _ = reply.send(result.as_ref().map(|_| ()).map_err(copy));
            result
        }
        Request::Read { from, to, reply } => {
            let _ = reply.send(device.read(from, to));
            Ok(())
        }
        Request::State { reply } => {
            let _ = reply.send(Ok(device.state()));
            Ok(())
        }
    }
}

/// Tells `done` of a failed write and returns the failure.
fn fail(done: Flushed, error: io::Error) -> io::Result<()> {
    done.complete(Err(copy(&error)));
    Err(error)
}

/// Flushes with fsync; `done` hears when that is durable, or why not. `raft-log` drops the
/// callback of a flush it cannot queue and returns the error instead, so the callback goes in
/// a slot this thread can still complete.
fn flush_synced<D: LogDevice>(device: &mut D, done: Flushed) -> io::Result<()> {
    let slot = Arc::new(Mutex::new(Some(done)));
    let result = device.flush(true, Some(Flushed::Shared(slot.clone())));
    if let Err(error) = &result {
        Flushed::Shared(slot).complete(Err(copy(error)));
    }
    result
}

/// Answers a request with the error that failed an earlier write.
fn refuse(request: Request, error: &io::Error) {
    let refused = || io::Error::new(error.kind(), format!("the Raft log failed an earlier write: {error}"));
    match request {
        Request::Append { done, .. } | Request::SaveVote { done, .. } | Request::Truncate { done, .. } => {
            done.complete(Err(refused()))
        }
        Request::Commit => {}
        Request::Purge { reply, .. } => drop(reply.send(Err(refused()))),
        Request::Read { reply, .. } => drop(reply.send(Err(refused()))),
        Request::State { reply } => drop(reply.send(Err(refused()))),
    }
}

/// `io::Error` is not `Clone`; the kind and the message are what callers use.
fn copy(error: &io::Error) -> io::Error {
    io::Error::new(error.kind(), error.to_string())
}
