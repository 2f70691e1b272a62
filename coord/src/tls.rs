//! TLS for the client port and between nodes (rustls on ring, through tonic).
//!
//! Certificates and keys are read from PEM files once, when the binary builds its configuration,
//! and checked there: a missing, unreadable or garbage file is refused with an error that names
//! the flag and the file, instead of a bare handshake failure later.
//!
//! Three uses, one type each:
//! - [`ServerTls`]: a node's certificate on its client port, and optionally the CA whose client
//!   certificates it demands (`coord serve --cert --key [--ca]`);
//! - [`PeerTls`]: mutual TLS on the peer port: the node's certificate both as a server and as a
//!   client of its peers, and the CA every peer's certificate must come from;
//! - [`ClientTls`]: what a client trusts (`--cacert`) and the certificate it shows, if any
//!   (`--cert --key`), as etcdctl names them.
//!
//! # Caveats
//! Certificates are not reloaded while a process runs: restart it with new files. There is no
//! revocation list; a node removed from the cluster is refused by identity (see
//! `server::peer_guard`), a client by the permissions of its identity.

use std::path::PathBuf;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::error::CoordError;

/// A PEM file given on the command line, remembered with its flag for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemPath {
    /// The flag that named it, e.g. `--cacert`.
    pub flag: String,
    /// The file.
    pub path: PathBuf,
}

impl PemPath {
    /// The file `path`, given with `flag`.
    pub fn new(flag: &str, path: impl Into<PathBuf>) -> Self {
        Self { flag: flag.to_string(), path: path.into() }
    }

    fn error(&self, what: &str) -> CoordError {
        CoordError::InvalidArgument { reason: format!("{} {}: {what}", self.flag, self.path.display()) }
    }

    fn read(&self) -> Result<Vec<u8>, CoordError> {
        std::fs::read(&self.path).map_err(|e| self.error(&format!("cannot read it ({e})")))
    }

    /// Reads one or more certificates (PEM `BEGIN CERTIFICATE` blocks).
    pub fn read_certificates(&self) -> Result<Vec<u8>, CoordError> {
        let pem = self.read()?;
        let certificates: Vec<CertificateDer<'_>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| self.error(&format!("not a PEM certificate file ({e})")))?;
        if certificates.is_empty() {
            return Err(self.error(
                "holds no certificate (expected a PEM block `-----BEGIN CERTIFICATE-----`, as `skyway certs init` writes)",
            ));
        }
        Ok(pem)
    }

    /// Reads a private key (PEM `BEGIN PRIVATE KEY`, PKCS#8, or its RSA/EC forms).
    pub fn read_private_key(&self) -> Result<Vec<u8>, CoordError> {
        let pem = self.read()?;
        PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
            self.error(&format!(
                "holds no private key ({e}; expected a PEM block `-----BEGIN PRIVATE KEY-----`, as `skyway certs init` writes)"
            ))
        })?;
        Ok(pem)
    }
}

/// Reads a certificate and its key into an identity to show.
fn read_identity(cert: &PemPath, key: &PemPath) -> Result<Identity, CoordError> {
    Ok(Identity::from_pem(cert.read_certificates()?, key.read_private_key()?))
}

/// A node's TLS on its client port.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The node's certificate and key.
    pub identity: Identity,
    /// When given, every client must show a certificate signed by this CA.
    pub client_ca: Option<Certificate>,
}

impl ServerTls {
    /// Reads `cert` and `key`, and the client CA `ca` if given.
    pub fn load(cert: &PemPath, key: &PemPath, ca: Option<&PemPath>) -> Result<Self, CoordError> {
        let identity = read_identity(cert, key)?;
        let client_ca = ca.map(|ca| ca.read_certificates().map(Certificate::from_pem)).transpose()?;
        Ok(Self { identity, client_ca })
    }

    /// tonic's server configuration: client certificates required when a client CA is set.
    pub fn server_config(&self) -> ServerTlsConfig {
        let config = ServerTlsConfig::new().identity(self.identity.clone());
        match &self.client_ca {
            Some(ca) => config.client_ca_root(ca.clone()).client_auth_optional(false),
            None => config,
        }
    }
}

/// Mutual TLS between nodes.
#[derive(Debug, Clone)]
pub struct PeerTls {
    /// This node's certificate (shown to peers that dial it, and when it dials them).
    pub identity: Identity,
    /// The CA every peer's certificate must be signed by.
    pub ca: Certificate,
}

impl PeerTls {
    /// Reads the node's peer certificate, key and the peers' CA.
    pub fn load(cert: &PemPath, key: &PemPath, ca: &PemPath) -> Result<Self, CoordError> {
        Ok(Self { identity: read_identity(cert, key)?, ca: Certificate::from_pem(ca.read_certificates()?) })
    }

    /// The peer listener's configuration: a peer without a certificate from the CA is refused
    /// in the handshake.
    pub fn server_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.identity.clone())
            .client_ca_root(self.ca.clone())
            .client_auth_optional(false)
    }

    /// The configuration for dialling a peer: its certificate must come from the CA and name
    /// the host dialled; this node shows its own.
    pub fn client_config(&self) -> ClientTlsConfig {
        ClientTlsConfig::new().ca_certificate(self.ca.clone()).identity(self.identity.clone())
    }
}

/// What a client of the coordinator trusts and shows.
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// The CA the nodes' certificates are signed by.
    pub ca: Certificate,
    /// The client's own certificate and key, for a cluster that demands one (`serve --ca`).
    pub identity: Option<Identity>,
    /// The name to expect in the nodes' certificates, instead of the host dialled.
    pub server_name: Option<String>,
}

impl ClientTls {
    /// Reads the CA and, when both are given, the client's certificate and key. A certificate
    /// without its key (or the reverse) is refused, naming the missing flag.
    pub fn load(
        ca: &PemPath,
        cert: Option<&PemPath>,
        key: Option<&PemPath>,
        server_name: Option<String>,
    ) -> Result<Self, CoordError> {
        let identity = match (cert, key) {
            (Some(cert), Some(key)) => Some(read_identity(cert, key)?),
            (None, None) => None,
            (Some(cert), None) => return Err(missing_pair(cert, "--key", "its private key")),
            (None, Some(key)) => return Err(missing_pair(key, "--cert", "the certificate it belongs to")),
        };
        Ok(Self { ca: Certificate::from_pem(ca.read_certificates()?), identity, server_name })
    }

    /// tonic's client configuration.
    pub fn client_config(&self) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new().ca_certificate(self.ca.clone());
        if let Some(identity) = &self.identity {
            config = config.identity(identity.clone());
        }
        if let Some(name) = &self.server_name {
            config = config.domain_name(name.clone());
        }
        config
    }
}

fn missing_pair(given: &PemPath, missing_flag: &str, what: &str) -> CoordError {
    CoordError::InvalidArgument {
        reason: format!("{} {} is given without {missing_flag} ({what}): give both", given.flag, given.path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_garbage_files_are_refused_naming_flag_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = PemPath::new("--cacert", dir.path().join("nope.pem"));
        let error = missing.read_certificates().unwrap_err().to_string();
        assert!(error.contains("--cacert") && error.contains("nope.pem") && error.contains("cannot read"), "{error}");

        let garbage_path = dir.path().join("garbage.pem");
        std::fs::write(&garbage_path, b"this is not a certificate\n").unwrap();
        let garbage = PemPath::new("--cert", &garbage_path);
        let error = garbage.read_certificates().unwrap_err().to_string();
        assert!(
            error.contains("--cert") && error.contains("garbage.pem") && error.contains("no certificate"),
            "{error}"
        );
        let as_key = PemPath::new("--key", &garbage_path);
        let error = as_key.read_private_key().unwrap_err().to_string();
        assert!(error.contains("--key") && error.contains("no private key"), "{error}");
    }

    #[test]
    fn a_client_certificate_needs_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let ca = PemPath::new("--cacert", dir.path().join("ca.pem"));
        let cert = PemPath::new("--cert", dir.path().join("client.pem"));
        let error = ClientTls::load(&ca, Some(&cert), None, None).unwrap_err().to_string();
        assert!(error.contains("--cert") && error.contains("without --key"), "{error}");
    }
}
