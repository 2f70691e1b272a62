//! Skyway's blob storage: camera frames and other bulk data live here, never in the coordinator.
//!
//! One small API over the `object_store` crate ([`BlobStore`]): store bytes and get back a
//! [`BlobRef`] (URL, SHA-256, size) small enough to record in the coordinator; read by that
//! reference and get exactly the bytes written, or an error. Backends are chosen by URL (see
//! [`backend`] for which honours which conditional write): a local directory (the embedded
//! default), any S3-compatible server, or memory.
//!
//! [`object_log`] is the teaching log: an append-only log kept as one object, appended the
//! naive way (read-modify-write) or with conditional writes, to compare with the coordinator's.
//!
//! This crate knows nothing of highways and nothing of the coordinator.

pub mod backend;
pub mod blob;
pub mod error;
pub mod model;
pub mod object_log;

pub use backend::{Capabilities, S3Options, StorageConfig};
pub use blob::{BlobRef, BlobStore, Condition, Object, ObjectInfo, ObjectVersion, sha256_hex};
pub use error::StorageError;
