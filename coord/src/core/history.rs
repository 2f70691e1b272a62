//! The watch history: the most recent change events, kept so that a watcher can resume from
//! any revision it last saw — after a reconnect, or on another node after a leader change.
//!
//! Every replica applies the same entries and so builds the same history; any node can serve a
//! watch. The window is bounded by a number of events. Events of one revision are dropped
//! together, so the history never holds half a revision: asking for a revision at or below the
//! compacted point gets a clear `Compacted` error, never a silent gap.

use std::collections::VecDeque;

use super::event::Event;
use super::path::NodePath;
use super::types::Revision;
use crate::error::CoordError;

/// Default number of events kept.
pub const HISTORY_EVENTS_DEFAULT: usize = 100_000;

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

/// A bounded, revision-ordered window of events.
#[derive(Debug, Clone)]
pub struct WatchHistory {
    events: VecDeque<Event>,
    /// Every event with a revision at or below this one has been dropped.
    compacted_through: Revision,
    events_max: usize,
}

impl WatchHistory {
    /// An empty history keeping at most `events_max` events.
    pub fn new(events_max: usize) -> Self {
        assert!(events_max > 0, "the watch history must keep at least one event");
        Self { events: VecDeque::new(), compacted_through: Revision(0), events_max }
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
        self.events.extend(events);
        self.trim();
    }

    fn trim(&mut self) {
        while self.events.len() > self.events_max {
            let dropped = self.events.pop_front().expect("non-empty").revision;
            while self.events.front().is_some_and(|e| e.revision == dropped) {
                self.events.pop_front();
            }
            self.compacted_through = dropped;
        }
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

    /// Events with revision ≥ `from` matching `filter`, at most about `limit` of them (a
    /// revision is never split), and the revision to continue from; or `Compacted` if part of
    /// that range is gone. `current` is the last applied revision.
    pub fn since(
        &self,
        from: Revision,
        filter: &WatchFilter,
        limit: usize,
        current: Revision,
    ) -> Result<(Vec<Event>, Revision), CoordError> {
        self.check_start(from, current)?;
        let start = self.events.partition_point(|e| e.revision < from);
        let mut out: Vec<Event> = Vec::new();
        for event in self.events.range(start..) {
            if out.len() >= limit && out.last().is_some_and(|last| last.revision != event.revision) {
                return Ok((out, event.revision));
            }
            if filter.matches(event) {
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
