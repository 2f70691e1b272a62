//! Tower policy (being built).
