//! Read-index rounds: linearizable reads that arrive together share one read index.
//!
//! Every linearizable read needs a read index — the commit index at a moment when the leader
//! was surely the leader — obtained *after* the read arrived, so that it covers every write
//! acknowledged before the read began. Obtaining one costs a trip into openraft's core on the
//! leader, and a message to the leader from a follower. Reads arriving while one is being
//! obtained do not each start their own: they wait for the round that starts next, which begins
//! after all of them arrived, and all take its answer. So one round serves any number of reads
//! and at most one round is in flight, as etcd's read loop batches its `ReadIndex` calls. An idle
//! node starts a round for a read at once, so one client waits no longer than before.
//!
//! Correctness is the rule "a read takes the answer of a round that *started* after it
//! arrived": rounds are numbered in the order they start, a read arriving when `started` rounds
//! have begun wants round `started + 1` or later. A round whose driver is dropped mid-way (its
//! client went away) ends without an answer, and a waiting read starts the next one.

use std::future::Future;
use std::sync::Mutex;

use tokio::sync::watch;

use crate::core::types::Revision;
use crate::error::CoordError;

/// What a round answers: the read index, or why there is none.
pub type ReadIndex = Result<Revision, CoordError>;

/// Rounds of one kind of read-index request (see the module docs).
pub struct ReadRounds {
    state: Mutex<RoundState>,
    ended: watch::Sender<Ended>,
}

#[derive(Debug, Default)]
struct RoundState {
    /// Rounds begun so far; the one in flight, if any, is number `started`.
    started: u64,
    in_flight: bool,
}

/// The last round that ended: its number and its answer (`None`: its driver went away).
#[derive(Debug, Clone, Default)]
struct Ended {
    round: u64,
    answer: Option<ReadIndex>,
}

impl Default for ReadRounds {
    fn default() -> Self {
        Self { state: Mutex::new(RoundState::default()), ended: watch::Sender::new(Ended::default()) }
    }
}

impl ReadRounds {
    /// The read index for a read arriving now: the answer of a round that starts after now,
    /// driven by this call (`obtain`) when no round is in flight, else by whoever starts the next.
    pub async fn read_index<F, Fut>(&self, obtain: F) -> ReadIndex
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ReadIndex>,
    {
        let mut ended = self.ended.subscribe();
        let wanted = self.lock().started + 1;
        let mut obtain = Some(obtain);
        loop {
            {
                let last = ended.borrow_and_update();
                if last.round >= wanted
                    && let Some(answer) = &last.answer
                {
                    return answer.clone();
                }
            }
            if let Some(round) = self.begin_round() {
                let driver = Driver { rounds: self, round, finished: false };
                let obtain = obtain.take().expect("a call drives at most one round: it returns with its answer");
                let answer = obtain().await;
                driver.finish(answer.clone());
                return answer;
            }
            // A round is in flight: wait for it (or a later one) to end. The sender lives in
            // `self`, so the channel cannot close while we borrow it.
            let _ = ended.changed().await;
        }
    }

    /// Begins a round if none is in flight; returns its number.
    fn begin_round(&self) -> Option<u64> {
        let mut state = self.lock();
        if state.in_flight {
            return None;
        }
        state.in_flight = true;
        state.started += 1;
        Some(state.started)
    }

    fn end_round(&self, round: u64, answer: Option<ReadIndex>) {
        let mut state = self.lock();
        state.in_flight = false;
        // Under the state lock, so that a read seeing `in_flight == false` also sees the end.
        self.ended.send_replace(Ended { round, answer });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RoundState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Ends its round when dropped: with the answer, or without one if the driving call was dropped.
struct Driver<'a> {
    rounds: &'a ReadRounds,
    round: u64,
    finished: bool,
}

impl Driver<'_> {
    fn finish(mut self, answer: ReadIndex) {
        self.finished = true;
        self.rounds.end_round(self.round, Some(answer));
    }
}

impl Drop for Driver<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.rounds.end_round(self.round, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use tokio::sync::oneshot;

    use super::*;

    #[tokio::test]
    async fn an_idle_read_drives_its_own_round() {
        let rounds = ReadRounds::default();
        assert_eq!(rounds.read_index(|| async { Ok(Revision(7)) }).await, Ok(Revision(7)));
        assert_eq!(rounds.read_index(|| async { Ok(Revision(9)) }).await, Ok(Revision(9)));
        assert_eq!(rounds.lock().started, 2);
    }

    /// The rule itself: reads that arrive while round 1 is in flight must not take its answer
    /// (it may predate writes they must see); they share round 2, which starts after them.
    #[tokio::test]
    async fn reads_arriving_during_a_round_share_the_next_one_not_that_one() {
        let rounds = Arc::new(ReadRounds::default());
        let calls = Arc::new(AtomicU64::new(0));
        let (release_first, first_released) = oneshot::channel::<()>();
        let first = tokio::spawn({
            let (rounds, calls) = (rounds.clone(), calls.clone());
            async move {
                rounds
                    .read_index(|| async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        first_released.await.unwrap();
                        Ok(Revision(1))
                    })
                    .await
            }
        });
        while !rounds.lock().in_flight {
            tokio::task::yield_now().await;
        }
        let later: Vec<_> = (0..10)
            .map(|_| {
                let (rounds, calls) = (rounds.clone(), calls.clone());
                tokio::spawn(async move {
                    rounds
                        .read_index(|| async move {
                            calls.fetch_add(1, Ordering::SeqCst);
                            Ok(Revision(2))
                        })
                        .await
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        release_first.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(Revision(1)));
        for read in later {
            assert_eq!(read.await.unwrap(), Ok(Revision(2)), "a later read took the earlier round's index");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2, "ten reads waiting together share one round");
    }

    #[tokio::test]
    async fn an_error_is_the_answer_of_everyone_in_the_round() {
        let rounds = ReadRounds::default();
        let error = CoordError::Unavailable { reason: "no quorum".into() };
        assert_eq!(rounds.read_index(|| async { Err(error.clone()) }).await, Err(error));
        assert_eq!(rounds.read_index(|| async { Ok(Revision(3)) }).await, Ok(Revision(3)));
    }

    /// A driver whose client went away must not leave the waiting reads stuck.
    #[tokio::test]
    async fn a_dropped_driver_hands_over_to_a_waiting_read() {
        let rounds = Arc::new(ReadRounds::default());
        let stuck = tokio::spawn({
            let rounds = rounds.clone();
            async move { rounds.read_index(std::future::pending).await }
        });
        while !rounds.lock().in_flight {
            tokio::task::yield_now().await;
        }
        let waiting = tokio::spawn({
            let rounds = rounds.clone();
            async move { rounds.read_index(|| async { Ok(Revision(5)) }).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        stuck.abort();
        let answer = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("the waiting read went on");
        assert_eq!(answer.unwrap(), Ok(Revision(5)));
    }
}
