//! What a chaos drill recorded, and the checks that judge it. Pure: no clock, no I/O.
//!
//! The workload leaves a history sharp enough to convict the coordinator:
//! - **registers** (`/chaos/reg/…`): reads, writes and compare-and-sets with unique values, and a
//!   final linearizable read of every key once the faults have healed, judged by [`lincheck`];
//!   a lost acknowledged write shows up as a read no order can explain.
//! - **the create log** (`/chaos/log/…`): nodes created once each and never deleted; every
//!   acknowledged create must be there at the end, and nothing may be there that nobody wrote.
//! - **watches** on all of `/chaos` from before the first write: each must deliver in revision
//!   order, never twice, every version of every node one after the other (a skipped version is a
//!   lost event), every create of the log, and each register up to its final version.
//! - **the actuator's audit trail**: no fencing token accepted from two controllers, no token
//!   accepted after a higher one ([`judge_trail`]).
//! - **ephemeral nodes** (`/chaos/eph/…`): none left once every session that made one has closed
//!   or expired.
//!
//! Caveats: the linearizability search has a budget; a key too expensive to decide is a failed
//! check ("not proven"), never a pass. Watches are checked against the final state, so a node
//! must not be deleted and recreated under the log or the registers (the workload never does).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use skyway_controller::proto::AuditEntry;
use skyway_coord::client::{WatchEvent, WatchEventKind};

use super::judge_trail;
use crate::lincheck::{self, CheckOptions, CheckResult, Input, Operation, Output};

/// Where the chaos workload writes.
pub const ROOT: &str = "/chaos";
/// The registers' parent.
pub const REGISTERS: &str = "/chaos/reg";
/// The create log's parent.
pub const LOG: &str = "/chaos/log";
/// The session workers' ephemeral nodes' parent.
pub const EPHEMERALS: &str = "/chaos/eph";

/// How a create of the log ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CreateOutcome {
    /// Acknowledged: it must be there at the end.
    Acked,
    /// No answer: it may be there or not.
    Unknown,
}

/// Everything a chaos run recorded.
#[derive(Debug, Clone, Default)]
pub struct ChaosHistory {
    /// Register operations (keys are the nodes' paths), the final reads included.
    pub registers: Vec<Operation>,
    /// Every create attempted under [`LOG`] whose outcome is not "certainly not applied".
    pub creates: BTreeMap<String, CreateOutcome>,
    /// The paths under [`LOG`] at the end (a linearizable read after the faults healed).
    pub log_at_end: BTreeSet<String>,
    /// Each register's version at the end, by path (from the final reads).
    pub register_versions: BTreeMap<String, u64>,
    /// Each watcher's delivered events, in delivery order.
    pub watches: Vec<Vec<WatchEvent>>,
    /// The actuator's audit trail.
    pub audit: Vec<AuditEntry>,
    /// Ephemeral nodes still there after every session ended.
    pub ephemerals_left: Vec<String>,
}

/// One check's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// Whether it held.
    pub passed: bool,
    /// What was counted, or what broke.
    pub detail: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", if self.passed { "ok  " } else { "FAIL" }, self.name, self.detail)
    }
}

fn check(name: &'static str, problems: Vec<String>, counted: String) -> Check {
    match problems.first() {
        None => Check { name, passed: true, detail: counted },
        Some(first) => {
            Check { name, passed: false, detail: format!("{} problem(s), first: {first} ({counted})", problems.len()) }
        }
    }
}

/// Judges a history: one [`Check`] per invariant, in a fixed order.
pub fn judge(history: &ChaosHistory, options: &CheckOptions) -> Vec<Check> {
    vec![
        linearizable(&history.registers, options),
        acknowledged_writes(history),
        watches(history),
        one_primary(&history.audit),
        ephemerals(&history.ephemerals_left),
    ]
}

fn linearizable(registers: &[Operation], options: &CheckOptions) -> Check {
    let keys: BTreeSet<&str> = registers.iter().map(|o| o.key.as_str()).collect();
    let unknown = registers.iter().filter(|o| o.output == Output::Unknown).count();
    let counted = format!("{} operations on {} keys, {unknown} with unknown outcome", registers.len(), keys.len());
    let problems = match lincheck::check(registers, options) {
        CheckResult::Linearizable => Vec::new(),
        CheckResult::Illegal { key, explanation } => vec![format!("{key} is not linearizable: {explanation}")],
        CheckResult::Unknown { key } => vec![format!("{key}: not proven, the search budget ran out")],
    };
    check("linearizable registers", problems, counted)
}

fn acknowledged_writes(history: &ChaosHistory) -> Check {
    let mut problems = Vec::new();
    let acked = history.creates.values().filter(|o| **o == CreateOutcome::Acked).count();
    for (path, outcome) in &history.creates {
        if *outcome == CreateOutcome::Acked && !history.log_at_end.contains(path) {
            problems.push(format!("acknowledged create of {path} is missing"));
        }
    }
    for path in &history.log_at_end {
        if !history.creates.contains_key(path) {
            problems.push(format!("{path} exists but no client created it"));
        }
    }
    let acked_sets =
        history.registers.iter().filter(|o| matches!(o.output, Output::Written | Output::Cas(true))).count();
    let counted = format!(
        "{acked} acknowledged creates all present, {} nodes in the log; {acked_sets} acknowledged register writes \
         (judged by the final reads)",
        history.log_at_end.len()
    );
    check("no acknowledged write missing", problems, counted)
}

fn watches(history: &ChaosHistory) -> Check {
    let mut problems = Vec::new();
    let mut delivered = 0;
    for (i, events) in history.watches.iter().enumerate() {
        delivered += events.len();
        problems.extend(watch_problems(events, history).into_iter().map(|p| format!("watcher {i}: {p}")));
    }
    if history.watches.is_empty() {
        problems.push("no watcher recorded anything".into());
    }
    check(
        "every watch saw every event in order",
        problems,
        format!("{} watchers, {delivered} events", history.watches.len()),
    )
}

/// What is wrong with one watcher's events.
fn watch_problems(events: &[WatchEvent], history: &ChaosHistory) -> Vec<String> {
    let mut problems = Vec::new();
    let mut last_revision = 0;
    let mut seen = BTreeSet::new();
    // The live version of each node the watcher has seen created (None: deleted).
    let mut live: BTreeMap<&str, Option<u64>> = BTreeMap::new();
    let mut values: BTreeMap<&str, BTreeSet<&[u8]>> = BTreeMap::new();
    for event in events {
        let revision = event.revision.0;
        if revision < last_revision {
            problems.push(format!("revision {revision} delivered after {last_revision}"));
        }
        last_revision = last_revision.max(revision);
        if !seen.insert((revision, event.path.as_str())) {
            problems.push(format!("{} at revision {revision} delivered twice", event.path));
        }
        let before = live.get(event.path.as_str()).copied().flatten();
        match (event.kind, before) {
            (WatchEventKind::Created, Some(_)) => {
                problems.push(format!("{} created at revision {revision} while it existed", event.path));
            }
            (WatchEventKind::Changed | WatchEventKind::Deleted, None) => problems
                .push(format!("{} {:?} at revision {revision} without its create before it", event.path, event.kind)),
            (WatchEventKind::Changed, Some(version)) if event.version != version + 1 => problems.push(format!(
                "{} went from version {version} to {} at revision {revision}: an event is missing",
                event.path, event.version
            )),
            _ => {}
        }
        let now = if event.kind == WatchEventKind::Deleted { None } else { Some(event.version) };
        live.insert(event.path.as_str(), now);
        values.entry(event.path.as_str()).or_default().insert(&event.data);
    }
    for (path, outcome) in &history.creates {
        if *outcome == CreateOutcome::Acked && !live.contains_key(path.as_str()) {
            problems.push(format!("the acknowledged create of {path} was never delivered"));
        }
    }
    for path in &history.log_at_end {
        if !live.contains_key(path.as_str()) {
            problems.push(format!("{path} exists but its create was never delivered"));
        }
    }
    for (path, version) in &history.register_versions {
        let seen = live.get(path.as_str()).copied().flatten();
        if seen != Some(*version) {
            problems.push(format!("{path} is at version {version} but the watch saw it at {seen:?}"));
        }
    }
    for op in &history.registers {
        let value = match (&op.input, &op.output) {
            (Input::Write(value), Output::Written) | (Input::Cas { new: value, .. }, Output::Cas(true)) => value,
            _ => continue,
        };
        if !values.get(op.key.as_str()).is_some_and(|v| v.contains(value.as_bytes())) {
            problems.push(format!("the acknowledged write of {value:?} to {} was never delivered", op.key));
        }
    }
    problems
}

fn one_primary(audit: &[AuditEntry]) -> Check {
    let (split, inverted) = judge_trail(audit);
    let accepted = audit.iter().filter(|e| e.accepted).count();
    let refused = audit.len() - accepted;
    let mut problems = Vec::new();
    if split > 0 {
        problems.push(format!("{split} commands accepted from a second controller at one fencing token"));
    }
    if inverted > 0 {
        problems.push(format!("{inverted} commands accepted with a token lower than one accepted before"));
    }
    check(
        "no role had two primaries",
        problems,
        format!("{accepted} commands accepted, {refused} refused for stale tokens"),
    )
}

fn ephemerals(left: &[String]) -> Check {
    let problems = left.iter().map(|path| format!("{path} outlived its session")).collect();
    check("ephemeral nodes end with their sessions", problems, format!("{} left", left.len()))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use skyway_coord::client::Revision;

    use super::*;

    fn event(revision: u64, kind: WatchEventKind, path: &str, data: &str, version: u64) -> WatchEvent {
        WatchEvent {
            revision: Revision(revision),
            kind,
            path: path.into(),
            data: Bytes::from(data.to_string()),
            version,
            ephemeral_owner: None,
        }
    }

    fn op(key: &str, call: u64, ret: u64, input: Input, output: Output) -> Operation {
        Operation { client: 1, key: key.into(), call, ret, input, output }
    }

    /// A clean history: a register written twice and read, one create, all delivered.
    fn clean() -> ChaosHistory {
        let reg = "/chaos/reg/e0-k0";
        let log = "/chaos/log/c1-1";
        let registers = vec![
            op(reg, 0, 1, Input::Write("init".into()), Output::Written),
            op(reg, 2, 3, Input::Write("a".into()), Output::Written),
            op(reg, 4, 5, Input::Read, Output::Read(Some("a".into()))),
        ];
        let watch = vec![
            event(10, WatchEventKind::Created, reg, "init", 1),
            event(11, WatchEventKind::Changed, reg, "a", 2),
            event(12, WatchEventKind::Created, log, "", 1),
        ];
        ChaosHistory {
            registers,
            creates: [(log.to_string(), CreateOutcome::Acked)].into(),
            log_at_end: [log.to_string()].into(),
            register_versions: [(reg.to_string(), 2)].into(),
            watches: vec![watch.clone(), watch],
            audit: Vec::new(),
            ephemerals_left: Vec::new(),
        }
    }

    fn failed(history: &ChaosHistory) -> Vec<&'static str> {
        judge(history, &CheckOptions::default()).into_iter().filter(|c| !c.passed).map(|c| c.name).collect()
    }

    #[test]
    fn a_clean_history_passes_every_check() {
        let checks = judge(&clean(), &CheckOptions::default());
        assert!(checks.iter().all(|c| c.passed), "{checks:#?}");
    }

    #[test]
    fn a_read_of_an_overwritten_value_is_not_linearizable() {
        let mut history = clean();
        history.registers.push(op("/chaos/reg/e0-k0", 6, 7, Input::Read, Output::Read(Some("init".into()))));
        assert_eq!(failed(&history), ["linearizable registers"]);
    }

    #[test]
    fn a_lost_acknowledged_create_is_caught() {
        let mut history = clean();
        history.creates.insert("/chaos/log/c1-2".into(), CreateOutcome::Acked);
        // Missing at the end, and never delivered either.
        assert_eq!(failed(&history), ["no acknowledged write missing", "every watch saw every event in order"]);
        let mut unknown = clean();
        unknown.creates.insert("/chaos/log/c1-2".into(), CreateOutcome::Unknown);
        assert!(failed(&unknown).is_empty(), "an unknown outcome may be missing");
        let mut from_nowhere = clean();
        from_nowhere.log_at_end.insert("/chaos/log/c9-9".into());
        assert!(failed(&from_nowhere).contains(&"no acknowledged write missing"));
    }

    #[test]
    fn a_watch_that_skips_reorders_or_repeats_an_event_is_caught() {
        let mut skipped = clean();
        skipped.watches[1].remove(1); // the change to "a" never delivered
        assert_eq!(failed(&skipped), ["every watch saw every event in order"]);

        let mut reordered = clean();
        reordered.watches[0].swap(1, 2);
        assert_eq!(failed(&reordered), ["every watch saw every event in order"]);

        let mut repeated = clean();
        let again = repeated.watches[0][2].clone();
        repeated.watches[0].push(again);
        assert_eq!(failed(&repeated), ["every watch saw every event in order"]);

        let mut version_gap = clean();
        version_gap.watches[0][1].version = 3;
        assert_eq!(failed(&version_gap), ["every watch saw every event in order"]);
    }

    #[test]
    fn two_primaries_or_a_falling_token_are_caught() {
        let entry = |controller: &str, token: u64| AuditEntry {
            unix_ms: 1,
            role: "runway/07".into(),
            controller: controller.into(),
            token,
            action: "hold 1".into(),
            accepted: true,
            floor: token,
            seq: 0,
        };
        let mut history = clean();
        history.audit = vec![entry("c1", 5), entry("c2", 5)];
        assert_eq!(failed(&history), ["no role had two primaries"]);
        history.audit = vec![entry("c2", 9), entry("c1", 5)];
        assert_eq!(failed(&history), ["no role had two primaries"]);
        history.audit = vec![entry("c1", 5), entry("c2", 9)];
        assert!(failed(&history).is_empty());
    }

    #[test]
    fn an_ephemeral_node_left_behind_is_caught() {
        let mut history = clean();
        history.ephemerals_left = vec!["/chaos/eph/s1-1".into()];
        assert_eq!(failed(&history), ["ephemeral nodes end with their sessions"]);
    }
}
