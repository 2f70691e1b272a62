//! Golden-script tests of the state machine: text in, text out.
//!
//! Each file in `testscripts/` is a story told in commands (`> create /a one`), each followed
//! by what the state machine answered. The runner replays the commands on a fresh state and
//! compares. Run with `UPDATE_GOLDEN=1` to rewrite the answers after a deliberate change, then
//! read the diff: it is the behaviour change.
//!
//! Commands (one entry each, revisions counting from 1):
//! `create PATH [DATA] [eph=S] [seq] [parents]`, `set PATH DATA [v=N]`, `delete PATH [v=N]`,
//! `open [member=NAME] [ttl=MS]`, `close S`, `expire S...`, `txn check:KIND:PATH[:V]... op:...`;
//! and reads (no entry): `get PATH`, `ls PATH`, `log`, `events FROM [PATH] [prefix]`, `clients`.
//! A write may carry a request id: `req=CLIENT#SEQ [below=N] [retry] [tie=S]`; `sole` on a
//! create sets `one_per_session`. The client table has small limits here (3 clients, 3 outcomes
//! each, 20 revisions of idleness), so its bounds show in a few lines.
//!
//! Permissions: `user add NAME TOKEN`, `user delete NAME`, `auth on|off`,
//! `grant PATH IDENTITY PERMS` (`-` removes) are entries; any entry may carry its caller,
//! `as=TOKEN` (a bearer token) or `cert=NAME` (a certificate's name); `acl` prints the table and
//! `perms IDENTITY PATH` what an identity may do there.

use std::path::Path;

use bytes::Bytes;

use super::acl::{Caller, Perms, token_sha256};
use super::clients::{ClientLimits, RequestId};
use super::command::{Check, Command, CreateOp, DeleteOp, Op, SetOp};
use super::golden;
use super::history::WatchFilter;
use super::path::NodePath;
use super::state::CoordState;
use super::types::{ClientId, Revision, SessionId};
use crate::error::CoordError;

/// The state under test and the revision of the next entry.
struct Script {
    state: CoordState,
    next: u64,
}

fn path(text: &str) -> Result<NodePath, CoordError> {
    NodePath::parse(text)
}

/// `key=value` options and positional words of a command line.
fn option<'a>(words: &[&'a str], key: &str) -> Option<&'a str> {
    words.iter().find_map(|w| w.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
}

fn positional<'a>(words: &[&'a str]) -> Vec<&'a str> {
    const FLAGS: [&str; 5] = ["seq", "parents", "prefix", "retry", "sole"];
    words.iter().copied().filter(|w| !w.contains('=') && !FLAGS.contains(w)).collect()
}

fn number(text: Option<&str>) -> Option<u64> {
    text.map(|t| t.trim_start_matches('s').parse().expect("a number"))
}

fn create_op(words: &[&str]) -> Result<CreateOp, CoordError> {
    let args = positional(words);
    Ok(CreateOp {
        path: path(args[0])?,
        data: Bytes::from(args.get(1).copied().unwrap_or("").to_string()),
        ephemeral_owner: number(option(words, "eph")).map(SessionId),
        sequential: words.contains(&"seq"),
        make_parents: words.contains(&"parents"),
        one_per_session: words.contains(&"sole"),
    })
}

/// `req=CLIENT#SEQ [below=N] [retry] [tie=S]`, if present.
fn request_id(words: &[&str]) -> Option<RequestId> {
    let (client, sequence) = option(words, "req")?.split_once('#').expect("req=CLIENT#SEQ");
    Some(RequestId {
        client: ClientId(client.parse().expect("client")),
        sequence: sequence.parse().expect("sequence"),
        answered_below: number(option(words, "below")).unwrap_or(0),
        retry: words.contains(&"retry"),
        session: number(option(words, "tie")).map(SessionId),
    })
}

/// `as=TOKEN` or `cert=NAME`, if present; anonymous otherwise.
fn caller(words: &[&str]) -> Caller {
    match (option(words, "as"), option(words, "cert")) {
        (Some(token), _) => Caller::Token(token_sha256(token)),
        (None, Some(name)) => Caller::Certificate(name.into()),
        (None, None) => Caller::Anonymous,
    }
}

fn set_op(words: &[&str]) -> Result<SetOp, CoordError> {
    let args = positional(words);
    Ok(SetOp {
        path: path(args[0])?,
        data: Bytes::from(args[1].to_string()),
        expected_version: number(option(words, "v")),
    })
}

fn delete_op(words: &[&str]) -> Result<DeleteOp, CoordError> {
    Ok(DeleteOp { path: path(positional(words)[0])?, expected_version: number(option(words, "v")) })
}

/// `check:exists:/a`, `check:absent:/a`, `check:version:/a:3`, `op:create:/a:data`,
/// `op:set:/a:data`, `op:delete:/a`.
fn txn(words: &[&str]) -> Result<Command, CoordError> {
    let (mut checks, mut ops) = (Vec::new(), Vec::new());
    for word in words {
        let parts: Vec<&str> = word.split(':').collect();
        match parts.as_slice() {
            ["check", "exists", p] => checks.push(Check::Exists(path(p)?)),
            ["check", "absent", p] => checks.push(Check::NotExists(path(p)?)),
            ["check", "version", p, v] => checks.push(Check::Version(path(p)?, v.parse().expect("version"))),
            ["op", "create", p, data @ ..] => {
                ops.push(Op::Create(create_op(&[p, data.first().copied().unwrap_or("")])?))
            }
            ["op", "set", p, data] => ops.push(Op::Set(set_op(&[p, data])?)),
            ["op", "delete", p] => ops.push(Op::Delete(delete_op(&[p])?)),
            _ if !word.contains(':') => {} // an option of the command, like req=
            _ => panic!("bad txn part {word:?}"),
        }
    }
    Ok(Command::Txn { checks, ops })
}

impl Script {
    fn new() -> Self {
        let limits = ClientLimits { clients_max: 3, outcomes_per_client_max: 3, idle_revisions_max: 20 };
        Self { state: CoordState::new(100).with_client_limits(limits), next: 1 }
    }

    fn apply(&mut self, request: Option<RequestId>, caller: Caller, command: Command) -> String {
        let revision = Revision(self.next);
        self.next += 1;
        let answer = self.state.apply_request(revision, request.as_ref(), &caller, &command);
        let mut head = format!("@{} ", revision.0);
        if answer.revision != revision {
            head.push_str(&format!("duplicate of @{}: ", answer.revision.0));
        }
        match answer.result {
            Ok(outcome) => format!("{head}{outcome}"),
            Err(error) => format!("{head}error: {error}"),
        }
    }

    /// Runs one command line and returns its output lines.
    fn run(&mut self, line: &str) -> String {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (verb, rest) = (words[0], &words[1..]);
        let command = match verb {
            "create" => create_op(rest).map(Command::Create),
            "set" => set_op(rest).map(Command::Set),
            "delete" => delete_op(rest).map(Command::Delete),
            "txn" => txn(rest),
            "open" => Ok(Command::OpenSession {
                ttl_ms: number(option(rest, "ttl")).unwrap_or(1000),
                member: option(rest, "member").map(str::to_string),
            }),
            "close" => Ok(Command::CloseSession { session: SessionId(number(Some(rest[0])).expect("session")) }),
            "expire" => Ok(Command::ExpireSessions {
                sessions: rest.iter().map(|s| SessionId(number(Some(s)).expect("session"))).collect(),
            }),
            "user" => {
                let args = positional(rest);
                match args[0] {
                    "add" => Ok(Command::AddUser { name: args[1].into(), token_sha256: token_sha256(args[2]) }),
                    "delete" => Ok(Command::DeleteUser { name: args[1].into() }),
                    other => panic!("unknown user command {other:?}"),
                }
            }
            "auth" => Ok(Command::SetAuth { enabled: rest[0] == "on" }),
            "grant" => {
                let args = positional(rest);
                path(args[0]).and_then(|path| {
                    Ok(Command::SetAcl { path, identity: args[1].into(), perms: Perms::parse(args[2])? })
                })
            }
            _ => return self.read(verb, rest).unwrap_or_else(|e| format!("error: {e}")),
        };
        match command {
            Ok(command) => self.apply(request_id(rest), caller(rest), command),
            Err(error) => format!("refused at the edge: {error}"),
        }
    }

    fn read(&self, verb: &str, rest: &[&str]) -> Result<String, CoordError> {
        Ok(match verb {
            "get" => {
                let (data, stat) = self.state.get(&path(rest[0])?)?;
                format!("{:?} ({stat})", String::from_utf8_lossy(&data))
            }
            "ls" => self.state.children(&path(rest[0])?)?.0.join(" "),
            "clients" => self.state.clients().to_string(),
            "acl" => self.state.acl().to_string(),
            "perms" => self.state.acl().perms(rest[0], &path(rest[1])?).to_string(),
            "log" => {
                self.state.membership_log(Revision(0))?.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("\n")
            }
            "events" => {
                let from = Revision(rest[0].parse().expect("revision"));
                let filter = WatchFilter {
                    path: path(rest.get(1).copied().unwrap_or("/"))?,
                    prefix: rest.contains(&"prefix") || rest.len() < 2,
                };
                let (events, next) = self.state.events_since(from, &filter, 1000)?;
                let mut lines: Vec<String> = events.iter().map(|e| e.to_string()).collect();
                lines.push(format!("(resume from {})", next.0));
                lines.join("\n")
            }
            _ => panic!("unknown script command {verb:?}"),
        })
    }
}

/// Replays one script; returns the script as it should read.
fn replay(text: &str) -> String {
    let mut script = Script::new();
    golden::replay_lines(text, |command| script.run(command))
}

#[test]
fn golden_scripts() {
    golden::check_scripts(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core/testscripts"),
        "the state machine",
        replay,
    );
}
