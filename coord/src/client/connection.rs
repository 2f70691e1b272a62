//! The connection to a cluster and the plain requests.
//!
//! # Retries, and why they are safe
//!
//! A client draws a random id when it is made ([`Client::connect`]) and numbers its writes; every
//! attempt of one write carries the same (client id, sequence) in its `RequestId`. A failure that
//! proves the write was not applied (not the leader, no quorum, a connection that could not be
//! made) is retried on the next endpoint. A failure that leaves the outcome unknown (no answer in
//! time, a connection reset after the request went out, a leader that lost its leadership with
//! the write in flight) is retried too, with the same id and `retry` set: the state machine
//! answers a duplicate with the write's first outcome and never applies it twice. Only when the
//! retry budget runs out, or the server no longer remembers the first outcome
//! ([`CoordError::RetryTooOld`]), does the caller get an unknown outcome back.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use super::convert;
use super::session_list::SessionPage;
use super::types::{
    Acl, Children, ClusterMembers, Committed, Consistency, Create, Created, Existence, NodeData, NodeStatus, Revision,
    SessionId, Txn, Updated, Users,
};
use crate::core::acl::token_sha256;
use crate::core::membership::{MembershipPage, MembershipRecord};
use crate::error::CoordError;
use crate::proto::AUTHORIZATION_METADATA_KEY;
use crate::proto::coord as pb;
use crate::proto::coord::coord_client::CoordClient;
use crate::status::{ERROR_METADATA_KEY, from_status, never_sent};
use crate::tls::ClientTls;

/// How a client talks to the cluster.
#[derive(Clone)]
pub struct ClientOptions {
    /// Time allowed for one request to one node.
    pub request_timeout: Duration,
    /// Total time spent retrying a request that certainly did not apply.
    pub retry_budget: Duration,
    /// Time allowed to open a TCP connection.
    pub connect_timeout: Duration,
    /// A user's token (from `skyway ctl user add`), sent with every request as
    /// `authorization: Bearer TOKEN`; needed once authentication is on.
    pub token: Option<String>,
    /// TLS to the nodes (the CA to trust, the client's certificate if the cluster demands
    /// one); plaintext when `None`.
    pub tls: Option<ClientTls>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(5),
            retry_budget: Duration::from_secs(5),
            connect_timeout: Duration::from_millis(500),
            token: None,
            tls: None,
        }
    }
}

impl ClientOptions {
    /// The same options with `token` (none if `None`).
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }
}

impl std::fmt::Debug for ClientOptions {
    /// Never prints the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("request_timeout", &self.request_timeout)
            .field("retry_budget", &self.retry_budget)
            .field("connect_timeout", &self.connect_timeout)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A new random token for a user: 32 random bytes in hex. Shown once; the coordinator keeps
/// only its SHA-256 (see [`Client::add_user`]).
pub fn mint_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Puts the client's credentials into every request's metadata.
#[derive(Clone)]
pub(crate) struct Credentials(Option<MetadataValue<Ascii>>);

impl Credentials {
    fn new(token: Option<&str>) -> Result<Self, CoordError> {
        let value = token
            .map(|token| {
                format!("Bearer {token}").parse::<MetadataValue<Ascii>>().map_err(|_| CoordError::InvalidArgument {
                    reason: "the token is not printable ASCII: pass it as `skyway ctl user add` printed it".into(),
                })
            })
            .transpose()?;
        Ok(Self(value))
    }
}

impl Interceptor for Credentials {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert(AUTHORIZATION_METADATA_KEY, value.clone());
        }
        Ok(request)
    }
}

/// The generated gRPC client, with credentials.
pub(crate) type RawClient = CoordClient<InterceptedService<Channel, Credentials>>;

/// What kind of request a call is, for retries and deduplication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallKind {
    /// A read: retried on any transport failure.
    Read,
    /// A numbered write, optionally tied to a session (the server forgets the client's outcomes
    /// when it ends): retried with its id, also when its outcome is unknown.
    Write(Option<u64>),
    /// A write without a request id (membership changes): an unknown outcome is not retried.
    Unnumbered,
}

/// The numbering of one client's writes.
struct Numbering {
    client_id: u64,
    next: AtomicU64,
    /// Sequences still awaiting their final answer.
    in_flight: Mutex<BTreeSet<u64>>,
}

impl Numbering {
    fn new() -> Self {
        let client_id = loop {
            let id: u64 = rand::random();
            if id != 0 {
                break id;
            }
        };
        Self { client_id, next: AtomicU64::new(1), in_flight: Mutex::default() }
    }

    fn begin(&self) -> u64 {
        let mut in_flight = self.in_flight.lock().expect("numbering poisoned");
        let sequence = self.next.fetch_add(1, Ordering::Relaxed);
        in_flight.insert(sequence);
        sequence
    }

    /// The lowest sequence still awaiting an answer (every one below has its answer).
    fn answered_below(&self) -> u64 {
        let in_flight = self.in_flight.lock().expect("numbering poisoned");
        in_flight.first().copied().unwrap_or_else(|| self.next.load(Ordering::Relaxed))
    }

    fn finish(&self, sequence: u64) {
        self.in_flight.lock().expect("numbering poisoned").remove(&sequence);
    }
}

/// Ends a write's numbering however its call ends (also when the caller drops the future).
struct InFlight<'a> {
    numbering: &'a Numbering,
    sequence: u64,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.numbering.finish(self.sequence);
    }
}

/// A lazily connected channel to `endpoint` (`host:port`, or a URI): `https` when the options
/// have TLS.
fn channel(endpoint: &str, options: &ClientOptions) -> Result<Channel, CoordError> {
    let bad = |err: tonic::transport::Error| CoordError::InvalidArgument {
        reason: format!("bad endpoint {endpoint:?}: {err}"),
    };
    let scheme = if options.tls.is_some() { "https" } else { "http" };
    let uri = if endpoint.contains("://") { endpoint.to_string() } else { format!("{scheme}://{endpoint}") };
    let mut builder = Endpoint::from_shared(uri).map_err(bad)?;
    if let Some(tls) = &options.tls {
        builder = builder.tls_config(tls.client_config()).map_err(bad)?;
    }
    Ok(builder
        .connect_timeout(options.connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(5))
        .keep_alive_timeout(Duration::from_secs(5))
        .connect_lazy())
}

/// A handle to a coordination cluster. Cheap to clone; clones share connections and the
/// numbering of writes (one client id).
#[derive(Clone)]
pub struct Client {
    endpoints: Arc<Vec<String>>,
    channels: Arc<Vec<Channel>>,
    /// The endpoint that answered last; requests start there (at first: a random one).
    preferred: Arc<AtomicUsize>,
    options: ClientOptions,
    credentials: Credentials,
    numbering: Arc<Numbering>,
}

impl Client {
    /// A client for the given endpoints (`host:port`). Connections are made lazily, so this
    /// succeeds even if no node is up yet. The first request goes to an endpoint chosen at
    /// random, then on round the list from there: so that many clients given the same list
    /// spread over the nodes instead of all dialling the first one.
    pub fn new(endpoints: &[String], options: ClientOptions) -> Result<Self, CoordError> {
        let first = rand::random_range(0..endpoints.len().max(1));
        Self::starting_at(endpoints, options, first)
    }

    /// A client whose first request goes to endpoint `first` (taken modulo their number), then
    /// on round the list as from [`Client::new`]'s random one. For callers that spread many
    /// clients over the nodes themselves (a benchmark's load generator) or must know which node
    /// a stream starts on (a test that kills it); others use [`Client::new`].
    pub fn starting_at(endpoints: &[String], options: ClientOptions, first: usize) -> Result<Self, CoordError> {
        if endpoints.is_empty() {
            return Err(CoordError::InvalidArgument {
                reason: "no endpoints given: pass at least one host:port".into(),
            });
        }
        let channels = endpoints.iter().map(|e| channel(e, &options)).collect::<Result<Vec<_>, _>>()?;
        let credentials = Credentials::new(options.token.as_deref())?;
        Ok(Self {
            endpoints: Arc::new(endpoints.to_vec()),
            channels: Arc::new(channels),
            preferred: Arc::new(AtomicUsize::new(first % endpoints.len())),
            credentials,
            options,
            numbering: Arc::new(Numbering::new()),
        })
    }

    /// This client's id, as its writes carry it (random, drawn when the client was made).
    pub fn client_id(&self) -> u64 {
        self.numbering.client_id
    }

    /// A client with default options.
    pub fn connect(endpoints: &[String]) -> Result<Self, CoordError> {
        Self::new(endpoints, ClientOptions::default())
    }

    /// The endpoints this client knows.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The client's options.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// A raw gRPC client for endpoint `index`.
    pub(crate) fn raw(&self, index: usize) -> RawClient {
        let channel = self.channels[index % self.channels.len()].clone();
        CoordClient::with_interceptor(channel, self.credentials.clone()).max_decoding_message_size(64 * 1024 * 1024)
    }

    /// The endpoint requests start at: the one that answered last (at first, a random one).
    pub(crate) fn preferred_index(&self) -> usize {
        self.preferred.load(Ordering::Relaxed) % self.channels.len()
    }

    /// Stops preferring endpoint `index` if it still is the preferred one: it did not answer in
    /// time (cut off, paused, overloaded), so the next request starts at the next endpoint. A
    /// caller that gives up on a request by its own timeout calls this too (see
    /// [`Client::avoid_preferred`]); otherwise every retry would start at the silent endpoint.
    fn avoid(&self, index: usize) {
        let next = (index + 1) % self.channels.len();
        let _ = self.preferred.compare_exchange(index, next, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Stops preferring the current endpoint (a request to it was abandoned by the caller's
    /// own timeout, before the client's per-endpoint timeout could notice).
    pub(crate) fn avoid_preferred(&self) {
        self.avoid(self.preferred.load(Ordering::Relaxed) % self.channels.len());
    }

    /// Runs `call` against the endpoints, starting at the preferred one, retrying where that is
    /// safe (see the module docs). A write's `call` gets the request id to put in its request.
    pub(crate) async fn run<T, F, Fut>(&self, kind: CallKind, call: F) -> Result<T, CoordError>
    where
        F: Fn(RawClient, Option<pb::RequestId>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let started = Instant::now();
        let is_write = kind != CallKind::Read;
        let numbered = match kind {
            CallKind::Write(tie) => {
                let sequence = self.numbering.begin();
                Some((InFlight { numbering: &self.numbering, sequence }, tie))
            }
            CallKind::Read | CallKind::Unnumbered => None,
        };
        // Whether an earlier attempt of this write may have been applied.
        let mut retry = false;
        let mut attempt = 0usize;
        loop {
            let index = (self.preferred.load(Ordering::Relaxed) + attempt) % self.channels.len();
            let id = numbered.as_ref().map(|(in_flight, tie)| pb::RequestId {
                client_id: self.numbering.client_id,
                sequence: in_flight.sequence,
                answered_below: self.numbering.answered_below(),
                retry,
                session_id: tie.unwrap_or(0),
            });
            let result = tokio::time::timeout(self.options.request_timeout, call(self.raw(index), id)).await;
            let error = match result {
                Ok(Ok(response)) => {
                    self.preferred.store(index, Ordering::Relaxed);
                    return Ok(response.into_inner());
                }
                Ok(Err(status)) => classify(&status, is_write, self.options.tls.is_some()),
                Err(_) if is_write => {
                    self.avoid(index);
                    CoordError::OutcomeUnknown {
                        reason: format!(
                            "no answer from {} within {:?}",
                            self.endpoints[index], self.options.request_timeout
                        ),
                    }
                }
                Err(_) => {
                    self.avoid(index);
                    CoordError::Unavailable { reason: format!("no answer from {}", self.endpoints[index]) }
                }
            };
            attempt += 1;
            // An unknown outcome is retried only with the write's id: the server deduplicates.
            let unknown = matches!(error, CoordError::OutcomeUnknown { .. }) && numbered.is_some();
            if !(error.is_retryable() || unknown) || started.elapsed() >= self.options.retry_budget {
                // After an attempt whose outcome is unknown, a later "certainly not applied"
                // speaks only for that attempt: the write may still have been applied (the chaos
                // drill caught writes reported `Unavailable` that were there at the end).
                if retry && error.is_retryable() {
                    return Err(CoordError::OutcomeUnknown {
                        reason: format!("an earlier attempt's outcome is unknown, and the last one failed: {error}"),
                    });
                }
                return Err(error);
            }
            retry |= unknown;
            tracing::debug!(endpoint = %self.endpoints[index], retry, "retrying: {error}");
            // Go round all endpoints once quickly, then back off a little per round; after an
            // unknown outcome, always a little.
            if unknown || attempt.is_multiple_of(self.channels.len()) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// Creates a node; returns its (for sequential nodes, suffixed) path and its stat.
    pub async fn create(&self, create: Create) -> Result<Created, CoordError> {
        let tie = create.ephemeral.map(|s| s.0);
        let request = convert::create_request(create);
        let response = self
            .run(CallKind::Write(tie), |mut c, id| {
                let mut r = request.clone();
                r.request = id;
                async move { c.create(r).await }
            })
            .await?;
        Ok(convert::created(response))
    }

    /// Creates a persistent node with `data`.
    pub async fn create_node(&self, path: &str, data: impl Into<Bytes>) -> Result<Created, CoordError> {
        self.create(Create::new(path, data)).await
    }

    /// Reads a node.
    pub async fn get(&self, path: &str, consistency: Consistency) -> Result<NodeData, CoordError> {
        let request = pb::GetRequest { path: path.into(), consistency: convert::consistency(consistency) };
        let response = self
            .run(CallKind::Read, |mut c, _| {
                let r = request.clone();
                async move { c.get(r).await }
            })
            .await?;
        Ok(convert::node_data(response))
    }

    /// Whether a node exists, and its stat.
    pub async fn exists(&self, path: &str, consistency: Consistency) -> Result<Existence, CoordError> {
        let request = pb::GetRequest { path: path.into(), consistency: convert::consistency(consistency) };
        let response = self
            .run(CallKind::Read, |mut c, _| {
                let r = request.clone();
                async move { c.exists(r).await }
            })
            .await?;
        Ok(convert::existence(response))
    }

    /// Sets a node's data, optionally only at `expected_version`.
    pub async fn set(
        &self,
        path: &str,
        data: impl Into<Bytes>,
        expected_version: Option<u64>,
    ) -> Result<Updated, CoordError> {
        let request = pb::SetRequest { path: path.into(), data: data.into(), expected_version, request: None };
        let response = self
            .run(CallKind::Write(None), |mut c, id| {
                let mut r = request.clone();
                r.request = id;
                async move { c.set(r).await }
            })
            .await?;
        Ok(convert::updated(response))
    }

    /// Deletes a node, optionally only at `expected_version`; returns the revision of the delete.
    pub async fn delete(&self, path: &str, expected_version: Option<u64>) -> Result<Revision, CoordError> {
        let request = pb::DeleteRequest { path: path.into(), expected_version, request: None };
        let response = self
            .run(CallKind::Write(None), |mut c, id| {
                let mut r = request.clone();
                r.request = id;
                async move { c.delete(r).await }
            })
            .await?;
        Ok(Revision(response.revision))
    }

    /// Lists a node's children.
    pub async fn children(&self, path: &str, consistency: Consistency) -> Result<Children, CoordError> {
        let request = pb::ChildrenRequest { path: path.into(), consistency: convert::consistency(consistency) };
        let response = self
            .run(CallKind::Read, |mut c, _| {
                let r = request.clone();
                async move { c.children(r).await }
            })
            .await?;
        Ok(convert::children(response))
    }

    /// Closes (revokes) a session by id, as its owner would: its ephemeral nodes are deleted
    /// in the same revision, which is returned.
    pub async fn close_session(&self, session: SessionId) -> Result<Revision, CoordError> {
        let response = self
            .run(CallKind::Write(Some(session.0)), |mut c, id| {
                let r = pb::CloseSessionRequest { session_id: session.0, request: id };
                async move { c.close_session(r).await }
            })
            .await?;
        Ok(Revision(response.revision))
    }

    /// One page of the open sessions in id order, starting after `after` (0: from the first),
    /// at most `limit` of them (0: the server's default, 1,000); needs `admin` on `/` while
    /// authentication is on.
    pub async fn list_sessions(&self, after: u64, limit: u32) -> Result<SessionPage, CoordError> {
        let request = pb::ListSessionsRequest {
            consistency: pb::Consistency::Linearizable as i32,
            after_session_id: after,
            limit,
        };
        let page = self
            .run(CallKind::Read, |mut c, _| {
                let r = request;
                async move { c.list_sessions(r).await }
            })
            .await?;
        Ok(page.into())
    }

    /// Runs a transaction: every check holds and every op applies, or nothing does.
    pub async fn txn(&self, txn: Txn) -> Result<Committed, CoordError> {
        let request = convert::txn_request(txn);
        let response = self
            .run(CallKind::Write(None), |mut c, id| {
                let mut r = request.clone();
                r.request = id;
                async move { c.txn(r).await }
            })
            .await?;
        convert::committed(response)
    }

    /// Reads the membership log from revision `from` on (0: from the oldest record kept),
    /// every page of it. Records before the log's window are gone: asking for them is
    /// [`CoordError::LogTrimmed`], which names the oldest record kept. Each page is its own
    /// read; records never change once written, so the pages join into one log (unless the
    /// window moves past the next page meanwhile, which is `LogTrimmed` again).
    pub async fn membership_log(
        &self,
        from: u64,
        consistency: Consistency,
    ) -> Result<Vec<MembershipRecord>, CoordError> {
        let mut records = Vec::new();
        let mut next = Some(from);
        while let Some(from) = next {
            let page = self.membership_page(from, 0, consistency).await?;
            records.extend(page.records);
            next = page.next.map(|r| r.0);
        }
        Ok(records)
    }

    /// Reads one page of the membership log: at most `limit` records (0: the server's page
    /// limit) from revision `from` on, and where the next page starts.
    pub async fn membership_page(
        &self,
        from: u64,
        limit: u32,
        consistency: Consistency,
    ) -> Result<MembershipPage, CoordError> {
        let request =
            pb::MembershipLogRequest { from_revision: from, consistency: convert::consistency(consistency), limit };
        let response = self
            .run(CallKind::Read, |mut c, _| {
                let r = request;
                async move { c.membership_log(r).await }
            })
            .await?;
        let revision = |r: u64| (r != 0).then_some(Revision(r));
        Ok(MembershipPage {
            records: response.records.into_iter().map(convert::membership_record).collect(),
            next: revision(response.next_from_revision),
            oldest: revision(response.oldest_revision),
        })
    }

    /// The status of every endpoint, in order (an error for those that do not answer).
    pub async fn status_all(&self) -> Vec<(String, Result<NodeStatus, CoordError>)> {
        let mut out = Vec::new();
        for (index, endpoint) in self.endpoints.iter().enumerate() {
            let mut raw = self.raw(index);
            let result = tokio::time::timeout(Duration::from_secs(2), raw.status(pb::StatusRequest {})).await;
            let result = match result {
                Ok(Ok(response)) => Ok(convert::node_status(response.into_inner())),
                Ok(Err(status)) => Err(from_status(&status)),
                Err(_) => Err(CoordError::Unavailable { reason: "no answer within 2 s".into() }),
            };
            out.push((endpoint.clone(), result));
        }
        out
    }

    /// Adds a coordinator node (as learner, then voter if asked).
    pub async fn add_node(&self, node_id: u64, addr: &str, voter: bool) -> Result<ClusterMembers, CoordError> {
        let request = pb::AddNodeRequest { node_id, addr: addr.into(), voter };
        let response = self
            .run(CallKind::Unnumbered, |mut c, _| {
                let r = request.clone();
                async move { c.add_node(r).await }
            })
            .await?;
        Ok(convert::cluster_members(response.voters, response.learners))
    }

    /// Removes a coordinator node.
    pub async fn remove_node(&self, node_id: u64) -> Result<ClusterMembers, CoordError> {
        let request = pb::RemoveNodeRequest { node_id };
        let response = self
            .run(CallKind::Unnumbered, |mut c, _| {
                let r = request;
                async move { c.remove_node(r).await }
            })
            .await?;
        Ok(convert::cluster_members(response.voters, response.learners))
    }

    /// Adds a user who proves itself with `token` (see [`mint_token`]); only the token's
    /// SHA-256 is sent. Returns the revision of the change.
    pub async fn add_user(&self, name: &str, token: &str) -> Result<Revision, CoordError> {
        let request =
            pb::AddUserRequest { name: name.into(), token_sha256: token_sha256(token).to_vec().into(), request: None };
        let response = self
            .run(CallKind::Write(None), |mut c, id| {
                let mut r = request.clone();
                r.request = id;
                async move { c.add_user(r).await }
            })
            .await?;
        Ok(Revision(response.revision))
    }

    /// Deletes a user: its token stops working.
    pub async fn delete_user(&self, name: &str) -> Result<Revision, CoordError> {
        let request = pb::DeleteUserRequest { name: name.into(), request: None };
        let response = self
            .run(CallKind::Write(None), |mut c, id| {
                let mut r = request.clone();
                r.request = id;
                async move { c.delete_user(r).await }
            })
            .await?;
        Ok(Revision(response.revision))
    }

    /// The users and whether authentication is on.
    pub async fn list_users(&self) -> Result<Users, CoordError> {
        let request = pb::ListUsersRequest { consistency: convert::consistency(Consistency::Linearizable) };
        let response = self
            .run(CallKind::Read, |mut c, _| {
                let r = request;
                async move { c.list_users(r).await }
            })
            .await?;
        Ok(convert::users(response))
    }

    /// Turns authentication on (refused until a user named `root` exists) or off.
    pub async fn set_auth(&self, enabled: bool) -> Result<Revision, CoordError> {
        let request = pb::SetAuthRequest { enabled, request: None };
        let response = self
            .run(CallKind::Write(None), |mut c, id| {
                let mut r = request;
                r.request = id;
                async move { c.set_auth(r).await }
            })
            .await?;
        Ok(Revision(response.revision))
    }

    /// The grants that apply at `path` (on it and its ancestors).
    pub async fn get_acl(&self, path: &str) -> Result<Acl, CoordError> {
        let request =
            pb::GetAclRequest { path: path.into(), consistency: convert::consistency(Consistency::Linearizable) };
        let response = self
            .run(CallKind::Read, |mut c, _| {
                let r = request.clone();
                async move { c.get_acl(r).await }
            })
            .await?;
        Ok(convert::acl(response))
    }

    /// Sets `identity`'s permissions on the prefix `path` (`rwcda` letters; empty removes).
    pub async fn set_acl(&self, path: &str, identity: &str, perms: &str) -> Result<Revision, CoordError> {
        let request =
            pb::SetAclRequest { path: path.into(), identity: identity.into(), perms: perms.into(), request: None };
        let response = self
            .run(CallKind::Write(None), |mut c, id| {
                let mut r = request.clone();
                r.request = id;
                async move { c.set_acl(r).await }
            })
            .await?;
        Ok(Revision(response.revision))
    }
}

/// Turns a status into an error. A server's answer (with `skyway-error` metadata) is that
/// error; a transport failure is classified by whether the request may have reached a server
/// (see [`never_sent`]): reads and requests that were never sent are retryable, writes that may
/// have been sent have an unknown outcome.
/// Why a connection could not be made, with its causes (a TLS handshake's refusal is deep in
/// the chain), and what to check when TLS may be the reason.
fn connect_failure(status: &tonic::Status, tls: bool) -> String {
    let mut causes = vec![status.message().to_string()];
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        let text = error.to_string();
        if !causes.iter().any(|c| c.contains(&text)) {
            causes.push(text);
        }
        source = error.source();
    }
    let hint = if tls {
        "over TLS: is --cacert the CA that signed the nodes' certificates, do they name the host dialled \
         (else --server-name), and do the nodes demand a client certificate (--cert --key)?"
    } else {
        "if the cluster serves TLS, give its CA with --cacert (and --cert --key if it demands client certificates)"
    };
    format!("cannot connect: {} ({hint})", causes.join(": "))
}

fn classify(status: &tonic::Status, is_write: bool, tls: bool) -> CoordError {
    use tonic::Code;
    if status.metadata().get(ERROR_METADATA_KEY).is_some() {
        return from_status(status);
    }
    if never_sent(status) {
        return CoordError::Unavailable { reason: connect_failure(status, tls) };
    }
    let transport_failure = matches!(
        status.code(),
        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded | Code::Aborted | Code::Internal
    );
    if !transport_failure {
        return from_status(status);
    }
    // A plaintext client's HTTP/2 to a TLS port, or a client without the certificate a node
    // demands, is cut off mid-handshake: say what may be wrong.
    let hint = if tls {
        " (over TLS: a node refuses a client without a certificate when it demands one: give --cert --key)"
    } else {
        " (if the cluster serves TLS, give its CA with --cacert)"
    };
    let reason = format!("{}: {}{hint}", status.code(), status.message());
    if !is_write { CoordError::Unavailable { reason } } else { CoordError::OutcomeUnknown { reason } }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn endpoints(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("127.0.0.1:{}", 7000 + i)).collect()
    }

    #[tokio::test]
    async fn the_first_endpoint_is_the_one_chosen() {
        for first in 0..5 {
            let client = Client::starting_at(&endpoints(3), ClientOptions::default(), first).unwrap();
            assert_eq!(client.preferred_index(), first % 3);
        }
    }

    #[tokio::test]
    async fn clients_start_at_different_endpoints() {
        // 200 clients of 3 endpoints all starting at the same one has a chance of 3 * (1/3)^200.
        let starts: BTreeSet<usize> =
            (0..200).map(|_| Client::new(&endpoints(3), ClientOptions::default()).unwrap().preferred_index()).collect();
        assert_eq!(starts, BTreeSet::from([0, 1, 2]), "every endpoint is somebody's first");
        let one = Client::new(&endpoints(1), ClientOptions::default()).unwrap();
        assert_eq!(one.preferred_index(), 0);
    }
}
