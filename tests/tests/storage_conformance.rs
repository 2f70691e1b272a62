//! One conformance suite for blob storage, run against every backend: memory, a local
//! directory, and a real S3-protocol server (moto) started on 127.0.0.1 by the test.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use skyway_storage::{BlobStore, Condition, StorageConfig, StorageError};
use skyway_tests::s3server::S3Server;

#[tokio::test]
async fn memory_backend_conforms() {
    conformance(BlobStore::open_url("memory://conformance").unwrap()).await;
}

#[tokio::test]
async fn local_directory_backend_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance(BlobStore::open(&StorageConfig::local_dir(dir.path()).unwrap()).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_backend_conforms() {
    let server = S3Server::start(&["frames"]).unwrap();
    let mut config = server.config("frames/conformance");
    config.part_bytes = 5 * 1024 * 1024;
    conformance(BlobStore::open(&config).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_s3_server_is_a_clear_error_not_a_hang() {
    let port = skyway_sim::rig::cluster::free_ports(1).unwrap()[0];
    let mut config = StorageConfig::new("s3://frames");
    config.s3.endpoint = Some(format!("http://127.0.0.1:{port}"));
    config.s3.access_key_id = Some("k".into());
    config.s3.secret_access_key = Some("s".into());
    config.retry_timeout = Duration::from_secs(2);
    let store = BlobStore::open(&config).unwrap();
    // The timeout only guards against a hang; the assertion is on the error.
    let result = tokio::time::timeout(Duration::from_secs(60), store.put("a", Bytes::from_static(b"x"))).await;
    let error = result.expect("an unreachable server must not hang the caller").unwrap_err();
    assert!(matches!(error, StorageError::Unreachable { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("cannot reach blob storage") && message.contains("s3://frames/a"), "{message}");
}

#[test]
fn bad_urls_and_keys_are_clear_errors() {
    for url in ["ftp://x/y", "s3://", "not a url", "file://relative"] {
        let error = BlobStore::open_url(url).unwrap_err();
        assert!(matches!(error, StorageError::InvalidUrl { .. }), "{url}: {error:?}");
        assert!(error.to_string().contains("file:///absolute/dir"), "{error}");
    }
}

/// Everything a backend must do, and for conditional writes: do it, or refuse loudly.
async fn conformance(store: BlobStore) {
    round_trip_head_list_delete(&store).await;
    missing_objects(&store).await;
    tampered_objects(&store).await;
    large_objects_in_parts(&store).await;
    invalid_keys_and_foreign_urls(&store).await;
    create_if_absent(&store).await;
    update_if_unchanged(&store).await;
    racing_conditional_writers_lose_nothing(&store).await;
}

async fn round_trip_head_list_delete(store: &BlobStore) {
    let frame = Bytes::from(vec![7u8; 1000]);
    let blob = store.put("segment-12/000001.jpg", frame.clone()).await.unwrap();
    assert_eq!(blob.url, format!("{}/segment-12/000001.jpg", store.root()));
    assert_eq!(blob.size, 1000);
    assert_eq!(blob.sha256, skyway_storage::sha256_hex(&frame));
    assert_eq!(store.get(&blob).await.unwrap(), frame);

    store.put("segment-12/000002.jpg", Bytes::from_static(b"two")).await.unwrap();
    store.put("segment-13/000001.jpg", Bytes::from_static(b"other")).await.unwrap();
    let head = store.head("segment-12/000001.jpg").await.unwrap();
    assert_eq!((head.size, head.url.as_str()), (1000, blob.url.as_str()));
    let listed: Vec<String> = store.list("segment-12").await.unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(listed, ["segment-12/000001.jpg", "segment-12/000002.jpg"]);

    store.delete("segment-12/000002.jpg").await.unwrap();
    store.delete("segment-12/000002.jpg").await.unwrap(); // deleting twice is fine
    let listed: Vec<String> = store.list("segment-12").await.unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(listed, ["segment-12/000001.jpg"]);
}

async fn missing_objects(store: &BlobStore) {
    let error = store.read("nowhere/frame.jpg").await.unwrap_err();
    assert!(matches!(error, StorageError::NotFound { .. }), "{error:?}");
    assert_eq!(error.to_string(), format!("no object at {}/nowhere/frame.jpg", store.root()));
    let error = store.head("nowhere/frame.jpg").await.unwrap_err();
    assert!(matches!(error, StorageError::NotFound { .. }), "{error:?}");
}

async fn tampered_objects(store: &BlobStore) {
    let blob = store.put("tamper/frame.jpg", Bytes::from_static(b"the real frame")).await.unwrap();
    store.put("tamper/frame.jpg", Bytes::from_static(b"a forged frame")).await.unwrap();
    let error = store.get(&blob).await.unwrap_err();
    assert!(matches!(error, StorageError::HashMismatch { .. }), "{error:?}");
    assert!(error.to_string().contains("the data was not returned"), "{error}");
}

async fn large_objects_in_parts(store: &BlobStore) {
    // Over the 8 MiB part size (5 MiB for S3 in this suite): goes up in several parts.
    let big: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let big = Bytes::from(big);
    let blob = store.put("big/video.bin", big.clone()).await.unwrap();
    assert_eq!(blob.size, big.len() as u64);
    assert_eq!(store.get(&blob).await.unwrap(), big);
}

async fn invalid_keys_and_foreign_urls(store: &BlobStore) {
    for key in ["", "a//b", "../etc/passwd", "a/./b"] {
        let error = store.put(key, Bytes::from_static(b"x")).await.unwrap_err();
        assert!(matches!(error, StorageError::InvalidKey { .. }), "{key:?}: {error:?}");
    }
    let foreign = skyway_storage::BlobRef::for_content("s3://elsewhere/x".into(), b"x");
    let error = store.get(&foreign).await.unwrap_err();
    assert!(matches!(error, StorageError::ForeignUrl { .. }), "{error:?}");
}

async fn create_if_absent(store: &BlobStore) {
    let first = store.put_if("once/claim", Bytes::from_static(b"first"), Condition::Absent).await;
    if !store.capabilities().create_if_absent {
        assert!(matches!(first, Err(StorageError::Unsupported { .. })), "{first:?}");
        return;
    }
    first.unwrap();
    let second = store.put_if("once/claim", Bytes::from_static(b"second"), Condition::Absent).await.unwrap_err();
    assert!(matches!(second, StorageError::AlreadyExists { .. }), "{second:?}");
    assert_eq!(store.read("once/claim").await.unwrap().data.as_ref(), b"first", "the loser changed nothing");
}

async fn update_if_unchanged(store: &BlobStore) {
    store.put("cas/counter", Bytes::from_static(b"0")).await.unwrap();
    let read = store.read("cas/counter").await.unwrap();
    let update =
        store.put_if("cas/counter", Bytes::from_static(b"1"), Condition::Unchanged(read.version.clone())).await;
    if !store.capabilities().update_if_unchanged {
        assert!(matches!(update, Err(StorageError::Unsupported { .. })), "{update:?}");
        assert_eq!(store.read("cas/counter").await.unwrap().data.as_ref(), b"0", "a refused write changes nothing");
        return;
    }
    update.unwrap();
    // Writing again with the version read before the update is stale.
    let stale = store.put_if("cas/counter", Bytes::from_static(b"2"), Condition::Unchanged(read.version)).await;
    let error = stale.unwrap_err();
    assert!(matches!(error, StorageError::Changed { .. }), "{error:?}");
    assert!(error.to_string().contains("read it again and retry"), "{error}");
    assert_eq!(store.read("cas/counter").await.unwrap().data.as_ref(), b"1");
}

/// 8 writers each add 1 to a counter 10 times, by read + conditional write + retry; with
/// conditions honoured, no increment is lost. Where only create-if-absent exists, 8 writers
/// race to create one object and exactly one wins.
async fn racing_conditional_writers_lose_nothing(store: &BlobStore) {
    let store = Arc::new(store.clone());
    if store.capabilities().update_if_unchanged {
        store.put("race/counter", Bytes::from_static(b"0")).await.unwrap();
        let writers: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    for _ in 0..10 {
                        loop {
                            let read = store.read("race/counter").await.unwrap();
                            let n: u64 = std::str::from_utf8(&read.data).unwrap().parse().unwrap();
                            let next = Bytes::from((n + 1).to_string());
                            match store.put_if("race/counter", next, Condition::Unchanged(read.version)).await {
                                Ok(_) => break,
                                Err(StorageError::Changed { .. }) => continue,
                                Err(other) => panic!("{other}"),
                            }
                        }
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap();
        }
        assert_eq!(store.read("race/counter").await.unwrap().data.as_ref(), b"80", "an increment was lost");
    } else if store.capabilities().create_if_absent {
        let writers: Vec<_> = (0..8u8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.put_if("race/leader", Bytes::from(vec![i]), Condition::Absent).await })
            })
            .collect();
        let mut winners = 0;
        for writer in writers {
            match writer.await.unwrap() {
                Ok(_) => winners += 1,
                Err(StorageError::AlreadyExists { .. }) => {}
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!(winners, 1, "create-if-absent must have exactly one winner");
    }
}
