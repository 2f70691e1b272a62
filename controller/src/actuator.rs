//! An actuator: obeys fenced commands, and remembers what it obeyed.
//!
//! Every decision, accepted or refused, is appended to an audit trail (segments of checksummed
//! JSON lines in the actuator's directory, see [`crate::audit`]) and fsynced *before* the
//! command takes effect and before the answer is sent. The floors are rebuilt from the trail on
//! start, so an actuator that restarts does not forget the highest token it accepted and cannot
//! be made to obey a stale primary, however many segments were rotated out since.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

pub use crate::audit::read_trail;
use crate::audit::{AuditPage, Trail, TrailLimits};
use crate::error::{Error, Result};
use crate::fencing::{Floors, Verdict};
use crate::proto::actuator_server::{Actuator as ActuatorRpc, ActuatorServer};
use crate::proto::{AuditEntry, AuditReply, AuditRequest, ClaimRequest, CommandRequest, Decision};

/// The action recorded for a claim.
pub const CLAIM: &str = "claim";

struct State {
    floors: Floors,
    trail: Trail,
}

/// Told of every decision, after it is durable and before it is answered, in the order the
/// decisions were made: how a world in the same process obeys what its actuator accepted.
pub type Observer = Box<dyn Fn(&AuditEntry) + Send + Sync>;

/// An actuator with its durable audit trail.
pub struct Actuator {
    state: Mutex<State>,
    path: PathBuf,
    observer: Option<Observer>,
}

impl Actuator {
    /// Opens (or creates) the actuator whose trail is in `dir`, rebuilding its floors, with
    /// the default bounds on the trail.
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_with(dir, TrailLimits::default(), None)
    }

    /// Like [`open`](Self::open), and tells `observer` of every decision from now on (see
    /// [`Observer`]).
    pub fn open_observed(dir: &Path, observer: Observer) -> Result<Self> {
        Self::open_with(dir, TrailLimits::default(), Some(observer))
    }

    /// Opens the actuator with its trail bounded by `limits`, telling `observer` (if any) of
    /// every decision from now on.
    pub fn open_with(dir: &Path, limits: TrailLimits, observer: Option<Observer>) -> Result<Self> {
        let (trail, floors) = Trail::open(dir, limits)?;
        for (role, floor) in floors.iter() {
            tracing::info!(role, floor, "floor restored from the audit trail");
        }
        let path = trail.active_path();
        Ok(Self { state: Mutex::new(State { floors, trail }), path, observer })
    }

    /// The audit trail's active segment.
    pub fn trail_path(&self) -> &Path {
        &self.path
    }

    /// Decides on a command (or, with `action` = [`CLAIM`], a claim), records the decision
    /// durably, and only then returns it. Blocking (fsync): call from a blocking context.
    pub fn decide(&self, role: &str, controller: &str, token: u64, action: &str) -> Result<Decision> {
        let mut state = self.state.lock().expect("actuator state poisoned");
        let verdict = state.floors.judge(role, token);
        let (accepted, floor) = match verdict {
            Verdict::Accepted { floor } => (true, floor),
            Verdict::Stale { floor } => (false, floor),
        };
        let entry = AuditEntry {
            unix_ms: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
            role: role.to_string(),
            controller: controller.to_string(),
            token,
            action: action.to_string(),
            accepted,
            floor,
            seq: 0, // given by the trail
        };
        let entry = state.trail.append(entry)?;
        // Durable: now the floor may rise and the command take effect.
        if accepted {
            state.floors.raise(role, token);
            tracing::debug!(role, controller, token, action, "accepted");
        } else {
            tracing::warn!(role, controller, token, floor, action, "refused: stale fencing token");
        }
        // Under the lock, so that the observer sees decisions in the order they were made.
        if let Some(observer) = &self.observer {
            observer(&entry);
        }
        let State { floors, trail } = &mut *state;
        trail.maybe_rotate(floors);
        let reason = if accepted {
            String::new()
        } else {
            format!(
                "stale fencing token {token} for {role}: a newer primary holds token {floor}; stop acting for this role"
            )
        };
        Ok(Decision { accepted, floor, reason })
    }

    /// Every decision kept for `role` (all roles if empty), oldest first: every page of the
    /// trail, read from disk where it is older than the decisions kept in memory. An unreadable
    /// sealed segment ends the list early, with a warning.
    pub fn audit(&self, role: &str) -> Vec<AuditEntry> {
        let mut entries = Vec::new();
        let mut from = 0;
        loop {
            match self.audit_page(role, from, 0) {
                Ok(page) => {
                    entries.extend(page.entries);
                    match page.next {
                        Some(next) => from = next,
                        None => return entries,
                    }
                }
                Err(e) => {
                    tracing::warn!("audit trail read stopped early: {e}");
                    return entries;
                }
            }
        }
    }

    /// One page of decisions for `role` (all roles if empty) from sequence number `from` (0:
    /// the oldest kept), at most `limit` (0: the page limit). Blocking when it reads old
    /// segments from disk.
    pub fn audit_page(&self, role: &str, from: u64, limit: usize) -> Result<AuditPage> {
        self.state.lock().expect("actuator state poisoned").trail.page(role, from, limit)
    }
}

fn check(role: &str, controller: &str, token: u64) -> Result<()> {
    let valid_role = role.split_once('/').is_some_and(|(kind, name)| !kind.is_empty() && !name.is_empty());
    if !valid_role {
        return Err(Error::BadRequest(format!("role {role:?} is not KIND/NAME, e.g. runway/07 or segment/12")));
    }
    if controller.is_empty() {
        return Err(Error::BadRequest("no controller name: say who sends the command".into()));
    }
    if token == 0 {
        return Err(Error::BadRequest("fencing token 0: get a token by becoming primary through the election".into()));
    }
    Ok(())
}

/// The actuator as a gRPC service.
#[derive(Clone)]
pub struct ActuatorService {
    actuator: Arc<Actuator>,
}

impl ActuatorService {
    /// Serves `actuator`.
    pub fn new(actuator: Arc<Actuator>) -> Self {
        Self { actuator }
    }
}

#[tonic::async_trait]
impl ActuatorRpc for ActuatorService {
    async fn claim(&self, request: Request<ClaimRequest>) -> Result<Response<Decision>, Status> {
        Ok(Response::new(handle_claim(&self.actuator, request.into_inner()).await?))
    }

    async fn command(&self, request: Request<CommandRequest>) -> Result<Response<Decision>, Status> {
        Ok(Response::new(handle_command(&self.actuator, request.into_inner()).await?))
    }

    async fn audit(&self, request: Request<AuditRequest>) -> Result<Response<AuditReply>, Status> {
        let request = request.into_inner();
        let actuator = self.actuator.clone();
        let page = tokio::task::spawn_blocking(move || {
            actuator.audit_page(&request.role, request.from_seq, request.limit as usize)
        })
        .await
        .map_err(|e| Error::task("the audit read", e))??;
        Ok(Response::new(AuditReply {
            entries: page.entries,
            next_seq: page.next.unwrap_or(0),
            oldest_seq: page.oldest,
        }))
    }
}

/// A claim, validated and decided on the blocking pool (the decision is fsynced). What the gRPC
/// service and an in-process link both call.
pub async fn handle_claim(actuator: &Arc<Actuator>, r: ClaimRequest) -> Result<Decision> {
    decide_off_thread(actuator, r.role, r.controller, r.token, CLAIM.into()).await
}

/// A command, validated and decided on the blocking pool (see [`handle_claim`]).
pub async fn handle_command(actuator: &Arc<Actuator>, r: CommandRequest) -> Result<Decision> {
    if r.action.is_empty() || r.action == CLAIM {
        return Err(Error::BadRequest("empty or reserved action: say what to do, e.g. \"lights on\"".into()));
    }
    decide_off_thread(actuator, r.role, r.controller, r.token, r.action).await
}

async fn decide_off_thread(
    actuator: &Arc<Actuator>,
    role: String,
    controller: String,
    token: u64,
    action: String,
) -> Result<Decision> {
    check(&role, &controller, token)?;
    let actuator = actuator.clone();
    tokio::task::spawn_blocking(move || actuator.decide(&role, &controller, token, &action))
        .await
        .map_err(|e| Error::task("the actuator's decision", e))?
}

/// Reads every decision an actuator keeps for `role` (all roles if empty) over gRPC, page by
/// page, oldest first.
pub async fn fetch_audit(
    client: &mut crate::proto::actuator_client::ActuatorClient<tonic::transport::Channel>,
    role: &str,
) -> Result<Vec<AuditEntry>> {
    let mut entries = Vec::new();
    let mut from_seq = 0;
    loop {
        let request = AuditRequest { role: role.to_string(), from_seq, limit: 0 };
        let page = client.audit(request).await.map_err(Error::from_status)?.into_inner();
        entries.extend(page.entries);
        if page.next_seq == 0 {
            return Ok(entries);
        }
        from_seq = page.next_seq;
    }
}

/// Serves an actuator on `listener` until `shutdown` completes.
pub async fn serve(
    actuator: Arc<Actuator>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    tracing::info!(addr = ?listener.local_addr().ok(), trail = %actuator.trail_path().display(), "actuator serving");
    tonic::transport::Server::builder()
        .add_service(ActuatorServer::new(ActuatorService::new(actuator)))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
        .map_err(Error::serve)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::io::Write;

    use super::*;

    #[test]
    fn a_restarted_actuator_remembers_its_floor_and_refuses_a_stale_primary() {
        let dir = tempfile::tempdir().unwrap();
        {
            let actuator = Actuator::open(dir.path()).unwrap();
            assert!(actuator.decide("runway/07", "A", 12, "lights on").unwrap().accepted);
            assert!(actuator.decide("runway/07", "B", 30, CLAIM).unwrap().accepted);
        }
        let restarted = Actuator::open(dir.path()).unwrap();
        let late = restarted.decide("runway/07", "A", 12, "clear to land KL1234").unwrap();
        assert!(!late.accepted);
        assert_eq!(late.floor, 30);
        assert!(late.reason.contains("stale fencing token 12"), "{}", late.reason);
        let audit = restarted.audit("runway/07");
        assert_eq!(audit.len(), 3, "refusals are audited too");
        assert_eq!((audit[2].controller.as_str(), audit[2].accepted), ("A", false));
    }

    #[test]
    fn a_torn_last_line_is_ignored_but_corruption_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        Actuator::open(dir.path()).unwrap().decide("segment/12", "A", 5, "speed limit 80").unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"unix_ms\":1,\"ro").unwrap();
        assert_eq!(Actuator::open(dir.path()).unwrap().audit("").len(), 1);
        std::fs::write(&path, b"garbage\n{}\n").unwrap();
        assert!(Actuator::open(dir.path()).is_err());
    }
}
