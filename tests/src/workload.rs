//! A register workload for linearizability checks: several clients doing random reads, writes
//! and compare-and-sets on a few keys, recording every operation with its outcome.
//!
//! Every written value is unique, so the check is sharp. Outcomes are recorded honestly: an
//! acknowledged write is `Written`, a refused compare-and-set is `Cas(false)`, an error that
//! proves the request was not applied (`NotLeader`, `Unavailable`) drops the operation, and
//! anything else (a lost answer) is `Unknown` — it may have applied at any later time, or never.

use std::time::{Duration, Instant};

use skyway_coord::CoordError;
use skyway_coord::client::{Client, Consistency};

use crate::lincheck::{CheckOptions, CheckResult, Input, Operation, Output, check};

/// Keys of the workload (`/lin/k0` …).
pub const KEYS: usize = 3;

/// A small seeded generator, so a run's choice of operations is reproducible.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One client's loop: random operations until `until`.
pub async fn run_client(id: u64, client: Client, start: Instant, until: Instant, seed: u64) -> Vec<Operation> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut history = Vec::new();
    // The last (value, version) this client read per key, for its compare-and-sets.
    let mut last_read: Vec<Option<(String, u64)>> = vec![None; KEYS];
    let mut n = 0u64;
    let micros = |t: Instant| t.duration_since(start).as_micros() as u64;
    while Instant::now() < until {
        let k = rng.below(KEYS as u64) as usize;
        let (key, path) = (format!("k{k}"), format!("/lin/k{k}"));
        let choice = rng.below(3);
        let call = Instant::now();
        let (input, output) = match (choice, last_read[k].clone()) {
            (0, _) | (_, None) => {
                let result = client.get(&path, Consistency::Linearizable).await;
                let output = match result {
                    Ok(node) => {
                        let value = String::from_utf8_lossy(&node.data).into_owned();
                        last_read[k] = Some((value.clone(), node.stat.version));
                        Output::Read(Some(value))
                    }
                    Err(_) => continue, // a failed read has no effect
                };
                (Input::Read, output)
            }
            (1, _) => {
                n += 1;
                let value = format!("c{id}-{n}");
                let output = match client.set(&path, value.clone(), None).await {
                    Ok(_) => Output::Written,
                    Err(CoordError::NotLeader { .. } | CoordError::Unavailable { .. }) => continue,
                    Err(_) => Output::Unknown,
                };
                (Input::Write(value), output)
            }
            (_, Some((expected, version))) => {
                n += 1;
                let new = format!("c{id}-{n}");
                // Versions and values move together (every value is unique), so "version v"
                // is "the value that had version v".
                let output = match client.set(&path, new.clone(), Some(version)).await {
                    Ok(_) => Output::Cas(true),
                    Err(CoordError::BadVersion { .. }) => Output::Cas(false),
                    Err(CoordError::NotLeader { .. } | CoordError::Unavailable { .. }) => continue,
                    Err(_) => Output::Unknown,
                };
                (Input::Cas { expected: Some(expected), new }, output)
            }
        };
        let ret = micros(Instant::now());
        history.push(Operation { client: id, key, call: micros(call), ret, input, output });
    }
    history
}

/// Creates the keys with unique initial values, recorded as completed writes.
pub async fn create_keys(client: &Client, start: Instant) -> anyhow::Result<Vec<Operation>> {
    let mut history = Vec::new();
    for k in 0..KEYS {
        let value = format!("init-{k}");
        let call = start.elapsed().as_micros() as u64;
        let request = skyway_coord::client::Create {
            path: format!("/lin/k{k}"),
            data: value.clone().into(),
            make_parents: true,
            ..Default::default()
        };
        client.create(request).await?;
        let ret = start.elapsed().as_micros() as u64;
        history.push(Operation {
            client: 0,
            key: format!("k{k}"),
            call,
            ret,
            input: Input::Write(value),
            output: Output::Written,
        });
    }
    Ok(history)
}

/// Checks a history; on failure saves it as JSON under `dir` and says where.
pub fn assert_linearizable(history: &[Operation], dir: &std::path::Path) -> anyhow::Result<()> {
    let unknown = history.iter().filter(|o| o.output == Output::Unknown).count();
    let cas_ok = history.iter().filter(|o| o.output == Output::Cas(true)).count();
    println!("{} operations ({unknown} with unknown outcome, {cas_ok} successful CAS) on {KEYS} keys", history.len());
    anyhow::ensure!(history.len() > 300, "too few operations to mean anything: {}", history.len());
    anyhow::ensure!(cas_ok > 0, "the history should contain successful compare-and-sets");
    let result = check(history, &CheckOptions::default());
    if result != CheckResult::Linearizable {
        let saved = dir.join("history.json");
        std::fs::write(&saved, serde_json::to_vec_pretty(history)?)?;
        anyhow::bail!("not linearizable: {result:?}; history saved in {}", saved.display());
    }
    Ok(())
}

/// Starts `clients` workload clients, each with its own connection, first to a different node.
pub fn spawn_clients(
    endpoints: &[String],
    clients: u64,
    start: Instant,
    run_for: Duration,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<Vec<Operation>>>> {
    let until = Instant::now() + run_for;
    let mut tasks = Vec::new();
    for id in 1..=clients {
        let client = Client::starting_at(endpoints, Default::default(), id as usize)?;
        tasks.push(tokio::spawn(run_client(id, client, start, until, id)));
    }
    Ok(tasks)
}
