//! The controller crate's one error type: what went wrong, and what to do about it.
//!
//! Every fallible function of the crate returns [`Error`]; `anyhow` stays in the binaries and the
//! tests. The variants are named by what the caller must do: fix a request or a setting
//! ([`BadRequest`](Error::BadRequest), [`BadConfig`](Error::BadConfig)), read from a later point
//! ([`Compacted`](Error::Compacted)), look at the disk ([`TrailIo`](Error::TrailIo),
//! [`TrailCorrupt`](Error::TrailCorrupt)), or retry once the other side answers
//! ([`Actuator`](Error::Actuator), [`Coord`](Error::Coord)). [`Error::to_status`] is the one
//! place they become gRPC statuses, and [`Error::from_status`] the one place an actuator's gRPC
//! answer becomes one of them. As in the coordinator's error, every message is whole (no chain
//! of sources to follow), so a log line's `{e}` says it all.

use std::path::PathBuf;

use skyway_coord::CoordError;
use tonic::{Code, Status};

/// Everything that can go wrong in a controller or an actuator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request to the actuator is malformed: fix the sender.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A setting is out of range: fix the flag or the configuration.
    #[error("bad configuration: {0}")]
    BadConfig(String),
    /// The actuator's address cannot be used.
    #[error("bad actuator address {addr:?}: expected host:port ({reason})")]
    BadActuatorAddress {
        /// The address as given.
        addr: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The coordinator's endpoints cannot be used.
    #[error("bad coordinator endpoints: {0}")]
    BadEndpoints(CoordError),
    /// The audit decisions asked for were rotated out of the trail.
    #[error(
        "audit decisions before #{oldest} were rotated out (the trail keeps {segments_kept_max} sealed segments of \
         about {segment_bytes_max} bytes): #{from} is gone; read from #{oldest}, the oldest kept, or from 0"
    )]
    Compacted {
        /// The sequence number asked for.
        from: u64,
        /// The oldest sequence number kept.
        oldest: u64,
        /// How many sealed segments the trail keeps.
        segments_kept_max: usize,
        /// The size at which a segment is sealed.
        segment_bytes_max: u64,
    },
    /// The audit trail's directory or a segment cannot be read, written or synced.
    #[error("cannot {doing} {}: {error}; check the disk (space, permissions) and restart the actuator", path.display())]
    TrailIo {
        /// What was being done: "write", "sync", "seal", …
        doing: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's answer.
        error: std::io::Error,
    },
    /// A line of the audit trail is damaged: the floors cannot be rebuilt from it.
    #[error(
        "{} line {line} is corrupt: {reason}; restore the trail from a backup, or move it aside only if no \
         primary's token must be remembered",
        path.display()
    )]
    TrailCorrupt {
        /// The segment.
        path: PathBuf,
        /// The line, counting from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The actuator could not be reached, or answered with an error rather than a decision.
    #[error("the actuator answered {code:?}: {message}")]
    Actuator {
        /// The gRPC code.
        code: Code,
        /// The actuator's (or the transport's) explanation.
        message: String,
    },
    /// The coordinator refused or could not answer a request (the message says what to do).
    #[error(transparent)]
    Coord(#[from] CoordError),
    /// The actuator's gRPC server could not serve (its listener failed).
    #[error("the actuator's server stopped: {0}")]
    Serve(String),
    /// A task ended without its result (it panicked or was cancelled): a bug, see the log.
    #[error("{what} did not complete: {reason}")]
    TaskFailed {
        /// The task.
        what: &'static str,
        /// Why, as the runtime says.
        reason: String,
    },
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The gRPC status an actuator answers with for this error.
    pub fn to_status(&self) -> Status {
        let code = match self {
            Error::BadRequest(_) | Error::BadConfig(_) | Error::BadActuatorAddress { .. } => Code::InvalidArgument,
            Error::BadEndpoints(_) => Code::InvalidArgument,
            Error::Compacted { .. } => Code::OutOfRange,
            Error::Actuator { code, .. } => *code,
            Error::TrailIo { .. } | Error::TrailCorrupt { .. } | Error::Coord(_) | Error::Serve(_) => Code::Unavailable,
            Error::TaskFailed { .. } => Code::Internal,
        };
        let message = match self {
            Error::Actuator { message, .. } => message.clone(),
            other => other.to_string(),
        };
        Status::new(code, message)
    }

    /// An actuator's gRPC answer (or the transport's) that is not a decision.
    pub fn from_status(status: Status) -> Self {
        Error::Actuator { code: status.code(), message: status.message().to_string() }
    }

    /// The actuator's server failed, with every cause (tonic's own message is only "transport
    /// error"): messages here are whole, not chains of sources.
    pub(crate) fn serve(error: tonic::transport::Error) -> Self {
        let mut reason = error.to_string();
        let mut cause = std::error::Error::source(&error);
        while let Some(inner) = cause {
            reason.push_str(&format!(": {inner}"));
            cause = inner.source();
        }
        Error::Serve(reason)
    }

    /// A task that did not complete.
    pub(crate) fn task(what: &'static str, error: tokio::task::JoinError) -> Self {
        Error::TaskFailed { what, reason: error.to_string() }
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        error.to_status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_say_what_to_do_and_round_trip_through_the_link() {
        let bad = Error::BadRequest("fencing token 0: get a token by becoming primary".into());
        let status = bad.to_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "bad request: fencing token 0: get a token by becoming primary");
        let back = Error::from_status(status);
        assert!(matches!(back, Error::Actuator { code: Code::InvalidArgument, .. }), "{back:?}");
        let compacted = Error::Compacted { from: 3, oldest: 10, segments_kept_max: 8, segment_bytes_max: 600 };
        assert_eq!(compacted.to_status().code(), Code::OutOfRange);
        let io =
            Error::TrailIo { doing: "sync", path: "/a/audit.jsonl".into(), error: std::io::Error::other("disk full") };
        let status = io.to_status();
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.message().starts_with("cannot sync /a/audit.jsonl: disk full; check the disk"), "{status:?}");
    }
}
