//! Frames as bytes: PNG or JPEG out, a size-limited decode in.
//!
//! The decoder reads the header first and refuses an image whose pixel count exceeds the limit
//! before it allocates anything, so a hostile or broken upload cannot exhaust the analyzer's
//! memory.

use std::io::Cursor;

use image::{GrayImage, ImageDecoder, ImageFormat, ImageReader};
use serde::{Deserialize, Serialize};

use crate::error::CollectorError;

/// How frames are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Format {
    /// Lossless, larger.
    Png,
    /// Lossy at the given quality (1..=100).
    Jpeg(u8),
}

impl Format {
    /// The file extension for blob names.
    pub fn extension(&self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Jpeg(_) => "jpg",
        }
    }
}

/// Encodes a grey frame.
pub fn encode(image: &GrayImage, format: Format) -> Result<Vec<u8>, CollectorError> {
    let mut out = Vec::new();
    let err = |e: image::ImageError| CollectorError::Encode { reason: e.to_string() };
    match format {
        Format::Png => image.write_to(&mut Cursor::new(&mut out), ImageFormat::Png).map_err(err)?,
        Format::Jpeg(q) => {
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q.clamp(1, 100));
            image.write_with_encoder(enc).map_err(err)?
        }
    }
    Ok(out)
}

/// Decodes PNG or JPEG bytes into a grey frame, refusing images over `max_pixels`.
pub fn decode(bytes: &[u8], max_pixels: u64) -> Result<GrayImage, CollectorError> {
    let not_image = |e: &dyn std::fmt::Display| CollectorError::NotAnImage { reason: e.to_string() };
    let reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| not_image(&e))?;
    if reader.format().is_none() {
        return Err(CollectorError::NotAnImage { reason: "neither PNG nor JPEG".into() });
    }
    let decoder = reader.into_decoder().map_err(|e| not_image(&e))?;
    let (width, height) = decoder.dimensions();
    let pixels = width as u64 * height as u64;
    if pixels > max_pixels {
        return Err(CollectorError::TooLarge { width, height, pixels, max: max_pixels });
    }
    let img = image::DynamicImage::from_decoder(decoder).map_err(|e| not_image(&e))?;
    Ok(img.into_luma8())
}
