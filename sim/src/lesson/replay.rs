//! Replaying a log top to bottom, as a controller would, to decide who is primary where; and
//! judging whether readers' conclusions can all be true at once.
//!
//! The rule a controller follows: a claim on a runway that nobody holds makes the claimant
//! primary; a claim on a held runway is too late (the claimant is a backup). A controller that
//! restarted, or that another thinks crashed, loses its runways. The result per runway is its
//! *succession*: the primaries in order.
//!
//! With a sound append-only log every read is a prefix of every later read, so every reader's
//! succession is a prefix of every later reader's: they may lag but never contradict. When
//! records are lost, two readers can conclude different primaries for the same turn of the same
//! runway — each would let a different controller act: a split brain.

use std::collections::BTreeMap;

use serde::Serialize;

use super::records::{Event, Record};

/// Who held each runway, in order, according to one read of the log.
pub type Successions = BTreeMap<String, Vec<String>>;

/// Replays `records` in order.
pub fn replay<'r>(records: impl IntoIterator<Item = &'r Record>) -> Successions {
    let mut primary: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut successions = Successions::new();
    let release = |primary: &mut BTreeMap<String, Option<String>>, who: &str| {
        for holder in primary.values_mut() {
            if holder.as_deref() == Some(who) {
                *holder = None;
            }
        }
    };
    for record in records {
        match &record.event {
            Event::Claims { who, runway, .. } => {
                let holder = primary.entry(runway.clone()).or_default();
                if holder.is_none() {
                    *holder = Some(who.clone());
                    successions.entry(runway.clone()).or_default().push(who.clone());
                }
            }
            Event::Suspects { suspect, .. } => release(&mut primary, suspect),
            Event::Restarted { who } => release(&mut primary, who),
            Event::Running { .. } => {}
        }
    }
    successions
}

/// One reader's conclusion at one moment.
#[derive(Debug, Clone)]
pub struct Observation {
    /// Which reader.
    pub reader: usize,
    /// What it concluded.
    pub successions: Successions,
}

/// What the readers' conclusions say together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Runways for which two readers concluded contradicting primaries (split brains).
    pub split_brain_runways: Vec<String>,
    /// Pairs of readers that contradicted each other about some runway.
    pub disagreeing_reader_pairs: usize,
    /// Reads in which a reader saw history rewritten (not an extension of its previous read).
    pub rewritten_reads: usize,
}

fn is_prefix(a: &[String], b: &[String]) -> bool {
    a.len() <= b.len() && b[..a.len()] == *a
}

fn contradict(a: &[String], b: &[String]) -> bool {
    !is_prefix(a, b) && !is_prefix(b, a)
}

/// Every contradiction between two readers' observations: (reader, other reader, runway) where
/// neither succession of primaries is a prefix of the other.
fn contradictions(observations: &[Observation]) -> impl Iterator<Item = (usize, usize, &str)> {
    observations.iter().enumerate().flat_map(move |(i, a)| {
        observations[i + 1..].iter().filter(move |b| a.reader != b.reader).flat_map(move |b| {
            a.successions.iter().filter_map(move |(runway, succession)| {
                let other = b.successions.get(runway).map_or(&[][..], Vec::as_slice);
                contradict(succession, other).then_some((a.reader, b.reader, runway.as_str()))
            })
        })
    })
}

/// Judges the observations of all readers.
pub fn judge(observations: &[Observation]) -> Verdict {
    let mut split = std::collections::BTreeSet::new();
    let mut pairs = std::collections::BTreeSet::new();
    for (a, b, runway) in contradictions(observations) {
        split.insert(runway.to_string());
        pairs.insert((a.min(b), a.max(b)));
    }
    let mut last: BTreeMap<usize, &Successions> = BTreeMap::new();
    let mut rewritten = 0;
    for observation in observations {
        if let Some(previous) = last.insert(observation.reader, &observation.successions) {
            let extends = previous
                .iter()
                .all(|(runway, before)| observation.successions.get(runway).is_some_and(|now| is_prefix(before, now)));
            if !extends {
                rewritten += 1;
            }
        }
    }
    Verdict {
        split_brain_runways: split.into_iter().collect(),
        disagreeing_reader_pairs: pairs.len(),
        rewritten_reads: rewritten,
    }
}

/// What one reader believed at its last read, and where it contradicted another reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Belief {
    /// The reader.
    pub reader: usize,
    /// Runway → the primary it believed in at its last read.
    pub primaries: BTreeMap<String, String>,
    /// Runways on which one of its reads contradicted another reader's (a split brain).
    pub contradicted: Vec<String>,
}

/// Each reader's last belief, readers in order, with the runways where it contradicted another.
pub fn beliefs(observations: &[Observation]) -> Vec<Belief> {
    let mut out: BTreeMap<usize, Belief> = BTreeMap::new();
    for observation in observations {
        let primaries =
            observation.successions.iter().filter_map(|(r, s)| Some((r.clone(), s.last()?.clone()))).collect();
        let belief = out.entry(observation.reader).or_insert_with(|| Belief {
            reader: observation.reader,
            primaries: BTreeMap::new(),
            contradicted: Vec::new(),
        });
        belief.primaries = primaries;
    }
    for (a, b, runway) in contradictions(observations) {
        for reader in [a, b] {
            let belief = out.get_mut(&reader).expect("every reader observed");
            if !belief.contradicted.iter().any(|r| r == runway) {
                belief.contradicted.push(runway.to_string());
                belief.contradicted.sort();
            }
        }
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(id: &str, who: &str, runway: &str) -> Record {
        Record { id: id.into(), event: Event::Claims { who: who.into(), runway: runway.into(), backup: "Z".into() } }
    }

    fn suspect(id: &str, who: &str, suspect: &str) -> Record {
        Record { id: id.into(), event: Event::Suspects { who: who.into(), suspect: suspect.into() } }
    }

    #[test]
    fn the_first_claim_on_a_free_runway_wins_and_a_suspicion_frees_it() {
        let log = [claim("1", "A", "07"), claim("2", "B", "07"), suspect("3", "B", "A"), claim("4", "B", "07")];
        assert_eq!(replay(&log)["07"], ["A", "B"]);
        let restarted = Record { id: "5".into(), event: Event::Restarted { who: "B".into() } };
        let log = [claim("1", "A", "07"), restarted.clone(), claim("2", "C", "07")];
        assert_eq!(replay(&log)["07"], ["A"], "B restarting frees nothing of A's");
    }

    #[test]
    fn readers_of_prefixes_agree_and_readers_of_a_lost_record_do_not() {
        let full = [claim("1", "A", "07"), suspect("2", "C", "A"), claim("3", "B", "07")];
        let reads = |logs: &[&[Record]]| -> Vec<Observation> {
            logs.iter().enumerate().map(|(reader, log)| Observation { reader, successions: replay(*log) }).collect()
        };
        assert_eq!(judge(&reads(&[&full[..1], &full[..2], &full])), Verdict::default());

        // Reader 0 saw A's claim; then B's read-modify-write erased it and reader 1 saw B's.
        let lost = [suspect("2", "C", "A"), claim("3", "B", "07")];
        let verdict = judge(&reads(&[&full[..1], &lost]));
        assert_eq!(verdict.split_brain_runways, ["07"]);
        assert_eq!(verdict.disagreeing_reader_pairs, 1);
        // What each believes: reader 0 that A holds 07, reader 1 that B does; both contradicted.
        let beliefs = beliefs(&reads(&[&full[..1], &lost]));
        assert_eq!(beliefs[0].primaries["07"], "A");
        assert_eq!(beliefs[1].primaries["07"], "B");
        assert!(beliefs.iter().all(|b| b.contradicted == ["07"]), "{beliefs:?}");
        assert!(super::beliefs(&reads(&[&full[..1], &full])).iter().all(|b| b.contradicted.is_empty()));
    }

    #[test]
    fn a_reader_that_sees_history_rewritten_is_counted() {
        let before = Observation { reader: 0, successions: replay(&[claim("1", "A", "07")]) };
        let after = Observation { reader: 0, successions: replay(&[claim("2", "B", "07")]) };
        assert_eq!(judge(&[before, after]).rewritten_reads, 1);
    }
}
