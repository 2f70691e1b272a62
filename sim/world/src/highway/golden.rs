//! Golden scripts for the road: `testscripts/highway/*.txt`. Each script says what to run —
//!
//! ```text
//! run incident seed=1 ticks=3000 digest_every=400
//! order 2500 segment/3 limit=80 closed=2
//! ----
//! ```
//!
//! — and below the `----` line holds what came out: the loop table (one line per segment per
//! period: `t=30 s1 limit=none closed=none | s1-250 12/98/8 14/101/7 | …`, a lane as
//! count/mean km/h/occupancy %), the road's events, and the world's digest every
//! `digest_every` ticks. The test runs the script and compares; `UPDATE_GOLDEN=1` rewrites the
//! expected part. Two runs agreeing byte for byte is the determinism the world promises.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::command::Applied;
use crate::scenario::Scenario;
use crate::summary::SegmentSummary;
use crate::world::{Event, World};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testscripts/highway")
}

/// One line of the loop table.
pub fn table_line(s: &SegmentSummary) -> String {
    let mut line = format!(
        "t={} s{} limit={} closed={}",
        s.period_end_s,
        s.segment,
        s.speed_limit_kmh.map_or("none".into(), |l| l.to_string()),
        if s.closed_lanes.is_empty() {
            "none".to_string()
        } else {
            s.closed_lanes.iter().map(u8::to_string).collect::<Vec<_>>().join(",")
        }
    );
    for l in &s.loops {
        let _ = write!(line, " | {}", l.id);
        for r in &l.lanes {
            let speed = r.mean_speed_kmh.map_or("-".into(), |v| format!("{v:.0}"));
            let _ = write!(line, " {}/{}/{:.0}", r.count, speed, r.occupancy_pct);
        }
    }
    line
}

/// Runs a script's header; its output.
pub fn run(header: &str) -> String {
    let mut scenario = None;
    let (mut seed, mut ticks, mut digest_every) = (1u64, 0u64, 0u64);
    let mut orders: Vec<(u64, Applied)> = Vec::new();
    for line in header.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[0] {
            "run" => {
                scenario = Some(Scenario::builtin(words[1]).expect("a shipped scenario"));
                for w in &words[2..] {
                    let (k, v) = w.split_once('=').expect("key=value");
                    let v: u64 = v.parse().expect("a number");
                    match k {
                        "seed" => seed = v,
                        "ticks" => ticks = v,
                        "digest_every" => digest_every = v,
                        _ => panic!("unknown run option {k}"),
                    }
                }
            }
            "order" => {
                let tick: u64 = words[1].parse().expect("a tick");
                let action = words[3..].join(" ");
                orders.push((tick, Applied { role: words[2].into(), controller: "c1".into(), token: 1, action }));
            }
            other => panic!("unknown script line {other:?}"),
        }
    }
    let mut world = World::new(&scenario.expect("a run line"), seed).expect("a valid scenario");
    let mut out = String::new();
    for tick in 1..=ticks {
        let commands: Vec<Applied> = orders.iter().filter(|(t, _)| *t == tick).map(|(_, a)| a.clone()).collect();
        let o = world.step(&commands);
        world.check_invariants().unwrap_or_else(|e| panic!("tick {tick}: {e}"));
        for e in &o.events {
            if !matches!(e, Event::Highway(crate::highway::Event::OrderApplied { .. })) {
                let _ = writeln!(out, "t={} {e}", o.time_s);
            }
        }
        for s in &o.segments {
            out.push_str(&table_line(s));
            out.push('\n');
        }
        if digest_every > 0 && tick % digest_every == 0 {
            let _ = writeln!(out, "digest tick={tick} {}", world.digest());
        }
    }
    let stats = world.stats().highway.expect("a road");
    let _ = writeln!(
        out,
        "stats entered={} exited={} present={} waiting={} hard_brakings={} lane_changes={} stalled={}",
        stats.entered,
        stats.exited,
        stats.present,
        stats.waiting,
        stats.hard_brakings,
        stats.lane_changes,
        stats.stalled
    );
    out
}

#[test]
fn golden_scripts() {
    let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("testscripts/highway")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no scripts in {:?}", dir());
    for path in names {
        let text = std::fs::read_to_string(&path).expect("readable");
        let (header, expected) = text.split_once("----\n").unwrap_or((&text, ""));
        let got = run(header);
        if update {
            std::fs::write(&path, format!("{header}----\n{got}")).expect("writable");
        } else {
            assert!(
                got == expected,
                "{}: output differs (UPDATE_GOLDEN=1 to accept):\n{}",
                path.display(),
                first_diff(expected, &got)
            );
        }
        assert_eq!(got, run(header), "{}: two runs differ", path.display());
    }
}

fn first_diff(expected: &str, got: &str) -> String {
    for (i, (e, g)) in expected.lines().zip(got.lines()).enumerate() {
        if e != g {
            return format!("line {}:\n- {e}\n+ {g}", i + 1);
        }
    }
    format!("lengths differ: {} vs {} lines", expected.lines().count(), got.lines().count())
}
