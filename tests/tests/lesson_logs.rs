//! The lesson "a log in cloud storage vs the coordinator's log", checked: the naive object log
//! loses records under a race forced by the seeded schedule (the same seed, the same loss), the
//! conditional and coordinator logs lose none, and readers of the coordinator's log agree.

use skyway_sim::lesson::{LessonConfig, LessonLog, LogKind, LogReport, Schedule, run_log};
use skyway_sim::rig::embedded::EmbeddedCluster;
use skyway_storage::model::{EventuallyConsistentModel, Staleness};
use skyway_storage::object_log::{AppendMode, Layout, ObjectLog};
use skyway_storage::{BlobStore, StorageConfig};
use skyway_tests::s3server::S3Server;

fn config(schedule: Schedule, seed: u64) -> LessonConfig {
    LessonConfig { writers: 6, records_per_writer: 8, readers: 3, runways: 2, seed, schedule }
}

async fn object_log(store: &BlobStore, key: &str, mode: AppendMode, config: &LessonConfig) -> LogReport {
    let log = ObjectLog::new(store.clone(), key, mode).unwrap();
    let kind = if mode == AppendMode::ReadModifyWrite { LogKind::NaiveObject } else { LogKind::ConditionalObject };
    run_log(kind, LessonLog::Object(log), key.to_string(), config).await.unwrap()
}

fn assert_nothing_lost(report: &LogReport) {
    assert_eq!(report.first_error, None);
    assert_eq!((report.acknowledged, report.present, report.lost), (report.written, report.written, 0), "{report:#?}");
    assert_eq!(report.duplicated, 0, "{report:#?}");
    assert!(report.verdict.split_brain_runways.is_empty(), "{report:#?}");
    assert_eq!(report.verdict.rewritten_reads, 0, "{report:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_naive_object_log_loses_records_and_the_same_seed_loses_the_same_ones() {
    let config = config(Schedule::Seeded, 3);
    let first =
        object_log(&BlobStore::open_url("memory://a").unwrap(), "naive.log", AppendMode::ReadModifyWrite, &config)
            .await;
    assert_eq!(first.acknowledged, first.written, "every naive append is acknowledged");
    assert!(first.lost > 0, "the forced race must erase acknowledged records: {first:#?}");
    assert!(!first.verdict.split_brain_runways.is_empty(), "readers must contradict each other: {first:#?}");

    let again =
        object_log(&BlobStore::open_url("memory://b").unwrap(), "naive.log", AppendMode::ReadModifyWrite, &config)
            .await;
    assert_eq!((again.lost, again.reads, &again.verdict), (first.lost, first.reads, &first.verdict));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_object_logs_lose_nothing_on_memory_and_on_a_local_directory() {
    for schedule in [Schedule::Seeded, Schedule::Concurrent] {
        let config = config(schedule, 5);
        let memory = BlobStore::open_url("memory://c").unwrap();
        let report = object_log(&memory, "conditional.log", AppendMode::Conditional, &config).await;
        assert_nothing_lost(&report);
        assert!(report.retries > 0 || schedule == Schedule::Concurrent, "the race must have been met: {report:#?}");

        let dir = tempfile::tempdir().unwrap();
        let local = BlobStore::open(&StorageConfig::local_dir(dir.path()).unwrap()).unwrap();
        assert_eq!(
            ObjectLog::new(local.clone(), "x", AppendMode::Conditional).unwrap().layout(),
            Layout::NumberedObjects
        );
        assert_nothing_lost(&object_log(&local, "conditional.log", AppendMode::Conditional, &config).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coordinator_log_loses_nothing_and_its_readers_agree() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = EmbeddedCluster::start(dir.path(), 3).await.unwrap();
    for schedule in [Schedule::Seeded, Schedule::Concurrent] {
        let log = LessonLog::Coordinator { client: cluster.client().unwrap(), dir: format!("/lessons/{schedule:?}") };
        let report = run_log(LogKind::Coordinator, log, String::new(), &config(schedule, 7)).await.unwrap();
        assert_nothing_lost(&report);
        assert!(report.reads >= 3, "every reader reads at least once after the writers finish: {report:#?}");
    }
    cluster.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_real_s3_server_conditional_writes_stop_lost_updates_and_naive_writes_do_not() {
    let server = S3Server::start(&["lessons"]).unwrap();
    let store = BlobStore::open(&server.config("lessons/run")).unwrap();
    let seeded = config(Schedule::Seeded, 11);
    let naive = object_log(&store, "naive.log", AppendMode::ReadModifyWrite, &seeded).await;
    assert!(naive.lost > 0, "{naive:#?}");
    assert_eq!(ObjectLog::new(store.clone(), "x", AppendMode::Conditional).unwrap().layout(), Layout::OneObjectIfMatch);
    let conditional =
        object_log(&store, "conditional.log", AppendMode::Conditional, &config(Schedule::Concurrent, 11)).await;
    assert_nothing_lost(&conditional);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eventually_consistent_model_shows_history_going_back_in_time() {
    let model = EventuallyConsistentModel::new(Staleness { stale_read_probability: 0.5, versions_kept: 3, seed: 2 })
        .into_blob_store("lesson");
    let report = object_log(&model, "naive.log", AppendMode::ReadModifyWrite, &config(Schedule::Seeded, 2)).await;
    assert!(report.lost > 0, "{report:#?}");
    assert!(report.verdict.rewritten_reads > 0, "stale reads must show history rewritten: {report:#?}");
    assert!(ObjectLog::new(model, "x", AppendMode::Conditional).is_err(), "the model has no conditional writes");
}
