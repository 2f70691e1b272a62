//! Who is calling: the one place where a request's credentials become a [`Caller`].
//!
//! A token travels as gRPC metadata, `authorization: Bearer TOKEN`; only its SHA-256 goes on,
//! into the Raft command of a write or the check of a read, where the permission table is
//! consulted (see `core::acl`). The edge does not decide whether the caller is allowed: the
//! table it would consult may change before the write commits, so the state machine decides.

use tonic::Request;

use crate::core::acl::{Caller, token_sha256};
use crate::error::CoordError;

/// The metadata key carrying the bearer token.
pub const AUTHORIZATION_METADATA_KEY: &str = "authorization";

/// The caller of `request`: its bearer token if it sent one, otherwise anonymous. A
/// malformed `authorization` value is refused here, with what to send instead.
pub fn caller<T>(request: &Request<T>) -> Result<Caller, CoordError> {
    let Some(value) = request.metadata().get(AUTHORIZATION_METADATA_KEY) else {
        // A client certificate's common name, when the transport verified one, is the
        // caller's identity (`Caller::Certificate`); that check belongs here, after the token.
        return Ok(Caller::Anonymous);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| CoordError::Unauthenticated {
            reason: "the authorization metadata is not `Bearer TOKEN`".into(),
        })?;
    Ok(Caller::Token(token_sha256(token)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_token_is_hashed_and_anything_else_refused() {
        let mut request = Request::new(());
        assert_eq!(caller(&request).unwrap(), Caller::Anonymous);
        request.metadata_mut().insert(AUTHORIZATION_METADATA_KEY, "Bearer abc".parse().unwrap());
        assert_eq!(caller(&request).unwrap(), Caller::Token(token_sha256("abc")));
        request.metadata_mut().insert(AUTHORIZATION_METADATA_KEY, "Basic abc".parse().unwrap());
        assert!(matches!(caller(&request), Err(CoordError::Unauthenticated { .. })));
    }
}
