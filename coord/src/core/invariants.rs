//! The state's structural invariants, checked from outside through its public reads.
//!
//! A snapshot arrives as bytes — from this node's disk or from a peer — and decodes into a
//! state by serde alone, which checks each field but not how they fit together. A flipped bit
//! in a path can leave a child's name in its parent with no node under it, or a node whose
//! parent is gone; the namespace's own code asserts these never happen and would panic on the
//! next write that touched them. So a decoded snapshot is checked here before it is used, and
//! one that breaks an invariant is refused like a malformed one.
//!
//! Checked: the root exists; every child name is one valid part and names an existing node;
//! every node is reachable from the root (none orphaned); children counts agree; revisions are
//! ordered (`create <= mod <= state's revision`); every ephemeral node has no children and is
//! owned by an open session that lists it, and every node a session lists is its ephemeral;
//! the membership log keeps at least one record and holds no more than its window; and
//! the permission table keeps its own invariants (see [`super::acl::AclTable::check`]).

use std::collections::BTreeSet;

use super::path::NodePath;
use super::state::CoordState;

/// Decodes a snapshot and checks its invariants: what every snapshot from disk or a peer goes
/// through. The error says which invariant broke.
pub fn decode_snapshot(bytes: &[u8], history_events_max: usize) -> Result<CoordState, String> {
    let state = CoordState::from_snapshot(bytes, history_events_max).map_err(|e| format!("malformed snapshot: {e}"))?;
    check(&state).map_err(|e| format!("inconsistent snapshot: {e}"))?;
    Ok(state)
}

/// Checks the invariants listed in the module's documentation.
pub fn check(state: &CoordState) -> Result<(), String> {
    let revision = state.revision();
    let mut seen = 0usize;
    let mut ephemerals = BTreeSet::new();
    let mut stack = vec![NodePath::root()];
    while let Some(path) = stack.pop() {
        let (children, stat) =
            state.children(&path).map_err(|_| format!("{path} is listed by its parent but missing"))?;
        seen += 1;
        if seen > state.node_count() {
            return Err(format!("more nodes reachable than the {} stored (a cycle?)", state.node_count()));
        }
        if stat.num_children as usize != children.len() {
            return Err(format!("{path} counts {} children but lists {}", stat.num_children, children.len()));
        }
        if stat.create_revision > stat.mod_revision || stat.mod_revision > revision {
            return Err(format!(
                "{path} has create revision {} and mod revision {} at state revision {}",
                stat.create_revision.0, stat.mod_revision.0, revision.0
            ));
        }
        if let Some(owner) = stat.ephemeral_owner {
            if !children.is_empty() {
                return Err(format!("ephemeral {path} has children"));
            }
            let listed = state.sessions().get(&owner).is_some_and(|s| s.ephemerals.contains(&path));
            if !listed {
                return Err(format!("ephemeral {path} is owned by session {}, which does not list it", owner.0));
            }
            ephemerals.insert(path.clone());
        }
        for name in &children {
            let child = path.join(name).map_err(|e| format!("{path} has a child named {name:?}: {e}"))?;
            if child.parent().as_ref() != Some(&path) {
                return Err(format!("{path} has a child named {name:?} that is not one part"));
            }
            stack.push(child);
        }
    }
    if seen != state.node_count() {
        return Err(format!("{} nodes stored but {seen} reachable from the root", state.node_count()));
    }
    let window = state.membership_window();
    if window.records_max == 0 {
        return Err("the membership log's window keeps no records".into());
    }
    let log = super::path::NodePath::parse(super::membership::LOG_PATH).map_err(|e| e.to_string())?;
    let records = state.children(&log).map_or(0, |(names, _)| names.len());
    if records as u64 > window.records_max {
        return Err(format!("the membership log holds {records} records, past its window of {}", window.records_max));
    }
    state.acl().check().map_err(|e| format!("permissions: {e}"))?;
    for (id, session) in state.sessions() {
        for path in &session.ephemerals {
            if state.exists(path).and_then(|s| s.ephemeral_owner) != Some(*id) {
                return Err(format!("session {} lists {path}, which is not its ephemeral node", id.0));
            }
        }
    }
    Ok(())
}
