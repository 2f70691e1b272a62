//! The blob store: put bytes, get back a [`BlobRef`] (URL, SHA-256, size) small enough for the
//! coordinator; read by that reference and get exactly those bytes or an error.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion, WriteMultipart};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::backend::{self, Capabilities, StorageConfig};
use crate::error::StorageError;

/// Where a blob is and what it must hash to: what goes into the coordinator instead of the data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    /// The object's URL, e.g. `s3://frames/segment-12/000042.jpg`.
    pub url: String,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
    /// Size of the content in bytes.
    pub size: u64,
}

impl BlobRef {
    /// The reference for `data` stored at `url`.
    pub fn for_content(url: String, data: &[u8]) -> Self {
        Self { url, sha256: sha256_hex(data), size: data.len() as u64 }
    }
}

/// The hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Which version of an object a reader saw, for update-only-if-unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectVersion {
    /// The entity tag, as the backend reports it.
    pub e_tag: Option<String>,
    /// The backend's version id, where it keeps versions.
    pub version: Option<String>,
}

impl fmt::Display for ObjectVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.e_tag, &self.version) {
            (Some(tag), _) => write!(f, "ETag {tag}"),
            (None, Some(version)) => write!(f, "version {version}"),
            (None, None) => write!(f, "an unversioned object"),
        }
    }
}

/// What a write requires of the object already there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Nothing: overwrite whatever is there.
    None,
    /// There must be no object yet (create-only-if-absent).
    Absent,
    /// The object must still be the version that was read (update-only-if-unchanged).
    Unchanged(ObjectVersion),
}

/// An object's content and the version it was read at.
#[derive(Debug, Clone)]
pub struct Object {
    /// The content.
    pub data: Bytes,
    /// The version, for a later conditional write.
    pub version: ObjectVersion,
}

/// What the store says about an object without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object's URL.
    pub url: String,
    /// Its key within the store.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its version.
    pub version: ObjectVersion,
}

/// Blob storage: one small API over any `object_store` backend.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    root: String,
    backend: &'static str,
    capabilities: Capabilities,
    part_bytes: usize,
}

impl fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobStore").field("root", &self.root).field("backend", &self.backend).finish()
    }
}

impl BlobStore {
    /// Opens the store that `config.url` names.
    pub fn open(config: &StorageConfig) -> Result<Self, StorageError> {
        let backend = backend::open(config)?;
        Ok(Self {
            store: backend.store,
            root: backend.root,
            backend: backend.name,
            capabilities: backend.capabilities,
            part_bytes: config.part_bytes.max(5 * 1024 * 1024),
        })
    }

    /// Opens the store at `url` with default settings.
    pub fn open_url(url: &str) -> Result<Self, StorageError> {
        Self::open(&StorageConfig::new(url))
    }

    /// Wraps any `object_store` backend (e.g. a model or an instrumented store). `root` is the
    /// URL prefix of its objects; `capabilities` must say truthfully what it honours.
    pub fn from_object_store(
        store: Arc<dyn ObjectStore>,
        root: impl Into<String>,
        backend: &'static str,
        capabilities: Capabilities,
    ) -> Self {
        Self { store, root: root.into(), backend, capabilities, part_bytes: 8 * 1024 * 1024 }
    }

    /// The URL of the store's root.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The backend's name ("local directory", "S3", "memory", …).
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Which conditional writes this store honours.
    pub fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    /// The URL of the object at `key`.
    pub fn url(&self, key: &str) -> String {
        format!("{}/{}", self.root, key)
    }

    /// The key of the object at `url`, if the URL is in this store.
    pub fn key_of<'u>(&self, url: &'u str) -> Result<&'u str, StorageError> {
        url.strip_prefix(&self.root)
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|key| !key.is_empty())
            .ok_or_else(|| StorageError::ForeignUrl { url: url.to_string(), store: self.root.clone() })
    }

    fn path(key: &str) -> Result<Path, StorageError> {
        let invalid = |reason: String| StorageError::InvalidKey { key: key.to_string(), reason };
        let path = Path::parse(key).map_err(|e| invalid(e.to_string()))?;
        if path.as_ref().is_empty() {
            return Err(invalid("empty".into()));
        }
        Ok(path)
    }

    /// Stores `data` at `key`, replacing whatever is there; large data goes up in parts.
    pub async fn put(&self, key: &str, data: Bytes) -> Result<BlobRef, StorageError> {
        self.put_if(key, data, Condition::None).await.map(|(blob, _)| blob)
    }

    /// Stores `data` at `key` if `condition` holds, and returns the reference and the new
    /// version. A condition the backend cannot honour is an [`StorageError::Unsupported`] error,
    /// never a silent unconditional write.
    pub async fn put_if(
        &self,
        key: &str,
        data: Bytes,
        condition: Condition,
    ) -> Result<(BlobRef, ObjectVersion), StorageError> {
        let path = Self::path(key)?;
        let url = self.url(key);
        let blob = BlobRef::for_content(url.clone(), &data);
        let (mode, expected) = match condition {
            Condition::None => (PutMode::Overwrite, None),
            Condition::Absent if self.capabilities.create_if_absent => (PutMode::Create, None),
            Condition::Unchanged(version) if self.capabilities.update_if_unchanged => {
                let update = UpdateVersion { e_tag: version.e_tag.clone(), version: version.version.clone() };
                (PutMode::Update(update), Some(version))
            }
            Condition::Absent => {
                return Err(StorageError::Unsupported { backend: self.backend, what: "create-only-if-absent" });
            }
            Condition::Unchanged(_) => {
                return Err(StorageError::Unsupported { backend: self.backend, what: "update-only-if-unchanged" });
            }
        };
        if data.len() > self.part_bytes && mode == PutMode::Overwrite {
            return self.put_in_parts(&path, url, data, blob).await;
        }
        let options = PutOptions { mode, ..PutOptions::default() };
        match self.store.put_opts(&path, PutPayload::from_bytes(data), options).await {
            Ok(result) => Ok((blob, ObjectVersion { e_tag: result.e_tag, version: result.version })),
            Err(object_store::Error::Precondition { .. }) => {
                Err(StorageError::Changed { url, expected: expected.unwrap_or_default() })
            }
            Err(error) => Err(StorageError::from_backend(url, error)),
        }
    }

    async fn put_in_parts(
        &self,
        path: &Path,
        url: String,
        data: Bytes,
        blob: BlobRef,
    ) -> Result<(BlobRef, ObjectVersion), StorageError> {
        let upload = self.store.put_multipart(path).await.map_err(|e| StorageError::from_backend(url.clone(), e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.part_bytes);
        writer.put(data);
        let result = writer.finish().await.map_err(|e| StorageError::from_backend(url, e))?;
        Ok((blob, ObjectVersion { e_tag: result.e_tag, version: result.version }))
    }

    /// Reads the blob `blob` refers to and checks its size and SHA-256; a mismatch is an error
    /// and the data is not returned.
    pub async fn get(&self, blob: &BlobRef) -> Result<Bytes, StorageError> {
        let object = self.read(self.key_of(&blob.url)?).await?;
        let actual = sha256_hex(&object.data);
        if actual != blob.sha256 || object.data.len() as u64 != blob.size {
            return Err(StorageError::HashMismatch {
                url: blob.url.clone(),
                expected: blob.sha256.clone(),
                actual,
                expected_size: blob.size,
                actual_size: object.data.len() as u64,
            });
        }
        Ok(object.data)
    }

    /// Reads the object at `key` as it is now, with its version (no hash to check against).
    pub async fn read(&self, key: &str) -> Result<Object, StorageError> {
        let path = Self::path(key)?;
        let url = self.url(key);
        let result = self.store.get(&path).await.map_err(|e| StorageError::from_backend(url.clone(), e))?;
        let version = ObjectVersion { e_tag: result.meta.e_tag.clone(), version: result.meta.version.clone() };
        let data = result.bytes().await.map_err(|e| StorageError::from_backend(url, e))?;
        Ok(Object { data, version })
    }

    /// What the store says about the object at `key`.
    pub async fn head(&self, key: &str) -> Result<ObjectInfo, StorageError> {
        let path = Self::path(key)?;
        let url = self.url(key);
        let meta = self.store.head(&path).await.map_err(|e| StorageError::from_backend(url, e))?;
        Ok(self.info(meta))
    }

    /// Every object whose key starts with the folder `prefix` ("" for all), in key order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError> {
        let prefix_path = if prefix.trim_matches('/').is_empty() { None } else { Some(Self::path(prefix)?) };
        let url = self.url(prefix);
        let metas: Vec<_> = self
            .store
            .list(prefix_path.as_ref())
            .try_collect()
            .await
            .map_err(|e| StorageError::from_backend(url, e))?;
        let mut infos: Vec<ObjectInfo> = metas.into_iter().map(|m| self.info(m)).collect();
        infos.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(infos)
    }

    /// Deletes the object at `key`; deleting a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = Self::path(key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(StorageError::from_backend(self.url(key), error)),
        }
    }

    fn info(&self, meta: object_store::ObjectMeta) -> ObjectInfo {
        let key = meta.location.to_string();
        ObjectInfo {
            url: self.url(&key),
            key,
            size: meta.size,
            version: ObjectVersion { e_tag: meta.e_tag, version: meta.version },
        }
    }
}
