//! The dashboard in a real browser: `skyway demo --listen 0.0.0.0:PORT` as a real process (bound
//! beyond loopback, so its fault controls need the token printed on its console; reached on
//! 127.0.0.1), headless Chromium driven over the DevTools protocol (`skyway_tests::cdp`). Fault
//! requests without the token or with a wrong one must be refused (401, 403) with nothing done,
//! and the page, opened by the printed URL, must carry it. The page must
//! render the highway, the airport and a lane per role; closing a lane from the page must show it
//! closed by the segment's primary under its token, still closed (by the new primary, under its
//! token) after "kill" on the segment's primary (whoever holds it then: the controllers hand
//! roles over among themselves), which must show a new primary with a token above the killed
//! one's and no overlap, and reopened from the page;
//! closing and reopening a runway likewise; "pause" on a tower's primary must show its
//! late command refused (the command it sent just before it stopped); "stall" must draw a
//! stalled vehicle; a reload must show the history again; bad requests must be refused
//! with nothing killed; the storage lesson's three logs must appear side by side, every append a
//! mark and the lost ones drawn apart; the cameras' frames must load (through the dashboard,
//! hash-checked) with the analyzer's count beside the truth, and a tampered frame must be
//! refused; the killed primary's failure must reach the membership log through its watch; and
//! the console must stay free of errors. Screenshots are saved under `target/tmp/dashboard/`.
//! The second test shows `skyway dashboard` on a bare cluster, its membership watch resuming
//! after the node it watched from is killed.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use skyway_tests::cdp::Browser;
use skyway_tests::harness::skyway_binary;
use tokio::io::AsyncBufReadExt;

/// The current bar of `role`'s lane as `{controller, token}`, or null.
fn current_bar(role: &str) -> String {
    format!(
        r#"(() => {{ const b = document.querySelector('[data-testid=role-lane][data-role="{role}"] [data-testid=bar][data-current=true]');
            return b ? {{ controller: b.dataset.controller, token: Number(b.dataset.token) }} : null; }})()"#
    )
}

fn click(testid: &str, role: &str) -> String {
    format!(
        r#"(() => {{ const b = document.querySelector('[data-testid={testid}][data-role="{role}"]'); if (!b) return false; b.click(); return true; }})()"#
    )
}

/// POSTs `body` to /api/faults from the page, with the token its URL carries; returns
/// `[status, answer]`.
fn post(body: &str) -> String {
    format!(
        r#"fetch('/api/faults', {{ method: 'POST', headers: {{ 'content-type': 'application/json',
            'x-skyway-token': new URLSearchParams(location.search).get('token') }}, body: {body:?} }})
            .then(async r => [r.status, await r.json()])"#
    )
}

/// Chooses `value` in the `<select>` with data-testid `testid`, as a user would.
fn choose(testid: &str, value: &str) -> String {
    format!(
        r#"(() => {{ const s = document.querySelector('[data-testid={testid}]'); if (![...s.options].some(o => o.value === {value:?})) return false;
            s.value = {value:?}; s.dispatchEvent(new Event('change')); return true; }})()"#
    )
}

/// The closed lane `lane` of segment `n` as drawn: `{by, token, operator}`, or null.
fn closed_lane(n: u32, lane: u8) -> String {
    format!(
        r#"(() => {{ const c = document.querySelector('[data-testid=closed-lane][data-segment="{n}"][data-lane="{lane}"]');
            return c ? {{ by: c.dataset.by, token: Number(c.dataset.token), operator: c.dataset.operator === 'true' }} : null; }})()"#
    )
}

/// The closed lane `lane` of segment `n` as drawn, if the operator ordered it and segment `n`'s
/// primary drawn at the same moment holds it under its token, a token above `above`:
/// `{by, token, operator}`, or null.
fn closed_by_primary(n: u32, lane: u8, above: u64) -> String {
    format!(
        r#"(() => {{ const c = {}; const now = {};
            return c && c.operator && now && c.by === now.controller && c.token === now.token && now.token > {above} ? c : null; }})()"#,
        closed_lane(n, lane),
        current_bar(&format!("segment/{n}"))
    )
}

/// POSTs a fault request from the test itself (not the page) with `token` (None: none).
async fn post_raw(addr: &str, body: &str, token: Option<&str>) -> (u16, String) {
    let header = token.map(|t| format!("X-Skyway-Token: {t}\r\n")).unwrap_or_default();
    let request = format!(
        "POST /api/faults HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n{header}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    http(addr, &request).await
}

/// SIGTERMs the demo when dropped and waits for it to stop its own processes: dropping its
/// `Child` alone would SIGKILL it and leave its coordinator nodes and controllers running.
struct Stopper(Option<u32>);

impl Drop for Stopper {
    #[allow(
        clippy::disallowed_methods,
        reason = "a Drop cannot await: it waits for the demo to stop its processes after the test"
    )]
    fn drop(&mut self) {
        let Some(pid) = self.0 else { return };
        let alive =
            || std::process::Command::new("kill").args(["-0", &pid.to_string()]).status().is_ok_and(|s| s.success());
        if !alive() {
            return;
        }
        let _ = std::process::Command::new("kill").arg(pid.to_string()).status();
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while alive() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_failover_and_refusal_in_a_real_browser() {
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    let dir = tempfile::tempdir().unwrap();
    // Bound beyond loopback (a free port of every interface), reached on 127.0.0.1 only.
    let port = std::net::TcpListener::bind("0.0.0.0:0").unwrap().local_addr().unwrap().port();
    let listen = format!("0.0.0.0:{port}");
    let mut demo = tokio::process::Command::new(skyway_binary())
        .args(["demo", "--listen", &listen, "--duration", "200", "--speed", "2", "--warmup-min", "2"])
        .args(["--summary-every-s", "60"])
        .arg("--data-dir")
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("demo.err")).expect("demo.err"))
        .kill_on_drop(true)
        .spawn()
        .expect("cannot start skyway demo");
    // Declared after `demo`, so dropped first, on a panic too.
    let _stopper = Stopper(demo.id());
    let mut lines = tokio::io::BufReader::new(demo.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("the demo's stdout") {
            if let Some(url) = line.strip_prefix("== dashboard: ") {
                return url.trim().to_string();
            }
        }
        panic!("the demo ended without printing its dashboard's URL");
    })
    .await
    .expect("no dashboard URL within 60 s");
    // The demo's console goes to demo.out beside its logs, for a failure's reader.
    let mut console = std::fs::File::create(dir.path().join("demo.out")).expect("demo.out");
    tokio::spawn(async move {
        use std::io::Write;
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = writeln!(console, "{line}");
        }
    });

    let browser = Browser::start(1600, 1300).await.expect("headless Chromium");
    let result = drive(&browser, &url, &artifacts, &dir.path().join("blobs")).await;
    browser.close().await;
    // Stop the demo cleanly (SIGTERM): it stops its own processes.
    if let Some(pid) = demo.id() {
        let _ = tokio::process::Command::new("kill").arg(pid.to_string()).status().await;
    }
    let status = tokio::time::timeout(Duration::from_secs(30), demo.wait()).await;
    if let Err(e) = result {
        panic!("{e:#}\nscreenshots in {}; demo logs in {}", artifacts.display(), dir.keep().display());
    }
    let status = status.expect("the demo did not stop within 30 s of SIGTERM").expect("the demo's exit");
    assert!(status.success(), "the demo reported a violation: {status}");
    // Everything the dashboard's feeds read from the coordinator was understood (an empty node
    // made before its first value, or the membership log's own node, is not a malformed record).
    let stderr = std::fs::read_to_string(dir.path().join("demo.err")).unwrap_or_default();
    let misread: Vec<&str> = stderr.lines().filter(|l| l.contains("WARN") && l.contains("dashboard::feed")).collect();
    assert!(misread.is_empty(), "the dashboard's feeds misread the coordinator: {misread:#?}");
}

/// Overwrites a recent frame of a camera in blob storage and asks the dashboard for it: it must
/// refuse, naming the hash, rather than serve the wrong picture.
async fn tampered_frame_is_refused(browser: &Browser, url: &str, store: &std::path::Path) -> anyhow::Result<()> {
    let state =
        browser.eval("fetch('/api/state').then(r => r.json()).then(m => m.cameras.filter(c => c.frame))").await?;
    let camera = &state[0];
    let (id, newest) = (camera["id"].as_str().unwrap_or_default(), camera["frame"]["seq"].as_u64().unwrap_or(0));
    anyhow::ensure!(newest > 4, "no camera with frames: {state}");
    // A frame a few before the newest: still remembered, and already analysed. Its image, not the
    // truth file beside it (which shares the name's stem).
    let seq = newest - 3;
    let dir = store.join("frames").join(id);
    let file = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains(&format!("-{seq:010}.")) && !n.ends_with(".truth.json"))
        })
        .ok_or_else(|| anyhow::anyhow!("no frame {seq} of {id} in {}", dir.display()))?;
    let mut bytes = std::fs::read(&file)?;
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&file, &bytes)?;
    let addr = url.trim_start_matches("http://").split('/').next().unwrap_or_default();
    let (status, body) =
        http(addr, &format!("GET /api/cameras/{id}/frames/{seq} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"))
            .await;
    anyhow::ensure!(status == 502 && body.contains("SHA-256"), "a tampered frame was not refused: {status} {body}");
    let (status, body) =
        http(addr, "GET /api/cameras/cam-nope/frames/1 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").await;
    anyhow::ensure!(status == 404 && body.contains("no camera"), "an unknown camera: {status} {body}");
    eprintln!("tampered {id} frame {seq}: refused ({status})");
    Ok(())
}

/// Sets the replay's slider to `t_ms` (ms into the run), as dragging it does.
fn replay_at(t_ms: u64) -> String {
    format!(
        "(s => {{ s.value = '{t_ms}'; s.dispatchEvent(new Event('input')); return true; }})(document.getElementById('slider'))"
    )
}

/// The replay shows the cameras' frames too: the frame that was newest at the replayed moment,
/// and a placeholder in its place once the janitor deleted it (here the test deletes it).
async fn replayed_frames(
    browser: &Browser,
    store: &std::path::Path,
    artifacts: &std::path::Path,
) -> anyhow::Result<()> {
    let span = browser.eval("fetch('/api/state').then(r => r.json()).then(m => m.span_t_ms)").await?;
    let span = span.as_u64().unwrap_or(0);
    let drawn_at = span.saturating_sub(3_000);
    // A frame of a few seconds ago that the page never loaded (a loaded one would come from its
    // cache): the earliest moment of these that has one.
    let pick = browser
        .eval(&format!(
            r#"(async () => {{
                const loaded = new Set(performance.getEntriesByType('resource').map(e => new URL(e.name).pathname));
                for (const back of [20000, 15000, 10000, 7000, 5000]) {{
                    const at = Math.max(0, {span} - back);
                    const m = await fetch('/api/state?at_t_ms=' + at).then(r => r.json());
                    const c = m.cameras.find(c => c.frame && !loaded.has(c.frame.src));
                    if (c) return {{ at, id: c.id, seq: c.frame.seq }};
                }}
                return null; }})()"#
        ))
        .await?;
    let (id, seq) = (pick["id"].as_str().unwrap_or_default().to_string(), pick["seq"].as_u64().unwrap_or(0));
    let gone_at = pick["at"].as_u64().unwrap_or(0);
    anyhow::ensure!(!id.is_empty(), "no camera had a frame the page had not loaded, 5 to 20 s ago: {pick}");
    let dir = store.join("frames").join(&id);
    let file = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains(&format!("-{seq:010}.")) && !n.ends_with(".truth.json"))
        })
        .ok_or_else(|| anyhow::anyhow!("no frame {seq} of {id} in {}", dir.display()))?;
    std::fs::remove_file(&file)?;
    browser.eval(&replay_at(gone_at)).await?;
    let card = format!(r#"document.querySelector('[data-testid=camera][data-camera="{id}"][data-replay=true]')"#);
    let gone = browser
        .wait_for(
            "the deleted frame replayed as no longer retained",
            &format!(r#"(c => c && c.querySelector('[data-gone=true]:not([hidden])')?.textContent)({card})"#),
            Duration::from_secs(20),
        )
        .await?;
    eprintln!("replayed {id} frame {seq}: {gone}");
    browser.screenshot(&artifacts.join("3b-replay-frame-gone.png")).await?;
    browser.eval(&replay_at(drawn_at)).await?;
    let drawn = browser
        .wait_for(
            "a retained frame drawn in the replay",
            r#"[...document.querySelectorAll('[data-testid=camera][data-replay=true]')].map(c => [c, c.querySelector('img')])
                .filter(([c, img]) => c.textContent.includes('REPLAY: newest at') && !img.hidden && img.complete && img.naturalWidth > 0)
                .map(([c, img]) => c.dataset.camera + ' ' + new URL(img.src).pathname)[0] || null"#,
            Duration::from_secs(20),
        )
        .await?;
    eprintln!("replayed a retained frame: {drawn}");
    browser.eval("document.getElementById('live').click(); true").await?;
    browser
        .wait_for(
            "live again",
            "!document.getElementById('clock').textContent.startsWith('REPLAY')",
            Duration::from_secs(10),
        )
        .await?;
    Ok(())
}

async fn drive(
    browser: &Browser,
    url: &str,
    artifacts: &std::path::Path,
    store: &std::path::Path,
) -> anyhow::Result<()> {
    let long = Duration::from_secs(30);
    // Beyond loopback: the printed URL carries the token, and faults without it are refused.
    let addr = url.trim_start_matches("http://").split('/').next().unwrap_or_default().to_string();
    let token = url.split_once("?token=").map(|(_, t)| t.to_string());
    let token = token.ok_or_else(|| anyhow::anyhow!("bound to 0.0.0.0, the URL must carry a token: {url}"))?;
    anyhow::ensure!(addr.starts_with("127.0.0.1:"), "the printed URL is reachable on loopback: {url}");
    let kill = r#"{"action":"kill","target":"c1"}"#;
    let (status, body) = post_raw(&addr, kill, None).await;
    anyhow::ensure!(status == 401 && body.contains("token printed"), "no token: {status} {body}");
    let (status, body) = post_raw(&addr, kill, Some("0123456789abcdef0123456789abcdef")).await;
    anyhow::ensure!(status == 403 && body.contains("wrong token"), "a wrong token: {status} {body}");
    let (status, body) = post_raw(&addr, r#"{"action":"speed","value":2}"#, Some(&token)).await;
    anyhow::ensure!(status == 200 && body.contains("2x real time"), "the printed token: {status} {body}");
    // The model is republished within a tenth of a second: wait for the accepted request in it.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let faults = loop {
        let (_, state) = http(&addr, "GET /api/state HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").await;
        let state: Value = serde_json::from_str(&state)?;
        let faults: Vec<String> = state["faults"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["action"].as_str().map(String::from))
            .collect();
        if !faults.is_empty() || std::time::Instant::now() > deadline {
            break faults;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    anyhow::ensure!(faults == ["speed"], "the refused requests did nothing, the accepted one was done: {faults:?}");
    browser.open(url).await?;
    browser
        .wait_for("six highway segments", "document.querySelectorAll('[data-testid=segment]').length === 6", long)
        .await?;
    browser.wait_for("two runways", "document.querySelectorAll('[data-testid=runway]').length === 2", long).await?;
    let roles = browser.eval("fetch('/api/state').then(r => r.json()).then(m => m.roles.map(l => l.role))").await?;
    let roles: Vec<String> = serde_json::from_value(roles)?;
    anyhow::ensure!(roles.len() == 8, "expected 8 roles (6 segments, 2 runways), got {roles:?}");
    for role in &roles {
        browser.wait_for(&format!("{role} has a primary"), &current_bar(role), long).await?;
    }
    browser
        .wait_for("vehicles drawn", "document.querySelectorAll('[data-testid=vehicles] > *').length > 20", long)
        .await?;
    browser.screenshot(&artifacts.join("1-running.png")).await?;

    // The operator closes lane 2 of segment/2 from the page: the segment's primary carries it
    // out, and the lane is drawn closed by it, under its token. Judged against the primary drawn
    // at the same moment: the controllers spread the roles among themselves, so a planned
    // handover may move segment/2 meanwhile, and its new primary carries the order on.
    anyhow::ensure!(
        browser.eval(&choose("op-segment", "segment/2")).await? == Value::Bool(true),
        "no segment/2 to choose"
    );
    anyhow::ensure!(browser.eval(&choose("op-lane", "2")).await? == Value::Bool(true), "no lane 2 to choose");
    browser.eval("document.querySelector('[data-testid=close-lane]').click(); true").await?;
    let closed = browser
        .wait_for(
            "lane 2 of segment/2 closed by its primary, on the operator's order",
            &closed_by_primary(2, 2, 0),
            long,
        )
        .await?;
    eprintln!("closed by the operator's order: {closed}");
    browser.screenshot(&artifacts.join("1b-lane-closed.png")).await?;

    // Kill a segment's primary: a new primary, a higher token, no overlap. The victim is the
    // primary when the demo killed it (the answer names it), which need not be the one that
    // closed the lane.
    browser.eval("document.getElementById('toast').textContent = ''; true").await?;
    anyhow::ensure!(browser.eval(&click("kill-primary", "segment/2")).await? == Value::Bool(true), "no kill button");
    let answer = browser
        .wait_for(
            "the kill is answered",
            "(t => t.startsWith('done') || t.startsWith('refused') ? t : null)(document.getElementById('toast').textContent)",
            long,
        )
        .await?;
    let answer = answer.as_str().unwrap_or_default().to_string();
    anyhow::ensure!(answer.contains("primary of segment/2, killed"), "the kill was not carried out: {answer}");
    // "done: c2, primary of segment/2, killed (SIGKILL) …".
    let victim = answer.strip_prefix("done: ").and_then(|a| a.split(',').next()).unwrap_or_default().to_string();
    // The victim's token: its newest term on segment/2 (drawn once the page has caught up).
    let victim_token = browser
        .wait_for(
            &format!("the killed {victim} drawn as a primary of segment/2"),
            &format!(
                r#"Math.max(0, ...[...document.querySelectorAll('[data-testid=role-lane][data-role="segment/2"] [data-testid=bar][data-controller="{victim}"]')].map(b => Number(b.dataset.token)))"#
            ),
            long,
        )
        .await?
        .as_u64()
        .unwrap_or(0);
    let expression = format!(
        r#"(() => {{ const now = {}; const lane = document.querySelector('[data-testid=role-lane][data-role="segment/2"]');
            return now && now.controller !== {victim:?} && now.token > {victim_token} && !lane.querySelector('[data-overlap=true]') ? now : null; }})()"#,
        current_bar("segment/2"),
    );
    let after = browser
        .wait_for("segment/2 taken over with a higher token, no overlap", &expression, Duration::from_secs(30))
        .await?;
    browser.wait_for("the gap annotated", r#"document.querySelector('[data-testid=role-lane][data-role="segment/2"] [data-testid=gap]')?.textContent.includes('takeover')"#, long).await?;
    eprintln!("segment/2: {victim} (token {victim_token}) killed -> {after}");
    // The closure outlived the failover: the new primary read the same order and keeps it, under
    // its own token (or whoever is primary by now, should it have handed the role on again).
    let kept = browser
        .wait_for(
            "lane 2 of segment/2 kept closed by the new primary, under its token",
            &closed_by_primary(2, 2, victim_token),
            long,
        )
        .await?;
    eprintln!("kept closed: {kept}");
    // Reopened from the page: the primary's next command opens it.
    browser.eval("document.querySelector('[data-testid=reopen-lane]').click(); true").await?;
    browser
        .wait_for(
            "lane 2 of segment/2 reopened",
            &format!(
                r#"!{} && !document.querySelector('[data-testid=ordered-lane][data-segment="2"][data-lane="2"]')"#,
                closed_lane(2, 2)
            ),
            long,
        )
        .await?;
    // The killed primary's session expires: the membership log says so, streamed from a watch.
    browser
        .wait_for(
            "the killed primary's failure in the membership log",
            &format!(
                r#"document.querySelector('[data-testid=member-line][data-member="{victim}"][data-kind=failed]')"#
            ),
            long,
        )
        .await?;

    // Pause a tower's primary: its late command is refused, and shown so.
    browser.eval("document.getElementById('toast').textContent = ''; true").await?;
    anyhow::ensure!(browser.eval(&click("pause-primary", "runway/07L")).await? == Value::Bool(true), "no pause button");
    let answer = browser
        .wait_for(
            "the pause is answered",
            "(t => t.startsWith('done') || t.startsWith('refused') ? t : null)(document.getElementById('toast').textContent)",
            long,
        )
        .await?;
    let answer = answer.as_str().unwrap_or_default().to_string();
    // "done: c2, primary of runway/07L, paused (SIGSTOP) …": the primary when the demo paused it.
    let victim = answer.strip_prefix("done: ").and_then(|a| a.split(',').next()).unwrap_or_default().to_string();
    anyhow::ensure!(answer.contains("primary of runway/07L, paused"), "the pause was not carried out: {answer}");
    // Its held command is refused: for runway/07L, or for another role it was primary of when
    // it stopped (the controllers spread roles among themselves, so a role can move just then).
    let refused =
        format!(r#"document.querySelector('[data-testid=refusal][data-controller="{victim}"]')?.dataset.role"#);
    let role = browser.wait_for("the paused primary's late command refused", &refused, Duration::from_secs(30)).await?;
    let role = role.as_str().unwrap_or_default().to_string();
    browser
        .wait_for(
            "a refusal mark on that role's lane",
            &format!(r#"document.querySelector('[data-testid=role-lane][data-role="{role}"] [data-testid=refused-mark][data-controller="{victim}"]')"#),
            long,
        )
        .await?;
    let text = browser
        .eval(&format!(r#"document.querySelector('[data-testid=refusal][data-controller="{victim}"]').textContent"#))
        .await?;
    eprintln!("paused {victim}: {text}");
    browser.screenshot(&artifacts.join("2-after-faults.png")).await?;

    // The storage lesson runs in the background from now on (its panel is checked at the end;
    // not earlier, since its writes load the coordinator the faults above are timed against).
    let lesson = browser.eval(&post(r#"{"action":"lesson"}"#)).await?;
    anyhow::ensure!(lesson[0] == 200, "the lesson did not start: {lesson}");

    // The operator closes runway 07R from the page: its tower's primary closes it; then reopens.
    let runway = |closed: bool| {
        format!(
            r#"(r => r && r.dataset.closed === '{closed}' && r.dataset.operator === '{closed}' ? {{ by: r.dataset.closedBy, token: r.dataset.closedToken }} : null)(document.querySelector('[data-testid=runway][data-runway="07R"]'))"#
        )
    };
    anyhow::ensure!(browser.eval(&choose("op-runway", "runway/07R")).await? == Value::Bool(true), "no runway 07R");
    browser.eval("document.querySelector('[data-testid=close-runway]').click(); true").await?;
    let closed = browser.wait_for("runway 07R closed by its tower's primary", &runway(true), long).await?;
    anyhow::ensure!(closed["by"].as_str().is_some_and(|b| !b.is_empty()), "closed, but by whom? {closed}");
    browser.eval("document.querySelector('[data-testid=reopen-runway]').click(); true").await?;
    browser.wait_for("runway 07R reopened", &runway(false), long).await?;
    eprintln!("runway 07R closed by {closed}, and reopened");

    let errors = browser.errors();
    anyhow::ensure!(errors.is_empty(), "console errors: {errors:#?}");

    // A stall: the next vehicle there stops, drawn as a stalled vehicle.
    browser
        .eval("document.getElementById('stall-at').value = '2600'; document.getElementById('stall').click(); true")
        .await?;
    browser
        .wait_for(
            "a stalled vehicle drawn",
            "document.querySelectorAll('[data-testid=stalled]').length > 0",
            Duration::from_secs(40),
        )
        .await?;

    // Bad input: refused with a reason, nothing killed.
    let faults_before = browser.eval("fetch('/api/state').then(r => r.json()).then(m => m.faults.filter(f => ['kill', 'pause', 'cut-off', 'speed'].includes(f.action)).length)").await?;
    for (body, status, says) in [
        (r#"{"action":"kill","target":"c9"}"#, 404, "unknown target"),
        (r#"{"action":"kill","target":"node 7"}"#, 404, "no coordinator node 7"),
        ("not json", 400, "malformed fault request"),
        (r#"{"action":"explode"}"#, 400, "malformed fault request"),
        (r#"{"action":"speed","value":-3}"#, 400, "out of range"),
        (r#"{"action":"stall","position_m":99999}"#, 400, "cannot stall a vehicle there"),
        (r#"{"action":"close-lane","target":"segment/9","lane":1}"#, 400, "unknown segment"),
        (r#"{"action":"close-lane","target":"segment/2","lane":9}"#, 400, "unknown lane 9"),
        (r#"{"action":"close-runway","target":"runway/99"}"#, 400, "unknown runway"),
    ] {
        let answer = browser.eval(&post(body)).await?;
        let error = answer[1]["error"].as_str().unwrap_or_default();
        anyhow::ensure!(
            answer[0] == status && error.contains(says),
            "{body}: expected {status} saying {says:?}, got {answer}"
        );
        anyhow::ensure!(error.contains("nothing was done"), "{body}: the refusal must say nothing was done: {error}");
    }
    let faults_after = browser.eval("fetch('/api/state').then(r => r.json()).then(m => m.faults.filter(f => ['kill', 'pause', 'cut-off', 'speed'].includes(f.action)).length)").await?;
    anyhow::ensure!(
        faults_before == faults_after,
        "a refused request injected a fault: {faults_before} -> {faults_after}"
    );
    // Chromium logs each refused request as a failed load: those nine, and nothing else.
    let errors = browser.errors();
    let provoked = errors.iter().filter(|e| e.contains("Failed to load resource") && e.contains("/api/faults")).count();
    anyhow::ensure!(errors.len() == 9 && provoked == 9, "console errors beyond the nine refused requests: {errors:#?}");

    // The cameras (checked late: the analyzers need a period or two for a first result): a
    // frame really drawn (fetched through the dashboard, its SHA-256 checked),
    // and an analyzer's count beside the frame's truth.
    browser
        .wait_for(
            "a camera frame drawn",
            "[...document.querySelectorAll('[data-testid=camera-frame]')].some(i => i.complete && i.naturalWidth > 0)",
            Duration::from_secs(60),
        )
        .await?;
    let counts = browser
        .wait_for(
            "an analyzer's count beside the truth",
            r#"(() => { const v = [...document.querySelectorAll('[data-testid=camera-verdict]')].find(v =>
                v.querySelector('[data-testid=analyzer-count]').textContent.includes('in view')
                && v.querySelector('[data-testid=truth-count]').textContent.includes('in view'));
                return v ? v.dataset.agreement + ': ' + v.textContent : null; })()"#,
            Duration::from_secs(60),
        )
        .await?;
    eprintln!("camera: {counts}");
    browser.screenshot(&artifacts.join("2b-cameras.png")).await?;
    tampered_frame_is_refused(browser, url, store).await?;
    // Reload: the history is drawn again (both segment/2 primaries, the refusal).
    browser.reload().await?;
    browser
        .wait_for(
            "the history after a reload",
            &format!(
                r#"document.querySelectorAll('[data-testid=role-lane][data-role="segment/2"] [data-testid=bar]').length >= 2
                    && document.querySelector('[data-testid=refusal][data-controller="{victim}"]')"#
            ),
            long,
        )
        .await?;
    // The replay: the slider's past shows the state before the kill.
    browser.eval("document.getElementById('slider').value = '1000'; document.getElementById('slider').dispatchEvent(new Event('input')); true").await?;
    browser.wait_for("the replay", "document.getElementById('clock').textContent.startsWith('REPLAY')", long).await?;
    browser.eval("document.getElementById('live').click(); true").await?;
    browser.wait_for("live again", "!document.getElementById('clock').textContent.startsWith('REPLAY')", long).await?;
    browser.screenshot(&artifacts.join("3-reloaded.png")).await?;
    replayed_frames(browser, store, artifacts).await?;
    // The lesson's three logs side by side: the naive object log lost acknowledged records.
    browser
        .wait_for(
            "the lesson's three logs",
            "document.querySelectorAll('[data-testid=lesson-log]').length === 3",
            Duration::from_secs(60),
        )
        .await?;
    // Every append a mark; the naive log's lost ones as many as it reports, drawn apart.
    let marks = browser
        .eval(
            r#"fetch('/api/state').then(r => r.json()).then(m => m.lesson.logs.map(l => {
                const col = document.querySelector(`[data-testid=lesson-log][data-title="${l.title}"]`);
                const lost = col.querySelector('[data-fate=lost]'), kept = col.querySelector('[data-fate=kept]');
                return { title: l.title, written: l.written, lost: l.lost,
                    marks: col.querySelectorAll('[data-testid=lesson-mark]').length,
                    lost_marks: col.querySelectorAll('[data-fate=lost]').length,
                    distinct: !lost || !kept || getComputedStyle(lost).backgroundColor !== getComputedStyle(kept).backgroundColor,
                    readers: col.querySelectorAll('[data-testid=reader-belief]').length }; }))"#,
        )
        .await?;
    eprintln!("lesson marks: {marks}");
    for log in marks.as_array().into_iter().flatten() {
        anyhow::ensure!(
            log["marks"] == log["written"] && log["lost_marks"] == log["lost"] && log["distinct"] == true,
            "the lesson's marks do not match its counts: {log}"
        );
        anyhow::ensure!(log["readers"] == 3, "each of the 3 readers' beliefs shown: {log}");
    }
    anyhow::ensure!(
        marks.as_array().into_iter().flatten().any(|l| l["lost_marks"].as_u64() > Some(0)),
        "the naive log lost nothing this time: {marks}"
    );
    browser.eval("document.getElementById('large').click(); true").await?;
    browser.screenshot(&artifacts.join("4-large-type-lesson.png")).await?;
    // The nine refused requests and the replayed frame the test deleted (a 404 twice: the
    // image, and the page's fetch of the reason to show in its place), nothing else.
    let errors = browser.errors();
    let gone = errors.iter().filter(|e| e.contains("404") && e.contains("/api/cameras/")).count();
    anyhow::ensure!(errors.len() == 11 && gone == 2, "console errors after the reload: {errors:#?}");
    Ok(())
}

/// A plain HTTP/1.1 exchange: the status and the body (the connection closed after it).
async fn http(addr: &str, request: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("the dashboard answers");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut bytes)).await.expect("an answer").unwrap();
    let text = String::from_utf8_lossy(&bytes).to_string();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// The id of the first SSE event on a fresh `/events` stream (with `last` as Last-Event-ID),
/// or None if none comes within `wait`.
async fn first_event_id(addr: &str, last: Option<u64>, wait: Duration) -> Option<u64> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("the dashboard answers");
    let header = last.map(|id| format!("Last-Event-ID: {id}\r\n")).unwrap_or_default();
    stream.write_all(format!("GET /events HTTP/1.1\r\nHost: test\r\n{header}\r\n").as_bytes()).await.unwrap();
    let mut lines = tokio::io::BufReader::new(stream).lines();
    tokio::time::timeout(wait, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(id) = line.strip_prefix("id: ").or_else(|| line.strip_prefix("id:")) {
                return id.trim().parse().ok();
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skyway_dashboard_observes_a_running_cluster_and_refuses_faults_it_cannot_perform() {
    use skyway_coord::client::Session;
    use skyway_sim::rig::cluster::ProcessCluster;
    use skyway_sim::rig::process::Process;
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = ProcessCluster::start(&skyway_binary(), &dir.path().join("coord"), 3, &[]).unwrap();
    let leader = cluster.wait_for_leader(Duration::from_secs(30)).await.unwrap();
    let args: Vec<String> = ["dashboard", "--endpoints", &cluster.endpoints().join(","), "--listen", "127.0.0.1:0"]
        .map(String::from)
        .into();
    let (mut dashboard, line) = Process::spawn_reporting(
        "dashboard",
        &skyway_binary(),
        &args,
        &dir.path().join("dashboard.log"),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let url = line.trim().strip_prefix("dashboard: ").unwrap_or_else(|| panic!("no URL in {line:?}")).to_string();
    let addr = url.trim_start_matches("http://").trim_end_matches('/').to_string();

    // The coordinator's three nodes, with the leader the cluster agreed on.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let state: Value = loop {
        let (status, body) = http(&addr, "GET /api/state HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").await;
        assert_eq!(status, 200, "{body}");
        let state: Value = serde_json::from_str(&body).unwrap();
        if state["coordinator"]["nodes"].as_array().is_some_and(|n| n.len() == 3)
            && state["coordinator"]["leader"] == leader
        {
            break state;
        }
        assert!(std::time::Instant::now() < deadline, "the dashboard never showed the cluster: {state}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(state["world"].is_null(), "no world to show from the coordinator alone");

    // Faults: refused, saying why, since it started none of the processes.
    let body = r#"{"action":"kill","target":"leader"}"#;
    let request = format!(
        "POST /api/faults HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, answer) = http(&addr, &request).await;
    assert_eq!(status, 501, "{answer}");
    assert!(answer.contains("skyway demo"), "the refusal says what to use instead: {answer}");
    assert!(cluster.is_running(leader), "nothing was killed");

    // The operator's orders go through the coordinator alone, so they work here, checked
    // against what the running world publishes: with no world, there is nothing to close.
    let post = |body: &str| {
        format!(
            "POST /api/faults HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let close_lane = post(r#"{"action":"close-lane","target":"segment/2","lane":2}"#);
    let (status, answer) = http(&addr, &close_lane).await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer.contains("no world publishes"), "{answer}");
    let operator = cluster.client().unwrap();
    use skyway_coord::client::Consistency::Linearizable;
    // What a world with a 3-lane segment 2 and runway 07L publishes (the world's own format).
    let summary = serde_json::json!({
        "segment": 2, "period_end_s": 60.0, "period_s": 30.0, "speed_limit_kmh": 100, "closed_lanes": [],
        "loops": [{"id": "s2-500", "position_m": 1500.0, "lanes": (1..=3).map(|lane| serde_json::json!({
            "lane": lane, "count": 10, "flow_vph": 1200.0, "occupancy_pct": 8.0, "mean_speed_kmh": 95.0
        })).collect::<Vec<_>>()}]
    });
    for (path, value) in [("/world/segments/2", summary.to_string()), ("/world/runways/07L", "{}".to_string())] {
        operator.create(skyway_coord::client::Create::new(path, value.into_bytes()).make_parents()).await.unwrap();
    }
    let (status, answer) = http(&addr, &close_lane).await;
    assert_eq!(status, 200, "{answer}");
    let order: Value =
        serde_json::from_slice(&operator.get("/operator/segments/2", Linearizable).await.unwrap().data).unwrap();
    assert_eq!(order["closed"][0]["lane"], 2, "the order the segment's primary reads: {order}");
    let (status, answer) = http(&addr, &close_lane).await;
    assert_eq!(status, 409, "closing it twice: {answer}");
    let (status, answer) = http(&addr, &post(r#"{"action":"close-lane","target":"segment/2","lane":4}"#)).await;
    assert!(status == 400 && answer.contains("lanes 1..=3"), "a lane the published road does not have: {answer}");
    let (status, answer) = http(&addr, &post(r#"{"action":"close-lane","target":"segment/5","lane":1}"#)).await;
    assert!(status == 400 && answer.contains("segment/2"), "an unknown segment, naming the known: {answer}");
    let (status, answer) = http(&addr, &post(r#"{"action":"close-runway","target":"runway/07L"}"#)).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        operator.exists("/operator/runways/07L", Linearizable).await.unwrap().stat.is_some(),
        "the runway's order is written"
    );
    let (status, answer) = http(&addr, &post(r#"{"action":"reopen-runway","target":"runway/07L"}"#)).await;
    assert_eq!(status, 200, "{answer}");
    assert!(operator.exists("/operator/runways/07L", Linearizable).await.unwrap().stat.is_none(), "and lifted");
    let (status, answer) = http(&addr, &post(r#"{"action":"reopen-lane","target":"segment/2","lane":2}"#)).await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = http(&addr, &post(r#"{"action":"stall","position_m":100}"#)).await;
    assert!(status == 501 && answer.contains("skyway demo"), "the world is not this dashboard's: {answer}");

    let (status, answer) =
        http(&addr, "GET /api/state?at_t_ms=soon HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("is not a number"), "{answer}");

    // The cap on browsers: 16 streams at once, the 17th told so.
    let mut open = Vec::new();
    for _ in 0..16 {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream.write_all(b"GET /events HTTP/1.1\r\nHost: test\r\n\r\n").await.unwrap();
        let mut reader = tokio::io::BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).await.unwrap();
        assert!(status.contains(" 200 "), "a stream within the cap: {status}");
        open.push(reader);
    }
    let (status, answer) = http(&addr, "GET /events HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status, 503, "{answer}");
    assert!(answer.contains("16 browsers are already watching"), "{answer}");
    drop(open);
    // Closed streams give their places back when the server next writes to them (an event or
    // a keep-alive). SSE: a new browser gets the model at once; one that resumes from that id is never sent
    // it again (only a newer revision, if anything changed).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let first = loop {
        if let Some(id) = first_event_id(&addr, None, Duration::from_secs(5)).await {
            break id;
        }
        assert!(std::time::Instant::now() < deadline, "the closed streams never gave their places back");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    if let Some(next) = first_event_id(&addr, Some(first), Duration::from_secs(2)).await {
        assert!(next > first, "resumed from {first}, got {next} again");
    }

    // The membership log, streamed from a watch: a member that joins is shown; after node 1 is
    // killed the next join is shown too, each revision once. (Node 1 serves the dashboard's watch
    // one run in three: clients start at a random endpoint; `watch_failover.rs` kills the node of
    // a watch for certain.)
    let client = cluster.client().unwrap();
    let first = Session::open(&client, Duration::from_secs(5), Some("visitor-1")).await.unwrap();
    let members = |state: &Value| -> Vec<(u64, String)> {
        state["membership"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|l| l["kind"] == "joined")
            .map(|l| (l["revision"].as_u64().unwrap_or(0), l["member"].as_str().unwrap_or_default().to_string()))
            .collect()
    };
    let wait_member = |name: &'static str| {
        let addr = addr.clone();
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            loop {
                let (_, body) = http(&addr, "GET /api/state HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").await;
                let state: Value = serde_json::from_str(&body).unwrap_or_default();
                if members(&state).iter().any(|(_, m)| m == name) {
                    return state;
                }
                assert!(std::time::Instant::now() < deadline, "{name} never appeared in the membership log: {state}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    wait_member("visitor-1").await;
    cluster.kill(1).await.unwrap();
    let second = Session::open(&client, Duration::from_secs(5), Some("visitor-2")).await.unwrap();
    let state = wait_member("visitor-2").await;
    let joined = members(&state);
    let mut revisions: Vec<u64> = joined.iter().map(|(r, _)| *r).collect();
    revisions.dedup();
    assert_eq!(revisions.len(), joined.len(), "each record once: {joined:?}");
    assert!(revisions.is_sorted(), "in the log's order: {joined:?}");
    drop((first, second));

    let _ = dashboard.stop(Duration::from_secs(5)).await;
}
