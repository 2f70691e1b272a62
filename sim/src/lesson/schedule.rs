//! The seeded schedule: one I/O step at a time, the next actor chosen by a seeded random
//! number generator, so that a run's interleaving — and so what it loses — repeats exactly.
//!
//! Every actor (writer or reader) registers, asks for a turn before each I/O step, and holds
//! the turn while the step runs. A turn is granted only when every live actor is waiting for
//! one, so which actor goes next never depends on how fast the machine is.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use skyway_storage::object_log::IoGate;
use tokio::sync::oneshot;

struct State {
    rng: StdRng,
    live: usize,
    busy: bool,
    waiting: BTreeMap<usize, oneshot::Sender<()>>,
    steps: u64,
}

impl State {
    fn grant_if_all_wait(&mut self) {
        if self.busy || self.waiting.is_empty() || self.waiting.len() < self.live {
            return;
        }
        let index = self.rng.random_range(0..self.waiting.len());
        let actor = *self.waiting.keys().nth(index).expect("index in range");
        let grant = self.waiting.remove(&actor).expect("actor waiting");
        self.busy = true;
        self.steps += 1;
        // An actor that went away releases its turn at once.
        if grant.send(()).is_err() {
            self.busy = false;
            self.grant_if_all_wait();
        }
    }
}

/// A seeded schedule shared by the actors of one run.
#[derive(Clone)]
pub struct SeededSchedule {
    state: Arc<Mutex<State>>,
}

impl SeededSchedule {
    /// A schedule drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                rng: StdRng::seed_from_u64(seed),
                live: 0,
                busy: false,
                waiting: BTreeMap::new(),
                steps: 0,
            })),
        }
    }

    /// Registers actor `id` (ids must be unique); it takes part until the handle is dropped.
    pub fn join(&self, id: usize) -> ActorGate {
        self.lock().live += 1;
        ActorGate { schedule: self.clone(), id }
    }

    /// Steps granted so far.
    pub fn steps(&self) -> u64 {
        self.lock().steps
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("schedule poisoned")
    }
}

/// One actor's gate into the schedule.
pub struct ActorGate {
    schedule: SeededSchedule,
    id: usize,
}

/// The turn: while it lives, no other actor does I/O.
pub struct Turn {
    schedule: SeededSchedule,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut state = self.schedule.lock();
        state.busy = false;
        state.grant_if_all_wait();
    }
}

impl IoGate for ActorGate {
    type Turn = Turn;

    async fn turn(&self) -> Turn {
        let (grant, granted) = oneshot::channel();
        {
            let mut state = self.schedule.lock();
            state.waiting.insert(self.id, grant);
            state.grant_if_all_wait();
        }
        granted.await.expect("the schedule outlives its actors");
        Turn { schedule: self.schedule.clone() }
    }
}

impl Drop for ActorGate {
    fn drop(&mut self) {
        let mut state = self.schedule.lock();
        state.live -= 1;
        state.waiting.remove(&self.id);
        state.grant_if_all_wait();
    }
}

/// Either the seeded schedule or none (real concurrency).
pub enum Gate {
    /// One step at a time, in seeded order.
    Seeded(ActorGate),
    /// Every step at once.
    Free,
}

/// The turn of a [`Gate`].
pub enum GateTurn {
    /// A seeded turn.
    Seeded(#[allow(dead_code)] Turn),
    /// No turn needed.
    Free,
}

impl IoGate for Gate {
    type Turn = GateTurn;

    async fn turn(&self) -> GateTurn {
        match self {
            Gate::Seeded(gate) => GateTurn::Seeded(gate.turn().await),
            Gate::Free => GateTurn::Free,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn order(seed: u64) -> Vec<usize> {
        let schedule = SeededSchedule::new(seed);
        let log = Arc::new(Mutex::new(Vec::new()));
        let gates: Vec<ActorGate> = (0..4).map(|id| schedule.join(id)).collect();
        let tasks: Vec<_> = gates
            .into_iter()
            .enumerate()
            .map(|(id, gate)| {
                let log = log.clone();
                tokio::spawn(async move {
                    for _ in 0..5 {
                        let _turn = gate.turn().await;
                        tokio::task::yield_now().await;
                        log.lock().unwrap().push(id);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        log.lock().unwrap().clone()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_same_seed_gives_the_same_interleaving() {
        let first = order(42).await;
        assert_eq!(first.len(), 20);
        assert_eq!(order(42).await, first);
        assert_ne!(order(43).await, first, "another seed, another interleaving (almost surely)");
    }
}
