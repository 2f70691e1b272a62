//! Who is calling: the one place where a request's credentials become a [`Caller`].
//!
//! A token travels as gRPC metadata, `authorization: Bearer TOKEN`; only its SHA-256 goes on,
//! into the Raft command of a write or the check of a read, where the permission table is
//! consulted (see `core::acl`). The edge does not decide whether the caller is allowed: the
//! table it would consult may change before the write commits, so the state machine decides.
//!
//! Without a token, the identity in the client's verified TLS certificate is the caller's: the
//! TLS handshake has already verified the certificate against the CA the node was given
//! (`coord serve --ca` on the client port, `--peer-ca` on the peer port) before any request is
//! decoded, so the name read here can be trusted as far as that CA is. Without TLS, or on a
//! client port that does not demand certificates, there is no such identity.

use tonic::Request;
use x509_parser::extensions::GeneralName;

use crate::core::acl::{Caller, token_sha256};
use crate::error::CoordError;

pub use crate::proto::AUTHORIZATION_METADATA_KEY;

/// The caller of `request`: its bearer token if it sent one, else the identity in its verified
/// TLS client certificate, else anonymous. A
/// malformed `authorization` value is refused here, with what to send instead.
pub fn caller<T>(request: &Request<T>) -> Result<Caller, CoordError> {
    let Some(value) = request.metadata().get(AUTHORIZATION_METADATA_KEY) else {
        return Ok(certificate_identity(request).map_or(Caller::Anonymous, Caller::Certificate));
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

/// The prefix of a coordinator node's identity: node 3's certificate names `node-3`.
pub const NODE_IDENTITY_PREFIX: &str = "node-";

/// The identity of the client that sent `request`: the subject's common name (CN) of its
/// verified TLS certificate, or, when the certificate has no CN, its first DNS subject
/// alternative name. `None` over plaintext, when the client showed no certificate, or when the
/// certificate names no one.
///
/// The certificates `skyway certs init` makes carry the identity in both: `root`,
/// `controller`, `camera-seg1` for clients, `node-1`… for nodes. This is what permissions are
/// granted to.
pub fn certificate_identity<T>(request: &tonic::Request<T>) -> Option<String> {
    let certificates = request.peer_certs()?;
    identity_of_der(certificates.first()?.as_ref())
}

/// The identity (CN, else first DNS name) in a DER certificate, if it has one.
pub fn identity_of_der(der: &[u8]) -> Option<String> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    let common_name = certificate.subject().iter_common_name().find_map(|cn| cn.as_str().ok());
    if let Some(name) = common_name.filter(|n| !n.is_empty()) {
        return Some(name.to_string());
    }
    let names = certificate.subject_alternative_name().ok()??;
    names.value.general_names.iter().find_map(|name| match name {
        GeneralName::DNSName(dns) => Some(dns.to_string()),
        _ => None,
    })
}

/// The identity in the first certificate of a PEM text, if it has one.
pub fn identity_of_pem(pem: &[u8]) -> Option<String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    identity_of_der(CertificateDer::from_pem_slice(pem).ok()?.as_ref())
}

/// The node id an identity names (`node-3` → 3), if it is a node's.
pub fn node_id_of_identity(identity: &str) -> Option<u64> {
    identity.strip_prefix(NODE_IDENTITY_PREFIX)?.parse().ok().filter(|id| *id > 0)
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

    #[test]
    fn node_identities_name_their_id() {
        assert_eq!(node_id_of_identity("node-3"), Some(3));
        assert_eq!(node_id_of_identity("node-0"), None);
        assert_eq!(node_id_of_identity("node-x"), None);
        assert_eq!(node_id_of_identity("controller"), None);
    }

    #[test]
    fn garbage_is_no_identity() {
        assert_eq!(identity_of_der(b"not a certificate"), None);
    }
}
