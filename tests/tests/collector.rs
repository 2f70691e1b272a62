//! Cameras and analyzers end to end, as real processes: frames in blob storage (a local directory
//! and a real S3 server, moto), only their references in a real 3-node coordinator; one
//! analyzer primary per camera, failover with no result from a deposed primary; blob storage cut
//! off and restored with nothing recorded that is not stored; bad input counted and survived.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use skyway_collector::record::{self, AnalysisRecord, BlobRef, Calibration, FrameIndex, FrameRecord, calibration_path};
use skyway_collector::{CameraSpec, Conditions, Format, LaneGeometry, Renderer, Scene, SceneVehicle, encode};
use skyway_coord::client::{Client, Consistency, Election, WatchEventKind, Watcher};
use skyway_sim::collect::run::{CollectConfig, Collectors, analyzer_stats_path, stats_path};
use skyway_sim::collect::stats::{AnalyzerStats, CameraStats};
use skyway_sim::live::runner::{LiveConfig, LiveWorld};
use skyway_sim::rig::netfault::{FaultProxy, Mode};
use skyway_sim::rig::process::{Process, Signal};
use skyway_storage::{BlobStore, StorageConfig};
use skyway_tests::harness::{ProcessCluster, http_get, skyway_binary, start_cluster};
use skyway_tests::metrics::Scrape;
use skyway_tests::s3server::S3Server;

struct Rig {
    cluster: ProcessCluster,
    dir: tempfile::TempDir,
    client: Client,
    world: Option<LiveWorld>,
    feed: Option<SocketAddr>,
}

/// A 3-node coordinator, and (with `world`) the `incident` world live at real time with its feed.
async fn rig(world: bool) -> Rig {
    let (cluster, dir) = start_cluster(&[]).unwrap();
    cluster.wait_for_leader(Duration::from_secs(30)).await.unwrap();
    let client = cluster.client().unwrap();
    let (mut live, mut feed) = (None, None);
    if world {
        let config = LiveConfig {
            scenario: skyway_sim::cli::sim::load_scenario("incident").unwrap(),
            seed: 1,
            speed: 1.0,
            actuator_dir: dir.path().join("actuator"),
            actuator_listen: "127.0.0.1:0".parse().unwrap(),
            warmup_s: 60.0,
        };
        let mut w = LiveWorld::start(config, client.clone()).await.unwrap();
        feed = Some(w.serve_feed("127.0.0.1:0".parse().unwrap(), 5.0).await.unwrap());
        live = Some(w);
    }
    Rig { cluster, dir, client, world: live, feed }
}

impl Rig {
    fn collect(&self, store: &str, cameras: &[&str], analyzers: usize) -> CollectConfig {
        CollectConfig {
            binary: skyway_binary(),
            dir: self.dir.path().join("collect"),
            endpoints: self.cluster.endpoints(),
            feed: self.feed.expect("a rig with a world"),
            store: store.to_string(),
            cameras: cameras.iter().map(|c| c.to_string()).collect(),
            analyzers,
            ttl: Duration::from_secs(2),
            retention: Duration::from_secs(600),
            camera_args: Vec::new(),
            env: Vec::new(),
            metrics: false,
            tokens: Default::default(),
            tls: None,
        }
    }

    async fn analysis(&self, camera: &str) -> Option<AnalysisRecord> {
        let node = self.client.get(&record::analysis_path(camera), Consistency::Linearizable).await.ok()?;
        serde_json::from_slice(&node.data).ok()
    }

    async fn latest(&self, camera: &str) -> Option<FrameRecord> {
        let node = self.client.get(&record::latest_path(camera), Consistency::Linearizable).await.ok()?;
        serde_json::from_slice(&node.data).ok()
    }

    async fn stop(mut self) {
        if let Some(w) = self.world.take() {
            w.stop().await;
        }
    }
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn to_storage(b: &BlobRef) -> skyway_storage::BlobRef {
    skyway_storage::BlobRef { url: b.url.clone(), sha256: b.sha256.clone(), size: b.size }
}

/// Every URL the coordinator holds for `camera` names a stored object with the recorded hash.
async fn assert_recorded_are_stored(client: &Client, store: &BlobStore, camera: &str) {
    let node = client.get(&record::latest_path(camera), Consistency::Linearizable).await.unwrap();
    let latest: FrameRecord = serde_json::from_slice(&node.data).unwrap();
    let frame = store.get(&to_storage(&latest.frame)).await.expect("latest's frame is stored, hash intact");
    skyway_collector::decode(&frame, 1 << 22).expect("latest's frame is an image");
    let truth = store.get(&to_storage(&latest.truth)).await.expect("latest's truth is stored");
    let truth: skyway_collector::Truth = serde_json::from_slice(&truth).unwrap();
    assert_eq!(truth.camera, camera);
    let node = client.get(&record::index_path(camera), Consistency::Linearizable).await.unwrap();
    let index: FrameIndex = serde_json::from_slice(&node.data).unwrap();
    assert!(!index.frames.is_empty() && index.frames.len() <= record::INDEX_MAX);
    // Read after latest, so at latest or beyond (both are written in one transaction).
    assert!(index.frames.last().unwrap().seq >= latest.seq, "the index ends at latest or later");
    assert!(index.frames.iter().any(|e| e.seq == latest.seq) || index.frames[0].seq > latest.seq);
    for entry in &index.frames {
        let key = store.key_of(&entry.url).unwrap();
        store.head(key).await.unwrap_or_else(|e| panic!("indexed frame {} is not stored: {e}", entry.url));
    }
}

async fn primary_of(client: &Client, camera: &str) -> Option<(String, u64)> {
    let view = Election::new(client, &record::analyze_role(camera)).unwrap().observe().await.unwrap();
    view.primary.map(|p| (String::from_utf8_lossy(&p.data).into_owned(), p.token.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cameras_and_analyzers_on_a_local_directory() {
    let rig = rig(true).await;
    let store_config = StorageConfig::local_dir(rig.dir.path().join("blobs")).unwrap();
    let store = BlobStore::open(&store_config).unwrap();
    let cameras = ["cam-1", "cam-3"];
    let config = CollectConfig { metrics: true, ..rig.collect(&store_config.url, &cameras, 2) };
    let mut collectors = Collectors::start(config).unwrap();
    for camera in cameras {
        wait_until("a result per camera", Duration::from_secs(60), || async { rig.analysis(camera).await.is_some() })
            .await;
    }
    // Every camera and analyzer serves its counters as Prometheus metrics, and is healthy.
    let addrs = collectors.metrics_addrs().to_vec();
    assert_eq!(addrs.len(), 4, "two cameras and two analyzers: {addrs:?}");
    let mut analysed = 0.0;
    for (process, addr) in &addrs {
        let scrape = Scrape::of(addr).await.unwrap();
        let (status, body) = http_get(addr, "/health").await.unwrap();
        assert_eq!(status, 200, "{process}: {body}");
        if process.starts_with("cam-") {
            let labels = [("camera", process.as_str())];
            assert!(scrape.value("skyway_camera_frames_recorded_total", &labels) >= 1.0, "{process}");
            assert!(
                scrape.value("skyway_camera_blob_written_bytes_total", &labels)
                    > 10.0 * scrape.value("skyway_camera_coordinator_written_bytes_total", &labels),
                "{process}: bytes to blob storage vs to the coordinator"
            );
        } else {
            analysed += cameras
                .iter()
                .map(|c| scrape.value("skyway_analyzer_frames_analysed_total", &[("camera", c)]))
                .sum::<f64>();
        }
    }
    assert!(analysed >= 2.0, "the analyzers' metrics count the frames they analysed");
    for camera in cameras {
        let analysis = rig.analysis(camera).await.unwrap();
        assert_eq!(analysis.result.camera, camera);
        assert_eq!(analysis.result.lanes.len(), 2, "the incident road has two lanes");
        let (primary, token) = primary_of(&rig.client, camera).await.expect("a primary");
        assert_eq!((analysis.analyzer.as_str(), analysis.token), (primary.as_str(), token), "written by the primary");
        assert_recorded_are_stored(&rig.client, &store, camera).await;
    }
    // Wait for the stats files to catch up, then compare the two byte counts.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let report = collectors.report();
    assert!(report.frames_recorded >= 25, "{report:?}");
    assert_eq!(report.frames_dropped, 0, "{report:?}");
    assert_eq!(report.blob_errors, 0, "{report:?}");
    assert!(report.results_written >= 2, "{report:?}");
    assert!(
        report.bytes_to_blob > 10 * report.bytes_to_coordinator,
        "frames must not pass through the coordinator: {report:?}"
    );
    assert!(report.lag_ms_p50.is_some(), "{report:?}");
    collectors.stop().await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_cut_off_and_restored_on_s3_records_only_what_is_stored() {
    let server = S3Server::start(&["frames"]).unwrap();
    let direct = BlobStore::open(&server.config("frames/run")).unwrap();
    let target: SocketAddr = server.endpoint.trim_start_matches("http://").parse().unwrap();
    let proxy = FaultProxy::start(target).await.unwrap();
    let rig = rig(true).await;
    let mut config = rig.collect("s3://frames/run", &["cam-2"], 1);
    config.camera_args = vec!["--queue-max".into(), "5".into()];
    // The camera reaches S3 through the fault proxy; the analyzer directly.
    config.env = vec![
        ("AWS_ENDPOINT".into(), format!("http://{}", proxy.addr())),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID".into(), "skyway-test".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "skyway-test-secret".into()),
        ("AWS_ALLOW_HTTP".into(), "true".into()),
    ];
    let mut collectors = Collectors::start(config).unwrap();
    wait_until("a result from frames on S3", Duration::from_secs(60), || async {
        rig.analysis("cam-2").await.is_some()
    })
    .await;
    assert_recorded_are_stored(&rig.client, &direct, "cam-2").await;

    proxy.set(Mode::Cut);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let stats_file = stats_path(&rig.dir.path().join("collect"), "cam-2");
    let cut: CameraStats = read_json(&stats_file).unwrap();
    assert!(cut.upload_errors > 0 || cut.frames_dropped > 0, "the cut was not felt: {cut:?}");
    assert!(cut.frames_dropped > 0, "a 5-frame queue overflows in 6 s of 5 fps: {cut:?}");
    assert_recorded_are_stored(&rig.client, &direct, "cam-2").await;

    proxy.set(Mode::Pass);
    let at_restore = rig.latest("cam-2").await.unwrap().seq;
    wait_until("new frames after the restore", Duration::from_secs(40), || async {
        rig.latest("cam-2").await.is_some_and(|l| l.seq > at_restore + 5)
    })
    .await;
    assert_recorded_are_stored(&rig.client, &direct, "cam-2").await;
    let after: CameraStats = read_json(&stats_file).unwrap();
    assert!(after.frames_recorded <= after.frames_stored, "recorded a frame that was not stored: {after:?}");
    collectors.stop().await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_or_paused_analyzer_is_replaced_and_its_successor_never_overwritten() {
    let rig = rig(true).await;
    let store_url = StorageConfig::local_dir(rig.dir.path().join("blobs")).unwrap().url;
    let mut collectors = Collectors::start(rig.collect(&store_url, &["cam-2"], 2)).unwrap();
    wait_until("a first result", Duration::from_secs(60), || async { rig.analysis("cam-2").await.is_some() }).await;
    // Every write to /analysis/cam-2 from now on, in order.
    let from =
        rig.client.exists(&record::analysis_path("cam-2"), Consistency::Linearizable).await.unwrap().revision.0 + 1;
    let mut watcher = Watcher::start(&rig.client, &record::analysis_path("cam-2"), false, from).await.unwrap();
    let history = std::sync::Arc::new(std::sync::Mutex::new(Vec::<AnalysisRecord>::new()));
    let recorder = {
        let history = history.clone();
        tokio::spawn(async move {
            loop {
                for e in watcher.next().await.unwrap() {
                    if e.kind == WatchEventKind::Changed {
                        history.lock().unwrap().push(serde_json::from_slice(&e.data).unwrap());
                    }
                }
            }
        })
    };
    let index = |name: &str| name.trim_start_matches('a').parse::<usize>().unwrap();

    // 1. SIGKILL the primary mid-stream.
    let (first, first_token) = primary_of(&rig.client, "cam-2").await.unwrap();
    let seq_at_kill = rig.latest("cam-2").await.unwrap().seq;
    collectors.analyzers_mut()[index(&first) - 1].kill().await.unwrap();
    wait_until("a result from the backup", Duration::from_secs(90), || async {
        rig.analysis("cam-2").await.is_some_and(|a| a.analyzer != first)
    })
    .await;
    let taken = rig.analysis("cam-2").await.unwrap();
    assert!(taken.token > first_token, "the successor's token is higher");
    assert!(
        taken.first_seq > seq_at_kill.saturating_sub(5),
        "the successor starts from the latest frame, not from the past"
    );
    collectors.restart_analyzer(index(&first)).unwrap(); // back as a backup

    // 2. SIGSTOP the new primary past its TTL, then let it wake up.
    let (second, second_token) = primary_of(&rig.client, "cam-2").await.unwrap();
    assert_ne!(second, first);
    let paused = index(&second) - 1;
    collectors.analyzers_mut()[paused].signal(Signal::Stop).await.unwrap();
    wait_until("a result from the restarted analyzer", Duration::from_secs(90), || async {
        rig.analysis("cam-2").await.is_some_and(|a| a.analyzer == first && a.token > second_token)
    })
    .await;
    collectors.analyzers_mut()[paused].signal(Signal::Cont).await.unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;
    recorder.abort();

    let history = history.lock().unwrap().clone();
    assert!(!history.is_empty());
    for pair in history.windows(2) {
        assert!(pair[1].token >= pair[0].token, "a result with an older token overwrote a newer one: {pair:?}");
    }
    let takeover = history.iter().position(|a| a.token > second_token).expect("the third term's results");
    assert!(
        history[takeover..].iter().all(|a| a.token > second_token),
        "the paused primary wrote after it was replaced: {:?}",
        history[takeover..].iter().map(|a| (&a.analyzer, a.token)).collect::<Vec<_>>()
    );
    // The woken analyzer noticed and is a backup again (or was refused trying).
    let stats: AnalyzerStats = read_json(&analyzer_stats_path(&rig.dir.path().join("collect"), paused + 1)).unwrap();
    assert!(!stats.cameras[0].primary || stats.sessions >= 2, "{stats:?}");
    collectors.stop().await;
    rig.stop().await;
}

fn frame(width: u32, height: u32, time_s: f64) -> Vec<u8> {
    let camera = CameraSpec { id: "cam-x".into(), width_px: width, height_px: height, ..CameraSpec::default() };
    let scene = Scene {
        time_s,
        camera: camera.clone(),
        lanes: 2,
        lane_width_m: 3.5,
        vehicles: vec![SceneVehicle {
            id: 1,
            lane: 1,
            offset_m: 0.0,
            position_m: 40.0 + 20.0 * time_s,
            length_m: 4.5,
            width_m: 1.8,
            height_m: 1.5,
            shade: 0.85,
            stalled: false,
        }],
    };
    let renderer = Renderer::new(LaneGeometry::new(&camera, 2, 3.5).unwrap());
    let (image, _) = renderer.render(&scene, &Conditions::easy(), 1);
    encode(&image, if width > 1000 { Format::Png } else { Format::Jpeg(85) }).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_and_an_unknown_camera_are_counted_and_the_analyzer_goes_on() {
    let rig = rig(false).await;
    let store_url = StorageConfig::local_dir(rig.dir.path().join("blobs")).unwrap().url;
    let store = BlobStore::open_url(&store_url).unwrap();
    let client = rig.client.clone();
    let calibration = Calibration {
        camera: CameraSpec { id: "cam-x".into(), ..CameraSpec::default() },
        lanes: 2,
        lane_width_m: 3.5,
        fps: 5.0,
    };
    client
        .create(skyway_coord::client::Create {
            path: calibration_path("cam-x"),
            data: serde_json::to_vec(&calibration).unwrap().into(),
            make_parents: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let stats_file = rig.dir.path().join("a.stats.json");
    let args: Vec<String> = [
        "analyzer",
        "--name",
        "solo",
        "--cameras",
        "cam-x,cam-nope",
        "--endpoints",
        &rig.cluster.endpoints().join(","),
        "--store",
        &store_url,
        "--stats-file",
        &stats_file.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut analyzer =
        Process::spawn("analyzer", &skyway_binary(), &args, &rig.dir.path().join("analyzer.log")).unwrap();
    let stats = || read_json::<AnalyzerStats>(&stats_file);
    wait_until("the analyzer primary for both cameras", Duration::from_secs(20), || async {
        stats().is_some_and(|s| s.cameras.iter().all(|c| c.primary))
    })
    .await;

    let mut seq = 0;
    let mut publish = |key: &str, blob: skyway_storage::BlobRef, width, height| {
        let r = FrameRecord {
            camera: "cam-x".into(),
            seq,
            world_time_s: seq as f64 * 0.2,
            wall_ms: skyway_sim::collect::camera::wall_ms(),
            frame: BlobRef { url: blob.url, sha256: blob.sha256, size: blob.size },
            truth: BlobRef { url: store.url(&format!("{key}.truth")), sha256: String::new(), size: 0 },
            width,
            height,
            format: Format::Jpeg(85),
        };
        seq += 1;
        serde_json::to_vec(&r).unwrap()
    };
    let put = |key: &'static str, data: Vec<u8>| {
        let store = store.clone();
        async move { store.put(key, Bytes::from(data)).await.unwrap() }
    };
    let write = |data: Vec<u8>| {
        let client = client.clone();
        async move {
            match client.set(&record::latest_path("cam-x"), data.clone(), None).await {
                Ok(_) => {}
                Err(_) => {
                    client
                        .create(skyway_coord::client::Create {
                            path: record::latest_path("cam-x"),
                            data: data.into(),
                            make_parents: true,
                            ..Default::default()
                        })
                        .await
                        .unwrap();
                }
            }
        }
    };
    let counter = |f: fn(&skyway_sim::collect::stats::AnalyzedCamera) -> u64| stats().map_or(0, |s| f(&s.cameras[0]));
    async fn settle(what: &str, check: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !check() {
            assert!(Instant::now() < deadline, "the analyzer did not count {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // A good frame.
    let good = put("frames/cam-x/good-0.jpg", frame(640, 360, 0.0)).await;
    write(publish("good-0", good, 640, 360)).await;
    settle("a good frame", || counter(|c| c.frames_analysed) == 1).await;
    // A URL to a missing object.
    let missing = skyway_storage::BlobRef::for_content(store.url("frames/cam-x/never-stored.jpg"), b"x");
    write(publish("missing", missing, 640, 360)).await;
    settle("a missing blob", || counter(|c| c.blob_missing) == 1).await;
    // A tampered object: replaced after its hash was recorded.
    let tampered = put("frames/cam-x/tampered.jpg", frame(640, 360, 0.2)).await;
    put("frames/cam-x/tampered.jpg", frame(640, 360, 0.4)).await;
    write(publish("tampered", tampered, 640, 360)).await;
    settle("a tampered blob", || counter(|c| c.blob_tampered) == 1).await;
    // Bytes that are not an image (the hash matches: they were stored as recorded).
    let text = put("frames/cam-x/text.jpg", b"these bytes are not an image".to_vec()).await;
    write(publish("text", text, 640, 360)).await;
    settle("bytes that are not an image", || counter(|c| c.not_image) == 1).await;
    // An image whose decoded size is over the limit (4 × 640×360 pixels).
    let huge = put("frames/cam-x/huge.png", frame(2400, 1200, 0.6)).await;
    write(publish("huge", huge, 2400, 1200)).await;
    settle("an image over the limit", || counter(|c| c.too_large) == 1).await;
    // And it goes on with the next good frame.
    let good = put("frames/cam-x/good-1.jpg", frame(640, 360, 0.8)).await;
    write(publish("good-1", good, 640, 360)).await;
    settle("the next good frame", || counter(|c| c.frames_analysed) == 2).await;

    let s = stats().unwrap();
    assert!(s.cameras[1].unknown_camera, "cam-nope has no frames: {s:?}");
    assert!(analyzer.exited().is_none(), "the analyzer is still running");
    let _ = analyzer.stop(Duration::from_secs(3)).await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_janitor_deletes_old_frames_but_never_the_latest() {
    let rig = rig(false).await;
    let store = BlobStore::open_url(&StorageConfig::local_dir(rig.dir.path().join("blobs")).unwrap().url).unwrap();
    let now = skyway_sim::collect::camera::wall_ms();
    let hour_ago = now - 3_600_000;
    let mut stored = Vec::new();
    for (seq, ms) in [(0, hour_ago), (1, hour_ago + 1), (2, now)] {
        let key = record::frame_key("cam-j", ms, seq, Format::Jpeg(85));
        let frame = store.put(&key, Bytes::from_static(b"frame")).await.unwrap();
        let truth = store.put(&record::truth_key(&key), Bytes::from_static(b"{}")).await.unwrap();
        stored.push((key, frame, truth));
    }
    // The camera stalled an hour ago: latest still names its second frame, which is old too.
    let (_, frame, truth) = &stored[1];
    let latest = FrameRecord {
        camera: "cam-j".into(),
        seq: 1,
        world_time_s: 0.2,
        wall_ms: hour_ago + 1,
        frame: BlobRef { url: frame.url.clone(), sha256: frame.sha256.clone(), size: frame.size },
        truth: BlobRef { url: truth.url.clone(), sha256: truth.sha256.clone(), size: truth.size },
        width: 640,
        height: 360,
        format: Format::Jpeg(85),
    };
    rig.client
        .create(skyway_coord::client::Create {
            path: record::latest_path("cam-j"),
            data: serde_json::to_vec(&latest).unwrap().into(),
            make_parents: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let deleted = skyway_sim::collect::janitor::sweep(&rig.client, &store, Duration::from_secs(600)).await.unwrap();
    assert_eq!(deleted, 2, "the first frame and its truth");
    let left: Vec<String> = store.list("frames/").await.unwrap().into_iter().map(|o| o.key).collect();
    let expect: Vec<String> = stored[1..].iter().flat_map(|(k, _, _)| [k.clone(), record::truth_key(k)]).collect();
    let (mut left, mut expect) = (left, expect);
    left.sort();
    expect.sort();
    assert_eq!(left, expect, "latest's frame and truth survive however old, and so does the new frame");
    rig.stop().await;
}
