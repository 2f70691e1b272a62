//! Conversions between wire (protobuf) types and core types, with the edge checks: paths
//! parse, values fit the limit, ephemeral nodes name a session. Nothing else converts.

use bytes::Bytes;

use crate::config::NodeConfig;
use crate::core::acl::Grant;
use crate::core::clients::RequestId;
use crate::core::command::{Check, CreateOp, DeleteOp, Op, Outcome, SetOp};
use crate::core::event::{Event, EventKind};
use crate::core::membership::{MembershipKind, MembershipRecord};
use crate::core::node::Stat;
use crate::core::path::NodePath;
use crate::core::types::{ClientId, SessionId};
use crate::error::CoordError;
use crate::proto::coord as pb;

/// Checks a value against the size limit.
pub fn check_value(data: &Bytes, config: &NodeConfig) -> Result<(), CoordError> {
    if data.len() > config.value_bytes_max {
        return Err(CoordError::TooLarge { size: data.len(), max: config.value_bytes_max });
    }
    Ok(())
}

/// A value from a request, copied into an allocation of its own. Decoded `bytes` fields are
/// slices of the buffer tonic read the whole request into (8 KiB or more), and a slice keeps all
/// of that buffer alive: a stored 256-byte value held 8 KiB, in the namespace, the watch history
/// and the log's payload cache alike — about 4 KiB of memory per write on a leader that never
/// came back. Values are small (a limit says how small), so the copy costs little.
fn owned(data: Bytes) -> Bytes {
    Bytes::copy_from_slice(&data)
}

/// A create request as a core operation.
pub fn create_op(request: pb::CreateRequest, config: &NodeConfig) -> Result<CreateOp, CoordError> {
    let path = NodePath::parse(&request.path)?;
    check_value(&request.data, config)?;
    let ephemeral_owner = match (request.ephemeral, request.session_id) {
        (false, _) => None,
        (true, 0) => return Err(CoordError::EphemeralNeedsSession { path: request.path }),
        (true, id) => Some(SessionId(id)),
    };
    Ok(CreateOp {
        path,
        data: owned(request.data),
        ephemeral_owner,
        sequential: request.sequential,
        make_parents: request.make_parents,
        one_per_session: request.one_per_session,
    })
}

/// A write's request id, if it carries one (client id 0 means none).
pub fn request_id(request: Option<pb::RequestId>) -> Result<Option<RequestId>, CoordError> {
    let Some(request) = request.filter(|r| r.client_id != 0) else { return Ok(None) };
    if request.sequence == 0 {
        return Err(CoordError::InvalidArgument {
            reason: "a request id needs a sequence of at least 1 (number a client's writes 1, 2, 3, ...)".into(),
        });
    }
    if request.answered_below > request.sequence {
        return Err(CoordError::InvalidArgument {
            reason: format!(
                "request id says every write below {} was answered, yet sends write {}: send the lowest sequence still awaiting an answer",
                request.answered_below, request.sequence
            ),
        });
    }
    Ok(Some(RequestId {
        client: ClientId(request.client_id),
        sequence: request.sequence,
        answered_below: request.answered_below,
        retry: request.retry,
        session: (request.session_id != 0).then_some(SessionId(request.session_id)),
    }))
}

/// A set request as a core operation.
pub fn set_op(request: pb::SetRequest, config: &NodeConfig) -> Result<SetOp, CoordError> {
    check_value(&request.data, config)?;
    Ok(SetOp {
        path: NodePath::parse(&request.path)?,
        data: owned(request.data),
        expected_version: request.expected_version,
    })
}

/// A delete request as a core operation.
pub fn delete_op(request: pb::DeleteRequest) -> Result<DeleteOp, CoordError> {
    Ok(DeleteOp { path: NodePath::parse(&request.path)?, expected_version: request.expected_version })
}

/// A transaction check.
pub fn check(check: pb::Check) -> Result<Check, CoordError> {
    let path = NodePath::parse(&check.path)?;
    Ok(match pb::check::Kind::try_from(check.kind) {
        Ok(pb::check::Kind::Exists) => Check::Exists(path),
        Ok(pb::check::Kind::NotExists) => Check::NotExists(path),
        Ok(pb::check::Kind::Version) => Check::Version(path, check.version),
        Err(_) => return Err(CoordError::InvalidArgument { reason: format!("unknown check kind {}", check.kind) }),
    })
}

/// A transaction operation.
pub fn op(op: pb::Op, config: &NodeConfig) -> Result<Op, CoordError> {
    match op.op {
        Some(pb::op::Op::Create(request)) => Ok(Op::Create(create_op(request, config)?)),
        Some(pb::op::Op::Set(request)) => Ok(Op::Set(set_op(request, config)?)),
        Some(pb::op::Op::Delete(request)) => Ok(Op::Delete(delete_op(request)?)),
        None => Err(CoordError::InvalidArgument { reason: "transaction operation with no content".into() }),
    }
}

/// A stat on the wire.
pub fn stat(stat: Stat) -> pb::Stat {
    pb::Stat {
        create_revision: stat.create_revision.0,
        mod_revision: stat.mod_revision.0,
        version: stat.version,
        ephemeral_owner: stat.ephemeral_owner.map_or(0, |s| s.0),
        num_children: stat.num_children,
        data_length: stat.data_length,
    }
}

/// One transaction result on the wire.
pub fn op_result(outcome: Outcome, revision: u64) -> pb::OpResult {
    let result = match outcome {
        Outcome::Created { path, stat: s } => {
            pb::op_result::Result::Create(pb::CreateResponse { path: path.into(), stat: Some(stat(s)), revision })
        }
        Outcome::Set { stat: s } => pb::op_result::Result::Set(pb::SetResponse { stat: Some(stat(s)), revision }),
        _ => pb::op_result::Result::Delete(pb::DeleteResponse { revision }),
    };
    pb::OpResult { result: Some(result) }
}

/// A change event on the wire.
pub fn event(event: Event) -> pb::Event {
    let kind = match event.kind {
        EventKind::Created => pb::event::Kind::Created,
        EventKind::Changed => pb::event::Kind::Changed,
        EventKind::Deleted => pb::event::Kind::Deleted,
    };
    pb::Event {
        revision: event.revision.0,
        kind: kind as i32,
        path: event.path.into(),
        data: event.data,
        stat: Some(stat(event.stat)),
    }
}

/// A membership record on the wire.
pub fn membership_record(record: MembershipRecord) -> pb::MembershipRecord {
    let kind = match record.kind {
        MembershipKind::Joined => pb::membership_record::Kind::Joined,
        MembershipKind::Left => pb::membership_record::Kind::Left,
        MembershipKind::Failed => pb::membership_record::Kind::Failed,
    };
    pb::MembershipRecord {
        revision: record.revision.0,
        kind: kind as i32,
        member: record.member,
        session_id: record.session.0,
    }
}

/// A grant on the wire.
pub fn grant(grant: Grant) -> pb::Grant {
    pb::Grant { path: grant.path.into(), identity: grant.identity, perms: grant.perms.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value decoded from a request shares the request's buffer; what is stored must not.
    #[test]
    fn stored_values_do_not_keep_the_request_buffer_alive() {
        let buffer = Bytes::from(vec![7u8; 8192]);
        let value = buffer.slice(100..356);
        let range = buffer.as_ptr_range();
        assert!(range.contains(&value.as_ptr()), "the control: a slice shares its buffer");
        let config = NodeConfig::new(1, "127.0.0.1:1".parse().unwrap(), "/nonexistent".into());
        let set = set_op(pb::SetRequest { path: "/a".into(), data: value.clone(), ..Default::default() }, &config);
        let create = create_op(pb::CreateRequest { path: "/a".into(), data: value, ..Default::default() }, &config);
        for data in [set.unwrap().data, create.unwrap().data] {
            assert_eq!(data.len(), 256);
            assert!(!range.contains(&data.as_ptr()), "a stored value must own its bytes");
        }
    }
}
