//! A linearizability checker for recorded histories of registers (read, write, compare-and-set),
//! in the manner of Wing & Gong with Lowe's memoization, as in porcupine and Knossos.
//!
//! A history is linearizable if every operation can be given a single instant inside its
//! call–return interval such that, in that order, each operation's result is what a single
//! register would have answered. Keys are independent registers, so the history is split per
//! key and each key checked alone (linearizability is compositional), which keeps the search
//! small.
//!
//! The search walks the history's call and return events in time order, trying to linearize
//! any pending operation whose call has been seen; reaching the return of an operation that is
//! not yet linearized means the current choice failed, and it backtracks. A set of
//! (linearized operations, register state) pairs already explored prunes repeated work.
//!
//! Operations with an unknown outcome (the client timed out, or its server died) may have
//! taken effect at any time after their call, or never: they get a return time of +∞ (or the
//! call time plus a bound, if the caller knows one), and the search may linearize them either
//! with their effect or as nothing at all. Reads with an unknown outcome carry no information
//! and are dropped.
//!
//! Caveats: the search is exponential in the worst case; it stops after a budget of explored
//! steps and then says so (`Unknown`), never "linearizable" without proof. Make every written
//! value unique: the checker is only as sharp as the history lets it be.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// What a client asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    /// Read the register.
    Read,
    /// Write a value.
    Write(String),
    /// Write `new` if the register holds `expected` (`None`: the register is empty).
    Cas {
        /// The value required.
        expected: Option<String>,
        /// The value to write.
        new: String,
    },
}

/// What the client got back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Output {
    /// A read's value (`None`: the register was empty).
    Read(Option<String>),
    /// A write was acknowledged.
    Written,
    /// A compare-and-set's answer: whether it applied.
    Cas(bool),
    /// No answer: the operation may or may not have taken effect.
    Unknown,
}

/// One recorded operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// Which client issued it (for messages only).
    pub client: u64,
    /// The register.
    pub key: String,
    /// When it was called (any monotonic unit, e.g. microseconds).
    pub call: u64,
    /// When it returned; ignored for `Output::Unknown`.
    pub ret: u64,
    /// The request.
    pub input: Input,
    /// The answer.
    pub output: Output,
}

/// Knobs of the check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// If an operation with an unknown outcome took effect, it did so before `call + window`.
    /// `None`: at any time after its call.
    pub unknown_outcome_window: Option<u64>,
    /// Most search steps per key before giving up with `Unknown`.
    pub steps_max: u64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self { unknown_outcome_window: None, steps_max: 10_000_000 }
    }
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckResult {
    /// Every key's history is linearizable.
    Linearizable,
    /// This key's history is not: no order of its operations explains the results.
    Illegal {
        /// The key.
        key: String,
        /// The most operations that could be linearized, and the first that could not.
        explanation: String,
    },
    /// The search budget ran out before a verdict.
    Unknown {
        /// The key that was too expensive.
        key: String,
    },
}

/// Checks a history.
pub fn check(history: &[Operation], options: &CheckOptions) -> CheckResult {
    let mut per_key: BTreeMap<&str, Vec<&Operation>> = BTreeMap::new();
    for op in history {
        per_key.entry(op.key.as_str()).or_default().push(op);
    }
    for (key, ops) in per_key {
        let result = check_key(key, &ops, options);
        if result != CheckResult::Linearizable {
            return result;
        }
    }
    CheckResult::Linearizable
}

/// A register value interned as a number: 0 is "empty".
type Value = u32;

/// An operation prepared for the search.
#[derive(Debug, Clone)]
struct Prepared {
    input: PreparedInput,
    output: PreparedOutput,
    call: u64,
    ret: u64,
    source: usize,
}

#[derive(Debug, Clone, Copy)]
enum PreparedInput {
    Read,
    Write(Value),
    Cas(Value, Value),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum PreparedOutput {
    Read(Value),
    Written,
    Cas(bool),
    Unknown,
}

impl Prepared {
    /// The register states this operation may leave, applied to `state`, given its output.
    /// An unknown outcome also allows "never happened".
    fn successors(&self, state: Value) -> [Option<Value>; 2] {
        let applied = match (self.input, self.output) {
            (PreparedInput::Read, PreparedOutput::Read(seen)) => (seen == state).then_some(state),
            (PreparedInput::Write(v), _) => Some(v),
            (PreparedInput::Cas(expected, new), PreparedOutput::Cas(true)) => (expected == state).then_some(new),
            (PreparedInput::Cas(expected, _), PreparedOutput::Cas(false)) => (expected != state).then_some(state),
            (PreparedInput::Cas(expected, new), PreparedOutput::Unknown) => (expected == state).then_some(new),
            _ => None,
        };
        let skipped = (self.output == PreparedOutput::Unknown).then_some(state);
        [applied, skipped]
    }
}

fn check_key(key: &str, ops: &[&Operation], options: &CheckOptions) -> CheckResult {
    let mut values: HashMap<String, Value> = HashMap::new();
    let mut intern = |v: &Option<String>| -> Value {
        match v {
            None => 0,
            Some(s) => {
                let next = values.len() as Value + 1;
                *values.entry(s.clone()).or_insert(next)
            }
        }
    };
    let mut prepared = Vec::new();
    for (source, op) in ops.iter().enumerate() {
        let output = match &op.output {
            Output::Read(v) => PreparedOutput::Read(intern(v)),
            Output::Written => PreparedOutput::Written,
            Output::Cas(ok) => PreparedOutput::Cas(*ok),
            Output::Unknown if op.input == Input::Read => continue, // carries no information
            Output::Unknown => PreparedOutput::Unknown,
        };
        let input = match &op.input {
            Input::Read => PreparedInput::Read,
            Input::Write(v) => PreparedInput::Write(intern(&Some(v.clone()))),
            Input::Cas { expected, new } => PreparedInput::Cas(intern(expected), intern(&Some(new.clone()))),
        };
        let ret = match output {
            PreparedOutput::Unknown => options.unknown_outcome_window.map_or(u64::MAX, |w| op.call.saturating_add(w)),
            _ => op.ret,
        };
        assert!(ret >= op.call, "operation returns before it is called: {op:?}");
        prepared.push(Prepared { input, output, call: op.call, ret, source });
    }
    match search(&prepared, options.steps_max) {
        Search::Linearizable => CheckResult::Linearizable,
        Search::Exhausted => CheckResult::Unknown { key: key.to_string() },
        Search::Illegal { best, blocked } => {
            let describe = |i: usize| {
                let op = ops[prepared[i].source];
                format!("client {} {:?} -> {:?} [{}, {}]", op.client, op.input, op.output, op.call, op.ret)
            };
            let explanation = format!(
                "at most {best} of {} operations linearize; no order explains {}",
                prepared.len(),
                blocked.map_or("the rest".to_string(), describe)
            );
            CheckResult::Illegal { key: key.to_string(), explanation }
        }
    }
}

enum Search {
    Linearizable,
    Illegal { best: usize, blocked: Option<usize> },
    Exhausted,
}

/// A bitset of operation indexes.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Self {
        Self(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
}

/// One event of the history: an operation's call or return.
#[derive(Clone, Copy)]
struct Event {
    op: usize,
    is_call: bool,
}

/// The Wing–Gong search over a doubly linked list of events, with memoization.
fn search(ops: &[Prepared], steps_max: u64) -> Search {
    if ops.is_empty() {
        return Search::Linearizable;
    }
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        // At equal times calls sort before returns: such operations count as concurrent.
        events.push((op.call, false, i));
        events.push((op.ret, true, i));
    }
    events.sort();
    let events: Vec<Event> = events.into_iter().map(|(_, is_return, op)| Event { op, is_call: !is_return }).collect();
    let n = events.len();
    // Linked list over event positions, with a sentinel head at index n.
    let head = n;
    let mut next: Vec<usize> = (1..=n).chain([usize::MAX]).collect();
    let mut prev: Vec<usize> = std::iter::once(head).chain(0..n - 1).chain([usize::MAX]).collect();
    next[head] = 0;
    next[n - 1] = usize::MAX;
    prev[0] = head;
    let mut return_of = vec![0; ops.len()];
    for (position, event) in events.iter().enumerate() {
        if !event.is_call {
            return_of[event.op] = position;
        }
    }
    let unlink = |next: &mut Vec<usize>, prev: &mut Vec<usize>, p: usize| {
        let (a, b) = (prev[p], next[p]);
        next[a] = b;
        if b != usize::MAX {
            prev[b] = a;
        }
    };
    let relink = |next: &mut Vec<usize>, prev: &mut Vec<usize>, p: usize| {
        let (a, b) = (prev[p], next[p]);
        next[a] = p;
        if b != usize::MAX {
            prev[b] = p;
        }
    };

    let mut state: Value = 0;
    let mut linearized = Bits::new(ops.len());
    let mut seen: HashSet<(Bits, Value)> = HashSet::new();
    // Frames: (call position, state before, next alternative to try).
    let mut stack: Vec<(usize, Value, usize)> = Vec::new();
    let mut best = 0;
    let mut blocked = None;
    let mut entry = next[head];
    let mut alternative = 0;
    let mut steps = 0u64;
    while next[head] != usize::MAX {
        steps += 1;
        if steps > steps_max {
            return Search::Exhausted;
        }
        let event = events[entry];
        if event.is_call {
            let successors = ops[event.op].successors(state);
            let mut advanced = false;
            for (index, successor) in successors.iter().enumerate().skip(alternative) {
                let Some(new_state) = *successor else { continue };
                let mut candidate = linearized.clone();
                candidate.set(event.op);
                if seen.insert((candidate.clone(), new_state)) {
                    stack.push((entry, state, index + 1));
                    state = new_state;
                    linearized = candidate;
                    unlink(&mut next, &mut prev, entry);
                    unlink(&mut next, &mut prev, return_of[event.op]);
                    if stack.len() > best {
                        best = stack.len();
                        blocked = None;
                    }
                    entry = next[head];
                    advanced = true;
                    break;
                }
            }
            alternative = 0;
            if !advanced {
                entry = next[entry];
            }
        } else {
            // The return of an operation not yet linearized: the choices so far cannot work.
            if stack.len() == best && blocked.is_none() {
                blocked = Some(event.op);
            }
            let Some((call, previous_state, next_alternative)) = stack.pop() else {
                return Search::Illegal { best, blocked };
            };
            let op = events[call].op;
            relink(&mut next, &mut prev, return_of[op]);
            relink(&mut next, &mut prev, call);
            linearized.clear(op);
            state = previous_state;
            // Retry the same call with its next alternative, then move past it.
            entry = call;
            alternative = next_alternative;
            if alternative >= 2 {
                alternative = 0;
                entry = next[call];
            }
        }
    }
    Search::Linearizable
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(client: u64, call: u64, ret: u64, input: Input, output: Output) -> Operation {
        Operation { client, key: "k".into(), call, ret, input, output }
    }
    fn w(v: &str) -> Input {
        Input::Write(v.into())
    }
    fn r(v: Option<&str>) -> Output {
        Output::Read(v.map(str::to_string))
    }
    fn ok(history: &[Operation]) -> bool {
        check(history, &CheckOptions::default()) == CheckResult::Linearizable
    }

    #[test]
    fn sequential_history_passes() {
        let h = [
            op(1, 0, 1, Input::Read, r(None)),
            op(1, 2, 3, w("a"), Output::Written),
            op(1, 4, 5, Input::Read, r(Some("a"))),
        ];
        assert!(ok(&h));
    }

    #[test]
    fn concurrent_writes_may_land_in_either_order() {
        let h = [
            op(1, 0, 10, w("a"), Output::Written),
            op(2, 1, 9, w("b"), Output::Written),
            op(3, 11, 12, Input::Read, r(Some("a"))),
            op(4, 13, 14, Input::Read, r(Some("a"))),
        ];
        assert!(ok(&h));
    }

    #[test]
    fn stale_read_fails() {
        let h = [
            op(1, 0, 1, w("a"), Output::Written),
            op(1, 2, 3, w("b"), Output::Written),
            op(2, 4, 5, Input::Read, r(Some("a"))),
        ];
        assert!(matches!(check(&h, &CheckOptions::default()), CheckResult::Illegal { .. }));
    }

    #[test]
    fn lost_acknowledged_write_fails() {
        let h = [op(1, 0, 1, w("a"), Output::Written), op(2, 5, 6, Input::Read, r(None))];
        assert!(!ok(&h));
    }

    #[test]
    fn cas_against_a_value_not_current_fails() {
        let h = [
            op(1, 0, 1, w("a"), Output::Written),
            op(1, 2, 3, w("b"), Output::Written),
            op(2, 4, 5, Input::Cas { expected: Some("a".into()), new: "c".into() }, Output::Cas(true)),
        ];
        assert!(!ok(&h));
        let refused = [
            op(1, 0, 1, w("a"), Output::Written),
            op(2, 2, 3, Input::Cas { expected: Some("a".into()), new: "c".into() }, Output::Cas(false)),
        ];
        assert!(!ok(&refused), "a CAS refused although the expected value was current");
    }

    #[test]
    fn unknown_outcomes_may_apply_later_or_never() {
        let applied_later = [op(1, 0, 1, w("a"), Output::Unknown), op(2, 50, 51, Input::Read, r(Some("a")))];
        assert!(ok(&applied_later));
        let never = [op(1, 0, 1, w("a"), Output::Unknown), op(2, 50, 51, Input::Read, r(None))];
        assert!(ok(&never));
        let bounded = CheckOptions { unknown_outcome_window: Some(10), ..Default::default() };
        let too_late = [
            op(1, 0, 1, w("a"), Output::Unknown),
            op(2, 20, 21, Input::Read, r(None)),
            op(2, 30, 31, Input::Read, r(Some("a"))),
        ];
        assert!(ok(&too_late), "without a bound it may apply between the reads");
        assert!(matches!(check(&too_late, &bounded), CheckResult::Illegal { .. }), "with a bound it cannot");
    }

    /// A tiny seeded generator (xorshift), to keep this crate free of a rand dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A history from a real register: each operation takes effect at a random instant within
    /// its interval, and its output is what the register answered then.
    fn simulated(seed: u64, clients: u64, per_client: u64) -> Vec<Operation> {
        let mut rng = Rng(seed | 1);
        let mut planned = Vec::new();
        for client in 0..clients {
            let mut t = rng.below(10);
            for n in 0..per_client {
                let call = t;
                let effect = call + 1 + rng.below(20);
                let ret = effect + 1 + rng.below(20);
                t = ret + 1 + rng.below(5);
                let input = match rng.below(3) {
                    0 => Input::Read,
                    1 => Input::Write(format!("c{client}-{n}")),
                    _ => Input::Cas { expected: None, new: format!("c{client}-{n}") },
                };
                planned.push((effect, client, call, ret, input));
            }
        }
        planned.sort_by_key(|p| p.0);
        let mut register: Option<String> = None;
        let mut history = Vec::new();
        for (_, client, call, ret, input) in planned {
            let (input, output) = match input {
                Input::Read => (Input::Read, Output::Read(register.clone())),
                Input::Write(v) => {
                    register = Some(v.clone());
                    (Input::Write(v), Output::Written)
                }
                Input::Cas { new, .. } => {
                    // Expect the current value half of the time, so both answers occur.
                    let expected = if rng.below(2) == 0 { register.clone() } else { Some("never".into()) };
                    let applied = expected == register;
                    if applied {
                        register = Some(new.clone());
                    }
                    (Input::Cas { expected, new }, Output::Cas(applied))
                }
            };
            history.push(Operation { client, key: "k".into(), call, ret, input, output });
        }
        history
    }

    #[test]
    fn simulated_linearizable_histories_pass() {
        for seed in 1..20 {
            let history = simulated(seed, 6, 60);
            assert_eq!(check(&history, &CheckOptions::default()), CheckResult::Linearizable, "seed {seed}");
        }
    }

    #[test]
    fn a_corrupted_read_is_caught() {
        for seed in 1..20 {
            let mut history = simulated(seed, 6, 60);
            let read =
                history.iter().position(|o| matches!(o.output, Output::Read(Some(_)))).expect("some read saw a value");
            history[read].output = Output::Read(Some("never-written".into()));
            assert!(matches!(check(&history, &CheckOptions::default()), CheckResult::Illegal { .. }), "seed {seed}");
        }
    }
}
