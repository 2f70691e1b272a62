//! `skyway demo --auth`: one identity per process, each with the least privilege it needs.
//!
//! Before any process starts, the demo bootstraps the coordinator as an operator would with
//! `skyway ctl` (authentication is still off, so anyone may): it mints a token per process,
//! makes the nodes the grants name, grants, and turns authentication on. Every process then
//! gets its own token in `SKYWAY_TOKEN` (in the environment, not on the command line, where
//! `ps` would show it). What each identity may do:
//!
//! | identity | may | where |
//! | --- | --- | --- |
//! | `*` (everyone) | read | `/` — everything; the membership log under `/skyway` is the service's own, so read-only to all |
//! | `demo` (the world, the dashboard, the lesson, in the demo's own process) | read, write, create, delete | `/world`, `/lessons`, `/operator` (the operator's orders from the dashboard) |
//! | controller `cN` | read | `/operator` (the orders it carries out; everyone reads `/` anyway, this says so) |
//! | controller `cN` | create, delete | `/roles/<role>` of each of its roles (its campaigns) |
//! | controller `cN` | write, create, delete | `/controllers/cN` (its status node) |
//! | camera `<id>` | write, create, delete | `/cameras/<id>` |
//! | camera `<id>` | create, delete | `/roles/collector/janitor` (every camera is a candidate) |
//! | analyzer `aN` | write, create | `/analysis/<camera>` of every camera |
//! | analyzer `aN` | create, delete | `/roles/analyze/<camera>` of every camera |
//!
//! `root` exists only because `auth enable` requires it; nothing in the demo uses its token.

use std::collections::BTreeMap;

use anyhow::Context;
use skyway_coord::CoordError;
use skyway_coord::client::{Client, Create, mint_token};
use skyway_coord::core::acl::{ANYONE, ROOT_USER};

/// The identity of the demo's own process.
pub const DEMO_IDENTITY: &str = "demo";

/// Who runs in the demo, for provisioning.
#[derive(Debug, Clone, Default)]
pub struct Cast {
    /// Controller names and the roles each serves.
    pub controllers: Vec<(String, Vec<String>)>,
    /// Camera ids.
    pub cameras: Vec<String>,
    /// Analyzer names (each a candidate for every camera).
    pub analyzers: Vec<String>,
}

/// The tokens minted for the demo's identities, by identity.
#[derive(Clone, Default)]
pub struct Tokens(BTreeMap<String, String>);

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl Tokens {
    /// Mints a token for `identity` unless it has one (locally: the coordinator learns of it
    /// in [`provision`]; until then, and while authentication is off, it is simply ignored).
    pub fn mint(&mut self, identity: &str) {
        self.0.entry(identity.to_string()).or_insert_with(mint_token);
    }

    /// The token of `identity`, if it has one.
    pub fn of(&self, identity: &str) -> Option<&str> {
        self.0.get(identity).map(String::as_str)
    }

    /// Every identity's token (for the collector's processes).
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.0.clone()
    }

    /// `SKYWAY_TOKEN=…` for a process of `identity`, if it has a token.
    pub fn env(&self, identity: &str) -> Vec<(&'static str, &str)> {
        self.of(identity).map(|t| ("SKYWAY_TOKEN", t)).into_iter().collect()
    }
}

/// The grants of [the module's table](self), as (path, identity, perms).
pub fn grants(cast: &Cast) -> Vec<(String, String, &'static str)> {
    let mut grants = vec![
        ("/".to_string(), ANYONE.to_string(), "r"),
        ("/world".to_string(), DEMO_IDENTITY.to_string(), "rwcd"),
        ("/lessons".to_string(), DEMO_IDENTITY.to_string(), "rwcd"),
        (crate::live::paths::OPERATOR.to_string(), DEMO_IDENTITY.to_string(), "rwcd"),
    ];
    for (name, roles) in &cast.controllers {
        grants.push((crate::live::paths::OPERATOR.to_string(), name.clone(), "r"));
        grants.extend(roles.iter().map(|role| (role_path(role), name.clone(), "cd")));
        grants.push((format!("{}/{name}", skyway_controller::controller::STATUS_PATH), name.clone(), "wcd"));
    }
    for camera in &cast.cameras {
        grants.push((format!("{}/{camera}", skyway_collector::record::CAMERAS), camera.clone(), "wcd"));
        grants.push((role_path(skyway_collector::record::JANITOR_ROLE), camera.clone(), "cd"));
        for analyzer in &cast.analyzers {
            grants.push((skyway_collector::record::analysis_path(camera), analyzer.clone(), "wc"));
            grants.push((role_path(&skyway_collector::record::analyze_role(camera)), analyzer.clone(), "cd"));
        }
    }
    grants
}

fn role_path(role: &str) -> String {
    format!("{}/{}", skyway_coord::client::election::ROLES_PATH, role.trim_matches('/'))
}

/// The nodes the grants name, made beforehand so that no process needs `create` on a
/// parent it shares with others (`/roles/runway`, `/cameras`, …).
fn nodes(cast: &Cast) -> Vec<String> {
    let mut nodes: Vec<String> = grants(cast)
        .into_iter()
        .map(|(path, _, _)| path)
        .filter(|p| p != "/" && !p.starts_with(skyway_controller::controller::STATUS_PATH))
        .collect();
    // The status nodes are the controllers' ephemerals; only their parent is made here.
    nodes.push(skyway_controller::controller::STATUS_PATH.to_string());
    nodes.sort();
    nodes.dedup();
    nodes
}

/// Mints the tokens still missing, adds a user per identity, makes the nodes, grants, and
/// turns authentication on. Authentication must still be off (a fresh cluster).
pub async fn provision(client: &Client, cast: &Cast, tokens: &mut Tokens) -> anyhow::Result<()> {
    let mut identities = vec![ROOT_USER.to_string(), DEMO_IDENTITY.to_string()];
    identities.extend(cast.controllers.iter().map(|(name, _)| name.clone()));
    identities.extend(cast.cameras.iter().cloned());
    identities.extend(cast.analyzers.iter().cloned());
    for identity in &identities {
        tokens.mint(identity);
        let token = tokens.of(identity).expect("just minted");
        client.add_user(identity, token).await.with_context(|| format!("cannot add user {identity}"))?;
    }
    for path in nodes(cast) {
        let request = Create { path: path.clone(), make_parents: true, ..Default::default() };
        match client.create(request).await {
            Ok(_) | Err(CoordError::NodeExists { .. }) => {}
            Err(e) => return Err(e).with_context(|| format!("cannot create {path}")),
        }
    }
    let grants = grants(cast);
    for (path, identity, perms) in &grants {
        client.set_acl(path, identity, perms).await.with_context(|| format!("cannot grant {identity} on {path}"))?;
    }
    client.set_auth(true).await.context("cannot enable authentication")?;
    tracing::info!(identities = identities.len(), grants = grants.len(), "authentication on: one identity per process");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_process_is_granted_only_its_own_nodes() {
        let cast = Cast {
            controllers: vec![("c1".into(), vec!["runway/07".into()])],
            cameras: vec!["cam-1".into(), "cam-2".into()],
            analyzers: vec!["a1".into()],
        };
        let of = |who: &str| -> Vec<String> {
            grants(&cast)
                .into_iter()
                .filter(|(_, id, _)| id == who)
                .map(|(p, _, perms)| format!("{p} {perms}"))
                .collect()
        };
        assert_eq!(of("c1"), ["/operator r", "/roles/runway/07 cd", "/controllers/c1 wcd"]);
        assert_eq!(of("demo"), ["/world rwcd", "/lessons rwcd", "/operator rwcd"]);
        assert_eq!(of("cam-1"), ["/cameras/cam-1 wcd", "/roles/collector/janitor cd"]);
        assert_eq!(
            of("a1"),
            ["/analysis/cam-1 wc", "/roles/analyze/cam-1 cd", "/analysis/cam-2 wc", "/roles/analyze/cam-2 cd"]
        );
        assert_eq!(of("*"), ["/ r"]);
        assert!(!nodes(&cast).contains(&"/controllers/c1".to_string()), "status nodes are ephemeral");
    }
}
