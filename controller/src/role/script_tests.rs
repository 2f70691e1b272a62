//! Golden-script tests of the role machine: text in, text out.
//!
//! Each file in `testscripts/` tells a story of one role on one controller as the events the
//! shell feeds the machine, one per `> ` line, in the same words the log uses (see
//! [`Event`]'s `Display`). After each event the runner writes the actions the machine answered,
//! one a line, and then `= ` and the machine's state (its phase, whether it watches the
//! election, a pending retry, doubt about the session, the next backoff). Lines starting with
//! `#` are comments and kept; anything else is the runner's to rewrite.
//!
//! The runner replays every script on a fresh machine for role `runway/07` and fails with a diff
//! if the text differs. Run with `UPDATE_GOLDEN=1` to rewrite the answers after a deliberate
//! change, then read the diff: it is the behaviour change.
//!
//! Events: `session-opened`, `campaigned`, `campaign-failed [session-gone][: ERROR]`,
//! `ranked N`, `first-in-line TOKEN`, `watch-failed [session-uncertain|session-gone]
//! [candidate-lost][: ERROR]`, `claim-accepted`, `claim-failed TOKEN [session-uncertain][: ERROR]`,
//! `refused FLOOR`, `tick [session-uncertain]`, `retry-due`, `session-uncertain`,
//! `session-alive`, `session-gone`, `candidate-lost`, `hand-over`, `shutdown`.

use std::path::Path;

use skyway_coord::client::SessionHealth;
use skyway_coord::core::golden;

use super::{Event, RoleMachine};

/// Reads an event in its `Display` form.
fn parse(line: &str) -> Event {
    let (head, error) = match line.split_once(": ") {
        Some((head, error)) => (head, error.to_string()),
        None => (line, String::new()),
    };
    let words: Vec<&str> = head.split_whitespace().collect();
    let has = |flag: &str| words[1..].contains(&flag);
    let number = || -> u64 {
        words
            .get(1)
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("{line:?}: expected a number after the event"))
    };
    match words.first().copied().unwrap_or_default() {
        "session-opened" => Event::SessionOpened,
        "campaigned" => Event::Campaigned,
        "campaign-failed" => Event::CampaignFailed { error, session_gone: has("session-gone") },
        "ranked" => Event::Ranked(number() as usize),
        "first-in-line" => Event::FirstInLine { token: number() },
        "watch-failed" => {
            let health = if has("session-gone") {
                SessionHealth::Gone
            } else if has("session-uncertain") {
                SessionHealth::Uncertain
            } else {
                SessionHealth::Alive
            };
            Event::WatchFailed { error, health, candidate_lost: has("candidate-lost") }
        }
        "claim-accepted" => Event::ClaimAccepted,
        "claim-failed" => Event::ClaimFailed { token: number(), error, session_certain: !has("session-uncertain") },
        "refused" => Event::Refused { floor: number() },
        "tick" => Event::Tick { session_certain: !has("session-uncertain") },
        "retry-due" => Event::RetryDue,
        "session-uncertain" => Event::SessionUncertain,
        "session-alive" => Event::SessionAlive,
        "session-gone" => Event::SessionGone,
        "candidate-lost" => Event::CandidateLost,
        "hand-over" => Event::HandOver,
        "shutdown" => Event::Shutdown,
        other => panic!("unknown event {other:?} in {line:?}"),
    }
}

/// Replays one script; returns the script as it should read.
fn replay(text: &str) -> String {
    let mut machine = RoleMachine::new("runway/07");
    let mut out = String::new();
    for line in text.lines() {
        if let Some(event) = line.strip_prefix("> ") {
            let event = parse(event);
            // Written back in its Display form: the script's words are the log's words.
            out.push_str(&format!("> {event}\n"));
            for action in machine.on(event) {
                out.push_str(&format!("{action}\n"));
            }
            out.push_str(&format!("= {machine}\n"));
        } else if line.starts_with('#') || line.is_empty() {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn golden_scripts() {
    golden::check_scripts(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/role/testscripts"),
        "the role machine",
        replay,
    );
}

#[test]
fn every_event_reads_back_as_itself() {
    for line in [
        "campaign-failed session-gone: no leader",
        "watch-failed session-uncertain candidate-lost: expired",
        "claim-failed 9 session-uncertain: unavailable",
        "tick session-uncertain",
        "ranked 2",
    ] {
        assert_eq!(parse(line).to_string(), line);
    }
}
