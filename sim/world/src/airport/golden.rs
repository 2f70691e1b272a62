//! Golden scripts: `testscripts/airport/*.txt`, text in, text out, as etcd's `testdata/`.
//!
//! A script is blocks of a command line, `----`, and the output expected, ended by a blank line;
//! `#` lines are comments. `UPDATE_GOLDEN=1 cargo test -p skyway-world golden` rewrites the
//! outputs. Commands:
//!
//! ```text
//! world scenario=airport seed=1              a new world
//! claim runway=07L token=5                   a primary's claim, applied at the next tick
//! order runway=07L token=5 action=land SKY0001 #5-1
//!                                            an order, applied at the next tick
//! run ticks=400                              step; print every event but obeyed orders
//! tower ticks=7200 token=5                   a TowerPolicy per runway in the loop (summaries
//!                                            next tick, a decision a second); print events
//! broken ticks=2400 token=7                  the same with BrokenTower
//! summary runway=07L | stats | movers | digest | invariants
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::command::{Applied, CLAIM};
use crate::policy::tower::{BrokenTower, TowerPolicy};
use crate::summary::RunwaySummary;
use crate::world::{Event, World};
use crate::{Scenario, Target};

enum Brain {
    Safe(TowerPolicy),
    Broken(BrokenTower),
}

#[derive(Default)]
struct Runner {
    world: Option<World>,
    pending: Vec<Applied>,
    seen: BTreeMap<String, RunwaySummary>,
    towers: BTreeMap<(String, u64), Brain>,
}

fn args(line: &str) -> BTreeMap<&str, &str> {
    let (head, action) = match line.split_once(" action=") {
        Some((head, action)) => (head, Some(action)),
        None => (line, None),
    };
    let mut out: BTreeMap<&str, &str> = head.split_whitespace().skip(1).filter_map(|w| w.split_once('=')).collect();
    if let Some(action) = action {
        out.insert("action", action);
    }
    out
}

fn format_summary(s: &RunwaySummary) -> String {
    let occupants: Vec<String> =
        s.occupants.iter().map(|o| format!("{} {}@{:.2}", o.id, o.activity, o.since_s)).collect();
    let arrivals: Vec<String> =
        s.arrivals.iter().map(|a| format!("{} in {:.2}", a.callsign, a.decision_in_s)).collect();
    format!(
        "runway {} seq={} t={:.2} {} on=[{}] final=[{}] holding=[{}] crossing=[{}] claim={} last={}",
        s.runway,
        s.seq,
        s.time_s,
        if s.closed { "closed" } else { "open" },
        occupants.join(", "),
        arrivals.join(", "),
        s.departures.join(", "),
        s.crossings.join(", "),
        s.claim_token,
        s.last_command.as_deref().unwrap_or("-"),
    )
}

impl Runner {
    fn world(&mut self) -> &mut World {
        self.world.as_mut().expect("`world` first")
    }

    fn exec(&mut self, line: &str) -> String {
        let a = args(line);
        let get = |k: &str| *a.get(k).unwrap_or_else(|| panic!("{line}: {k}= missing"));
        let num = |k: &str| get(k).parse::<u64>().unwrap_or_else(|_| panic!("{line}: {k} is not a number"));
        let mut out = String::new();
        match line.split_whitespace().next().unwrap_or_default() {
            "world" => {
                let scenario = Scenario::builtin(get("scenario")).unwrap();
                *self = Runner { world: Some(World::new(&scenario, num("seed")).unwrap()), ..Runner::default() };
                writeln!(out, "roles: {}", self.world().roles().join(", ")).unwrap();
            }
            "claim" | "order" => {
                let token = num("token");
                let action = if line.starts_with("claim") { CLAIM.to_string() } else { get("action").to_string() };
                let role = Target::Runway(get("runway").into()).role();
                self.pending.push(Applied { role, controller: format!("tower-{token}"), token, action });
                writeln!(out, "queued").unwrap();
            }
            "run" => {
                for _ in 0..num("ticks") {
                    let commands = std::mem::take(&mut self.pending);
                    self.step(&commands, &mut out);
                }
            }
            "tower" | "broken" => {
                let token = num("token");
                let runways = self.world().airport().unwrap().runways();
                for runway in runways {
                    let role = Target::Runway(runway.clone()).role();
                    let brain = if line.starts_with("tower") {
                        Brain::Safe(TowerPolicy::new(runway.clone(), token))
                    } else {
                        Brain::Broken(BrokenTower::new(token))
                    };
                    if let std::collections::btree_map::Entry::Vacant(slot) = self.towers.entry((runway.clone(), token))
                    {
                        slot.insert(brain);
                        self.pending.push(Applied {
                            role,
                            controller: format!("tower-{token}"),
                            token,
                            action: CLAIM.into(),
                        });
                    }
                }
                for _ in 0..num("ticks") {
                    let mut commands = std::mem::take(&mut self.pending);
                    if self.world().tick().is_multiple_of(4) {
                        for ((runway, t), brain) in &mut self.towers {
                            if *t != token {
                                continue;
                            }
                            let seen = self.seen.get(runway);
                            let action = match brain {
                                Brain::Safe(tower) => tower.decide(seen),
                                Brain::Broken(tower) => tower.decide(seen),
                            };
                            let role = Target::Runway(runway.clone()).role();
                            commands.push(Applied { role, controller: format!("tower-{token}"), token, action });
                        }
                    }
                    self.step(&commands, &mut out);
                }
            }
            "summary" => {
                let s = self.world().airport().unwrap().summary(get("runway")).expect("a known runway");
                writeln!(out, "{}", format_summary(&s)).unwrap();
            }
            "stats" => {
                let stats = self.world().stats();
                writeln!(out, "{}", serde_json::to_string(&stats.airport).unwrap()).unwrap();
                writeln!(
                    out,
                    "commands_obeyed={} refused={} conflicts={}",
                    stats.commands_obeyed, stats.commands_refused, stats.conflicts
                )
                .unwrap();
            }
            "movers" => {
                let tick = self.world().tick();
                for m in self.world().airport().unwrap().movers() {
                    let left = m.remaining_s.map_or("-".to_string(), |s| format!("{s:.2}"));
                    let pos = m.position.map_or("-".to_string(), |p| p.to_string());
                    writeln!(
                        out,
                        "{} {:?} {} {:?} progress={:.2} left={left} pos={pos}",
                        m.id, m.kind, m.runway, m.phase, m.progress
                    )
                    .unwrap();
                }
                writeln!(out, "at tick {tick}").unwrap();
            }
            "digest" => writeln!(out, "{}", self.world().digest()).unwrap(),
            "invariants" => match self.world().check_invariants() {
                Ok(()) => writeln!(out, "ok").unwrap(),
                Err(e) => writeln!(out, "BROKEN: {e}").unwrap(),
            },
            other => panic!("unknown command {other:?} in {line:?}"),
        }
        if out.is_empty() {
            out.push_str("(nothing)\n");
        }
        out
    }

    fn step(&mut self, commands: &[Applied], out: &mut String) {
        let world = self.world();
        let o = world.step(commands);
        world.check_invariants().unwrap_or_else(|e| panic!("tick {}: {e}", o.tick));
        for e in &o.events {
            if !matches!(e, Event::Obeyed { .. }) {
                writeln!(out, "{:>8.2} {e}", o.time_s).unwrap();
            }
        }
        for s in o.runways {
            self.seen.insert(s.runway.clone(), s);
        }
    }
}

/// Runs one script; the text it should be.
fn run_script(text: &str) -> String {
    let mut runner = Runner::default();
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim().is_empty() || line.starts_with('#') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        assert_eq!(lines.next(), Some("----"), "after {line:?}");
        while lines.peek().is_some_and(|l| !l.is_empty()) {
            lines.next();
        }
        lines.next();
        write!(out, "{line}\n----\n{}\n", runner.exec(line)).unwrap();
    }
    out
}

#[test]
fn golden_scripts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testscripts/airport");
    let mut paths: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.retain(|p| p.extension().is_some_and(|x| x == "txt"));
    paths.sort();
    assert!(!paths.is_empty(), "no scripts in {}", dir.display());
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        let actual = run_script(&text);
        if update {
            std::fs::write(&path, &actual).unwrap();
        } else if actual != text {
            let line = actual.lines().zip(text.lines()).position(|(a, b)| a != b).unwrap_or(0);
            panic!(
                "{} differs from line {}: got {:?}, expected {:?} (UPDATE_GOLDEN=1 to rewrite)",
                path.display(),
                line + 1,
                actual.lines().nth(line),
                text.lines().nth(line)
            );
        }
    }
}
