//! One child process, handled asynchronously: started, signalled (SIGSTOP, SIGCONT, SIGTERM),
//! killed and reaped without blocking a runtime worker (a blocking `wait` there would distort the
//! very gaps a drill or the demo measures). Killed when dropped, so nothing leaks.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// A signal the rig sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Pause (the process cannot catch it).
    Stop,
    /// Resume a paused process.
    Cont,
    /// Ask it to stop cleanly.
    Term,
    /// End it at once.
    Kill,
}

impl Signal {
    /// The signal as the kernel knows it.
    fn number(self) -> nix::sys::signal::Signal {
        use nix::sys::signal::Signal as Sys;
        match self {
            Signal::Stop => Sys::SIGSTOP,
            Signal::Cont => Sys::SIGCONT,
            Signal::Term => Sys::SIGTERM,
            Signal::Kill => Sys::SIGKILL,
        }
    }
}

/// A running child, named for messages.
pub struct Process {
    name: String,
    child: Child,
}

impl Process {
    /// Starts `binary args…` with stdout discarded and stderr appended to `log`.
    pub fn spawn(name: &str, binary: &Path, args: &[String], log: &Path) -> anyhow::Result<Self> {
        Self::spawn_env(name, binary, args, &[], log)
    }

    /// Like [`spawn`](Self::spawn), with extra environment variables.
    pub fn spawn_env(
        name: &str,
        binary: &Path,
        args: &[String],
        env: &[(&str, &str)],
        log: &Path,
    ) -> anyhow::Result<Self> {
        Self::start(name, binary, args, env, log, Stdio::null())
    }

    /// Starts it with stdout piped and returns the first line it prints (e.g. "listening on
    /// ADDR" from a process asked to bind port 0); an error, and the process killed, if none
    /// comes within `timeout`.
    pub async fn spawn_reporting(
        name: &str,
        binary: &Path,
        args: &[String],
        log: &Path,
        timeout: Duration,
    ) -> anyhow::Result<(Self, String)> {
        use tokio::io::AsyncBufReadExt;
        let mut process = Self::start(name, binary, args, &[], log, Stdio::piped())?;
        let stdout = process.child.stdout.take().context("stdout not piped")?;
        let mut line = String::new();
        let mut reader = tokio::io::BufReader::new(stdout);
        match tokio::time::timeout(timeout, reader.read_line(&mut line)).await {
            Ok(Ok(n)) if n > 0 => Ok((process, line)),
            outcome => {
                let _ = process.kill().await;
                bail!("{name} printed nothing within {timeout:?} ({outcome:?}); see {}", log.display())
            }
        }
    }

    fn start(
        name: &str,
        binary: &Path,
        args: &[String],
        env: &[(&str, &str)],
        log: &Path,
        stdout: Stdio,
    ) -> anyhow::Result<Self> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        let child = Command::new(binary)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {name} ({})", binary.display()))?;
        Ok(Self { name: name.to_string(), child })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends `signal` (a kill(2) syscall: spawning kill(1) costs milliseconds on a loaded
    /// machine, which a drill would count as the failover's).
    pub async fn signal(&self, signal: Signal) -> anyhow::Result<()> {
        let pid = self.pid().with_context(|| format!("{} is not running", self.name))?;
        let raw = i32::try_from(pid).with_context(|| format!("pid {pid} of {} out of range", self.name))?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), signal.number())
            .with_context(|| format!("kill -{} {pid} ({}) failed", signal.number().as_str(), self.name))
    }

    /// SIGKILLs it (resuming it first, in case it was paused) and reaps it.
    pub async fn kill(&mut self) -> anyhow::Result<ExitStatus> {
        let _ = self.signal(Signal::Cont).await;
        let _ = self.child.start_kill();
        Ok(self.child.wait().await?)
    }

    /// SIGTERMs it and waits up to `grace` for it to exit, then SIGKILLs it.
    pub async fn stop(&mut self, grace: Duration) -> anyhow::Result<ExitStatus> {
        let _ = self.signal(Signal::Cont).await;
        if self.signal(Signal::Term).await.is_ok()
            && let Ok(status) = tokio::time::timeout(grace, self.child.wait()).await
        {
            return Ok(status?);
        }
        self.kill().await
    }

    /// Waits for it to exit.
    pub async fn wait(&mut self) -> anyhow::Result<ExitStatus> {
        Ok(self.child.wait().await?)
    }

    /// Whether it has exited, and how.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}
