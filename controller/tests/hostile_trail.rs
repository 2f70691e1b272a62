//! Hostile input for the actuator's audit trail reader: a trail written by a real actuator,
//! then truncated, extended, bit-flipped or overwritten, is read back either as a clear error
//! naming the file and line, or as a prefix of what was written — never a panic, and never a
//! decision that was not made (a changed token or verdict would move a fencing floor).
//!
//! Case counts: 64 by default, `PROPTEST_CASES=N` for more; `long_run_trail` (ignored) runs
//! 100 times as many: `cargo test -p skyway-controller --test hostile_trail -- --ignored`.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use skyway_controller::actuator::{Actuator, CLAIM, read_trail};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
}

#[derive(Debug, Clone)]
enum Damage {
    Flip(usize, u8),
    Overwrite(usize, u8),
    Truncate(usize),
    Extend(Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        4 => (any::<usize>(), 0u8..8).prop_map(|(i, b)| Damage::Flip(i, b)),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Damage::Overwrite(i, v)),
        2 => any::<usize>().prop_map(Damage::Truncate),
        1 => proptest::collection::vec(any::<u8>(), 1..40).prop_map(Damage::Extend),
    ]
}

fn apply(mut bytes: Vec<u8>, damage: &[Damage]) -> Vec<u8> {
    for d in damage {
        let len = bytes.len();
        match d {
            Damage::Flip(i, bit) if len > 0 => bytes[i % len] ^= 1 << bit,
            Damage::Overwrite(i, v) if len > 0 => bytes[i % len] = *v,
            Damage::Truncate(i) => bytes.truncate(i % (len + 1)),
            Damage::Extend(tail) => bytes.extend_from_slice(tail),
            _ => {}
        }
    }
    bytes
}

/// Decisions to record: (role, controller, token, action).
fn decisions() -> impl Strategy<Value = Vec<(String, String, u64, String)>> {
    let one = (
        prop_oneof!["runway/07", "segment/12", "runway/25"],
        "[A-C]",
        1u64..40,
        prop_oneof![Just(CLAIM.to_string()), "lights (on|off)", "speed limit [0-9]{2}"],
    )
        .prop_map(|(r, c, t, a)| (r, c, t, a));
    proptest::collection::vec(one, 1..12)
}

fn trail_property(cases: u32) {
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    runner
        .run(&(decisions(), proptest::collection::vec(damage(), 1..4)), |(decisions, damage)| {
            let dir = tempfile::tempdir().unwrap();
            let written = {
                let actuator = Actuator::open(dir.path()).unwrap();
                for (role, controller, token, action) in &decisions {
                    actuator.decide(role, controller, *token, action).unwrap();
                }
                actuator.audit("")
            };
            let path = dir.path().join("audit.jsonl");
            prop_assert_eq!(&read_trail(&path).unwrap(), &written, "an undamaged trail reads back whole");
            std::fs::write(&path, apply(std::fs::read(&path).unwrap(), &damage)).unwrap();
            match read_trail(&path) {
                Err(e) => {
                    let message = format!("{e:#}");
                    prop_assert!(message.contains("audit.jsonl line") && message.contains("corrupt"), "{message}");
                }
                Ok(read) => {
                    // Only what was written, in order, possibly missing a torn tail.
                    prop_assert!(read.len() <= written.len(), "{} entries read, {} written", read.len(), written.len());
                    prop_assert_eq!(&read[..], &written[..read.len()], "a decision was invented");
                }
            }
            // Opening the actuator agrees with the reader: an error, or the same decisions.
            match (read_trail(&path), Actuator::open(dir.path())) {
                (Ok(read), Ok(actuator)) => prop_assert_eq!(actuator.audit(""), read),
                (Err(_), Err(_)) => {}
                (read, opened) => prop_assert!(false, "reader ok={} but open ok={}", read.is_ok(), opened.is_ok()),
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn damaged_trails_are_a_clear_error_or_a_prefix_never_an_invented_decision() {
    trail_property(cases());
}

#[test]
#[ignore = "long run: cargo test -p skyway-controller --test hostile_trail -- --ignored"]
fn long_run_trail() {
    trail_property(cases() * 100);
}

#[test]
fn arbitrary_bytes_never_panic_the_reader() {
    let mut runner = TestRunner::new(Config { cases: cases() * 4, failure_persistence: None, ..Config::default() });
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..400), |bytes| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("audit.jsonl");
            std::fs::write(&path, &bytes).unwrap();
            if let Ok(read) = read_trail(&path) {
                prop_assert!(read.is_empty(), "random bytes read as {} decisions", read.len());
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_flipped_digit_in_a_token_is_corruption_not_a_new_floor() {
    // Found by the property above, before lines carried a checksum: `"token":12` with one bit
    // flipped reads `"token":13` — valid JSON, and a floor the actuator never accepted.
    let dir = tempfile::tempdir().unwrap();
    Actuator::open(dir.path()).unwrap().decide("runway/07", "A", 12, "lights on").unwrap();
    Actuator::open(dir.path()).unwrap().decide("runway/07", "A", 20, "lights off").unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(10).position(|w| w == b"\"token\":12").unwrap() + 9;
    bytes[at] ^= 1; // '2' -> '3'
    std::fs::write(&path, &bytes).unwrap();
    let error = format!("{:#}", read_trail(&path).unwrap_err());
    // Line 1 is the segment's header (the floors it starts from); the decision is line 2.
    assert!(error.contains("line 2 is corrupt") && error.contains("checksum"), "{error}");
    assert!(Actuator::open(dir.path()).is_err(), "an actuator must not start from a damaged trail");
}
