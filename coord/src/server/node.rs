//! One coordinator node: Raft, the replicated state, session leases, and the operations the
//! gRPC services are thin wrappers around (propose a command, linearize a read, keep a session
//! alive), each of which works on any node: a follower forwards to the leader.
//!
//! # Linearizable reads: the leader's lease, the read index as fallback
//!
//! A linearizable read needs the read index: the commit index at a moment when this node was
//! surely the leader. Raft's read index proves that with a heartbeat round to a quorum for every
//! read (batched, but still a round trip). With `lease_reads` (the default) the leader skips the
//! round trip while it holds a *lease*: a quorum acknowledged a message it sent less than one
//! lease ago (twice the election timeout, openraft's `leader_lease`), and every follower that
//! acknowledged it refuses to vote for anyone else, or to campaign itself, for one lease from
//! when it received that message. So no other leader can exist until the lease ends, and the
//! commit index is the read index. When the lease has lapsed (an idle or cut-off leader), the
//! read falls back to the read index; `lease_reads = false` always uses it.
//!
//! **The clock assumption.** The leader counts its lease from when it *sent* the message, a
//! follower from when it *received* it, each on its own monotonic clock; the lease is safe if
//! no follower's clock runs faster than the leader's by more than the network delay over one
//! lease (a drift of a few parts per million on real hardware; a VM that is paused and resumed
//! keeps its monotonic clock running or stopped for all its processes alike). Wall-clock steps
//! (NTP, an operator) do not matter: only monotonic clocks are used.
//!
//! **After a restart** a node has forgotten whose lease it honoured, so for one lease after it
//! starts it neither grants votes (see `server::transport`) nor campaigns: a leader that counted
//! this node's acknowledgement from before the crash may still be serving reads from it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::async_runtime::WatchReceiver;
use openraft::errors::{ClientWriteError, LinearizableReadError, RaftError};
use openraft::{BasicNode, ReadPolicy, ServerState};

use crate::config::NodeConfig;
use crate::core::command::{Command, Outcome, Proposal};
use crate::core::history::HistoryBounds;
use crate::core::leases::{CHECKPOINT_INTERVAL, Leases, Term};
use crate::core::types::{Revision, SessionId};
use crate::error::CoordError;
use crate::observe::CoordMetrics;
use crate::raft::database::open_database;
use crate::raft::network::{NetworkFactory, Peers};
use crate::raft::state_machine::{SharedState, StateMachineStore};
use crate::raft::wal_store::WalStore;
use crate::raft::{NodeId, Raft, TypeConfig};
use crate::server::forward::{Forwarded, ForwardedReply, WriteForwarder, call_leader};
use crate::server::read_rounds::ReadRounds;

/// Most bytes of entries in one replication message (and at most half a peer message).
const REPLICATION_BATCH_BYTES_MAX: usize = 256 * 1024 * 1024;
/// How long a linearizable read waits for this node to apply up to the read index.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(5);

/// The leader lease openraft keeps for this configuration: the upper bound of the election
/// timeout (`election_timeout_max`, twice the configured lower bound).
fn leader_lease(config: &NodeConfig) -> Duration {
    config.election_timeout * 2
}

/// A running coordinator node (without its gRPC server; see `server::serve`).
pub struct CoordNode {
    /// The node's configuration.
    pub config: NodeConfig,
    /// openraft's handle.
    pub raft: Raft,
    /// The applied state, for local reads.
    pub shared: Arc<SharedState>,
    /// The node's metrics (served by `observe::http` when a metrics listener is given).
    pub metrics: Arc<CoordMetrics>,
    peers: Peers,
    forwarder: WriteForwarder,
    /// Read-index rounds on this node as the leader (its own reads and followers' together).
    leader_reads: ReadRounds,
    /// Read-index rounds asked of the leader, when this node is a follower.
    forwarded_reads: ReadRounds,
    leases: Mutex<Leases>,
    /// Before this instant (one lease after the node started) it grants no votes.
    votes_from: tokio::time::Instant,
}

/// Opens (or creates) a node's storage in `data_dir`: the Raft log (`wal/`) and the database
/// holding the latest snapshot (`skyway.redb`), from which the state machine is loaded. Blocking.
fn open_storage(data_dir: &Path, history: HistoryBounds) -> Result<(WalStore, StateMachineStore), CoordError> {
    let internal = |what: &str, e: &dyn std::fmt::Display| CoordError::Internal { reason: format!("{what}: {e}") };
    std::fs::create_dir_all(data_dir)
        .map_err(|e| internal(&format!("cannot create data directory {}", data_dir.display()), &e))?;
    let db_path = data_dir.join("skyway.redb");
    let db = open_database(&db_path).map_err(|e| internal(&format!("cannot open {}", db_path.display()), &e))?;
    let wal_dir = data_dir.join("wal");
    let log_store =
        WalStore::open(&wal_dir).map_err(|e| internal(&format!("cannot open the log in {}", wal_dir.display()), &e))?;
    let state_machine = StateMachineStore::open(db, history).map_err(|e| internal("cannot load snapshot", &e))?;
    Ok((log_store, state_machine))
}

impl CoordNode {
    /// Opens the node's storage, starts Raft, and forms the cluster on first start.
    pub async fn start(config: NodeConfig) -> Result<Arc<Self>, CoordError> {
        config.validate()?;
        let internal = |what: &str, e: &dyn std::fmt::Display| CoordError::Internal { reason: format!("{what}: {e}") };
        let metrics = Arc::new(CoordMetrics::new());
        // Opening replays the log and may repair the database after a crash: disk work that
        // can take seconds, so it runs off the async threads (as every later fsync does).
        let (data_dir, history) = (
            config.data_dir.clone(),
            HistoryBounds { events: config.history_events_max, bytes: config.history_bytes_max },
        );
        let (log_store, state_machine) = tokio::task::spawn_blocking(move || open_storage(&data_dir, history))
            .await
            .map_err(|e| internal("opening the node's storage stopped", &e))??;
        let log_store = log_store.with_fsync_histogram(metrics.log_fsync_duration.clone());
        let state_machine = state_machine.with_metrics(metrics.clone());
        let shared = state_machine.shared();

        let peers = Peers::new(config.peer_routes.clone(), config.peer_tls.as_ref())
            .with_message_bytes_max(config.peer_message_bytes_max);
        let replication_batch_bytes = REPLICATION_BATCH_BYTES_MAX.min(config.peer_message_bytes_max / 2);
        let raft_config = openraft::Config {
            cluster_name: "skyway".into(),
            heartbeat_interval: config.heartbeat_interval.as_millis() as u64,
            election_timeout_min: config.election_timeout.as_millis() as u64,
            election_timeout_max: config.election_timeout.as_millis() as u64 * 2,
            // A follower that stopped hearing the leader (starved of CPU, or cut off alone)
            // first asks whether the others would vote for it; they would not while they hear
            // the leader, so it cannot depose a live leader by raising the term.
            enable_pre_vote: Some(true),
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(config.snapshot_after_entries),
            max_in_snapshot_log_to_keep: config.log_entries_kept,
            // openraft caps replication batches by entries; derive that from a byte budget, so
            // a batch of the largest requests still fits one peer message.
            max_payload_entries: (replication_batch_bytes / (config.request_bytes_max + 4096)).clamp(1, 300) as u64,
            // Snapshots travel in chunks of this size (see `raft::network`).
            snapshot_max_chunk_size: peers.snapshot_chunk_bytes(None) as u64,
            ..Default::default()
        }
        .validate()
        .map_err(|e| internal("invalid raft configuration", &e))?;

        let raft =
            Raft::new(config.id, Arc::new(raft_config), NetworkFactory::new(peers.clone()), log_store, state_machine)
                .await
                .map_err(|e| internal("cannot start raft", &e))?;

        if !config.peers.is_empty() && !raft.is_initialized().await.map_err(|e| internal("raft stopped", &e))? {
            let members: BTreeMap<NodeId, BasicNode> =
                config.peers.iter().map(|(id, addr)| (*id, BasicNode { addr: addr.clone() })).collect();
            // Every node of a new cluster initializes with the same members; openraft makes
            // that safe, and the cluster forms whichever nodes come up first.
            match raft.initialize(members).await {
                Ok(()) => tracing::info!(node = config.id, peers = ?config.peers, "initialized a new cluster"),
                Err(e) => tracing::info!(node = config.id, "cluster already initialized: {e}"),
            }
        }
        let forwarder = WriteForwarder::start(peers.clone(), config.forwarded_writes_max);
        let leases = Mutex::new(Leases::new(config.election_timeout));
        let votes_from =
            tokio::time::Instant::now() + if config.lease_reads { leader_lease(&config) } else { Duration::ZERO };
        if config.lease_reads {
            // No campaign during the first lease either (see the module docs): elections on a
            // timeout are switched on once it has passed.
            raft.runtime_config().elect(false);
            let raft = raft.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until(votes_from).await;
                raft.runtime_config().elect(true);
            });
        }
        Ok(Arc::new(Self {
            config,
            raft,
            shared,
            metrics,
            peers,
            forwarder,
            leader_reads: ReadRounds::default(),
            forwarded_reads: ReadRounds::default(),
            leases,
            votes_from,
        }))
    }

    /// Waits until this node may grant votes: one lease after it started, when lease reads are
    /// on (see the module docs), at once otherwise.
    pub async fn wait_until_it_may_vote(&self) {
        tokio::time::sleep_until(self.votes_from).await;
    }

    /// Whether this node currently believes it is the Raft leader.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow_watched().state == ServerState::Leader
    }

    /// The term this node leads, if it believes it is the Raft leader.
    fn leader_term(&self) -> Option<Term> {
        let metrics = self.raft.metrics().borrow_watched().clone();
        (metrics.state == ServerState::Leader).then_some(metrics.current_term)
    }

    /// The leader's id and address, if one is known.
    pub fn leader(&self) -> Option<(NodeId, String)> {
        let metrics = self.raft.metrics().borrow_watched().clone();
        let id = metrics.current_leader?;
        let addr = metrics.membership_config.membership().get_node(&id)?.addr.clone();
        Some((id, addr))
    }

    fn not_leader(&self) -> CoordError {
        let leader = self.leader();
        CoordError::NotLeader { leader_id: leader.as_ref().map(|l| l.0), leader_addr: leader.map(|l| l.1) }
    }

    /// The leader this node knows of, when that is another node: one look at Raft's metrics
    /// (cloning only the address), cheap enough for every request.
    fn other_leader(&self) -> Option<String> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow_watched();
        let id = metrics.current_leader?;
        if id == self.config.id {
            return None;
        }
        Some(metrics.membership_config.membership().get_node(&id)?.addr.clone())
    }

    /// Proposes a command and waits for its outcome; on a follower, forwards it to the leader
    /// (with its request id, so a retry stays deduplicated wherever it lands).
    ///
    /// A follower that knows the leader forwards at once, without asking its own Raft core
    /// first (which would only answer "not the leader"): one message and one task wake-up less
    /// per forwarded write. If its knowledge is stale, the node it reaches refuses the write as
    /// not the leader — certainly not applied — and the client tries again.
    pub async fn propose(&self, proposal: Proposal) -> Result<(Revision, Outcome), CoordError> {
        if let Some(addr) = self.other_leader() {
            return self.forwarder.forward(addr, proposal).await;
        }
        match self.propose_locally(proposal).await {
            Err((CoordError::NotLeader { leader_addr: Some(addr), .. }, Some(proposal))) => {
                self.forwarder.forward(addr, proposal).await
            }
            Err((error, _)) => Err(error),
            Ok(result) => Ok(result),
        }
    }

    /// Proposes a command on this node only. On `NotLeader` the proposal is handed back.
    ///
    /// Outcomes are told as they are: refused before the entry was appended (`NotLeader`) is
    /// certainly not applied; an entry appended and then discarded because this node lost its
    /// leadership (openraft's `LogEntryDiscarded`), or Raft stopping with it in flight, is an
    /// unknown outcome — the entry may still commit through the next leader.
    async fn propose_locally(&self, proposal: Proposal) -> Result<(Revision, Outcome), (CoordError, Option<Proposal>)> {
        if let Err(e) = self.check_quota(&proposal.command) {
            return Err((e, None));
        }
        let _pending = self.metrics.proposal_pending();
        // Keep a copy only for the case where it must travel on to the leader.
        let kept = if self.is_leader() { None } else { Some(proposal.clone()) };
        match self.raft.client_write(proposal).await {
            Ok(response) => {
                let answer = response.data;
                answer.result.map(|outcome| (answer.revision, outcome)).map_err(|e| (e, None))
            }
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                let error = CoordError::NotLeader {
                    leader_id: forward.leader_id,
                    leader_addr: forward.leader_node.map(|n| n.addr),
                };
                Err((error, kept))
            }
            Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(forward))) => {
                let leader =
                    forward.leader_id.map_or("no leader is known yet".to_string(), |l| format!("node {l} leads now"));
                let reason = format!(
                    "the leader accepted the write, then lost its leadership before it committed ({leader}); it may still commit"
                );
                Err((CoordError::OutcomeUnknown { reason }, None))
            }
            Err(RaftError::APIError(e)) => Err((CoordError::Internal { reason: e.to_string() }, None)),
            // The entry may have been appended before Raft stopped or lost leadership.
            Err(RaftError::Fatal(e)) => {
                Err((CoordError::OutcomeUnknown { reason: format!("raft stopped: {e}") }, None))
            }
        }
    }

    /// Refuses a command that would take the namespace past its quota, as etcd refuses writes
    /// past its backend quota: checked before proposing, against the state applied so far, so
    /// writes in flight at once may overshoot it by what they carry; deletes always pass.
    /// (Checked where the command is proposed, not in the state machine, so that replicas with
    /// different quotas cannot diverge.)
    fn check_quota(&self, command: &Command) -> Result<(), CoordError> {
        let growth = command.growth();
        if growth.nodes == 0 && growth.bytes == 0 {
            return Ok(());
        }
        let (nodes, bytes) = {
            let state = self.shared.read();
            (state.node_count() as u64, state.data_bytes())
        };
        if growth.nodes > 0 && nodes + growth.nodes > self.config.quota_nodes {
            return Err(CoordError::QuotaExceeded {
                what: "nodes".into(),
                would_be: nodes + growth.nodes,
                max: self.config.quota_nodes,
            });
        }
        if bytes + growth.bytes > self.config.quota_bytes {
            return Err(CoordError::QuotaExceeded {
                what: "bytes".into(),
                would_be: bytes + growth.bytes,
                max: self.config.quota_bytes,
            });
        }
        Ok(())
    }

    /// Serves a request forwarded by a follower: only if this node is the leader.
    pub async fn handle_forwarded(&self, request: Forwarded) -> Result<ForwardedReply, CoordError> {
        match request {
            Forwarded::Writes(proposals) => {
                // Proposed concurrently, so openraft appends them as one batch.
                let results = futures::future::join_all(
                    proposals
                        .into_iter()
                        .map(|proposal| async { self.propose_locally(proposal).await.map_err(|(e, _)| e) }),
                )
                .await;
                Ok(ForwardedReply::Written(results))
            }
            Forwarded::KeepAlive(session) => Ok(ForwardedReply::KeptAlive(self.keep_alive_locally(session).await?)),
            Forwarded::ReadIndex => {
                Ok(ForwardedReply::ReadIndex(self.leader_reads.read_index(|| self.read_index_locally()).await?))
            }
            Forwarded::LeaseRemaining(sessions) => {
                Ok(ForwardedReply::LeaseRemaining(self.lease_remaining_locally(&sessions).await?))
            }
        }
    }

    /// Makes the next local read linearizable: confirms the leader's leadership with a quorum
    /// (Raft's read index) and waits until this node has applied up to that index.
    ///
    /// Reads arriving together share one read index (`server::read_rounds`). A follower that
    /// knows the leader asks it at once, without first asking its own Raft core (which could
    /// only answer "not the leader"); if its knowledge is stale, the node it reaches refuses.
    pub async fn linearize(&self) -> Result<(), CoordError> {
        let read_index = match self.other_leader() {
            Some(addr) => self.read_index_from_leader(addr).await?,
            None => match self.leader_reads.read_index(|| self.read_index_locally()).await {
                Ok(index) => index,
                Err(CoordError::NotLeader { leader_addr: Some(addr), .. }) => self.read_index_from_leader(addr).await?,
                Err(e) => return Err(e),
            },
        };
        self.catch_up(read_index).await
    }

    /// The leader's read index, asked of the leader at `addr` (in rounds shared by the reads
    /// arriving together).
    async fn read_index_from_leader(&self, addr: String) -> Result<Revision, CoordError> {
        self.forwarded_reads
            .read_index(|| async move {
                match call_leader(&self.peers, &addr, &Forwarded::ReadIndex).await? {
                    ForwardedReply::ReadIndex(index) => Ok(index),
                    other => {
                        Err(CoordError::Internal { reason: format!("leader answered a read index with {other:?}") })
                    }
                }
            })
            .await
    }

    /// Waits, at most [`CATCH_UP_TIMEOUT`], until this node has applied `revision`.
    async fn catch_up(&self, revision: Revision) -> Result<(), CoordError> {
        self.shared.wait_applied_within(revision, CATCH_UP_TIMEOUT).await
    }

    /// The read index, if this node is the leader: from its lease while it holds one (and
    /// lease reads are on), else by a heartbeat round to a quorum (see the module docs).
    async fn read_index_locally(&self) -> Result<Revision, CoordError> {
        if self.config.lease_reads {
            match self.raft.ensure_linearizable(ReadPolicy::LeaseRead).await {
                Ok(read_log_id) => return Ok(Revision(read_log_id.index())),
                // The lease lapsed: prove leadership the long way.
                Err(RaftError::APIError(LinearizableReadError::QuorumNotEnough(_))) => {}
                Err(e) => return Err(linearizable_read_error(e)),
            }
        }
        self.raft
            .ensure_linearizable(ReadPolicy::ReadIndex)
            .await
            .map(|id| Revision(id.index()))
            .map_err(linearizable_read_error)
    }

    /// Refreshes a session's lease at the leader. Returns the session's TTL in milliseconds.
    pub async fn keep_alive(&self, session: SessionId) -> Result<u64, CoordError> {
        match self.keep_alive_locally(session).await {
            Err(CoordError::NotLeader { leader_addr: Some(addr), .. }) => {
                match call_leader(&self.peers, &addr, &Forwarded::KeepAlive(session)).await? {
                    ForwardedReply::KeptAlive(ttl) => Ok(ttl),
                    other => {
                        Err(CoordError::Internal { reason: format!("leader answered a keep-alive with {other:?}") })
                    }
                }
            }
            other => other,
        }
    }

    /// How long each of `sessions` has before the leader expires it, in milliseconds, from the
    /// leader's lease table (asked over the peer transport when this node is not the leader):
    /// only the leader knows, since keep-alives are answered there alone.
    pub async fn lease_remaining(&self, sessions: &[SessionId]) -> Result<Vec<Option<u64>>, CoordError> {
        match self.lease_remaining_locally(sessions).await {
            Err(CoordError::NotLeader { leader_addr: Some(addr), .. }) => {
                match call_leader(&self.peers, &addr, &Forwarded::LeaseRemaining(sessions.to_vec())).await? {
                    ForwardedReply::LeaseRemaining(remaining) if remaining.len() == sessions.len() => Ok(remaining),
                    other => Err(CoordError::Internal {
                        reason: format!("leader answered a lease query for {} sessions with {other:?}", sessions.len()),
                    }),
                }
            }
            other => other,
        }
    }

    async fn lease_remaining_locally(&self, sessions: &[SessionId]) -> Result<Vec<Option<u64>>, CoordError> {
        let term = self.lease_term().await?;
        Ok(self.leases.lock().expect("leases poisoned").remaining(term, sessions, Instant::now()))
    }

    /// Renews a session's lease if this node is the leader *and holds the quorum lease*.
    ///
    /// Why not `is_leader()` alone: that is this node's belief, and a leader cut off from its
    /// quorum keeps believing it until it hears of a higher term. Its answer would tell the
    /// client "renewed" while the real leader, which never heard the keep-alive, counts the
    /// session down and expires it. openraft's lease read answers only while a quorum
    /// acknowledged this leader within the leader lease (one maximum election timeout), during
    /// which those followers refuse to elect anyone else; so, with clocks that run at about the
    /// same rate, no other leader can exist when a keep-alive is answered here, and the renewal
    /// lands in the table of the term that lease belongs to.
    async fn keep_alive_locally(&self, session: SessionId) -> Result<u64, CoordError> {
        let term = self.lease_term().await?;
        let ttl_of = |node: &Self| node.shared.read().sessions().get(&session).map(|s| s.ttl_ms);
        let ttl_ms = match ttl_of(self) {
            Some(ttl) => ttl,
            None => {
                // A new leader may not have applied everything committed yet (the session's
                // opening among it): catch up before declaring the session unknown.
                let read_index = self.read_index_locally().await?;
                self.catch_up(read_index).await?;
                ttl_of(self).ok_or(CoordError::SessionExpired { session: session.0 })?
            }
        };
        self.leases.lock().expect("leases poisoned").renew(
            term,
            session,
            Duration::from_millis(ttl_ms),
            Instant::now(),
        );
        Ok(ttl_ms)
    }

    /// The term this node leads with a valid quorum lease (see [`Self::keep_alive_locally`]).
    async fn lease_term(&self) -> Result<Term, CoordError> {
        match self.raft.get_read_log_id(ReadPolicy::LeaseRead).await {
            Ok((read_log_id, _)) => Ok(read_log_id.committed_leader_id().term),
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(_))) => Err(self.not_leader()),
            Err(RaftError::APIError(LinearizableReadError::QuorumNotEnough(e))) => Err(CoordError::Unavailable {
                reason: format!("this leader has not heard from a quorum within its lease ({e}); retry another node"),
            }),
            Err(RaftError::Fatal(e)) => Err(CoordError::Unavailable { reason: format!("raft stopped: {e}") }),
        }
    }

    /// The leader's session-expiry loop: every tick, bring the lease table in line with the
    /// open sessions and propose the expiry of those that went silent; every
    /// [`CHECKPOINT_INTERVAL`], commit the remaining TTLs of long sessions. Runs on every node;
    /// only acts while leader, and starts from a fresh table at every term it leads, even one
    /// won back between two ticks (the rule for what a new leader grants is in `core::leases`).
    ///
    /// The loop wakes every tick and also at the earliest lease deadline, so a session expires
    /// when its TTL runs out, not up to a tick later.
    pub async fn run_session_expiry(self: Arc<Self>, tick: Duration) {
        let mut next_checkpoint = Instant::now();
        let mut wake = Instant::now();
        loop {
            tokio::time::sleep_until(wake.into()).await;
            wake = Instant::now() + tick;
            let Some(term) = self.leader_term() else { continue };
            let now = Instant::now();
            // Keyed by term: leadership lost and regained since the last tick is a new table.
            if self.leases.lock().expect("leases poisoned").enter_term(term) {
                tracing::info!(
                    node = self.config.id,
                    term,
                    "became leader: sessions keep their checkpointed TTL or a short grace, whichever is longer"
                );
                next_checkpoint = now + CHECKPOINT_INTERVAL;
            }
            self.maybe_commit_membership_window().await;
            let checkpoint_due = now >= next_checkpoint;
            if checkpoint_due {
                next_checkpoint = now + CHECKPOINT_INTERVAL;
            }
            let (expired, checkpoint) = {
                let state = self.shared.read();
                let checkpoint_applied = self.shared.checkpoint_applied();
                let mut leases = self.leases.lock().expect("leases poisoned");
                leases.reconcile(term, state.sessions(), &checkpoint_applied, now);
                let checkpoint = if checkpoint_due { leases.checkpoint(term, now) } else { Vec::new() };
                // Past deadlines are expired below (one whose expiry fails to commit is retried
                // at the next tick); wake at the next one still ahead.
                if let Some(deadline) = leases.next_deadline(term, now) {
                    wake = wake.min(deadline);
                }
                (leases.expired(term, now), checkpoint)
            };
            if !checkpoint.is_empty() {
                let sessions = checkpoint.len();
                if let Err((e, _)) =
                    self.propose_locally(Proposal::anonymous(Command::CheckpointLeases { remaining: checkpoint })).await
                {
                    tracing::warn!(node = self.config.id, sessions, "lease checkpoint not committed: {e}");
                }
            }
            if expired.is_empty() {
                continue;
            }
            tracing::info!(node = self.config.id, sessions = ?expired, "proposing session expiry");
            match self.propose_locally(Proposal::anonymous(Command::ExpireSessions { sessions: expired })).await {
                Ok((revision, outcome)) => {
                    tracing::info!(node = self.config.id, %revision, ?outcome, "session expiry committed")
                }
                Err((e, _)) => tracing::warn!(node = self.config.id, "session expiry not committed: {e}"),
            }
        }
    }

    /// Commits this node's configured membership-log window if the replicated one differs (the
    /// window is replicated state, so every replica trims the same records; see
    /// `core::membership`). Called by the leader's loop; a failure is retried on the next tick.
    async fn maybe_commit_membership_window(&self) {
        let records_max = self.config.membership_log_records_max;
        if self.shared.read().membership_window().records_max == records_max {
            return;
        }
        let command = Command::SetMembershipWindow { records_max };
        match self.propose_locally(Proposal::anonymous(command)).await {
            Ok((revision, _)) => {
                tracing::info!(node = self.config.id, records_max, %revision, "membership log window committed")
            }
            Err((e, _)) => {
                tracing::warn!(node = self.config.id, records_max, "membership log window not committed: {e}")
            }
        }
    }

    /// On a clean shutdown of the leader: hands leadership to the most up-to-date voter, so the
    /// cluster does not sit out an election timeout. Waits at most `timeout` for the handover.
    pub async fn hand_over_leadership(&self, timeout: Duration) {
        let metrics = self.raft.metrics().borrow_watched().clone();
        if metrics.state != ServerState::Leader {
            return;
        }
        let voters: Vec<NodeId> =
            metrics.membership_config.membership().voter_ids().filter(|id| *id != self.config.id).collect();
        let best = metrics.replication.as_ref().and_then(|replication| {
            voters.iter().max_by_key(|id| replication.get(id).cloned().flatten().map(|l| l.index)).copied()
        });
        let Some(successor) = best else { return };
        tracing::info!(node = self.config.id, successor, "shutting down as leader: transferring leadership");
        if let Err(e) = self.raft.trigger().transfer_leader(successor).await {
            tracing::warn!("leadership transfer failed: {e}");
            return;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut metrics = self.raft.metrics();
        while tokio::time::Instant::now() < deadline {
            let leader = metrics.borrow_watched().current_leader;
            if leader.is_some_and(|l| l != self.config.id) {
                tracing::info!(node = self.config.id, new_leader = ?leader, "leadership handed over");
                return;
            }
            let _ = tokio::time::timeout_at(deadline, metrics.changed()).await;
        }
    }

    /// Adds a node: as a learner (caught up before returning), then as a voter if asked.
    /// The id and address are checked first: a node 0 or an address no peer can dial would
    /// otherwise join the membership (as a voter, it counts towards every quorum and never votes).
    pub async fn add_node(&self, id: NodeId, addr: String, voter: bool) -> Result<(), CoordError> {
        check_new_member(id, &addr)?;
        self.raft.add_learner(id, BasicNode { addr }, true).await.map_err(membership_change_error)?;
        if voter {
            self.raft
                .change_membership(openraft::ChangeMembers::AddVoterIds([id].into()), false)
                .await
                .map_err(membership_change_error)?;
        }
        Ok(())
    }

    /// Removes a node from the voters and learners.
    pub async fn remove_node(&self, id: NodeId) -> Result<(), CoordError> {
        let membership = self.raft.metrics().borrow_watched().membership_config.membership().clone();
        if membership.voter_ids().any(|v| v == id) {
            self.raft
                .change_membership(openraft::ChangeMembers::RemoveVoters([id].into()), false)
                .await
                .map_err(membership_change_error)?;
        }
        self.raft
            .change_membership(openraft::ChangeMembers::RemoveNodes([id].into()), false)
            .await
            .map_err(membership_change_error)?;
        Ok(())
    }
}

/// The error for a failed membership change: redirect to the leader, or retry later (another
/// change in progress, no quorum).
fn membership_change_error(error: RaftError<TypeConfig, ClientWriteError<TypeConfig>>) -> CoordError {
    match error {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            CoordError::NotLeader { leader_id: f.leader_id, leader_addr: f.leader_node.map(|n| n.addr) }
        }
        other => CoordError::Unavailable { reason: format!("membership change failed: {other}") },
    }
}

/// The error for a read index that could not be had: redirect to the leader, or retry later.
fn linearizable_read_error(error: RaftError<TypeConfig, LinearizableReadError<TypeConfig>>) -> CoordError {
    match error {
        RaftError::APIError(LinearizableReadError::ForwardToLeader(forward)) => {
            CoordError::NotLeader { leader_id: forward.leader_id, leader_addr: forward.leader_node.map(|n| n.addr) }
        }
        RaftError::APIError(LinearizableReadError::QuorumNotEnough(e)) => {
            CoordError::Unavailable { reason: e.to_string() }
        }
        RaftError::Fatal(e) => CoordError::Unavailable { reason: format!("raft stopped: {e}") },
    }
}

/// A node to add must have an id of at least 1 and a `HOST:PORT` address.
fn check_new_member(id: NodeId, addr: &str) -> Result<(), CoordError> {
    if id == 0 {
        return Err(CoordError::InvalidArgument { reason: "node id 0: node ids start at 1".into() });
    }
    let dialable =
        addr.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0));
    if !dialable {
        return Err(CoordError::InvalidArgument {
            reason: format!(
                "node address {addr:?} is not HOST:PORT (e.g. 10.0.0.4:7000): the peers could not reach it"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_member_needs_an_id_and_a_dialable_address() {
        // Found by tests/tests/hostile_grpc.rs: `AddNode { node_id: 0, addr: "" , voter: true }`
        // made node 0 a voter of a 3-node cluster.
        for (id, addr) in [(0, "127.0.0.1:7000"), (4, ""), (4, "host"), (4, ":7000"), (4, "h:x"), (4, "h:0")] {
            let error = check_new_member(id, addr).unwrap_err();
            assert!(matches!(error, CoordError::InvalidArgument { .. }), "{id} {addr:?}: {error}");
        }
        check_new_member(4, "10.0.0.4:7000").unwrap();
        check_new_member(4, "coord-4.internal:7000").unwrap();
    }
}
