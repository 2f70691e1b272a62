//! Spreading roles over controllers, pure: which role (if any) a controller should hand over.
//!
//! The election alone makes the first controller to start primary for everything. A primary
//! that holds at least two roles more than the next in line of one of its roles hands that role
//! over (it resigns, so the next in line takes over at once, and campaigns again at the back).
//! Each handover narrows the gap by two, so the spread converges and never flaps; a controller
//! that comes back joins every line at the back and receives roles only by such handovers.

use std::collections::BTreeMap;

/// The role `me` should hand over, and to whom, given every role's line of candidates
/// (controller names, primary first).
pub fn handover<'v>(me: &str, lines: &'v BTreeMap<String, Vec<String>>) -> Option<(&'v str, &'v str)> {
    let mut primaries: BTreeMap<&str, usize> = BTreeMap::new();
    for line in lines.values() {
        for (rank, name) in line.iter().enumerate() {
            *primaries.entry(name.as_str()).or_default() += usize::from(rank == 0);
        }
    }
    let mine = primaries.get(me).copied().unwrap_or(0);
    lines.iter().find_map(|(role, line)| match line.as_slice() {
        [first, next, ..] if first == me && primaries[next.as_str()] + 2 <= mine => {
            Some((role.as_str(), next.as_str()))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(spec: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        spec.iter().map(|(role, line)| (role.to_string(), line.iter().map(|s| s.to_string()).collect())).collect()
    }

    #[test]
    fn the_first_starter_hands_roles_over_until_they_are_spread() {
        let mut current = lines(&[("runway/07", &["A", "B", "C"]), ("segment/12", &["A", "C", "B"])]);
        // A holds both, B and C none: A hands runway/07 to B.
        assert_eq!(handover("A", &current), Some(("runway/07", "B")));
        current.insert("runway/07".into(), vec!["B".into(), "C".into(), "A".into()]);
        // Now A and B hold one each: nothing moves, for anyone.
        for me in ["A", "B", "C"] {
            assert_eq!(handover(me, &current), None);
        }
    }

    #[test]
    fn a_gap_of_one_does_not_flap() {
        let current = lines(&[("r1", &["A", "B"]), ("r2", &["A", "B"]), ("r3", &["B", "A"])]);
        assert_eq!(handover("A", &current), None);
        assert_eq!(handover("B", &current), None);
    }

    #[test]
    fn only_the_next_in_line_counts_because_it_is_who_takes_over() {
        // A holds three; C holds none but is last in line everywhere; B, next in line, holds one.
        let current = lines(&[
            ("r1", &["A", "B", "C"]),
            ("r2", &["A", "B", "C"]),
            ("r3", &["A", "B", "C"]),
            ("r4", &["B", "A", "C"]),
        ]);
        assert_eq!(handover("A", &current), Some(("r1", "B")));
    }
}
