//! The view model, golden-tested: a recorded history in (world frames from the pure world run a
//! minute, a failover by kill, a paused primary's late command refused, a leader change, the
//! membership log, the lesson), the JSON model out, compared with `golden/model.json`.
//! `UPDATE_GOLDEN=1` rewrites it. Also: the model's size stays under its stated maximum for the
//! default scenario at its densest, and a replay shows the past, not the present.

use std::path::PathBuf;

use skyway_controller::actuator::CLAIM;
use skyway_controller::proto::AuditEntry;
use skyway_world::highway::{VehicleKind, VehicleView};
use skyway_world::{Scenario, World};

use super::history::{Frame, History, Layout, LessonLogResult, MemberChange, NodeSample, Record};
use super::model::{self, SIZE_MAX};

const START: u64 = 1_700_000_000_000;

fn decision(ms: u64, role: &str, controller: &str, token: u64, action: &str, accepted: bool, floor: u64) -> Record {
    Record::Decision {
        entry: AuditEntry {
            unix_ms: START + ms,
            role: role.into(),
            controller: controller.into(),
            token,
            action: action.into(),
            accepted,
            floor,
            seq: 0,
        },
    }
}

fn fault(ms: u64, action: &str, target: &str, role: Option<&str>) -> Record {
    Record::Fault {
        at_ms: START + ms,
        action: action.into(),
        target: target.into(),
        role: role.map(str::to_string),
        note: format!("{action} {target}"),
    }
}

fn nodes(leader: u64, term: u64, down: Option<u64>, index: u64) -> Vec<NodeSample> {
    (1..=3)
        .map(|id| NodeSample {
            endpoint: format!("127.0.0.1:700{id}"),
            id,
            up: Some(id) != down,
            role: if Some(id) == down {
                "down: unavailable".into()
            } else if id == leader {
                "Leader".into()
            } else {
                "Follower".into()
            },
            term: if Some(id) == down { 0 } else { term },
            committed: if Some(id) == down { 0 } else { index },
            applied: if Some(id) == down { 0 } else { index },
            leader: if Some(id) == down { 0 } else { leader },
        })
        .collect()
}

fn layout(scenario: &Scenario, world: &World) -> Layout {
    Layout {
        scenario: scenario.name.clone(),
        highway: scenario.highway.clone(),
        runways: scenario.airport.as_ref().map(|a| a.runways.clone()).unwrap_or_default(),
        roles: world.roles(),
        controllers: vec!["c1".into(), "c2".into(), "c3".into()],
        endpoints: (1..=3).map(|id| format!("127.0.0.1:700{id}")).collect(),
        ttl_ms: 1_000,
    }
}

/// A frame of the pure world after `ticks` ticks without commands.
fn frame_after(world: &mut World, ticks: u64, at_ms: u64, frame: &mut Frame) {
    for _ in 0..ticks {
        let outputs = world.step(&[]);
        for s in outputs.segments {
            frame.segments.retain(|x| x.segment != s.segment);
            frame.segments.push(s);
        }
        for r in outputs.runways {
            frame.runways.retain(|x| x.runway != r.runway);
            frame.runways.push(r);
        }
    }
    frame.segments.sort_by_key(|s| s.segment);
    frame.at_ms = START + at_ms;
    frame.time_s = world.time_s();
    frame.speed = 1.0;
    frame.stats = world.stats();
    frame.vehicles = world.highway().map(|h| h.vehicles()).unwrap_or_default();
    frame.movers = world.airport().map(|a| a.movers()).unwrap_or_default();
}

fn recorded() -> History {
    let scenario = Scenario::builtin("highway").expect("the highway scenario");
    let mut world = World::new(&scenario, 1).expect("a world");
    let mut history = History::new(layout(&scenario, &world), START);
    let mut frame = Frame::default();
    history.push(Record::Coordinator { at_ms: START + 100, nodes: nodes(1, 1, None, 10) });
    for (i, member) in ["c1", "c2", "c3"].iter().enumerate() {
        let change = MemberChange { revision: 11 + i as u64, kind: "joined".into(), member: member.to_string() };
        history.push(Record::Membership { at_ms: START + 200 + i as u64, change });
    }
    // segment/1: c1 (#3) until it is killed at 5 s; c2 (#7) claims at 6.3 s.
    history.push(decision(1_000, "segment/1", "c1", 3, CLAIM, true, 3));
    // runway/07L: c3 (#4), paused at 3 s; c2 (#8) takes over; c3's late command is refused.
    history.push(decision(1_050, "runway/07L", "c3", 4, CLAIM, true, 4));
    for k in 0..20u64 {
        let ms = 1_100 + k * 200;
        history.push(decision(ms, "segment/1", "c1", 3, "limit=none closed=none", true, 3));
        if ms < 3_000 {
            history.push(decision(ms + 10, "runway/07L", "c3", 4, "hold", true, 4));
        }
    }
    frame_after(&mut world, 120, 3_000, &mut frame);
    history.frame(frame.clone());
    history.push(fault(3_000, "pause", "c3", Some("runway/07L")));
    history.push(decision(4_350, "runway/07L", "c2", 8, CLAIM, true, 8));
    history.push(decision(4_500, "runway/07L", "c2", 8, "clear AB123 land #1", true, 8));
    history.push(fault(5_100, "kill", "c1", Some("segment/1")));
    let change = MemberChange { revision: 20, kind: "failed".into(), member: "c1".into() };
    history.push(Record::Membership { at_ms: START + 6_250, change });
    history.push(decision(6_300, "segment/1", "c2", 7, CLAIM, true, 7));
    history.push(decision(6_400, "segment/1", "c2", 7, "limit=80 closed=none", true, 7));
    history.push(fault(6_000, "resume", "c3", None));
    history.push(decision(6_050, "runway/07L", "c3", 4, "clear XY9 takeoff #2", false, 8));
    history.push(fault(8_100, "restart", "c1", None));
    // The coordinator's leader killed at 9 s; node 2 leads in term 2.
    history.push(fault(9_000, "kill", "node 1", None));
    history.push(Record::Coordinator { at_ms: START + 9_200, nodes: nodes(0, 1, Some(1), 90) });
    history.push(Record::Coordinator { at_ms: START + 9_700, nodes: nodes(2, 2, Some(1), 95) });
    frame_after(&mut world, 120, 10_000, &mut frame);
    history.frame(frame.clone());
    history.push(Record::Lesson {
        at_ms: START + 11_000,
        logs: vec![
            LessonLogResult {
                title: "object log, naive".into(),
                written: 96,
                acknowledged: 96,
                present: 41,
                lost: 55,
                split_brain_runways: vec!["r1".into()],
                disagreeing_reader_pairs: 3,
                explanation: "read-modify-write loses concurrent appends".into(),
            },
            LessonLogResult {
                title: "coordinator log".into(),
                written: 96,
                acknowledged: 96,
                present: 96,
                lost: 0,
                split_brain_runways: vec![],
                disagreeing_reader_pairs: 0,
                explanation: "one Raft entry per append".into(),
            },
        ],
        skipped: vec!["object log, conditional: this store has no conditional writes".into()],
    });
    history
}

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/dashboard/golden/model.json")
}

#[test]
fn the_model_of_a_recorded_history_matches_its_golden_file() {
    let history = recorded();
    let got = serde_json::to_string_pretty(&model::compute(&history, None)).expect("serializable") + "\n";
    let path = golden_path();
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("the golden directory");
        std::fs::write(&path, &got).expect("writable");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if got != expected {
        let line = got.lines().zip(expected.lines()).position(|(a, b)| a != b).unwrap_or(0);
        panic!(
            "{} differs from the model (UPDATE_GOLDEN=1 to accept), first at line {}:\n got: {}\nwant: {}",
            path.display(),
            line + 1,
            got.lines().nth(line).unwrap_or(""),
            expected.lines().nth(line).unwrap_or("")
        );
    }
}

#[test]
fn failovers_refusals_and_leader_changes_are_judged_in_the_model() {
    let m = model::compute(&recorded(), None);
    let segment = m.roles.iter().find(|l| l.role == "segment/1").expect("segment/1's lane");
    assert_eq!(segment.bars.len(), 2);
    assert_eq!((segment.bars[0].controller.as_str(), segment.bars[0].token), ("c1", 3));
    assert_eq!((segment.bars[1].controller.as_str(), segment.bars[1].token, segment.bars[1].current), ("c2", 7, true));
    assert!(segment.bars.iter().all(|b| !b.overlap));
    let gap = &segment.gaps[0];
    assert_eq!(gap.fault.as_deref(), Some("kill c1"));
    assert_eq!((gap.detection_ms, gap.takeover_ms), (Some(1_200), Some(1_300)));
    let tower = m.roles.iter().find(|l| l.role == "runway/07L").expect("runway/07L's lane");
    assert_eq!(tower.refused.len(), 1, "the paused primary's late command");
    assert_eq!((tower.refused[0].controller.as_str(), tower.refused[0].token, tower.refused[0].floor), ("c3", 4, 8));
    assert_eq!(tower.gaps[0].fault.as_deref(), Some("pause c3"));
    assert!(m.verdict.ok, "{}", m.verdict.text);
    assert_eq!(m.decisions.refusals.len(), 1);
    assert_eq!(m.coordinator.leader, 2);
    let leaders: Vec<u64> = m.coordinator.leader_changes.iter().map(|c| c.leader).collect();
    assert_eq!(leaders, vec![1, 0, 2]);
    assert_eq!(m.membership.last().map(|l| l.change.kind.as_str()), Some("failed"));
    let bands: Vec<(&str, Option<u64>)> = m.faults.iter().map(|f| (f.action.as_str(), f.to_t_ms)).collect();
    assert_eq!(bands, vec![("pause", Some(6_000)), ("kill", Some(8_100)), ("kill", None)]);
    let world = m.world.as_ref().expect("a frame");
    let highway = world.highway.as_ref().expect("the road");
    assert_eq!(highway.segments.len(), 6);
    assert!(!highway.vehicles.is_empty(), "vehicles entered in 60 s");
    assert_eq!(world.airport.as_ref().map(|a| a.runways.len()), Some(2));
}

#[test]
fn an_overlap_is_drawn_red_and_the_checker_says_split_brain() {
    let mut history = recorded();
    // c1 again under c2's token while c2 holds it: two controllers, one token.
    history.push(decision(7_000, "segment/1", "c1", 7, "limit=60 closed=none", true, 7));
    history.push(decision(7_200, "segment/1", "c2", 7, "limit=80 closed=none", true, 7));
    let m = model::compute(&history, None);
    assert!(!m.verdict.ok);
    assert_eq!(m.verdict.split_brains, 1);
    let segment = m.roles.iter().find(|l| l.role == "segment/1").expect("segment/1's lane");
    assert!(segment.bars.iter().filter(|b| b.overlap).count() >= 2, "{:?}", segment.bars);
}

#[test]
fn a_replay_shows_the_past() {
    let history = recorded();
    let m = model::compute(&history, Some(START + 5_000));
    assert!(m.replay);
    assert_eq!(m.at_t_ms, 5_000);
    let segment = m.roles.iter().find(|l| l.role == "segment/1").expect("segment/1's lane");
    assert_eq!(segment.bars.len(), 1, "c2 had not taken over at 5 s");
    assert_eq!(m.world.as_ref().map(|w| w.t_ms), Some(3_000), "the frame of 3 s, not the latest");
    assert!(m.lesson.is_none());
}

#[test]
fn model_size_stays_bounded() {
    // The default scenario at its densest: every lane of the road jammed bumper to bumper
    // (7 m a vehicle), and every list at its cap.
    let scenario = Scenario::builtin("highway").expect("the highway scenario");
    let world = World::new(&scenario, 1).expect("a world");
    let mut history = History::new(layout(&scenario, &world), START);
    let spec = scenario.highway.clone().expect("a road");
    let mut vehicles = Vec::new();
    for lane in 1..=spec.lanes {
        let mut position = 0.0;
        while position < spec.length_m {
            vehicles.push(VehicleView {
                id: 1_000_000 + vehicles.len() as u32,
                lane,
                position_m: position + 0.123,
                speed_mps: 33.3,
                length_m: 4.5,
                kind: VehicleKind::Truck,
                stalled: false,
            });
            position += 7.0;
        }
    }
    history.frame(Frame { at_ms: START, vehicles, ..Default::default() });
    for k in 0..20_000u64 {
        let role = &world.roles()[(k % 8) as usize];
        let controller = format!("controller-{}", k % 3);
        history.push(decision(k * 10, role, &controller, k / 50 + 1, "limit=100 closed=1,2@400-875", k % 7 != 0, k));
        if k % 40 == 0 {
            history.push(fault(k * 10, "kill", &controller, Some(role)));
            let change = MemberChange { revision: k, kind: "failed".into(), member: controller.clone() };
            history.push(Record::Membership { at_ms: START + k * 10, change });
            history.push(Record::Coordinator { at_ms: START + k * 10, nodes: nodes(1 + k % 3, k, None, k) });
        }
    }
    let json = serde_json::to_string(&model::compute(&history, None)).expect("serializable");
    assert!(json.len() <= SIZE_MAX, "the model is {} bytes, over its stated maximum {SIZE_MAX}", json.len());
}
