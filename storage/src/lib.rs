//! Skyway's blob storage: camera frames and other bulk data live here, never in the coordinator.
//!
//! This crate will hold one small API over the `object_store` crate (a local directory by
//! default, any S3-compatible server in deployment) and the teaching logs that compare an
//! append-only log kept in cloud storage with the coordinator's log. It knows nothing of
//! highways and nothing of the coordinator.
//!
//! Status: not built yet (issue 3). There is deliberately no code here rather than pretend code.
