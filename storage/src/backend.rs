//! Choosing a backend from a URL: a local directory, an S3-compatible server, or memory.
//!
//! | URL                    | Backend                        | create-if-absent | update-if-unchanged |
//! |------------------------|--------------------------------|------------------|---------------------|
//! | `file:///abs/dir`      | local directory (the default)  | yes              | **no**              |
//! | `s3://bucket/prefix`   | any S3-compatible server       | if the server honours `If-None-Match` | if the server honours `If-Match` |
//! | `memory://name`        | memory of this process (tests) | yes              | yes                 |
//!
//! S3 servers differ: AWS S3 (since 2024), MinIO, Cloudflare R2 and moto honour both
//! conditions; Garage and s3rver ignore them, and s3s-fs checks them non-atomically (two racing
//! writers can both win). For such servers set [`S3Options::conditional_writes`] to `false`, so
//! that a conditional write fails loudly instead of being silently unconditional.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::prefix::PrefixStore;
use object_store::{BackoffConfig, ClientOptions, RetryConfig};
use url::Url;

use crate::error::StorageError;

/// Which conditional writes a backend honours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Create-only-if-absent (`If-None-Match: *`).
    pub create_if_absent: bool,
    /// Update-only-if-unchanged (`If-Match: <etag>`).
    pub update_if_unchanged: bool,
}

/// Settings for S3-compatible servers. Unset fields come from the usual AWS environment
/// variables (`AWS_ENDPOINT`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`).
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// The server, e.g. `http://127.0.0.1:9000`; AWS itself when unset.
    pub endpoint: Option<String>,
    /// The region (`us-east-1` when unset and not in the environment).
    pub region: Option<String>,
    /// The access key id.
    pub access_key_id: Option<String>,
    /// The secret access key.
    pub secret_access_key: Option<String>,
    /// Whether the server honours `If-None-Match` and `If-Match` atomically (default true).
    pub conditional_writes: Option<bool>,
}

/// How to reach blob storage and how patiently.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// `file:///abs/dir`, `s3://bucket/prefix` or `memory://name`.
    pub url: String,
    /// Settings for `s3://` URLs.
    pub s3: S3Options,
    /// Longest wait for one request to complete.
    pub request_timeout: Duration,
    /// Longest wait for a connection to be set up.
    pub connect_timeout: Duration,
    /// How often a failed idempotent request is retried.
    pub max_retries: usize,
    /// Longest time spent retrying one request.
    pub retry_timeout: Duration,
    /// Objects larger than this go up in parts of this size (S3's minimum part is 5 MiB).
    pub part_bytes: usize,
}

impl StorageConfig {
    /// Default settings for the store at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            s3: S3Options::default(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(2),
            max_retries: 3,
            retry_timeout: Duration::from_secs(10),
            part_bytes: 8 * 1024 * 1024,
        }
    }

    /// A local directory as the store (created if missing).
    pub fn local_dir(dir: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let dir = dir.into();
        let dir = std::path::absolute(&dir).map_err(|e| StorageError::InvalidUrl {
            url: dir.display().to_string(),
            reason: format!("cannot make the path absolute: {e}"),
        })?;
        let url = Url::from_directory_path(&dir).map_err(|()| StorageError::InvalidUrl {
            url: dir.display().to_string(),
            reason: "not a directory path".into(),
        })?;
        Ok(Self::new(url.as_str().trim_end_matches('/')))
    }
}

/// An opened backend: the store, the URL of its root, its name and what it honours.
pub(crate) struct Backend {
    pub store: Arc<dyn ObjectStore>,
    /// Object URLs are this root, `/`, and the key.
    pub root: String,
    pub name: &'static str,
    pub capabilities: Capabilities,
}

/// Opens the backend named by `config.url`.
pub(crate) fn open(config: &StorageConfig) -> Result<Backend, StorageError> {
    let invalid = |reason: &str| StorageError::InvalidUrl { url: config.url.clone(), reason: reason.into() };
    let url = Url::parse(&config.url).map_err(|e| invalid(&e.to_string()))?;
    match url.scheme() {
        "file" => {
            let dir = url.to_file_path().map_err(|()| invalid("not an absolute local path"))?;
            std::fs::create_dir_all(&dir).map_err(|e| invalid(&format!("cannot create {}: {e}", dir.display())))?;
            let store = LocalFileSystem::new_with_prefix(&dir).map_err(|e| invalid(&e.to_string()))?;
            Ok(Backend {
                store: Arc::new(store),
                root: config.url.trim_end_matches('/').to_string(),
                name: "local directory",
                capabilities: Capabilities { create_if_absent: true, update_if_unchanged: false },
            })
        }
        "memory" => Ok(Backend {
            store: Arc::new(InMemory::new()),
            root: config.url.trim_end_matches('/').to_string(),
            name: "memory",
            capabilities: Capabilities { create_if_absent: true, update_if_unchanged: true },
        }),
        "s3" => open_s3(config, &url).map_err(|e| match e {
            StorageError::InvalidUrl { reason, .. } => invalid(&reason),
            other => other,
        }),
        other => Err(invalid(&format!("unknown scheme {other:?}"))),
    }
}

fn open_s3(config: &StorageConfig, url: &Url) -> Result<Backend, StorageError> {
    let invalid = |reason: String| StorageError::InvalidUrl { url: config.url.clone(), reason };
    let bucket = url.host_str().filter(|b| !b.is_empty()).ok_or_else(|| invalid("no bucket name".into()))?;
    let prefix = url.path().trim_matches('/').to_string();
    let s3 = &config.s3;
    let conditional = s3.conditional_writes.unwrap_or(true);
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        // Path-style addressing: what local and self-hosted servers understand.
        .with_virtual_hosted_style_request(false)
        // One DELETE per object: many S3-compatible servers lack the bulk-delete call.
        .with_disable_bulk_delete(true)
        .with_conditional_put(if conditional { S3ConditionalPut::ETagMatch } else { S3ConditionalPut::Disabled })
        // New client options replace those `from_env` read, so `AWS_ALLOW_HTTP` is carried over
        // by hand (without it, a local server named by `AWS_ENDPOINT=http://…` is refused).
        .with_client_options(
            ClientOptions::new()
                .with_timeout(config.request_timeout)
                .with_connect_timeout(config.connect_timeout)
                .with_allow_http(std::env::var("AWS_ALLOW_HTTP").is_ok_and(|v| v.eq_ignore_ascii_case("true"))),
        )
        .with_retry(RetryConfig {
            backoff: BackoffConfig { init_backoff: Duration::from_millis(50), ..BackoffConfig::default() },
            max_retries: config.max_retries,
            retry_timeout: config.retry_timeout,
        });
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
        builder = builder.with_region("us-east-1");
    }
    if let Some(endpoint) = &s3.endpoint {
        // A local server is plain HTTP; allow it when the endpoint says so.
        builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
    }
    if let Some(region) = &s3.region {
        builder = builder.with_region(region);
    }
    if let Some(key) = &s3.access_key_id {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = &s3.secret_access_key {
        builder = builder.with_secret_access_key(secret);
    }
    install_tls_provider();
    let store = builder.build().map_err(|e| invalid(e.to_string()))?;
    let store: Arc<dyn ObjectStore> =
        if prefix.is_empty() { Arc::new(store) } else { Arc::new(PrefixStore::new(store, prefix.as_str())) };
    Ok(Backend {
        store,
        root: config.url.trim_end_matches('/').to_string(),
        name: "S3",
        capabilities: Capabilities { create_if_absent: conditional, update_if_unchanged: conditional },
    })
}

/// rustls needs one crypto provider per process; Skyway uses ring (no large C build).
fn install_tls_provider() {
    // Fails only if a provider is already installed, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
