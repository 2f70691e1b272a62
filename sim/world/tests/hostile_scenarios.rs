//! Hostile input for the scenario parser: arbitrary TOML-ish text, and the shipped scenarios
//! with bytes flipped, cut or inserted and numbers replaced by extremes (0, negatives, NaN,
//! infinities, huge values). Parsing never panics; whatever is accepted validates, builds a
//! world, and that world steps without panicking.
//!
//! Case counts: 64 per property by default, `PROPTEST_CASES=N` for more; `long_run_scenarios`
//! (ignored) runs 100 times as many: `cargo test -p skyway-world --test hostile_scenarios -- --ignored`.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use skyway_world::scenario::BUILTIN;
use skyway_world::{Scenario, World};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() })
}

/// Numbers that break naive arithmetic.
const EXTREMES: &[&str] = &[
    "0",
    "-1",
    "0.0",
    "-0.0",
    "1e308",
    "-1e308",
    "nan",
    "inf",
    "-inf",
    "4294967296",
    "18446744073709551615",
    "9223372036854775807",
    "-9223372036854775808",
    "1e-320",
    "65536",
    "100000000",
];

#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Cut(usize, usize),
    Insert(usize, String),
    /// Replace the n-th number in the text by an extreme.
    Number(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        2 => (any::<usize>(), 0u8..7).prop_map(|(i, b)| Edit::Flip(i, b)),
        1 => (any::<usize>(), 0usize..40).prop_map(|(i, n)| Edit::Cut(i, n)),
        1 => (any::<usize>(), prop_oneof!["\n\\[[a-z.]{1,12}\\]\n", "\n[a-z_]{1,12} = [0-9.\\-]{1,6}\n", "[\\[\\]{}\"=,#\n]{1,4}"])
            .prop_map(|(i, s)| Edit::Insert(i, s)),
        4 => (any::<usize>(), 0..EXTREMES.len()).prop_map(|(n, e)| Edit::Number(n, e)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for e in edits {
        let len = bytes.len();
        match e {
            Edit::Flip(i, bit) if len > 0 => bytes[i % len] ^= 1 << bit,
            Edit::Cut(i, n) if len > 0 => {
                let at = i % len;
                bytes.drain(at..(at + n).min(len));
            }
            Edit::Insert(i, s) => {
                let at = i % (len + 1);
                bytes.splice(at..at, s.bytes());
            }
            Edit::Number(n, extreme) => {
                let numbers = number_spans(&bytes);
                if !numbers.is_empty() {
                    let (start, end) = numbers[n % numbers.len()];
                    bytes.splice(start..end, EXTREMES[*extreme].bytes());
                }
            }
            _ => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Byte ranges of the numbers in a TOML text (digits, dots, signs and exponents).
fn number_spans(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_alphabetic() && bytes[i - 1] != b'_') {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || matches!(bytes[i], b'.' | b'e' | b'_')) {
                i += 1;
            }
            spans.push((start, i));
        } else {
            i += 1;
        }
    }
    spans
}

/// Whatever the parser accepts must validate, build a world and run a few ticks.
fn accepted_scenarios_work(text: &str) -> Result<(), TestCaseError> {
    let Ok(scenario) = Scenario::parse(text, "fuzz.toml") else { return Ok(()) };
    prop_assert!(scenario.validate("fuzz.toml").is_ok());
    if let Ok(mut world) = World::new(&scenario, scenario.seed) {
        for _ in 0..8 {
            world.step(&[]);
        }
    }
    Ok(())
}

fn mutated_builtins_property(cases: u32) {
    runner(cases)
        .run(&(0..BUILTIN.len(), proptest::collection::vec(edit(), 1..5)), |(which, edits)| {
            accepted_scenarios_work(&apply(BUILTIN[which].1, &edits))
        })
        .unwrap();
}

#[test]
fn mutated_shipped_scenarios_never_panic_and_accepted_ones_run() {
    mutated_builtins_property(cases());
}

#[test]
#[ignore = "long run: cargo test -p skyway-world --test hostile_scenarios -- --ignored"]
fn long_run_scenarios() {
    mutated_builtins_property(cases() * 100);
}

#[test]
fn arbitrary_toml_ish_text_never_panics_the_parser() {
    let line = prop_oneof![
        "[a-z_]{1,10} = (\"[a-z ]{0,8}\"|[0-9.\\-e]{1,8}|true|\\[[0-9., \\[\\]]{0,20}\\])",
        "\\[\\[?(highway|airport|highway.incidents|airport.runways)\\]\\]?",
        "(name|dt_ms|seed|description) = [0-9a-z\"]{0,6}",
        any::<String>(),
    ];
    runner(cases() * 4)
        .run(&proptest::collection::vec(line, 0..12), |lines| accepted_scenarios_work(&lines.join("\n")))
        .unwrap();
}

#[test]
fn the_number_editor_finds_numbers() {
    // The mutation above is only as good as its spans: check them on a shipped scenario.
    let text = BUILTIN[0].1;
    let spans = number_spans(text.as_bytes());
    assert!(spans.len() > 5, "{spans:?}");
    for (start, end) in spans {
        assert!(text[start..end].chars().all(|c| c.is_ascii_digit() || ".e_".contains(c)), "{}", &text[start..end]);
    }
}
