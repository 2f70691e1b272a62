//! The collector's one error type.
//!
//! Variants are named by what the caller must do about them: a frame that is not an image or is
//! too large is skipped and counted by the analyzer; an invalid configuration is fixed by the
//! operator before anything runs.

/// Everything that can go wrong in the collector's pure core.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum CollectorError {
    /// The bytes could not be decoded as a PNG or JPEG image.
    #[error("not an image: {reason}; skip this frame and check what the camera uploaded")]
    NotAnImage {
        /// What the decoder said.
        reason: String,
    },
    /// The image decodes to more pixels than the stated limit.
    #[error(
        "image too large: {width}x{height} = {pixels} pixels, limit {max} pixels; skip this frame or raise the limit"
    )]
    TooLarge {
        /// Width in pixels, from the header.
        width: u32,
        /// Height in pixels, from the header.
        height: u32,
        /// width × height.
        pixels: u64,
        /// The limit it exceeds.
        max: u64,
    },
    /// The frame's size is not the size the analyzer's model was built for.
    #[error(
        "frame is {width}x{height} but the analyzer expects {expected_width}x{expected_height}; reset the model for this camera"
    )]
    WrongSize {
        /// Width of the frame given.
        width: u32,
        /// Height of the frame given.
        height: u32,
        /// Width the model was built for.
        expected_width: u32,
        /// Height the model was built for.
        expected_height: u32,
    },
    /// Encoding a frame failed (a bug or an exhausted machine, never bad input).
    #[error("could not encode the frame: {reason}")]
    Encode {
        /// What the encoder said.
        reason: String,
    },
    /// A configuration value is out of its range.
    #[error("invalid configuration: {what}; fix it and start again")]
    InvalidConfig {
        /// Which value, its range, and what it was.
        what: String,
    },
}
