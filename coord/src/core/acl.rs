//! Identities and permissions per path prefix: who may do what where.
//!
//! An *identity* is a name. A client proves one of two ways: a client certificate whose
//! common name is the identity (the transport vouches for it), or a bearer token minted by
//! `skyway ctl user add NAME`. The coordinator stores only a token's SHA-256, never the token.
//!
//! A *grant* gives an identity a set of permissions — ZooKeeper's five: `read`, `write`,
//! `create`, `delete`, `admin` — on a path *prefix*: a grant on `/roles/runway-07` covers that
//! node and everything below it (whole parts: not `/roles/runway-070`). An identity's
//! permissions at a path are the union of its grants and those to [`ANYONE`] on the path and
//! its ancestors, so granting more never takes anything away. The [`ROOT_USER`] may do
//! everything everywhere.
//!
//! What each request needs, always judged at the path it touches: reading a node, its
//! children, its stat, a watch or a transaction's check needs `read` there; setting needs
//! `write`; creating (also sequential — at its name prefix —, ephemeral, a campaign) needs
//! `create` at the new node, and at every missing ancestor a create makes on the way;
//! deleting needs `delete`; changing grants on a path needs `admin` there; users, turning
//! authentication on or off and cluster membership need `admin` on `/`. Opening a session
//! needs an identity; closing one or keeping it alive needs to be its owner or an admin of `/`.
//!
//! ZooKeeper asks for `create` and `delete` on the *parent*. With grants on prefixes that
//! rule is contained in this one — a grant on `/roles/runway-07` covers creating and deleting
//! every node below it, the candidates of a campaign among them — and this one also lets a
//! grant name exactly one node: `create` on `/controllers/c1` lets controller c1 make its
//! status node and no other controller's, which a rule on the parent `/controllers` could
//! not express.
//!
//! While authentication is off (the default) nothing is checked and tokens are ignored: that
//! is how the first admin comes to exist. `auth enable` is refused until a user named
//! [`ROOT_USER`] exists, so turning it on never locks everybody out.
//!
//! Why checks happen where they do: the table is replicated state, changed by commands in the
//! log like any node. A write carries its caller into the Raft command and is judged when it
//! is applied, against the table as of that entry, on every replica alike — so a revoke that
//! commits before a write always stops it, and no replica can disagree. Reads are judged
//! against the applied state after the read index, the same state they read.
//!
//! Caveats: a watch is judged when it starts and again before each batch it sends, so a
//! revoke ends it within one batch; tokens never expire (delete the user to revoke one);
//! the table is scanned per request, fine for the tens of identities a deployment has.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::path::NodePath;
use crate::error::CoordError;

/// The user who may do everything; `auth enable` requires it to exist.
pub const ROOT_USER: &str = "root";
/// A grant to this identity applies to every authenticated identity.
pub const ANYONE: &str = "*";
/// Longest identity name accepted, in bytes.
pub const IDENTITY_BYTES_MAX: usize = 128;

/// The SHA-256 of a token: what the coordinator stores and compares.
pub type TokenHash = [u8; 32];

/// The SHA-256 of a bearer token.
pub fn token_sha256(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// Who sent a request, as the edge saw it: judged against the table at apply time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Caller {
    /// No credentials.
    #[default]
    Anonymous,
    /// A bearer token, by its SHA-256.
    Token(TokenHash),
    /// A client certificate's common name, vouched for by the transport.
    Certificate(String),
}

/// One of ZooKeeper's five permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    /// Read a node, its children and stat; watch it; check it in a transaction.
    Read,
    /// Set a node's data.
    Write,
    /// Create nodes (below the grant's prefix, or the prefix itself).
    Create,
    /// Delete nodes (below the grant's prefix, or the prefix itself).
    Delete,
    /// Change grants (on `/`: users, authentication, cluster membership).
    Admin,
}

const ALL: [(Perm, char, &str); 5] = [
    (Perm::Read, 'r', "read"),
    (Perm::Write, 'w', "write"),
    (Perm::Create, 'c', "create"),
    (Perm::Delete, 'd', "delete"),
    (Perm::Admin, 'a', "admin"),
];

impl Perm {
    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// Its name (`read`, …).
    pub fn name(self) -> &'static str {
        ALL[self as usize].2
    }
}

impl fmt::Display for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of permissions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Perms(u8);

impl Perms {
    /// Every permission.
    pub const ALL: Perms = Perms(0b1_1111);

    /// Whether `perm` is in the set.
    pub fn contains(self, perm: Perm) -> bool {
        self.0 & perm.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Parses letters (`rwcda`, any order), names separated by commas (`read,create`), `all`,
    /// or `none`/`-` (the empty set).
    pub fn parse(text: &str) -> Result<Self, CoordError> {
        let bad = || CoordError::InvalidArgument {
            reason: format!(
                "permissions {text:?}: give letters of rwcda (read, write, create, delete, admin), names separated by commas (read,create), `all`, or `none`"
            ),
        };
        match text {
            "all" => return Ok(Self::ALL),
            "none" | "-" | "" => return Ok(Self::default()),
            _ => {}
        }
        let mut perms = Self::default();
        if text.contains(',') || ALL.iter().any(|(_, _, name)| *name == text) {
            for word in text.split(',') {
                let (perm, _, _) = ALL.iter().find(|(_, _, name)| *name == word.trim()).ok_or_else(bad)?;
                perms.0 |= perm.bit();
            }
        } else {
            for letter in text.chars() {
                let (perm, _, _) = ALL.iter().find(|(_, l, _)| *l == letter).ok_or_else(bad)?;
                perms.0 |= perm.bit();
            }
        }
        Ok(perms)
    }

    fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

impl fmt::Display for Perms {
    /// Letters in `rwcda` order, `-` for each missing one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        ALL.iter().try_for_each(|(perm, letter, _)| write!(f, "{}", if self.contains(*perm) { *letter } else { '-' }))
    }
}

/// One grant: an identity's permissions on a path prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The prefix.
    pub path: NodePath,
    /// Who.
    pub identity: String,
    /// What.
    pub perms: Perms,
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.path, self.identity, self.perms)
    }
}

/// Checks an identity name: non-empty, short, printable, no spaces.
pub fn check_identity(name: &str) -> Result<(), CoordError> {
    let fine = !name.is_empty()
        && name.len() <= IDENTITY_BYTES_MAX
        && name.chars().all(|c| c.is_ascii_graphic() && c != ':' && c != '/');
    if fine {
        Ok(())
    } else {
        Err(CoordError::InvalidArgument {
            reason: format!(
                "identity {name:?}: give 1 to {IDENTITY_BYTES_MAX} printable ASCII characters without spaces, ':' or '/' (e.g. controller-runway-07)"
            ),
        })
    }
}

/// The replicated table: users (by token hash), grants, and whether checks are on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclTable {
    enabled: bool,
    users: BTreeMap<String, TokenHash>,
    /// (prefix, identity) → permissions; never empty sets (an empty grant is removed).
    grants: BTreeMap<(NodePath, String), Perms>,
}

impl AclTable {
    /// Whether permissions are checked.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The users' names, sorted.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    /// Every grant, sorted by path then identity.
    pub fn grants(&self) -> impl Iterator<Item = Grant> + '_ {
        self.grants.iter().map(|((path, identity), perms)| Grant {
            path: path.clone(),
            identity: identity.clone(),
            perms: *perms,
        })
    }

    /// The grants that apply at `path`: those on it and on its ancestors.
    pub fn grants_covering(&self, path: &NodePath) -> Vec<Grant> {
        self.grants().filter(|g| path.is_within(&g.path)).collect()
    }

    /// The identity `caller` proves. Anonymous callers and unknown tokens are refused.
    pub fn identity(&self, caller: &Caller) -> Result<String, CoordError> {
        match caller {
            Caller::Anonymous => {
                Err(CoordError::Unauthenticated { reason: "the request carries no credentials".into() })
            }
            Caller::Token(hash) => self.users.iter().find(|(_, h)| *h == hash).map(|(name, _)| name.clone()).ok_or(
                CoordError::Unauthenticated { reason: "the token belongs to no user (deleted, or mistyped)".into() },
            ),
            Caller::Certificate(name) => Ok(name.clone()),
        }
    }

    /// The identity of `caller` when checks are on, `None` when they are off.
    pub fn authenticate(&self, caller: &Caller) -> Result<Option<String>, CoordError> {
        if !self.enabled {
            return Ok(None);
        }
        self.identity(caller).map(Some)
    }

    /// What `identity` may do at `path`.
    pub fn perms(&self, identity: &str, path: &NodePath) -> Perms {
        if identity == ROOT_USER {
            return Perms::ALL;
        }
        self.grants
            .iter()
            .filter(|((prefix, who), _)| (who == identity || who == ANYONE) && path.is_within(prefix))
            .fold(Perms::default(), |all, (_, perms)| all.union(*perms))
    }

    /// Refuses `caller` unless checks are off or it holds `perm` at `path`. `action` says
    /// what was attempted, for the error.
    pub fn authorize(&self, caller: &Caller, path: &NodePath, perm: Perm, action: &str) -> Result<(), CoordError> {
        let Some(identity) = self.authenticate(caller)? else { return Ok(()) };
        if self.perms(&identity, path).contains(perm) {
            return Ok(());
        }
        Err(CoordError::PermissionDenied {
            identity,
            path: path.to_string(),
            permission: perm.name().to_string(),
            action: action.to_string(),
        })
    }

    /// Adds a user with its token's hash. Refused if the name is taken or the token is
    /// another user's.
    pub fn add_user(&mut self, name: &str, token: TokenHash) -> Result<(), CoordError> {
        check_identity(name)?;
        if name == ANYONE {
            return Err(CoordError::InvalidArgument { reason: format!("{ANYONE} names every identity, not a user") });
        }
        if self.users.contains_key(name) {
            return Err(CoordError::InvalidArgument {
                reason: format!("user {name} exists: delete it first to give it a new token"),
            });
        }
        if self.users.values().any(|h| *h == token) {
            return Err(CoordError::InvalidArgument { reason: "another user has this token: mint a new one".into() });
        }
        self.users.insert(name.to_string(), token);
        Ok(())
    }

    /// Deletes a user (its grants stay: a certificate may carry the same name). The root
    /// user cannot go while checks are on.
    pub fn delete_user(&mut self, name: &str) -> Result<(), CoordError> {
        if self.enabled && name == ROOT_USER {
            return Err(CoordError::InvalidArgument {
                reason: "the root user cannot be deleted while authentication is on: `auth disable` first".into(),
            });
        }
        self.users.remove(name).map(|_| ()).ok_or_else(|| CoordError::InvalidArgument {
            reason: format!("no user named {name} (see `skyway ctl user list`)"),
        })
    }

    /// Turns checks on (only once a root user exists) or off.
    pub fn set_enabled(&mut self, enabled: bool) -> Result<(), CoordError> {
        if enabled && !self.users.contains_key(ROOT_USER) {
            return Err(CoordError::InvalidArgument {
                reason: format!(
                    "authentication cannot be enabled before a user named {ROOT_USER} exists (it would lock everybody out): `skyway ctl user add {ROOT_USER}` first"
                ),
            });
        }
        self.enabled = enabled;
        Ok(())
    }

    /// Sets `identity`'s permissions on `path`; the empty set removes the grant.
    pub fn set_grant(&mut self, path: &NodePath, identity: &str, perms: Perms) -> Result<(), CoordError> {
        check_identity(identity)?;
        let key = (path.clone(), identity.to_string());
        if perms.is_empty() {
            self.grants.remove(&key);
        } else {
            self.grants.insert(key, perms);
        }
        Ok(())
    }

    /// The table's invariants: checks on only with a root user; no empty grants; valid names.
    pub fn check(&self) -> Result<(), String> {
        if self.enabled && !self.users.contains_key(ROOT_USER) {
            return Err("authentication is on without a root user".into());
        }
        if let Some(((path, identity), _)) = self.grants.iter().find(|(_, perms)| perms.is_empty()) {
            return Err(format!("empty grant for {identity} on {path}"));
        }
        let mut names = self.users.keys().chain(self.grants.keys().map(|(_, identity)| identity));
        names.try_for_each(|name| check_identity(name).map_err(|e| e.to_string()))
    }
}

impl fmt::Display for AclTable {
    /// `auth on|off; users a b; grants /p who rwcd-, …` (the golden scripts' `acl` line).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let users: Vec<&str> = self.users().collect();
        let grants: Vec<String> = self.grants().map(|g| g.to_string()).collect();
        write!(
            f,
            "auth {}; users {}; grants {}",
            if self.enabled { "on" } else { "off" },
            if users.is_empty() { "-".into() } else { users.join(" ") },
            if grants.is_empty() { "-".into() } else { grants.join(", ") }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_parse_as_letters_names_and_words() {
        assert_eq!(Perms::parse("rc").unwrap().to_string(), "r-c--");
        assert_eq!(Perms::parse("read,create").unwrap(), Perms::parse("cr").unwrap());
        assert_eq!(Perms::parse("admin").unwrap().to_string(), "----a");
        assert_eq!(Perms::parse("all").unwrap(), Perms::ALL);
        assert!(Perms::parse("none").unwrap().is_empty());
        let error = Perms::parse("rx").unwrap_err().to_string();
        assert!(error.contains("rwcda"), "{error}");
    }

    #[test]
    fn grants_cover_whole_parts_below_their_prefix() {
        let mut table = AclTable::default();
        let p = |s: &str| NodePath::parse(s).unwrap();
        table.set_grant(&p("/roles/runway-07"), "ctl", Perms::parse("rc").unwrap()).unwrap();
        table.set_grant(&p("/"), ANYONE, Perms::parse("r").unwrap()).unwrap();
        assert!(table.perms("ctl", &p("/roles/runway-07/c-1")).contains(Perm::Create));
        assert!(!table.perms("ctl", &p("/roles/runway-070")).contains(Perm::Create));
        assert!(table.perms("other", &p("/roles/runway-070")).contains(Perm::Read));
        assert_eq!(table.perms(ROOT_USER, &p("/x")), Perms::ALL);
    }
}
