//! An actuator: obeys fenced commands, and remembers what it obeyed.
//!
//! Every decision, accepted or refused, is appended to an audit trail (`audit.jsonl` in the
//! actuator's directory) and fsynced *before* the command takes effect and before the answer
//! is sent. The floors are rebuilt from the trail on start, so an actuator that restarts does
//! not forget the highest token it accepted and cannot be made to obey a stale primary.
//!
//! Each line is the decision's JSON, a tab and the CRC-32 of that JSON in hex: a flipped bit
//! on disk is then a corrupt line, never a different decision (a changed token or verdict that
//! still parses). Lines without a checksum, as older versions wrote them, are still read.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

use crate::fencing::{Floors, Verdict};
use crate::proto::actuator_server::{Actuator as ActuatorRpc, ActuatorServer};
use crate::proto::{AuditEntry, AuditReply, AuditRequest, ClaimRequest, CommandRequest, Decision};

/// The action recorded for a claim.
pub const CLAIM: &str = "claim";

struct State {
    floors: Floors,
    entries: Vec<AuditEntry>,
    trail: File,
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
    /// Opens (or creates) the actuator whose trail is in `dir`, rebuilding its floors.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        Self::open_inner(dir, None)
    }

    /// Like [`open`](Self::open), and tells `observer` of every decision from now on (see
    /// [`Observer`]).
    pub fn open_observed(dir: &Path, observer: Observer) -> anyhow::Result<Self> {
        Self::open_inner(dir, Some(observer))
    }

    fn open_inner(dir: &Path, observer: Option<Observer>) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("audit.jsonl");
        let entries = read_trail(&path)?;
        let mut floors = Floors::default();
        for entry in entries.iter().filter(|e| e.accepted) {
            floors.raise(&entry.role, entry.token);
        }
        let trail = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        for (role, floor) in floors.iter() {
            tracing::info!(role, floor, "floor restored from the audit trail");
        }
        Ok(Self { state: Mutex::new(State { floors, entries, trail }), path, observer })
    }

    /// The audit trail's path.
    pub fn trail_path(&self) -> &Path {
        &self.path
    }

    /// Decides on a command (or, with `action` = [`CLAIM`], a claim), records the decision
    /// durably, and only then returns it. Blocking (fsync): call from a blocking context.
    pub fn decide(&self, role: &str, controller: &str, token: u64, action: &str) -> anyhow::Result<Decision> {
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
        };
        let line = trail_line(&entry)?;
        state.trail.write_all(&line).context("cannot write the audit trail")?;
        state.trail.sync_data().context("cannot sync the audit trail")?;
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
        state.entries.push(entry);
        let reason = if accepted {
            String::new()
        } else {
            format!(
                "stale fencing token {token} for {role}: a newer primary holds token {floor}; stop acting for this role"
            )
        };
        Ok(Decision { accepted, floor, reason })
    }

    /// Every decision for `role` (all roles if empty), oldest first.
    pub fn audit(&self, role: &str) -> Vec<AuditEntry> {
        let state = self.state.lock().expect("actuator state poisoned");
        state.entries.iter().filter(|e| role.is_empty() || e.role == role).cloned().collect()
    }
}

/// One line of the trail: the entry's JSON, a tab, its CRC-32 in hex, a newline.
fn trail_line(entry: &AuditEntry) -> anyhow::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(entry)?;
    let crc = crc32fast::hash(&line);
    line.extend_from_slice(format!("\t{crc:08x}\n").as_bytes());
    Ok(line)
}

/// Parses one line (without its newline), checking its checksum if it has one.
fn parse_line(line: &[u8]) -> anyhow::Result<AuditEntry> {
    let json = match line.iter().rposition(|&b| b == b'\t') {
        Some(tab) => {
            let (json, crc) = (&line[..tab], &line[tab + 1..]);
            let written = std::str::from_utf8(crc).ok().and_then(|hex| u32::from_str_radix(hex, 16).ok());
            let actual = crc32fast::hash(json);
            if crc.len() != 8 || written != Some(actual) {
                bail!(
                    "its checksum {:?} does not match its content (crc32 {actual:08x})",
                    String::from_utf8_lossy(crc)
                );
            }
            json
        }
        None => line,
    };
    Ok(serde_json::from_slice::<AuditEntry>(json)?)
}

/// Reads an audit trail; a torn last line (a crash mid-write, never acknowledged: no newline
/// yet) is ignored. Any other line that is not a whole, checksummed decision is an error naming the line: the
/// floors cannot be rebuilt from a damaged trail, and guessing could obey a stale primary.
pub fn read_trail(path: &Path) -> anyhow::Result<Vec<AuditEntry>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    // Lines as bytes: a flipped bit may leave invalid UTF-8, which is corruption like any other.
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|last| last.is_empty()) {
        lines.pop();
    }
    // Only a last line without its newline can be torn: the newline is written with the line.
    let torn = if bytes.ends_with(b"\n") { None } else { Some(lines.len().saturating_sub(1)) };
    let mut entries = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match parse_line(line) {
            Ok(entry) => entries.push(entry),
            Err(_) if Some(i) == torn => tracing::warn!("ignoring a torn last line in {}", path.display()),
            Err(e) => bail!(
                "{} line {} is corrupt: {e:#}; restore the trail from a backup, or move it aside only if no \
                 primary's token must be remembered",
                path.display(),
                i + 1
            ),
        }
    }
    Ok(entries)
}

fn check(role: &str, controller: &str, token: u64) -> Result<(), Status> {
    let valid_role = role.split_once('/').is_some_and(|(kind, name)| !kind.is_empty() && !name.is_empty());
    if !valid_role {
        return Err(Status::invalid_argument(format!("role {role:?} is not KIND/NAME, e.g. runway/07 or segment/12")));
    }
    if controller.is_empty() {
        return Err(Status::invalid_argument("no controller name: say who sends the command"));
    }
    if token == 0 {
        return Err(Status::invalid_argument("fencing token 0: get a token by becoming primary through the election"));
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
        handle_claim(&self.actuator, request.into_inner()).await.map(Response::new)
    }

    async fn command(&self, request: Request<CommandRequest>) -> Result<Response<Decision>, Status> {
        handle_command(&self.actuator, request.into_inner()).await.map(Response::new)
    }

    async fn audit(&self, request: Request<AuditRequest>) -> Result<Response<AuditReply>, Status> {
        Ok(Response::new(AuditReply { entries: self.actuator.audit(&request.into_inner().role) }))
    }
}

/// A claim, validated and decided on the blocking pool (the decision is fsynced). What the gRPC
/// service and an in-process link both call.
pub async fn handle_claim(actuator: &Arc<Actuator>, r: ClaimRequest) -> Result<Decision, Status> {
    decide_off_thread(actuator, r.role, r.controller, r.token, CLAIM.into()).await
}

/// A command, validated and decided on the blocking pool (see [`handle_claim`]).
pub async fn handle_command(actuator: &Arc<Actuator>, r: CommandRequest) -> Result<Decision, Status> {
    if r.action.is_empty() || r.action == CLAIM {
        return Err(Status::invalid_argument("empty or reserved action: say what to do, e.g. \"lights on\""));
    }
    decide_off_thread(actuator, r.role, r.controller, r.token, r.action).await
}

async fn decide_off_thread(
    actuator: &Arc<Actuator>,
    role: String,
    controller: String,
    token: u64,
    action: String,
) -> Result<Decision, Status> {
    check(&role, &controller, token)?;
    let actuator = actuator.clone();
    tokio::task::spawn_blocking(move || actuator.decide(&role, &controller, token, &action))
        .await
        .map_err(|e| Status::internal(format!("the actuator's decision did not complete: {e}")))?
        .map_err(|e| Status::unavailable(format!("the actuator cannot record its decision: {e:#}")))
}

/// Serves an actuator on `listener` until `shutdown` completes.
pub async fn serve(
    actuator: Arc<Actuator>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    tracing::info!(addr = ?listener.local_addr().ok(), trail = %actuator.trail_path().display(), "actuator serving");
    tonic::transport::Server::builder()
        .add_service(ActuatorServer::new(ActuatorService::new(actuator)))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
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
