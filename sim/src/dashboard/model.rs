//! The dashboard's view model: what the page draws, computed from the recorded [`History`] and
//! nothing else (pure, golden-tested). The page only lays it out; every judgement — who was
//! primary when, how long a failover took, whether two primaries overlapped, which command was
//! refused — is made here.
//!
//! Times are ms since the history started (`t_ms`), so a model does not depend on the wall clock.
//! Every list is capped (newest kept), so a model's size is bounded whatever the run's length:
//! see [`SIZE_MAX`].

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use skyway_controller::actuator::CLAIM;
use skyway_controller::proto::AuditEntry;
use skyway_world::airport::{MoverKind, Phase};
use skyway_world::highway::{SegmentOrder, VehicleKind};

use super::history::{
    CameraFrame, CameraState, Frame, History, LessonLogResult, MemberChange, NodeSample, Record, TruthCount,
};
use crate::drill::judge_trail;

/// The largest model (as JSON) of the default scenario the server promises: a full road at its
/// densest, every list at its cap. `model_size_stays_bounded` checks it.
pub const SIZE_MAX: usize = 512 * 1024;

/// Bars kept per role lane (the newest).
pub const BARS_MAX: usize = 40;
/// Refused commands kept per role lane.
pub const REFUSED_MAX: usize = 20;
/// Recent decisions listed.
pub const DECISIONS_MAX: usize = 40;
/// Membership changes listed.
pub const MEMBERSHIP_MAX: usize = 60;
/// Faults kept.
pub const FAULTS_MAX: usize = 100;
/// Leader changes kept.
pub const LEADER_CHANGES_MAX: usize = 50;

/// The whole page.
#[derive(Debug, Clone, Serialize)]
pub struct Model {
    /// The history's sequence number this model was computed at (the SSE event id).
    pub revision: u64,
    /// The scenario's name.
    pub scenario: String,
    /// Where the model is drawn: the latest time seen, or the replay's cut-off, ms.
    pub at_t_ms: u64,
    /// Whether this is a replay of the past (the slider) rather than now.
    pub replay: bool,
    /// The range the slider covers, ms.
    pub span_t_ms: u64,
    /// The world, if a frame was recorded.
    pub world: Option<WorldView>,
    /// One lane per role.
    pub roles: Vec<RoleLane>,
    /// The split-brain checker's verdict over the whole trail up to `at_t_ms`.
    pub verdict: Verdict,
    /// Faults, as bands across every lane.
    pub faults: Vec<FaultBand>,
    /// The coordinator's nodes and leader changes.
    pub coordinator: CoordinatorView,
    /// The membership log, newest last.
    pub membership: Vec<MemberLine>,
    /// The actuators' decisions.
    pub decisions: DecisionsView,
    /// The cameras: the latest frame of each, the analyzer's count beside the truth. In a replay,
    /// the frame that was the newest then (from the camera's index; the page says so when the
    /// janitor has since deleted it from blob storage) and its truth; the analyzer's count is
    /// drawn live only.
    pub cameras: Vec<CameraView>,
    /// The storage lesson, once it ran.
    pub lesson: Option<LessonView>,
    /// The controllers' names.
    pub controllers: Vec<String>,
    /// The controllers' session TTL, ms.
    pub ttl_ms: u64,
}

/// The world at `at_t_ms`.
#[derive(Debug, Clone, Serialize)]
pub struct WorldView {
    /// When the frame was taken, ms.
    pub t_ms: u64,
    /// Simulated time, seconds.
    pub time_s: f64,
    /// Simulated seconds per wall second.
    pub speed: f64,
    /// The road, if the world has one.
    pub highway: Option<HighwayView>,
    /// The airport, if the world has one.
    pub airport: Option<AirportView>,
    /// Conflicting commands the world obeyed (must be 0).
    pub conflicts: u64,
}

/// The road.
#[derive(Debug, Clone, Serialize)]
pub struct HighwayView {
    /// Its length, m.
    pub length_m: f64,
    /// Its lanes (1 = rightmost).
    pub lanes: u8,
    /// The road's own speed limit, km/h.
    pub default_limit_kmh: Option<u32>,
    /// Its segments, upstream first.
    pub segments: Vec<SegmentView>,
    /// Every vehicle.
    pub vehicles: Vec<VehicleDot>,
    /// Vehicles present, mean speed, stalled.
    pub present: u64,
    /// Mean speed, km/h.
    pub mean_kmh: f64,
    /// Stalled vehicles.
    pub stalled: u64,
}

/// One segment.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentView {
    /// Its number, from 1.
    pub n: u32,
    /// Where it starts and ends, m.
    pub start_m: f64,
    /// Where it ends, m.
    pub end_m: f64,
    /// The limit in force (None: the road's).
    pub limit_kmh: Option<u32>,
    /// Closed lanes, where, and by whose command.
    pub closed: Vec<ClosedLane>,
    /// The lanes the operator's order closes (carried out by the primary's next command).
    pub operator_closed: Vec<u8>,
    /// The loops' latest counts.
    pub loops: Vec<LoopView>,
    /// Its primary controller and token, from the actuator.
    pub primary: Option<(String, u64)>,
}

/// A closed lane of a segment.
#[derive(Debug, Clone, Serialize)]
pub struct ClosedLane {
    /// The lane (1 = rightmost).
    pub lane: u8,
    /// Where its closure starts, m from the road's start.
    pub from_m: f64,
    /// Where it ends, m from the road's start.
    pub to_m: f64,
    /// The controller and token of the newest accepted command that closes it: the primary
    /// whose fenced command keeps it closed.
    pub by: Option<(String, u64)>,
    /// Whether the operator ordered it closed (else the primary closed it on its own, after a
    /// stall).
    pub operator: bool,
}

/// One loop station.
#[derive(Debug, Clone, Serialize)]
pub struct LoopView {
    /// Its position, m from the road's start.
    pub position_m: f64,
    /// Vehicles counted over the last period, all lanes.
    pub count: u32,
    /// Flow, veh/h, all lanes.
    pub flow_vph: f64,
    /// Count-weighted mean speed, km/h.
    pub mean_kmh: Option<f64>,
}

/// One vehicle: `[id, lane, position m, km/h, truck 0/1, stalled 0/1]`, compact because there
/// are thousands.
pub type VehicleDot = (u32, u8, f64, u32, u8, u8);

/// The airport.
#[derive(Debug, Clone, Serialize)]
pub struct AirportView {
    /// Each runway.
    pub runways: Vec<RunwayView>,
    /// Runway incursions (must be 0).
    pub incursions: u64,
    /// Go-arounds so far.
    pub go_arounds: u64,
    /// Landings so far.
    pub landed: u64,
    /// Take-offs so far.
    pub departed: u64,
}

/// One runway.
#[derive(Debug, Clone, Serialize)]
pub struct RunwayView {
    /// Its designator.
    pub id: String,
    /// Whether it is closed.
    pub closed: bool,
    /// While closed: the controller and token of the accepted `close` command.
    pub closed_by: Option<(String, u64)>,
    /// Whether the operator's order closes it (carried out by the primary's next command).
    pub operator_closed: bool,
    /// On the runway now: `(who, landing|takeoff|crossing)`.
    pub occupants: Vec<(String, String)>,
    /// Aircraft on final, nearest first: `(callsign, progress 0..1)`.
    pub on_final: Vec<(String, f64)>,
    /// Aircraft flying a missed approach (gone around).
    pub circling: Vec<String>,
    /// Aircraft queued to take off.
    pub holding: Vec<String>,
    /// Ground vehicles waiting to cross.
    pub crossing_queue: Vec<String>,
    /// Its primary controller and token.
    pub primary: Option<(String, u64)>,
}

/// One role's lane.
#[derive(Debug, Clone, Serialize)]
pub struct RoleLane {
    /// The role.
    pub role: String,
    /// Who was primary when, oldest first.
    pub bars: Vec<Bar>,
    /// The failovers: the gaps between two bars.
    pub gaps: Vec<Gap>,
    /// Commands refused for this role, newest last.
    pub refused: Vec<Refusal>,
    /// Commands accepted.
    pub accepted: u64,
    /// Commands refused.
    pub refused_total: u64,
}

/// One primary's tenure, as the actuator saw it.
#[derive(Debug, Clone, Serialize)]
pub struct Bar {
    /// The controller.
    pub controller: String,
    /// Its fencing token.
    pub token: u64,
    /// Its first accepted decision (claim), ms.
    pub from_t_ms: u64,
    /// Its last accepted decision, ms.
    pub to_t_ms: u64,
    /// Whether it is the role's primary now.
    pub current: bool,
    /// Commands accepted in it.
    pub commands: u64,
    /// Whether it overlaps another bar of the lane (a split brain).
    pub overlap: bool,
}

/// A failover.
#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    /// The old primary's last accepted decision, ms.
    pub from_t_ms: u64,
    /// The new primary's first accepted decision (its claim), ms.
    pub to_t_ms: u64,
    /// The fault that caused it, if one was injected in between.
    pub fault: Option<String>,
    /// Fault → the new primary's claim, ms: how long until the failure was detected and acted on.
    pub detection_ms: Option<u64>,
    /// Fault → the new primary's first accepted command, ms.
    pub takeover_ms: Option<u64>,
    /// Without a fault: the old primary's last to the new primary's first command, ms.
    pub gap_ms: u64,
}

/// A refused command.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    /// When, ms.
    pub t_ms: u64,
    /// Who sent it.
    pub controller: String,
    /// Its (stale) token.
    pub token: u64,
    /// The floor it was below.
    pub floor: u64,
    /// The command.
    pub action: String,
}

/// The checker's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Two controllers accepted under one token.
    pub split_brains: usize,
    /// Accepted tokens going back.
    pub inversions: usize,
    /// Overlapping bars drawn.
    pub overlaps: usize,
    /// Whether all is well.
    pub ok: bool,
    /// One line for people.
    pub text: String,
}

/// A fault as a band.
#[derive(Debug, Clone, Serialize)]
pub struct FaultBand {
    /// When it was injected, ms.
    pub from_t_ms: u64,
    /// When it ended (resume, restart, reconnect), if it did.
    pub to_t_ms: Option<u64>,
    /// What was done.
    pub action: String,
    /// To whom.
    pub target: String,
    /// The role it was primary of.
    pub role: Option<String>,
    /// The explanation.
    pub note: String,
}

/// The coordinator.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CoordinatorView {
    /// Its nodes as last sampled.
    pub nodes: Vec<NodeSample>,
    /// The leader now (0: none agreed).
    pub leader: u64,
    /// Every change of leader, newest last.
    pub leader_changes: Vec<LeaderChange>,
}

/// A new leader.
#[derive(Debug, Clone, Serialize)]
pub struct LeaderChange {
    /// When it was seen, ms.
    pub t_ms: u64,
    /// The leader (0: none).
    pub leader: u64,
    /// Its term.
    pub term: u64,
}

/// One line of the membership log.
#[derive(Debug, Clone, Serialize)]
pub struct MemberLine {
    /// When it was seen, ms.
    pub t_ms: u64,
    /// The change.
    #[serde(flatten)]
    pub change: MemberChange,
}

/// The decisions.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DecisionsView {
    /// Commands accepted (claims not counted).
    pub accepted: u64,
    /// Claims accepted.
    pub claims: u64,
    /// Commands and claims refused.
    pub refused: u64,
    /// The newest decisions, newest last.
    pub recent: Vec<DecisionLine>,
    /// The newest refusals over every role, newest last.
    pub refusals: Vec<DecisionLine>,
}

/// One decision.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionLine {
    /// When, ms.
    pub t_ms: u64,
    /// The role.
    pub role: String,
    /// Who sent it.
    pub controller: String,
    /// Its token.
    pub token: u64,
    /// The floor then.
    pub floor: u64,
    /// The command (`claim` for a claim).
    pub action: String,
    /// Accepted or refused.
    pub accepted: bool,
}

/// The storage lesson.
#[derive(Debug, Clone, Serialize)]
pub struct LessonView {
    /// When it ended, ms.
    pub t_ms: u64,
    /// Each log.
    pub logs: Vec<LessonLogResult>,
    /// Logs skipped, and why.
    pub skipped: Vec<String>,
}

/// An analyzer's count and the truth agree within this many vehicles…
pub const COUNT_AGREE_ABS: f64 = 2.0;
/// …or within this share of the truth, whichever is larger (the analyzer's figure is a mean over
/// its period, the truth one frame's).
pub const COUNT_AGREE_SHARE: f64 = 0.3;

/// One camera.
#[derive(Debug, Clone, Serialize)]
pub struct CameraView {
    /// Its id.
    pub id: String,
    /// Its latest stored frame.
    pub frame: Option<CameraFrameView>,
    /// The analyzer's latest result.
    pub analysis: Option<CameraCount>,
    /// The truth it is judged against: of the frame the analyzer last analysed if remembered,
    /// else of the newest frame whose truth was read.
    pub truth: Option<TruthView>,
    /// Whether the count agrees with the truth.
    pub agreement: Agreement,
    /// One line for people.
    pub text: String,
}

/// A frame, as the page fetches it.
#[derive(Debug, Clone, Serialize)]
pub struct CameraFrameView {
    /// Its number.
    pub seq: u64,
    /// World time of the capture, s.
    pub world_time_s: f64,
    /// When it was seen, ms.
    pub t_ms: u64,
    /// Where the page fetches it: the dashboard's server reads it from blob storage by its URL
    /// and checks its SHA-256.
    pub src: String,
    /// Its URL in blob storage.
    pub url: String,
    /// Its size, bytes.
    pub size: u64,
    /// Width × height, pixels.
    pub width: u32,
    /// Height, pixels.
    pub height: u32,
}

/// An analyzer's count.
#[derive(Debug, Clone, Serialize)]
pub struct CameraCount {
    /// The analyzer.
    pub analyzer: String,
    /// Its fencing token for the camera.
    pub token: u64,
    /// The last frame it analysed.
    pub seq: u64,
    /// Vehicles in view, the period's mean (density × stretch).
    pub in_view: Option<f64>,
    /// Vehicles its loops counted in the period.
    pub counted: u64,
    /// Stalled alarms in force.
    pub stalled: u32,
    /// Whether its model is still warming up.
    pub warming_up: bool,
}

/// A frame's truth.
#[derive(Debug, Clone, Serialize)]
pub struct TruthView {
    /// The frame.
    pub seq: u64,
    /// Vehicles in view.
    pub in_view: u32,
    /// Stalled vehicles in view.
    pub stalled: u32,
}

/// An analyzer against the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Agreement {
    /// Counts within the tolerance and the same stalled verdict.
    Agree,
    /// Not.
    Disagree,
    /// The analyzer's model is warming up: its counts are not yet to be trusted.
    WarmingUp,
    /// No result or no truth yet.
    Waiting,
}

/// Judges a count against a truth: within [`COUNT_AGREE_ABS`] or [`COUNT_AGREE_SHARE`], and
/// stalled alarms present exactly when stalled vehicles are.
pub fn judge_count(count: Option<&CameraCount>, truth: Option<&TruthView>) -> (Agreement, String) {
    let (Some(count), Some(truth)) = (count, truth) else {
        let missing = if count.is_none() { "no analysis yet" } else { "no truth read yet" };
        return (Agreement::Waiting, missing.to_string());
    };
    if count.warming_up {
        return (Agreement::WarmingUp, format!("{} is warming up its background model", count.analyzer));
    }
    let Some(in_view) = count.in_view else {
        return (Agreement::Waiting, "no calibration yet (stretch length unknown)".to_string());
    };
    let tolerance = COUNT_AGREE_ABS.max(COUNT_AGREE_SHARE * f64::from(truth.in_view));
    let counts = (in_view - f64::from(truth.in_view)).abs() <= tolerance;
    let stalls = (count.stalled > 0) == (truth.stalled > 0);
    let agreement = if counts && stalls { Agreement::Agree } else { Agreement::Disagree };
    let word = if agreement == Agreement::Agree { "agree" } else { "DISAGREE" };
    let text = format!(
        "{word}: analyzer ≈{in_view:.1} in view, {} stalled alarm(s) · truth {} in view, {} stalled (tolerance ±{tolerance:.1})",
        count.stalled, truth.in_view, truth.stalled
    );
    (agreement, text)
}

fn frame_view(id: &str, f: &CameraFrame, t: &impl Fn(u64) -> u64) -> CameraFrameView {
    CameraFrameView {
        seq: f.record.seq,
        world_time_s: (f.record.world_time_s * 10.0).round() / 10.0,
        t_ms: t(f.at_ms),
        src: format!("/api/cameras/{id}/frames/{}", f.record.seq),
        url: f.record.frame.url.clone(),
        size: f.record.frame.size,
        width: f.record.width,
        height: f.record.height,
    }
}

/// A camera in a replay at wall time `at_ms`: the frame newest then and its truth.
fn replayed_camera_view(id: &str, history: &History, at_ms: u64, t: &impl Fn(u64) -> u64) -> CameraView {
    let then = history.camera_frame_as_of(id, at_ms);
    let truth =
        then.and_then(|f| f.truth.map(|c| TruthView { seq: f.record.seq, in_view: c.in_view, stalled: c.stalled }));
    let text = match then {
        Some(f) => {
            format!("replay: frame #{} was {id}'s newest then; the analyzer's count is drawn live only", f.record.seq)
        }
        None => format!("replay: {id} had stored no frame yet"),
    };
    CameraView {
        id: id.to_string(),
        frame: then.map(|f| frame_view(id, f, t)),
        analysis: None,
        truth,
        agreement: Agreement::Waiting,
        text,
    }
}

fn camera_view(id: &str, state: &CameraState, t: &impl Fn(u64) -> u64) -> CameraView {
    let frame = state.frames.back().map(|f| frame_view(id, f, t));
    let analysis = state.analysis.as_ref().map(|a| CameraCount {
        analyzer: a.analyzer.clone(),
        token: a.token,
        seq: a.seq,
        in_view: state.stretch_m.map(|m| {
            let density: f64 = a.result.lanes.iter().map(|l| l.density_per_km).sum();
            (density * m / 1000.0 * 10.0).round() / 10.0
        }),
        counted: a.result.lanes.iter().map(|l| l.vehicles).sum(),
        stalled: a.result.stalled.len() as u32,
        warming_up: a.warming_up,
    });
    let judged =
        analysis.as_ref().and_then(|a| state.frames.iter().find(|f| f.record.seq == a.seq && f.truth.is_some()));
    let truth = judged.or_else(|| state.frames.iter().rev().find(|f| f.truth.is_some())).and_then(|f| {
        f.truth.map(|c: TruthCount| TruthView { seq: f.record.seq, in_view: c.in_view, stalled: c.stalled })
    });
    let (agreement, text) = judge_count(analysis.as_ref(), truth.as_ref());
    CameraView { id: id.to_string(), frame, analysis, truth, agreement, text }
}

/// The model of `history` now (`at_ms` None) or as it was at wall time `at_ms` (the replay).
pub fn compute(history: &History, at_ms: Option<u64>) -> Model {
    let start = history.started_ms;
    let t = |ms: u64| ms.saturating_sub(start);
    let latest_ms = history.records().map(Record::at_ms).chain(history.frame_at(None).map(|f| f.at_ms)).max();
    let latest_ms = latest_ms.unwrap_or(start);
    let cut = at_ms.unwrap_or(u64::MAX);
    let records: Vec<&Record> = history.records().filter(|r| r.at_ms() <= cut).collect();
    let decisions: Vec<&AuditEntry> = records
        .iter()
        .filter_map(|r| match r {
            Record::Decision { entry } => Some(entry),
            _ => None,
        })
        .collect();
    let faults = fault_bands(&records, &t);
    let mut roles = Vec::new();
    let mut names = history.layout.roles.clone();
    for d in &decisions {
        if !names.contains(&d.role) {
            names.push(d.role.clone());
        }
    }
    for role in &names {
        roles.push(role_lane(role, &decisions, &records, &t));
    }
    let owned: Vec<AuditEntry> = decisions.iter().map(|d| (*d).clone()).collect();
    let (split_brains, inversions) = judge_trail(&owned);
    let overlaps = roles.iter().flat_map(|l| &l.bars).filter(|b| b.overlap).count();
    let ok = split_brains == 0 && inversions == 0 && overlaps == 0;
    let text = if ok {
        "checker: no split brain — each token belongs to one controller, tokens never go back, no two primaries overlap"
            .to_string()
    } else {
        format!(
            "checker: SPLIT BRAIN — {split_brains} shared tokens, {inversions} token inversions, {overlaps} overlapping bars"
        )
    };
    let primaries: BTreeMap<&str, (String, u64)> = roles
        .iter()
        .filter_map(|l| l.bars.iter().find(|b| b.current).map(|b| (l.role.as_str(), (b.controller.clone(), b.token))))
        .collect();
    let operator = operator_orders(&records);
    let world = history.frame_at(at_ms).map(|frame| world_view(history, frame, &primaries, &decisions, &operator, &t));
    let replay = at_ms.is_some_and(|a| a < latest_ms);
    let mut camera_ids = history.layout.cameras.clone();
    camera_ids.extend(history.cameras().keys().filter(|id| !history.layout.cameras.contains(id)).cloned());
    let empty = CameraState::default();
    let cameras = camera_ids
        .iter()
        .map(|id| match at_ms.filter(|_| replay) {
            Some(at) => replayed_camera_view(id, history, at, &t),
            None => camera_view(id, history.cameras().get(id).unwrap_or(&empty), &t),
        })
        .collect();
    Model {
        revision: history.seq(),
        scenario: history.layout.scenario.clone(),
        at_t_ms: t(at_ms.unwrap_or(latest_ms).min(latest_ms)),
        replay,
        span_t_ms: t(latest_ms),
        world,
        roles,
        verdict: Verdict { split_brains, inversions, overlaps, ok, text },
        faults: newest(faults, FAULTS_MAX),
        coordinator: coordinator_view(&records, &t),
        membership: newest(
            records
                .iter()
                .filter_map(|r| match r {
                    Record::Membership { at_ms, change } => {
                        Some(MemberLine { t_ms: t(*at_ms), change: change.clone() })
                    }
                    _ => None,
                })
                .collect(),
            MEMBERSHIP_MAX,
        ),
        decisions: decisions_view(&decisions, &t),
        cameras,
        lesson: records.iter().rev().find_map(|r| match r {
            Record::Lesson { at_ms, logs, skipped } => {
                Some(LessonView { t_ms: t(*at_ms), logs: logs.clone(), skipped: skipped.clone() })
            }
            _ => None,
        }),
        controllers: history.layout.controllers.clone(),
        ttl_ms: history.layout.ttl_ms,
    }
}

fn newest<T>(mut items: Vec<T>, cap: usize) -> Vec<T> {
    if items.len() > cap {
        items.drain(..items.len() - cap);
    }
    items
}

/// Faults, each band ended by the next resume/restart/reconnect of the same target.
fn fault_bands(records: &[&Record], t: &impl Fn(u64) -> u64) -> Vec<FaultBand> {
    let mut bands: Vec<FaultBand> = Vec::new();
    for record in records {
        let Record::Fault { at_ms, action, target, role, note } = record else { continue };
        let ends = matches!(action.as_str(), "resume" | "restart" | "reconnect");
        if ends {
            if let Some(open) = bands.iter_mut().rev().find(|b| b.target == *target && b.to_t_ms.is_none()) {
                open.to_t_ms = Some(t(*at_ms));
            }
            continue;
        }
        let instant = matches!(action.as_str(), "speed" | "lesson" | "stall");
        bands.push(FaultBand {
            from_t_ms: t(*at_ms),
            to_t_ms: instant.then(|| t(*at_ms)),
            action: action.clone(),
            target: target.clone(),
            role: role.clone(),
            note: note.clone(),
        });
    }
    bands
}

fn role_lane(role: &str, decisions: &[&AuditEntry], records: &[&Record], t: &impl Fn(u64) -> u64) -> RoleLane {
    let mut bars: Vec<Bar> = Vec::new();
    let mut first_command: Vec<Option<u64>> = Vec::new();
    let mut refused = Vec::new();
    let (mut accepted, mut refused_total) = (0, 0);
    for e in decisions.iter().filter(|e| e.role == role) {
        if !e.accepted {
            refused_total += 1;
            refused.push(Refusal {
                t_ms: t(e.unix_ms),
                controller: e.controller.clone(),
                token: e.token,
                floor: e.floor,
                action: e.action.clone(),
            });
            continue;
        }
        let is_command = e.action != CLAIM;
        if is_command {
            accepted += 1;
        }
        let at = t(e.unix_ms);
        match bars.iter().rposition(|b| b.controller == e.controller && b.token == e.token) {
            Some(i) => {
                bars[i].to_t_ms = at;
                if is_command {
                    bars[i].commands += 1;
                    first_command[i].get_or_insert(at);
                }
            }
            None => {
                bars.push(Bar {
                    controller: e.controller.clone(),
                    token: e.token,
                    from_t_ms: at,
                    to_t_ms: at,
                    current: false,
                    commands: u64::from(is_command),
                    overlap: false,
                });
                first_command.push(is_command.then_some(at));
            }
        }
    }
    // Overlap: a bar still accepted after the next one began.
    for i in 1..bars.len() {
        if bars[i - 1].to_t_ms > bars[i].from_t_ms {
            bars[i - 1].overlap = true;
            bars[i].overlap = true;
        }
    }
    if let Some(last) = bars.last_mut() {
        last.current = true;
    }
    let faults: Vec<(u64, String, Option<String>)> = records
        .iter()
        .filter_map(|r| match r {
            Record::Fault { at_ms, action, target, role, .. }
                if !matches!(action.as_str(), "resume" | "restart" | "reconnect" | "speed" | "lesson" | "stall") =>
            {
                Some((t(*at_ms), format!("{action} {target}"), role.clone()))
            }
            _ => None,
        })
        .collect();
    let mut gaps = Vec::new();
    for i in 1..bars.len() {
        let (prev, next) = (&bars[i - 1], &bars[i]);
        // The fault behind it: the latest one on this role (or on the coordinator) injected
        // while the old primary held it.
        let fault = faults.iter().rev().find(|(at, _, r)| {
            *at >= prev.from_t_ms && *at <= next.from_t_ms && r.as_deref().is_none_or(|r| r == role)
        });
        let command = first_command[i].unwrap_or(next.from_t_ms);
        gaps.push(Gap {
            from_t_ms: prev.to_t_ms,
            to_t_ms: next.from_t_ms,
            fault: fault.map(|f| f.1.clone()),
            detection_ms: fault.map(|f| next.from_t_ms.saturating_sub(f.0)),
            takeover_ms: fault.map(|f| command.saturating_sub(f.0)),
            gap_ms: command.saturating_sub(prev.to_t_ms),
        });
    }
    let skip = bars.len().saturating_sub(BARS_MAX);
    RoleLane {
        role: role.to_string(),
        bars: bars.split_off(skip),
        gaps: newest(gaps, BARS_MAX),
        refused: newest(refused, REFUSED_MAX),
        accepted,
        refused_total,
    }
}

fn decision_line(e: &AuditEntry, t: &impl Fn(u64) -> u64) -> DecisionLine {
    DecisionLine {
        t_ms: t(e.unix_ms),
        role: e.role.clone(),
        controller: e.controller.clone(),
        token: e.token,
        floor: e.floor,
        action: if e.action == CLAIM { "claim".into() } else { e.action.clone() },
        accepted: e.accepted,
    }
}

fn decisions_view(decisions: &[&AuditEntry], t: &impl Fn(u64) -> u64) -> DecisionsView {
    let mut view = DecisionsView::default();
    for e in decisions {
        match (e.accepted, e.action == CLAIM) {
            (false, _) => view.refused += 1,
            (true, true) => view.claims += 1,
            (true, false) => view.accepted += 1,
        }
    }
    let skip = decisions.len().saturating_sub(DECISIONS_MAX);
    view.recent = decisions[skip..].iter().map(|e| decision_line(e, t)).collect();
    let refusals: Vec<DecisionLine> = decisions.iter().filter(|e| !e.accepted).map(|e| decision_line(e, t)).collect();
    view.refusals = newest(refusals, REFUSED_MAX);
    view
}

fn coordinator_view(records: &[&Record], t: &impl Fn(u64) -> u64) -> CoordinatorView {
    let mut view = CoordinatorView::default();
    let mut changes: Vec<LeaderChange> = Vec::new();
    for record in records {
        let Record::Coordinator { at_ms, nodes } = record else { continue };
        // The leader: the node that says it leads, in the highest term.
        let leader = nodes.iter().filter(|n| n.up && n.role == "Leader").max_by_key(|n| n.term);
        let (id, term) = leader.map_or((0, nodes.iter().map(|n| n.term).max().unwrap_or(0)), |n| (n.id, n.term));
        if changes.last().is_none_or(|c| c.leader != id) {
            changes.push(LeaderChange { t_ms: t(*at_ms), leader: id, term });
        }
        view.nodes = nodes.clone();
        view.leader = id;
    }
    view.leader_changes = newest(changes, LEADER_CHANGES_MAX);
    view
}

/// The operator's orders in force: by role, the lanes closed (a runway: lane 0).
fn operator_orders(records: &[&Record]) -> BTreeMap<String, BTreeSet<u8>> {
    let mut orders: BTreeMap<String, BTreeSet<u8>> = BTreeMap::new();
    for record in records {
        let Record::Operator { role, lane, closed, .. } = record else { continue };
        let lanes = orders.entry(role.clone()).or_default();
        let lane = lane.unwrap_or(0);
        if *closed {
            lanes.insert(lane);
        } else {
            lanes.remove(&lane);
        }
    }
    orders
}

/// The newest accepted command of `role` that `closes`, as (controller, token).
fn closed_by(decisions: &[&AuditEntry], role: &str, closes: impl Fn(&str) -> bool) -> Option<(String, u64)> {
    decisions
        .iter()
        .rev()
        .find(|e| e.accepted && e.role == role && e.action != CLAIM && closes(&e.action))
        .map(|e| (e.controller.clone(), e.token))
}

fn world_view(
    history: &History,
    frame: &Frame,
    primaries: &BTreeMap<&str, (String, u64)>,
    decisions: &[&AuditEntry],
    operator: &BTreeMap<String, BTreeSet<u8>>,
    t: &impl Fn(u64) -> u64,
) -> WorldView {
    let highway = history.layout.highway.as_ref().map(|spec| {
        let count = (spec.length_m / spec.segment_length_m).ceil().max(1.0) as u32;
        let segments = (1..=count)
            .map(|n| {
                let start_m = f64::from(n - 1) * spec.segment_length_m;
                let end_m = (start_m + spec.segment_length_m).min(spec.length_m);
                let summary = frame.segments.iter().find(|s| s.segment == n);
                let role = format!("segment/{n}");
                let ordered: Vec<u8> = operator.get(&role).map(|l| l.iter().copied().collect()).unwrap_or_default();
                // The order in force now if the frame has it, else the summary's (as of its period).
                let in_force = frame.orders.get(n as usize - 1).cloned().or_else(|| {
                    summary.map(|s| SegmentOrder {
                        speed_limit_kmh: s.speed_limit_kmh,
                        closed_lanes: s.closed_lanes.clone(),
                        stretches: s.stretches.clone(),
                        why: Vec::new(),
                    })
                });
                let closed = in_force.as_ref().map_or_else(Vec::new, |order| {
                    order
                        .closed_lanes
                        .iter()
                        .map(|&lane| {
                            let (from_m, to_m) = match order.stretch(lane) {
                                Some(st) => (start_m + f64::from(st.from_m), start_m + f64::from(st.to_m)),
                                None => (start_m, end_m),
                            };
                            let by = closed_by(decisions, &role, |action| {
                                SegmentOrder::parse(action).is_ok_and(|o| o.closed_lanes.contains(&lane))
                            });
                            ClosedLane { lane, from_m, to_m, by, operator: ordered.contains(&lane) }
                        })
                        .collect()
                });
                let loops = summary.map_or_else(Vec::new, |s| {
                    s.loops
                        .iter()
                        .map(|l| {
                            let count: u32 = l.lanes.iter().map(|x| x.count).sum();
                            let weighted: f64 =
                                l.lanes.iter().filter_map(|x| x.mean_speed_kmh.map(|v| v * f64::from(x.count))).sum();
                            LoopView {
                                position_m: l.position_m,
                                count,
                                flow_vph: l.lanes.iter().map(|x| x.flow_vph).sum::<f64>().round(),
                                mean_kmh: (count > 0).then(|| (weighted / f64::from(count)).round()),
                            }
                        })
                        .collect()
                });
                SegmentView {
                    n,
                    start_m,
                    end_m,
                    limit_kmh: in_force.as_ref().and_then(|o| o.speed_limit_kmh),
                    closed,
                    operator_closed: ordered,
                    loops,
                    primary: primaries.get(format!("segment/{n}").as_str()).cloned(),
                }
            })
            .collect();
        let vehicles = frame
            .vehicles
            .iter()
            .map(|v| {
                (
                    v.id,
                    v.lane,
                    (v.position_m * 10.0).round() / 10.0,
                    (v.speed_mps * 3.6).round() as u32,
                    u8::from(v.kind == VehicleKind::Truck),
                    u8::from(v.stalled),
                )
            })
            .collect();
        let stats = frame.stats.highway.as_ref();
        HighwayView {
            length_m: spec.length_m,
            lanes: spec.lanes,
            default_limit_kmh: spec.speed_limit_kmh,
            segments,
            vehicles,
            present: stats.map_or(0, |h| h.present),
            mean_kmh: stats.map_or(0.0, |h| h.mean_speed_kmh.round()),
            stalled: stats.map_or(0, |h| h.stalled),
        }
    });
    let airport = (!history.layout.runways.is_empty()).then(|| {
        let runways = history
            .layout
            .runways
            .iter()
            .map(|id| {
                let summary = frame.runways.iter().find(|r| r.runway == *id);
                let movers = frame.movers.iter().filter(|m| m.runway == *id);
                let mut on_final: Vec<(String, f64)> = movers
                    .clone()
                    .filter(|m| m.kind == MoverKind::Arrival && m.phase == Phase::OnFinal)
                    .map(|m| (m.id.clone(), (m.progress * 100.0).round() / 100.0))
                    .collect();
                on_final.sort_by(|a, b| b.1.total_cmp(&a.1));
                let circling = movers.clone().filter(|m| m.phase == Phase::Circling).map(|m| m.id.clone()).collect();
                let role = format!("runway/{id}");
                let closed = summary.is_some_and(|s| s.closed);
                RunwayView {
                    id: id.clone(),
                    closed,
                    closed_by: closed.then(|| closed_by(decisions, &role, |a| a.starts_with("close "))).flatten(),
                    operator_closed: operator.get(&role).is_some_and(|l| l.contains(&0)),
                    occupants: summary
                        .map(|s| s.occupants.iter().map(|o| (o.id.clone(), o.activity.clone())).collect())
                        .unwrap_or_default(),
                    on_final,
                    circling,
                    holding: summary.map(|s| s.departures.clone()).unwrap_or_default(),
                    crossing_queue: summary.map(|s| s.crossings.clone()).unwrap_or_default(),
                    primary: primaries.get(format!("runway/{id}").as_str()).cloned(),
                }
            })
            .collect();
        let stats = frame.stats.airport.as_ref();
        AirportView {
            runways,
            incursions: stats.map_or(0, |a| a.incursions),
            go_arounds: stats.map_or(0, |a| a.go_arounds),
            landed: stats.map_or(0, |a| a.landed),
            departed: stats.map_or(0, |a| a.departed),
        }
    });
    WorldView {
        t_ms: t(frame.at_ms),
        time_s: (frame.time_s * 10.0).round() / 10.0,
        speed: frame.speed,
        highway,
        airport,
        conflicts: frame.stats.conflicts,
    }
}
