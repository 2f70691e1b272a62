//! The one mapping between [`CoordError`] and gRPC statuses, both directions, and the one
//! judgement of a failed call: did the request certainly never reach a server?
//!
//! The status code lets any gRPC client react sensibly; the `skyway-error` metadata carries the
//! error itself as JSON so Skyway's client gets back exactly the error the server produced.
//!
//! Codes are chosen so that only "certainly not applied" looks retryable to a generic gRPC
//! retry layer: `UNAVAILABLE` means the request was certainly not applied (no leader, not the
//! leader, no quorum, shutting down) and may be sent again as it is; an unknown outcome is
//! `UNKNOWN`, which no retry policy retries by default, because sending it again could apply it
//! twice — unless it carries its request id (see `core::clients`). The full table is in
//! `proto/coord.proto`.

use std::error::Error;
use std::io;

use tonic::{Code, ConnectError, Status};

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
        CoordError::NodeExists { .. } | CoordError::SessionOwnsSibling { .. } => Code::AlreadyExists,
        CoordError::ParentMissing { .. }
        | CoordError::EphemeralParent { .. }
        | CoordError::NotEmpty { .. }
        | CoordError::BadVersion { .. }
        | CoordError::CheckFailed { .. }
        | CoordError::SessionExpired { .. } => Code::FailedPrecondition,
        CoordError::TooLarge { .. }
        | CoordError::TooManyOps { .. }
        | CoordError::RequestTooLarge { .. }
        | CoordError::QuotaExceeded { .. }
        | CoordError::LimitReached { .. } => Code::ResourceExhausted,
        CoordError::Reserved { .. } | CoordError::PermissionDenied { .. } => Code::PermissionDenied,
        CoordError::Unauthenticated { .. } => Code::Unauthenticated,
        CoordError::Compacted { .. } | CoordError::LogTrimmed { .. } => Code::OutOfRange,
        CoordError::NotLeader { .. } | CoordError::Unavailable { .. } => Code::Unavailable,
        CoordError::OutcomeUnknown { .. } | CoordError::RetryTooOld { .. } => Code::Unknown,
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
        Code::Unauthenticated => CoordError::Unauthenticated { reason: status.message().to_string() },
        Code::ResourceExhausted | Code::OutOfRange => CoordError::InvalidArgument {
            reason: format!(
                "the server refused the request as too large ({}); put large data in blob storage and store its URL here",
                status.message()
            ),
        },
        _ => CoordError::Internal { reason: format!("{}: {}", status.code(), status.message()) },
    }
}

/// Whether a failed call certainly never reached a server: the connection could not be made
/// (refused, unreachable, timed out while connecting), so nothing was sent. Judged from the
/// error's kind along its source chain — tonic marks every failure of the connect step with
/// [`ConnectError`]; a bare I/O error counts only if it is a refused connection — never from its
/// message: a reset connection or a broken pipe after the request went out is an unknown
/// outcome, whatever its text says.
pub fn never_sent(status: &Status) -> bool {
    if status.metadata().get(ERROR_METADATA_KEY).is_some() {
        return false; // a server answered
    }
    let mut source: Option<&(dyn Error + 'static)> = status.source();
    while let Some(error) = source {
        if error.is::<ConnectError>() {
            return true;
        }
        if let Some(io) = error.downcast_ref::<io::Error>()
            && io.kind() == io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        source = error.source();
    }
    false
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
            CoordError::LogTrimmed { requested: 1, oldest: 10, records_max: 5 },
            CoordError::TooLarge { size: 2_000_000, max: 1_048_576 },
            CoordError::RequestTooLarge { size: 4_000_000, max: 3_145_728 },
            CoordError::QuotaExceeded { what: "nodes".into(), would_be: 11, max: 10 },
            CoordError::PermissionDenied {
                identity: "camera-1".into(),
                path: "/cameras/cam-2".into(),
                permission: "write".into(),
                action: "set /cameras/cam-2".into(),
            },
            CoordError::Unauthenticated { reason: "no credentials".into() },
            CoordError::LimitReached {
                what: "watches on this connection".into(),
                max: 2,
                flag: "--watches-per-connection-max".into(),
                advice: "close some".into(),
            },
        ];
        for error in errors {
            assert_eq!(from_status(&to_status(&error)), error);
        }
    }

    #[test]
    fn unknown_outcomes_are_not_codes_that_retry_layers_retry() {
        let unknown =
            [CoordError::OutcomeUnknown { reason: "lost".into() }, CoordError::RetryTooOld { client: 7, sequence: 3 }];
        for error in unknown {
            let code = to_status(&error).code();
            assert_eq!(code, Code::Unknown, "{error}");
        }
        let certain = [
            CoordError::NotLeader { leader_id: None, leader_addr: None },
            CoordError::Unavailable { reason: "no quorum".into() },
        ];
        for error in certain {
            assert_eq!(to_status(&error).code(), Code::Unavailable, "{error}");
        }
    }

    fn transport_status(error: impl Error + Send + Sync + 'static) -> Status {
        Status::from_error(Box::new(error))
    }

    #[test]
    fn a_failed_connect_is_never_sent_and_a_reset_is_unknown() {
        let refused = ConnectError(Box::new(io::Error::from(io::ErrorKind::ConnectionRefused)));
        assert!(never_sent(&transport_status(refused)));
        let timed_out = ConnectError(Box::new(io::Error::from(io::ErrorKind::TimedOut)));
        assert!(never_sent(&transport_status(timed_out)), "a connect that timed out sent nothing");
        assert!(never_sent(&transport_status(io::Error::from(io::ErrorKind::ConnectionRefused))));
        for kind in [io::ErrorKind::ConnectionReset, io::ErrorKind::BrokenPipe, io::ErrorKind::UnexpectedEof] {
            assert!(!never_sent(&transport_status(io::Error::from(kind))), "{kind:?} may follow a sent request");
        }
        // The text says "connect", the kind says reset: the kind wins.
        let reset = io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by peer while connected");
        assert!(!never_sent(&transport_status(reset)));
        assert!(
            !never_sent(&Status::unavailable("tcp connect error: Connection refused")),
            "text alone proves nothing"
        );
        // A server's answer is never a connect failure.
        assert!(!never_sent(&to_status(&CoordError::Unavailable { reason: "connect".into() })));
    }

    /// A port nobody listens on (bound, then released).
    fn closed_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn a_real_refused_connection_is_never_sent() {
        use crate::proto::coord::coord_client::CoordClient;
        let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", closed_port()))
            .unwrap()
            .connect_lazy();
        let status = CoordClient::new(channel).status(crate::proto::coord::StatusRequest {}).await.unwrap_err();
        assert!(never_sent(&status), "{status:?}");
    }

    #[tokio::test]
    async fn a_real_connection_closed_after_the_request_is_unknown() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            // Take the request's bytes, then close the connection without an answer.
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = vec![0u8; 4096];
                let _ = tokio::time::timeout(std::time::Duration::from_millis(200), stream.read(&mut buf)).await;
                drop(stream);
            }
        });
        use crate::proto::coord::coord_client::CoordClient;
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap().connect_lazy();
        let status = CoordClient::new(channel).status(crate::proto::coord::StatusRequest {}).await.unwrap_err();
        assert!(!never_sent(&status), "{status:?}");
    }
}
