//! `skyway lesson …`: lessons a student can run and measure.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use skyway_coord::client::Client;
use skyway_storage::model::{EventuallyConsistentModel, Staleness};
use skyway_storage::{BlobStore, StorageConfig};

use super::client_tls::ClientTlsArgs;
use crate::lesson::{LessonConfig, LessonTargets, LogReport, Schedule, run_lesson};
use crate::rig::embedded::EmbeddedCluster;

/// Flags of `skyway lesson`.
#[derive(Debug, Args)]
pub struct LessonArgs {
    /// Which lesson.
    #[command(subcommand)]
    pub lesson: Lesson,
}

/// The lessons.
#[derive(Debug, Subcommand)]
pub enum Lesson {
    /// Why a log kept in cloud file storage loses records and causes split brain, while the
    /// coordinator's log does not. Writers append records ("A is primary for runway 07, C is
    /// backup", "B thinks A crashed", …) to an object appended by read-modify-write, to the same
    /// appended with conditional writes, and to the coordinator's log; readers replay each as a
    /// controller would. Runs on a local directory and an in-process 3-node coordinator by
    /// default; give --store s3://bucket/prefix (with AWS_ENDPOINT, AWS_ACCESS_KEY_ID, … in the
    /// environment) for a real S3 server, or --store model for a model of an eventually
    /// consistent store (S3 before 2020, GFS as the lecture describes it).
    #[command(after_help = "Examples:\n  skyway lesson logs\n  skyway lesson logs --writers 16 --seed 7\n  \
skyway lesson logs --schedule concurrent\n  skyway lesson logs --store model --stale-reads 0.3\n  \
AWS_ENDPOINT=http://127.0.0.1:9000 skyway lesson logs --store s3://lessons/run1")]
    Logs(LogsArgs),
    /// A guided tour of the coordination service on a real 3-node cluster: writes and
    /// compare-and-set, a watch, an ephemeral node vanishing with its session, the membership
    /// log, the leader killed with SIGKILL and restarted from its data.
    Coordinator(super::coordinator_tour::TourArgs),
}

/// Flags of `skyway lesson logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Writers appending at once.
    #[arg(long, default_value_t = 8)]
    pub writers: usize,
    /// Records each writer appends.
    #[arg(long, default_value_t = 12)]
    pub records: usize,
    /// Readers replaying the logs while they grow.
    #[arg(long, default_value_t = 4)]
    pub readers: usize,
    /// Runways the writers claim.
    #[arg(long, default_value_t = 3)]
    pub runways: usize,
    /// Seed of the records and of the seeded schedule: the same seed, the same run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// seeded: one I/O step at a time in an order drawn from the seed (reproducible);
    /// concurrent: everything at once (what happens depends on this machine and this run).
    #[arg(long, value_enum, default_value = "seeded")]
    pub schedule: Schedule,
    /// Where the object logs live: file:///dir, s3://bucket/prefix, memory://x, or `model`
    /// (an eventually consistent store, modelled). Default: a temporary local directory.
    #[arg(long)]
    pub store: Option<String>,
    /// With --store model: the chance that a read returns an older version.
    #[arg(long, default_value_t = 0.3)]
    pub stale_reads: f64,
    /// With --store model: how many older versions a stale read may return.
    #[arg(long, default_value_t = 3)]
    pub versions_kept: usize,
    /// Coordinator endpoints; default: a 3-node cluster started in this process.
    #[arg(long, value_delimiter = ',')]
    pub endpoints: Vec<String>,
    /// A user's token (from `skyway ctl user add`), needed once the coordinator's
    /// authentication is on.
    #[arg(long, env = "SKYWAY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// TLS to the coordinator given by --endpoints.
    #[command(flatten)]
    pub tls: ClientTlsArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub output: super::ctl::Output,
}

/// Runs a lesson.
pub async fn run(args: LessonArgs) -> anyhow::Result<ExitCode> {
    match args.lesson {
        Lesson::Logs(args) => logs(args).await,
        Lesson::Coordinator(args) => super::coordinator_tour::run(args).await,
    }
}

async fn logs(args: LogsArgs) -> anyhow::Result<ExitCode> {
    if args.writers == 0 || args.records == 0 || args.runways == 0 {
        anyhow::bail!("--writers, --records and --runways must be at least 1");
    }
    if !(0.0..=1.0).contains(&args.stale_reads) {
        anyhow::bail!("--stale-reads is a probability: between 0 and 1");
    }
    let temp = tempfile::tempdir()?;
    let store = match args.store.as_deref() {
        None => BlobStore::open(&StorageConfig::local_dir(temp.path().join("blobs"))?)?,
        Some("model") => EventuallyConsistentModel::new(Staleness {
            stale_read_probability: args.stale_reads,
            versions_kept: args.versions_kept,
            seed: args.seed,
        })
        .into_blob_store("lesson"),
        Some(url) => BlobStore::open_url(url)?,
    };
    let human = matches!(args.output, super::ctl::Output::Human);
    let (coordinator, embedded) = if args.endpoints.is_empty() {
        if human {
            eprintln!("starting a 3-node coordinator in this process (data in {})", temp.path().display());
        }
        let cluster = EmbeddedCluster::start(&temp.path().join("coord"), 3).await?;
        (cluster.client()?, Some(cluster))
    } else {
        (
            Client::new(&args.endpoints, args.tls.client_options()?.with_token(args.token.clone()))
                .context("cannot reach the coordinator")?,
            None,
        )
    };
    let config = LessonConfig {
        writers: args.writers,
        records_per_writer: args.records,
        readers: args.readers,
        runways: args.runways,
        seed: args.seed,
        schedule: args.schedule,
    };
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis();
    let targets = LessonTargets { store, prefix: format!("run-{millis}"), coordinator: Some(coordinator) };
    if human {
        eprintln!(
            "{} writers × {} records, {} readers, {} runways, seed {}, {:?} schedule; object logs in {}",
            config.writers,
            config.records_per_writer,
            config.readers,
            config.runways,
            config.seed,
            config.schedule,
            targets.store.backend()
        );
    }
    let (reports, skipped) = run_lesson(&targets, &config).await?;
    if let Some(cluster) = embedded {
        cluster.stop().await?;
    }
    if human {
        print_reports(&reports, &config);
        for s in &skipped {
            println!("\n== {} — not run: {}", s.log.title(), s.why);
        }
    } else {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "config": {
            "writers": config.writers, "records_per_writer": config.records_per_writer, "readers": config.readers,
            "runways": config.runways, "seed": config.seed, "schedule": config.schedule,
        }, "logs": reports }))?
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_reports(reports: &[LogReport], config: &LessonConfig) {
    println!(
        "\n{:<26} {:>7} {:>7} {:>7} {:>5} {:>7} {:>6} {:>11} {:>9} {:>8}",
        "log", "written", "acked", "present", "lost", "retries", "reads", "split-brain", "disagree", "time"
    );
    for r in reports {
        println!(
            "{:<26} {:>7} {:>7} {:>7} {:>5} {:>7} {:>6} {:>11} {:>9} {:>7.2}s",
            r.log.title(),
            r.written,
            r.acknowledged,
            r.present,
            r.lost,
            r.retries,
            r.reads,
            r.verdict.split_brain_runways.len(),
            r.verdict.disagreeing_reader_pairs,
            r.seconds
        );
    }
    println!(
        "\nsplit-brain: runways for which two readers named contradicting primaries; disagree: pairs of readers that \
         contradicted each other."
    );
    for r in reports {
        println!("\n== {} — {}", r.log.title(), r.how);
        if let Some(error) = &r.first_error {
            println!("   first append error: {error}");
        }
        if r.verdict.rewritten_reads > 0 {
            println!(
                "   {} reads saw history rewritten (a runway's past primaries changed)",
                r.verdict.rewritten_reads
            );
        }
        println!("{}", textwrap(&r.explanation, 96, "   "));
    }
    match config.schedule {
        Schedule::Seeded => println!(
            "\nSeeded schedule: one I/O step at a time in an order drawn from seed {}; the same seed gives the same \
             result. Try --schedule concurrent for real concurrency.",
            config.seed
        ),
        Schedule::Concurrent => println!(
            "\nConcurrent schedule: what was lost depends on timing in this run; run again and the numbers change."
        ),
    }
}

fn textwrap(text: &str, width: usize, indent: &str) -> String {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(format!("{indent}{line}"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(format!("{indent}{line}"));
    }
    lines.join("\n")
}
