//! The client library (in progress).
