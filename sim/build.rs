//! Compiles `proto/feed.proto` with a vendored `protoc`, so the build needs nothing but Rust, and
//! records the commit the binary is built from (`SKYWAY_COMMIT`, for `--version` and `Status`).

use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    record_commit();
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure().compile_with_config(config, &["proto/feed.proto"], &["proto"])?;
    Ok(())
}

/// Sets `SKYWAY_COMMIT` to the checkout's commit (12 hex digits), or `unknown` outside a git
/// checkout (a source tarball). Reruns when HEAD moves: the file `HEAD`, the branch it names,
/// and `packed-refs` (where `git gc` moves branches).
// A build script runs no async runtime: the workspace's ban on blocking process calls (for async
// code) does not apply here.
#[allow(clippy::disallowed_methods)]
fn record_commit() {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .map(|text| text.trim().to_string())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SKYWAY_COMMIT={commit}");
    let mut watched = vec![
        git(&["rev-parse", "--git-path", "HEAD"]),
        git(&["rev-parse", "--git-common-dir"]).map(|d| format!("{d}/packed-refs")),
    ];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch]));
    }
    for path in watched.into_iter().flatten() {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=proto");
}
