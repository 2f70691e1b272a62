//! The log's newest entries, kept beside the log thread so that the reads openraft makes on
//! every write — replicating an entry to followers that keep up, applying it once committed —
//! are answered on the caller's thread from memory, without a round trip to the log thread.
//!
//! Invariant: the entries held are a contiguous suffix of the log as the log thread will have
//! it once it has served every request sent so far. The store keeps it so by updating this
//! cache in the same async call that sends the change: an append pushes its entries, a
//! truncation drops those it removes, a purge those it purges. A read is served here only if
//! it starts at or after the oldest entry held (then everything up to the log's end is here);
//! any other read goes to the log thread, which may read it from disk.
//!
//! Bounded by entries and bytes ([`RECENT_ENTRIES_MAX`], [`RECENT_BYTES_MAX`]): the oldest go
//! first. A follower more than that far behind is read from the log thread.

use std::collections::VecDeque;

use openraft::EntryPayload;
use openraft::entry::RaftEntry;

use super::Entry;

/// Entries held at most: several seconds of writes at the rates measured, far more than a
/// follower that keeps up is ever behind.
pub const RECENT_ENTRIES_MAX: usize = 8192;
/// Payload bytes held at most (approximate, as the payload cache counts them).
pub const RECENT_BYTES_MAX: usize = 32 * 1024 * 1024;

/// The newest entries of the log, oldest first.
#[derive(Debug, Default)]
pub(crate) struct RecentEntries {
    entries: VecDeque<Entry>,
    bytes: usize,
}

/// Roughly how many bytes an entry holds.
fn entry_bytes(entry: &Entry) -> usize {
    match &entry.payload {
        EntryPayload::Normal(proposal) => 96 + proposal.command.approximate_bytes(),
        _ => 64,
    }
}

impl RecentEntries {
    /// Entries `from..to`, if every one of them that the log holds is here.
    pub(crate) fn read(&self, from: u64, to: u64) -> Option<Vec<Entry>> {
        let first = self.entries.front()?.index();
        if from < first {
            return None;
        }
        let start = usize::try_from(from - first).ok()?.min(self.entries.len());
        let end = usize::try_from(to.saturating_sub(first)).unwrap_or(usize::MAX).clamp(start, self.entries.len());
        Some(self.entries.range(start..end).cloned().collect())
    }

    /// Appends entries that follow the newest held (after a truncation, any may follow: the
    /// log's own order is openraft's to keep, and a gap empties the cache rather than hold one).
    pub(crate) fn append(&mut self, entries: &[Entry]) {
        for entry in entries {
            if self.entries.back().is_some_and(|last| last.index() + 1 != entry.index()) {
                self.clear();
            }
            self.bytes += entry_bytes(entry);
            self.entries.push_back(entry.clone());
        }
        while self.entries.len() > RECENT_ENTRIES_MAX || (self.bytes > RECENT_BYTES_MAX && self.entries.len() > 1) {
            self.pop_front();
        }
    }

    /// Drops the entries at and after `from`.
    pub(crate) fn truncate(&mut self, from: u64) {
        while self.entries.back().is_some_and(|last| last.index() >= from) {
            if let Some(entry) = self.entries.pop_back() {
                self.bytes -= entry_bytes(&entry);
            }
        }
    }

    /// Drops the entries up to and including `upto`.
    pub(crate) fn purge(&mut self, upto: u64) {
        while self.entries.front().is_some_and(|first| first.index() <= upto) {
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        if let Some(entry) = self.entries.pop_front() {
            self.bytes -= entry_bytes(&entry);
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::TypeConfig;

    fn blank(index: u64) -> Entry {
        openraft::testing::blank_ent::<TypeConfig>(1, 1, index)
    }

    fn indexes(entries: Option<Vec<Entry>>) -> Option<Vec<u64>> {
        entries.map(|e| e.iter().map(|e| e.index()).collect())
    }

    fn holding(range: std::ops::Range<u64>) -> RecentEntries {
        let mut recent = RecentEntries::default();
        recent.append(&range.map(blank).collect::<Vec<_>>());
        recent
    }

    #[test]
    fn a_read_from_the_oldest_held_is_served_and_one_before_it_is_not() {
        let recent = holding(10..20);
        assert_eq!(indexes(recent.read(10, 12)), Some(vec![10, 11]));
        assert_eq!(indexes(recent.read(18, u64::MAX)), Some(vec![18, 19]));
        assert_eq!(indexes(recent.read(25, 30)), Some(vec![]), "past the log's end: nothing, known here");
        assert_eq!(recent.read(9, 12).map(|e| e.len()), None, "entry 9 may be on disk");
        assert_eq!(RecentEntries::default().read(0, 1).map(|e| e.len()), None, "nothing held: ask the log");
    }

    #[test]
    fn truncation_and_purge_keep_a_suffix_of_the_log() {
        let mut recent = holding(10..20);
        recent.truncate(15);
        assert_eq!(indexes(recent.read(10, u64::MAX)), Some(vec![10, 11, 12, 13, 14]));
        recent.append(&[blank(15)]);
        recent.purge(12);
        assert_eq!(indexes(recent.read(13, u64::MAX)), Some(vec![13, 14, 15]));
        assert_eq!(recent.read(12, u64::MAX).map(|e| e.len()), None);
    }

    #[test]
    fn a_gap_empties_the_cache_and_the_bound_drops_the_oldest() {
        let mut recent = holding(10..20);
        recent.append(&[blank(30)]);
        assert_eq!(indexes(recent.read(30, u64::MAX)), Some(vec![30]));
        assert_eq!(recent.read(19, u64::MAX).map(|e| e.len()), None);

        let recent = holding(0..RECENT_ENTRIES_MAX as u64 + 5);
        assert_eq!(recent.read(4, 5).map(|e| e.len()), None, "the oldest five were dropped");
        assert_eq!(indexes(recent.read(5, 6)), Some(vec![5]));
    }
}
