//! Waiting for a coordinator cluster to agree on its Raft leader: the one wait every launcher
//! uses (process clusters, embedded clusters, the demo, drills and tests).

use std::time::{Duration, Instant};

use anyhow::bail;
use skyway_coord::client::Client;

/// Waits until every endpoint of `client` answers and all name the same leader, accepted by
/// `acceptable` (e.g. "a node that is running"); returns its id.
pub async fn wait_for_agreed_leader(
    client: &Client,
    timeout: Duration,
    acceptable: impl Fn(u64) -> bool,
) -> anyhow::Result<u64> {
    let deadline = Instant::now() + timeout;
    loop {
        let statuses = client.status_all().await;
        let leaders: Vec<u64> =
            statuses.iter().filter_map(|(_, s)| s.as_ref().ok()).filter_map(|s| s.leader_id).collect();
        if let Some(first) = leaders.first()
            && leaders.len() == statuses.len()
            && leaders.iter().all(|l| l == first)
            && acceptable(*first)
        {
            return Ok(*first);
        }
        if Instant::now() > deadline {
            bail!("no agreed leader within {timeout:?}: {statuses:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
