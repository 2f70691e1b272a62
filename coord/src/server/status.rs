//! The one mapping between [`CoordError`] and gRPC statuses, both directions.
//!
//! The status code lets any gRPC client react sensibly; the `skyway-error` metadata carries the
//! error itself as JSON so Skyway's client gets back exactly the error the server produced.

use tonic::{Code, Status};

use crate::error::CoordError;

/// Metadata key carrying the JSON-encoded [`CoordError`].
pub const ERROR_METADATA_KEY: &str = "skyway-error";

/// The gRPC status for an error.
pub fn to_status(error: &CoordError) -> Status {
    let code = match error {
        CoordError::InvalidPath { .. }
        | CoordError::InvalidArgument { .. }
        | CoordError::EphemeralNeedsSession { .. } => Code::InvalidArgument,
        CoordError::NotFound { .. } => Code::NotFound,
        CoordError::NodeExists { .. } => Code::AlreadyExists,
        CoordError::ParentMissing { .. }
        | CoordError::EphemeralParent { .. }
        | CoordError::NotEmpty { .. }
        | CoordError::BadVersion { .. }
        | CoordError::CheckFailed { .. }
        | CoordError::SessionExpired { .. } => Code::FailedPrecondition,
        CoordError::TooLarge { .. } | CoordError::TooManyOps { .. } => Code::ResourceExhausted,
        CoordError::Reserved { .. } => Code::PermissionDenied,
        CoordError::Compacted { .. } => Code::OutOfRange,
        CoordError::NotLeader { .. } | CoordError::Unavailable { .. } => Code::Unavailable,
        CoordError::OutcomeUnknown { .. } => Code::Aborted,
        CoordError::Internal { .. } => Code::Internal,
    };
    let mut status = Status::new(code, error.to_string());
    if let Ok(json) = serde_json::to_string(error)
        && let Ok(value) = json.parse()
    {
        status.metadata_mut().insert(ERROR_METADATA_KEY, value);
    }
    status
}

/// The error a status stands for: the exact server error if it carried one, otherwise a
/// classification of the transport failure.
pub fn from_status(status: &Status) -> CoordError {
    if let Some(value) = status.metadata().get(ERROR_METADATA_KEY)
        && let Ok(json) = value.to_str()
        && let Ok(error) = serde_json::from_str(json)
    {
        return error;
    }
    match status.code() {
        Code::Unavailable => CoordError::Unavailable { reason: status.message().to_string() },
        Code::DeadlineExceeded | Code::Cancelled | Code::Unknown | Code::Aborted => {
            CoordError::OutcomeUnknown { reason: format!("{}: {}", status.code(), status.message()) }
        }
        Code::InvalidArgument => CoordError::InvalidArgument { reason: status.message().to_string() },
        Code::ResourceExhausted | Code::OutOfRange => CoordError::InvalidArgument {
            reason: format!(
                "the server refused the request as too large ({}); put large data in blob storage and store its URL here",
                status.message()
            ),
        },
        _ => CoordError::Internal { reason: format!("{}: {}", status.code(), status.message()) },
    }
}

/// Whether a status means the request never left this process (the connection could not be
/// made), so it certainly did not reach a server.
pub fn is_connect_failure(status: &Status) -> bool {
    status.metadata().get(ERROR_METADATA_KEY).is_none()
        && status.code() == Code::Unavailable
        && (status.message().contains("connect") || status.message().contains("Connection refused"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_survive_the_round_trip() {
        let errors = [
            CoordError::BadVersion { path: "/a".into(), expected: 1, actual: 2 },
            CoordError::NotLeader { leader_id: Some(2), leader_addr: Some("127.0.0.1:1".into()) },
            CoordError::Compacted { requested: 1, oldest: 10, current: 20 },
            CoordError::TooLarge { size: 2_000_000, max: 1_048_576 },
        ];
        for error in errors {
            assert_eq!(from_status(&to_status(&error)), error);
        }
    }
}
