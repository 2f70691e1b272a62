//! What every end-to-end test needs: the `skyway` binary and a fresh cluster of real processes.

use std::path::PathBuf;
use std::sync::OnceLock;

pub use skyway_sim::rig::cluster::ProcessCluster;

/// The `skyway` binary of this build: `$SKYWAY_BIN` if set, else this package's copy of it
/// (`skyway-under-test`), which cargo builds alongside the tests.
pub fn skyway_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Ok(path) = std::env::var("SKYWAY_BIN") {
                return PathBuf::from(path);
            }
            // target/<profile>/deps/<test-binary> → target/<profile>/skyway-under-test, which
            // cargo builds before it runs this package's integration tests.
            let exe = std::env::current_exe().expect("test executable path");
            let profile_dir =
                exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps layout").to_path_buf();
            let binary = profile_dir.join("skyway-under-test");
            assert!(
                binary.exists(),
                "{} not found: run the tests through cargo (`cargo test --workspace`), or set SKYWAY_BIN",
                binary.display()
            );
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
