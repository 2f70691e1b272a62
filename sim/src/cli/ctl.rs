//! `skyway ctl`: talk to a running cluster, in the manner of etcdctl and zkCli.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use skyway_coord::client::{Client, Consistency, Create, OpResult, Session, Stat, Watcher};

use super::client_tls::ClientTlsArgs;

/// Flags of `skyway ctl`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
skyway ctl --endpoints 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003 create /roads/a12 'open'\n  \
skyway ctl --endpoints 127.0.0.1:7001 watch /roads --prefix\n  \
skyway ctl --endpoints 127.0.0.1:7001 status -w json\n  \
skyway ctl endpoint health\n  \
SKYWAY_TOKEN=... skyway ctl acl set /roles/runway-07 controller-a rcd\n  \
echo '{\"ops\": [{\"create\": {\"path\": \"/a\", \"data\": \"1\"}}]}' | skyway ctl txn -")]
pub struct CtlArgs {
    /// Cluster endpoints, HOST:PORT,... (any subset of the nodes works).
    #[arg(long, global = true, env = "SKYWAY_ENDPOINTS", value_delimiter = ',', default_value = "127.0.0.1:7001")]
    pub endpoints: Vec<String>,
    /// A user's token (from `ctl user add`), needed once authentication is on.
    #[arg(long, global = true, env = "SKYWAY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Output format (anywhere on the line; `-w` and `--write-out` as in etcdctl).
    #[arg(long, short = 'w', alias = "write-out", global = true, value_enum, default_value_t = Output::Human)]
    pub output: Output,
    /// TLS to the cluster (`--cacert`, and `--cert --key` where the nodes demand a certificate).
    #[command(flatten)]
    pub tls: ClientTlsArgs,
    /// The command.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    Human,
    /// One JSON document per result, for scripts.
    Json,
}

/// Where a value comes from.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// The value; `-` reads standard input.
    pub data: Option<String>,
    /// Read the value from this file.
    #[arg(long, conflicts_with = "data")]
    pub file: Option<PathBuf>,
}

/// `skyway ctl` commands.
#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Create a node.
    Create {
        /// The node's path (for --sequential, the name prefix).
        path: String,
        /// The value.
        #[command(flatten)]
        data: DataArgs,
        /// Tie the node to a session held by this command until Ctrl-C (then it vanishes).
        #[arg(long)]
        ephemeral: bool,
        /// Append a unique, increasing 10-digit suffix to the name.
        #[arg(long)]
        sequential: bool,
        /// Create missing parents.
        #[arg(long, short = 'p')]
        parents: bool,
        /// Session TTL in milliseconds, for --ephemeral.
        #[arg(long, default_value_t = 2000)]
        ttl_ms: u64,
    },
    /// Read a node's value and stat.
    Get {
        /// The node's path.
        path: String,
        /// Read this node's local state (fast, possibly stale) instead of a linearizable read.
        #[arg(long)]
        serializable: bool,
    },
    /// A node's stat (versions, revisions, owner, children, size) without its value.
    Stat {
        /// The node's path.
        path: String,
        /// Read this node's local state (fast, possibly stale) instead of a linearizable read.
        #[arg(long)]
        serializable: bool,
    },
    /// Run a transaction: checks and operations from a JSON file (or `-`: standard input), all
    /// applied in one revision if every check holds. Format:
    /// {"checks": [{"path": "/a", "version": 3}, {"path": "/b", "exists": false}],
    ///  "ops": [{"set": {"path": "/a", "data": "x", "version": 3}}, {"create": {"path": "/b", "data": "y",
    ///  "parents": true, "sequential": false}}, {"delete": {"path": "/c", "version": 1}}]}
    Txn {
        /// The file; `-` reads standard input.
        #[arg(default_value = "-")]
        file: String,
    },
    /// Sessions: list the open ones (TTL, time left, member, owner, ephemerals), revoke one.
    Session {
        /// What to do.
        #[command(subcommand)]
        command: super::ctl_session::SessionCommand,
    },
    /// Each endpoint on its own, as etcdctl's `endpoint` commands: `status` (a table of id,
    /// leader, learner, term and indexes) and `health` (a read through the quorum, timed).
    Endpoint {
        /// What to ask.
        #[command(subcommand)]
        command: EndpointCommand,
    },
    /// Set a node's value.
    // Its `--version` is the expected node version, not the binary's (`skyway --version`).
    #[command(disable_version_flag = true)]
    Set {
        /// The node's path.
        path: String,
        /// The value.
        #[command(flatten)]
        data: DataArgs,
        /// Only if the node is at this version (compare-and-set).
        #[arg(long)]
        version: Option<u64>,
    },
    /// Delete a node (it must have no children).
    #[command(disable_version_flag = true)]
    Rm {
        /// The node's path.
        path: String,
        /// Only if the node is at this version.
        #[arg(long)]
        version: Option<u64>,
    },
    /// List a node's children.
    Ls {
        /// The node's path.
        path: String,
        /// Read this node's local state instead of a linearizable read.
        #[arg(long)]
        serializable: bool,
    },
    /// Print changes to a node (or subtree) as they happen, until Ctrl-C.
    Watch {
        /// The node's path.
        path: String,
        /// Watch the whole subtree.
        #[arg(long)]
        prefix: bool,
        /// Start at this revision (0: from now). History before it is replayed.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<usize>,
    },
    /// Each node's view: id, Raft role, term, leader, last applied revision.
    Status,
    /// The current members (sessions that joined with a name).
    Members,
    /// The membership log, top to bottom, read in pages. It keeps a bounded window of the newest
    /// records (`coord serve --membership-log-records-max`); older ones are trimmed.
    Log {
        /// Start at this revision (0: the oldest record kept; a revision before the window is
        /// refused with the oldest one kept).
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Print one page of at most this many records and where the next starts (0: every
        /// page; the server sends at most 1,000 records a page).
        #[arg(long, default_value_t = 0)]
        limit: u32,
    },
    /// Add a coordinator node (started with `coord serve --join`), as learner or voter.
    MemberAdd {
        /// The new node's id.
        id: u64,
        /// The new node's peer address, HOST:PORT (its `--peer-listen`, not its client port).
        addr: String,
        /// Make it a voter once caught up.
        #[arg(long)]
        voter: bool,
    },
    /// Remove a coordinator node from the cluster.
    MemberRemove {
        /// The node's id.
        id: u64,
    },
    /// Users who prove themselves with tokens: add (mints and prints the token once), delete,
    /// list.
    User {
        /// What to do.
        #[command(subcommand)]
        command: super::ctl_auth::UserCommand,
    },
    /// Authentication on or off (`enable` needs a user named root first).
    Auth {
        /// What to do.
        #[command(subcommand)]
        command: super::ctl_auth::AuthCommand,
    },
    /// Permissions per path prefix: get, set, remove.
    Acl {
        /// What to do.
        #[command(subcommand)]
        command: super::ctl_auth::AclCommand,
    },
}

/// `skyway ctl endpoint` commands.
#[derive(Debug, Subcommand)]
pub enum EndpointCommand {
    /// One row per endpoint: ENDPOINT, ID, IS LEADER, IS LEARNER, RAFT TERM, RAFT INDEX, RAFT
    /// APPLIED INDEX, ERRORS.
    Status,
    /// Whether each endpoint can serve a read through the quorum, and how long it took.
    Health {
        /// How long each endpoint may take.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
}

fn read_text(file: &str) -> anyhow::Result<String> {
    if file == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("cannot read standard input")?;
        Ok(text)
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))
    }
}

fn read_data(args: &DataArgs) -> anyhow::Result<Bytes> {
    Ok(match (&args.data, &args.file) {
        (_, Some(file)) => std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?.into(),
        (Some(d), None) if d == "-" => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).context("cannot read standard input")?;
            buf.into()
        }
        (Some(d), None) => Bytes::from(d.clone()),
        (None, None) => Bytes::new(),
    })
}

fn consistency(serializable: bool) -> Consistency {
    if serializable { Consistency::Serializable } else { Consistency::Linearizable }
}

/// The owner of an ephemeral node as printed: its session's number, 0 for a persistent node.
fn owner(stat: &Stat) -> u64 {
    stat.ephemeral_owner.map_or(0, |s| s.0)
}

fn stat_json(stat: &Stat) -> serde_json::Value {
    json!({
        "create_revision": stat.create_revision.0, "mod_revision": stat.mod_revision.0, "version": stat.version,
        "ephemeral_owner": owner(stat), "num_children": stat.num_children, "data_length": stat.data_length,
    })
}

fn txn_result_json(result: &OpResult) -> serde_json::Value {
    match result {
        OpResult::Created(c) => json!({"create": {"path": c.path, "revision": c.revision.0}}),
        OpResult::Updated(s) => json!({"set": {"version": s.stat.version, "revision": s.revision.0}}),
        OpResult::Deleted(revision) => json!({"delete": {"revision": revision.0}}),
    }
}

/// Prints one result in the chosen format.
pub fn print(output: Output, human: impl FnOnce() -> String, json: impl FnOnce() -> serde_json::Value) {
    match output {
        Output::Human => println!("{}", human()),
        Output::Json => println!("{}", json()),
    }
}

/// Runs one ctl command.
pub async fn run(args: CtlArgs) -> anyhow::Result<ExitCode> {
    let options = args.tls.client_options()?.with_token(args.token.clone());
    let client = Client::new(&args.endpoints, options.clone())?;
    let out = args.output;
    match args.command {
        CtlCommand::Create { path, data, ephemeral, sequential, parents, ttl_ms } => {
            let value = read_data(&data)?;
            let session =
                if ephemeral { Some(Session::open(&client, Duration::from_millis(ttl_ms), None).await?) } else { None };
            let request = Create {
                ephemeral: session.as_ref().map(|s| s.id()),
                sequential,
                make_parents: parents,
                ..Create::new(path, value)
            };
            let created = client.create(request).await?;
            print(
                out,
                || format!("created {} (revision {})", created.path, created.revision.0),
                || json!({"path": created.path, "revision": created.revision.0, "stat": stat_json(&created.stat)}),
            );
            if let Some(session) = session {
                eprintln!(
                    "holding session {} (TTL {ttl_ms} ms) so the ephemeral node lives; Ctrl-C to end it",
                    session.id().0
                );
                tokio::select! {
                    _ = super::interrupted() => { session.close().await?; }
                    _ = session.lost() => { anyhow::bail!("session {} lost; the ephemeral node is gone or going", session.id().0); }
                }
            }
        }
        CtlCommand::Get { path, serializable } => {
            let node = client.get(&path, consistency(serializable)).await?;
            let stat = node.stat;
            print(
                out,
                || {
                    format!(
                        "{}\n# version={} create_revision={} mod_revision={} children={} bytes={}{}",
                        String::from_utf8_lossy(&node.data),
                        stat.version,
                        stat.create_revision.0,
                        stat.mod_revision.0,
                        stat.num_children,
                        stat.data_length,
                        stat.ephemeral_owner.map(|s| format!(" ephemeral_owner={}", s.0)).unwrap_or_default()
                    )
                },
                || json!({"path": path, "data": String::from_utf8_lossy(&node.data), "stat": stat_json(&stat), "revision": node.revision.0}),
            );
        }
        CtlCommand::Stat { path, serializable } => {
            let exists = client.exists(&path, consistency(serializable)).await?;
            let Some(stat) = exists.stat else {
                return Err(skyway_coord::CoordError::NotFound { path }.into());
            };
            print(
                out,
                || {
                    format!(
                        "path={path}\nversion={}\ncreate_revision={}\nmod_revision={}\nephemeral_owner={}\nchildren={}\nbytes={}",
                        stat.version,
                        stat.create_revision.0,
                        stat.mod_revision.0,
                        owner(&stat),
                        stat.num_children,
                        stat.data_length
                    )
                },
                || json!({"path": path, "stat": stat_json(&stat), "revision": exists.revision.0}),
            );
        }
        CtlCommand::Txn { file } => {
            let request = super::txn_file::parse(&read_text(&file)?)?;
            let response = client.txn(request).await?;
            let results: Vec<serde_json::Value> = response.results.iter().map(txn_result_json).collect();
            print(
                out,
                || format!("committed {} operation(s) (revision {})", results.len(), response.revision.0),
                || json!({"revision": response.revision.0, "results": results}),
            );
        }
        CtlCommand::Session { command } => super::ctl_session::run(&client, command, out).await?,
        CtlCommand::Endpoint { command: EndpointCommand::Status } => {
            super::endpoint::status(&args.endpoints, options, out).await?;
        }
        CtlCommand::Endpoint { command: EndpointCommand::Health { timeout_ms } } => {
            return super::endpoint::health(&args.endpoints, options, out, Duration::from_millis(timeout_ms)).await;
        }
        CtlCommand::Set { path, data, version } => {
            let set = client.set(&path, read_data(&data)?, version).await?;
            let stat = set.stat;
            print(
                out,
                || format!("set {path} version={} (revision {})", stat.version, set.revision.0),
                || json!({"path": path, "stat": stat_json(&stat), "revision": set.revision.0}),
            );
        }
        CtlCommand::Rm { path, version } => {
            let deleted = client.delete(&path, version).await?;
            print(
                out,
                || format!("deleted {path} (revision {})", deleted.0),
                || json!({"path": path, "revision": deleted.0}),
            );
        }
        CtlCommand::Ls { path, serializable } => {
            let children = client.children(&path, consistency(serializable)).await?;
            print(
                out,
                || children.names.join("\n"),
                || json!({"path": path, "children": children.names, "revision": children.revision.0}),
            );
        }
        CtlCommand::Watch { path, prefix, from, count } => {
            let mut watcher = Watcher::start(&client, &path, prefix, from).await?;
            let mut seen = 0usize;
            loop {
                let events = tokio::select! {
                    events = watcher.next() => events?,
                    _ = super::interrupted() => break,
                };
                for event in events {
                    let kind = format!("{:?}", event.kind).to_lowercase();
                    print(
                        out,
                        || {
                            format!(
                                "@{} {kind} {} {:?}",
                                event.revision.0,
                                event.path,
                                String::from_utf8_lossy(&event.data)
                            )
                        },
                        || json!({"revision": event.revision.0, "kind": kind, "path": event.path, "data": String::from_utf8_lossy(&event.data), "version": event.version}),
                    );
                    seen += 1;
                    if count.is_some_and(|c| seen >= c) {
                        return Ok(ExitCode::SUCCESS);
                    }
                }
            }
        }
        CtlCommand::Status => {
            let mut any_ok = false;
            let statuses = client.status_all().await;
            if out == Output::Human {
                println!(
                    "{:<22} {:>4} {:<10} {:>6} {:>7} {:>10} {:>10} {:>9}",
                    "ENDPOINT", "ID", "ROLE", "TERM", "LEADER", "APPLIED", "LAST LOG", "SESSIONS"
                );
            }
            for (endpoint, status) in statuses {
                match status {
                    Ok(s) => {
                        any_ok = true;
                        print(
                            out,
                            || {
                                format!(
                                    "{endpoint:<22} {:>4} {:<10} {:>6} {:>7} {:>10} {:>10} {:>9}",
                                    s.node_id,
                                    s.raft_role,
                                    s.term,
                                    s.leader_id.map_or_else(|| "-".into(), |id| id.to_string()),
                                    s.last_applied,
                                    s.last_log_index,
                                    s.sessions
                                )
                            },
                            || json!({"endpoint": endpoint, "id": s.node_id, "role": s.raft_role, "term": s.term, "leader": s.leader_id, "last_applied": s.last_applied, "last_log_index": s.last_log_index, "committed": s.committed, "voters": s.voters, "learners": s.learners, "sessions": s.sessions, "nodes": s.nodes, "version": s.version, "commit": s.commit}),
                        );
                    }
                    Err(e) => print(
                        out,
                        || format!("{endpoint:<22} unreachable: {e}"),
                        || json!({"endpoint": endpoint, "error": e.to_string()}),
                    ),
                }
            }
            if !any_ok {
                anyhow::bail!("no endpoint answered: is the cluster running at {}?", args.endpoints.join(","));
            }
        }
        CtlCommand::Members => {
            let members =
                client.children(skyway_coord::core::membership::MEMBERS_PATH, Consistency::Linearizable).await;
            let names = match members {
                Ok(m) => m.names,
                Err(skyway_coord::CoordError::NotFound { .. }) => Vec::new(),
                Err(e) => return Err(e.into()),
            };
            print(
                out,
                || if names.is_empty() { "(no members)".into() } else { names.join("\n") },
                || json!({"members": names}),
            );
        }
        CtlCommand::Log { from, limit } => print_membership_log(&client, from, limit, out).await?,
        CtlCommand::MemberAdd { id, addr, voter } => {
            let r = client.add_node(id, &addr, voter).await?;
            print(
                out,
                || format!("added node {id} at {addr}; voters {:?}, learners {:?}", r.voters, r.learners),
                || json!({"voters": r.voters, "learners": r.learners}),
            );
        }
        CtlCommand::User { command } => super::ctl_auth::user(&client, out, command).await?,
        CtlCommand::Auth { command } => super::ctl_auth::auth(&client, out, command).await?,
        CtlCommand::Acl { command } => super::ctl_auth::acl(&client, out, command).await?,
        CtlCommand::MemberRemove { id } => {
            let r = client.remove_node(id).await?;
            print(
                out,
                || format!("removed node {id}; voters {:?}, learners {:?}", r.voters, r.learners),
                || json!({"voters": r.voters, "learners": r.learners}),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `ctl log`: page by page, each printed as it arrives; with a limit, one page and the next
/// page's start.
async fn print_membership_log(client: &Client, from: u64, limit: u32, out: Output) -> anyhow::Result<()> {
    let as_json = |r: &skyway_coord::core::membership::MembershipRecord| json!({"revision": r.revision.0, "kind": r.kind, "member": r.member, "session": r.session.0});
    if limit > 0 {
        let page = client.membership_page(from, limit, Consistency::Linearizable).await?;
        let next = page.next.map(|r| r.0);
        match out {
            Output::Human => {
                page.records.iter().for_each(|r| println!("{r}"));
                match next {
                    Some(next) => println!("(more: skyway ctl log --from {next} --limit {limit})"),
                    None if page.records.is_empty() => println!("(no records from revision {from} on)"),
                    None => {}
                }
            }
            Output::Json => println!(
                "{}",
                json!({
                    "records": page.records.iter().map(as_json).collect::<Vec<_>>(),
                    "next_from": next,
                    "oldest": page.oldest.map(|r| r.0),
                })
            ),
        }
        return Ok(());
    }
    let mut next = Some(from);
    let mut all = Vec::new();
    let mut printed = 0usize;
    while let Some(from) = next {
        let page = client.membership_page(from, 0, Consistency::Linearizable).await?;
        next = page.next.map(|r| r.0);
        match out {
            Output::Human => page.records.iter().for_each(|r| println!("{r}")),
            Output::Json => all.extend(page.records.iter().map(as_json)),
        }
        printed += page.records.len();
    }
    match out {
        Output::Human if printed == 0 => println!("(the membership log is empty)"),
        Output::Human => {}
        Output::Json => println!("{}", serde_json::Value::Array(all)),
    }
    Ok(())
}
