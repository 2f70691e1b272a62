//! The actuator's audit trail: every decision, durable before it takes effect, in bounded
//! segments on disk and a bounded tail in memory, read in pages.
//!
//! Each line is the decision's JSON, a tab and the CRC-32 of that JSON in hex: a flipped bit
//! on disk is then a corrupt line, never a different decision (a changed token or verdict that
//! still parses). Lines without a checksum, as older versions wrote them, are still read.
//!
//! # Segments
//!
//! The trail is a directory of segments: the active one, `audit.jsonl`, which decisions are
//! appended to, and sealed ones, `audit.<first seq>.jsonl`. When the active segment reaches
//! [`TrailLimits::segment_bytes_max`] it is sealed (renamed) and a new one begun; only the
//! newest [`TrailLimits::segments_kept_max`] sealed segments are kept. Every active segment
//! begins with a header line carrying the sequence number of its first decision and the floor
//! of every role at that point, so the floors an actuator restores on restart do not depend on
//! the segments that were deleted: they are the header's floors raised by the decisions after
//! it. An actuator that opens a segment without a header (an older trail, or a crash between
//! sealing and starting the next) seals it and begins a headed one.
//!
//! # Sequence numbers and pages
//!
//! Every decision has a sequence number, its position in the whole trail (not written in its
//! line: the header's first number plus its place in the segment). Readers ask for a page from a
//! sequence number; the newest [`TrailLimits::memory_entries_max`] decisions are served from
//! memory, older ones from the kept segments, and anything older still is a clear error naming
//! the oldest decision kept.
//!
//! Caveats: sealing renames a file and syncs the directory; a failure there is logged and the
//! trail keeps appending to the active segment (retried on the next decision), so rotation
//! never fails a decision. Reading pages from sealed segments reads whole segment files.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fencing::Floors;
use crate::proto::AuditEntry;

/// The active segment's file name.
pub const ACTIVE_SEGMENT: &str = "audit.jsonl";
/// Default for the size at which the active segment is sealed: 4 MiB (about 30,000 decisions).
pub const SEGMENT_BYTES_DEFAULT: u64 = 4 * 1024 * 1024;
/// Default for how many sealed segments are kept.
pub const SEGMENTS_KEPT_DEFAULT: usize = 8;
/// Default for how many of the newest decisions are kept in memory.
pub const MEMORY_ENTRIES_DEFAULT: usize = 10_000;
/// Most decisions in one page (a request may ask for fewer).
pub const PAGE_ENTRIES_MAX: usize = 1_000;

/// The trail's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrailLimits {
    /// Bytes at which the active segment is sealed and a new one begun.
    pub segment_bytes_max: u64,
    /// Sealed segments kept; older ones are deleted.
    pub segments_kept_max: usize,
    /// Newest decisions kept in memory (older pages are read from disk).
    pub memory_entries_max: usize,
}

impl Default for TrailLimits {
    fn default() -> Self {
        Self {
            segment_bytes_max: SEGMENT_BYTES_DEFAULT,
            segments_kept_max: SEGMENTS_KEPT_DEFAULT,
            memory_entries_max: MEMORY_ENTRIES_DEFAULT,
        }
    }
}

impl TrailLimits {
    /// Checks that every bound is positive.
    pub fn validate(&self) -> Result<()> {
        let bad = |why: &str| Err(Error::BadConfig(why.to_string()));
        if self.segment_bytes_max == 0 {
            return bad("--audit-segment-bytes-max must be positive");
        }
        if self.segments_kept_max == 0 {
            return bad("--audit-segments-kept-max must be at least 1: the sealed segment before the active one");
        }
        if self.memory_entries_max == 0 {
            return bad("--audit-memory-entries-max must be positive");
        }
        Ok(())
    }
}

/// One page of the trail.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuditPage {
    /// Decisions in order (only the role asked for, if one was).
    pub entries: Vec<AuditEntry>,
    /// Where the next page starts, or `None` if this page ends the trail.
    pub next: Option<u64>,
    /// The sequence number of the oldest decision kept.
    pub oldest: u64,
}

/// The first line of a segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    segment: HeaderBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderBody {
    /// Sequence number of the segment's first decision.
    first_seq: u64,
    /// Every role's floor when the segment was begun.
    floors: BTreeMap<String, u64>,
}

/// A segment as read from disk.
#[derive(Debug, Default)]
struct Segment {
    header: Option<HeaderBody>,
    entries: Vec<AuditEntry>,
}

/// The trail of one actuator.
pub struct Trail {
    dir: PathBuf,
    limits: TrailLimits,
    active: File,
    active_bytes: u64,
    /// Sequence number of the active segment's first decision.
    active_first: u64,
    /// Kept sealed segments, oldest first: (first sequence number, path).
    sealed: Vec<(u64, PathBuf)>,
    /// The newest decisions, at most `memory_entries_max`.
    recent: VecDeque<AuditEntry>,
    next_seq: u64,
}

impl Trail {
    /// Opens the trail in `dir` (created if missing) and returns it with the floors it
    /// restores: each segment's header floors, raised by every accepted decision after them.
    pub fn open(dir: &Path, limits: TrailLimits) -> Result<(Self, Floors)> {
        limits.validate()?;
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        let mut sealed = sealed_segments(dir)?;
        let mut restored = Restored { memory_entries_max: limits.memory_entries_max, ..Restored::default() };
        for (first_seq, path) in &sealed {
            let mut segment = read_segment(path)?;
            // A sealed segment's name says where it starts, whether or not it has a header.
            segment.header.get_or_insert_with(|| HeaderBody { first_seq: *first_seq, floors: BTreeMap::new() });
            restored.fold(segment);
        }
        let active_path = dir.join(ACTIVE_SEGMENT);
        let active = read_segment(&active_path)?;
        let header_first = active.header.as_ref().map(|h| h.first_seq);
        let had_entries = !active.entries.is_empty();
        let unheaded_first = restored.next_seq;
        restored.fold(active);
        let Restored { floors, recent, next_seq, .. } = restored;
        if header_first.is_none() && had_entries {
            // An older trail, or a crash between sealing and beginning: seal it as it is.
            let to = dir.join(sealed_name(unheaded_first));
            std::fs::rename(&active_path, &to).map_err(io("seal", &active_path))?;
            sealed.push((unheaded_first, to));
        }
        let (active, active_bytes, active_first) = match header_first {
            Some(first) => {
                let file = OpenOptions::new().append(true).open(&active_path).map_err(io("open", &active_path))?;
                let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
                (file, bytes, first)
            }
            None => {
                let (file, bytes) = begin_segment(&active_path, next_seq, &floors)?;
                (file, bytes, next_seq)
            }
        };
        let mut trail =
            Self { dir: dir.to_path_buf(), limits, active, active_bytes, active_first, sealed, recent, next_seq };
        trail.delete_old_segments();
        Ok((trail, floors))
    }

    /// The active segment's path.
    pub fn active_path(&self) -> PathBuf {
        self.dir.join(ACTIVE_SEGMENT)
    }

    /// Appends a decision durably (written and fsynced before this returns) and gives it its
    /// sequence number. Blocking.
    pub fn append(&mut self, mut entry: AuditEntry) -> Result<AuditEntry> {
        let line = trail_line(&entry);
        let path = self.active_path();
        self.active.write_all(&line).map_err(io("write", &path))?;
        self.active.sync_data().map_err(io("sync", &path))?;
        self.active_bytes += line.len() as u64;
        entry.seq = self.next_seq;
        self.next_seq += 1;
        push_bounded(&mut self.recent, entry.clone(), self.limits.memory_entries_max);
        Ok(entry)
    }

    /// Seals the active segment if it has reached its size and begins the next with `floors`
    /// (which must include every decision appended so far). A failure is logged, not returned:
    /// the decisions are durable either way, and the next call tries again.
    pub fn maybe_rotate(&mut self, floors: &Floors) {
        if self.active_bytes < self.limits.segment_bytes_max {
            return;
        }
        if let Err(e) = self.rotate(floors) {
            tracing::warn!(dir = %self.dir.display(), "cannot rotate the audit trail (will retry): {e:#}");
        }
    }

    fn rotate(&mut self, floors: &Floors) -> Result<()> {
        let first = self.active_first;
        let active_path = self.active_path();
        let to = self.dir.join(sealed_name(first));
        std::fs::rename(&active_path, &to).map_err(io("seal", &active_path))?;
        self.sealed.push((first, to));
        let (file, bytes) = begin_segment(&active_path, self.next_seq, floors)?;
        self.active = file;
        self.active_bytes = bytes;
        self.active_first = self.next_seq;
        tracing::info!(dir = %self.dir.display(), sealed_from = first, next = self.next_seq, "audit trail rotated");
        self.delete_old_segments();
        Ok(())
    }

    fn delete_old_segments(&mut self) {
        while self.sealed.len() > self.limits.segments_kept_max {
            let (first, path) = self.sealed.remove(0);
            match std::fs::remove_file(&path) {
                Ok(()) => tracing::info!(path = %path.display(), first, "deleted the oldest audit segment"),
                Err(e) => tracing::warn!(path = %path.display(), "cannot delete an old audit segment: {e}"),
            }
        }
    }

    /// The sequence number of the oldest decision kept (on disk or in memory).
    pub fn oldest_seq(&self) -> u64 {
        self.sealed.first().map_or(self.active_first, |(first, _)| *first)
    }

    /// One page: at most `limit` decisions (0, or more than [`PAGE_ENTRIES_MAX`]: that many)
    /// for `role` (every role if empty) from sequence number `from` on (0: the oldest kept).
    pub fn page(&self, role: &str, from: u64, limit: usize) -> Result<AuditPage> {
        let limit = if limit == 0 { PAGE_ENTRIES_MAX } else { limit.min(PAGE_ENTRIES_MAX) };
        let oldest = self.oldest_seq();
        if from != 0 && from < oldest {
            return Err(Error::Compacted {
                from,
                oldest,
                segments_kept_max: self.limits.segments_kept_max,
                segment_bytes_max: self.limits.segment_bytes_max,
            });
        }
        let from = from.max(oldest);
        let in_memory = self.recent.front().is_some_and(|e| e.seq <= from) || self.recent.is_empty();
        let mut page = AuditPage { oldest, ..AuditPage::default() };
        let take = |entry: &AuditEntry, page: &mut AuditPage| -> bool {
            if entry.seq < from || !(role.is_empty() || entry.role == role) {
                return true;
            }
            if page.entries.len() == limit {
                page.next = Some(entry.seq);
                return false;
            }
            page.entries.push(entry.clone());
            true
        };
        if in_memory {
            for entry in &self.recent {
                if !take(entry, &mut page) {
                    break;
                }
            }
            return Ok(page);
        }
        // From disk: the sealed segments that may hold `from` onwards, then the active one.
        let mut paths: Vec<(u64, PathBuf)> = self.sealed.clone();
        paths.push((self.active_first, self.active_path()));
        let start = paths.iter().rposition(|(first, _)| *first <= from).unwrap_or(0);
        for (first, path) in &paths[start..] {
            let segment = read_segment(path)?;
            let first = segment.header.as_ref().map_or(*first, |h| h.first_seq);
            for (i, mut entry) in segment.entries.into_iter().enumerate() {
                entry.seq = first + i as u64;
                if !take(&entry, &mut page) {
                    return Ok(page);
                }
            }
        }
        Ok(page)
    }

    /// The decisions kept in memory, oldest first.
    pub fn recent(&self) -> impl Iterator<Item = &AuditEntry> {
        self.recent.iter()
    }
}

/// What reading the segments in order has rebuilt so far.
#[derive(Default)]
struct Restored {
    floors: Floors,
    recent: VecDeque<AuditEntry>,
    next_seq: u64,
    memory_entries_max: usize,
}

impl Restored {
    /// Takes in the next segment: its header's floors and numbering, then its decisions.
    fn fold(&mut self, segment: Segment) {
        if let Some(header) = segment.header {
            self.next_seq = self.next_seq.max(header.first_seq);
            header.floors.iter().for_each(|(role, floor)| self.floors.raise(role, *floor));
        }
        for mut entry in segment.entries {
            entry.seq = self.next_seq;
            self.next_seq += 1;
            if entry.accepted {
                self.floors.raise(&entry.role, entry.token);
            }
            push_bounded(&mut self.recent, entry, self.memory_entries_max);
        }
    }
}

fn push_bounded(recent: &mut VecDeque<AuditEntry>, entry: AuditEntry, max: usize) {
    if recent.len() == max {
        recent.pop_front();
    }
    recent.push_back(entry);
}

/// `audit.<first seq, 20 digits>.jsonl`: names sort in log order.
fn sealed_name(first_seq: u64) -> String {
    format!("audit.{first_seq:020}.jsonl")
}

/// The sealed segments in `dir`, oldest first.
fn sealed_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for item in std::fs::read_dir(dir).map_err(io("list", dir))? {
        let item = item.map_err(io("list", dir))?;
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        let first = name.strip_prefix("audit.").and_then(|rest| rest.strip_suffix(".jsonl"));
        if let Some(first) = first.and_then(|digits| digits.parse::<u64>().ok()) {
            out.push((first, item.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Creates a new active segment whose first line is its header; synced, file and directory.
fn begin_segment(path: &Path, first_seq: u64, floors: &Floors) -> Result<(File, u64)> {
    let header = Header {
        segment: HeaderBody {
            first_seq,
            floors: floors.iter().map(|(role, floor)| (role.to_string(), floor)).collect(),
        },
    };
    let line = checksummed(serde_json::to_vec(&header).expect("a header is always JSON"));
    let mut file = OpenOptions::new().create(true).truncate(true).write(true).open(path).map_err(io("create", path))?;
    file.write_all(&line).and_then(|()| file.sync_all()).map_err(io("write", path))?;
    if let Some(dir) = path.parent() {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io("sync", dir))?;
    }
    Ok((file, line.len() as u64))
}

/// One line of the trail: the entry's JSON, a tab, its CRC-32 in hex, a newline.
fn trail_line(entry: &AuditEntry) -> Vec<u8> {
    checksummed(serde_json::to_vec(entry).expect("a decision is always JSON"))
}

/// Names the file an I/O error happened on, and what was being done.
fn io(doing: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |error| Error::TrailIo { doing, path, error }
}

fn checksummed(mut line: Vec<u8>) -> Vec<u8> {
    let crc = crc32fast::hash(&line);
    line.extend_from_slice(format!("\t{crc:08x}\n").as_bytes());
    line
}

/// A line's content, or why it is not one (the reason of a [`Error::TrailCorrupt`]).
fn checked_json(line: &[u8]) -> Result<&[u8], String> {
    match line.iter().rposition(|&b| b == b'\t') {
        Some(tab) => {
            let (json, crc) = (&line[..tab], &line[tab + 1..]);
            let written = std::str::from_utf8(crc).ok().and_then(|hex| u32::from_str_radix(hex, 16).ok());
            let actual = crc32fast::hash(json);
            if crc.len() != 8 || written != Some(actual) {
                return Err(format!(
                    "its checksum {:?} does not match its content (crc32 {actual:08x})",
                    String::from_utf8_lossy(crc)
                ));
            }
            Ok(json)
        }
        None => Ok(line),
    }
}

/// One line: a segment header or a decision.
enum Line {
    Header(HeaderBody),
    Entry(AuditEntry),
}

fn parse_line(line: &[u8]) -> Result<Line, String> {
    let json = checked_json(line)?;
    if let Ok(header) = serde_json::from_slice::<Header>(json) {
        return Ok(Line::Header(header.segment));
    }
    serde_json::from_slice::<AuditEntry>(json).map(Line::Entry).map_err(|e| e.to_string())
}

/// Reads one segment; a torn last line (a crash mid-write, never acknowledged: no newline yet)
/// is ignored. Any other line that is not a whole, checksummed decision (or the first line's
/// header) is an error naming the line: the floors cannot be rebuilt from a damaged trail, and
/// guessing could obey a stale primary.
fn read_segment(path: &Path) -> Result<Segment> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Segment::default()),
        Err(e) => return Err(io("read", path)(e)),
    };
    // Lines as bytes: a flipped bit may leave invalid UTF-8, which is corruption like any other.
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|last| last.is_empty()) {
        lines.pop();
    }
    // Only a last line without its newline can be torn: the newline is written with the line.
    let torn = if bytes.ends_with(b"\n") { None } else { Some(lines.len().saturating_sub(1)) };
    let mut segment = Segment { header: None, entries: Vec::with_capacity(lines.len()) };
    for (i, line) in lines.iter().enumerate() {
        // A line without its newline was never wholly written, so never acknowledged: ignored
        // even when it parses (cut at its tab, it would read as a line from before checksums,
        // and a flipped bit in it would go unnoticed).
        if Some(i) == torn {
            tracing::warn!("ignoring a torn last line in {}", path.display());
            continue;
        }
        match parse_line(line) {
            Ok(Line::Header(header)) if i == 0 => segment.header = Some(header),
            Ok(Line::Entry(entry)) => segment.entries.push(entry),
            Ok(Line::Header(_)) => {
                let reason = "a segment header after the first line".to_string();
                return Err(Error::TrailCorrupt { path: path.to_path_buf(), line: i + 1, reason });
            }
            Err(reason) => return Err(Error::TrailCorrupt { path: path.to_path_buf(), line: i + 1, reason }),
        }
    }
    Ok(segment)
}

/// Reads one segment file's decisions, numbered from its header (from 0 without one); its
/// header is not a decision and is left out. See [`Trail`] for the rules.
pub fn read_trail(path: &Path) -> Result<Vec<AuditEntry>> {
    let segment = read_segment(path)?;
    let first = segment.header.map_or(0, |h| h.first_seq);
    Ok(segment
        .entries
        .into_iter()
        .enumerate()
        .map(|(i, mut entry)| {
            entry.seq = first + i as u64;
            entry
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actuator::{Actuator, CLAIM};

    const SMALL: TrailLimits = TrailLimits { segment_bytes_max: 600, segments_kept_max: 2, memory_entries_max: 5 };

    fn segment_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    /// Runway 07's only claim is in the first segment, long deleted when the actuator restarts:
    /// its floor comes back from the headers, and its stale primary is still refused.
    #[test]
    fn rotation_keeps_bounded_segments_and_every_floor_survives_it() {
        let dir = tempfile::tempdir().unwrap();
        {
            let actuator = Actuator::open_with(dir.path(), SMALL, None).unwrap();
            assert!(actuator.decide("runway/07", "A", 30, CLAIM).unwrap().accepted);
            for token in 1..=60 {
                actuator.decide("segment/12", "B", token, "speed limit 80").unwrap();
            }
            assert!(!actuator.decide("runway/07", "C", 29, "lights on").unwrap().accepted);
            let files = segment_files(dir.path());
            assert!(files.len() <= 3, "the active segment and at most two sealed ones: {files:?}");
            assert!(files.contains(&ACTIVE_SEGMENT.to_string()), "{files:?}");
            let state = actuator.audit_page("", 0, 0).unwrap();
            assert!(state.oldest > 0, "the oldest decisions were rotated out");
        }
        let restarted = Actuator::open_with(dir.path(), SMALL, None).unwrap();
        let late = restarted.decide("runway/07", "A", 29, "clear to land").unwrap();
        assert!(!late.accepted, "runway 07's floor was lost with its segment");
        assert_eq!(late.floor, 30);
        assert_eq!(restarted.decide("segment/12", "B", 60, "speed limit 60").unwrap().floor, 60);
        assert!(!restarted.decide("segment/12", "B", 59, "speed limit 100").unwrap().accepted);
    }

    #[test]
    fn memory_holds_only_the_newest_decisions_and_pages_reach_the_older_ones_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let limits = TrailLimits { segment_bytes_max: 600, segments_kept_max: 8, memory_entries_max: 5 };
        let actuator = Actuator::open_with(dir.path(), limits, None).unwrap();
        for token in 1..=20 {
            actuator.decide(if token % 2 == 0 { "segment/12" } else { "runway/07" }, "A", token, "go").unwrap();
        }
        {
            // What a restart keeps in memory: the newest five.
            let (trail, _) = Trail::open(dir.path(), limits).unwrap();
            let recent: Vec<u64> = trail.recent().map(|e| e.seq).collect();
            assert_eq!(recent, [15, 16, 17, 18, 19]);
        }
        // Pages of 3 from the start: contiguous sequence numbers, partly from disk.
        let mut seqs = Vec::new();
        let mut from = 0;
        loop {
            let page = actuator.audit_page("", from, 3).unwrap();
            assert!(page.entries.len() <= 3);
            assert_eq!(page.oldest, 0);
            seqs.extend(page.entries.iter().map(|e| e.seq));
            match page.next {
                Some(next) => from = next,
                None => break,
            }
        }
        assert_eq!(seqs, (0..20).collect::<Vec<_>>());
        let tokens: Vec<u64> = actuator.audit("segment/12").iter().map(|e| e.token).collect();
        assert_eq!(tokens, (1..=10).map(|t| t * 2).collect::<Vec<_>>(), "a role's decisions, across segments");
    }

    #[test]
    fn reading_before_the_oldest_kept_decision_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let actuator = Actuator::open_with(dir.path(), SMALL, None).unwrap();
        for token in 1..=60 {
            actuator.decide("segment/12", "B", token, "speed limit 80").unwrap();
        }
        let oldest = actuator.audit_page("", 0, 1).unwrap().oldest;
        assert!(oldest > 1);
        let error = format!("{:#}", actuator.audit_page("", oldest - 1, 0).unwrap_err());
        assert!(error.contains(&format!("read from #{oldest}")), "{error}");
        let kept = actuator.audit("");
        assert_eq!(kept.first().map(|e| e.seq), Some(oldest));
        assert_eq!(kept.last().map(|e| e.seq), Some(59));
    }

    #[test]
    fn a_trail_without_headers_is_sealed_and_continued_with_its_floors() {
        let dir = tempfile::tempdir().unwrap();
        // An older actuator's trail: checksummed lines, no header.
        let entry = |token: u64| AuditEntry {
            unix_ms: 1,
            role: "runway/07".into(),
            controller: "A".into(),
            token,
            action: CLAIM.into(),
            accepted: true,
            floor: token,
            seq: 0,
        };
        let mut old = trail_line(&entry(7));
        old.extend(trail_line(&entry(9)));
        std::fs::write(dir.path().join(ACTIVE_SEGMENT), old).unwrap();
        let actuator = Actuator::open_with(dir.path(), SMALL, None).unwrap();
        assert_eq!(segment_files(dir.path()), [sealed_name(0), ACTIVE_SEGMENT.to_string()]);
        assert!(!actuator.decide("runway/07", "B", 8, "lights on").unwrap().accepted);
        let seqs: Vec<u64> = actuator.audit("").iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [0, 1, 2]);
    }
}
