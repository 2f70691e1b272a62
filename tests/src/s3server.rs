//! A real S3-protocol server for the tests: moto, started on 127.0.0.1 by the test itself.
//!
//! moto comes from PyPI. On first use this module makes a virtualenv under the workspace's
//! `target/` (`python3 -m venv`, then `pip install moto`), guarded by a file lock so that test
//! binaries running at once build it once; later runs reuse it. Set `SKYWAY_MOTO_PYTHON` to a
//! Python that already has moto to skip that. Nothing is installed by hand.
//!
//! Why moto: of the S3 servers that install from the registries here, it is the one whose
//! conditional writes are right under concurrency once it serves one request at a time (see
//! `s3server/moto_launcher.py`); s3s-fs, Garage and s3rver get them wrong or ignore them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

/// The moto release the tests are known to work with.
const MOTO_REQUIREMENT: &str = "moto[s3,server]==5.2.5";

const LAUNCHER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/s3server/moto_launcher.py");

/// A running moto server; stopped when dropped.
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl S3Server {
    /// Starts moto on a free port with the given buckets created.
    #[allow(
        clippy::disallowed_methods,
        reason = "setup before the test measures anything: moto starts once, and its first line is awaited on its own thread"
    )]
    pub fn start(buckets: &[&str]) -> anyhow::Result<Self> {
        let python = moto_python()?;
        let mut child = Command::new(&python)
            .arg(LAUNCHER)
            .arg("0")
            .args(buckets)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot run {}", python.display()))?;
        let line = match first_line(&mut child, Duration::from_secs(60)) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                bail!("moto did not start: {e}");
            }
        };
        let Some(port) = line.trim().strip_prefix("ready ") else {
            let _ = child.kill();
            bail!("moto did not start: {line:?} (see its output above)");
        };
        Ok(Self { endpoint: format!("http://127.0.0.1:{port}"), child })
    }

    /// A storage config for `s3://bucket/prefix` on this server, with test credentials.
    pub fn config(&self, bucket_and_prefix: &str) -> skyway_storage::StorageConfig {
        let mut config = skyway_storage::StorageConfig::new(format!("s3://{bucket_and_prefix}"));
        config.s3 = skyway_storage::S3Options {
            endpoint: Some(self.endpoint.clone()),
            region: Some("us-east-1".into()),
            access_key_id: Some("skyway-test".into()),
            secret_access_key: Some("skyway-test-secret".into()),
            conditional_writes: Some(true),
        };
        config
    }
}

impl Drop for S3Server {
    #[allow(clippy::disallowed_methods, reason = "reaps moto once the test is over")]
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Python with moto: `SKYWAY_MOTO_PYTHON`, or the virtualenv under `target/`, made if missing.
#[allow(clippy::disallowed_methods, reason = "a one-time virtualenv setup before any test runs")]
fn moto_python() -> anyhow::Result<PathBuf> {
    if let Ok(python) = std::env::var("SKYWAY_MOTO_PYTHON") {
        return Ok(PathBuf::from(python));
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    std::fs::create_dir_all(&target)?;
    let venv = target.join("moto-venv");
    let python = venv.join("bin/python");
    let ready = venv.join(".skyway-ready");
    let lock = std::fs::File::create(target.join("moto-venv.lock"))?;
    lock.lock()?; // held until this function returns: one builder at a time
    if ready.exists() {
        return Ok(python);
    }
    eprintln!("setting up moto (an S3 server from PyPI) in {} — once", venv.display());
    let _ = std::fs::remove_dir_all(&venv);
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv))
        .context("the S3 tests need Python 3 with venv (python3 on PATH) to run moto")?;
    run(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        MOTO_REQUIREMENT,
    ]))
    .context("cannot install moto from PyPI")?;
    std::fs::write(&ready, MOTO_REQUIREMENT)?;
    Ok(python)
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command.status().with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(())
}

/// The first line moto writes to its (piped) stdout ("ready PORT"); an error if none comes
/// within `timeout`. A blocking wait, as `start` is: test setup, before anything is measured.
fn first_line(child: &mut Child, timeout: Duration) -> anyhow::Result<String> {
    use std::io::BufRead;
    let stdout = child.stdout.take().context("the child's stdout is not piped")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    rx.recv_timeout(timeout).with_context(|| format!("no output within {timeout:?}"))
}
