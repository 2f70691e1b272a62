//! Requests a follower sends on to the leader: writes, keep-alives, read-index requests.
//!
//! Writes arriving at a follower are batched: concurrent writes travel to the leader together
//! in one message, as ZooKeeper's followers and etcd's do, instead of one RPC each. Batches form
//! by themselves under load: a few batches may be in flight, and while they are, new writes
//! queue up and leave together in the next one. An idle follower sends each write at once.
//!
//! Bounded everywhere: a follower holds at most `--forwarded-writes-max` writes (queued or in
//! flight; one more is refused as unavailable — certainly not applied), a batch carries at most
//! `BATCH_WRITES_MAX` writes and about `BATCH_BYTES_MAX` bytes, and at most
//! `BATCHES_IN_FLIGHT_MAX` batches travel at once, including those for a new leader.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::core::command::{Outcome, Proposal};
use crate::core::types::{Revision, SessionId};
use crate::error::CoordError;
use crate::proto::raft::Payload;
use crate::raft::codec::{decode, encode};
use crate::raft::network::Peers;
use crate::status::never_sent;

/// How long a follower waits for the leader to answer a forwarded request.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);
/// Most writes in one forwarded batch (with 1 MiB values, well below the peer message limit).
const BATCH_WRITES_MAX: usize = 256;
/// Most bytes of requests in one forwarded batch (far below the peer message limit; a single
/// request of any allowed size still travels, alone).
const BATCH_BYTES_MAX: usize = 32 * 1024 * 1024;
/// Most batches in flight from one follower at a time.
const BATCHES_IN_FLIGHT_MAX: usize = 4;

/// A request a follower forwards to the leader over the node-to-node transport.
#[derive(Debug, Serialize, Deserialize)]
pub enum Forwarded {
    /// Propose these commands (each on its own: they succeed or fail independently), each with
    /// its client's request id, so that deduplication holds across the forwarding hop.
    Writes(Vec<Proposal>),
    /// Refresh a session's lease.
    KeepAlive(SessionId),
    /// Confirm leadership and return the read index.
    ReadIndex,
    /// How long these sessions have left on the leader's lease table.
    LeaseRemaining(Vec<SessionId>),
}

/// What applying one forwarded command gave.
pub type WriteResult = Result<(Revision, Outcome), CoordError>;

/// The leader's answer to a forwarded request.
#[derive(Debug, Serialize, Deserialize)]
pub enum ForwardedReply {
    /// One result per forwarded command, in order.
    Written(Vec<WriteResult>),
    /// A session's TTL in milliseconds.
    KeptAlive(u64),
    /// The leader's read index.
    ReadIndex(Revision),
    /// Milliseconds left per session asked about, in order (`None`: not tracked yet).
    LeaseRemaining(Vec<Option<u64>>),
}

/// Sends one request to the leader at `addr` and decodes its answer. A failed call is the
/// transport's (the leader answers errors inside the payload): for writes that may have
/// reached the leader, the outcome is unknown.
pub async fn call_leader(peers: &Peers, addr: &str, request: &Forwarded) -> Result<ForwardedReply, CoordError> {
    let data = encode(request).map_err(|e| CoordError::Internal { reason: e.to_string() })?;
    let mut client =
        peers.client(addr).map_err(|e| CoordError::Unavailable { reason: format!("leader at {addr}: {e}") })?;
    let mut grpc_request = tonic::Request::new(Payload { data: data.into() });
    grpc_request.set_timeout(FORWARD_TIMEOUT);
    let is_write = matches!(request, Forwarded::Writes(_));
    let reply = client.forward(grpc_request).await.map_err(|status| {
        let reason = format!("forwarding to the leader at {addr}: {}", status.message());
        if is_write && !never_sent(&status) {
            CoordError::OutcomeUnknown { reason }
        } else {
            CoordError::Unavailable { reason }
        }
    })?;
    decode::<Result<ForwardedReply, CoordError>>(&reply.into_inner().data)
        .map_err(|e| CoordError::Internal { reason: e.to_string() })?
}

/// A write waiting to be forwarded.
struct Pending {
    addr: String,
    proposal: Proposal,
    reply: oneshot::Sender<WriteResult>,
    /// Its place among the writes this follower may hold at once; freed with the reply.
    slot: OwnedSemaphorePermit,
}

/// Batches a follower's writes to the leader, holding at most a fixed number at a time.
pub struct WriteForwarder {
    queue: mpsc::UnboundedSender<Pending>,
    /// Writes queued or in flight: the queue is unbounded as a channel but bounded by these.
    held: Arc<Semaphore>,
    held_max: usize,
}

impl WriteForwarder {
    /// Starts the batching task; the forwarder holds at most `held_max` writes at once.
    pub fn start(peers: Peers, held_max: usize) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(peers, rx));
        Self { queue, held: Arc::new(Semaphore::new(held_max)), held_max }
    }

    /// Forwards `proposal` to the leader at `addr` and waits for its result. Refused at once as
    /// unavailable (certainly not applied) when the follower already holds its limit of writes.
    pub async fn forward(&self, addr: String, proposal: Proposal) -> WriteResult {
        let slot = self.held.clone().try_acquire_owned().map_err(|_| CoordError::Unavailable {
            reason: format!(
                "this follower already holds {} writes on their way to the leader (its --forwarded-writes-max); \
                 nothing was applied: send again shortly, or to the leader",
                self.held_max
            ),
        })?;
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { addr, proposal, reply, slot })
            .map_err(|_| CoordError::Unavailable { reason: "node is shutting down".into() })?;
        answer.await.unwrap_or_else(|_| {
            Err(CoordError::OutcomeUnknown { reason: "the forwarding task stopped with the write in flight".into() })
        })
    }
}

async fn run(peers: Peers, mut queue: mpsc::UnboundedReceiver<Pending>) {
    let slots = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT_MAX));
    // A write for another leader than the batch being formed starts the next batch.
    let mut carried: Option<Pending> = None;
    loop {
        let first = match carried.take() {
            Some(pending) => pending,
            None => match queue.recv().await {
                Some(pending) => pending,
                None => return,
            },
        };
        // While every slot is busy, writes keep queueing and leave together.
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let mut bytes = first.proposal.command.request_bytes();
        let mut batch = vec![first];
        while batch.len() < BATCH_WRITES_MAX && bytes < BATCH_BYTES_MAX.min(peers.message_bytes_max() / 2) {
            match queue.try_recv() {
                Ok(pending) if pending.addr == batch[0].addr => {
                    bytes += pending.proposal.command.request_bytes();
                    batch.push(pending);
                }
                Ok(pending) => {
                    carried = Some(pending);
                    break;
                }
                Err(_) => break,
            }
        }
        let peers = peers.clone();
        tokio::spawn(async move {
            send(&peers, batch).await;
            drop(slot);
        });
    }
}

/// Where one forwarded write's result goes, with its slot.
struct Reply {
    tx: oneshot::Sender<WriteResult>,
    _slot: OwnedSemaphorePermit,
}

impl Reply {
    fn send(self, result: WriteResult) {
        let _ = self.tx.send(result);
    }
}

async fn send(peers: &Peers, batch: Vec<Pending>) {
    let addr = batch[0].addr.clone();
    // Each write keeps its slot until its reply is sent: it is held until then.
    let (commands, replies): (Vec<Proposal>, Vec<Reply>) =
        batch.into_iter().map(|p| (p.proposal, Reply { tx: p.reply, _slot: p.slot })).unzip();
    let count = commands.len();
    match call_leader(peers, &addr, &Forwarded::Writes(commands)).await {
        Ok(ForwardedReply::Written(results)) if results.len() == count => {
            for (reply, result) in replies.into_iter().zip(results) {
                reply.send(result);
            }
        }
        Ok(other) => {
            let error = CoordError::Internal { reason: format!("leader answered {count} writes with {other:?}") };
            replies.into_iter().for_each(|r| r.send(Err(error.clone())));
        }
        Err(error) => replies.into_iter().for_each(|r| r.send(Err(error.clone()))),
    }
}
