//! Hostile input on a real 3-node cluster (real processes): every gRPC method of the client API
//! fed random messages (empty, malformed and reserved paths, values past the limit, unknown and
//! random session ids, out-of-range consistency enums, random request ids and TTLs), the same
//! methods fed raw mutated and garbage protobuf bytes, and every node-to-node `RaftTransport`
//! method fed random `Payload` bytes. Afterwards: every node is up and still a voter, a valid
//! request still works, every refusal was a clear error (a message, never `INTERNAL` or
//! `UNKNOWN`), and each node's serializable read of the namespace equals the linearizable one.
//!
//! Case counts: 64 requests per property by default, `PROPTEST_CASES=N` for more;
//! `long_run_grpc` (ignored) sends 100 times as many:
//! `cargo test -p skyway-tests --test hostile_grpc -- --ignored`.
//!
//! Not fuzzed: `AddNode`/`RemoveNode` with arguments that would really change the membership
//! (they are legitimate administration, not hostile input); only their refusals are.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::{Buf, BufMut};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use skyway_coord::client::{Client, Consistency};
use skyway_coord::proto::coord::{self as pb, coord_client::CoordClient};
use skyway_coord::proto::raft::{Payload, raft_transport_client::RaftTransportClient};
use skyway_coord::status::ERROR_METADATA_KEY;
use skyway_tests::harness::{ProcessCluster, start_cluster};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic::{Code, Status};

const VALUE_BYTES_MAX: usize = 4096;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() })
}

// ---- random messages ----

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "/h(/[a-c]){0,3}",
        1 => Just(String::new()),
        1 => Just("/".to_string()),
        1 => Just("/skyway/members/x".to_string()),
        1 => Just("/skyway".to_string()),
        1 => "[/.a\u{0}\u{7}é]{0,12}",
        1 => (1usize..3000).prop_map(|n| format!("/h/{}", "x".repeat(n))),
        1 => any::<String>(),
    ]
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..32),
        1 => (VALUE_BYTES_MAX - 2..VALUE_BYTES_MAX + 2).prop_map(|n| vec![7u8; n]),
        1 => Just(vec![1u8; 200_000]),
    ]
}

fn session() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), 1u64..8, Just(u64::MAX), any::<u64>()]
}

fn version() -> impl Strategy<Value = Option<u64>> {
    proptest::option::of(prop_oneof![0u64..3, Just(u64::MAX)])
}

fn request_id() -> impl Strategy<Value = Option<pb::RequestId>> {
    proptest::option::of(
        (
            prop_oneof![Just(0u64), 1u64..4, any::<u64>()],
            prop_oneof![0u64..4, any::<u64>()],
            any::<u64>(),
            any::<bool>(),
            session(),
        )
            .prop_map(|(client_id, sequence, answered_below, retry, session_id)| pb::RequestId {
                client_id,
                sequence,
                answered_below,
                retry,
                session_id,
            }),
    )
}

fn consistency() -> impl Strategy<Value = i32> {
    prop_oneof![Just(0), Just(1), any::<i32>()]
}

fn create() -> impl Strategy<Value = pb::CreateRequest> {
    (path(), data(), any::<bool>(), any::<bool>(), any::<bool>(), session(), any::<bool>(), request_id()).prop_map(
        |(path, data, ephemeral, sequential, make_parents, session_id, one_per_session, request)| pb::CreateRequest {
            path,
            data: data.into(),
            ephemeral,
            sequential,
            make_parents,
            session_id,
            one_per_session,
            request,
        },
    )
}

fn set() -> impl Strategy<Value = pb::SetRequest> {
    (path(), data(), version(), request_id()).prop_map(|(path, data, expected_version, request)| pb::SetRequest {
        path,
        data: data.into(),
        expected_version,
        request,
    })
}

fn delete() -> impl Strategy<Value = pb::DeleteRequest> {
    (path(), version(), request_id()).prop_map(|(path, expected_version, request)| pb::DeleteRequest {
        path,
        expected_version,
        request,
    })
}

/// One call of the client API.
#[derive(Debug, Clone)]
enum Call {
    Create(pb::CreateRequest),
    Get(pb::GetRequest),
    Exists(pb::GetRequest),
    Set(pb::SetRequest),
    Delete(pb::DeleteRequest),
    Children(pb::ChildrenRequest),
    Txn(pb::TxnRequest),
    OpenSession(pb::OpenSessionRequest),
    KeepAlive(pb::KeepAliveRequest),
    CloseSession(pb::CloseSessionRequest),
    Watch(pb::WatchRequest),
    MembershipLog(pb::MembershipLogRequest),
    Status,
    AddNode(pb::AddNodeRequest),
    RemoveNode(pb::RemoveNodeRequest),
    ListSessions(pb::ListSessionsRequest),
    ListUsers(pb::ListUsersRequest),
    GetAcl(pb::GetAclRequest),
}

fn call() -> impl Strategy<Value = Call> {
    let get = || (path(), consistency()).prop_map(|(path, consistency)| pb::GetRequest { path, consistency });
    let op = prop_oneof![
        create().prop_map(pb::op::Op::Create),
        set().prop_map(pb::op::Op::Set),
        delete().prop_map(pb::op::Op::Delete)
    ];
    let op = proptest::option::of(op).prop_map(|op| pb::Op { op });
    let check = (path(), any::<i32>(), any::<u64>()).prop_map(|(path, kind, version)| pb::Check {
        path,
        kind: kind.rem_euclid(4),
        version,
    });
    prop_oneof![
        4 => create().prop_map(Call::Create),
        2 => get().prop_map(Call::Get),
        1 => get().prop_map(Call::Exists),
        2 => set().prop_map(Call::Set),
        2 => delete().prop_map(Call::Delete),
        1 => (path(), consistency()).prop_map(|(path, consistency)| Call::Children(pb::ChildrenRequest { path, consistency })),
        2 => (proptest::collection::vec(check, 0..4), proptest::collection::vec(op, 0..5), request_id())
            .prop_map(|(checks, ops, request)| Call::Txn(pb::TxnRequest { checks, ops, request })),
        2 => (prop_oneof![Just(0u64), 1u64..100, 50u64..5000, Just(u64::MAX)], "[a-z]{0,4}", request_id())
            .prop_map(|(ttl_ms, member_name, request)| Call::OpenSession(pb::OpenSessionRequest { ttl_ms, member_name, request })),
        1 => session().prop_map(|session_id| Call::KeepAlive(pb::KeepAliveRequest { session_id })),
        1 => (session(), request_id()).prop_map(|(session_id, request)| Call::CloseSession(pb::CloseSessionRequest { session_id, request })),
        1 => (path(), any::<bool>(), prop_oneof![Just(0u64), 1u64..50, Just(u64::MAX)])
            .prop_map(|(path, prefix, from_revision)| Call::Watch(pb::WatchRequest { path, prefix, from_revision })),
        1 => (prop_oneof![Just(0u64), any::<u64>()], consistency(), prop_oneof![Just(0u32), 1u32..5, Just(u32::MAX)])
            .prop_map(|(from_revision, consistency, limit)| Call::MembershipLog(pb::MembershipLogRequest { from_revision, consistency, limit })),
        1 => Just(Call::Status),
        1 => (any::<bool>(), prop_oneof![Just(String::new()), "[a-z:]{0,8}"])
            .prop_map(|(voter, addr)| Call::AddNode(pb::AddNodeRequest { node_id: 0, addr, voter })),
        1 => (1u64..=3, any::<bool>(), prop_oneof![Just(String::new()), "[a-z:]{0,8}", Just("127.0.0.1:0".to_string())])
            .prop_map(|(node_id, voter, addr)| Call::AddNode(pb::AddNodeRequest { node_id, addr, voter })),
        1 => prop_oneof![Just(0u64), 1000u64..2000, Just(u64::MAX)].prop_map(|node_id| Call::RemoveNode(pb::RemoveNodeRequest { node_id })),
        1 => (prop_oneof![Just(0u64), any::<u64>()], consistency(), prop_oneof![Just(0u32), 1u32..5, 9_999u32..10_002, Just(u32::MAX)])
            .prop_map(|(after_session_id, consistency, limit)| Call::ListSessions(pb::ListSessionsRequest { consistency, after_session_id, limit })),
        1 => consistency().prop_map(|consistency| Call::ListUsers(pb::ListUsersRequest { consistency })),
        1 => (path(), consistency()).prop_map(|(path, consistency)| Call::GetAcl(pb::GetAclRequest { path, consistency })),
    ]
}

/// Sends one call; `Ok(true)` if a server answered it (a reply, or a refusal of its own rather
/// than the transport's), `Err` only for a refusal that is not a clear error.
async fn send(client: &mut CoordClient<Channel>, call: Call) -> Result<bool, String> {
    let result: Result<(), Status> = match call.clone() {
        Call::Create(r) => client.create(r).await.map(drop),
        Call::Get(r) => client.get(r).await.map(drop),
        Call::Exists(r) => client.exists(r).await.map(drop),
        Call::Set(r) => client.set(r).await.map(drop),
        Call::Delete(r) => client.delete(r).await.map(drop),
        Call::Children(r) => client.children(r).await.map(drop),
        Call::Txn(r) => client.txn(r).await.map(drop),
        Call::OpenSession(r) => client.open_session(r).await.map(drop),
        Call::KeepAlive(r) => client.keep_alive(r).await.map(drop),
        Call::CloseSession(r) => client.close_session(r).await.map(drop),
        Call::Watch(r) => match client.watch(r).await {
            // The first batch (or its refusal), then hang up.
            Ok(response) => {
                let mut stream = response.into_inner();
                match tokio::time::timeout(Duration::from_millis(100), stream.message()).await {
                    Ok(Err(status)) => Err(status),
                    _ => Ok(()),
                }
            }
            Err(status) => Err(status),
        },
        Call::MembershipLog(r) => client.membership_log(r).await.map(drop),
        Call::Status => client.status(pb::StatusRequest {}).await.map(drop),
        Call::AddNode(r) => client.add_node(r).await.map(drop),
        Call::RemoveNode(r) => client.remove_node(r).await.map(drop),
        Call::ListSessions(r) => client.list_sessions(r).await.map(drop),
        Call::ListUsers(r) => client.list_users(r).await.map(drop),
        Call::GetAcl(r) => client.get_acl(r).await.map(drop),
    };
    match result {
        Err(status) => clear(&status).map(|()| served(&status)).map_err(|e| format!("{call:?}: {e}")),
        Ok(()) => Ok(true),
    }
}

/// Whether a refusal came from a server's handler rather than from the transport: otherwise a
/// run against nodes that never answered would pass.
fn served(status: &Status) -> bool {
    status.code() != Code::Unavailable || status.metadata().get(ERROR_METADATA_KEY).is_some()
}

/// A refusal is clear when it has a code a client can act on and a message saying why.
/// `UNKNOWN` is the documented code of an unknown outcome (see `coord.proto`) and must carry
/// the `skyway-error` metadata; `INTERNAL` ("a bug or a disk failure") never answers bad input,
/// except tonic's own refusal of bytes that are not the method's protobuf message, which gRPC
/// servers answer with `INTERNAL` by convention and which names the message and the field.
fn clear(status: &Status) -> Result<(), String> {
    let unclear = || Err(format!("unclear refusal {:?}: {:?}", status.code(), status.message()));
    if status.message().trim().len() < 8 {
        return unclear();
    }
    match status.code() {
        Code::Unknown if status.metadata().get(ERROR_METADATA_KEY).is_none() => unclear(),
        Code::Internal if !status.message().starts_with("failed to decode Protobuf message") => unclear(),
        _ => Ok(()),
    }
}

// ---- raw bytes on the wire ----

/// Raw bytes in and out: to send a gRPC method bytes that are not (quite) its message.
#[derive(Clone, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

const UNARY_METHODS: &[&str] = &[
    "Create",
    "Get",
    "Exists",
    "Set",
    "Delete",
    "Children",
    "Txn",
    "OpenSession",
    "KeepAlive",
    "CloseSession",
    "MembershipLog",
    "Status",
    "RemoveNode",
    "ListSessions",
    "ListUsers",
    "GetAcl",
];

async fn send_raw(channel: &Channel, service: &str, method: &str, bytes: Vec<u8>) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.map_err(|e| Status::unavailable(format!("not ready: {e}")))?;
    let path = tonic::codegen::http::uri::PathAndQuery::try_from(format!("/{service}/{method}")).unwrap();
    grpc.unary(tonic::Request::new(bytes), path, RawCodec).await.map(tonic::Response::into_inner)
}

fn mutate(mut bytes: Vec<u8>, flips: &[(usize, u8)], cut: Option<usize>, tail: &[u8]) -> Vec<u8> {
    for &(i, v) in flips {
        if !bytes.is_empty() {
            let len = bytes.len();
            bytes[i % len] ^= v;
        }
    }
    if let Some(cut) = cut {
        bytes.truncate(cut % (bytes.len() + 1));
    }
    bytes.extend_from_slice(tail);
    bytes
}

// ---- the cluster afterwards ----

/// Every node is up, a voter, agrees on one leader; a write and a linearizable read work; and
/// each node's serializable view of `/h` equals the linearizable one.
async fn healthy_and_consistent(cluster: &ProcessCluster) -> anyhow::Result<()> {
    let client = cluster.client()?;
    cluster.wait_for_leader(Duration::from_secs(10)).await?;
    for id in 1..=3 {
        anyhow::ensure!(cluster.is_running(id), "node {id} died");
    }
    for (endpoint, status) in client.status_all().await {
        let status = status.map_err(|e| anyhow::anyhow!("{endpoint}: {e}"))?;
        anyhow::ensure!(status.voters == [1, 2, 3], "{endpoint}: voters {:?}", status.voters);
    }
    let probe = format!("/alive-{}", std::process::id());
    let _ = client.delete(&probe, None).await;
    client.create_node(&probe, "yes").await?;
    anyhow::ensure!(client.get(&probe, Consistency::Linearizable).await?.data.as_ref() == b"yes");
    client.delete(&probe, None).await?;

    let truth = tree(&client, Consistency::Linearizable).await?;
    for endpoint in cluster.endpoints() {
        let local = Client::connect(std::slice::from_ref(&endpoint))?;
        // Followers apply asynchronously: give each a moment to catch up before comparing.
        let mut seen = BTreeMap::new();
        for _ in 0..50 {
            seen = tree(&local, Consistency::Serializable).await?;
            if seen == truth {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::ensure!(seen == truth, "{endpoint} serves a different /h:\n{seen:?}\nlinearizable:\n{truth:?}");
    }
    Ok(())
}

/// Path → (data, version) for `/h` and everything below it.
async fn tree(client: &Client, consistency: Consistency) -> anyhow::Result<BTreeMap<String, (Vec<u8>, u64)>> {
    let mut out = BTreeMap::new();
    if client.exists("/h", consistency).await?.stat.is_some() {
        let mut stack = vec!["/h".to_string()];
        while let Some(path) = stack.pop() {
            let got = client.get(&path, consistency).await?;
            out.insert(path.clone(), (got.data.to_vec(), got.stat.version));
            for name in client.children(&path, consistency).await?.names {
                stack.push(format!("{path}/{name}"));
            }
        }
    }
    Ok(out)
}

// ---- the properties ----

fn cluster_and_runtime() -> (tokio::runtime::Runtime, ProcessCluster, tempfile::TempDir, Vec<Channel>) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // The processes are tokio children: start them inside the runtime.
    let (cluster, dir) =
        rt.block_on(async { start_cluster(&["--value-bytes-max", &VALUE_BYTES_MAX.to_string()]) }).unwrap();
    let channels = rt.block_on(async {
        cluster.wait_for_leader(Duration::from_secs(20)).await.unwrap();
        let mut channels = Vec::new();
        for endpoint in cluster.endpoints() {
            channels.push(Channel::from_shared(format!("http://{endpoint}")).unwrap().connect().await.unwrap());
        }
        channels
    });
    (rt, cluster, dir, channels)
}

fn random_messages(cases: u32) {
    let (rt, cluster, _dir, channels) = cluster_and_runtime();
    let answered = AtomicU32::new(0);
    runner(cases)
        .run(&(0..3usize, call()), |(node, call)| {
            let mut client = CoordClient::new(channels[node].clone()).max_decoding_message_size(64 << 20);
            let served = rt.block_on(send(&mut client, call)).map_err(TestCaseError::fail)?;
            answered.fetch_add(u32::from(served), Ordering::Relaxed);
            Ok(())
        })
        .unwrap();
    // Shrinking may add runs, never remove them: at least `cases` were sent.
    assert!(answered.into_inner() >= cases / 2, "most requests must reach a server's handler");
    rt.block_on(healthy_and_consistent(&cluster)).unwrap();
}

#[test]
fn random_messages_to_every_method_get_clear_errors_and_the_cluster_stays_consistent() {
    random_messages(cases());
}

#[test]
#[ignore = "long run: cargo test -p skyway-tests --test hostile_grpc -- --ignored"]
fn long_run_grpc() {
    random_messages(cases() * 100);
}

#[test]
fn mutated_and_garbage_bytes_to_every_method_and_the_raft_transport_hurt_nothing() {
    let (rt, cluster, _dir, channels) = cluster_and_runtime();
    let valid =
        (call(), proptest::collection::vec((any::<usize>(), 1u8..=255), 0..4), proptest::option::of(any::<usize>()));
    let answered = AtomicU32::new(0);
    let input =
        (0..3usize, 0..UNARY_METHODS.len(), valid, proptest::collection::vec(any::<u8>(), 0..64), any::<bool>());
    runner(cases())
        .run(&input, |(node, method, (call, flips, cut), tail, garbage_only)| {
            use prost::Message;
            // A real message of some method, mutated, sent to some (possibly other) method.
            let bytes = match &call {
                Call::Create(r) => r.encode_to_vec(),
                Call::Set(r) => r.encode_to_vec(),
                Call::Txn(r) => r.encode_to_vec(),
                Call::Get(r) | Call::Exists(r) => r.encode_to_vec(),
                Call::OpenSession(r) => r.encode_to_vec(),
                _ => Vec::new(),
            };
            let bytes = if garbage_only { tail.clone() } else { mutate(bytes, &flips, cut, &tail) };
            let result = rt.block_on(send_raw(&channels[node], "skyway.coord.v1.Coord", UNARY_METHODS[method], bytes));
            if let Err(status) = &result {
                clear(status).map_err(|e| TestCaseError::fail(format!("{}: {e}", UNARY_METHODS[method])))?;
            }
            answered.fetch_add(u32::from(result.as_ref().map_or_else(served, |_| true)), Ordering::Relaxed);
            Ok(())
        })
        .unwrap();
    assert!(answered.swap(0, Ordering::Relaxed) >= cases() / 2, "most requests must reach a server's handler");
    rt.block_on(healthy_and_consistent(&cluster)).unwrap();

    // Node to node: random payloads to every transport method, on every node's peer port.
    let peer_channels: Vec<Channel> = rt.block_on(async {
        let mut peer_channels = Vec::new();
        for node in cluster.nodes.values() {
            let uri = format!("http://{}", node.peer_addr);
            peer_channels.push(Channel::from_shared(uri).unwrap().connect().await.unwrap());
        }
        peer_channels
    });
    const TRANSPORT: &[&str] = &["AppendEntries", "Vote", "PreVote", "InstallSnapshot", "TransferLeader", "Forward"];
    runner(cases())
        .run(&(0..3usize, 0..TRANSPORT.len(), proptest::collection::vec(any::<u8>(), 0..96)), |(node, method, data)| {
            let mut client = RaftTransportClient::new(peer_channels[node].clone());
            let request = Payload { data: data.into() };
            let result = rt.block_on(async {
                match TRANSPORT[method] {
                    "AppendEntries" => client.append_entries(request).await,
                    "Vote" => client.vote(request).await,
                    "PreVote" => client.pre_vote(request).await,
                    "InstallSnapshot" => client.install_snapshot(futures::stream::iter([request])).await,
                    "TransferLeader" => client.transfer_leader(request).await,
                    _ => client.forward(request).await,
                }
            });
            if let Err(status) = &result {
                clear(status).map_err(|e| TestCaseError::fail(format!("{}: {e}", TRANSPORT[method])))?;
            }
            answered.fetch_add(u32::from(result.as_ref().map_or_else(served, |_| true)), Ordering::Relaxed);
            Ok(())
        })
        .unwrap();
    assert!(answered.into_inner() >= cases() / 2, "most payloads must reach a node's transport");
    rt.block_on(healthy_and_consistent(&cluster)).unwrap();
}

#[test]
fn garbage_and_truncated_frames_on_the_port_hurt_nothing() {
    use tokio::io::AsyncWriteExt;
    let (rt, cluster, _dir, _channels) = cluster_and_runtime();
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    runner(cases())
        .run(&(0..3usize, 0..=PREFACE.len(), proptest::collection::vec(any::<u8>(), 0..512)), |(node, cut, garbage)| {
            let endpoint = cluster.endpoints()[node].clone();
            rt.block_on(async {
                // A truncated preface then garbage, or a whole preface then garbage frames.
                let mut stream = tokio::net::TcpStream::connect(&endpoint).await.unwrap();
                let _ = stream.write_all(&PREFACE[..cut]).await;
                let _ = stream.write_all(&garbage).await;
                let _ = stream.shutdown().await;
            });
            Ok(())
        })
        .unwrap();
    rt.block_on(healthy_and_consistent(&cluster)).unwrap();
}
