//! The operator's orders from the dashboard: closing and reopening a lane or a runway.
//!
//! The demo never commands the actuator itself — it would be a second controller of the role,
//! the split brain fencing prevents. It writes the order to the operator's node of the role in
//! the coordinator ([`paths::operator_segment`], [`paths::operator_runway`]); the role's primary
//! reads that node on its next command tick and carries the order out as its own fenced command
//! ([`skyway_world::policy::operator`]). A failover keeps the order (the new primary reads the
//! same node). What is checked first, touching nothing: the role exists, the lane exists, one lane
//! stays open, the closure is not already (or no longer) in force.

use skyway_coord::CoordError;
use skyway_coord::client::{Client, Consistency, Create};
use skyway_world::Target;
use skyway_world::policy::operator::{RunwayOperatorOrder, SegmentOperatorOrder};
use skyway_world::summary::SegmentSummary;

use super::control::Refused;
use crate::live::paths;

/// Who the dashboard's orders are recorded as given by.
pub const DASHBOARD: &str = "dashboard";

/// The segment a `segment/N` target names, checked against the demo's roles.
pub fn segment_of(target: &str, roles: &[String]) -> Result<u32, Refused> {
    let segments: Vec<&str> = roles.iter().map(String::as_str).filter(|r| r.starts_with("segment/")).collect();
    match Target::of_role(target.trim()) {
        Ok(Target::Segment(n)) if segments.contains(&target.trim()) => Ok(n),
        _ => Err(Refused::new(
            400,
            format!("unknown segment {target:?}: give one of {} (and a lane)", segments.join(", ")),
        )),
    }
}

/// The runway a `runway/ID` target names, checked against the demo's roles.
pub fn runway_of(target: &str, roles: &[String]) -> Result<String, Refused> {
    let runways: Vec<&str> = roles.iter().map(String::as_str).filter(|r| r.starts_with("runway/")).collect();
    match Target::of_role(target.trim()) {
        Ok(Target::Runway(id)) if runways.contains(&target.trim()) => Ok(id),
        _ => Err(Refused::new(400, format!("unknown runway {target:?}: give one of {}", runways.join(", ")))),
    }
}

/// `order` changed as asked: `lane` closed or reopened. Pure: refuses a lane the road does not
/// have, closing the last open one, and a change that changes nothing.
pub fn changed(
    order: SegmentOperatorOrder,
    lane: u8,
    close: bool,
    lanes: u8,
    at_unix_ms: u64,
) -> Result<SegmentOperatorOrder, Refused> {
    if lane == 0 || lane > lanes {
        return Err(Refused::new(400, format!("unknown lane {lane}: this road has lanes 1..={lanes} (1 = rightmost)")));
    }
    match (close, order.closes(lane)) {
        (true, true) => Err(Refused::new(409, format!("lane {lane} is already closed by the operator"))),
        (false, false) => Err(Refused::new(
            409,
            format!(
                "lane {lane} is not closed by the operator (a closure of the segment's own primary, after a stall, \
                 ends by itself)"
            ),
        )),
        (true, false) => {
            let next = order.with_closed(lane, DASHBOARD, at_unix_ms);
            next.check(lanes).map_err(|e| Refused::new(400, e))?;
            Ok(next)
        }
        (false, true) => Ok(order.with_reopened(lane)),
    }
}

fn failed(path: &str, e: CoordError) -> Refused {
    Refused::new(500, format!("cannot write the operator's order {path}: {e}"))
}

/// Reads a node: its value and version (None: it does not exist).
async fn read(client: &Client, path: &str) -> Result<Option<(bytes::Bytes, u64)>, Refused> {
    match client.get(path, Consistency::Linearizable).await {
        Ok(reply) => Ok(Some((reply.data, reply.stat.version))),
        Err(CoordError::NotFound { .. }) => Ok(None),
        Err(e) => Err(Refused::new(500, format!("cannot read the operator's order {path}: {e}"))),
    }
}

/// Writes `value` to `path` (at `version` if it exists, so that two orders never overwrite each
/// other), or deletes it when `value` is None.
async fn write(client: &Client, path: &str, value: Option<Vec<u8>>, version: Option<u64>) -> Result<(), Refused> {
    let result = match (value, version) {
        (None, Some(v)) => client.delete(path, Some(v)).await.map(|_| ()),
        (None, None) => Ok(()),
        (Some(data), Some(v)) => client.set(path, data, Some(v)).await.map(|_| ()),
        (Some(data), None) => client.create(Create::new(path, data).make_parents()).await.map(|_| ()),
    };
    result.map_err(|e| failed(path, e))
}

/// Closes (or reopens) `lane` of segment `n` in the operator's order; returns the order now.
pub async fn order_lane(
    client: &Client,
    n: u32,
    lane: u8,
    close: bool,
    lanes: u8,
    at_unix_ms: u64,
) -> Result<SegmentOperatorOrder, Refused> {
    let path = paths::operator_segment(n);
    let current = read(client, &path).await?;
    let order = match &current {
        Some((data, _)) => serde_json::from_slice(data).map_err(|e| {
            Refused::new(500, format!("the operator's order {path} is malformed ({e}): delete it with skyway ctl"))
        })?,
        None => SegmentOperatorOrder::default(),
    };
    let next = changed(order, lane, close, lanes, at_unix_ms)?;
    let value = (!next.closed.is_empty()).then(|| serde_json::to_vec(&next).expect("an order serializes"));
    write(client, &path, value, current.map(|(_, v)| v)).await?;
    Ok(next)
}

/// Closes (or reopens) runway `id` in the operator's order.
pub async fn order_runway(client: &Client, id: &str, close: bool, at_unix_ms: u64) -> Result<(), Refused> {
    let path = paths::operator_runway(id);
    let current = read(client, &path).await?;
    match (close, &current) {
        (true, Some(_)) => Err(Refused::new(409, format!("runway {id} is already closed by the operator"))),
        (false, None) => Err(Refused::new(409, format!("runway {id} is not closed by the operator"))),
        (true, None) => {
            let order = RunwayOperatorOrder { by: DASHBOARD.to_string(), at_unix_ms };
            write(client, &path, Some(serde_json::to_vec(&order).expect("an order serializes")), None).await
        }
        (false, Some((_, version))) => write(client, &path, None, Some(*version)).await,
    }
}

/// What a running system's world publishes in the coordinator, for checking an order where the
/// demo's own layout is not at hand (`skyway dashboard --endpoints`): its roles (`segment/N` for
/// every `/world/segments/N`, `runway/ID` for every `/world/runways/ID`) and each segment's lanes
/// (from its latest loop summary).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishedLayout {
    /// The roles, segments first.
    pub roles: Vec<String>,
    /// Lanes per segment, as its summary's loops read them.
    pub lanes: std::collections::BTreeMap<u32, u8>,
}

impl PublishedLayout {
    /// Reads it from the coordinator.
    pub async fn read(client: &Client) -> Result<Self, Refused> {
        let mut layout = PublishedLayout::default();
        let segments = children(client, &format!("{}/segments", paths::WORLD)).await?;
        for name in segments {
            let Ok(n) = name.parse::<u32>() else { continue };
            let Some((data, _)) = read(client, &paths::segment(n)).await? else { continue };
            let summary: SegmentSummary = serde_json::from_slice(&data).map_err(|e| {
                Refused::new(500, format!("the world's summary {} is malformed ({e})", paths::segment(n)))
            })?;
            let lanes = summary.loops.iter().flat_map(|l| l.lanes.iter().map(|r| r.lane)).max().unwrap_or(0);
            layout.roles.push(format!("segment/{n}"));
            layout.lanes.insert(n, lanes);
        }
        for id in children(client, &format!("{}/runways", paths::WORLD)).await? {
            layout.roles.push(format!("runway/{id}"));
        }
        if layout.roles.is_empty() {
            return Err(Refused::new(
                409,
                format!(
                    "no world publishes in this coordinator ({} is empty): there is no lane or runway to order closed",
                    paths::WORLD
                ),
            ));
        }
        Ok(layout)
    }
}

/// The children's names of `path` (none when it does not exist).
async fn children(client: &Client, path: &str) -> Result<Vec<String>, Refused> {
    match client.children(path, Consistency::Linearizable).await {
        Ok(children) => Ok(children.names),
        Err(CoordError::NotFound { .. }) => Ok(Vec::new()),
        Err(e) => Err(Refused::new(500, format!("cannot read {path}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles() -> Vec<String> {
        ["segment/1", "segment/2", "runway/07L"].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn targets_are_the_demos_roles() {
        assert_eq!(segment_of("segment/2", &roles()), Ok(2));
        let e = segment_of("segment/9", &roles()).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.error.contains("unknown segment") && e.error.contains("segment/1, segment/2"), "{}", e.error);
        assert_eq!(segment_of("runway/07L", &roles()).unwrap_err().status, 400);
        assert_eq!(runway_of("runway/07L", &roles()), Ok("07L".to_string()));
        let e = runway_of("runway/09", &roles()).unwrap_err();
        assert!(e.error.contains("unknown runway") && e.error.contains("runway/07L"), "{}", e.error);
    }

    #[test]
    fn a_lane_is_closed_and_reopened_once_and_one_stays_open() {
        let closed = changed(SegmentOperatorOrder::default(), 2, true, 3, 10).unwrap();
        assert_eq!(closed.lanes(), [2]);
        assert_eq!(closed.closed[0].by, DASHBOARD);
        assert_eq!(changed(closed.clone(), 2, true, 3, 11).unwrap_err().status, 409);
        assert_eq!(changed(closed.clone(), 1, false, 3, 11).unwrap_err().status, 409);
        let e = changed(closed.clone(), 4, true, 3, 11).unwrap_err();
        assert!(e.status == 400 && e.error.contains("unknown lane 4"), "{}", e.error);
        assert!(changed(closed.clone(), 2, false, 3, 12).unwrap().closed.is_empty());
        let two = changed(closed, 1, true, 3, 12).unwrap();
        let e = changed(two, 3, true, 3, 13).unwrap_err();
        assert!(e.status == 400 && e.error.contains("keep at least one lane open"), "{}", e.error);
    }
}
