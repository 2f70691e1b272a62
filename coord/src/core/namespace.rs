//! The hierarchical namespace: a tree of small nodes, like a file system of tiny files.
//!
//! Every mutation validates completely before it changes anything, so a single operation is
//! all-or-nothing by construction. A transaction applies several operations in a row and must
//! be able to take them back when a later one fails: each mutation therefore records its
//! inverse in a [`ChangeSet`], together with the events it produced, and [`Namespace::rollback`]
//! replays the inverses backwards.
//!
//! Caveats: nodes are kept in one sorted map keyed by full path; listing children uses the
//! parent's child-name set, so neither operation scans the tree.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::command::{CreateOp, DeleteOp, SetOp};
use super::event::{Event, EventKind};
use super::node::{Node, Stat};
use super::path::NodePath;
use super::types::Revision;
use crate::error::CoordError;

/// The tree of nodes. The root `/` always exists.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Namespace {
    nodes: BTreeMap<NodePath, Node>,
    /// Bytes of every node's path and data: derived, so not in snapshots (see [`Namespace::recount`]).
    #[serde(skip)]
    data_bytes: u64,
}

/// What a node counts for against the namespace's byte quota.
fn node_bytes(path: &NodePath, data: &[u8]) -> u64 {
    (path.as_str().len() + data.len()) as u64
}

/// How to take back one mutation.
#[derive(Debug)]
enum Undo {
    /// A node was inserted: remove it, and its name from its parent.
    Inserted(NodePath, u64),
    /// A node was removed: put it back, and its name into its parent.
    Removed(NodePath, Node),
    /// A node's data was replaced: restore the old data, revision and version.
    Replaced(NodePath, Bytes, Revision, u64),
}

/// The events and inverses of the mutations applied so far in one entry.
#[derive(Debug, Default)]
pub struct ChangeSet {
    /// Events, in the order the mutations happened.
    pub events: Vec<Event>,
    undo: Vec<Undo>,
}

impl Default for Namespace {
    fn default() -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert(NodePath::root(), Node::new(Bytes::new(), Revision(0), None));
        let mut namespace = Self { nodes, data_bytes: 0 };
        namespace.recount();
        namespace
    }
}

impl Namespace {
    /// The node at `path`, if any.
    pub fn get(&self, path: &NodePath) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// The node at `path`, or `NotFound`.
    pub fn require(&self, path: &NodePath) -> Result<&Node, CoordError> {
        self.get(path).ok_or_else(|| CoordError::NotFound { path: path.to_string() })
    }

    /// Number of nodes, the root included.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Bytes of every node's path and data.
    pub fn data_bytes(&self) -> u64 {
        self.data_bytes
    }

    /// Recomputes the derived byte count (after decoding a snapshot).
    pub fn recount(&mut self) {
        self.data_bytes = self.nodes.iter().map(|(path, node)| node_bytes(path, &node.data)).sum();
    }

    /// Whether only the root exists.
    pub fn is_empty(&self) -> bool {
        self.nodes.len() == 1
    }

    /// Creates a node (and, if asked, its missing parents). Returns the final path and stat.
    pub fn create(
        &mut self,
        op: &CreateOp,
        revision: Revision,
        cs: &mut ChangeSet,
    ) -> Result<(NodePath, Stat), CoordError> {
        let parent_path = op.path.parent().ok_or_else(|| CoordError::NodeExists { path: "/".into() })?;
        // Validate the whole chain of ancestors before changing anything.
        let mut missing = Vec::new();
        for ancestor in op.path.ancestors() {
            match self.nodes.get(&ancestor) {
                Some(node) if node.ephemeral_owner.is_some() => {
                    return Err(CoordError::EphemeralParent {
                        path: op.path.to_string(),
                        parent: ancestor.to_string(),
                    });
                }
                Some(_) => {}
                None if op.make_parents => missing.push(ancestor),
                None => {
                    return Err(CoordError::ParentMissing { path: op.path.to_string(), parent: ancestor.to_string() });
                }
            }
        }
        let path = if op.sequential {
            self.next_sequential_name(&op.path, &parent_path, &missing)?
        } else {
            if self.nodes.contains_key(&op.path) {
                return Err(CoordError::NodeExists { path: op.path.to_string() });
            }
            op.path.clone()
        };
        for ancestor in missing {
            self.insert(ancestor, Node::new(Bytes::new(), revision, None), cs);
        }
        let node = Node::new(op.data.clone(), revision, op.ephemeral_owner);
        let stat = node.stat();
        self.insert(path.clone(), node, cs);
        Ok((path, stat))
    }

    /// The path a sequential create gets: the prefix plus the parent's next 10-digit counter.
    fn next_sequential_name(
        &self,
        prefix: &NodePath,
        parent: &NodePath,
        missing: &[NodePath],
    ) -> Result<NodePath, CoordError> {
        let mut sequence = if missing.contains(parent) { 0 } else { self.nodes[parent].next_sequence };
        loop {
            let candidate = NodePath::parse(&format!("{}{:010}", prefix.as_str(), sequence))?;
            if !self.nodes.contains_key(&candidate) {
                return Ok(candidate);
            }
            sequence += 1;
        }
    }

    /// Replaces a node's data.
    pub fn set(&mut self, op: &SetOp, revision: Revision, cs: &mut ChangeSet) -> Result<Stat, CoordError> {
        let node = self.nodes.get_mut(&op.path).ok_or_else(|| CoordError::NotFound { path: op.path.to_string() })?;
        check_version(&op.path, op.expected_version, node.version)?;
        let old_data = std::mem::replace(&mut node.data, op.data.clone());
        self.data_bytes = self.data_bytes + op.data.len() as u64 - old_data.len() as u64;
        cs.undo.push(Undo::Replaced(op.path.clone(), old_data, node.mod_revision, node.version));
        node.mod_revision = revision;
        node.version += 1;
        let stat = node.stat();
        cs.events.push(Event {
            revision,
            kind: EventKind::Changed,
            path: op.path.clone(),
            data: node.data.clone(),
            stat,
        });
        Ok(stat)
    }

    /// Deletes a childless node.
    pub fn delete(&mut self, op: &DeleteOp, revision: Revision, cs: &mut ChangeSet) -> Result<(), CoordError> {
        if op.path.is_root() {
            return Err(CoordError::InvalidArgument { reason: "the root node cannot be deleted".into() });
        }
        let node = self.require(&op.path)?;
        check_version(&op.path, op.expected_version, node.version)?;
        if !node.children.is_empty() {
            return Err(CoordError::NotEmpty { path: op.path.to_string(), children: node.children.len() as u32 });
        }
        self.remove(&op.path, revision, cs);
        Ok(())
    }

    /// Takes back every mutation recorded in `cs`, newest first.
    pub fn rollback(&mut self, cs: ChangeSet) {
        for undo in cs.undo.into_iter().rev() {
            match undo {
                Undo::Inserted(path, parent_sequence) => {
                    if let Some(node) = self.nodes.remove(&path) {
                        self.data_bytes -= node_bytes(&path, &node.data);
                    }
                    let parent = self.parent_mut(&path);
                    parent.children.remove(path.name());
                    parent.next_sequence = parent_sequence;
                }
                Undo::Removed(path, node) => {
                    self.parent_mut(&path).children.insert(path.name().to_string());
                    self.data_bytes += node_bytes(&path, &node.data);
                    self.nodes.insert(path, node);
                }
                Undo::Replaced(path, data, mod_revision, version) => {
                    let node = self.nodes.get_mut(&path).expect("undo replaces an existing node");
                    self.data_bytes = self.data_bytes + data.len() as u64 - node.data.len() as u64;
                    node.data = data;
                    node.mod_revision = mod_revision;
                    node.version = version;
                }
            }
        }
    }

    /// Inserts a node whose parent exists and whose path is free.
    fn insert(&mut self, path: NodePath, node: Node, cs: &mut ChangeSet) {
        let parent = self.parent_mut(&path);
        let parent_sequence = parent.next_sequence;
        parent.next_sequence += 1;
        let fresh = parent.children.insert(path.name().to_string());
        assert!(fresh, "insert over an existing child {path}");
        cs.events.push(Event {
            revision: node.create_revision,
            kind: EventKind::Created,
            path: path.clone(),
            data: node.data.clone(),
            stat: node.stat(),
        });
        cs.undo.push(Undo::Inserted(path.clone(), parent_sequence));
        self.data_bytes += node_bytes(&path, &node.data);
        let previous = self.nodes.insert(path, node);
        assert!(previous.is_none(), "insert over an existing node");
    }

    /// Removes an existing, childless node.
    pub(crate) fn remove(&mut self, path: &NodePath, revision: Revision, cs: &mut ChangeSet) {
        let node = self.nodes.remove(path).expect("remove an existing node");
        self.data_bytes -= node_bytes(path, &node.data);
        assert!(node.children.is_empty(), "remove a node with children {path}");
        self.parent_mut(path).children.remove(path.name());
        cs.events.push(Event {
            revision,
            kind: EventKind::Deleted,
            path: path.clone(),
            data: Bytes::new(),
            stat: node.stat(),
        });
        cs.undo.push(Undo::Removed(path.clone(), node));
    }

    fn parent_mut(&mut self, path: &NodePath) -> &mut Node {
        let parent = path.parent().expect("the root has no parent");
        self.nodes.get_mut(&parent).expect("parent of an existing node exists")
    }
}

fn check_version(path: &NodePath, expected: Option<u64>, actual: u64) -> Result<(), CoordError> {
    match expected {
        Some(expected) if expected != actual => {
            Err(CoordError::BadVersion { path: path.to_string(), expected, actual })
        }
        _ => Ok(()),
    }
}
