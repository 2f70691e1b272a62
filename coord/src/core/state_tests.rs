//! Tests of the pure state machine: namespace, sessions, transactions, membership log and
//! watch history, without any I/O.

use bytes::Bytes;

use super::command::{Check, Command, CreateOp, DeleteOp, Op, Outcome, SetOp};
use super::event::EventKind;
use super::history::WatchFilter;
use super::membership::MembershipKind;
use super::path::NodePath;
use super::state::CoordState;
use super::types::{Revision, SessionId};
use crate::error::CoordError;

fn p(path: &str) -> NodePath {
    NodePath::parse(path).unwrap()
}

fn create(path: &str, data: &str) -> Command {
    Command::Create(CreateOp {
        path: p(path),
        data: Bytes::from(data.to_string()),
        ephemeral_owner: None,
        sequential: false,
        make_parents: false,
        one_per_session: false,
    })
}

/// A state machine plus the next revision to apply at.
struct Machine {
    state: CoordState,
    next: u64,
}

impl Machine {
    fn new() -> Self {
        Self { state: CoordState::new(1000), next: 1 }
    }
    fn apply(&mut self, command: Command) -> Result<Outcome, CoordError> {
        let revision = Revision(self.next);
        self.next += 1;
        self.state.apply(revision, &command)
    }
    fn data(&self, path: &str) -> String {
        String::from_utf8(self.state.get(&p(path)).unwrap().0.to_vec()).unwrap()
    }
    fn open(&mut self, member: Option<&str>) -> SessionId {
        match self.apply(Command::OpenSession { ttl_ms: 1000, member: member.map(str::to_string) }).unwrap() {
            Outcome::SessionOpened { session, .. } => session,
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn create_get_set_delete_with_versions() {
    let mut m = Machine::new();
    m.apply(create("/a", "one")).unwrap();
    assert_eq!(m.data("/a"), "one");
    let stat =
        match m.apply(Command::Set(SetOp { path: p("/a"), data: "two".into(), expected_version: Some(0) })).unwrap() {
            Outcome::Set { stat } => stat,
            other => panic!("{other:?}"),
        };
    assert_eq!((stat.version, stat.create_revision, stat.mod_revision), (1, Revision(1), Revision(2)));
    let stale = m.apply(Command::Set(SetOp { path: p("/a"), data: "three".into(), expected_version: Some(0) }));
    assert_eq!(stale, Err(CoordError::BadVersion { path: "/a".into(), expected: 0, actual: 1 }));
    assert_eq!(m.data("/a"), "two", "a failed conditional set changes nothing");
    let stale_delete = m.apply(Command::Delete(DeleteOp { path: p("/a"), expected_version: Some(0) }));
    assert!(matches!(stale_delete, Err(CoordError::BadVersion { .. })));
    m.apply(Command::Delete(DeleteOp { path: p("/a"), expected_version: Some(1) })).unwrap();
    assert!(m.state.exists(&p("/a")).is_none());
    assert_eq!(m.state.revision(), Revision(5), "every applied entry advances the revision, failed ones too");
}

#[test]
fn create_errors_change_nothing() {
    let mut m = Machine::new();
    assert!(matches!(m.apply(create("/x/y", "")), Err(CoordError::ParentMissing { .. })));
    m.apply(create("/x", "")).unwrap();
    assert!(matches!(m.apply(create("/x", "")), Err(CoordError::NodeExists { .. })));
    m.apply(create("/x/y", "")).unwrap();
    assert!(matches!(
        m.apply(Command::Delete(DeleteOp { path: p("/x"), expected_version: None })),
        Err(CoordError::NotEmpty { children: 1, .. })
    ));
    assert!(matches!(m.apply(create("/skyway/mine", "")), Err(CoordError::Reserved { .. })));
    let ghost = Command::Create(CreateOp {
        path: p("/e"),
        data: Bytes::new(),
        ephemeral_owner: Some(SessionId(99)),
        sequential: false,
        make_parents: false,
        one_per_session: false,
    });
    assert_eq!(m.apply(ghost), Err(CoordError::SessionExpired { session: 99 }));
    assert_eq!(m.state.node_count(), 3, "root, /x, /x/y");
}

#[test]
fn make_parents_and_sequential_names() {
    let mut m = Machine::new();
    let seq = |path: &str| {
        Command::Create(CreateOp {
            path: p(path),
            data: Bytes::new(),
            ephemeral_owner: None,
            sequential: true,
            make_parents: true,
            one_per_session: false,
        })
    };
    let names: Vec<String> = (0..3)
        .map(|_| match m.apply(seq("/roles/r/c-")).unwrap() {
            Outcome::Created { path, .. } => path.to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["/roles/r/c-0000000000", "/roles/r/c-0000000001", "/roles/r/c-0000000002"]);
    m.apply(Command::Delete(DeleteOp { path: p("/roles/r/c-0000000002"), expected_version: None })).unwrap();
    match m.apply(seq("/roles/r/c-")).unwrap() {
        Outcome::Created { path, .. } => {
            assert_eq!(path.as_str(), "/roles/r/c-0000000003", "the deleted c-0000000002 is not reused")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ephemeral_nodes_vanish_with_their_session_in_the_same_entry() {
    let mut m = Machine::new();
    let session = m.open(Some("cam-1"));
    m.apply(create("/cams", "")).unwrap();
    let eph = Command::Create(CreateOp {
        path: p("/cams/c1"),
        data: "on".into(),
        ephemeral_owner: Some(session),
        sequential: false,
        make_parents: false,
        one_per_session: false,
    });
    m.apply(eph).unwrap();
    let child = Command::Create(CreateOp {
        path: p("/cams/c1/x"),
        data: Bytes::new(),
        ephemeral_owner: None,
        sequential: false,
        make_parents: false,
        one_per_session: false,
    });
    assert!(matches!(m.apply(child), Err(CoordError::EphemeralParent { .. })));
    let expire_at = m.next;
    assert_eq!(
        m.apply(Command::ExpireSessions { sessions: vec![session, SessionId(12345)] }).unwrap(),
        Outcome::SessionsExpired { sessions: vec![session] }
    );
    assert!(m.state.exists(&p("/cams/c1")).is_none());
    assert!(m.state.exists(&p("/skyway/members/cam-1")).is_none());
    // The deletions and the failure record all carry the expiry's revision.
    let filter = WatchFilter { path: NodePath::root(), prefix: true };
    let (events, _) = m.state.events_since(Revision(expire_at), &filter, 100).unwrap();
    assert!(events.iter().all(|e| e.revision == Revision(expire_at)));
    let kinds: Vec<_> = events.iter().map(|e| (e.kind, e.path.to_string())).collect();
    assert!(kinds.contains(&(EventKind::Deleted, "/cams/c1".into())), "{kinds:?}");
    assert!(kinds.contains(&(EventKind::Deleted, "/skyway/members/cam-1".into())), "{kinds:?}");
    let log = m.state.membership_log(Revision(0)).unwrap();
    let summary: Vec<_> = log.iter().map(|r| (r.kind, r.member.as_str(), r.revision)).collect();
    assert_eq!(
        summary,
        [(MembershipKind::Joined, "cam-1", Revision(1)), (MembershipKind::Failed, "cam-1", Revision(expire_at))]
    );
    assert_eq!(m.apply(Command::CloseSession { session }), Err(CoordError::SessionExpired { session: session.0 }));
}

#[test]
fn closing_a_session_records_leaving() {
    let mut m = Machine::new();
    let session = m.open(Some("ctl-a"));
    assert!(
        matches!(
            m.apply(Command::OpenSession { ttl_ms: 1000, member: Some("ctl-a".into()) }),
            Err(CoordError::InvalidArgument { .. })
        ),
        "one member per name"
    );
    m.apply(Command::CloseSession { session }).unwrap();
    let kinds: Vec<_> = m.state.membership_log(Revision(0)).unwrap().iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [MembershipKind::Joined, MembershipKind::Left]);
    assert!(m.state.sessions().is_empty());
}

#[test]
fn transactions_are_all_or_nothing() {
    let mut m = Machine::new();
    m.apply(create("/t", "0")).unwrap();
    let failing = Command::Txn {
        checks: vec![Check::Exists(p("/t"))],
        ops: vec![
            Op::Create(CreateOp {
                path: p("/t/a"),
                data: Bytes::new(),
                ephemeral_owner: None,
                sequential: false,
                make_parents: false,
                one_per_session: false,
            }),
            Op::Set(SetOp { path: p("/t"), data: "1".into(), expected_version: None }),
            Op::Delete(DeleteOp { path: p("/missing"), expected_version: None }),
        ],
    };
    assert!(matches!(m.apply(failing), Err(CoordError::CheckFailed { index: 3, .. })));
    assert!(m.state.exists(&p("/t/a")).is_none(), "the create was rolled back");
    assert_eq!(m.data("/t"), "0", "the set was rolled back");
    assert_eq!(m.state.exists(&p("/t")).unwrap().version, 0);
    let check_fails = Command::Txn {
        checks: vec![Check::Version(p("/t"), 7)],
        ops: vec![Op::Set(SetOp { path: p("/t"), data: "1".into(), expected_version: None })],
    };
    assert!(matches!(m.apply(check_fails), Err(CoordError::CheckFailed { index: 0, .. })));
    let ok = Command::Txn {
        checks: vec![Check::Version(p("/t"), 0), Check::NotExists(p("/t/a"))],
        ops: vec![
            Op::Create(CreateOp {
                path: p("/t/a"),
                data: Bytes::new(),
                ephemeral_owner: None,
                sequential: false,
                make_parents: false,
                one_per_session: false,
            }),
            Op::Set(SetOp { path: p("/t"), data: "1".into(), expected_version: Some(0) }),
        ],
    };
    assert!(matches!(m.apply(ok).unwrap(), Outcome::Txn(results) if results.len() == 2));
    assert_eq!(m.data("/t"), "1");
}

#[test]
fn watch_history_is_ordered_filtered_and_compacts_whole_revisions() {
    let mut m = Machine { state: CoordState::new(5), next: 1 };
    m.apply(create("/w", "")).unwrap(); // rev 1
    for i in 0..6 {
        m.apply(Command::Set(SetOp { path: p("/w"), data: format!("{i}").into(), expected_version: None })).unwrap(); // revs 2..=7
    }
    let exact = WatchFilter { path: p("/w"), prefix: false };
    let err = m.state.events_since(Revision(1), &exact, 100).unwrap_err();
    assert!(matches!(err, CoordError::Compacted { requested: 1, oldest: 3, current: 7 }), "{err}");
    let (events, next) = m.state.events_since(Revision(3), &exact, 100).unwrap();
    let revisions: Vec<u64> = events.iter().map(|e| e.revision.0).collect();
    assert_eq!(revisions, [3, 4, 5, 6, 7]);
    assert_eq!(next, Revision(8));
    let (limited, next) = m.state.events_since(Revision(3), &exact, 2).unwrap();
    assert_eq!(limited.len(), 2);
    assert_eq!(next, Revision(5), "resume right after the last delivered revision");
    let other = WatchFilter { path: p("/other"), prefix: true };
    assert!(m.state.events_since(Revision(3), &other, 100).unwrap().0.is_empty());
}

#[test]
fn snapshots_round_trip_through_serde() {
    let mut m = Machine::new();
    let session = m.open(Some("a"));
    m.apply(create("/s", "v")).unwrap();
    let bytes = m.state.to_snapshot().unwrap();
    let restored = CoordState::from_snapshot(&bytes, 100).unwrap();
    assert_eq!(restored.revision(), m.state.revision());
    assert_eq!(restored.get(&p("/s")).unwrap(), m.state.get(&p("/s")).unwrap());
    assert_eq!(restored.sessions().get(&session), m.state.sessions().get(&session));
    assert_eq!(restored.membership_log(Revision(0)).unwrap(), m.state.membership_log(Revision(0)).unwrap());
    // The history is not in the snapshot: asking for what it held is a clear error, not a gap.
    let all = WatchFilter { path: NodePath::root(), prefix: true };
    assert!(matches!(restored.events_since(Revision(1), &all, 10), Err(CoordError::Compacted { oldest: 3, .. })));
    assert!(restored.events_since(Revision(3), &all, 10).unwrap().0.is_empty());
}

#[test]
fn a_lease_checkpoint_records_remaining_ttls_and_changes_nothing_else() {
    let mut m = Machine::new();
    let a = m.open(Some("a"));
    let b = m.open(None);
    assert_eq!(m.state.sessions()[&a].checkpoint_remaining_ms, 1000, "opening counts as a checkpoint of the whole TTL");
    m.apply(Command::CloseSession { session: b }).unwrap();
    let events_before = m.state.history().len();
    let checkpoint = Command::CheckpointLeases { remaining: vec![(a, 700), (b, 900), (SessionId(999), 5)] };
    assert_eq!(m.apply(checkpoint).unwrap(), Outcome::Empty);
    assert_eq!(m.state.sessions()[&a].checkpoint_remaining_ms, 700);
    assert_eq!(m.state.sessions().len(), 1, "closed and unknown sessions are not brought back");
    assert_eq!(m.state.history().len(), events_before, "a checkpoint is not a change anyone watches");
}

#[test]
fn remembered_outcomes_survive_a_snapshot() {
    use super::clients::RequestId;
    use super::types::ClientId;
    let mut m = Machine::new();
    m.apply(create("/a", "0")).unwrap();
    let id = RequestId { client: ClientId(7), sequence: 1, answered_below: 1, retry: false, session: None };
    let set = Command::Set(SetOp { path: p("/a"), data: Bytes::from("1"), expected_version: None });
    let first = m.state.apply_request(Revision(2), Some(&id), &Default::default(), &set);
    let bytes = m.state.to_snapshot().unwrap();
    let mut restored = CoordState::from_snapshot(&bytes, 1000).unwrap();
    let retry = RequestId { retry: true, ..id };
    let again = restored.apply_request(Revision(3), Some(&retry), &Default::default(), &set);
    assert_eq!(again, first, "a restored replica answers the retry with the first outcome");
    assert_eq!(restored.get(&p("/a")).unwrap().1.version, 1, "and applies nothing again");
}

#[test]
fn the_namespace_counts_its_bytes_through_writes_rollbacks_and_snapshots() {
    let mut m = Machine::new();
    let base = m.state.data_bytes();
    m.apply(create("/a", "12345")).unwrap();
    assert_eq!(m.state.data_bytes(), base + 2 + 5, "path /a and five bytes");
    m.apply(Command::Set(SetOp { path: p("/a"), data: Bytes::from_static(b"1"), expected_version: None })).unwrap();
    assert_eq!(m.state.data_bytes(), base + 2 + 1);
    // A transaction that fails half-way takes its bytes back with it.
    let txn = Command::Txn {
        checks: vec![],
        ops: vec![
            Op::Create(CreateOp {
                path: p("/b"),
                data: Bytes::from_static(b"xxxx"),
                ephemeral_owner: None,
                sequential: false,
                make_parents: false,
                one_per_session: false,
            }),
            Op::Set(SetOp { path: p("/a"), data: Bytes::from_static(b"yyyyyy"), expected_version: Some(99) }),
        ],
    };
    assert!(m.apply(txn).is_err());
    assert_eq!(m.state.data_bytes(), base + 2 + 1, "a failed transaction left bytes behind");
    let restored = CoordState::from_snapshot(&m.state.to_snapshot().unwrap(), 10).unwrap();
    assert_eq!(restored.data_bytes(), m.state.data_bytes(), "a snapshot must restore the count");
    m.apply(Command::Delete(DeleteOp { path: p("/a"), expected_version: None })).unwrap();
    assert_eq!(m.state.data_bytes(), base);
}

#[test]
fn the_watch_history_is_bounded_by_bytes_and_batches_by_bytes() {
    use super::history::{BatchLimit, event_bytes};
    let mut m = Machine::new();
    let value = "v".repeat(1000);
    m.apply(create("/x", "")).unwrap();
    for _ in 0..10 {
        m.apply(Command::Set(SetOp { path: p("/x"), data: Bytes::from(value.clone()), expected_version: None }))
            .unwrap();
    }
    let one = 2 + 1000 + super::history::EVENT_OVERHEAD_BYTES;
    // Batches stop at about the byte limit, never splitting a revision.
    let all = WatchFilter { path: p("/x"), prefix: false };
    let (batch, next) = m.state.events_since(Revision(2), &all, BatchLimit { events: 1000, bytes: 3 * one }).unwrap();
    assert_eq!(batch.len(), 3, "three events of {one} bytes fill a batch of {}", 3 * one);
    assert_eq!(next, Revision(5));
    assert!(batch.iter().map(event_bytes).sum::<usize>() <= 3 * one);
    // The history itself keeps only the newest revisions that fit its bytes.
    let bounded = m.state.clone().with_history_bytes_max(4 * one);
    assert!(bounded.history().bytes() <= 4 * one, "{} bytes kept", bounded.history().bytes());
    assert_eq!(bounded.history().len(), 4);
    let err = bounded.events_since(Revision(2), &all, 100).unwrap_err();
    assert!(matches!(err, CoordError::Compacted { oldest: 8, .. }), "{err}");
    // However small the bound, the newest revision stays whole.
    let tiny = m.state.clone().with_history_bytes_max(1);
    assert_eq!(tiny.history().len(), 1);
}

/// Joins and leaves `n` members, one after another: `2 * n` records.
fn churn(m: &mut Machine, n: usize) {
    for i in 0..n {
        let session = m.open(Some(&format!("m{i}")));
        m.apply(Command::CloseSession { session }).unwrap();
    }
}

#[test]
fn the_membership_log_keeps_its_window_and_reading_before_it_names_the_oldest_record() {
    let mut m = Machine::new();
    m.apply(Command::SetMembershipWindow { records_max: 3 }).unwrap();
    churn(&mut m, 3); // records at revisions 2..=7
    let log = m.state.membership_log(Revision(0)).unwrap();
    let revisions: Vec<u64> = log.iter().map(|r| r.revision.0).collect();
    assert_eq!(revisions, [5, 6, 7], "the newest three are kept, in order");
    assert_eq!(m.state.children(&p("/skyway/log")).unwrap().0.len(), 3, "trimmed records are deleted");
    assert_eq!(m.state.membership_window().trimmed_through, Revision(4));
    // From before the window: refused with the oldest record kept, never a silent gap.
    let error = m.state.membership_page(Revision(4), 0).unwrap_err();
    assert_eq!(error, CoordError::LogTrimmed { requested: 4, oldest: 5, records_max: 3 });
    assert!(error.to_string().contains("oldest record kept"), "{error}");
    // Inside it, and from 0 ("the oldest kept"), fine.
    assert_eq!(m.state.membership_page(Revision(5), 0).unwrap().records.len(), 3);
    assert_eq!(m.state.membership_page(Revision(6), 0).unwrap().records.len(), 2);
    // Trimming happens in the entry that appends: the trimmed record's deletion is its event.
    let all = WatchFilter { path: p("/skyway/log"), prefix: true };
    let (events, _) = m.state.events_since(Revision(7), &all, 100).unwrap();
    let kinds: Vec<_> = events.iter().map(|e| (e.kind, e.revision.0)).collect();
    assert_eq!(kinds, [(EventKind::Created, 7), (EventKind::Deleted, 7)]);
}

#[test]
fn the_membership_log_is_read_in_pages_that_say_where_the_next_starts() {
    let mut m = Machine::new();
    churn(&mut m, 3); // records at revisions 1..=6
    let first = m.state.membership_page(Revision(0), 4).unwrap();
    assert_eq!(first.records.iter().map(|r| r.revision.0).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!((first.next, first.oldest), (Some(Revision(5)), Some(Revision(1))));
    let second = m.state.membership_page(first.next.unwrap(), 4).unwrap();
    assert_eq!(second.records.iter().map(|r| r.revision.0).collect::<Vec<_>>(), [5, 6]);
    assert_eq!(second.next, None, "the last page says so");
    // A page exactly as long as what is left has no next page either.
    assert_eq!(m.state.membership_page(Revision(3), 4).unwrap().next, None);
    // Past the end: an empty last page, not an error.
    assert_eq!(m.state.membership_page(Revision(99), 4).unwrap().records, []);
    // Limits past the server's page size are cut to it.
    churn(&mut m, 600);
    let page = m.state.membership_page(Revision(0), usize::MAX).unwrap();
    assert_eq!(page.records.len(), super::membership::MEMBERSHIP_PAGE_RECORDS_MAX);
    assert_eq!(m.state.membership_log(Revision(0)).unwrap().len(), 1206, "every page joined");
}

#[test]
fn shrinking_the_window_trims_at_once_and_the_window_survives_snapshots() {
    let mut m = Machine::new();
    churn(&mut m, 4); // records at revisions 1..=8
    let refused = m.apply(Command::SetMembershipWindow { records_max: 0 }).unwrap_err();
    assert!(refused.to_string().contains("at least one"), "{refused}");
    m.apply(Command::SetMembershipWindow { records_max: 2 }).unwrap();
    assert_eq!(m.state.membership_log(Revision(0)).unwrap().len(), 2);
    let restored = CoordState::from_snapshot(&m.state.to_snapshot().unwrap(), 100).unwrap();
    assert_eq!(restored.membership_window(), m.state.membership_window());
    super::invariants::check(&restored).unwrap();
    assert!(matches!(restored.membership_page(Revision(1), 0), Err(CoordError::LogTrimmed { oldest: 7, .. })));
    // A replica restored from the snapshot trims the next record exactly as the original does.
    let mut replica = Machine { state: restored, next: m.next };
    let a = m.open(Some("late"));
    let b = replica.open(Some("late"));
    assert_eq!(a, b);
    assert_eq!(replica.state.membership_log(Revision(0)).unwrap(), m.state.membership_log(Revision(0)).unwrap());
    assert_eq!(m.state.membership_window().trimmed_through, Revision(7));
}

#[test]
fn permissions_survive_a_snapshot_and_are_checked_after_it() {
    use super::acl::{Caller, Perms, token_sha256};
    use super::invariants::decode_snapshot;
    let mut m = Machine::new();
    m.apply(create("/cameras", "")).unwrap();
    for (name, token) in [("root", "t-root"), ("cam", "t-cam")] {
        m.apply(Command::AddUser { name: name.into(), token_sha256: token_sha256(token) }).unwrap();
    }
    let grant = Command::SetAcl { path: p("/cameras"), identity: "cam".into(), perms: Perms::parse("c").unwrap() };
    m.apply(grant).unwrap();
    m.apply(Command::SetAuth { enabled: true }).unwrap();
    let mut restored = decode_snapshot(&m.state.to_snapshot().unwrap(), 1000).unwrap();
    assert_eq!(restored.acl(), m.state.acl());
    let cam = Caller::Token(token_sha256("t-cam"));
    let made = restored.apply_request(Revision(m.next), None, &cam, &create("/cameras/c1", "url"));
    assert!(made.result.is_ok(), "{made:?}");
    let refused = restored.apply_request(Revision(m.next + 1), None, &cam, &create("/other", "x"));
    assert!(matches!(refused.result, Err(CoordError::PermissionDenied { .. })), "{refused:?}");
    let anonymous = restored.apply_request(Revision(m.next + 2), None, &Caller::Anonymous, &create("/x", ""));
    assert!(matches!(anonymous.result, Err(CoordError::Unauthenticated { .. })), "{anonymous:?}");
    assert!(restored.exists(&p("/other")).is_none() && restored.exists(&p("/x")).is_none());
}
