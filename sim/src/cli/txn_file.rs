//! The transaction file of `skyway ctl txn`: checks and operations as one JSON document, read
//! from a file or standard input, checked here (unknown fields, a check without a condition)
//! before anything is sent.
//!
//! ```json
//! {
//!   "checks": [
//!     {"path": "/roads/a12", "version": 3},
//!     {"path": "/roads/a13", "exists": true},
//!     {"path": "/roads/a14", "exists": false}
//!   ],
//!   "ops": [
//!     {"set": {"path": "/roads/a12", "data": "closed", "version": 3}},
//!     {"create": {"path": "/roads/a14", "data": "new", "parents": true}},
//!     {"delete": {"path": "/roads/a13"}}
//!   ]
//! }
//! ```
//!
//! All checks must hold for any operation to apply; then all operations apply in one revision.

use anyhow::{Context, bail};
use bytes::Bytes;
use serde::Deserialize;
use skyway_coord::client::{Check, Create, Op, Txn};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxnFile {
    /// Conditions that must all hold.
    #[serde(default)]
    pub checks: Vec<CheckSpec>,
    /// Writes applied together if they do.
    #[serde(default)]
    pub ops: Vec<OpSpec>,
}

/// One condition: the node exists, does not, or is at a version.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// The node.
    pub path: String,
    /// `true`: it must exist; `false`: it must not.
    pub exists: Option<bool>,
    /// It must be at this version.
    pub version: Option<u64>,
}

/// One write.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum OpSpec {
    /// Create a persistent node.
    Create {
        /// The node.
        path: String,
        /// Its value (UTF-8 text).
        #[serde(default)]
        data: String,
        /// Append a sequence number to the name.
        #[serde(default)]
        sequential: bool,
        /// Create missing parents.
        #[serde(default)]
        parents: bool,
    },
    /// Set a node's value.
    Set {
        /// The node.
        path: String,
        /// Its new value.
        #[serde(default)]
        data: String,
        /// Only at this version.
        version: Option<u64>,
    },
    /// Delete a node.
    Delete {
        /// The node.
        path: String,
        /// Only at this version.
        version: Option<u64>,
    },
}

/// Parses the file and turns it into the request.
pub fn parse(text: &str) -> anyhow::Result<Txn> {
    let file: TxnFile = serde_json::from_str(text).context(
        "the transaction is not valid: expected {\"checks\": [...], \"ops\": [...]} (see `skyway ctl txn --help`)",
    )?;
    if file.ops.is_empty() && file.checks.is_empty() {
        bail!("the transaction has no checks and no operations");
    }
    let checks = file.checks.into_iter().map(check).collect::<anyhow::Result<Vec<_>>>()?;
    let ops = file.ops.into_iter().map(op).collect();
    Ok(Txn { checks, ops })
}

fn check(spec: CheckSpec) -> anyhow::Result<Check> {
    Ok(match (spec.exists, spec.version) {
        (Some(true), None) => Check::Exists(spec.path),
        (Some(false), None) => Check::NotExists(spec.path),
        (None, Some(version)) => Check::Version(spec.path, version),
        (None, None) => bail!("the check on {} says neither \"exists\" nor \"version\"", spec.path),
        (Some(_), Some(_)) => bail!("the check on {} says both \"exists\" and \"version\": give one", spec.path),
    })
}

fn op(spec: OpSpec) -> Op {
    match spec {
        OpSpec::Create { path, data, sequential, parents } => {
            Op::Create(Create { sequential, make_parents: parents, ..Create::new(path, Bytes::from(data)) })
        }
        OpSpec::Set { path, data, version } => Op::Set { path, data: Bytes::from(data), expected_version: version },
        OpSpec::Delete { path, version } => Op::Delete { path, expected_version: version },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let text = r#"{"checks": [{"path": "/a", "version": 3}, {"path": "/b", "exists": false}],
            "ops": [{"set": {"path": "/a", "data": "x", "version": 3}}, {"create": {"path": "/b", "parents": true}},
                    {"delete": {"path": "/c"}}]}"#;
        let request = parse(text).unwrap();
        assert_eq!(request.checks.len(), 2);
        assert_eq!(request.checks[0], Check::Version("/a".into(), 3));
        assert_eq!(request.checks[1], Check::NotExists("/b".into()));
        assert_eq!(request.ops.len(), 3);
        assert!(matches!(&request.ops[1], Op::Create(c) if c.make_parents && c.path == "/b"));
    }

    #[test]
    fn mistakes_are_named() {
        let error = format!("{:#}", parse(r#"{"ops": [{"put": {"path": "/a"}}]}"#).unwrap_err());
        assert!(error.contains("unknown variant `put`"), "{error}");
        let error = format!("{:#}", parse(r#"{"checks": [{"path": "/a"}]}"#).unwrap_err());
        assert!(error.contains("neither"), "{error}");
        assert!(parse("{}").is_err());
    }
}
