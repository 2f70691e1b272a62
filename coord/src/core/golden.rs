//! Golden scripts: text files of commands (`> …`) and the answers a pure core gave them, kept
//! in the repository and replayed by a test. A change in behaviour shows as a readable diff;
//! `UPDATE_GOLDEN=1` rewrites the scripts with what the core answers now (read the diff first).
//! The state machine, the lease table and the controller's role machine each have a set; this
//! is the runner they share (public for the other crates' tests; not part of the client API).

use std::path::Path;

/// Every script in `dir` replayed by `replay` (which returns the script as it should read),
/// compared with the file or, with `UPDATE_GOLDEN` set, written back. Panics with a diff per
/// script that differs; `what` names the core in the message (`the role machine`).
pub fn check_scripts(dir: &Path, what: &str, replay: impl Fn(&str) -> String) {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read the scripts in {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no scripts in {}", dir.display());
    let mut failed = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let expected = replay(&text);
        if update {
            std::fs::write(&file, &expected).unwrap_or_else(|e| panic!("cannot write {}: {e}", file.display()));
        } else if text != expected {
            failed.push(format!(
                "{} (- the script, + what {what} answers):\n{}",
                file.display(),
                diff(&text, &expected)
            ));
        }
    }
    assert!(failed.is_empty(), "UPDATE_GOLDEN=1 rewrites the scripts; read the diff first.\n{}", failed.join("\n"));
}

/// A script replayed line by line: each command (`> …`) is kept and followed by what `answer`
/// says to it (nothing if empty); comments (`#`) and blank lines are kept; earlier answers are
/// dropped (they are what is being checked).
pub fn replay_lines(text: &str, mut answer: impl FnMut(&str) -> String) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if let Some(command) = line.strip_prefix("> ") {
            out.push_str(line);
            out.push('\n');
            let answer = answer(command);
            if !answer.is_empty() {
                out.push_str(&answer);
                out.push('\n');
            }
        } else if line.starts_with('#') || line.is_empty() {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

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
