//! The dashboard's HTTP server (axum): the page, its live model over Server-Sent Events, the
//! same model as JSON, and the fault controls.
//!
//! - `GET /`, `/app.js`, `/app.css`: the page, embedded in the binary.
//! - `GET /events`: SSE; each event is the whole model, its id the history's sequence number at
//!   which it was computed. Since each event is complete, a browser that reconnects with
//!   `Last-Event-ID` misses nothing: it gets the current model at once if anything changed since.
//! - `GET /api/state` (`?at_t_ms=N` for the replay: the model as it was N ms into the run).
//! - `POST /api/faults`: a JSON [`Request`].
//! - `GET /api/cameras/<id>/frames/<seq>`: one of a camera's recent frames, read from blob
//!   storage by the URL its record names, served only if its SHA-256 and size match the record
//!   (a missing or tampered blob is an error saying so, never the wrong picture). A frame's
//!   bytes never change, so it is cached by the browser for a day (`immutable`, ETag = hash).
//!
//! Bounds: the model is recomputed at most [`UPDATES_PER_S`] times a second and each browser
//! gets at most that many events; at most [`BROWSERS_MAX`] event streams at once; a model of the
//! default scenario stays under [`model::SIZE_MAX`]. Bound to anything but loopback, faults need
//! the token printed with the URL.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::history::History;
use super::model;
use crate::demo::control::{Control, Request};

/// The most model updates a second, per browser and in all.
pub const UPDATES_PER_S: u64 = 10;
/// The most browsers streaming events at once.
pub const BROWSERS_MAX: usize = 16;
/// The largest fault request body accepted.
const REQUEST_BYTES_MAX: usize = 4 * 1024;

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/app.css");

/// Binds the dashboard's address; a busy port is an error that names the flag.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| {
        format!(
            "cannot serve the dashboard on {addr} (--listen): the port is busy or not ours to use; give another \
             with --listen ADDR, or --listen 127.0.0.1:0 for any free port"
        )
    })
}

/// A model, serialized once and shared by every browser.
#[derive(Debug, Default)]
struct Published {
    revision: u64,
    json: String,
}

/// Why faults are not possible here, if they are not.
#[derive(Clone)]
enum Faults {
    Demo(Control),
    Refused(String),
}

#[derive(Clone)]
struct Shared {
    history: Arc<Mutex<History>>,
    /// Where the cameras' frames are (None: frames cannot be shown, and the error says why).
    store: Option<skyway_storage::BlobStore>,
    latest: watch::Receiver<Arc<Published>>,
    faults: Faults,
    token: Option<String>,
    browsers: Arc<Semaphore>,
}

/// A dashboard ready to serve.
pub struct Dashboard {
    shared: Shared,
    publish: watch::Sender<Arc<Published>>,
    url: String,
}

impl Dashboard {
    /// A dashboard of `history`, taking faults through `control` (None: observe only, and
    /// faults are refused saying so), to be served on `listener`.
    pub fn new(history: Arc<Mutex<History>>, control: Option<Control>, listener: &TcpListener) -> anyhow::Result<Self> {
        let faults = match control {
            Some(control) => Faults::Demo(control),
            None => Faults::Refused(
                "this dashboard observes a running system (skyway dashboard --endpoints): it did not start its \
                 processes, so it cannot kill, pause or cut them off; run `skyway demo` for fault controls"
                    .into(),
            ),
        };
        Self::with_faults(history, faults, listener)
    }

    fn with_faults(history: Arc<Mutex<History>>, faults: Faults, listener: &TcpListener) -> anyhow::Result<Self> {
        let addr = listener.local_addr()?;
        let token = needs_token(addr).then(|| format!("{:032x}", rand::random::<u128>()));
        let (publish, latest) = watch::channel(Arc::new(Published::default()));
        let host = if addr.ip().is_unspecified() { SocketAddr::new([127, 0, 0, 1].into(), addr.port()) } else { addr };
        let url = match &token {
            Some(token) => format!("http://{host}/?token={token}"),
            None => format!("http://{host}/"),
        };
        let browsers = Arc::new(Semaphore::new(BROWSERS_MAX));
        let shared = Shared { history, store: None, latest, faults, token, browsers };
        Ok(Self { shared, publish, url })
    }

    /// Shows the cameras' frames from `store`.
    pub fn with_store(mut self, store: skyway_storage::BlobStore) -> Self {
        self.shared.store = Some(store);
        self
    }

    /// The URL to open (with the token, when one is needed).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Serves until the task is aborted.
    pub async fn serve(self, listener: TcpListener) {
        let history = self.shared.history.clone();
        let publish = self.publish;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1_000 / UPDATES_PER_S));
            let mut last = u64::MAX;
            loop {
                tick.tick().await;
                let (revision, json) = {
                    let history = history.lock().expect("history poisoned");
                    if history.seq() == last {
                        continue;
                    }
                    let model = model::compute(&history, None);
                    (history.seq(), serde_json::to_string(&model))
                };
                match json {
                    Ok(json) => {
                        last = revision;
                        if publish.send(Arc::new(Published { revision, json })).is_err() {
                            return;
                        }
                    }
                    Err(e) => tracing::error!("cannot serialize the dashboard's model: {e}"),
                }
            }
        });
        let app = Router::new()
            .route("/", get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX) }))
            .route("/app.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT) }))
            .route("/app.css", get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE) }))
            .route("/events", get(events))
            .route("/api/state", get(state))
            .route("/api/faults", post(faults))
            .route("/api/cameras/{camera}/frames/{seq}", get(camera_frame))
            .fallback(|uri: Uri| async move {
                error(
                    StatusCode::NOT_FOUND,
                    &format!(
                        "no such page {uri}: try /, /events, /api/state, /api/cameras/<id>/frames/<seq>, POST \
                         /api/faults"
                    ),
                )
            })
            .with_state(self.shared);
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("the dashboard stopped serving: {e}");
        }
    }
}

/// Whether fault controls served on `addr` need a token: anything but loopback does.
pub fn needs_token(addr: SocketAddr) -> bool {
    !addr.ip().is_loopback()
}

/// The token rule: with a token expected, a request must carry exactly it.
fn check_token(expected: Option<&str>, given: Option<&str>) -> Result<(), (StatusCode, &'static str)> {
    match (expected, given) {
        (None, _) => Ok(()),
        (Some(_), None) => Err((
            StatusCode::UNAUTHORIZED,
            "this dashboard is served beyond loopback: fault controls need the token printed on the demo's \
             console (open the URL it printed, which carries it); nothing was done",
        )),
        (Some(expected), Some(given)) if expected == given => Ok(()),
        (Some(_), Some(_)) => {
            Err((StatusCode::FORBIDDEN, "wrong token: use the URL the demo printed on its console; nothing was done"))
        }
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "ok": false, "error": message }))).into_response()
}

fn query<'a>(uri: &'a Uri, key: &str) -> Option<&'a str> {
    uri.query()?.split('&').find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
}

async fn state(State(shared): State<Shared>, uri: Uri) -> Response {
    let json = match query(&uri, "at_t_ms") {
        None => {
            let latest = shared.latest.borrow().clone();
            if latest.revision == 0 {
                let history = shared.history.lock().expect("history poisoned");
                serde_json::to_string(&model::compute(&history, None))
            } else {
                Ok(latest.json.clone())
            }
        }
        Some(text) => {
            let Ok(at) = text.parse::<u64>() else {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("at_t_ms={text:?} is not a number: give ms since the run started, e.g. ?at_t_ms=60000"),
                );
            };
            let history = shared.history.lock().expect("history poisoned");
            serde_json::to_string(&model::compute(&history, Some(history.started_ms.saturating_add(at))))
        }
    };
    match json {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &format!("cannot serialize the model: {e}")),
    }
}

async fn events(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let Ok(permit) = shared.browsers.clone().try_acquire_owned() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("{BROWSERS_MAX} browsers are already watching: close one, or read /api/state"),
        );
    };
    // A browser that saw revision N is sent the model at once only if it has changed since.
    let seen: Option<u64> =
        headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
    let mut latest = shared.latest.clone();
    // A clone starts where the shared receiver stands (never updated): mark the value seen, then
    // unseen again only if this browser has not seen it.
    let current = latest.borrow_and_update().revision;
    if seen.is_none_or(|seen| seen != current) {
        latest.mark_changed();
    }
    struct Stream {
        latest: watch::Receiver<Arc<Published>>,
        _permit: OwnedSemaphorePermit,
    }
    let stream = futures::stream::unfold(Stream { latest, _permit: permit }, |mut s| async move {
        loop {
            s.latest.changed().await.ok()?;
            let published = s.latest.borrow_and_update().clone();
            if published.revision == 0 {
                continue;
            }
            let event = Event::default().id(published.revision.to_string()).event("model").data(&published.json);
            // At most UPDATES_PER_S events a second to this browser, whatever the publisher does.
            tokio::time::sleep(Duration::from_millis(1_000 / UPDATES_PER_S)).await;
            return Some((Ok::<_, std::convert::Infallible>(event), s));
        }
    });
    // Keep-alives also find browsers that left while nothing changed, so their places free up.
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(3))).into_response()
}

async fn camera_frame(
    State(shared): State<Shared>,
    Path((camera, seq)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Ok(seq) = seq.parse::<u64>() else {
        return error(StatusCode::BAD_REQUEST, &format!("frame {seq:?} is not a number: give a frame's seq"));
    };
    let record = {
        let history = shared.history.lock().expect("history poisoned");
        if !history.cameras().contains_key(&camera) {
            let known: Vec<&String> = history.cameras().keys().collect();
            return error(StatusCode::NOT_FOUND, &format!("no camera {camera:?}; cameras: {known:?}"));
        }
        match history.camera_frame_at(&camera, seq) {
            Some(frame) => frame.record.clone(),
            None => {
                return error(
                    StatusCode::NOT_FOUND,
                    &format!("{camera} frame {seq} is not one of its recent frames: read /api/state for the latest"),
                );
            }
        }
    };
    let etag = format!("\"{}\"", record.frame.sha256);
    if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let Some(store) = &shared.store else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "this dashboard was not told where the frames are stored: give --store URL (the cameras' blob storage)",
        );
    };
    let blob = skyway_storage::BlobRef {
        url: record.frame.url.clone(),
        sha256: record.frame.sha256.clone(),
        size: record.frame.size,
    };
    match store.get(&blob).await {
        Ok(bytes) => {
            let kind = match record.format {
                skyway_collector::Format::Png => "image/png",
                skyway_collector::Format::Jpeg(_) => "image/jpeg",
            };
            let headers = [
                (header::CONTENT_TYPE, kind.to_string()),
                (header::CACHE_CONTROL, "public, max-age=86400, immutable".to_string()),
                (header::ETAG, etag),
            ];
            (headers, bytes).into_response()
        }
        // Gone from blob storage: the janitor keeps only the newest frames (a replay asks for
        // old ones), which the page says in place of the picture.
        Err(skyway_storage::StorageError::NotFound { .. }) => error(
            StatusCode::NOT_FOUND,
            &format!(
                "{camera} frame {seq} is no longer retained: the janitor deleted it from blob storage (it keeps only \
                 the newest frames)"
            ),
        ),
        Err(e) => {
            tracing::warn!(%camera, seq, "cannot serve a camera frame: {e}");
            error(StatusCode::BAD_GATEWAY, &format!("{camera} frame {seq}: {e}"))
        }
    }
}

async fn faults(State(shared): State<Shared>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let control = match &shared.faults {
        Faults::Demo(control) => control,
        Faults::Refused(why) => return error(StatusCode::NOT_IMPLEMENTED, why),
    };
    let given = headers.get("x-skyway-token").and_then(|v| v.to_str().ok()).or_else(|| query(&uri, "token"));
    if let Err((status, why)) = check_token(shared.token.as_deref(), given) {
        return error(status, why);
    }
    if body.len() > REQUEST_BYTES_MAX {
        return error(StatusCode::PAYLOAD_TOO_LARGE, &format!("a fault request is at most {REQUEST_BYTES_MAX} bytes"));
    }
    let request: Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "malformed fault request ({e}); nothing was done. Send JSON such as {{\"action\":\"kill\",\
                     \"target\":\"segment/3\"}}; actions: kill, pause, resume, cut-off, reconnect, restart (targets: \
                     a controller, a role's primary, `node N`, `leader`), speed (with \"value\"), lesson, stall \
                     (with \"position_m\", \"lane\"), close-lane and reopen-lane (with \"target\":\"segment/N\" and \
                     \"lane\"), close-runway and reopen-runway (with \"target\":\"runway/ID\")"
                ),
            );
        }
    };
    tracing::info!(?request, "dashboard fault request");
    match control.ask(request).await {
        Ok(done) => (StatusCode::OK, axum::Json(json!({ "ok": true, "done": done }))).into_response(),
        Err(refused) => {
            let status = StatusCode::from_u16(refused.status).unwrap_or(StatusCode::BAD_REQUEST);
            error(status, &format!("{}; nothing was done", refused.error))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beyond_loopback_faults_need_the_printed_token() {
        assert!(!needs_token("127.0.0.1:8080".parse().unwrap()));
        assert!(!needs_token("[::1]:8080".parse().unwrap()));
        assert!(needs_token("0.0.0.0:8080".parse().unwrap()));
        assert!(needs_token("192.168.1.20:8080".parse().unwrap()));
        assert_eq!(check_token(None, None), Ok(()));
        assert_eq!(check_token(Some("abc"), Some("abc")), Ok(()));
        assert_eq!(check_token(Some("abc"), None).unwrap_err().0, StatusCode::UNAUTHORIZED);
        let (status, why) = check_token(Some("abc"), Some("abd")).unwrap_err();
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(why.contains("nothing was done"));
    }

    #[test]
    fn query_values_are_read_by_key() {
        let uri: Uri = "/api/faults?x=1&token=abc".parse().unwrap();
        assert_eq!(query(&uri, "token"), Some("abc"));
        assert_eq!(query(&uri, "tok"), None);
        assert_eq!(query(&"/api/state".parse().unwrap(), "at_t_ms"), None);
    }
}
