//! One role's task for one session: the thin I/O shell around the pure [`RoleMachine`].
//!
//! It waits for whichever comes first — shutdown, the end of a wait the machine asked for, a
//! nudge from the role spreader, a change of session health, the election making it first in
//! line (watched only while the machine says so), the next command tick while primary — turns
//! it into an [`Event`], feeds the machine and carries out the actions in order. An action's
//! outcome (a campaign created or failed, a claim accepted, refused or lost) is fed back as the
//! next event. Every decision — what to retry, after how long, whether it is still wanted, when
//! to stop acting — is the machine's; the shell only reports the facts it saw with the outcome:
//! the session's health, and whether it is certainly alive by its own clock
//! ([`Session::is_certain`]) right before a command, so that a process that was paused or cut
//! off does not act on a session the leader may have expired (the fencing token covers the rest).

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::sync::Arc;

use skyway_coord::CoordError;
use skyway_coord::client::{Candidate, Consistency, Election, Session, SessionHealth};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, Interval};

use super::{Nudge, RESIGN_TIMEOUT, RoleExit, Shared, wait_stop};
use crate::commander::RoleCommander;
use crate::role::{Action, Event, Phase, RoleMachine};

/// Serves `role` with `session` until the session is gone or the controller stops.
pub(super) async fn run_role(
    shared: Arc<Shared>,
    role: String,
    session: Arc<Session>,
    stopping: watch::Receiver<bool>,
    mut nudges: mpsc::Receiver<Nudge>,
) -> RoleExit {
    let election = match Election::new(&shared.client, &role) {
        Ok(election) => election,
        Err(e) => {
            tracing::error!(controller = %shared.config.name, %role, "cannot serve this role: {e}");
            return RoleExit::Shutdown;
        }
    };
    let mut health = session.health_changes();
    let (mut task, opening) = RoleTask::open(shared, role, session, election);
    let mut pending: VecDeque<Action> = opening.into();
    // The session's health when we subscribed is news only if it is not the usual.
    match *health.borrow_and_update() {
        SessionHealth::Alive => {}
        other => pending.extend(task.feed(health_event(other))),
    }
    loop {
        while let Some(action) = pending.pop_front() {
            task.report();
            match task.perform(action).await {
                ControlFlow::Continue(Some(outcome)) => pending.extend(task.feed(outcome)),
                ControlFlow::Continue(None) => {}
                ControlFlow::Break(exit) => {
                    task.report();
                    return exit;
                }
            }
        }
        task.report();
        if task.machine.phase() == Phase::Stopped {
            return RoleExit::Shutdown;
        }
        if let Some(event) = task.next_event(&stopping, &mut nudges, &mut health).await {
            pending.extend(task.feed(event));
        }
    }
}

/// The machine's view of a change of session health.
fn health_event(health: SessionHealth) -> Event {
    match health {
        SessionHealth::Alive => Event::SessionAlive,
        SessionHealth::Uncertain => Event::SessionUncertain,
        SessionHealth::Gone => Event::SessionGone,
    }
}

/// What one role's task holds: the machine, and the I/O resources its actions use.
struct RoleTask {
    shared: Arc<Shared>,
    role: String,
    session: Arc<Session>,
    election: Election,
    machine: RoleMachine,
    /// The phase last reported to the status board.
    reported: Phase,
    /// Our candidate node, once created.
    candidate: Option<Candidate>,
    /// The coordinator nodes the commander reads before each command.
    inputs: Vec<String>,
    /// The decision-maker of the current term, with its token.
    term: Option<(u64, Box<dyn RoleCommander>)>,
    ticker: Interval,
    /// When the wait the machine asked for ([`Action::RetryIn`]) is over.
    retry_at: Option<Instant>,
}

impl RoleTask {
    /// The task of a role whose session has just opened, with the machine's first actions; the
    /// status board hears the phase the opening put the role in.
    fn open(shared: Arc<Shared>, role: String, session: Arc<Session>, election: Election) -> (Self, Vec<Action>) {
        let mut ticker = tokio::time::interval(shared.config.command_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let inputs = shared.config.commander.inputs(&role);
        let mut machine = RoleMachine::new(&role);
        let opening = machine.on(Event::SessionOpened);
        let reported = machine.phase();
        shared.status.set_phase(&role, reported);
        let task = Self {
            shared,
            role,
            session,
            election,
            machine,
            reported,
            candidate: None,
            inputs,
            term: None,
            ticker,
            retry_at: None,
        };
        (task, opening)
    }

    fn name(&self) -> &str {
        &self.shared.config.name
    }

    /// Feeds the machine one event (logged at debug: the events are the role's story).
    fn feed(&mut self, event: Event) -> Vec<Action> {
        tracing::debug!(controller = %self.name(), role = %self.role, %event, "role event");
        self.machine.on(event)
    }

    /// Tells the status board (and the log) of a phase change.
    fn report(&mut self) {
        let phase = self.machine.phase();
        if self.reported != phase {
            tracing::info!(controller = %self.name(), role = %self.role, %phase, "role changed");
            self.reported = phase;
            self.shared.status.set_phase(&self.role, phase);
        }
    }

    /// Carries out one action; its outcome, if it has one the machine must hear, or the end of
    /// the task.
    async fn perform(&mut self, action: Action) -> ControlFlow<RoleExit, Option<Event>> {
        let (name, role) = (&self.shared.config.name, &self.role);
        let outcome = match action {
            Action::Campaign => Some(self.campaign().await),
            Action::Claim { token } => Some(self.claim(token).await),
            Action::StartActing { token, new_term } => {
                tracing::info!(controller = %name, %role, token, new_term, "primary: acting");
                if new_term {
                    self.term = Some((token, self.shared.config.commander.start(role, token)));
                }
                self.ticker.reset_immediately();
                None
            }
            Action::Command { token } => self.command(token).await,
            Action::StopActing { reason } => {
                tracing::warn!(controller = %name, %role, "stopped acting: {reason}");
                None
            }
            Action::Resign => {
                self.resign().await;
                None
            }
            Action::Rejoin => return ControlFlow::Break(RoleExit::SessionGone),
            Action::RetryIn { after, why } => {
                tracing::warn!(controller = %name, %role, "{why}; retrying in {after:?}");
                self.retry_at = Some(Instant::now() + after);
                None
            }
        };
        ControlFlow::Continue(outcome)
    }

    async fn campaign(&mut self) -> Event {
        match self.election.campaign(&self.session, self.name().to_string()).await {
            Ok(created) => {
                self.candidate = Some(created);
                Event::Campaigned
            }
            Err(e) => Event::CampaignFailed {
                error: e.to_string(),
                session_gone: self.session.health() == SessionHealth::Gone,
            },
        }
    }

    async fn claim(&mut self, token: u64) -> Event {
        match self.shared.actuator.claim(&self.role, self.name(), token).await {
            Ok(decision) if decision.accepted => {
                self.shared.status.accepted(&self.role);
                Event::ClaimAccepted
            }
            Ok(decision) => {
                self.shared.status.refused(&self.role);
                Event::Refused { floor: decision.floor }
            }
            Err(e) => Event::ClaimFailed { token, error: e.to_string(), session_certain: self.session.is_certain() },
        }
    }

    /// Reads the inputs, asks the term's commander and sends its command; the actuator's refusal
    /// is the machine's news, anything else only the log's.
    async fn command(&mut self, token: u64) -> Option<Event> {
        let action = self.next_command(token).await?;
        let (name, role) = (&self.shared.config.name, &self.role);
        match self.shared.actuator.command(role, name, token, action).await {
            Ok(decision) if decision.accepted => {
                self.shared.status.accepted(role);
                None
            }
            Ok(decision) => {
                self.shared.status.refused(role);
                tracing::warn!(controller = %name, %role, "{}", decision.reason);
                Some(Event::Refused { floor: decision.floor })
            }
            Err(e) => {
                tracing::warn!(controller = %name, %role, "command not delivered: {e}");
                None
            }
        }
    }

    /// Reads the role's inputs and asks the term's commander what to send; None if it has
    /// nothing to say or an input could not be read (a primary does not act on what it could
    /// not see).
    async fn next_command(&mut self, token: u64) -> Option<String> {
        // The inputs are independent reads, each linearizable on its own: asked at once, a tick
        // waits for one read-index round trip, not one per input (a segment reads six).
        let client = &self.shared.client;
        let reads =
            self.inputs.iter().map(|path| async move { (path, client.get(path, Consistency::Linearizable).await) });
        let mut values = Vec::with_capacity(self.inputs.len());
        for (path, read) in futures::future::join_all(reads).await {
            match read {
                Ok(reply) => values.push(Some(reply.data)),
                Err(CoordError::NotFound { .. }) => values.push(None),
                Err(e) => {
                    tracing::debug!(controller = %self.shared.config.name, path, "cannot read an input: {e}");
                    return None;
                }
            }
        }
        let (_, commander) = self.term.as_mut().filter(|(current, _)| *current == token)?;
        commander.next(&values)
    }

    /// Deletes our candidate node, if we have one; a coordinator that does not answer in time
    /// leaves it to the session's end.
    async fn resign(&mut self) {
        let Some(candidate) = self.candidate.take() else { return };
        let (name, role) = (&self.shared.config.name, &self.role);
        match tokio::time::timeout(RESIGN_TIMEOUT, candidate.resign()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(controller = %name, %role, "resign failed (the session's end will remove it): {e}")
            }
            Err(_) => tracing::warn!(
                controller = %name, %role, "no answer to the resignation within {RESIGN_TIMEOUT:?}: the session's end will remove it"
            ),
        }
    }

    /// Waits for the next thing that happens, as the machine's event (None: nothing it must hear).
    async fn next_event(
        &mut self,
        stopping: &watch::Receiver<bool>,
        nudges: &mut mpsc::Receiver<Nudge>,
        health: &mut watch::Receiver<SessionHealth>,
    ) -> Option<Event> {
        let watching = self.candidate.as_ref().filter(|_| self.machine.watches_election());
        let acting = self.machine.acting_token().is_some();
        let retry_at = self.retry_at;
        let session = &self.session;
        tokio::select! {
            _ = wait_stop(stopping.clone()) => Some(Event::Shutdown),
            _ = tokio::time::sleep_until(retry_at.unwrap_or_else(Instant::now)), if retry_at.is_some() => {
                self.retry_at = None;
                Some(Event::RetryDue)
            }
            Some(nudge) = nudges.recv() => Some(match nudge {
                Nudge::HandOver => Event::HandOver,
                Nudge::Rank(rank) => Event::Ranked(rank),
            }),
            changed = health.changed() => Some(match (changed, *health.borrow_and_update()) {
                (Err(_), _) => Event::SessionGone,
                (Ok(()), now) => health_event(now),
            }),
            first = first_in_line(watching, session) => Some(match first {
                Ok(token) => Event::FirstInLine { token },
                Err(e) => Event::WatchFailed {
                    candidate_lost: matches!(e, CoordError::SessionExpired { .. }),
                    error: e.to_string(),
                    health: session.health(),
                },
            }),
            _ = self.ticker.tick(), if acting => Some(Event::Tick { session_certain: session.is_certain() }),
        }
    }
}

/// Waits until `candidate` is first in line; never completes without a candidate.
async fn first_in_line(candidate: Option<&Candidate>, session: &Session) -> Result<u64, CoordError> {
    match candidate {
        Some(candidate) => candidate.wait_primary(session).await.map(|token| token.0),
        None => std::future::pending().await,
    }
}
