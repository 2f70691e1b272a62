//! Controllers link the coordinator's client, never its Raft server: `skyway-controller`'s
//! normal dependency tree (as cargo resolves it for this crate alone) must hold neither
//! openraft, nor the write-ahead log (raft-log), nor the snapshot store (redb). If a
//! dependency on `skyway-coord` with its default `server` feature crept back in, this fails.

use std::path::Path;

/// Crates only the coordinator node needs.
const SERVER_ONLY: [&str; 5] = ["openraft", "raft-log", "redb", "tonic-health", "tonic-reflection"];

#[test]
#[allow(clippy::disallowed_methods, reason = "a plain test, no async runtime: a blocking cargo call is right")]
fn the_controller_links_no_raft_server() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let output = std::process::Command::new(env!("CARGO"))
        .args(["tree", "--offline", "-p", "skyway-controller", "-e", "normal", "--prefix", "none", "--manifest-path"])
        .arg(&manifest)
        .output()
        .expect("cargo runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "cargo tree failed: {stderr}");
    let tree = String::from_utf8_lossy(&output.stdout);
    let crates: Vec<&str> = tree.lines().filter_map(|line| line.split_whitespace().next()).collect();
    assert!(crates.contains(&"skyway-coord"), "the controller depends on the client:\n{tree}");
    assert!(crates.contains(&"tonic"), "the tree is the real one:\n{tree}");
    let leaked: Vec<&str> = SERVER_ONLY.into_iter().filter(|name| crates.contains(name)).collect();
    assert!(leaked.is_empty(), "server crates in the controller's tree: {leaked:?}\n{tree}");
}
