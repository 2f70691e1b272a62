//! `skyway ctl user|auth|acl`: identities and permissions, in the manner of etcdctl's
//! `user`/`auth` and zkCli's `getAcl`/`setAcl`.
//!
//! Bootstrap: while authentication is off anyone may add users and grants. `user add root`
//! mints the root user's token; `auth enable` then turns checks on (refused without a root
//! user), and from then on every command needs `--token` (or SKYWAY_TOKEN).

use clap::Subcommand;
use serde_json::json;
use skyway_coord::client::{Client, mint_token};

use super::ctl::{Output, print};

/// `skyway ctl user` commands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user: mints a random token and prints it ONCE (the coordinator keeps only its
    /// SHA-256). The user passes it as --token or SKYWAY_TOKEN.
    Add {
        /// The user's name: its identity in grants (e.g. controller-a, camera-cam-0003, root).
        name: String,
    },
    /// Delete a user: its token stops working at once (its grants stay, for a certificate of
    /// the same name).
    #[command(alias = "rm")]
    Delete {
        /// The user's name.
        name: String,
    },
    /// The users, and whether authentication is on.
    #[command(alias = "ls")]
    List,
}

/// `skyway ctl auth` commands.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Turn permission checks on (refused until a user named `root` exists).
    Enable,
    /// Turn permission checks off: everyone may do everything.
    Disable,
}

/// `skyway ctl acl` commands.
#[derive(Debug, Subcommand)]
pub enum AclCommand {
    /// The grants that apply at PATH: those on it and on its ancestors.
    Get {
        /// The path.
        path: String,
    },
    /// Grant IDENTITY the permissions PERMS on PATH and everything below it (replacing its
    /// earlier grant there). PERMS: letters of rwcda — read, write (set), create, delete,
    /// admin (change grants), each for PATH and everything below — names separated by commas,
    /// or `all`.
    /// IDENTITY: a user, a certificate's common name, or `*` for every authenticated identity.
    Set {
        /// The path prefix.
        path: String,
        /// Who.
        identity: String,
        /// What: e.g. `rc`, `read,create`, `all`.
        perms: String,
    },
    /// Remove IDENTITY's grant on PATH (grants on other paths stay).
    #[command(alias = "rm")]
    Remove {
        /// The path prefix.
        path: String,
        /// Who.
        identity: String,
    },
}

/// Runs `ctl user …`.
pub async fn user(client: &Client, out: Output, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add { name } => {
            let token = mint_token();
            let added = client.add_user(&name, &token).await?;
            print(
                out,
                || {
                    format!(
                        "added user {name} (revision {}); its token, shown only now:\n{token}\n# use: SKYWAY_TOKEN={token} skyway ctl ...",
                        added.0
                    )
                },
                || json!({"user": name, "token": token, "revision": added.0}),
            );
        }
        UserCommand::Delete { name } => {
            let deleted = client.delete_user(&name).await?;
            print(
                out,
                || format!("deleted user {name} (revision {})", deleted.0),
                || json!({"user": name, "revision": deleted.0}),
            );
        }
        UserCommand::List => {
            let users = client.list_users().await?;
            print(
                out,
                || {
                    let state = if users.auth_enabled { "on" } else { "off" };
                    format!("# authentication is {state}\n{}", users.names.join("\n"))
                },
                || json!({"users": users.names, "auth_enabled": users.auth_enabled, "revision": users.revision.0}),
            );
        }
    }
    Ok(())
}

/// Runs `ctl auth …`.
pub async fn auth(client: &Client, out: Output, command: AuthCommand) -> anyhow::Result<()> {
    let enabled = matches!(command, AuthCommand::Enable);
    let changed = client.set_auth(enabled).await?;
    print(
        out,
        || {
            if enabled {
                format!("authentication enabled (revision {}): pass a token with --token or SKYWAY_TOKEN", changed.0)
            } else {
                format!("authentication disabled (revision {})", changed.0)
            }
        },
        || json!({"auth_enabled": enabled, "revision": changed.0}),
    );
    Ok(())
}

/// Runs `ctl acl …`.
pub async fn acl(client: &Client, out: Output, command: AclCommand) -> anyhow::Result<()> {
    match command {
        AclCommand::Get { path } => {
            let acl = client.get_acl(&path).await?;
            print(
                out,
                || {
                    let mut lines = vec![format!("{:<32} {:<24} PERMS", "PATH", "IDENTITY")];
                    lines.extend(acl.grants.iter().map(|g| format!("{:<32} {:<24} {}", g.path, g.identity, g.perms)));
                    if !acl.auth_enabled {
                        lines.push("# authentication is off: nothing is checked (`skyway ctl auth enable`)".into());
                    }
                    lines.join("\n")
                },
                || {
                    let grants: Vec<_> = acl
                        .grants
                        .iter()
                        .map(|g| json!({"path": g.path, "identity": g.identity, "perms": g.perms}))
                        .collect();
                    json!({"path": path, "grants": grants, "auth_enabled": acl.auth_enabled, "revision": acl.revision.0})
                },
            );
        }
        AclCommand::Set { path, identity, perms } => {
            let set = client.set_acl(&path, &identity, &perms).await?;
            print(
                out,
                || format!("granted {identity} {perms} on {path} (revision {})", set.0),
                || json!({"path": path, "identity": identity, "perms": perms, "revision": set.0}),
            );
        }
        AclCommand::Remove { path, identity } => {
            let removed = client.set_acl(&path, &identity, "").await?;
            print(
                out,
                || format!("removed {identity}'s grant on {path} (revision {})", removed.0),
                || json!({"path": path, "identity": identity, "revision": removed.0}),
            );
        }
    }
    Ok(())
}
