//! What the golden-script runners share: a readable diff of a script against what the core
//! answered.

/// The lines that differ, with two lines of context, as `-expected` / `+actual` (a longest
/// common subsequence of lines: scripts are short).
pub fn diff(expected: &str, actual: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let mut common = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] { common[i + 1][j + 1] + 1 } else { common[i + 1][j].max(common[i][j + 1]) };
        }
    }
    let mut lines: Vec<(char, usize, &str)> = Vec::new(); // (mark, line number in expected, text)
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            lines.push((' ', i + 1, a[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || common[i + 1][j] >= common[i][j + 1]) {
            lines.push(('-', i + 1, a[i]));
            i += 1;
        } else {
            lines.push(('+', i + 1, b[j]));
            j += 1;
        }
    }
    let near_change = |k: usize| lines[k.saturating_sub(2)..(k + 3).min(lines.len())].iter().any(|l| l.0 != ' ');
    let mut out = String::new();
    let mut skipped = true;
    for (k, (mark, number, text)) in lines.iter().enumerate() {
        if near_change(k) {
            if skipped {
                out.push_str(&format!("@@ line {number}\n"));
            }
            out.push_str(&format!("{mark} {text}\n"));
            skipped = false;
        } else {
            skipped = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_shows_what_changed_with_context() {
        let diff = diff("a\nb\nc\nd\ne\nf\ng\n", "a\nb\nc\nD\ne\nf\ng\n");
        assert_eq!(diff, "@@ line 2\n  b\n  c\n- d\n+ D\n  e\n  f\n");
    }
}
