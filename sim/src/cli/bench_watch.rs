//! `skyway bench --op watch`: how fast one change reaches many watchers, and what that costs.
//!
//! `--watchers` watchers of one prefix (`/bench-watch`), spread over connections of at most
//! 100 each, while [`WRITERS`] writers change nodes under it at
//! `--write-rate` changes per second in all. Every value carries its writer's sequence number
//! and when it was sent (one process, one clock), so every watcher measures the delivery latency
//! of every event it gets (sent → delivered to the watcher) and notices a lost event as a gap
//! in a writer's sequence, a duplicate as a repeat. After the writers stop, the watchers have
//! up to 30 s to catch up; an acknowledged write a watcher has not seen by then counts as lost. Latencies count for writes sent inside the measured window (after a
//! one-second warm-up); the servers' CPU is per change written and per event delivered.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use bytes::{BufMut, Bytes, BytesMut};
use hdrhistogram::Histogram;
use serde_json::json;
use skyway_coord::CoordError;
use skyway_coord::client::{Client, ClientOptions, Watcher};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use super::bench::ensure_node;
use super::ctl::Output;
use crate::rig::cpu;

/// The prefix every watcher watches and every writer writes under.
const PREFIX: &str = "/bench-watch";
/// Writers, each with its own node and connection; together they keep `--write-rate`.
pub const WRITERS: usize = 16;
/// Most watchers sharing one connection (the server allows 1,024 watches per connection).
const WATCHERS_PER_CONNECTION: usize = 100;
/// Most time watchers keep receiving after the writers stopped, to catch up; an acknowledged
/// change not delivered by then counts as lost.
const DRAIN: Duration = Duration::from_secs(30);
/// Bytes at the start of every value: the writer's sequence number and the send time.
const HEADER_BYTES: usize = 16;

/// A change as a writer sends it: which of its writes, and when (µs after the run's epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The writer's sequence number of this change (from 0).
    pub seq: u64,
    /// When it was sent, in µs after the run's epoch.
    pub sent_us: u64,
}

impl Stamp {
    /// The value carrying this stamp, padded to `value_bytes` (at least the stamp itself).
    pub fn encode(self, value_bytes: usize) -> Bytes {
        let mut value = BytesMut::with_capacity(value_bytes.max(HEADER_BYTES));
        value.put_u64_le(self.seq);
        value.put_u64_le(self.sent_us);
        value.resize(value_bytes.max(HEADER_BYTES), b'x');
        value.freeze()
    }

    /// The stamp a value carries, if it is one of ours.
    pub fn decode(value: &[u8]) -> Option<Self> {
        let seq = u64::from_le_bytes(value.get(0..8)?.try_into().ok()?);
        let sent_us = u64::from_le_bytes(value.get(8..16)?.try_into().ok()?);
        Some(Self { seq, sent_us })
    }
}

/// One watcher's check of every writer's sequence: each writer's changes must arrive once
/// each, in order, starting at 0 (the watchers start before any write).
#[derive(Debug, Clone)]
pub struct SequenceCheck {
    /// Per writer, the next sequence number expected.
    next: Vec<u64>,
    /// Changes never seen (gaps, and acknowledged writes missing at the end).
    pub lost: u64,
    /// Changes seen more than once.
    pub duplicated: u64,
}

impl SequenceCheck {
    /// A check of `writers` sequences, none seen yet.
    pub fn new(writers: usize) -> Self {
        Self { next: vec![0; writers], lost: 0, duplicated: 0 }
    }

    /// Records writer `writer`'s change number `seq`.
    pub fn saw(&mut self, writer: usize, seq: u64) {
        let next = &mut self.next[writer];
        if seq < *next {
            self.duplicated += 1;
        } else {
            self.lost += seq - *next;
            *next = seq + 1;
        }
    }

    /// Whether every acknowledged write (`acknowledged[w]` for writer `w`) has been seen.
    pub fn caught_up(&self, acknowledged: &[u64]) -> bool {
        self.next.iter().zip(acknowledged).all(|(next, acked)| next >= acked)
    }

    /// At the end: writer `w` had `acknowledged[w]` writes acknowledged; any not seen are lost.
    pub fn finish(&mut self, acknowledged: &[u64]) {
        for (next, &acked) in self.next.iter_mut().zip(acknowledged) {
            if acked > *next {
                self.lost += acked - *next;
                *next = acked;
            }
        }
    }
}

/// The writer index of a node path `/bench-watch/w{n}`.
fn writer_of(path: &str) -> Option<usize> {
    path.strip_prefix(PREFIX)?.strip_prefix("/w")?.parse().ok()
}

/// What one measurement found.
struct Figures {
    watchers: usize,
    connections: usize,
    rate_asked: f64,
    seconds: f64,
    writes: u64,
    write_errors: u64,
    events: u64,
    latency_us: Histogram<u64>,
    lost: u64,
    duplicated: u64,
    watch_errors: u64,
    cpu: cpu::Usage,
    servers_known: bool,
}

impl Figures {
    fn ms(&self, quantile: f64) -> f64 {
        self.latency_us.value_at_quantile(quantile) as f64 / 1000.0
    }

    fn human(&self) -> String {
        let mut line = format!(
            "watch: {} watchers on {} connections, {:.0} changes/s asked, {:.0} written ({} errors), {:.1} s: \
             {:.0} events delivered/s, delivery p50 {:.2} ms, p99 {:.2} ms, p999 {:.2} ms, max {:.2} ms; \
             lost {}, duplicated {}, watch errors {}",
            self.watchers,
            self.connections,
            self.rate_asked,
            self.writes as f64 / self.seconds,
            self.write_errors,
            self.seconds,
            self.events as f64 / self.seconds,
            self.ms(0.5),
            self.ms(0.99),
            self.ms(0.999),
            self.ms(1.0),
            self.lost,
            self.duplicated,
            self.watch_errors,
        );
        if self.servers_known {
            let cpu_us = self.cpu.servers_cores * self.cpu.seconds * 1e6;
            line += &format!(
                "; servers {:.2} cores = {:.0} µs CPU per change, {:.2} µs per event",
                self.cpu.servers_cores,
                cpu_us / self.writes.max(1) as f64,
                cpu_us / self.events.max(1) as f64
            );
        }
        line + &format!(
            "; this process {:.2} cores, others {:.2} cores (machine {:.2} busy)",
            self.cpu.loadgen_cores, self.cpu.other_cores, self.cpu.machine_cores
        )
    }

    fn json(&self) -> serde_json::Value {
        json!({"op": "watch", "watchers": self.watchers, "connections": self.connections,
               "write_rate_asked": self.rate_asked, "seconds": self.seconds,
               "writes_per_sec": self.writes as f64 / self.seconds, "write_errors": self.write_errors,
               "events_per_sec": self.events as f64 / self.seconds,
               "delivery_p50_ms": self.ms(0.5), "delivery_p99_ms": self.ms(0.99),
               "delivery_p999_ms": self.ms(0.999), "delivery_max_ms": self.ms(1.0),
               "lost": self.lost, "duplicated": self.duplicated, "watch_errors": self.watch_errors,
               "servers_cores": self.servers_known.then_some(self.cpu.servers_cores),
               "loadgen_cores": self.cpu.loadgen_cores, "machine_cores": self.cpu.machine_cores})
    }
}

/// What the run needs to know.
pub struct WatchLoad<'a> {
    /// The cluster's client endpoints.
    pub endpoints: &'a [String],
    /// How to connect (TLS, token).
    pub options: &'a ClientOptions,
    /// The servers' process ids, for their CPU (empty: not reported).
    pub server_pids: &'a [u32],
    /// Changes per second, all writers together.
    pub write_rate: f64,
    /// Bytes per value (at least the 16-byte stamp).
    pub value_bytes: usize,
    /// The measured window, after a one-second warm-up.
    pub duration: Duration,
    /// How to print the figures.
    pub output: Output,
}

/// Creates the writers' nodes, then runs one measurement per watcher count.
pub async fn run(load: &WatchLoad<'_>, watcher_counts: &[usize]) -> anyhow::Result<()> {
    anyhow::ensure!(load.write_rate > 0.0, "--write-rate must be above 0");
    let client = Client::new(load.endpoints, load.options.clone())?;
    ensure_node(&client, PREFIX, Bytes::new()).await?;
    for w in 0..WRITERS {
        ensure_node(&client, &format!("{PREFIX}/w{w}"), Bytes::new()).await?;
    }
    for &watchers in watcher_counts {
        let figures = measure(load, watchers).await?;
        match load.output {
            Output::Human => println!("{}", figures.human()),
            Output::Json => println!("{}", figures.json()),
        }
    }
    Ok(())
}

/// What one watcher task hands back.
struct WatcherEnd {
    check: SequenceCheck,
    events: u64,
    errors: u64,
}

async fn measure(load: &WatchLoad<'_>, watchers: usize) -> anyhow::Result<Figures> {
    let connections = watchers.div_ceil(WATCHERS_PER_CONNECTION).max(1);
    let epoch = Instant::now();
    // Every watcher is watching before the first write, so every sequence starts at 0.
    let mut watching = Vec::with_capacity(watchers);
    let mut histograms = Vec::with_capacity(connections);
    for c in 0..connections {
        let client = Client::starting_at(load.endpoints, load.options.clone(), c)?;
        let histogram = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?));
        histograms.push(histogram.clone());
        let on_this = (watchers - c * WATCHERS_PER_CONNECTION).min(WATCHERS_PER_CONNECTION);
        for _ in 0..on_this {
            let watcher = Watcher::start(&client, PREFIX, true, 0).await.context("starting a watcher")?;
            watching.push((watcher, histogram.clone()));
        }
    }
    let start = Instant::now() + Duration::from_millis(50);
    let warm_end = start + Duration::from_secs(1);
    let end = warm_end + load.duration;
    let window = (warm_end - epoch).as_micros() as u64..(end - epoch).as_micros() as u64;
    // The writers' acknowledged counts once they stopped: a watcher that has seen them all is done.
    let (acked_tx, acked_rx) = tokio::sync::watch::channel(None::<Vec<u64>>);

    let watcher_tasks: Vec<_> = watching
        .into_iter()
        .map(|(mut watcher, histogram)| {
            let window = window.clone();
            let mut acked_rx = acked_rx.clone();
            tokio::spawn(async move {
                let mut outcome = WatcherEnd { check: SequenceCheck::new(WRITERS), events: 0, errors: 0 };
                let mut latencies = Vec::new();
                // The writers send nothing after `end`; what is still on its way gets DRAIN.
                let caught_up = |check: &SequenceCheck, acked: &watch::Receiver<Option<Vec<u64>>>| {
                    acked.borrow().as_ref().is_some_and(|acked| check.caught_up(acked))
                };
                let drain_until = sleep_until(end + DRAIN);
                tokio::pin!(drain_until);
                loop {
                    tokio::select! {
                        batch = watcher.next() => match batch {
                            Ok(events) => {
                                let now_us = epoch.elapsed().as_micros() as u64;
                                for event in events {
                                    let (Some(writer), Some(stamp)) = (writer_of(&event.path), Stamp::decode(&event.data)) else {
                                        continue;
                                    };
                                    outcome.check.saw(writer, stamp.seq);
                                    if window.contains(&stamp.sent_us) {
                                        outcome.events += 1;
                                        latencies.push(now_us.saturating_sub(stamp.sent_us).max(1));
                                    }
                                }
                                let mut histogram = histogram.lock().unwrap_or_else(|p| p.into_inner());
                                for latency in latencies.drain(..) {
                                    let _ = histogram.record(latency);
                                }
                                drop(histogram);
                                if caught_up(&outcome.check, &acked_rx) {
                                    break;
                                }
                            }
                            Err(_) => { outcome.errors += 1; break; }
                        },
                        // The sender lives until every watcher is done, so this never spins.
                        Ok(()) = acked_rx.changed() => if caught_up(&outcome.check, &acked_rx) { break },
                        () = &mut drain_until => break,
                    }
                }
                outcome
            })
        })
        .collect();

    let interval = Duration::from_secs_f64(WRITERS as f64 / load.write_rate);
    let writer_tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let client = Client::starting_at(load.endpoints, load.options.clone(), w);
            let value_bytes = load.value_bytes;
            tokio::spawn(async move {
                let client = client?;
                let path = format!("{PREFIX}/w{w}");
                let (mut seq, mut errors, mut in_window) = (0u64, 0u64, 0u64);
                // Writers start spread over one interval, not all at once.
                let mut due = start + interval.mul_f64(w as f64 / WRITERS as f64);
                while due < end {
                    sleep_until(due).await;
                    let sent = Instant::now();
                    let value = Stamp { seq, sent_us: (sent - epoch).as_micros() as u64 }.encode(value_bytes);
                    match client.set(&path, value, None).await {
                        Ok(_) => {
                            seq += 1;
                            in_window += u64::from(sent >= warm_end && sent < end);
                        }
                        // A write with an unknown outcome may have applied with this sequence
                        // number, so the next write takes the next one (if it did not apply,
                        // the watchers see a gap: counted lost, and the error is reported).
                        Err(CoordError::OutcomeUnknown { .. }) => {
                            errors += 1;
                            seq += 1;
                        }
                        // Certainly not applied: the next write reuses the number.
                        Err(_) => errors += 1,
                    }
                    due += interval;
                }
                anyhow::Ok((seq, errors, in_window))
            })
        })
        .collect();

    sleep_until(warm_end).await;
    let before = cpu::snapshot(load.server_pids);
    sleep_until(end).await;
    let after = cpu::snapshot(load.server_pids);
    let (mut acknowledged, mut writes, mut write_errors) = (Vec::new(), 0, 0);
    for task in writer_tasks {
        let (seq, errors, in_window) = task.await??;
        acknowledged.push(seq);
        writes += in_window;
        write_errors += errors;
    }
    let _ = acked_tx.send(Some(acknowledged.clone()));
    let mut figures = Figures {
        watchers,
        connections,
        rate_asked: load.write_rate,
        seconds: load.duration.as_secs_f64(),
        writes,
        write_errors,
        events: 0,
        latency_us: Histogram::new_with_bounds(1, 600_000_000, 3)?,
        lost: 0,
        duplicated: 0,
        watch_errors: 0,
        cpu: cpu::usage(&before, &after),
        servers_known: !load.server_pids.is_empty(),
    };
    for task in watcher_tasks {
        let mut outcome = task.await?;
        outcome.check.finish(&acknowledged);
        figures.events += outcome.events;
        figures.lost += outcome.check.lost;
        figures.duplicated += outcome.check.duplicated;
        figures.watch_errors += outcome.errors;
    }
    drop(acked_tx);
    for histogram in histograms {
        figures.latency_us.add(&*histogram.lock().unwrap_or_else(|p| p.into_inner()))?;
    }
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_survives_its_value_and_pads_it() {
        let stamp = Stamp { seq: 41, sent_us: 1_234_567 };
        let value = stamp.encode(256);
        assert_eq!(value.len(), 256);
        assert_eq!(Stamp::decode(&value), Some(stamp));
        assert_eq!(stamp.encode(4).len(), HEADER_BYTES, "a value is never shorter than its stamp");
        assert_eq!(Stamp::decode(b"short"), None);
    }

    #[test]
    fn gaps_count_as_lost_and_repeats_as_duplicated() {
        let mut check = SequenceCheck::new(2);
        for seq in [0, 1, 2] {
            check.saw(0, seq);
        }
        check.saw(1, 1); // writer 1's change 0 never came
        check.saw(1, 1); // and change 1 came twice
        check.saw(0, 5); // 3 and 4 never came
        assert_eq!((check.lost, check.duplicated), (3, 1));
        // Writer 0 had 8 acknowledged writes (0..=7), writer 1 had 2: 6 and 7 were never seen.
        check.finish(&[8, 2]);
        assert_eq!((check.lost, check.duplicated), (5, 1));
    }

    #[test]
    fn a_complete_sequence_is_neither_lost_nor_duplicated() {
        let mut check = SequenceCheck::new(1);
        (0..100).for_each(|seq| check.saw(0, seq));
        assert!(check.caught_up(&[100]) && !check.caught_up(&[101]));
        check.finish(&[100]);
        assert_eq!((check.lost, check.duplicated), (0, 0));
    }

    #[test]
    fn writer_paths_name_their_writer() {
        assert_eq!(writer_of("/bench-watch/w7"), Some(7));
        assert_eq!(writer_of("/bench-watch"), None);
        assert_eq!(writer_of("/bench/k7"), None);
    }
}
