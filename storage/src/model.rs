//! A **model** of an eventually consistent object store, for the lesson — not a real backend.
//!
//! S3 before December 2020 (and GFS, as the lecture describes it) could answer a read with an
//! older version of an object for a while after it was overwritten. This model keeps the last
//! few versions of each object and, with a given probability, answers a read with one of the
//! older ones, chosen by a seeded random number generator, so a run can be repeated exactly. A
//! reader may thus see the log go back in time, and a writer may append to an old version. Like
//! S3 of that era it has no conditional writes: they are refused, never faked.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::backend::Capabilities;
use crate::blob::BlobStore;

/// How stale the model's reads may be.
#[derive(Debug, Clone, Copy)]
pub struct Staleness {
    /// Chance that a read answers with an older version (0.0 to 1.0).
    pub stale_read_probability: f64,
    /// How many older versions a stale read may choose from.
    pub versions_kept: usize,
    /// Seed of the choices.
    pub seed: u64,
}

/// The versions of one object, oldest first: content and ETag.
type Versions = VecDeque<(Bytes, Option<String>)>;

/// An eventually consistent store modelled in memory.
pub struct EventuallyConsistentModel {
    current: InMemory,
    /// Per object, the versions written, newest last (at most `versions_kept + 1`).
    history: Arc<Mutex<HashMap<Path, Versions>>>,
    rng: Mutex<StdRng>,
    staleness: Staleness,
}

impl EventuallyConsistentModel {
    /// A model with the given staleness.
    pub fn new(staleness: Staleness) -> Self {
        Self {
            current: InMemory::new(),
            history: Arc::default(),
            rng: Mutex::new(StdRng::seed_from_u64(staleness.seed)),
            staleness,
        }
    }

    /// The model as a [`BlobStore`] with URLs under `model://name`.
    pub fn into_blob_store(self, name: &str) -> BlobStore {
        let no_conditions = Capabilities { create_if_absent: false, update_if_unchanged: false };
        BlobStore::from_object_store(
            Arc::new(self),
            format!("model://{name}"),
            "eventually consistent (model)",
            no_conditions,
        )
    }

    /// An older version to answer with, if this read is to be stale.
    fn stale_version(&self, location: &Path) -> Option<(Bytes, Option<String>)> {
        let history = self.history.lock().expect("model history poisoned");
        let versions = history.get(location)?;
        let older = versions.len().saturating_sub(1);
        let mut rng = self.rng.lock().expect("model rng poisoned");
        if older == 0 || !rng.random_bool(self.staleness.stale_read_probability) {
            return None;
        }
        versions.get(rng.random_range(0..older)).cloned()
    }
}

impl fmt::Debug for EventuallyConsistentModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventuallyConsistentModel").field("staleness", &self.staleness).finish()
    }
}

impl fmt::Display for EventuallyConsistentModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventuallyConsistentModel")
    }
}

fn not_supported(what: &str) -> object_store::Error {
    object_store::Error::NotImplemented {
        operation: what.to_string(),
        implementer: "the eventually consistent model (no conditional writes, like S3 before 2020)".to_string(),
    }
}

#[async_trait]
impl ObjectStore for EventuallyConsistentModel {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        if opts.mode != PutMode::Overwrite {
            return Err(not_supported("conditional put"));
        }
        let data: Bytes = payload.clone().into();
        let result = self.current.put_opts(location, payload, opts).await?;
        let mut history = self.history.lock().expect("model history poisoned");
        let versions = history.entry(location.clone()).or_default();
        versions.push_back((data, result.e_tag.clone()));
        while versions.len() > self.staleness.versions_kept + 1 {
            versions.pop_front();
        }
        Ok(result)
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.current.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let mut result = self.current.get_opts(location, options).await?;
        if result.range.start == 0
            && let Some((data, e_tag)) = self.stale_version(location)
        {
            let size = data.len() as u64;
            result.payload = GetResultPayload::Stream(futures::stream::once(async move { Ok(data) }).boxed());
            result.meta.size = size;
            result.meta.e_tag = e_tag;
            result.range = 0..size;
        }
        Ok(result)
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        let history = self.history.clone();
        let forgotten = locations.inspect(move |location| {
            if let Ok(path) = location {
                history.lock().expect("model history poisoned").remove(path);
            }
        });
        self.current.delete_stream(forgotten.boxed())
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.current.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.current.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.current.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use object_store::ObjectStoreExt;

    async fn read_all(store: &dyn ObjectStore, path: &Path) -> Result<Bytes> {
        let result = store.get_opts(path, GetOptions::default()).await?;
        let chunks: Vec<Bytes> = result.into_stream().try_collect().await?;
        Ok(chunks.concat().into())
    }

    #[tokio::test]
    async fn reads_are_sometimes_stale_and_the_same_seed_repeats_them() {
        let run = |seed| async move {
            let model =
                EventuallyConsistentModel::new(Staleness { stale_read_probability: 0.5, versions_kept: 3, seed });
            let path = Path::from("log");
            let mut seen = Vec::new();
            for i in 0..20u8 {
                model.put(&path, PutPayload::from(vec![i])).await.unwrap();
                seen.push(read_all(&model, &path).await.unwrap()[0]);
            }
            seen
        };
        let seen = run(7).await;
        let stale = seen.iter().enumerate().filter(|(i, v)| **v as usize != *i).count();
        assert!(stale > 0, "some reads must be stale: {seen:?}");
        assert!(seen.iter().enumerate().all(|(i, v)| (*v as usize) <= i && i - (*v as usize) <= 3));
        assert_eq!(run(7).await, seen, "the same seed gives the same reads");
    }

    #[tokio::test]
    async fn conditional_writes_are_refused() {
        let model =
            EventuallyConsistentModel::new(Staleness { stale_read_probability: 0.0, versions_kept: 1, seed: 1 });
        let opts = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        assert!(model.put_opts(&Path::from("x"), PutPayload::from_static(b"x"), opts).await.is_err());
    }
}
