//! The watch history: the most recent change events, kept so that a watcher can resume from
//! any revision it last saw — after a reconnect, or on another node after a leader change.
//!
//! Every replica applies the same entries and so builds the same history; any node can serve a
//! watch. The window is bounded by a number of events and by their bytes (a few large values
//! must not hold the memory of a hundred thousand small ones). Events of one revision are
//! dropped together, so the history never holds half a revision: asking for a revision at or below the
//! compacted point gets a clear `Compacted` error, never a silent gap.

use std::collections::VecDeque;

use super::event::Event;
use super::path::NodePath;
use super::types::Revision;
use crate::error::CoordError;

/// Default number of events kept.
pub const HISTORY_EVENTS_DEFAULT: usize = 100_000;
/// Default bytes of events kept (paths and values, plus a fixed overhead per event).
pub const HISTORY_BYTES_DEFAULT: usize = 64 * 1024 * 1024;
/// What one event counts for against byte limits besides its path and data: its stat, kind
/// and framing, roughly as encoded on the wire.
pub const EVENT_OVERHEAD_BYTES: usize = 64;

/// The bytes an event counts for against the history's and a watch batch's limits.
pub fn event_bytes(event: &Event) -> usize {
    event.path.as_str().len() + event.data.len() + EVENT_OVERHEAD_BYTES
}

/// Which events a watcher wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchFilter {
    /// The watched path.
    pub path: NodePath,
    /// Also every node below it.
    pub prefix: bool,
}

impl WatchFilter {
    /// Whether the event concerns the watched path (or subtree).
    pub fn matches(&self, event: &Event) -> bool {
        if self.prefix { event.path.is_within(&self.path) } else { event.path == self.path }
    }
}

/// How much the history keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryBounds {
    /// Most events.
    pub events: usize,
    /// Most bytes, by [`event_bytes`].
    pub bytes: usize,
}

impl From<usize> for HistoryBounds {
    /// At most `events` events, and the default bytes.
    fn from(events: usize) -> Self {
        Self { events, bytes: HISTORY_BYTES_DEFAULT }
    }
}

/// How much one watch batch may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimit {
    /// Most events (a revision is never split, so a batch may go over by one revision).
    pub events: usize,
    /// Most bytes, by [`event_bytes`] (likewise).
    pub bytes: usize,
}

impl From<usize> for BatchLimit {
    /// A limit on events only.
    fn from(events: usize) -> Self {
        Self { events, bytes: usize::MAX }
    }
}

/// A bounded, revision-ordered window of events.
#[derive(Debug, Clone)]
pub struct WatchHistory {
    events: VecDeque<Event>,
    /// Every event with a revision at or below this one has been dropped.
    compacted_through: Revision,
    events_max: usize,
    bytes_max: usize,
    /// Bytes of the events kept, by [`event_bytes`].
    bytes: usize,
}

impl WatchHistory {
    /// An empty history keeping at most `events_max` events.
    pub fn new(events_max: usize) -> Self {
        assert!(events_max > 0, "the watch history must keep at least one event");
        Self {
            events: VecDeque::new(),
            compacted_through: Revision(0),
            events_max,
            bytes_max: HISTORY_BYTES_DEFAULT,
            bytes: 0,
        }
    }

    /// The same history bounded by `bytes_max` bytes of events as well (the newest revision is
    /// always kept whole, however large, so that a watcher can still resume right before it).
    pub fn with_bytes_max(mut self, bytes_max: usize) -> Self {
        assert!(bytes_max > 0, "the watch history must keep at least one byte");
        self.bytes_max = bytes_max;
        self.trim();
        self
    }

    /// An empty history for a state restored at `revision`: everything up to it counts as
    /// compacted, because those events are not here.
    pub fn starting_after(revision: Revision, events_max: usize) -> Self {
        let mut history = Self::new(events_max);
        history.compacted_through = revision;
        history
    }

    /// Appends the events of one entry, in order, then drops the oldest whole revisions past the window.
    pub fn extend(&mut self, events: Vec<Event>) {
        if let (Some(last), Some(first)) = (self.events.back(), events.first()) {
            assert!(first.revision > last.revision, "history revisions must increase");
        }
        self.bytes += events.iter().map(event_bytes).sum::<usize>();
        self.events.extend(events);
        self.trim();
    }

    fn over_limit(&self) -> bool {
        self.events.len() > self.events_max || self.bytes > self.bytes_max
    }

    fn trim(&mut self) {
        let newest = self.events.back().map(|e| e.revision);
        while self.over_limit() && self.events.front().map(|e| e.revision) != newest {
            let dropped = self.events.front().expect("non-empty").revision;
            while let Some(event) = self.events.front().filter(|e| e.revision == dropped) {
                self.bytes -= event_bytes(event);
                self.events.pop_front();
            }
            self.compacted_through = dropped;
        }
    }

    /// Bytes of the events kept.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The first revision still fully in the history.
    pub fn oldest(&self) -> Revision {
        Revision(self.compacted_through.0 + 1)
    }

    /// Whether a watch may start at `from`: `Compacted` if history it needs was dropped.
    pub fn check_start(&self, from: Revision, current: Revision) -> Result<(), CoordError> {
        if from <= self.compacted_through {
            return Err(CoordError::Compacted { requested: from.0, oldest: self.oldest().0, current: current.0 });
        }
        Ok(())
    }

    /// Events with revision ≥ `from` matching `filter`, at most about `limit` events and
    /// `limit_bytes` bytes of them (a revision is never split, so one revision larger than the
    /// limits comes whole, alone), and the revision to continue from; or `Compacted` if part of
    /// that range is gone. `current` is the last applied revision.
    pub fn since(
        &self,
        from: Revision,
        filter: &WatchFilter,
        limit: BatchLimit,
        current: Revision,
    ) -> Result<(Vec<Event>, Revision), CoordError> {
        self.check_start(from, current)?;
        let start = self.events.partition_point(|e| e.revision < from);
        let mut out: Vec<Event> = Vec::new();
        let mut bytes = 0;
        for event in self.events.range(start..) {
            let full = out.len() >= limit.events || bytes >= limit.bytes;
            if full && out.last().is_some_and(|last| last.revision != event.revision) {
                return Ok((out, event.revision));
            }
            if filter.matches(event) {
                bytes += event_bytes(event);
                out.push(event.clone());
            }
        }
        Ok((out, Revision(current.0.max(from.0.saturating_sub(1)) + 1)))
    }

    /// Number of events kept.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no events are kept.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}
