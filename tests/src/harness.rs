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

/// A plain HTTP/1.1 GET on loopback (one request, `Connection: close`): the status code and
/// the body. Enough for the metrics, health and dashboard endpoints; not a general client.
pub async fn http_get(addr: &str, path: &str) -> anyhow::Result<(u16, String)> {
    http_request(addr, &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")).await
}

/// A plain HTTP/1.1 POST of a JSON body on loopback, as [`http_get`].
pub async fn http_post_json(addr: &str, path: &str, json: &str) -> anyhow::Result<(u16, String)> {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{json}",
        json.len()
    );
    http_request(addr, &request).await
}

async fn http_request(addr: &str, request: &str) -> anyhow::Result<(u16, String)> {
    use anyhow::Context;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.with_context(|| format!("cannot connect to {addr}"))?;
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8(response).context("the response is not UTF-8")?;
    let (head, body) = text.split_once("\r\n\r\n").context("no end of headers in the response")?;
    let status = head.split_whitespace().nth(1).context("no status line")?.parse()?;
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    Ok((status, if chunked { dechunk(body)? } else { body.to_string() }))
}

/// The body of a chunked response.
fn dechunk(mut body: &str) -> anyhow::Result<String> {
    use anyhow::Context;
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").context("a chunk without its size line")?;
        let size = usize::from_str_radix(size.trim(), 16)?;
        if size == 0 {
            return Ok(out);
        }
        out.push_str(rest.get(..size).context("a chunk shorter than its size")?);
        body = rest.get(size + 2..).context("a chunk without its end")?;
    }
}
