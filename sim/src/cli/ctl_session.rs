//! `skyway ctl session`: the open sessions (list) and closing one by hand (revoke).

use std::time::Duration;

use clap::Subcommand;
use serde_json::json;
use skyway_coord::client::{Client, SessionId, SessionInfo};

use super::ctl::{Output, print};

/// `skyway ctl session` commands.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// The open sessions in id order: TTL, how long the leader still waits for a keep-alive,
    /// the membership name, the owner (with authentication on) and the ephemeral nodes. Needs
    /// `admin` on `/` while authentication is on.
    List {
        /// Start after this session id.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// List at most this many (default: all, read in pages of 1,000).
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Close a session by id, as its owner would: its ephemeral nodes are deleted and a member
    /// leaves the membership in the same revision.
    Revoke {
        /// The session's id (as `ctl get` shows in ephemeral_owner, `ctl session list` in SESSION).
        id: u64,
    },
}

/// Runs one session command.
pub async fn run(client: &Client, command: SessionCommand, out: Output) -> anyhow::Result<()> {
    match command {
        SessionCommand::List { after, limit } => list(client, after, limit, out).await,
        SessionCommand::Revoke { id } => {
            let closed = client.close_session(SessionId(id)).await?;
            print(
                out,
                || format!("revoked session {id} (revision {})", closed.0),
                || json!({"session": id, "revision": closed.0}),
            );
            Ok(())
        }
    }
}

/// Most sessions asked for in one page.
const PAGE: u64 = 1_000;

async fn list(client: &Client, after: u64, limit: Option<u64>, out: Output) -> anyhow::Result<()> {
    let mut sessions = Vec::new();
    let mut cursor = after;
    let mut unknown = None;
    let mut total = 0;
    let mut more = true;
    while more && limit.is_none_or(|limit| (sessions.len() as u64) < limit) {
        let want = limit.map_or(PAGE, |limit| (limit - sessions.len() as u64).min(PAGE));
        let page = client.list_sessions(cursor, want as u32).await?;
        more = page.more;
        total = page.total;
        unknown = unknown.or(page.remaining_unknown);
        if let Some(last) = page.sessions.last() {
            cursor = last.id;
        }
        sessions.extend(page.sessions);
    }
    match out {
        Output::Human => {
            print_table(&sessions);
            if sessions.is_empty() {
                println!("(no open sessions{})", if after > 0 { format!(" after {after}") } else { String::new() });
            }
            if more {
                println!("({} of {total}; more: skyway ctl session list --after {cursor})", sessions.len());
            }
            if let Some(why) = unknown {
                println!("(REMAINING unknown: {why})");
            }
        }
        Output::Json => println!(
            "{}",
            json!({
                "sessions": sessions.iter().map(as_json).collect::<Vec<_>>(),
                "total": total,
                "next_after": more.then_some(cursor),
                "remaining_unknown": unknown,
            })
        ),
    }
    Ok(())
}

fn print_table(sessions: &[SessionInfo]) {
    if sessions.is_empty() {
        return;
    }
    println!("{:>20} {:>9} {:>10} {:<20} {:<12} EPHEMERALS", "SESSION", "TTL", "REMAINING", "MEMBER", "OWNER");
    for s in sessions {
        let remaining = s.remaining.map_or_else(|| "?".to_string(), seconds);
        let mut ephemerals = s.ephemerals.join(",");
        if s.ephemeral_count > s.ephemerals.len() as u64 {
            ephemerals.push_str(&format!(",… ({} in all)", s.ephemeral_count));
        }
        println!(
            "{:>20} {:>9} {:>10} {:<20} {:<12} {}",
            s.id,
            seconds(s.ttl),
            remaining,
            s.member.as_deref().unwrap_or("-"),
            s.owner.as_deref().unwrap_or("-"),
            if ephemerals.is_empty() { "-" } else { &ephemerals }
        );
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

fn as_json(s: &SessionInfo) -> serde_json::Value {
    json!({
        "id": s.id,
        "ttl_ms": s.ttl.as_millis() as u64,
        "remaining_ms": s.remaining.map(|d| d.as_millis() as u64),
        "member": s.member,
        "owner": s.owner,
        "ephemerals": s.ephemerals,
        "ephemeral_count": s.ephemeral_count,
    })
}
