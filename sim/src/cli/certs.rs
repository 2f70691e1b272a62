//! `skyway certs init DIR`: a development CA and certificates for coordinator nodes and
//! clients, made in Rust (rcgen on ring), so TLS clusters, the tests and a TLS demo run
//! anywhere without openssl.
//!
//! Files, all PEM: `ca.pem` and `ca.key` (the CA), `node-N.pem` and `node-N.key` for each node
//! (CN `node-N`; SANs `node-N`, `localhost`, `127.0.0.1` and every `--host`; for serving and
//! for dialling peers), `client-NAME.pem` and `client-NAME.key` for each client identity (CN and
//! SAN `NAME`; for clients only). A node's identity `node-N` is what the peer port checks
//! against the membership; a client's CN is what permissions are granted to.
//!
//! # Caveats
//! For development and tests: the CA's key lies next to the certificates, unencrypted (keys
//! are written readable by their owner only), and the certificates never expire in practice
//! (rcgen's default validity). A production cluster's certificates come from its own PKI.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// Flags of `skyway certs`.
#[derive(Debug, Args)]
pub struct CertsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: CertsCommand,
}

/// `skyway certs` commands.
#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Make a development CA, node certificates and client certificates in DIR.
    #[command(
        after_help = "Example:\n  skyway certs init certs --nodes 3 --client root --client controller --client camera-seg1\n\n\
Then serve with --cert certs/node-1.pem --key certs/node-1.key --ca certs/ca.pem (node 1), and talk\n\
to the cluster with --cacert certs/ca.pem --cert certs/client-root.pem --key certs/client-root.key."
    )]
    Init(InitArgs),
}

/// Flags of `skyway certs init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The directory to write to (created if missing).
    pub dir: PathBuf,
    /// Node certificates to make: node-1 … node-N.
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
    /// A client identity to make a certificate for (repeatable), e.g. root, controller,
    /// camera-seg1. Default: root.
    #[arg(long = "client", value_name = "NAME")]
    pub clients: Vec<String>,
    /// Another host name or IP address the nodes are reached at (repeatable), added to every
    /// node certificate's names.
    #[arg(long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// Overwrite files that already exist.
    #[arg(long)]
    pub force: bool,
}

/// One file to write: its name in the directory, its contents, and whether it is a secret.
#[derive(Debug)]
pub struct CertFile {
    /// The file's name, e.g. `node-1.pem`.
    pub name: String,
    /// PEM text.
    pub pem: String,
    /// A private key (written readable by its owner only).
    pub secret: bool,
}

/// Makes the CA and every certificate `args` asks for (no I/O).
pub fn make(nodes: u64, clients: &[String], hosts: &[String]) -> anyhow::Result<Vec<CertFile>> {
    if nodes == 0 && clients.is_empty() {
        bail!("nothing to make: give --nodes N (at least 1) or --client NAME");
    }
    if let Some(bad) = clients.iter().find(|c| !is_identity(c)) {
        bail!("--client {bad:?}: use letters, digits and '-' (e.g. controller, camera-seg1)");
    }
    let mut files = Vec::new();
    let ca_key = KeyPair::generate().context("cannot make the CA's key")?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name.push(DnType::CommonName, "Skyway development CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key).context("cannot sign the CA's certificate")?;
    files.push(CertFile { name: "ca.pem".into(), pem: ca_cert.pem(), secret: false });
    files.push(CertFile { name: "ca.key".into(), pem: ca_key.serialize_pem(), secret: true });
    let issuer = Issuer::new(ca, ca_key);

    for id in 1..=nodes {
        let name = format!("node-{id}");
        let mut names = vec![name.clone(), "localhost".into(), "127.0.0.1".into()];
        names.extend(hosts.iter().cloned());
        let usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        files.extend(leaf(&issuer, &name, names, usages, &name)?);
    }
    for client in clients {
        let usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        files.extend(leaf(&issuer, client, vec![client.clone()], usages, &format!("client-{client}"))?);
    }
    Ok(files)
}

/// A certificate for `identity` (its CN) with `names` as SANs, signed by the CA.
fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    identity: &str,
    names: Vec<String>,
    usages: Vec<ExtendedKeyUsagePurpose>,
    file: &str,
) -> anyhow::Result<[CertFile; 2]> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(names).with_context(|| format!("bad names for {identity}"))?;
    params.distinguished_name.push(DnType::CommonName, identity);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = usages;
    let cert = params.signed_by(&key, issuer).with_context(|| format!("cannot sign {identity}'s certificate"))?;
    Ok([
        CertFile { name: format!("{file}.pem"), pem: cert.pem(), secret: false },
        CertFile { name: format!("{file}.key"), pem: key.serialize_pem(), secret: true },
    ])
}

fn is_identity(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') && !name.starts_with('-')
}

/// Runs `skyway certs`.
pub fn run(args: CertsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        CertsCommand::Init(init) => {
            let clients = if init.clients.is_empty() { vec!["root".to_string()] } else { init.clients };
            let files = make(init.nodes, &clients, &init.hosts)?;
            write(&init.dir, &files, init.force)?;
            for file in &files {
                println!("{}", init.dir.join(&file.name).display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Writes `files` into `dir`; refuses, before writing anything, if one exists and not `force`.
pub fn write(dir: &Path, files: &[CertFile], force: bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let existing: Vec<String> = files.iter().filter(|f| dir.join(&f.name).exists()).map(|f| f.name.clone()).collect();
    if !existing.is_empty() && !force {
        bail!(
            "{} already holds {}: not overwritten (certificates signed by the old CA would stop working); \
             pass --force to replace them, or choose another directory",
            dir.display(),
            existing.join(", ")
        );
    }
    for file in files {
        let path = dir.join(&file.name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        if file.secret {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut out = options.open(&path).with_context(|| format!("cannot write {}", path.display()))?;
        out.write_all(file.pem.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use skyway_coord::server::identity::identity_of_pem;

    #[test]
    fn nodes_and_clients_get_named_certificates() {
        let files = make(2, &["root".into(), "camera-seg1".into()], &["10.0.0.4".into()]).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "ca.pem",
                "ca.key",
                "node-1.pem",
                "node-1.key",
                "node-2.pem",
                "node-2.key",
                "client-root.pem",
                "client-root.key",
                "client-camera-seg1.pem",
                "client-camera-seg1.key"
            ]
        );
        let identity = |name: &str| identity_of_pem(files.iter().find(|f| f.name == name).unwrap().pem.as_bytes());
        assert_eq!(identity("node-2.pem").as_deref(), Some("node-2"));
        assert_eq!(identity("client-camera-seg1.pem").as_deref(), Some("camera-seg1"));
        assert!(files.iter().filter(|f| f.name.ends_with(".key")).all(|f| f.secret));
    }

    #[test]
    fn existing_files_are_not_overwritten_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let files = make(1, &[], &[]).unwrap();
        write(dir.path(), &files, false).unwrap();
        let before = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
        let again = make(1, &[], &[]).unwrap();
        let error = write(dir.path(), &again, false).unwrap_err().to_string();
        assert!(error.contains("ca.pem") && error.contains("--force"), "{error}");
        assert_eq!(std::fs::read_to_string(dir.path().join("ca.pem")).unwrap(), before, "nothing was overwritten");
        write(dir.path(), &again, true).unwrap();
        assert_ne!(std::fs::read_to_string(dir.path().join("ca.pem")).unwrap(), before);
    }

    #[test]
    fn bad_client_names_are_refused() {
        let error = make(1, &["a/b".into()], &[]).err().unwrap().to_string();
        assert!(error.contains("--client \"a/b\""), "{error}");
    }
}
