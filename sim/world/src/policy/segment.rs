//! Segment policy (being built).
