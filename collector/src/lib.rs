//! Skyway's roadside cameras and analyzers: cameras push frames to blob storage and record only
//! the small URL (with hash, size and time) in the coordinator; analyzers read frames by that URL.
//!
//! Status: not built yet. There is deliberately no code here rather than pretend code.
