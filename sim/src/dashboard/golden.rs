//! The view model, golden-tested: a recorded history in (world frames from the pure world run a
//! minute, a failover by kill, a paused primary's late command refused, a leader change, the
//! membership log, the lesson), the JSON model out, compared with `golden/model.json`.
//! `UPDATE_GOLDEN=1` rewrites it. Also: the model's size stays under its stated maximum for the
//! default scenario at its densest, and a replay shows the past, not the present.

use std::path::PathBuf;

use skyway_controller::actuator::CLAIM;
use skyway_controller::proto::AuditEntry;
use skyway_world::highway::{SegmentOrder, VehicleKind, VehicleView};
use skyway_world::summary::RunwaySummary;
use skyway_world::{Scenario, World};

use skyway_collector::record::{self, AnalysisRecord, BlobRef, FrameRecord};
use skyway_collector::{AnalysisResult, LaneResult, StalledAlarm};

use super::history::{
    CAMERA_FRAMES_MAX, Frame, History, Layout, LessonLogResult, MemberChange, NodeSample, Record, TruthCount,
};
use super::model::{self, Agreement, SIZE_MAX};
use crate::lesson::AppendFate;
use crate::lesson::replay::Belief;

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

fn operator(ms: u64, role: &str, lane: Option<u8>, closed: bool) -> Record {
    Record::Operator { at_ms: START + ms, role: role.into(), lane, closed, note: format!("operator {role} {lane:?}") }
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
        cameras: vec!["cam-1".into(), "cam-2".into(), "cam-3".into()],
    }
}

fn blob(name: &str) -> BlobRef {
    BlobRef { url: format!("file:///blobs/{name}"), sha256: format!("{:0>64}", name.len()), size: 30_000 }
}

fn frame_record(camera: &str, seq: u64) -> FrameRecord {
    let key = format!("frames/{camera}/{:013}-{seq:010}.png", START + seq * 200);
    FrameRecord {
        camera: camera.into(),
        seq,
        world_time_s: seq as f64 * 0.2,
        wall_ms: START + seq * 200,
        frame: blob(&key),
        truth: blob(&record::truth_key(&key)),
        width: 640,
        height: 360,
        format: skyway_collector::Format::Png,
    }
}

/// An analyzer's result for `seq`: `density` vehicles/km over its two lanes, `stalled` alarms.
fn analysis(camera: &str, seq: u64, density: f64, stalled: usize) -> AnalysisRecord {
    let lane = |lane| LaneResult { lane, vehicles: 4, occupancy: 0.1, density_per_km: density / 2.0, queue_m: 0.0 };
    let alarm = StalledAlarm { lane: 1, position_m: 120.0, raised_frame: seq - 5, seen_frame: seq };
    AnalysisRecord {
        analyzer: "a1".into(),
        token: 41,
        first_seq: seq.saturating_sub(25),
        seq,
        world_time_s: seq as f64 * 0.2,
        capture_wall_ms: START + seq * 200,
        frames: 25,
        warming_up: false,
        result: AnalysisResult {
            camera: camera.into(),
            first_frame: seq.saturating_sub(25),
            frame: seq,
            lanes: vec![lane(1), lane(2)],
            stalled: vec![alarm; stalled],
        },
    }
}

/// Cameras: cam-1's count agrees with its truth, cam-2 misses a stalled vehicle, cam-3 has
/// stored nothing yet.
fn record_cameras(history: &mut History) {
    for camera in ["cam-1", "cam-2"] {
        history.camera_stretch(camera, 250.0);
        for seq in 8..=10 {
            assert!(history.camera_frame(START + 2_000 + seq, frame_record(camera, seq)));
        }
    }
    assert!(!history.camera_frame(START + 2_100, frame_record("cam-1", 9)), "an older frame is not taken");
    history.camera_truth("cam-1", 9, TruthCount { in_view: 6, stalled: 0 });
    history.camera_truth("cam-1", 10, TruthCount { in_view: 7, stalled: 0 });
    history.camera_analysis("cam-1", analysis("cam-1", 9, 24.0, 0));
    history.camera_truth("cam-2", 10, TruthCount { in_view: 3, stalled: 1 });
    history.camera_analysis("cam-2", analysis("cam-2", 10, 12.0, 0));
}

/// Every append of `writers` × `records`, the ids in `lost` acknowledged then lost and those in
/// `failed` never acknowledged.
fn marks(writers: usize, records: usize, lost: &[&str], failed: &[&str]) -> Vec<crate::lesson::AppendMark> {
    let tried: Vec<Vec<(String, bool)>> = (0..writers)
        .map(|w| {
            (0..records).map(|r| format!("w{w}-{r}")).map(|id| (id.clone(), !failed.contains(&id.as_str()))).collect()
        })
        .collect();
    let present = tried.iter().flatten().map(|(id, _)| id.as_str()).filter(|id| !lost.contains(id)).collect();
    crate::lesson::fates(&tried, &present)
}

fn belief(reader: usize, primaries: &[(&str, &str)], contradicted: &[&str]) -> Belief {
    Belief {
        reader,
        primaries: primaries.iter().map(|(r, p)| (r.to_string(), p.to_string())).collect(),
        contradicted: contradicted.iter().map(|r| r.to_string()).collect(),
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
    record_cameras(&mut history);
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
    // The operator closes lane 2 of segment/1 and runway 07L at 7 s: c2 carries both out, under
    // its tokens (#7, #8); the frame below shows them in force.
    history.push(operator(7_000, "segment/1", Some(2), true));
    history.push(decision(7_200, "segment/1", "c2", 7, "limit=80 closed=2", true, 7));
    history.push(operator(7_100, "runway/07L", None, true));
    history.push(decision(7_300, "runway/07L", "c2", 8, "close #8-2", true, 8));
    history.push(decision(7_500, "runway/07L", "c2", 8, "hold #8-3", true, 8));
    // The coordinator's leader killed at 9 s; node 2 leads in term 2.
    history.push(fault(9_000, "kill", "node 1", None));
    history.push(Record::Coordinator { at_ms: START + 9_200, nodes: nodes(0, 1, Some(1), 90) });
    history.push(Record::Coordinator { at_ms: START + 9_700, nodes: nodes(2, 2, Some(1), 95) });
    frame_after(&mut world, 120, 10_000, &mut frame);
    let mut orders = world.highway().map(|h| h.orders()).unwrap_or_default();
    orders[0] = SegmentOrder::parse("limit=80 closed=2").expect("an order");
    frame.orders = orders;
    frame.runways.retain(|r| r.runway != "07L");
    frame.runways.push(RunwaySummary {
        runway: "07L".into(),
        seq: 3,
        time_s: frame.time_s,
        closed: true,
        occupants: vec![],
        arrivals: vec![],
        departures: vec![],
        crossings: vec![],
        claim_token: 8,
        last_command: Some("#8-2".into()),
    });
    history.frame(frame.clone());
    history.push(Record::Lesson {
        at_ms: START + 11_000,
        logs: vec![
            LessonLogResult {
                title: "object log, naive".into(),
                written: 8,
                acknowledged: 7,
                present: 4,
                lost: 3,
                split_brain_runways: vec!["r1".into()],
                disagreeing_reader_pairs: 1,
                explanation: "read-modify-write loses concurrent appends".into(),
                marks: marks(2, 4, &["w0-1", "w1-0", "w1-2"], &["w0-3"]),
                beliefs: vec![
                    belief(0, &[("r1", "w0"), ("r2", "w1")], &["r1"]),
                    belief(1, &[("r1", "w1"), ("r2", "w1")], &["r1"]),
                ],
            },
            LessonLogResult {
                title: "coordinator log".into(),
                written: 8,
                acknowledged: 8,
                present: 8,
                lost: 0,
                split_brain_runways: vec![],
                disagreeing_reader_pairs: 0,
                explanation: "one Raft entry per append".into(),
                marks: marks(2, 4, &[], &[]),
                beliefs: vec![belief(0, &[("r1", "w0"), ("r2", "w1")], &[]), belief(1, &[("r1", "w0")], &[])],
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
fn cameras_show_their_newest_frame_and_the_count_against_the_truth() {
    let m = model::compute(&recorded(), None);
    let ids: Vec<&str> = m.cameras.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["cam-1", "cam-2", "cam-3"]);
    let cam1 = &m.cameras[0];
    let frame = cam1.frame.as_ref().expect("cam-1's frame");
    assert_eq!((frame.seq, frame.src.as_str()), (10, "/api/cameras/cam-1/frames/10"));
    // Judged against the truth of the frame the analyzer analysed (9: 6 in view), not the newest.
    let truth = cam1.truth.as_ref().expect("a truth");
    assert_eq!((truth.seq, truth.in_view), (9, 6));
    assert_eq!(cam1.analysis.as_ref().and_then(|a| a.in_view), Some(6.0), "24 veh/km over 250 m");
    assert_eq!(cam1.agreement, Agreement::Agree, "{}", cam1.text);
    // cam-2: a stalled vehicle in view, no alarm: disagree, whatever the count.
    assert_eq!(m.cameras[1].agreement, Agreement::Disagree, "{}", m.cameras[1].text);
    assert!(m.cameras[1].text.starts_with("DISAGREE"), "{}", m.cameras[1].text);
    assert!(m.cameras[2].frame.is_none());
    assert_eq!(m.cameras[2].agreement, Agreement::Waiting);
}

#[test]
fn a_replay_shows_the_frame_that_was_newest_then() {
    let mut history = recorded();
    // The run goes on to 60 s, so that every moment below is in the past.
    history.push(decision(60_000, "segment/1", "c2", 7, "limit=80 closed=2", true, 7));
    // Frames a second apart enter the replay's index; ones in between only the recent frames
    // (a replay shows the index's, so that a moment always replays the same frame).
    for (seq, ms) in [(20, 12_000), (21, 12_400), (22, 13_000), (23, 14_000)] {
        history.camera_frame(START + ms, frame_record("cam-1", seq));
    }
    history.camera_truth("cam-1", 22, TruthCount { in_view: 3, stalled: 0 });
    let frame_at = |history: &History, ms: u64| {
        let m = model::compute(history, Some(START + ms));
        let cam = m.cameras.into_iter().find(|c| c.id == "cam-1").expect("cam-1");
        (cam.frame.map(|f| (f.seq, f.src)), cam.truth.map(|t| t.seq), cam.analysis.is_some())
    };
    assert_eq!(
        frame_at(&history, 13_500),
        (Some((22, "/api/cameras/cam-1/frames/22".into())), Some(22), false),
        "frame 22 was the newest at 13.5 s; its truth; no live count in a replay"
    );
    assert_eq!(frame_at(&history, 12_500).0.map(|f| f.0), Some(20), "21 came 0.4 s after 20: not indexed");
    assert_eq!(frame_at(&history, 1_000).0, None, "no frame stored yet at 1 s");
    // Past the recent frames, the index (one a second) still knows which frame was newest.
    for k in 0..(CAMERA_FRAMES_MAX as u64 + 10) {
        history.camera_frame(START + 20_000 + k * 300, frame_record("cam-1", 100 + k));
    }
    assert!(history.cameras()["cam-1"].frames.iter().all(|f| f.record.seq >= 100), "22 left the recent frames");
    assert_eq!(frame_at(&history, 13_500).0.map(|f| f.0), Some(22), "from the replay's index");
    assert!(history.camera_frame_at("cam-1", 22).is_some(), "and the server still finds its record");
}

#[test]
fn an_operators_closure_is_drawn_as_carried_out_by_the_primary() {
    let m = model::compute(&recorded(), None);
    let world = m.world.expect("a frame");
    let segment = &world.highway.expect("the road").segments[0];
    assert_eq!(segment.operator_closed, [2]);
    let closed: Vec<String> =
        segment.closed.iter().map(|c| format!("lane {} by {:?} operator {}", c.lane, c.by, c.operator)).collect();
    assert_eq!(closed, [r#"lane 2 by Some(("c2", 7)) operator true"#], "closed by c2's command under #7");
    let runway = &world.airport.expect("the airport").runways[0];
    assert_eq!((runway.id.as_str(), runway.closed, runway.operator_closed), ("07L", true, true));
    assert_eq!(runway.closed_by, Some(("c2".to_string(), 8)), "the close command, not the holds after it");
    // Reopened: the order is lifted (the lane stays drawn closed until the primary's command).
    let mut history = recorded();
    history.push(operator(10_500, "segment/1", Some(2), false));
    let m = model::compute(&history, None);
    assert!(m.world.expect("a frame").highway.expect("the road").segments[0].operator_closed.is_empty());
}

#[test]
fn a_closure_is_drawn_held_by_the_newest_primary_after_a_handover_and_a_failover() {
    // c2 (#7) carried out the operator's closure; it hands segment/1 over to c3 (#9), which is
    // killed; c1 (#11) takes over. Each sends the closure first thing, under its token.
    let mut history = recorded();
    history.push(decision(10_100, "segment/1", "c3", 9, CLAIM, true, 9));
    history.push(decision(10_200, "segment/1", "c3", 9, "limit=80 closed=2", true, 9));
    history.push(fault(10_300, "kill", "c3", Some("segment/1")));
    history.push(decision(10_400, "segment/1", "c1", 11, CLAIM, true, 11));
    let held = |history: &History| {
        let m = model::compute(history, None);
        let segment = m.world.expect("a frame").highway.expect("the road").segments[0].clone();
        (segment.closed[0].by.clone(), segment.primary)
    };
    assert_eq!(held(&history).0, Some(("c3".to_string(), 9)), "until c1's first command, c3's holds it");
    history.push(decision(10_500, "segment/1", "c1", 11, "limit=80 closed=2", true, 11));
    let (by, primary) = held(&history);
    assert_eq!(by, Some(("c1".to_string(), 11)), "held by the newest primary, under its token");
    assert_eq!(by, primary, "the primary drawn is the one that holds the closure");
}

#[test]
fn counts_agree_within_the_stated_tolerance() {
    use model::{CameraCount, TruthView, judge_count};
    let count = |in_view: f64, stalled: u32| CameraCount {
        analyzer: "a1".into(),
        token: 1,
        seq: 1,
        in_view: Some(in_view),
        counted: 0,
        stalled,
        warming_up: false,
    };
    let truth = |in_view: u32, stalled: u32| TruthView { seq: 1, in_view, stalled };
    assert_eq!(judge_count(Some(&count(4.0, 0)), Some(&truth(6, 0))).0, Agreement::Agree, "±2 vehicles");
    assert_eq!(judge_count(Some(&count(3.9, 0)), Some(&truth(6, 0))).0, Agreement::Disagree);
    assert_eq!(judge_count(Some(&count(15.0, 0)), Some(&truth(20, 0))).0, Agreement::Agree, "±30 %");
    assert_eq!(judge_count(Some(&count(13.5, 0)), Some(&truth(20, 0))).0, Agreement::Disagree);
    assert_eq!(judge_count(Some(&count(6.0, 1)), Some(&truth(6, 0))).0, Agreement::Disagree, "a false alarm");
    assert_eq!(judge_count(Some(&count(6.0, 1)), Some(&truth(6, 2))).0, Agreement::Agree);
    let warming = CameraCount { warming_up: true, ..count(0.0, 0) };
    assert_eq!(judge_count(Some(&warming), Some(&truth(6, 0))).0, Agreement::WarmingUp);
    assert_eq!(judge_count(None, Some(&truth(6, 0))).0, Agreement::Waiting);
}

#[test]
fn every_append_of_the_lesson_is_a_mark_and_lost_ones_are_told_apart() {
    let m = model::compute(&recorded(), None);
    let lesson = m.lesson.expect("the lesson ran");
    let naive = &lesson.logs[0];
    assert_eq!(naive.marks.len(), naive.written);
    let fates = |fate| naive.marks.iter().filter(|m| m.fate == fate).count();
    assert_eq!((fates(AppendFate::Kept), fates(AppendFate::Lost), fates(AppendFate::Unacknowledged)), (4, 3, 1));
    assert_eq!(fates(AppendFate::Lost), naive.lost);
    assert_eq!(naive.beliefs[0].primaries["r1"], "w0");
    assert_eq!(naive.beliefs[1].primaries["r1"], "w1", "the readers disagree, and the model says so");
    assert!(lesson.logs[1].marks.iter().all(|m| m.fate == AppendFate::Kept));
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
