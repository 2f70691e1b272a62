//! Golden-script tests of the leader's lease table: text in, text out.
//!
//! Each file in `testscripts/` is a story told to one node's [`Leases`] (election timeout
//! 250 ms) and to the committed sessions it reconciles with, one command a `> ` line. A line
//! may start with `@MS`, the time in milliseconds from the script's start (it stays until the
//! next `@`). After a command the runner writes its answer, and after every command that may
//! change the table, `= ` and the table: its term and every session's deadline
//! (`= term 3 | s1 until @1000 | s2 until @2333.333`). Lines starting with `#` are comments and kept.
//!
//! The committed state: `open S ttl=MS` (a session opens; the opening counts as a checkpoint
//! of its whole TTL, applied now), `checkpointed S remaining=MS` (a lease checkpoint applied
//! now), `close S` (closed or expired), `restart` (this node forgets when it applied each
//! checkpoint, as after a restart or a snapshot install).
//! The leader: `reconcile term=T`, `renew S term=T [ttl=MS]`, `enter-term T`, and the questions
//! `expired term=T`, `checkpoint term=T` (which also commits the answer, applied now) and
//! `grace ttl=MS`.
//!
//! The runner fails with a diff if a script's text differs from what the table answers. Run with
//! `UPDATE_GOLDEN=1` to rewrite the answers after a deliberate change, then read the diff.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Leases, Term};
use crate::core::golden;
use crate::core::state::Session;
use crate::core::types::SessionId;

const ELECTION_TIMEOUT: Duration = Duration::from_millis(250);

/// The table under test, the committed sessions it is reconciled with, and the clock.
struct Script {
    leases: Leases,
    sessions: BTreeMap<SessionId, Session>,
    checkpoint_applied: HashMap<SessionId, Instant>,
    t0: Instant,
    now: Instant,
}

fn session_id(word: &str) -> SessionId {
    SessionId(word.strip_prefix('s').and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("bad session {word:?}")))
}

fn option(words: &[&str], key: &str) -> Option<u64> {
    words.iter().find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

fn required(words: &[&str], key: &str) -> u64 {
    option(words, key).unwrap_or_else(|| panic!("{words:?}: needs {key}=N"))
}

impl Script {
    fn new() -> Self {
        let t0 = Instant::now();
        Self {
            leases: Leases::new(ELECTION_TIMEOUT),
            sessions: BTreeMap::new(),
            checkpoint_applied: HashMap::new(),
            t0,
            now: t0,
        }
    }

    /// `@MS`, with three decimals when the instant falls between two milliseconds (a third of a
    /// TTL often does), so that `@2333` is not read as the deadline of `@2333.333`.
    fn at(&self, instant: Instant) -> String {
        let since = instant.saturating_duration_since(self.t0);
        if since.subsec_nanos().is_multiple_of(1_000_000) {
            format!("@{}", since.as_millis())
        } else {
            format!("@{:.3}", since.as_secs_f64() * 1000.0)
        }
    }

    /// `= term 3 | s1 until @1000 | s2 until @1100`.
    fn table(&self) -> String {
        let mut out = match self.leases.term {
            Some(term) => format!("= term {term}"),
            None => "= no term".to_string(),
        };
        let mut leases: Vec<_> = self.leases.leases.iter().collect();
        leases.sort_by_key(|(id, _)| **id);
        for (id, lease) in leases {
            out.push_str(&format!(" | {id} until {}", self.at(lease.deadline)));
        }
        out
    }

    /// Runs one command line; returns its output lines.
    fn run(&mut self, line: &str) -> String {
        let mut words: Vec<&str> = line.split_whitespace().collect();
        if let Some(ms) = words.first().and_then(|w| w.strip_prefix('@')) {
            self.now = self.t0 + Duration::from_millis(ms.parse().expect("@MS"));
            words.remove(0);
        }
        let (verb, rest) = (words[0], &words[1..]);
        let term = || -> Term { required(rest, "term") };
        let sessions = |ids: Vec<SessionId>| -> String {
            if ids.is_empty() {
                "none".into()
            } else {
                ids.iter().map(|id| id.to_string()).collect::<Vec<_>>().join(" ")
            }
        };
        match verb {
            "open" => {
                let ttl_ms = required(rest, "ttl");
                let session = Session {
                    ttl_ms,
                    member: None,
                    ephemerals: Default::default(),
                    checkpoint_remaining_ms: ttl_ms,
                    owner: None,
                };
                self.sessions.insert(session_id(rest[0]), session);
                self.checkpoint_applied.insert(session_id(rest[0]), self.now);
                String::new()
            }
            "checkpointed" => {
                self.commit_checkpoint(session_id(rest[0]), required(rest, "remaining"));
                String::new()
            }
            "close" => {
                self.sessions.remove(&session_id(rest[0]));
                self.checkpoint_applied.remove(&session_id(rest[0]));
                String::new()
            }
            "restart" => {
                self.checkpoint_applied.clear();
                String::new()
            }
            "reconcile" => {
                self.leases.reconcile(term(), &self.sessions, &self.checkpoint_applied, self.now);
                self.table()
            }
            "renew" => {
                let id = session_id(rest[0]);
                let ttl = option(rest, "ttl").or_else(|| self.sessions.get(&id).map(|s| s.ttl_ms));
                let ttl = Duration::from_millis(ttl.expect("renew of an unknown session needs ttl=MS"));
                self.leases.renew(term(), id, ttl, self.now);
                self.table()
            }
            "enter-term" => {
                let term: Term = rest[0].parse().expect("a term");
                let dropped = self.leases.enter_term(term);
                format!("{}\n{}", if dropped { "dropped" } else { "kept" }, self.table())
            }
            "expired" => format!("expired {}", sessions(self.leases.expired(term(), self.now))),
            "checkpoint" => {
                let remaining = self.leases.checkpoint(term(), self.now);
                let answer: Vec<String> = remaining.iter().map(|(id, ms)| format!("{id}={ms}")).collect();
                for (id, ms) in remaining {
                    self.commit_checkpoint(id, ms);
                }
                if answer.is_empty() { "checkpoint none".into() } else { format!("checkpoint {}", answer.join(" ")) }
            }
            "grace" => {
                format!("grace {}ms", self.leases.grace(Duration::from_millis(required(rest, "ttl"))).as_millis())
            }
            other => panic!("unknown lease script command {other:?}"),
        }
    }

    fn commit_checkpoint(&mut self, id: SessionId, remaining_ms: u64) {
        if let Some(session) = self.sessions.get_mut(&id) {
            session.checkpoint_remaining_ms = remaining_ms;
            self.checkpoint_applied.insert(id, self.now);
        }
    }
}

/// Replays one script; returns the script as it should read.
fn replay(text: &str) -> String {
    let mut script = Script::new();
    golden::replay_lines(text, |command| script.run(command))
}

#[test]
fn golden_scripts() {
    golden::check_scripts(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core/leases/testscripts"),
        "the lease table",
        replay,
    );
}
