//! What can go wrong with blob storage, said so that the reader knows what to do next.

use crate::blob::ObjectVersion;

/// An error from blob storage.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The storage URL could not be understood.
    #[error("invalid storage URL {url:?}: {reason} (use file:///absolute/dir, s3://bucket/prefix or memory://name)")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An object key that the store cannot hold.
    #[error("invalid object key {key:?}: {reason} (keys are /-separated names without empty parts, `.` or `..`)")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A URL that does not point into this store.
    #[error("{url} is not in this store ({store}); open the store the URL belongs to")]
    ForeignUrl {
        /// The URL asked for.
        url: String,
        /// The URL of this store's root.
        store: String,
    },
    /// Nothing is stored at the URL.
    #[error("no object at {url}")]
    NotFound {
        /// Where we looked.
        url: String,
    },
    /// A create-only-if-absent write found an object already there.
    #[error("an object already exists at {url}; it was not overwritten (create-only-if-absent)")]
    AlreadyExists {
        /// Where the write was refused.
        url: String,
    },
    /// An update-only-if-unchanged write found the object changed since it was read.
    #[error("{url} changed since it was read (expected {expected}); read it again and retry")]
    Changed {
        /// Where the write was refused.
        url: String,
        /// The version the writer had read.
        expected: ObjectVersion,
    },
    /// The backend cannot do what was asked (see [`crate::Capabilities`]).
    #[error("{backend} storage does not support {what}")]
    Unsupported {
        /// The backend's name.
        backend: &'static str,
        /// The operation.
        what: &'static str,
    },
    /// What was read is not what was written.
    #[error(
        "{url} is corrupt or was replaced: SHA-256 {actual} ({actual_size} bytes), expected {expected} ({expected_size} bytes); the data was not returned"
    )]
    HashMismatch {
        /// The object read.
        url: String,
        /// The hash recorded when it was stored.
        expected: String,
        /// The hash of what was read.
        actual: String,
        /// The size recorded when it was stored.
        expected_size: u64,
        /// The size of what was read.
        actual_size: u64,
    },
    /// The server could not be reached (after the configured retries).
    #[error(
        "cannot reach blob storage for {url}: {source} (is the server running, and are AWS_ENDPOINT and the network right?)"
    )]
    Unreachable {
        /// The object the operation was for.
        url: String,
        /// The underlying error.
        #[source]
        source: object_store::Error,
    },
    /// Any other error from the backend.
    #[error("blob storage failed for {url}: {source}")]
    Backend {
        /// The object the operation was for.
        url: String,
        /// The underlying error.
        #[source]
        source: object_store::Error,
    },
}

impl StorageError {
    /// Classifies an `object_store` error for the object at `url`.
    pub(crate) fn from_backend(url: String, error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { .. } => Self::NotFound { url },
            object_store::Error::AlreadyExists { .. } => Self::AlreadyExists { url },
            error if is_unreachable(&error) => Self::Unreachable { url, source: error },
            error => Self::Backend { url, source: error },
        }
    }
}

/// Whether the error chain says the server could not be connected to or did not answer.
fn is_unreachable(error: &(dyn std::error::Error + 'static)) -> bool {
    use object_store::client::{HttpError, HttpErrorKind};
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = next {
        if let Some(http) = error.downcast_ref::<HttpError>()
            && matches!(http.kind(), HttpErrorKind::Connect | HttpErrorKind::Timeout)
        {
            return true;
        }
        next = error.source();
    }
    false
}
