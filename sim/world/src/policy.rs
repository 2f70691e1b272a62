//! The controllers' decisions, pure: what a segment's or a runway's primary commands, given the
//! summaries the world published. (Being built.)
