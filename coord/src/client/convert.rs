//! The client's one edge to the wire: its own types (`types`) to protobuf requests, and answers
//! back. Nothing else in the client converts; nothing outside it sees a generated type.

use super::types::{
    Acl, Check, Children, ClusterMembers, Committed, Consistency, Create, Created, Existence, Grant, NodeData,
    NodeStatus, Op, OpResult, Revision, SessionId, Stat, Txn, Updated, Users,
};
use super::watch::{WatchEvent, WatchEventKind};
use crate::core::membership::{MembershipKind, MembershipRecord};
use crate::error::CoordError;
use crate::proto::coord as pb;

/// A consistency on the wire.
pub fn consistency(consistency: Consistency) -> i32 {
    match consistency {
        Consistency::Linearizable => pb::Consistency::Linearizable as i32,
        Consistency::Serializable => pb::Consistency::Serializable as i32,
    }
}

/// A create on the wire (its request id is filled per attempt).
pub fn create_request(create: Create) -> pb::CreateRequest {
    pb::CreateRequest {
        path: create.path,
        data: create.data,
        ephemeral: create.ephemeral.is_some(),
        sequential: create.sequential,
        make_parents: create.make_parents,
        session_id: create.ephemeral.map_or(0, |s| s.0),
        one_per_session: create.one_per_session,
        request: None,
    }
}

/// A stat from the wire (a server always sends one where it has one; absent reads as zeros).
pub fn stat(stat: Option<pb::Stat>) -> Stat {
    let stat = stat.unwrap_or_default();
    Stat {
        create_revision: Revision(stat.create_revision),
        mod_revision: Revision(stat.mod_revision),
        version: stat.version,
        ephemeral_owner: (stat.ephemeral_owner != 0).then_some(SessionId(stat.ephemeral_owner)),
        num_children: stat.num_children,
        data_length: stat.data_length,
    }
}

/// A created node from the wire.
pub fn created(response: pb::CreateResponse) -> Created {
    Created { path: response.path, stat: stat(response.stat), revision: Revision(response.revision) }
}

/// A read node from the wire.
pub fn node_data(response: pb::GetResponse) -> NodeData {
    NodeData { data: response.data, stat: stat(response.stat), revision: Revision(response.revision) }
}

/// An existence check from the wire.
pub fn existence(response: pb::ExistsResponse) -> Existence {
    Existence { stat: response.found.then(|| stat(response.stat)), revision: Revision(response.revision) }
}

/// A set node from the wire.
pub fn updated(response: pb::SetResponse) -> Updated {
    Updated { stat: stat(response.stat), revision: Revision(response.revision) }
}

/// A children listing from the wire.
pub fn children(response: pb::ChildrenResponse) -> Children {
    Children { names: response.names, stat: stat(response.stat), revision: Revision(response.revision) }
}

/// A transaction on the wire (its request id is filled per attempt).
pub fn txn_request(txn: Txn) -> pb::TxnRequest {
    let check = |check: Check| {
        let (path, kind, version) = match check {
            Check::Exists(path) => (path, pb::check::Kind::Exists, 0),
            Check::NotExists(path) => (path, pb::check::Kind::NotExists, 0),
            Check::Version(path, version) => (path, pb::check::Kind::Version, version),
        };
        pb::Check { path, kind: kind as i32, version }
    };
    let op = |op: Op| {
        let op = match op {
            Op::Create(create) => pb::op::Op::Create(create_request(create)),
            Op::Set { path, data, expected_version } => {
                pb::op::Op::Set(pb::SetRequest { path, data, expected_version, request: None })
            }
            Op::Delete { path, expected_version } => {
                pb::op::Op::Delete(pb::DeleteRequest { path, expected_version, request: None })
            }
        };
        pb::Op { op: Some(op) }
    };
    pb::TxnRequest {
        checks: txn.checks.into_iter().map(check).collect(),
        ops: txn.ops.into_iter().map(op).collect(),
        request: None,
    }
}

/// A committed transaction from the wire.
pub fn committed(response: pb::TxnResponse) -> Result<Committed, CoordError> {
    let result = |result: pb::OpResult| match result.result {
        Some(pb::op_result::Result::Create(c)) => Ok(OpResult::Created(created(c))),
        Some(pb::op_result::Result::Set(s)) => Ok(OpResult::Updated(updated(s))),
        Some(pb::op_result::Result::Delete(d)) => Ok(OpResult::Deleted(Revision(d.revision))),
        None => Err(CoordError::Internal {
            reason: "the server answered a transaction with an empty result: is it a Skyway server of this version?"
                .into(),
        }),
    };
    Ok(Committed {
        results: response.results.into_iter().map(result).collect::<Result<_, _>>()?,
        revision: Revision(response.revision),
    })
}

/// A node's status from the wire.
pub fn node_status(s: pb::StatusResponse) -> NodeStatus {
    NodeStatus {
        node_id: s.node_id,
        raft_role: s.raft_role,
        term: s.term,
        leader_id: s.has_leader.then_some(s.leader_id),
        leader_addr: (s.has_leader && !s.leader_addr.is_empty()).then_some(s.leader_addr),
        last_applied: s.last_applied,
        last_log_index: s.last_log_index,
        committed: s.committed,
        voters: s.voters,
        learners: s.learners,
        sessions: s.sessions,
        nodes: s.nodes,
        version: s.version,
        commit: s.commit,
    }
}

/// The cluster's nodes after a membership change, from the wire.
pub fn cluster_members(voters: Vec<u64>, learners: Vec<u64>) -> ClusterMembers {
    ClusterMembers { voters, learners }
}

/// The users from the wire.
pub fn users(response: pb::ListUsersResponse) -> Users {
    Users { names: response.names, auth_enabled: response.auth_enabled, revision: Revision(response.revision) }
}

/// The grants at a path from the wire.
pub fn acl(response: pb::GetAclResponse) -> Acl {
    Acl {
        grants: response
            .grants
            .into_iter()
            .map(|g| Grant { path: g.path, identity: g.identity, perms: g.perms })
            .collect(),
        auth_enabled: response.auth_enabled,
        revision: Revision(response.revision),
    }
}

/// A membership record from the wire.
pub fn membership_record(record: pb::MembershipRecord) -> MembershipRecord {
    let kind = match pb::membership_record::Kind::try_from(record.kind) {
        Ok(pb::membership_record::Kind::Joined) => MembershipKind::Joined,
        Ok(pb::membership_record::Kind::Left) => MembershipKind::Left,
        _ => MembershipKind::Failed,
    };
    MembershipRecord {
        revision: Revision(record.revision),
        kind,
        member: record.member,
        session: SessionId(record.session_id),
    }
}

/// A change event from the wire.
pub fn watch_event(event: pb::Event) -> WatchEvent {
    let kind = match pb::event::Kind::try_from(event.kind) {
        Ok(pb::event::Kind::Created) => WatchEventKind::Created,
        Ok(pb::event::Kind::Changed) => WatchEventKind::Changed,
        _ => WatchEventKind::Deleted,
    };
    let stat = event.stat.unwrap_or_default();
    WatchEvent {
        revision: Revision(event.revision),
        kind,
        path: event.path,
        data: event.data,
        version: stat.version,
        ephemeral_owner: (stat.ephemeral_owner != 0).then_some(SessionId(stat.ephemeral_owner)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_create_keeps_its_session_and_flags_on_the_wire() {
        let create =
            Create::new("/roles/r/c-", "me").ephemeral(SessionId(7)).sequential().make_parents().one_per_session();
        let wire = create_request(create);
        assert_eq!((wire.path.as_str(), &wire.data[..]), ("/roles/r/c-", &b"me"[..]));
        assert!(wire.ephemeral && wire.sequential && wire.make_parents && wire.one_per_session);
        assert_eq!(wire.session_id, 7);
        let persistent = create_request(Create::new("/a", ""));
        assert!(!persistent.ephemeral && persistent.session_id == 0);
    }

    #[test]
    fn a_transaction_keeps_its_checks_and_ops_in_order() {
        let txn = Txn {
            checks: vec![Check::Exists("/a".into()), Check::NotExists("/b".into()), Check::Version("/c".into(), 3)],
            ops: vec![
                Op::Create(Create::new("/b", "x")),
                Op::Set { path: "/c".into(), data: "y".into(), expected_version: Some(3) },
                Op::Delete { path: "/a".into(), expected_version: None },
            ],
        };
        let wire = txn_request(txn);
        let kinds: Vec<i32> = wire.checks.iter().map(|c| c.kind).collect();
        use pb::check::Kind;
        assert_eq!(kinds, [Kind::Exists as i32, Kind::NotExists as i32, Kind::Version as i32]);
        assert_eq!(wire.checks[2].version, 3);
        assert!(matches!(&wire.ops[0].op, Some(pb::op::Op::Create(c)) if c.path == "/b"));
        assert!(matches!(&wire.ops[1].op, Some(pb::op::Op::Set(s)) if s.expected_version == Some(3)));
        assert!(matches!(&wire.ops[2].op, Some(pb::op::Op::Delete(d)) if d.expected_version.is_none()));
    }

    #[test]
    fn answers_come_back_in_skyway_types() {
        let wire = pb::Stat {
            create_revision: 4,
            mod_revision: 9,
            version: 2,
            ephemeral_owner: 0,
            num_children: 1,
            data_length: 5,
        };
        let persistent = stat(Some(wire));
        assert_eq!((persistent.create_revision, persistent.mod_revision), (Revision(4), Revision(9)));
        assert_eq!(persistent.ephemeral_owner, None);
        assert_eq!(stat(Some(pb::Stat { ephemeral_owner: 7, ..wire })).ephemeral_owner, Some(SessionId(7)));
        let missing = existence(pb::ExistsResponse { found: false, stat: Some(wire), revision: 12 });
        assert_eq!((missing.stat, missing.revision), (None, Revision(12)));
        let empty = pb::TxnResponse { results: vec![pb::OpResult { result: None }], revision: 1 };
        assert!(matches!(committed(empty), Err(CoordError::Internal { .. })));
        let status = node_status(pb::StatusResponse { has_leader: false, leader_id: 0, ..Default::default() });
        assert_eq!(status.leader_id, None);
    }
}
