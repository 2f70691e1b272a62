//! What cameras and analyzers keep in the coordinator, and where: the one place that names the
//! paths, roles, object keys and JSON records, so that the dashboard and the controllers read
//! exactly what the cameras and analyzers write.
//!
//! The rule (DESIGN.md, invariant 6): frame bytes live in blob storage; the coordinator holds
//! only small records that point at them ([`BlobRef`]: URL, SHA-256, size). A camera writes a
//! record only after the frame and its truth are stored, so every URL in the coordinator names
//! an object that exists (until the janitor's retention window passes, and never the one
//! `latest` names).
//!
//! | coordinator path | value | writer |
//! | --- | --- | --- |
//! | `/cameras/<id>/latest` | [`FrameRecord`] JSON | the camera, after both uploads |
//! | `/cameras/<id>/calibration` | [`Calibration`] JSON | the camera, once (and when it changes) |
//! | `/cameras/<id>/index` | [`FrameIndex`] JSON (the last [`INDEX_MAX`] frames) | the camera, same transaction |
//! | `/analysis/<id>` | [`AnalysisRecord`] JSON | the `analyze/<id>` primary, in a transaction that checks its candidate node |
//! | `/roles/analyze/<id>/c-…` | the analyzer's name | the election recipe |
//! | `/roles/collector/janitor/c-…` | the janitor's name | the election recipe |
//!
//! Object keys (relative to the store's root): `frames/<id>/<wall_ms:013>-<seq:010>.<jpg|png>`
//! and the truth beside it, `….truth.json`. The capture's wall time leads the name so that the
//! janitor can tell a frame's age from a listing alone.
//!
//! Caveats: the `BlobRef` type is defined here, not taken from `skyway-storage`, so that this
//! pure crate has no I/O dependency; it serializes to the same JSON (`url`, `sha256`, `size`).

use serde::{Deserialize, Serialize};

use crate::analysis::result::AnalysisResult;
use crate::codec::Format;
use crate::scene::CameraSpec;

/// Below this, one node per camera.
pub const CAMERAS: &str = "/cameras";
/// Below this, one result node per camera.
pub const ANALYSIS: &str = "/analysis";
/// The object-key prefix of every frame.
pub const FRAMES_PREFIX: &str = "frames";
/// How many recent frames the index keeps.
pub const INDEX_MAX: usize = 16;
/// The janitor's role.
pub const JANITOR_ROLE: &str = "collector/janitor";
/// Longest camera id accepted (it goes into paths and keys).
pub const CAMERA_ID_MAX: usize = 32;

/// `/cameras/<id>/latest`.
pub fn latest_path(camera: &str) -> String {
    format!("{CAMERAS}/{camera}/latest")
}

/// `/cameras/<id>/index`.
pub fn index_path(camera: &str) -> String {
    format!("{CAMERAS}/{camera}/index")
}

/// `/cameras/<id>/calibration`.
pub fn calibration_path(camera: &str) -> String {
    format!("{CAMERAS}/{camera}/calibration")
}

/// `/analysis/<id>`.
pub fn analysis_path(camera: &str) -> String {
    format!("{ANALYSIS}/{camera}")
}

/// The election role of the analyzer of `camera`: `analyze/<id>`.
pub fn analyze_role(camera: &str) -> String {
    format!("analyze/{camera}")
}

/// The key prefix of one camera's frames (`frames/<id>/`).
pub fn frames_prefix(camera: &str) -> String {
    format!("{FRAMES_PREFIX}/{camera}/")
}

/// The object key of a frame: capture wall time first, so age is readable from a listing.
pub fn frame_key(camera: &str, wall_ms: u64, seq: u64, format: Format) -> String {
    format!("{}{wall_ms:013}-{seq:010}.{}", frames_prefix(camera), format.extension())
}

/// The object key of a frame's truth, beside the frame.
pub fn truth_key(frame_key: &str) -> String {
    let stem = frame_key.rsplit_once('.').map_or(frame_key, |(stem, _)| stem);
    format!("{stem}.truth.json")
}

/// The capture wall time (ms since the epoch) encoded in a frame or truth key, if it is one.
pub fn key_wall_ms(key: &str) -> Option<u64> {
    let name = key.rsplit('/').next()?;
    let (ms, _) = name.split_once('-')?;
    if ms.len() != 13 {
        return None;
    }
    ms.parse().ok()
}

/// Checks a camera id: 1..=32 characters of `a-z`, `A-Z`, `0-9`, `-`, `_`.
pub fn check_camera_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= CAMERA_ID_MAX
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "camera id {id:?} is not valid: use 1..={CAMERA_ID_MAX} characters of letters, digits, '-' and '_' (e.g. cam-3)"
        ))
    }
}

/// Where a blob is and what it must hash to (the same JSON as `skyway_storage::BlobRef`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    /// The object's URL.
    pub url: String,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// `/cameras/<id>/calibration`: what an analyzer needs to calibrate its model for a camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The camera (stretch, pole, image size).
    pub camera: CameraSpec,
    /// Lanes.
    pub lanes: u8,
    /// Lane width, metres.
    pub lane_width_m: f64,
    /// Frames per second of world time (the analyzer's clock).
    #[serde(default = "default_fps")]
    pub fps: f64,
}

fn default_fps() -> f64 {
    5.0
}

/// `/cameras/<id>/latest`: the newest frame that is stored, and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameRecord {
    /// The camera.
    pub camera: String,
    /// The frame's number, from 0, strictly increasing per camera (across restarts too).
    pub seq: u64,
    /// World time of the capture, seconds.
    pub world_time_s: f64,
    /// Wall time of the capture, ms since the Unix epoch (for lag).
    pub wall_ms: u64,
    /// The frame.
    pub frame: BlobRef,
    /// Its ground truth ([`crate::Truth`] as JSON), beside it.
    pub truth: BlobRef,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// How the frame is encoded.
    pub format: Format,
}

/// One entry of [`FrameIndex`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The frame's number.
    pub seq: u64,
    /// World time of the capture.
    pub world_time_s: f64,
    /// The frame's URL.
    pub url: String,
}

/// `/cameras/<id>/index`: the most recent frames, newest last, at most [`INDEX_MAX`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameIndex {
    /// The frames, oldest first.
    pub frames: Vec<IndexEntry>,
}

impl FrameIndex {
    /// Appends a frame, forgetting the oldest beyond [`INDEX_MAX`].
    pub fn push(&mut self, record: &FrameRecord) {
        self.frames.push(IndexEntry {
            seq: record.seq,
            world_time_s: record.world_time_s,
            url: record.frame.url.clone(),
        });
        if self.frames.len() > INDEX_MAX {
            let excess = self.frames.len() - INDEX_MAX;
            self.frames.drain(..excess);
        }
    }
}

/// `/analysis/<id>`: one period's result, with who wrote it and what it analysed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisRecord {
    /// The analyzer process that wrote it.
    pub analyzer: String,
    /// Its fencing token for `analyze/<id>` (the create revision of its candidate node).
    pub token: u64,
    /// Frame sequence number of the first frame of the period.
    pub first_seq: u64,
    /// Frame sequence number of the last frame analysed.
    pub seq: u64,
    /// World time of that frame.
    pub world_time_s: f64,
    /// Wall time of its capture, ms since the epoch.
    pub capture_wall_ms: u64,
    /// Frames analysed in this period.
    pub frames: u64,
    /// Whether the model is still warming up (counts are not yet trustworthy).
    pub warming_up: bool,
    /// The figures.
    pub result: AnalysisResult,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_their_age_and_truth_sits_beside() {
        let key = frame_key("cam-3", 1_764_633_600_123, 42, Format::Jpeg(85));
        assert_eq!(key, "frames/cam-3/1764633600123-0000000042.jpg");
        assert_eq!(truth_key(&key), "frames/cam-3/1764633600123-0000000042.truth.json");
        assert_eq!(key_wall_ms(&key), Some(1_764_633_600_123));
        assert_eq!(key_wall_ms(&truth_key(&key)), Some(1_764_633_600_123));
        assert_eq!(key_wall_ms("frames/cam-3/notes.txt"), None);
    }

    #[test]
    fn camera_ids_are_checked() {
        assert!(check_camera_id("cam-12").is_ok());
        assert!(check_camera_id("cam-rwy-07L").is_ok());
        for bad in ["", "cam/1", "../x", "a b", &"c".repeat(33)] {
            assert!(check_camera_id(bad).unwrap_err().contains("not valid"), "{bad:?}");
        }
    }

    #[test]
    fn index_is_bounded_newest_last() {
        let mut index = FrameIndex::default();
        for seq in 0..40 {
            let blob = BlobRef { url: format!("u{seq}"), sha256: String::new(), size: 1 };
            let record = FrameRecord {
                camera: "cam-1".into(),
                seq,
                world_time_s: seq as f64 * 0.2,
                wall_ms: 0,
                frame: blob.clone(),
                truth: blob,
                width: 640,
                height: 360,
                format: Format::Png,
            };
            index.push(&record);
        }
        assert_eq!(index.frames.len(), INDEX_MAX);
        assert_eq!(index.frames.first().unwrap().seq, 40 - INDEX_MAX as u64);
        assert_eq!(index.frames.last().unwrap().seq, 39);
    }
}
