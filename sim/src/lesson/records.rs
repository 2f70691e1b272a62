//! What the writers append: the kind of records the lecture describes.
//!
//! "A, B and C are running", "D restarted", "B thinks A crashed", "A is primary for runway 07,
//! C is backup". Every record carries a unique id (writer and sequence number), so a reader can
//! tell a lost record from one never written, and a retried append from a second one.

use std::fmt;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Unique: `WRITER-SEQ`.
    pub id: String,
    /// What the writer reports.
    pub event: Event,
}

/// What a record says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The writer sees these controllers running.
    Running {
        /// Who is running.
        members: Vec<String>,
    },
    /// A controller restarted (and so holds no role).
    Restarted {
        /// Who.
        who: String,
    },
    /// One controller thinks another crashed (so its roles are free).
    Suspects {
        /// Who thinks so.
        who: String,
        /// Who is thought to have crashed.
        suspect: String,
    },
    /// A controller takes a runway, if nobody holds it, naming its backup.
    Claims {
        /// The claimant.
        who: String,
        /// The runway, e.g. "07".
        runway: String,
        /// Its backup.
        backup: String,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Running { members } => match members.as_slice() {
                [] => write!(f, "nobody is running"),
                [one] => write!(f, "{one} is running"),
                [rest @ .., last] => write!(f, "{} and {last} are running", rest.join(", ")),
            },
            Event::Restarted { who } => write!(f, "{who} restarted"),
            Event::Suspects { who, suspect } => write!(f, "{who} thinks {suspect} crashed"),
            Event::Claims { who, runway, backup } => {
                write!(f, "{who} is primary for runway {runway}, {backup} is backup")
            }
        }
    }
}

/// Names for `count` writers: A, B, C, … (then A1, B1, … beyond 26).
pub fn writer_names(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            let letter = char::from(b'A' + (i % 26) as u8);
            if i < 26 { letter.to_string() } else { format!("{letter}{}", i / 26) }
        })
        .collect()
}

/// Runway names: 07, 16, 25, 34, … (`count` of them).
pub fn runway_names(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{:02}", (7 + 9 * i) % 36)).collect()
}

/// The records writer `me` will append, drawn from `seed`: first who it sees running, then a
/// mix that is mostly claims on runways, with suspicions and restarts between.
pub fn script(me: &str, writers: &[String], runways: &[String], records: usize, seed: u64) -> Vec<Record> {
    let mut rng = StdRng::seed_from_u64(seed ^ fnv(me));
    let others: Vec<&String> = writers.iter().filter(|w| *w != me).collect();
    let pick_other = |rng: &mut StdRng| -> String {
        if others.is_empty() { me.to_string() } else { others[rng.random_range(0..others.len())].clone() }
    };
    (0..records)
        .map(|seq| {
            let event = if seq == 0 {
                Event::Running { members: writers.to_vec() }
            } else {
                match rng.random_range(0..10) {
                    0..=5 => Event::Claims {
                        who: me.to_string(),
                        runway: runways[rng.random_range(0..runways.len())].clone(),
                        backup: pick_other(&mut rng),
                    },
                    6..=7 => Event::Suspects { who: me.to_string(), suspect: pick_other(&mut rng) },
                    8 => Event::Restarted { who: me.to_string() },
                    _ => Event::Running { members: writers.to_vec() },
                }
            };
            Record { id: format!("{me}-{seq}"), event }
        })
        .collect()
}

/// A stable hash of a name, to give each writer its own stream from one seed.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_like_the_lecture() {
        let running = Event::Running { members: writer_names(3) };
        assert_eq!(running.to_string(), "A, B and C are running");
        let claim = Event::Claims { who: "A".into(), runway: "07".into(), backup: "C".into() };
        assert_eq!(claim.to_string(), "A is primary for runway 07, C is backup");
        assert_eq!(Event::Suspects { who: "B".into(), suspect: "A".into() }.to_string(), "B thinks A crashed");
        assert_eq!(Event::Restarted { who: "D".into() }.to_string(), "D restarted");
    }

    #[test]
    fn scripts_are_unique_and_repeatable() {
        let writers = writer_names(4);
        let runways = runway_names(3);
        let a = script("A", &writers, &runways, 20, 9);
        assert_eq!(a, script("A", &writers, &runways, 20, 9));
        assert_ne!(a, script("A", &writers, &runways, 20, 10));
        let b = script("B", &writers, &runways, 20, 9);
        assert!(a.iter().all(|r| !b.iter().any(|s| s.id == r.id)));
        assert!(a.iter().filter(|r| matches!(r.event, Event::Claims { .. })).count() >= 5);
    }
}
