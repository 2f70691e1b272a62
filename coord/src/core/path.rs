//! Node paths: validated once at the edge, then trusted everywhere.
//!
//! A path is absolute and '/'-separated, like a file path: `/roles/runway-07/c-0000000012`.
//! The root is `/`. Parts may not be empty, `.` or `..`, and may not contain control
//! characters. Length and depth are limited so that no request can make the tree expensive.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::CoordError;

/// Longest path accepted, in bytes.
pub const PATH_BYTES_MAX: usize = 1024;
/// Deepest path accepted, in parts.
pub const PATH_DEPTH_MAX: usize = 32;
/// Paths under this prefix belong to the service (membership); clients may read, not write.
pub const RESERVED_PREFIX: &str = "/skyway";

/// A validated node path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodePath(String);

impl NodePath {
    /// The root node, `/`.
    pub fn root() -> Self {
        Self("/".to_string())
    }

    /// Parses and validates a path.
    pub fn parse(path: &str) -> Result<Self, CoordError> {
        validate(path)
            .map_err(|reason| CoordError::InvalidPath { path: path.to_string(), reason: reason.to_string() })?;
        Ok(Self(path.to_string()))
    }

    /// The path as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The parent path; `None` for the root.
    pub fn parent(&self) -> Option<NodePath> {
        if self.is_root() {
            return None;
        }
        let cut = self.0.rfind('/').expect("validated paths start with '/'");
        Some(if cut == 0 { Self::root() } else { Self(self.0[..cut].to_string()) })
    }

    /// The last part of the path ("" for the root).
    pub fn name(&self) -> &str {
        let cut = self.0.rfind('/').expect("validated paths start with '/'");
        &self.0[cut + 1..]
    }

    /// The child path `self/name`. `name` must be a valid single part.
    pub fn join(&self, name: &str) -> Result<NodePath, CoordError> {
        let joined = if self.is_root() { format!("/{name}") } else { format!("{}/{name}", self.0) };
        Self::parse(&joined)
    }

    /// Whether `self` is `other` or lies below it.
    pub fn is_within(&self, other: &NodePath) -> bool {
        other.is_root()
            || self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }

    /// Whether clients may write here (everything but the service's reserved subtree).
    pub fn is_reserved(&self) -> bool {
        self.is_within(&NodePath(RESERVED_PREFIX.to_string()))
    }

    /// Every ancestor from the root down, excluding `self`.
    pub fn ancestors(&self) -> Vec<NodePath> {
        let mut out = Vec::new();
        let mut current = self.parent();
        while let Some(p) = current {
            current = p.parent();
            out.push(p);
        }
        out.reverse();
        out
    }
}

fn validate(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("it is empty");
    }
    if !path.starts_with('/') {
        return Err("it must start with '/'");
    }
    if path.len() > PATH_BYTES_MAX {
        return Err("it is longer than 1024 bytes");
    }
    if path == "/" {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err("it must not end with '/'");
    }
    let mut depth = 0;
    for part in path[1..].split('/') {
        depth += 1;
        match part {
            "" => return Err("it has an empty part ('//')"),
            "." | ".." => return Err("'.' and '..' are not allowed"),
            _ if part.chars().any(char::is_control) => return Err("it contains a control character"),
            _ => {}
        }
    }
    if depth > PATH_DEPTH_MAX {
        return Err("it is deeper than 32 parts");
    }
    Ok(())
}

impl TryFrom<String> for NodePath {
    type Error = CoordError;
    fn try_from(path: String) -> Result<Self, CoordError> {
        Self::parse(&path)
    }
}

impl From<NodePath> for String {
    fn from(path: NodePath) -> String {
        path.0
    }
}

impl fmt::Display for NodePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_well_formed_paths() {
        for p in ["/", "/a", "/roles/runway-07/c-0000000012", "/a b/ü"] {
            assert!(NodePath::parse(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn rejects_malformed_paths_with_a_reason() {
        for p in ["", "a", "/a/", "//a", "/a//b", "/a/./b", "/..", "/a\u{0}b", &"/x".repeat(600)] {
            let err = NodePath::parse(p).unwrap_err();
            assert!(matches!(err, CoordError::InvalidPath { .. }), "{p}: {err}");
        }
        let deep = "/a".repeat(33);
        assert!(NodePath::parse(&deep).is_err());
    }

    #[test]
    fn parent_name_and_ancestors() {
        let p = NodePath::parse("/a/b/c").unwrap();
        assert_eq!(p.parent().unwrap().as_str(), "/a/b");
        assert_eq!(p.name(), "c");
        assert_eq!(NodePath::parse("/a").unwrap().parent().unwrap(), NodePath::root());
        assert_eq!(NodePath::root().parent(), None);
        let names: Vec<_> = p.ancestors().iter().map(|a| a.to_string()).collect();
        assert_eq!(names, ["/", "/a", "/a/b"]);
    }

    #[test]
    fn within_respects_part_boundaries() {
        let a = NodePath::parse("/a").unwrap();
        assert!(NodePath::parse("/a/b").unwrap().is_within(&a));
        assert!(a.is_within(&a));
        assert!(!NodePath::parse("/ab").unwrap().is_within(&a));
        assert!(a.is_within(&NodePath::root()));
        assert!(NodePath::parse("/skyway/members/x").unwrap().is_reserved());
        assert!(!NodePath::parse("/skywayish").unwrap().is_reserved());
    }
}
