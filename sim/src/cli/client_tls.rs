//! The TLS flags of every process that talks to the coordinator (`ctl`, `bench`, controllers,
//! cameras, analyzers, the dashboard, lessons), named as etcdctl names them.

use std::path::PathBuf;

use clap::Args;
use skyway_coord::client::ClientOptions;
use skyway_coord::tls::{ClientTls, PemPath};

/// `--cacert --cert --key [--server-name]`: TLS to the coordinator.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "TLS to the coordinator")]
pub struct ClientTlsArgs {
    /// Talk TLS to the coordinator, trusting nodes whose certificates this CA signed (PEM, e.g.
    /// ca.pem from `skyway certs init`). Without it, plaintext.
    #[arg(long, global = true, env = "SKYWAY_CACERT", value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// This client's certificate (PEM), for a cluster whose nodes demand one (`coord serve
    /// --ca`); its CN is the identity permissions are granted to. Needs --key and --cacert.
    #[arg(long, global = true, env = "SKYWAY_CERT", value_name = "FILE", requires = "cacert")]
    pub cert: Option<PathBuf>,
    /// The private key of --cert (PEM).
    #[arg(long, global = true, env = "SKYWAY_KEY", value_name = "FILE", requires = "cacert")]
    pub key: Option<PathBuf>,
    /// The name the nodes' certificates must carry, when it is not the host in --endpoints
    /// (e.g. `localhost` or `node-1` for certificates from `skyway certs init`).
    #[arg(long, global = true, env = "SKYWAY_SERVER_NAME", value_name = "NAME", requires = "cacert")]
    pub server_name: Option<String>,
}

impl ClientTlsArgs {
    /// The TLS these flags ask for (`None`: plaintext), with every file read and checked: a
    /// missing, unreadable or garbage file is an error naming its flag and path.
    pub fn client_tls(&self) -> anyhow::Result<Option<ClientTls>> {
        let Some(ca) = &self.cacert else { return Ok(None) };
        let cert = self.cert.as_ref().map(|p| PemPath::new("--cert", p));
        let key = self.key.as_ref().map(|p| PemPath::new("--key", p));
        Ok(Some(ClientTls::load(&PemPath::new("--cacert", ca), cert.as_ref(), key.as_ref(), self.server_name.clone())?))
    }

    /// Default client options with these flags' TLS.
    pub fn client_options(&self) -> anyhow::Result<ClientOptions> {
        Ok(ClientOptions { tls: self.client_tls()?, ..ClientOptions::default() })
    }

    /// The same flags as arguments, for a child process that talks to the same cluster.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let paths = [("--cacert", &self.cacert), ("--cert", &self.cert), ("--key", &self.key)];
        for (flag, path) in paths {
            if let Some(path) = path {
                args.extend([flag.to_string(), path.display().to_string()]);
            }
        }
        if let Some(name) = &self.server_name {
            args.extend(["--server-name".to_string(), name.clone()]);
        }
        args
    }
}
