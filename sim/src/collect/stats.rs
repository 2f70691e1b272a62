//! What camera and analyzer processes count, and how they report it: a JSON file rewritten about
//! once a second (`--stats-file`, written to a temporary name and renamed, so a reader never sees
//! half a file), and a `tracing` line when something is dropped or refused.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A camera process's counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CameraStats {
    /// The camera.
    pub camera: String,
    /// Frames rendered from the feed.
    pub frames_rendered: u64,
    /// Frames whose frame and truth are both in blob storage.
    pub frames_stored: u64,
    /// Frames recorded in the coordinator (only stored ones ever are).
    pub frames_recorded: u64,
    /// Bytes written to blob storage (frames and truths).
    pub bytes_to_blob: u64,
    /// Bytes written to the coordinator (record values).
    pub bytes_to_coordinator: u64,
    /// Frames dropped from the bounded queue (oldest first) while storage was slow or down.
    pub frames_dropped: u64,
    /// Scenes the feed skipped because this camera read too slowly.
    pub feed_skipped: u64,
    /// Failed uploads (each retried while the frame is still queued).
    pub upload_errors: u64,
    /// Failed coordinator writes (the frame stays stored, unrecorded, for the janitor).
    pub record_errors: u64,
    /// Frames waiting for storage now.
    pub queued: u64,
    /// The last sequence number recorded.
    pub last_seq: Option<u64>,
    /// Objects the janitor deleted (when this process held the janitor role).
    pub janitor_deleted: u64,
    /// Whether this process is the janitor now.
    pub janitor_primary: bool,
    /// Milliseconds per frame rendered and encoded (the median).
    pub render_ms_p50: f64,
}

/// One analyzed camera's counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnalyzedCamera {
    /// The camera.
    pub camera: String,
    /// Whether this process is its primary now.
    pub primary: bool,
    /// The fencing token of the current (or last) primacy.
    pub token: Option<u64>,
    /// Times this process became primary.
    pub terms: u64,
    /// Frames analysed.
    pub frames_analysed: u64,
    /// Newer frames came before an older one was read: the older ones skipped.
    pub frames_skipped: u64,
    /// Results committed to `/analysis/<camera>`.
    pub results_written: u64,
    /// Results refused because this process no longer held the role.
    pub results_refused: u64,
    /// Blobs missing from storage.
    pub blob_missing: u64,
    /// Blobs whose SHA-256 or size did not match the record (tampered or replaced).
    pub blob_tampered: u64,
    /// Other storage errors (unreachable, foreign URL).
    pub blob_errors: u64,
    /// Bytes that are not an image.
    pub not_image: u64,
    /// Images over the decoded-size limit, or not the size the record says.
    pub too_large: u64,
    /// Records that could not be parsed.
    pub bad_records: u64,
    /// Whether the camera is unknown (no `/cameras/<id>/latest` yet).
    pub unknown_camera: bool,
    /// Capture → committed result, milliseconds, median.
    pub lag_ms_p50: Option<f64>,
    /// Capture → committed result, milliseconds, 99th percentile.
    pub lag_ms_p99: Option<f64>,
    /// The last frame sequence number analysed.
    pub last_seq: Option<u64>,
}

/// An analyzer process's counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnalyzerStats {
    /// The analyzer's name.
    pub name: String,
    /// Sessions opened (more than one: the session was lost and rejoined).
    pub sessions: u64,
    /// Per camera, in the order given.
    pub cameras: Vec<AnalyzedCamera>,
}

/// Writes `value` as JSON to `path` atomically (temporary file, then rename).
pub fn write_json(path: &Path, value: &impl Serialize) {
    let tmp: PathBuf = path.with_extension("tmp");
    let result = serde_json::to_vec_pretty(value)
        .map_err(std::io::Error::other)
        .and_then(|json| std::fs::write(&tmp, json))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), "cannot write the stats file: {e}");
    }
}

/// Bounded samples and their percentiles.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    values: std::collections::VecDeque<f64>,
}

/// Samples kept (the most recent).
pub const SAMPLES_MAX: usize = 10_000;

impl Samples {
    /// Adds one.
    pub fn push(&mut self, value: f64) {
        if self.values.len() == SAMPLES_MAX {
            self.values.pop_front();
        }
        self.values.push_back(value);
    }

    /// The `q` quantile (0..=1), nearest rank; None without samples.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.values.is_empty() {
            return None;
        }
        let mut sorted: Vec<f64> = self.values.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        Some(sorted[rank - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let mut s = Samples::default();
        assert_eq!(s.quantile(0.5), None);
        for v in 1..=100 {
            s.push(f64::from(v));
        }
        assert_eq!(s.quantile(0.5), Some(50.0));
        assert_eq!(s.quantile(0.99), Some(99.0));
        assert_eq!(s.quantile(1.0), Some(100.0));
    }
}
