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
        data: request.data,
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
    Ok(SetOp { path: NodePath::parse(&request.path)?, data: request.data, expected_version: request.expected_version })
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
