//! The public gRPC API: each handler converts the request at the edge, calls the node, and
//! converts the answer. Errors become statuses in one place (`status`).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use openraft::async_runtime::WatchReceiver;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::convert;
use super::identity::caller;
use super::limits::WatchCounter;
use super::node::CoordNode;
use crate::config::{SESSION_TTL_MAX, SESSION_TTL_MIN};
use crate::core::acl::{Caller, Perm, Perms, TokenHash, check_identity};
use crate::core::command::{Command, Outcome, Proposal};
use crate::core::history::{BatchLimit, WatchFilter};
use crate::core::membership::LOG_PATH;
use crate::core::path::NodePath;
use crate::core::state::Session;
use crate::core::types::{Revision, SessionId};
use crate::error::CoordError;
use crate::proto::coord as pb;
use crate::proto::coord::coord_server::Coord;
use crate::status::to_status;

/// Most events sent in one watch response.
const WATCH_BATCH_EVENTS_MAX: usize = 1_000;
/// About the most bytes sent in one watch response: far below the client's 64 MiB message
/// limit, which one revision (at most one request's bytes, or deletions without values) never
/// approaches, so a batch always decodes.
const WATCH_BATCH_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Responses a watch stream may have waiting for a slow client before it stops reading the
/// history (and so holds no more memory for it): the client catches up from the history, or,
/// if it fell out of the window meanwhile, gets `Compacted` and resumes from a fresh read.
const WATCH_RESPONSES_BUFFERED: usize = 16;
/// Sessions in a `ListSessions` page when the request names no limit, and the most it may name.
const SESSIONS_PAGE_DEFAULT: usize = 1_000;
const SESSIONS_PAGE_MAX: usize = 10_000;
/// Ephemeral nodes listed per session in a `ListSessions` page (all are counted).
const SESSION_EPHEMERALS_LISTED: usize = 16;
/// How often an idle watch stream reports the revision it has reached.
const WATCH_PROGRESS_INTERVAL: Duration = Duration::from_millis(500);

/// The client-facing service of one node.
pub struct ApiService {
    node: Arc<CoordNode>,
    watches: WatchCounter,
}

impl ApiService {
    /// A service for `node`.
    pub fn new(node: Arc<CoordNode>) -> Self {
        let watches = WatchCounter::new(node.config.watches_per_connection_max);
        Self { node, watches }
    }

    async fn write(
        &self,
        request: Option<pb::RequestId>,
        caller: Caller,
        command: Command,
    ) -> Result<(Revision, Outcome), Status> {
        if command.op_count() > self.node.config.txn_ops_max {
            return Err(to_status(&CoordError::TooManyOps {
                count: command.op_count(),
                max: self.node.config.txn_ops_max,
            }));
        }
        let size = command.request_bytes();
        if size > self.node.config.request_bytes_max {
            return Err(to_status(&CoordError::RequestTooLarge { size, max: self.node.config.request_bytes_max }));
        }
        let request = edge(convert::request_id(request))?;
        self.node.propose(Proposal { request, caller, command }).await.map_err(|e| to_status(&e))
    }

    /// Linearizes (or not) as asked, then refuses `caller` unless it holds `perm` at `path`
    /// in the applied state the read will see (taken under the same lock by the caller).
    async fn before_read_at(
        &self,
        consistency: i32,
        caller: &Caller,
        path: &NodePath,
        perm: Perm,
        action: &str,
    ) -> Result<(), Status> {
        self.before_read(consistency).await?;
        edge(self.node.shared.read().acl().authorize(caller, path, perm, action))
    }

    /// For cluster changes, which are not commands of the state machine: admin on `/` in the
    /// state as of a read index, so a grant or revoke acknowledged before counts.
    async fn require_admin(&self, caller: &Caller, action: &str) -> Result<(), Status> {
        self.before_read_at(pb::Consistency::Linearizable as i32, caller, &NodePath::root(), Perm::Admin, action).await
    }

    async fn before_read(&self, consistency: i32) -> Result<(), Status> {
        match pb::Consistency::try_from(consistency) {
            Ok(pb::Consistency::Linearizable) => self.node.linearize().await.map_err(|e| to_status(&e)),
            Ok(pb::Consistency::Serializable) => Ok(()),
            Err(_) => {
                Err(to_status(&CoordError::InvalidArgument { reason: format!("unknown consistency {consistency}") }))
            }
        }
    }
}

fn edge<T>(result: Result<T, CoordError>) -> Result<T, Status> {
    result.map_err(|e| to_status(&e))
}

fn session_info(id: SessionId, session: &Session) -> pb::SessionInfo {
    pb::SessionInfo {
        session_id: id.0,
        ttl_ms: session.ttl_ms,
        member: session.member.clone().unwrap_or_default(),
        owner: session.owner.clone().unwrap_or_default(),
        ephemerals: session.ephemerals.iter().take(SESSION_EPHEMERALS_LISTED).map(|p| p.to_string()).collect(),
        ephemeral_count: session.ephemerals.len() as u64,
        remaining_ms: None,
    }
}

fn unexpected(outcome: Outcome) -> Status {
    to_status(&CoordError::Internal { reason: format!("unexpected outcome {outcome:?}") })
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Coord for ApiService {
    #[tracing::instrument(level = "debug", skip_all, fields(path = %request.get_ref().path))]
    async fn create(&self, request: Request<pb::CreateRequest>) -> Result<Response<pb::CreateResponse>, Status> {
        let caller = edge(caller(&request))?;
        let request = request.into_inner();
        let id = request.request;
        let op = edge(convert::create_op(request, &self.node.config))?;
        match self.write(id, caller, Command::Create(op)).await? {
            (revision, Outcome::Created { path, stat }) => Ok(Response::new(pb::CreateResponse {
                path: path.into(),
                stat: Some(convert::stat(stat)),
                revision: revision.0,
            })),
            (_, other) => Err(unexpected(other)),
        }
    }

    async fn get(&self, request: Request<pb::GetRequest>) -> Result<Response<pb::GetResponse>, Status> {
        let caller = edge(caller(&request))?;
        let request = request.into_inner();
        let path = edge(NodePath::parse(&request.path))?;
        self.before_read(request.consistency).await?;
        let state = self.node.shared.read();
        edge(state.acl().authorize(&caller, &path, Perm::Read, &format!("read {path}")))?;
        let (data, stat) = edge(state.get(&path))?;
        Ok(Response::new(pb::GetResponse { data, stat: Some(convert::stat(stat)), revision: state.revision().0 }))
    }

    async fn exists(&self, request: Request<pb::GetRequest>) -> Result<Response<pb::ExistsResponse>, Status> {
        let caller = edge(caller(&request))?;
        let request = request.into_inner();
        let path = edge(NodePath::parse(&request.path))?;
        self.before_read(request.consistency).await?;
        let state = self.node.shared.read();
        edge(state.acl().authorize(&caller, &path, Perm::Read, &format!("stat {path}")))?;
        let stat = state.exists(&path);
        Ok(Response::new(pb::ExistsResponse {
            found: stat.is_some(),
            stat: stat.map(convert::stat),
            revision: state.revision().0,
        }))
    }

    async fn set(&self, request: Request<pb::SetRequest>) -> Result<Response<pb::SetResponse>, Status> {
        let caller = edge(caller(&request))?;
        let request = request.into_inner();
        let id = request.request;
        let op = edge(convert::set_op(request, &self.node.config))?;
        match self.write(id, caller, Command::Set(op)).await? {
            (revision, Outcome::Set { stat }) => {
                Ok(Response::new(pb::SetResponse { stat: Some(convert::stat(stat)), revision: revision.0 }))
            }
            (_, other) => Err(unexpected(other)),
        }
    }

    async fn delete(&self, request: Request<pb::DeleteRequest>) -> Result<Response<pb::DeleteResponse>, Status> {
        let caller = edge(caller(&request))?;
        let request = request.into_inner();
        let id = request.request;
        let op = edge(convert::delete_op(request))?;
        let (revision, _) = self.write(id, caller, Command::Delete(op)).await?;
        Ok(Response::new(pb::DeleteResponse { revision: revision.0 }))
    }

    async fn children(&self, request: Request<pb::ChildrenRequest>) -> Result<Response<pb::ChildrenResponse>, Status> {
        let caller = edge(caller(&request))?;
        let request = request.into_inner();
        let path = edge(NodePath::parse(&request.path))?;
        self.before_read(request.consistency).await?;
        let state = self.node.shared.read();
        edge(state.acl().authorize(&caller, &path, Perm::Read, &format!("list {path}")))?;
        let (names, stat) = edge(state.children(&path))?;
        Ok(Response::new(pb::ChildrenResponse { names, stat: Some(convert::stat(stat)), revision: state.revision().0 }))
    }

    async fn txn(&self, request: Request<pb::TxnRequest>) -> Result<Response<pb::TxnResponse>, Status> {
        let caller = edge(caller(&request))?;
        let request = request.into_inner();
        let checks = edge(request.checks.into_iter().map(convert::check).collect())?;
        let ops = edge(request.ops.into_iter().map(|op| convert::op(op, &self.node.config)).collect())?;
        match self.write(request.request, caller, Command::Txn { checks, ops }).await? {
            (revision, Outcome::Txn(outcomes)) => Ok(Response::new(pb::TxnResponse {
                results: outcomes.into_iter().map(|o| convert::op_result(o, revision.0)).collect(),
                revision: revision.0,
            })),
            (_, other) => Err(unexpected(other)),
        }
    }

    async fn open_session(
        &self,
        request: Request<pb::OpenSessionRequest>,
    ) -> Result<Response<pb::OpenSessionResponse>, Status> {
        let caller = edge(caller(&request))?;
        let request = request.into_inner();
        let ttl = Duration::from_millis(request.ttl_ms);
        if !(SESSION_TTL_MIN..=SESSION_TTL_MAX).contains(&ttl) {
            return Err(to_status(&CoordError::InvalidArgument {
                reason: format!(
                    "session TTL {} ms is outside {}..={} ms",
                    request.ttl_ms,
                    SESSION_TTL_MIN.as_millis(),
                    SESSION_TTL_MAX.as_millis()
                ),
            }));
        }
        let member = (!request.member_name.is_empty()).then_some(request.member_name);
        match self.write(request.request, caller, Command::OpenSession { ttl_ms: request.ttl_ms, member }).await? {
            (revision, Outcome::SessionOpened { session, ttl_ms }) => {
                Ok(Response::new(pb::OpenSessionResponse { session_id: session.0, ttl_ms, revision: revision.0 }))
            }
            (_, other) => Err(unexpected(other)),
        }
    }

    async fn keep_alive(
        &self,
        request: Request<pb::KeepAliveRequest>,
    ) -> Result<Response<pb::KeepAliveResponse>, Status> {
        let caller = edge(caller(&request))?;
        let session = SessionId(request.into_inner().session_id);
        // A session's owner never changes, so the local state is good enough to judge by.
        edge(self.node.shared.read().authorize_session(&caller, session))?;
        let ttl_ms = edge(self.node.keep_alive(session).await)?;
        Ok(Response::new(pb::KeepAliveResponse { ttl_ms }))
    }

    async fn close_session(
        &self,
        request: Request<pb::CloseSessionRequest>,
    ) -> Result<Response<pb::CloseSessionResponse>, Status> {
        let caller = edge(caller(&request))?;
        let request = request.into_inner();
        let session = SessionId(request.session_id);
        let (revision, _) = self.write(request.request, caller, Command::CloseSession { session }).await?;
        Ok(Response::new(pb::CloseSessionResponse { revision: revision.0 }))
    }

    async fn list_sessions(
        &self,
        request: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        let caller = edge(caller(&request))?;
        let request = request.into_inner();
        let limit = match request.limit {
            0 => SESSIONS_PAGE_DEFAULT,
            n if n as usize > SESSIONS_PAGE_MAX => {
                return Err(to_status(&CoordError::InvalidArgument {
                    reason: format!(
                        "limit {n}: a page lists at most {SESSIONS_PAGE_MAX} sessions; page on with after_session_id"
                    ),
                }));
            }
            n => n as usize,
        };
        self.before_read_at(request.consistency, &caller, &NodePath::root(), Perm::Admin, "list sessions").await?;
        let (mut sessions, more, total, revision) = {
            let state = self.node.shared.read();
            let after = SessionId(request.after_session_id);
            let mut page = state.sessions().range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded));
            let sessions: Vec<pb::SessionInfo> =
                page.by_ref().take(limit).map(|(id, s)| session_info(*id, s)).collect();
            (sessions, page.next().is_some(), state.sessions().len() as u64, state.revision().0)
        };
        let ids: Vec<SessionId> = sessions.iter().map(|s| SessionId(s.session_id)).collect();
        // The remaining TTLs are the leader's; the list is still worth having without them.
        let remaining_unknown = match self.node.lease_remaining(&ids).await {
            Ok(remaining) => {
                for (info, left) in sessions.iter_mut().zip(remaining) {
                    info.remaining_ms = left;
                }
                String::new()
            }
            Err(e) => format!("the leader's lease table could not be read: {e}"),
        };
        Ok(Response::new(pb::ListSessionsResponse { sessions, more, total, revision, remaining_unknown }))
    }

    type WatchStream = WatchStream;

    async fn watch(&self, request: Request<pb::WatchRequest>) -> Result<Response<Self::WatchStream>, Status> {
        let slot = edge(self.watches.open(request.remote_addr()))?;
        let caller = edge(caller(&request))?;
        let request = request.into_inner();
        let filter = WatchFilter { path: edge(NodePath::parse(&request.path))?, prefix: request.prefix };
        let from = match request.from_revision {
            0 => Revision(self.node.shared.applied().0 + 1),
            from => Revision(from),
        };
        // Refuse a compacted start at once, before any stream exists.
        {
            let state = self.node.shared.read();
            edge(watch_allowed(&state, &caller, &filter))?;
            edge(state.history().check_start(from, state.revision()))?;
        }
        let (tx, rx) = mpsc::channel(WATCH_RESPONSES_BUFFERED);
        let node = self.node.clone();
        tokio::spawn(async move {
            stream_events(node, caller, filter, from, tx).await;
            drop(slot);
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn membership_log(
        &self,
        request: Request<pb::MembershipLogRequest>,
    ) -> Result<Response<pb::MembershipLogResponse>, Status> {
        let caller = edge(caller(&request))?;
        let request = request.into_inner();
        self.before_read(request.consistency).await?;
        let state = self.node.shared.read();
        let log = edge(NodePath::parse(LOG_PATH))?;
        edge(state.acl().authorize(&caller, &log, Perm::Read, "read the membership log"))?;
        let page = edge(state.membership_page(Revision(request.from_revision), request.limit as usize))?;
        Ok(Response::new(pb::MembershipLogResponse {
            records: page.records.into_iter().map(convert::membership_record).collect(),
            revision: state.revision().0,
            next_from_revision: page.next.map_or(0, |r| r.0),
            oldest_revision: page.oldest.map_or(0, |r| r.0),
        }))
    }

    async fn status(&self, _request: Request<pb::StatusRequest>) -> Result<Response<pb::StatusResponse>, Status> {
        let metrics = self.node.raft.metrics().borrow_watched().clone();
        let membership = metrics.membership_config.membership();
        let leader = self.node.leader();
        let state = self.node.shared.read();
        Ok(Response::new(pb::StatusResponse {
            node_id: self.node.config.id,
            raft_role: format!("{:?}", metrics.state),
            term: metrics.current_term,
            leader_id: leader.as_ref().map_or(0, |l| l.0),
            leader_addr: leader.map(|l| l.1).unwrap_or_default(),
            last_applied: state.revision().0,
            last_log_index: metrics.last_log_index.unwrap_or(0),
            committed: metrics.cluster_committed.map_or(0, |c| c.index),
            voters: membership.voter_ids().collect(),
            learners: membership.learner_ids().collect(),
            sessions: state.sessions().len() as u64,
            nodes: state.node_count() as u64,
            has_leader: metrics.current_leader.is_some(),
            version: self.node.config.build.version.clone(),
            commit: self.node.config.build.commit.clone(),
        }))
    }

    async fn add_node(&self, request: Request<pb::AddNodeRequest>) -> Result<Response<pb::AddNodeResponse>, Status> {
        let caller = edge(caller(&request))?;
        let request = request.into_inner();
        self.require_admin(&caller, &format!("add node {}", request.node_id)).await?;
        edge(self.node.add_node(request.node_id, request.addr, request.voter).await)?;
        let membership = self.node.raft.metrics().borrow_watched().membership_config.membership().clone();
        Ok(Response::new(pb::AddNodeResponse {
            voters: membership.voter_ids().collect(),
            learners: membership.learner_ids().collect(),
        }))
    }

    async fn remove_node(
        &self,
        request: Request<pb::RemoveNodeRequest>,
    ) -> Result<Response<pb::RemoveNodeResponse>, Status> {
        let caller = edge(caller(&request))?;
        let node_id = request.into_inner().node_id;
        self.require_admin(&caller, &format!("remove node {node_id}")).await?;
        edge(self.node.remove_node(node_id).await)?;
        let membership = self.node.raft.metrics().borrow_watched().membership_config.membership().clone();
        Ok(Response::new(pb::RemoveNodeResponse {
            voters: membership.voter_ids().collect(),
            learners: membership.learner_ids().collect(),
        }))
    }

    async fn add_user(&self, request: Request<pb::AddUserRequest>) -> Result<Response<pb::AuthChangeResponse>, Status> {
        let caller = edge(caller(&request))?;
        let request = request.into_inner();
        edge(check_identity(&request.name))?;
        let token_sha256: TokenHash = request.token_sha256.as_ref().try_into().map_err(|_| {
            to_status(&CoordError::InvalidArgument {
                reason: format!(
                    "token_sha256 has {} bytes: send the SHA-256 of the token (32 bytes)",
                    request.token_sha256.len()
                ),
            })
        })?;
        let command = Command::AddUser { name: request.name, token_sha256 };
        let (revision, _) = self.write(request.request, caller, command).await?;
        Ok(Response::new(pb::AuthChangeResponse { revision: revision.0 }))
    }

    async fn delete_user(
        &self,
        request: Request<pb::DeleteUserRequest>,
    ) -> Result<Response<pb::AuthChangeResponse>, Status> {
        let caller = edge(caller(&request))?;
        let request = request.into_inner();
        let (revision, _) = self.write(request.request, caller, Command::DeleteUser { name: request.name }).await?;
        Ok(Response::new(pb::AuthChangeResponse { revision: revision.0 }))
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        let caller = edge(caller(&request))?;
        let request = request.into_inner();
        self.before_read_at(request.consistency, &caller, &NodePath::root(), Perm::Admin, "list users").await?;
        let state = self.node.shared.read();
        Ok(Response::new(pb::ListUsersResponse {
            names: state.acl().users().map(str::to_string).collect(),
            auth_enabled: state.acl().is_enabled(),
            revision: state.revision().0,
        }))
    }

    async fn set_auth(&self, request: Request<pb::SetAuthRequest>) -> Result<Response<pb::AuthChangeResponse>, Status> {
        let caller = edge(caller(&request))?;
        let request = request.into_inner();
        let (revision, _) = self.write(request.request, caller, Command::SetAuth { enabled: request.enabled }).await?;
        Ok(Response::new(pb::AuthChangeResponse { revision: revision.0 }))
    }

    async fn get_acl(&self, request: Request<pb::GetAclRequest>) -> Result<Response<pb::GetAclResponse>, Status> {
        let caller = edge(caller(&request))?;
        let request = request.into_inner();
        let path = edge(NodePath::parse(&request.path))?;
        let action = format!("read the permissions of {path}");
        self.before_read_at(request.consistency, &caller, &path, Perm::Read, &action).await?;
        let state = self.node.shared.read();
        let grants = state.acl().grants_covering(&path).into_iter().map(convert::grant).collect();
        Ok(Response::new(pb::GetAclResponse {
            grants,
            auth_enabled: state.acl().is_enabled(),
            revision: state.revision().0,
        }))
    }

    async fn set_acl(&self, request: Request<pb::SetAclRequest>) -> Result<Response<pb::AuthChangeResponse>, Status> {
        let caller = edge(caller(&request))?;
        let request = request.into_inner();
        let path = edge(NodePath::parse(&request.path))?;
        edge(check_identity(&request.identity))?;
        let perms = edge(Perms::parse(&request.perms))?;
        let command = Command::SetAcl { path, identity: request.identity, perms };
        let (revision, _) = self.write(request.request, caller, command).await?;
        Ok(Response::new(pb::AuthChangeResponse { revision: revision.0 }))
    }
}

/// Feeds one watch stream: sends every matching event from `from` on, in revision order and
/// never splitting a revision, sleeping until something new is applied. Ends when the client
/// goes away, or with a `Compacted` error if the client fell so far behind that the history
/// it still needs was dropped.
async fn stream_events(
    node: Arc<CoordNode>,
    caller: Caller,
    filter: WatchFilter,
    mut from: Revision,
    tx: mpsc::Sender<Result<pb::WatchResponse, Status>>,
) {
    let _open = node.metrics.watch_open();
    let mut applied = node.shared.subscribe();
    let mut last_progress = tokio::time::Instant::now();
    loop {
        let batch = {
            let state = node.shared.read();
            // Judged again before every batch: a revoke ends the stream within one batch.
            watch_allowed(&state, &caller, &filter).and_then(|()| {
                state
                    .events_since(
                        from,
                        &filter,
                        BatchLimit { events: WATCH_BATCH_EVENTS_MAX, bytes: WATCH_BATCH_BYTES_MAX },
                    )
                    .map(|(events, next)| (events, next, state.revision()))
            })
        };
        match batch {
            Err(error) => {
                let _ = tx.send(Err(to_status(&error))).await;
                return;
            }
            Ok((events, next, revision)) => {
                from = next;
                let progress_due = last_progress.elapsed() >= WATCH_PROGRESS_INTERVAL;
                if !events.is_empty() || progress_due {
                    last_progress = tokio::time::Instant::now();
                    // `revision`: everything up to here has been delivered (the batch is complete
                    // through it), so a client may resume right after it.
                    let complete_through = next.0.saturating_sub(1);
                    let response = pb::WatchResponse {
                        events: events.into_iter().map(convert::event).collect(),
                        revision: complete_through,
                    };
                    if tx.send(Ok(response)).await.is_err() {
                        return;
                    }
                }
                if from.0 <= revision.0 {
                    continue; // more history to send right away
                }
            }
        }
        tokio::select! {
            changed = applied.changed() => if changed.is_err() { return },
            _ = tx.closed() => return,
            _ = tokio::time::sleep(WATCH_PROGRESS_INTERVAL) => {}
        }
    }
}

/// A watch needs `read` on the path it watches (for a prefix watch, the subtree's root).
fn watch_allowed(
    state: &crate::core::state::CoordState,
    caller: &Caller,
    filter: &WatchFilter,
) -> Result<(), CoordError> {
    state.acl().authorize(caller, &filter.path, Perm::Read, &format!("watch {}", filter.path))
}
