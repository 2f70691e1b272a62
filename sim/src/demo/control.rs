//! Faults on request: what the dashboard (or anything else holding a [`Control`]) may ask the
//! running demo to do, checked before anything is touched. The demo's loop carries a request out
//! with the same code the tour uses, and answers with what it did or why it would not.

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// SIGKILL a controller (restarted 3 s later) or a coordinator node (restarted 5 s later).
    Kill {
        /// `c2`, `segment/3` (its primary), `node 2`, or `leader` (the coordinator's).
        target: String,
    },
    /// SIGSTOP a controller (resumed after 3 TTLs unless resumed before).
    Pause {
        /// A controller or a role (its primary).
        target: String,
    },
    /// SIGCONT a paused controller.
    Resume {
        /// A controller.
        target: String,
    },
    /// Cut a controller off from the coordinator (its links dropped) until reconnected.
    CutOff {
        /// A controller or a role (its primary).
        target: String,
    },
    /// Give a cut-off controller its links back.
    Reconnect {
        /// A controller.
        target: String,
    },
    /// Restart a killed coordinator node now.
    Restart {
        /// `node N`.
        target: String,
    },
    /// Change the world's speed.
    Speed {
        /// Simulated seconds per wall second.
        value: f64,
    },
    /// Run the storage lesson against the demo's coordinator and a local object store.
    Lesson,
    /// Stall the next vehicle to reach a place on the road (an incident, as a scenario has).
    Stall {
        /// Where, m from the road's start.
        position_m: f64,
        /// The lane (1 = rightmost); default 1.
        #[serde(default = "first_lane")]
        lane: u8,
        /// For how long, simulated seconds; default 300.
        #[serde(default = "stall_s")]
        duration_s: f64,
    },
    /// The operator's order: close a lane of a segment over the whole segment. Written to the
    /// segment's operator node; its primary carries it out as its own fenced command, and every
    /// later primary too, until reopened ([`super::operator`]).
    CloseLane {
        /// `segment/N`.
        target: String,
        /// The lane (1 = rightmost).
        lane: u8,
    },
    /// The operator's order lifted: reopen a lane the operator closed.
    ReopenLane {
        /// `segment/N`.
        target: String,
        /// The lane.
        lane: u8,
    },
    /// The operator's order: close a runway (nothing is cleared onto it; arrivals go around).
    CloseRunway {
        /// `runway/ID`.
        target: String,
    },
    /// The operator's order lifted: reopen a runway the operator closed.
    ReopenRunway {
        /// `runway/ID`.
        target: String,
    },
}

fn first_lane() -> u8 {
    1
}

fn stall_s() -> f64 {
    300.0
}

/// Who a request's target names, once checked against the demo's controllers and nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A controller, by its index among the demo's.
    Controller(usize),
    /// The primary of a role (resolved when carried out, from the actuator's latest decisions).
    PrimaryOf(String),
    /// A coordinator node.
    Node(u64),
    /// The coordinator's leader (resolved when carried out).
    Leader,
}

/// Reads a target. Pure: `controllers` are the demo's names, `roles` its roles, `nodes` its
/// node count.
pub fn parse_target(text: &str, controllers: &[String], roles: &[String], nodes: u64) -> Result<Target, String> {
    let text = text.trim();
    if let Some(i) = controllers.iter().position(|c| c == text) {
        return Ok(Target::Controller(i));
    }
    if roles.iter().any(|r| r == text) {
        return Ok(Target::PrimaryOf(text.to_string()));
    }
    if text == "leader" {
        return Ok(Target::Leader);
    }
    if let Some(id) = text.strip_prefix("node").map(str::trim)
        && let Ok(id) = id.parse::<u64>()
    {
        if (1..=nodes).contains(&id) {
            return Ok(Target::Node(id));
        }
        return Err(format!("there is no coordinator node {id}: the nodes are 1..={nodes}"));
    }
    Err(format!(
        "unknown target {text:?}: give a controller ({}), a role ({}), `node N` (1..={nodes}) or `leader`",
        controllers.join(", "),
        roles.join(", ")
    ))
}

/// What the demo answers.
pub type Answer = Result<String, Refused>;

/// A request the demo would not carry out, and why (nothing was done).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refused {
    /// The HTTP status that fits: 400 for a bad request, 404 for an unknown target, 409 for a
    /// request the system's state does not allow now, 501 for one this demo cannot carry out.
    pub status: u16,
    /// Why, and what to do instead.
    pub error: String,
}

impl Refused {
    /// A refusal.
    pub fn new(status: u16, error: impl Into<String>) -> Self {
        Self { status, error: error.into() }
    }
}

/// The handle: sends requests to the demo's loop and waits for its answer.
#[derive(Clone)]
pub struct Control {
    sender: mpsc::Sender<(Request, oneshot::Sender<Answer>)>,
}

/// The demo's end of a [`Control`].
pub type Requests = mpsc::Receiver<(Request, oneshot::Sender<Answer>)>;

impl Control {
    /// A handle and the receiving end the demo's loop polls.
    pub fn channel() -> (Self, Requests) {
        let (sender, receiver) = mpsc::channel(16);
        (Self { sender }, receiver)
    }

    /// Asks for `request`; the answer says what was done or why nothing was.
    pub async fn ask(&self, request: Request) -> Answer {
        let (reply, answer) = oneshot::channel();
        self.sender
            .try_send((request, reply))
            .map_err(|_| Refused::new(503, "the demo is busy with other requests (or stopping): try again"))?;
        answer.await.unwrap_or_else(|_| Err(Refused::new(503, "the demo stopped before answering")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_checked_before_anything_is_done() {
        let controllers: Vec<String> = ["c1", "c2"].iter().map(|s| s.to_string()).collect();
        let roles: Vec<String> = ["segment/1", "runway/07L"].iter().map(|s| s.to_string()).collect();
        assert_eq!(parse_target("c2", &controllers, &roles, 3), Ok(Target::Controller(1)));
        assert_eq!(parse_target("segment/1", &controllers, &roles, 3), Ok(Target::PrimaryOf("segment/1".into())));
        assert_eq!(parse_target("node 3", &controllers, &roles, 3), Ok(Target::Node(3)));
        assert_eq!(parse_target("leader", &controllers, &roles, 3), Ok(Target::Leader));
        let e = parse_target("node 4", &controllers, &roles, 3).unwrap_err();
        assert!(e.contains("no coordinator node 4"), "{e}");
        let e = parse_target("c9", &controllers, &roles, 3).unwrap_err();
        assert!(e.contains("unknown target \"c9\"") && e.contains("c1, c2"), "{e}");
    }

    #[test]
    fn requests_read_from_json_and_unknown_fields_are_refused() {
        let r: Request = serde_json::from_str(r#"{"action":"kill","target":"c1"}"#).unwrap();
        assert_eq!(r, Request::Kill { target: "c1".into() });
        let r: Request = serde_json::from_str(r#"{"action":"speed","value":4}"#).unwrap();
        assert_eq!(r, Request::Speed { value: 4.0 });
        let r: Request = serde_json::from_str(r#"{"action":"stall","position_m":2600}"#).unwrap();
        assert_eq!(r, Request::Stall { position_m: 2600.0, lane: 1, duration_s: 300.0 });
        assert!(serde_json::from_str::<Request>(r#"{"action":"explode","target":"c1"}"#).is_err());
        assert!(serde_json::from_str::<Request>(r#"{"action":"kill","target":"c1","x":1}"#).is_err());
        assert!(serde_json::from_str::<Request>(r#"{"action":"kill"}"#).is_err());
        let r: Request = serde_json::from_str(r#"{"action":"close-lane","target":"segment/2","lane":2}"#).unwrap();
        assert_eq!(r, Request::CloseLane { target: "segment/2".into(), lane: 2 });
        let r: Request = serde_json::from_str(r#"{"action":"reopen-runway","target":"runway/07L"}"#).unwrap();
        assert_eq!(r, Request::ReopenRunway { target: "runway/07L".into() });
        assert!(serde_json::from_str::<Request>(r#"{"action":"close-lane","target":"segment/2"}"#).is_err());
    }
}
