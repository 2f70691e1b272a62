//! One encoding for everything Raft persists or sends between nodes: postcard over serde.
//! Compact, fast, and derived from the types, so no field mapping is written by hand.

use std::io;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes a value.
pub fn encode<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("encode: {e}")))
}

/// Decodes a value, with a clear error for garbage.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("decode: {e}")))
}
