//! The recorded history a dashboard draws: everything that happened, in order, each record with a
//! sequence number. Appended to by whoever observes the system (the demo, or `skyway dashboard`
//! watching a running one); read by the pure [`model`](super::model). Bounded: world frames are
//! kept at one a second for the replay (and the latest one always), decisions and other records
//! up to a cap each, the oldest dropped first.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;
use skyway_collector::record::{AnalysisRecord, FrameRecord};
use skyway_controller::proto::AuditEntry;
use skyway_world::airport::Mover;
use skyway_world::highway::{HighwaySpec, SegmentOrder, VehicleView};
use skyway_world::summary::{RunwaySummary, SegmentSummary};
use skyway_world::world::WorldStats;

use crate::lesson::AppendMark;
use crate::lesson::replay::Belief;

/// The most frames kept for the replay (at one a second: half an hour).
pub const FRAMES_MAX: usize = 1_800;
/// Wall time between two frames kept for the replay.
pub const FRAME_EVERY_MS: u64 = 1_000;
/// The most records (decisions, faults, coordinator samples…) kept.
pub const RECORDS_MAX: usize = 200_000;

/// The world at one moment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Frame {
    /// Wall time, ms since the Unix epoch.
    pub at_ms: u64,
    /// Simulated seconds.
    pub time_s: f64,
    /// Simulated seconds per wall second.
    pub speed: f64,
    /// The world's counters.
    pub stats: WorldStats,
    /// The vehicles on the road.
    pub vehicles: Vec<VehicleView>,
    /// The aircraft and ground vehicles at the airport.
    pub movers: Vec<Mover>,
    /// The latest loop summary of each segment.
    pub segments: Vec<SegmentSummary>,
    /// The order in force on each segment, upstream first (empty: not known, and the summaries'
    /// closures are drawn, as of their period's end).
    pub orders: Vec<SegmentOrder>,
    /// The latest state of each runway.
    pub runways: Vec<RunwaySummary>,
}

/// What one coordinator node said about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeSample {
    /// The node's endpoint.
    pub endpoint: String,
    /// Its id (0 when it did not answer).
    pub id: u64,
    /// Whether it answered.
    pub up: bool,
    /// Its Raft role (`Leader`, `Follower`, `Candidate`…), or why it did not answer.
    pub role: String,
    /// Its term.
    pub term: u64,
    /// Its commit index.
    pub committed: u64,
    /// Its applied index.
    pub applied: u64,
    /// The leader it knows of (0: none).
    pub leader: u64,
}

/// One change of the membership log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberChange {
    /// The log's revision.
    pub revision: u64,
    /// `joined`, `left` or `failed`.
    pub kind: String,
    /// The member.
    pub member: String,
}

/// One log of the storage lesson, as its report tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LessonLogResult {
    /// Its title (`object log, naive`…).
    pub title: String,
    /// Appends tried.
    pub written: usize,
    /// Appends acknowledged.
    pub acknowledged: usize,
    /// Distinct records present at the end.
    pub present: usize,
    /// Acknowledged records missing at the end.
    pub lost: usize,
    /// Runways on which two readers believed different primaries.
    pub split_brain_runways: Vec<String>,
    /// Pairs of readers that contradicted each other.
    pub disagreeing_reader_pairs: usize,
    /// Why the result is what it is.
    pub explanation: String,
    /// Every append and what became of it, writer by writer.
    pub marks: Vec<AppendMark>,
    /// What each reader believed at its last read, and where it contradicted another.
    pub beliefs: Vec<Belief>,
}

/// What a frame's truth (`….truth.json`) says, in the terms the analyzer's count is judged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TruthCount {
    /// Vehicles in view (at least [`TRUTH_VISIBLE_MIN`] of each visible).
    pub in_view: u32,
    /// Of which stalled.
    pub stalled: u32,
}

/// A vehicle counts as in view when at least this share of it is not hidden.
pub const TRUTH_VISIBLE_MIN: f64 = 0.5;

impl TruthCount {
    /// The count of a truth record.
    pub fn of(truth: &skyway_collector::Truth) -> Self {
        let seen = truth.vehicles.iter().filter(|v| v.visible >= TRUTH_VISIBLE_MIN);
        let (mut in_view, mut stalled) = (0, 0);
        for v in seen {
            in_view += 1;
            stalled += u32::from(v.stalled);
        }
        Self { in_view, stalled }
    }
}

/// One stored frame of a camera, as its `/cameras/<id>/latest` record said.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CameraFrame {
    /// When the dashboard saw the record, ms since the Unix epoch.
    pub at_ms: u64,
    /// The record.
    pub record: FrameRecord,
    /// Its truth, once read from blob storage (None: not read, or unreadable).
    pub truth: Option<TruthCount>,
}

/// What the dashboard knows of one camera: its recent frames and the analyzer's latest result.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CameraState {
    /// The newest frames, oldest first, at most [`CAMERA_FRAMES_MAX`] (the page asks for the
    /// newest, which may have moved on by the time a loaded server answers).
    pub frames: VecDeque<CameraFrame>,
    /// The camera's index for the replay: one frame record a [`FRAME_EVERY_MS`], oldest first,
    /// at most [`FRAMES_MAX`] (records only: the frames themselves stay in blob storage for as
    /// long as the janitor keeps them).
    pub replay: VecDeque<CameraFrame>,
    /// The analyzer's latest result (`/analysis/<id>`).
    pub analysis: Option<AnalysisRecord>,
    /// How much road it watches, m (from `/cameras/<id>/calibration`).
    pub stretch_m: Option<f64>,
}

/// Frames remembered per camera.
pub const CAMERA_FRAMES_MAX: usize = 64;

/// One thing that happened.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// An actuator decision (accepted or refused), in the order made.
    Decision {
        /// The decision.
        entry: AuditEntry,
    },
    /// A fault injected (or a fault's end: a resume, a restart).
    Fault {
        /// Wall time, ms since the Unix epoch.
        at_ms: u64,
        /// What was done: `kill`, `pause`, `resume`, `cut-off`, `reconnect`, `restart`, `speed`…
        action: String,
        /// To whom: a controller's name, `node N`, `world`.
        target: String,
        /// The role it was primary of, if any.
        role: Option<String>,
        /// The line that explains it.
        note: String,
    },
    /// The coordinator's nodes, sampled when something changed.
    Coordinator {
        /// Wall time, ms since the Unix epoch.
        at_ms: u64,
        /// One sample per node.
        nodes: Vec<NodeSample>,
    },
    /// A change of the membership log (from a watch).
    Membership {
        /// Wall time it was seen, ms since the Unix epoch.
        at_ms: u64,
        /// The change.
        change: MemberChange,
    },
    /// An operator's order (from the dashboard): a lane or a runway closed or reopened. The
    /// role's primary carries it out; this records that it was given.
    Operator {
        /// Wall time, ms since the Unix epoch.
        at_ms: u64,
        /// The role: `segment/N` or `runway/ID`.
        role: String,
        /// The lane, for a segment.
        lane: Option<u8>,
        /// Closed (true) or reopened.
        closed: bool,
        /// The line that explains it.
        note: String,
    },
    /// The storage lesson ran.
    Lesson {
        /// Wall time it ended, ms since the Unix epoch.
        at_ms: u64,
        /// Each log's result, in the lesson's order.
        logs: Vec<LessonLogResult>,
        /// Logs that could not run on these targets, and why.
        skipped: Vec<String>,
    },
}

impl Record {
    /// When it happened, ms since the Unix epoch.
    pub fn at_ms(&self) -> u64 {
        match self {
            Record::Decision { entry } => entry.unix_ms,
            Record::Fault { at_ms, .. }
            | Record::Coordinator { at_ms, .. }
            | Record::Membership { at_ms, .. }
            | Record::Operator { at_ms, .. }
            | Record::Lesson { at_ms, .. } => *at_ms,
        }
    }
}

/// What the dashboard draws the world on: fixed for a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Layout {
    /// The scenario's name.
    pub scenario: String,
    /// The road, if the world has one.
    pub highway: Option<HighwaySpec>,
    /// The runways, if the world has an airport.
    pub runways: Vec<String>,
    /// Every role.
    pub roles: Vec<String>,
    /// The controllers' names.
    pub controllers: Vec<String>,
    /// The coordinator's endpoints.
    pub endpoints: Vec<String>,
    /// The controllers' session TTL, ms.
    pub ttl_ms: u64,
    /// The cameras' ids (others found in the coordinator are added as they appear).
    pub cameras: Vec<String>,
}

/// The history: records and frames, each with the sequence number of its arrival.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// What is drawn on.
    pub layout: Layout,
    /// When it started, ms since the Unix epoch.
    pub started_ms: u64,
    seq: u64,
    records: VecDeque<(u64, Record)>,
    frames: VecDeque<(u64, Frame)>,
    latest: Option<(u64, Frame)>,
    dropped_records: u64,
    cameras: BTreeMap<String, CameraState>,
}

impl History {
    /// An empty history of a run drawn on `layout`, started at `started_ms`.
    pub fn new(layout: Layout, started_ms: u64) -> Self {
        Self { layout, started_ms, ..Default::default() }
    }

    /// The sequence number of the latest arrival (0: nothing yet).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Appends a record; returns its sequence number.
    pub fn push(&mut self, record: Record) -> u64 {
        self.seq += 1;
        if self.records.len() == RECORDS_MAX {
            self.records.pop_front();
            self.dropped_records += 1;
        }
        self.records.push_back((self.seq, record));
        self.seq
    }

    /// Takes a world frame: always the latest, and one a second for the replay.
    pub fn frame(&mut self, frame: Frame) -> u64 {
        self.seq += 1;
        let keep = self.frames.back().is_none_or(|(_, last)| frame.at_ms >= last.at_ms + FRAME_EVERY_MS);
        if keep {
            if self.frames.len() == FRAMES_MAX {
                self.frames.pop_front();
            }
            self.frames.push_back((self.seq, frame.clone()));
        }
        self.latest = Some((self.seq, frame));
        self.seq
    }

    /// The records, oldest first.
    pub fn records(&self) -> impl DoubleEndedIterator<Item = &Record> + Clone {
        self.records.iter().map(|(_, r)| r)
    }

    /// Records dropped to keep the cap.
    pub fn dropped_records(&self) -> u64 {
        self.dropped_records
    }

    /// The frame to draw at wall time `at_ms` (None: now): the latest one not after it.
    pub fn frame_at(&self, at_ms: Option<u64>) -> Option<&Frame> {
        match at_ms {
            None => self.latest.as_ref().map(|(_, f)| f),
            Some(at) => {
                if let Some((_, latest)) = &self.latest
                    && latest.at_ms <= at
                {
                    return Some(latest);
                }
                self.frames.iter().rev().map(|(_, f)| f).find(|f| f.at_ms <= at)
            }
        }
    }

    /// Takes a camera's newer frame record (an older or repeated one is ignored: a watch may
    /// deliver what the first read already saw). Returns whether it was new.
    pub fn camera_frame(&mut self, at_ms: u64, record: FrameRecord) -> bool {
        let state = self.cameras.entry(record.camera.clone()).or_default();
        if state.frames.back().is_some_and(|f| f.record.seq >= record.seq) {
            return false;
        }
        if state.frames.len() == CAMERA_FRAMES_MAX {
            state.frames.pop_front();
        }
        let frame = CameraFrame { at_ms, record, truth: None };
        if state.replay.back().is_none_or(|last| at_ms >= last.at_ms + FRAME_EVERY_MS) {
            if state.replay.len() == FRAMES_MAX {
                state.replay.pop_front();
            }
            state.replay.push_back(frame.clone());
        }
        state.frames.push_back(frame);
        self.seq += 1;
        true
    }

    /// Takes the truth of frame `seq` of `camera`, read from blob storage.
    pub fn camera_truth(&mut self, camera: &str, seq: u64, truth: TruthCount) {
        let Some(state) = self.cameras.get_mut(camera) else { return };
        if let Some(frame) = state.replay.iter_mut().rev().find(|f| f.record.seq == seq) {
            frame.truth = Some(truth);
        }
        if let Some(frame) = state.frames.iter_mut().find(|f| f.record.seq == seq) {
            frame.truth = Some(truth);
            self.seq += 1;
        }
    }

    /// Takes a camera's newer analysis result (an older one is ignored).
    pub fn camera_analysis(&mut self, camera: &str, analysis: AnalysisRecord) {
        let state = self.cameras.entry(camera.to_string()).or_default();
        if state.analysis.as_ref().is_some_and(|a| (a.seq, a.token) >= (analysis.seq, analysis.token)) {
            return;
        }
        state.analysis = Some(analysis);
        self.seq += 1;
    }

    /// Takes a camera's calibration: how much road it watches.
    pub fn camera_stretch(&mut self, camera: &str, stretch_m: f64) {
        let state = self.cameras.entry(camera.to_string()).or_default();
        if state.stretch_m != Some(stretch_m) {
            state.stretch_m = Some(stretch_m);
            self.seq += 1;
        }
    }

    /// Every camera seen, by id.
    pub fn cameras(&self) -> &BTreeMap<String, CameraState> {
        &self.cameras
    }

    /// Frame `seq` of `camera`, if it is one of the recent ones remembered or in the replay's
    /// index.
    pub fn camera_frame_at(&self, camera: &str, seq: u64) -> Option<&CameraFrame> {
        let state = self.cameras.get(camera)?;
        state.frames.iter().find(|f| f.record.seq == seq).or_else(|| state.replay.iter().find(|f| f.record.seq == seq))
    }

    /// The frame of `camera` to replay at wall time `at_ms`: the newest in the replay's index
    /// (one a second) not after it. Always from the index, so that a moment replays the same
    /// frame however long ago it was.
    pub fn camera_frame_as_of(&self, camera: &str, at_ms: u64) -> Option<&CameraFrame> {
        self.cameras.get(camera)?.replay.iter().rev().find(|f| f.at_ms <= at_ms)
    }

    /// Wall times of the frames kept for the replay, oldest first.
    pub fn frame_times(&self) -> impl Iterator<Item = u64> + '_ {
        self.frames.iter().map(|(_, f)| f.at_ms)
    }
}
