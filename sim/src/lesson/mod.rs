//! The lesson "a log in cloud storage vs the coordinator's log".
//!
//! Several writers append the records the lecture describes to three logs: one object in blob
//! storage appended by read-modify-write (the naive way), the same appended with conditional
//! writes and retry, and the coordinator's ordered log. Readers replay each log while it grows,
//! as controllers would, and decide who is primary for each runway. The report counts records
//! written, acknowledged, present and lost, and the readers that contradicted each other (split
//! brains).
//!
//! Under the seeded schedule ([`Schedule::Seeded`]) one I/O step runs at a time, in an order
//! drawn from the seed: a run repeats exactly. Under [`Schedule::Concurrent`] everything runs at
//! once and the report says what happened this time.

pub mod records;
pub mod replay;
pub mod schedule;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use serde::Serialize;
use skyway_coord::CoordError;
use skyway_coord::client::{Client, Consistency, Create};
use skyway_storage::BlobStore;
use skyway_storage::object_log::{AppendMode, IoGate, ObjectLog};

use self::records::Record;
use self::replay::{Observation, Verdict};
use self::schedule::{Gate, SeededSchedule};

/// How the writers' and readers' steps are interleaved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// One step at a time, next actor drawn from the seed: reproducible.
    Seeded,
    /// Real concurrency: what happens depends on this machine and this run.
    Concurrent,
}

/// The lesson's parameters.
#[derive(Debug, Clone)]
pub struct LessonConfig {
    /// Concurrent writers (controllers appending).
    pub writers: usize,
    /// Records each writer appends.
    pub records_per_writer: usize,
    /// Readers replaying the logs while they grow.
    pub readers: usize,
    /// Runways claimed.
    pub runways: usize,
    /// Seed of the scripts and of the seeded schedule.
    pub seed: u64,
    /// How steps are interleaved.
    pub schedule: Schedule,
}

impl Default for LessonConfig {
    fn default() -> Self {
        Self { writers: 8, records_per_writer: 12, readers: 4, runways: 3, seed: 1, schedule: Schedule::Seeded }
    }
}

/// The three logs of the lesson.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    /// One object, read-modify-write.
    NaiveObject,
    /// One object (or numbered objects), conditional writes and retry.
    ConditionalObject,
    /// The coordinator's ordered log.
    Coordinator,
}

impl LogKind {
    /// A short name for tables.
    pub fn title(self) -> &'static str {
        match self {
            LogKind::NaiveObject => "object log, naive",
            LogKind::ConditionalObject => "object log, conditional",
            LogKind::Coordinator => "coordinator log",
        }
    }
}

/// What happened to one log.
#[derive(Debug, Clone, Serialize)]
pub struct LogReport {
    /// Which log.
    pub log: LogKind,
    /// Where it lives and how it is appended.
    pub how: String,
    /// Appends tried.
    pub written: usize,
    /// Appends that reported success.
    pub acknowledged: usize,
    /// Distinct records in the log at the end.
    pub present: usize,
    /// Acknowledged records missing at the end.
    pub lost: usize,
    /// Records present more than once.
    pub duplicated: usize,
    /// Writes that had to be retried (conditional writes refused).
    pub retries: u64,
    /// The first error an append met, if any did.
    pub first_error: Option<String>,
    /// Reads (replays) done by the readers.
    pub reads: usize,
    /// What the readers' conclusions say together.
    pub verdict: Verdict,
    /// Wall-clock time for the writes.
    pub seconds: f64,
    /// Why the result is what it is.
    pub explanation: String,
    /// Every append, writer by writer in the order each wrote: what became of it.
    pub marks: Vec<AppendMark>,
    /// What each reader believed at its last read: who is primary of each runway.
    pub beliefs: Vec<replay::Belief>,
}

/// What became of one append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AppendFate {
    /// Acknowledged, and in the log at the end.
    Kept,
    /// Acknowledged, then missing from the log at the end: the writer was told a lie.
    Lost,
    /// Never acknowledged (the append failed; the writer knows).
    Unacknowledged,
}

/// One append, as a mark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppendMark {
    /// The writer, from 0.
    pub writer: usize,
    /// The record's id.
    pub id: String,
    /// What became of it.
    pub fate: AppendFate,
}

/// The fate of each append: `tried` per writer as `(id, acknowledged)`, judged against the
/// records `present` at the end.
pub fn fates(tried: &[Vec<(String, bool)>], present: &BTreeSet<&str>) -> Vec<AppendMark> {
    let mut marks = Vec::new();
    for (writer, appends) in tried.iter().enumerate() {
        for (id, acknowledged) in appends {
            let fate = match (*acknowledged, present.contains(id.as_str())) {
                (true, true) => AppendFate::Kept,
                (true, false) => AppendFate::Lost,
                (false, _) => AppendFate::Unacknowledged,
            };
            marks.push(AppendMark { writer, id: id.clone(), fate });
        }
    }
    marks
}

/// A log that the lesson can append to and replay.
pub enum LessonLog {
    /// A log in blob storage.
    Object(ObjectLog),
    /// A log in the coordinator: sequential nodes under one parent.
    Coordinator {
        /// The cluster.
        client: Client,
        /// The parent node.
        dir: String,
    },
}

impl LessonLog {
    async fn append(&self, record: &Record, gate: &Gate) -> anyhow::Result<u32> {
        let line = Bytes::from(serde_json::to_vec(record)?);
        match self {
            LessonLog::Object(log) => Ok(log.append(line, gate).await?.attempts),
            LessonLog::Coordinator { client, dir } => {
                let _turn = gate.turn().await;
                let request = Create {
                    path: format!("{dir}/r-"),
                    data: line,
                    sequential: true,
                    make_parents: true,
                    ..Default::default()
                };
                client.create(request).await?;
                Ok(1)
            }
        }
    }

    /// Reads the whole log, top to bottom (records that do not parse are skipped).
    async fn read(&self, gate: &Gate) -> anyhow::Result<Vec<Record>> {
        let _turn = gate.turn().await;
        let lines: Vec<Bytes> = match self {
            LessonLog::Object(log) => log.read().await?.records,
            LessonLog::Coordinator { client, dir } => {
                let mut names = match client.children(dir, Consistency::Linearizable).await {
                    Ok(children) => children.names,
                    Err(CoordError::NotFound { .. }) => Vec::new(),
                    Err(e) => return Err(e.into()),
                };
                // Sequential names sort in the order the leader assigned them.
                names.sort();
                let reads = names.iter().map(|name| {
                    let path = format!("{dir}/{name}");
                    async move { client.get(&path, Consistency::Linearizable).await.map(|r| r.data) }
                });
                futures::future::try_join_all(reads).await?
            }
        };
        Ok(lines.iter().filter_map(|line| serde_json::from_slice(line).ok()).collect())
    }
}

/// Runs writers and readers against `log` and reports what happened.
pub async fn run_log(kind: LogKind, log: LessonLog, how: String, config: &LessonConfig) -> anyhow::Result<LogReport> {
    let writers = records::writer_names(config.writers);
    let runways = records::runway_names(config.runways);
    let log = Arc::new(log);
    let schedule = SeededSchedule::new(config.seed);
    let gate = |id: usize| match config.schedule {
        Schedule::Seeded => Gate::Seeded(schedule.join(id)),
        Schedule::Concurrent => Gate::Free,
    };
    // Every actor joins before any starts, so the first turn waits for all of them.
    let writer_gates: Vec<Gate> = (0..config.writers).map(gate).collect();
    let reader_gates: Vec<Gate> = (0..config.readers).map(|r| gate(config.writers + r)).collect();
    let writers_done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();

    let mut writer_tasks = Vec::new();
    for (name, gate) in writers.iter().zip(writer_gates) {
        let script = records::script(name, &writers, &runways, config.records_per_writer, config.seed);
        let (log, done) = (log.clone(), writers_done.clone());
        writer_tasks.push(tokio::spawn(async move {
            let mut outcome = WriterOutcome::default();
            let mut tried = Vec::new();
            for record in script {
                outcome.written += 1;
                match log.append(&record, &gate).await {
                    Ok(attempts) => {
                        tried.push((record.id.clone(), true));
                        outcome.acknowledged.push(record.id);
                        outcome.retries += u64::from(attempts.saturating_sub(1));
                    }
                    Err(error) => {
                        tried.push((record.id, false));
                        outcome.first_error.get_or_insert_with(|| format!("{error:#}"));
                    }
                }
            }
            outcome.tried.push(tried);
            done.fetch_add(1, Ordering::SeqCst);
            drop(gate); // after counting: a reader's next turn sees this writer done
            outcome
        }));
    }
    let mut reader_tasks = Vec::new();
    for (reader, gate) in reader_gates.into_iter().enumerate() {
        let (log, done, total) = (log.clone(), writers_done.clone(), config.writers);
        let pause = config.schedule == Schedule::Concurrent;
        reader_tasks.push(tokio::spawn(async move {
            let mut observations = Vec::new();
            loop {
                let finished = done.load(Ordering::SeqCst) == total;
                let records = log.read(&gate).await?;
                observations.push(Observation { reader, successions: replay::replay(&records) });
                if finished {
                    return anyhow::Ok(observations);
                }
                if pause {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        }));
    }

    let mut outcome = WriterOutcome::default();
    for task in writer_tasks {
        outcome.merge(task.await?);
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut observations = Vec::new();
    for task in reader_tasks {
        observations.extend(task.await??);
    }
    let final_records = log.read(&Gate::Free).await?;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for record in &final_records {
        *counts.entry(record.id.as_str()).or_default() += 1;
    }
    let present: BTreeSet<&str> = counts.keys().copied().collect();
    let lost = outcome.acknowledged.iter().filter(|id| !present.contains(id.as_str())).count();
    let verdict = replay::judge(&observations);
    let beliefs = replay::beliefs(&observations);
    let mut report = LogReport {
        log: kind,
        how,
        written: outcome.written,
        acknowledged: outcome.acknowledged.len(),
        present: present.len(),
        lost,
        duplicated: counts.values().filter(|n| **n > 1).count(),
        retries: outcome.retries,
        first_error: outcome.first_error,
        reads: observations.len(),
        verdict,
        seconds,
        explanation: String::new(),
        marks: fates(&outcome.tried, &present),
        beliefs,
    };
    report.explanation = explain(&report);
    Ok(report)
}

#[derive(Default)]
struct WriterOutcome {
    written: usize,
    acknowledged: Vec<String>,
    retries: u64,
    first_error: Option<String>,
    /// Per writer, each append's id and whether it was acknowledged, in order.
    tried: Vec<Vec<(String, bool)>>,
}

impl WriterOutcome {
    fn merge(&mut self, other: WriterOutcome) {
        self.tried.extend(other.tried);
        self.written += other.written;
        self.acknowledged.extend(other.acknowledged);
        self.retries += other.retries;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Why a log's result is what it is, in words for students.
fn explain(report: &LogReport) -> String {
    let split = report.verdict.split_brain_runways.len();
    match report.log {
        LogKind::NaiveObject if report.lost > 0 => format!(
            "{} acknowledged records vanished. Blob storage has no append: each writer read the whole log, added its \
             line and wrote the whole log back. Two writers that read the same version each wrote it back with only \
             their own line, and the later write erased the earlier writer's record, which that writer had already \
             been told was appended. {}",
            report.lost,
            if split > 0 {
                format!(
                    "Readers that had seen an erased claim and readers that had not named different primaries for the \
                     same turn of {split} runway(s): each would let a different controller act (split brain)."
                )
            } else {
                "This time no reader happened to act on an erased claim; run again with other seeds.".to_string()
            }
        ),
        LogKind::NaiveObject => "No record was lost this time: no two writers overlapped between read and write. \
            The race is still there; more writers, another seed or real concurrency will show it."
            .to_string(),
        LogKind::ConditionalObject => format!(
            "A write was refused whenever the log had changed since the writer read it ({} times); the writer read \
             again and retried. So no acknowledged record was lost and every read was a prefix of later ones: \
             readers agree. But this log still cannot say who is alive: \"B thinks A crashed\" is an opinion, and A \
             may be running and acting. Conditional writes stop lost updates; only agreed membership and sessions \
             (the coordinator) decide who is alive.",
            report.retries
        ),
        LogKind::Coordinator => "Each append is one Raft entry, ordered by the leader and fsynced on a majority of \
            nodes before it is acknowledged, so no acknowledged record is lost and every reader sees a prefix of one \
            history. With sessions the coordinator, not an opinion, decides that a controller has failed: its \
            session expires in a committed entry that every node and client sees in the same place, and fencing \
            tokens stop the old primary's late commands."
            .to_string(),
    }
}

/// Where the lesson runs.
pub struct LessonTargets {
    /// The store for the object logs.
    pub store: BlobStore,
    /// A prefix for this run's objects.
    pub prefix: String,
    /// The coordinator, if the coordinator log is to run.
    pub coordinator: Option<Client>,
}

/// A log the lesson could not run on these targets, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// Which log.
    pub log: LogKind,
    /// Why.
    pub why: String,
}

/// Runs all three logs (those the targets allow) and returns their reports, in order, and the
/// logs skipped.
pub async fn run_lesson(
    targets: &LessonTargets,
    config: &LessonConfig,
) -> anyhow::Result<(Vec<LogReport>, Vec<Skipped>)> {
    let mut reports = Vec::new();
    let mut skipped = Vec::new();
    let store = &targets.store;
    for (kind, mode) in
        [(LogKind::NaiveObject, AppendMode::ReadModifyWrite), (LogKind::ConditionalObject, AppendMode::Conditional)]
    {
        let key =
            format!("{}/{}.log", targets.prefix, if kind == LogKind::NaiveObject { "naive" } else { "conditional" });
        match ObjectLog::new(store.clone(), key, mode) {
            Ok(log) => {
                let how = format!("{} at {} ({})", log.layout().describe(), log.url(), store.backend());
                reports.push(run_log(kind, LessonLog::Object(log), how, config).await?);
            }
            Err(error) => skipped.push(Skipped { log: kind, why: error.to_string() }),
        }
    }
    if let Some(client) = &targets.coordinator {
        let dir = format!("/lessons/{}", targets.prefix);
        let how = format!("sequential nodes under {dir} on {}", client.endpoints().join(","));
        let log = LessonLog::Coordinator { client: client.clone(), dir };
        reports.push(run_log(LogKind::Coordinator, log, how, config).await.context("coordinator log")?);
    }
    Ok((reports, skipped))
}
