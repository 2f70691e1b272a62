//! The HTTP endpoint every Skyway process can serve next to its real work: `/metrics` in the
//! Prometheus text format (OpenMetrics), `/health` as etcd answers it (`{"health":"true"}`, or
//! `"false"` with a reason and status 503), `/livez` (the process answers) and `/readyz` (it can
//! do its job now). What each answer means is the [`Probe`]'s business; this module only serves.
//!
//! It lives in `coord` so that coordinator nodes and every process built on the client (the
//! controllers, cameras and analyzers in `sim`) share one implementation without `coord`
//! knowing any of them.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::future::BoxFuture;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

/// The content type of the OpenMetrics text that `prometheus-client` writes (Prometheus
/// negotiates it and parses it natively).
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One health verdict: healthy or not, and why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Whether the check passed.
    pub healthy: bool,
    /// Why it failed (empty when it passed).
    pub reason: String,
}

impl Health {
    /// A passed check.
    pub fn ok() -> Self {
        Self { healthy: true, reason: String::new() }
    }

    /// A failed check, and why.
    pub fn failing(reason: impl Into<String>) -> Self {
        Self { healthy: false, reason: reason.into() }
    }
}

/// What a process tells its HTTP endpoint.
pub trait Probe: Send + Sync + 'static {
    /// The metrics, encoded in the Prometheus text format.
    fn metrics(&self) -> String;
    /// `/health`: can this process serve its clients correctly right now? May do real work
    /// (a coordinator node does a quorum read), so it is asynchronous.
    fn health(&self) -> BoxFuture<'_, Health>;
    /// `/readyz`: should traffic be sent here now? Cheap and local.
    fn ready(&self) -> Health;
}

/// Encodes a registry in the text format.
pub fn encode_registry(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing into a String cannot fail; an encoder error would be a bug in a metric.
    prometheus_client::encoding::text::encode(&mut text, registry).expect("metrics encode into a String");
    text
}

/// A probe for a process whose metrics are a plain registry and whose health and readiness are
/// one local check (a controller: is its session in doubt?).
pub struct RegistryProbe<F> {
    registry: Registry,
    check: F,
}

impl<F: Fn() -> Health + Send + Sync + 'static> RegistryProbe<F> {
    /// A probe over `registry`, healthy and ready when `check` says so.
    pub fn new(registry: Registry, check: F) -> Self {
        Self { registry, check }
    }
}

impl<F: Fn() -> Health + Send + Sync + 'static> Probe for RegistryProbe<F> {
    fn metrics(&self) -> String {
        encode_registry(&self.registry)
    }

    fn health(&self) -> BoxFuture<'_, Health> {
        Box::pin(async move { (self.check)() })
    }

    fn ready(&self) -> Health {
        (self.check)()
    }
}

/// The endpoint's routes over `probe`.
pub fn router(probe: Arc<dyn Probe>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(probe)
}

/// Serves the endpoint on an already-bound listener (port 0 works) until `shutdown` completes.
pub async fn serve_http(
    listener: TcpListener,
    probe: Arc<dyn Probe>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!(addr = ?listener.local_addr().ok(), "serving /metrics, /health, /livez, /readyz");
    axum::serve(listener, router(probe)).with_graceful_shutdown(shutdown).await
}

async fn metrics(State(probe): State<Arc<dyn Probe>>) -> Response {
    ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], probe.metrics()).into_response()
}

async fn health(State(probe): State<Arc<dyn Probe>>) -> Response {
    let verdict = probe.health().await;
    let body = if verdict.healthy {
        serde_json::json!({"health": "true", "reason": ""})
    } else {
        serde_json::json!({"health": "false", "reason": verdict.reason})
    };
    let status = if verdict.healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn ready(State(probe): State<Arc<dyn Probe>>) -> Response {
    let verdict = probe.ready();
    if verdict.healthy {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {}\n", verdict.reason)).into_response()
    }
}
