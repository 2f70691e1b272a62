//! What every end-to-end test needs: the `skyway` binary and a fresh cluster of real processes.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

pub use skyway_sim::cluster::ProcessCluster;

/// The `skyway` binary of this build: `$SKYWAY_BIN` if set, else the one next to the test
/// executable's target directory, built first if it is missing.
pub fn skyway_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Ok(path) = std::env::var("SKYWAY_BIN") {
                return PathBuf::from(path);
            }
            // target/<profile>/deps/<test-binary> → target/<profile>/skyway
            let exe = std::env::current_exe().expect("test executable path");
            let profile_dir =
                exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps layout").to_path_buf();
            let binary = profile_dir.join("skyway");
            let release = profile_dir.file_name().is_some_and(|n| n == "release");
            let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            build.args(["build", "-p", "skyway-sim", "--bin", "skyway"]);
            if release {
                build.arg("--release");
            }
            // Always (re)build: cargo makes this a no-op when the binary is current.
            let status = build.status().expect("run cargo build for the skyway binary");
            assert!(status.success(), "building the skyway binary failed");
            assert!(binary.exists(), "skyway binary not found at {}", binary.display());
            binary
        })
        .clone()
}

/// A fresh 3-node cluster in a temporary directory (kept alive by the returned guard).
pub fn start_cluster(extra_args: &[&str]) -> anyhow::Result<(ProcessCluster, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let cluster = ProcessCluster::start(&skyway_binary(), dir.path(), 3, extra_args)?;
    Ok((cluster, dir))
}
