//! A tower layer that counts and times every gRPC call a node answers, by service, method and
//! status code, without touching the handlers.
//!
//! The code comes from the response headers: tonic answers an error before any message as a
//! "trailers-only" response whose headers carry `grpc-status`; a response without it started
//! normally and is counted `OK`.
//!
//! Caveats: the latency is to the response's headers, which for a unary call is the whole call
//! and for a stream (a watch) its start; a stream that fails after it started still counts `OK`.
//! Calls to methods that do not exist are counted under one `unimplemented` method, so a
//! client sending garbage paths cannot grow the label set without bound.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::Future;
use tonic::Code;
use tower_layer::Layer;
use tower_service::Service;

use super::coord_metrics::{CallLabels, CoordMetrics, MethodLabels};

/// Counts and times calls into [`CoordMetrics`].
#[derive(Clone)]
pub struct GrpcMetricsLayer {
    metrics: Arc<CoordMetrics>,
}

impl GrpcMetricsLayer {
    /// A layer recording into `metrics`.
    pub fn new(metrics: Arc<CoordMetrics>) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics { inner, metrics: self.metrics.clone() }
    }
}

/// The service [`GrpcMetricsLayer`] wraps around the router.
#[derive(Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
    metrics: Arc<CoordMetrics>,
}

impl<S, B, R> Service<http::Request<B>> for GrpcMetrics<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Send,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (service, method) = split_path(request.uri().path());
        let metrics = self.metrics.clone();
        let started = Instant::now();
        let call = self.inner.call(request);
        Box::pin(async move {
            let result = call.await;
            let code = match &result {
                Ok(response) => response_code(response.headers()),
                Err(_) => Code::Internal,
            };
            let method = if code == Code::Unimplemented { "unimplemented".to_string() } else { method };
            let labels = MethodLabels { service, method };
            metrics.request_duration.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
            let call = CallLabels { service: labels.service, method: labels.method, code: code_name(code).into() };
            metrics.requests.get_or_create(&call).inc();
            result
        })
    }
}

/// `/skyway.coord.v1.Coord/Create` → (`Coord`, `Create`): the service's last name segment.
fn split_path(path: &str) -> (String, String) {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().unwrap_or_default();
    let method = parts.next().unwrap_or_default();
    let short = service.rsplit('.').next().unwrap_or(service);
    (short.to_string(), method.to_string())
}

fn response_code(headers: &http::HeaderMap) -> Code {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(Code::Ok, Code::from_i32)
}

/// The code's canonical upper-case name, as gRPC's own tools print it.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_short_service_and_method() {
        assert_eq!(split_path("/skyway.coord.v1.Coord/Create"), ("Coord".into(), "Create".into()));
        assert_eq!(split_path("/grpc.health.v1.Health/Check"), ("Health".into(), "Check".into()));
        assert_eq!(split_path("/"), (String::new(), String::new()));
    }

    #[test]
    fn a_trailers_only_error_is_counted_by_its_code() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(response_code(&headers), Code::Ok);
        headers.insert("grpc-status", "5".parse().unwrap());
        assert_eq!(response_code(&headers), Code::NotFound);
        assert_eq!(code_name(response_code(&headers)), "NOT_FOUND");
    }
}
