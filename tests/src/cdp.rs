//! A thin client of the Chrome DevTools Protocol, enough for the dashboard's browser test:
//! starts headless Chromium, opens a page, evaluates JavaScript in it, takes screenshots, and
//! collects console errors and uncaught exceptions. Over one websocket (tokio-tungstenite), in
//! flattened-session mode; no generated protocol crate (chromiumoxide's is large to build).
//!
//! Chromium is found through `SKYWAY_CHROMIUM`, else `chromium`, `chromium-headless-shell` or
//! `chromium-browser` on the PATH (`.ci/run` installs Debian's `chromium` when it is missing).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest wait for Chromium's answer to one DevTools command.
const ANSWER_MAX: Duration = Duration::from_secs(90);

use anyhow::{Context, bail};
use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// Where Chromium is, or why it cannot be found.
#[allow(clippy::disallowed_methods, reason = "a one-time apt-get install before the browser starts")]
pub fn find_chromium() -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var("SKYWAY_CHROMIUM") {
        let path = PathBuf::from(path);
        anyhow::ensure!(path.exists(), "SKYWAY_CHROMIUM={} does not exist", path.display());
        return Ok(path);
    }
    if let Some(found) = on_path() {
        return Ok(found);
    }
    // Not installed: as root on Debian, install it as the tests install moto (nothing by hand).
    if is_root() && Path::new("/usr/bin/apt-get").exists() {
        eprintln!("installing Debian's chromium for the browser test (apt-get install -y chromium)…");
        let installed = std::process::Command::new("sh")
            .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium"])
            .status();
        if installed.is_ok_and(|s| s.success())
            && let Some(found) = on_path()
        {
            return Ok(found);
        }
    }
    bail!(
        "no Chromium: install Debian's `chromium` (apt-get install -y chromium; .ci/run does it) or set \
         SKYWAY_CHROMIUM to a Chromium or chromium-headless-shell binary"
    )
}

fn on_path() -> Option<PathBuf> {
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    ["chromium", "chromium-headless-shell", "chromium-browser"]
        .iter()
        .find_map(|name| std::env::split_paths(&dirs).map(|dir| dir.join(name)).find(|candidate| candidate.is_file()))
}

fn is_root() -> bool {
    // The owner of /proc/self is this process's user.
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// A headless browser with one page.
pub struct Browser {
    child: tokio::process::Child,
    outgoing: mpsc::UnboundedSender<Message>,
    pending: Pending,
    next_id: AtomicU64,
    session: String,
    errors: Arc<Mutex<Vec<String>>>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium headless with a fresh profile and one blank page of `width`×`height`.
    pub async fn start(width: u32, height: u32) -> anyhow::Result<Self> {
        let binary = find_chromium()?;
        let profile = tempfile::tempdir()?;
        let mut child = tokio::process::Command::new(&binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
                &format!("--window-size={width},{height}"),
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID" on stderr.
        let stderr = child.stderr.take().context("stderr not piped")?;
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = loop {
            let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
                .await
                .context("Chromium did not print its DevTools address within 60 s")??
                .context("Chromium exited before printing its DevTools address")?;
            if let Some(at) = line.find("ws://") {
                break line[at..].trim().to_string();
            }
        };
        // Keep draining stderr so Chromium never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let (socket, _) = tokio_tungstenite::connect_async(&url).await.context("cannot reach Chromium's DevTools")?;
        let (mut sink, mut stream) = socket.split();
        let (outgoing, mut queue) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(message) = queue.recv().await {
                if sink.send(message).await.is_err() {
                    return;
                }
            }
        });
        let pending: Pending = Arc::default();
        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let (reader_pending, reader_errors) = (pending.clone(), errors.clone());
        tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let Message::Text(text) = message else { continue };
                let Ok(value) = serde_json::from_str::<Value>(&text) else { continue };
                if let Some(id) = value["id"].as_u64() {
                    if let Some(reply) = reader_pending.lock().expect("pending poisoned").remove(&id) {
                        let _ = reply.send(value);
                    }
                    continue;
                }
                if let Some(error) = console_error(&value) {
                    reader_errors.lock().expect("errors poisoned").push(error);
                }
            }
        });
        let mut browser = Self {
            child,
            outgoing,
            pending,
            next_id: AtomicU64::new(1),
            session: String::new(),
            errors,
            _profile: profile,
        };
        let created = browser.call(None, "Target.createTarget", json!({ "url": "about:blank" })).await?;
        let target = created["targetId"].as_str().context("no targetId")?.to_string();
        let attached =
            browser.call(None, "Target.attachToTarget", json!({ "targetId": target, "flatten": true })).await?;
        browser.session = attached["sessionId"].as_str().context("no sessionId")?.to_string();
        for method in ["Runtime.enable", "Log.enable", "Page.enable"] {
            browser.send(method, json!({})).await?;
        }
        browser
            .send(
                "Emulation.setDeviceMetricsOverride",
                json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
            )
            .await?;
        Ok(browser)
    }

    async fn call(&self, session: Option<&str>, method: &str, params: Value) -> anyhow::Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let (reply, answer) = oneshot::channel();
        self.pending.lock().expect("pending poisoned").insert(id, reply);
        self.outgoing.send(Message::text(message.to_string())).context("the DevTools connection is closed")?;
        // A bound on failure only: on a machine loaded by parallel builds a screenshot can take
        // tens of seconds.
        let value = tokio::time::timeout(ANSWER_MAX, answer)
            .await
            .with_context(|| format!("{method}: no answer within {ANSWER_MAX:?}"))?
            .context("the DevTools connection closed")?;
        if let Some(error) = value.get("error") {
            bail!("{method}: {error}");
        }
        Ok(value["result"].clone())
    }

    /// Sends a command to the page.
    pub async fn send(&self, method: &str, params: Value) -> anyhow::Result<Value> {
        let session = self.session.clone();
        self.call(Some(&session), method, params).await
    }

    /// Navigates to `url` (returns when the navigation is committed; wait for content with
    /// [`wait_for`](Self::wait_for)).
    pub async fn open(&self, url: &str) -> anyhow::Result<()> {
        let result = self.send("Page.navigate", json!({ "url": url })).await?;
        if let Some(error) = result.get("errorText") {
            bail!("cannot open {url}: {error}");
        }
        Ok(())
    }

    /// Reloads the page.
    pub async fn reload(&self) -> anyhow::Result<()> {
        self.send("Page.reload", json!({ "ignoreCache": true })).await.map(|_| ())
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value.
    pub async fn eval(&self, expression: &str) -> anyhow::Result<Value> {
        let result = self
            .send("Runtime.evaluate", json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }))
            .await?;
        if let Some(exception) = result.get("exceptionDetails") {
            bail!("{expression}: threw {exception}");
        }
        Ok(result["result"]["value"].clone())
    }

    /// Evaluates `expression` until it is truthy (returns its value) or `timeout` passes.
    pub async fn wait_for(&self, what: &str, expression: &str, timeout: Duration) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.eval(expression).await.unwrap_or(Value::Null);
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Object(_) => true,
            };
            if truthy {
                return Ok(value);
            }
            if Instant::now() > deadline {
                bail!("{what}: not within {timeout:?} (last value {value})");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Saves a PNG of the page (the whole page, beyond the viewport) at `path`.
    pub async fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        let shot =
            self.send("Page.captureScreenshot", json!({ "format": "png", "captureBeyondViewport": true })).await?;
        let data = shot["data"].as_str().context("no screenshot data")?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(data)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    /// Console errors and uncaught exceptions so far.
    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().expect("errors poisoned").clone()
    }

    /// Closes the browser.
    pub async fn close(mut self) {
        let _ = self.call(None, "Browser.close", json!({})).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        let _ = self.child.kill().await;
    }
}

/// The text of a console error, an uncaught exception or an error log entry, if `event` is one.
fn console_error(event: &Value) -> Option<String> {
    let params = &event["params"];
    match event["method"].as_str()? {
        "Runtime.exceptionThrown" => Some(format!("exception: {}", params["exceptionDetails"])),
        "Runtime.consoleAPICalled" if params["type"] == "error" => Some(format!("console.error: {}", params["args"])),
        "Log.entryAdded" if params["entry"]["level"] == "error" => {
            Some(format!("log: {} ({})", params["entry"]["text"], params["entry"]["url"]))
        }
        _ => None,
    }
}
