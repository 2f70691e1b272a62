//! A session with a background keep-alive.
//!
//! The session knows three things about itself: it is alive (the leader answered a
//! keep-alive recently), it is *uncertain* (no answer for longer than the safety margin, so the
//! leader may be about to expire it), or it is gone (the leader said it expired, or it was
//! closed). Holders of roles must stop acting as soon as the session is uncertain: waiting
//! until it is gone would let a successor act while they still do.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::connection::{CallKind, Client};
use crate::core::types::SessionId;
use crate::error::CoordError;
use crate::proto::coord as pb;

/// The session TTL to use when there is no reason to choose another: a holder that dies is
/// replaced about this long after it stops answering. One second is what the controllers, the
/// demo and the drills use by default; the failover figures in the README are measured at it.
/// ZooKeeper's and etcd's usual seconds-long sessions trade slower failover for tolerance of
/// long pauses; shorter TTLs (the service accepts 50 ms to an hour) fail over faster but
/// need a process that is never stalled for two thirds of a TTL.
pub const SESSION_TTL_DEFAULT: Duration = Duration::from_secs(1);

/// What the client knows about its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionHealth {
    /// A keep-alive was acknowledged within the safety margin.
    Alive,
    /// No keep-alive acknowledged for longer than the safety margin: the session may be expired
    /// by the leader at any moment. Do not act on its behalf.
    Uncertain,
    /// The session expired or was closed. It never comes back.
    Gone,
}

/// An open session. Dropping it stops the keep-alive (the session then expires after its
/// TTL); [`Session::close`] ends it at once.
pub struct Session {
    client: Client,
    id: SessionId,
    ttl: Duration,
    health: watch::Receiver<SessionHealth>,
    /// When the last acknowledged keep-alive was *sent*: the leader renewed the lease no
    /// earlier than that.
    last_ack: Arc<std::sync::Mutex<Instant>>,
    keep_alive: JoinHandle<()>,
}

impl Session {
    /// Opens a session asking for `ttl` (see [`SESSION_TTL_DEFAULT`]); with a member name it
    /// also joins the membership. The session lives by the TTL the server granted
    /// ([`Session::ttl`]): keep-alives and the safety margin follow that one.
    pub async fn open(client: &Client, ttl: Duration, member_name: Option<&str>) -> Result<Self, CoordError> {
        let request = pb::OpenSessionRequest {
            ttl_ms: ttl.as_millis() as u64,
            member_name: member_name.unwrap_or_default().to_string(),
            request: None,
        };
        let opened = Instant::now();
        let response = client
            .run(CallKind::Write(None), |mut c, id| {
                let mut r = request.clone();
                r.request = id;
                async move { c.open_session(r).await }
            })
            .await?;
        let id = SessionId(response.session_id);
        let ttl = granted_ttl(ttl, response.ttl_ms);
        let (tx, health) = watch::channel(SessionHealth::Alive);
        let last_ack = Arc::new(std::sync::Mutex::new(opened));
        let keep_alive = tokio::spawn(keep_alive_loop(client.clone(), id, ttl, Arc::new(tx), last_ack.clone()));
        tracing::info!(session = %id, ttl_ms = ttl.as_millis() as u64, member = member_name, "session opened");
        Ok(Self { client: client.clone(), id, ttl, health, last_ack, keep_alive })
    }

    /// The session's id (the owner of its ephemeral nodes).
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// The session's TTL, as the server granted it (it may differ from the one asked for).
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The client the session was opened with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// What the client knows about the session right now.
    pub fn health(&self) -> SessionHealth {
        *self.health.borrow()
    }

    /// Until when the session is certainly alive, by this client's clock: the time the last
    /// acknowledged keep-alive was sent plus the safety margin (two thirds of the TTL). A role
    /// holder checks this right before it acts, so that a process that was paused (SIGSTOP) or
    /// cut off does not act on a session the leader may already have expired.
    pub fn certain_until(&self) -> Instant {
        *self.last_ack.lock().expect("session clock poisoned") + safety_margin(self.ttl)
    }

    /// Whether the session is certainly alive right now (see [`Session::certain_until`]).
    pub fn is_certain(&self) -> bool {
        self.health() == SessionHealth::Alive && Instant::now() < self.certain_until()
    }

    /// A receiver that sees every change of health.
    pub fn health_changes(&self) -> watch::Receiver<SessionHealth> {
        self.health.clone()
    }

    /// Completes when the session is no longer certainly alive (uncertain or gone).
    pub async fn lost(&self) {
        let mut rx = self.health.clone();
        let _ = rx.wait_for(|h| *h != SessionHealth::Alive).await;
    }

    /// Closes the session: its ephemeral nodes are deleted at once and a member leaves.
    pub async fn close(self) -> Result<(), CoordError> {
        self.keep_alive.abort();
        self.client.close_session(self.id).await?;
        tracing::info!(session = %self.id, "session closed");
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.keep_alive.abort();
    }
}

/// The TTL a session lives by: the server's grant; the one asked for only from a server that
/// does not say (a `ttl_ms` of 0).
fn granted_ttl(asked: Duration, granted_ms: u64) -> Duration {
    if granted_ms == 0 { asked } else { Duration::from_millis(granted_ms) }
}

/// Past this long without an acknowledged keep-alive the session is uncertain.
fn safety_margin(ttl: Duration) -> Duration {
    ttl * 2 / 3
}

/// After a failed keep-alive, the next one goes out this soon (or at the next period, if that is
/// sooner): a new coordinator leader gives a session only a short grace to find it.
const KEEP_ALIVE_RETRY: Duration = Duration::from_millis(50);

/// Sends a keep-alive every third of the TTL and tracks the answers; retries failed ones after
/// [`KEEP_ALIVE_RETRY`], and unanswered ones (no answer within a period) at once, elsewhere.
/// The safety margin is two thirds of the TTL: past it without an answer the session is
/// uncertain — flagged by a timer at that very moment, not at the next keep-alive.
async fn keep_alive_loop(
    client: Client,
    id: SessionId,
    ttl: Duration,
    health: Arc<watch::Sender<SessionHealth>>,
    shared_last_ack: Arc<std::sync::Mutex<Instant>>,
) {
    let interval = ttl / 3;
    let margin = safety_margin(ttl);
    let mut last_ack = *shared_last_ack.lock().expect("session clock poisoned");
    let mark_uncertain = |last_ack: Instant| {
        let changed =
            health.send_if_modified(|h| std::mem::replace(h, SessionHealth::Uncertain) != SessionHealth::Uncertain);
        if changed {
            tracing::warn!(session = %id, silent_ms = last_ack.elapsed().as_millis() as u64, "session uncertain: no keep-alive acknowledged");
        }
    };
    loop {
        let sent = Instant::now();
        let request = pb::KeepAliveRequest { session_id: id.0 };
        let call = tokio::time::timeout(
            interval.max(Duration::from_millis(20)),
            client.run(CallKind::Read, |mut c, _| {
                let r = request;
                async move { c.keep_alive(r).await }
            }),
        );
        tokio::pin!(call);
        let result = loop {
            tokio::select! {
                result = &mut call => break result,
                _ = tokio::time::sleep_until((last_ack + margin).into()),
                    if *health.borrow() == SessionHealth::Alive => mark_uncertain(last_ack),
            }
        };
        let timed_out = result.is_err();
        match result {
            Ok(Ok(_)) => {
                // The lease was renewed no earlier than when the request was sent.
                last_ack = sent;
                *shared_last_ack.lock().expect("session clock poisoned") = sent;
                health.send_if_modified(|h| std::mem::replace(h, SessionHealth::Alive) != SessionHealth::Alive);
            }
            Ok(Err(CoordError::SessionExpired { .. })) => {
                tracing::warn!(session = %id, "session expired");
                health.send_replace(SessionHealth::Gone);
                return;
            }
            Ok(Err(e)) => tracing::debug!(session = %id, "keep-alive failed: {e}"),
            Err(_) => {
                // The endpoint it went to is silent: the retry must go elsewhere.
                client.avoid_preferred();
                tracing::debug!(session = %id, "keep-alive timed out");
            }
        }
        let acknowledged = last_ack == sent;
        if last_ack.elapsed() > margin {
            mark_uncertain(last_ack);
        }
        // After a silent endpoint the retry goes to another one at once: the timeout already
        // spent a keep-alive period, and a short TTL has no second one to spare.
        let next = match (acknowledged, timed_out) {
            (true, _) => sent + interval,
            (false, true) => Instant::now(),
            (false, false) => Instant::now() + KEEP_ALIVE_RETRY.min(interval),
        };
        tokio::select! {
            _ = tokio::time::sleep_until(next.into()) => {}
            _ = tokio::time::sleep_until((last_ack + margin).into()),
                if last_ack + margin < next && *health.borrow() == SessionHealth::Alive => {
                mark_uncertain(last_ack);
                tokio::time::sleep_until(next.into()).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_lives_by_the_ttl_granted() {
        assert_eq!(granted_ttl(Duration::from_secs(1), 400), Duration::from_millis(400));
        assert_eq!(granted_ttl(Duration::from_secs(1), 0), Duration::from_secs(1), "a server that does not say");
    }
}
