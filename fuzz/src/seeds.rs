//! The seed corpus, built from the codec so it stays in step with it. The files under
//! `corpus/<target>/` are written by `cargo run -p corral-fuzz --example write_seeds` and
//! `tests/corpus.rs` checks they still match.

use corral_core::jute::{JuteWriter, Record};
use corral_core::proto::event::WatcherEvent;
use corral_core::proto::{
    encode_reply_frame, encode_request_frame, op, Acl, ConnectRequest, ConnectResponse,
    CreateRequest, MultiHeader, MultiResult, ReplyHeader, Request, Response, SetWatches, Stat,
};
use corral_core::types::{SessionId, Zxid};

use crate::client::ClientScript;

/// One seed input.
#[derive(Clone, Debug)]
pub struct Seed {
    /// Target name (corpus directory).
    pub target: &'static str,
    /// File name.
    pub name: &'static str,
    pub data: Vec<u8>,
}

/// Every seed of every target.
pub fn seeds() -> Vec<Seed> {
    let mut out = Vec::new();
    let mut add = |target, list: Vec<(&'static str, Vec<u8>)>| {
        out.extend(
            list.into_iter()
                .map(|(name, data)| Seed { target, name, data }),
        )
    };
    add("fuzz_request", request_seeds());
    add("fuzz_connect", connect_seeds());
    add("fuzz_response", response_seeds());
    add("fuzz_client", client_seeds());
    add("fuzz_server", server_seeds());
    add("fuzz_peer", peer_seeds());
    add("fuzz_replica", crate::replica::replica_seeds());
    out
}

/// A request payload (no length prefix).
fn req(xid: i32, r: &Request) -> Vec<u8> {
    encode_request_frame(xid, r)[4..].to_vec()
}

fn create(op: i32, path: &str, data: Option<&[u8]>) -> Request {
    Request::Create {
        op,
        req: CreateRequest {
            path: path.into(),
            data: data.map(<[u8]>::to_vec),
            acl: Some(Acl::open_unsafe()),
            flags: if op == op::CREATE_TTL { 5 } else { 0 },
            ttl: (op == op::CREATE_TTL).then_some(60_000),
        },
    }
}

fn header(xid: i32, op: i32) -> JuteWriter {
    let mut w = JuteWriter::new();
    w.write_i32(xid);
    w.write_i32(op);
    w
}

fn request_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let long_multi = Request::Multi(
        (0..200)
            .map(|i| Request::Delete {
                path: format!("/n{i}"),
                version: -1,
            })
            .collect(),
    );
    let create_req = req(1, &create(op::CREATE, "/a", Some(b"x")));
    let mut bad_sub = header(5, op::MULTI);
    MultiHeader {
        op: op::GET_DATA,
        done: false,
        err: -1,
    }
    .write(&mut bad_sub);
    bad_sub.write_string("/a");
    bad_sub.write_bool(false);
    MultiHeader::END.write(&mut bad_sub);
    let mut huge_path = header(1, op::GET_DATA);
    huge_path.write_i32(i32::MAX);
    huge_path.write_raw(b"/a");
    let mut null_path = header(1, op::EXISTS);
    null_path.write_i32(-1);
    null_path.write_bool(true);
    let mut bad_acl_len = header(1, op::SET_ACL);
    bad_acl_len.write_string("/");
    bad_acl_len.write_i32(-2);
    bad_acl_len.write_i32(0);
    let mut no_end = header(9, op::MULTI);
    MultiHeader {
        op: op::CHECK,
        done: false,
        err: -1,
    }
    .write(&mut no_end);
    no_end.write_string("/");
    no_end.write_i32(0);
    vec![
        ("empty", vec![]),
        ("ping", req(-2, &Request::Ping)),
        ("create_open_acl", create_req.clone()),
        (
            "create2_null_data",
            req(2, &create(op::CREATE2, "/b", None)),
        ),
        (
            "create_ttl",
            req(3, &create(op::CREATE_TTL, "/t", Some(b""))),
        ),
        (
            "create_container",
            req(4, &create(op::CREATE_CONTAINER, "/c", None)),
        ),
        (
            "get_data_watch",
            req(
                5,
                &Request::GetData {
                    path: "/a".into(),
                    watch: true,
                },
            ),
        ),
        (
            "set_data_null",
            req(
                6,
                &Request::SetData {
                    path: "/a".into(),
                    data: None,
                    version: -1,
                },
            ),
        ),
        (
            "set_acl_null_acl",
            req(
                7,
                &Request::SetAcl {
                    path: "/a".into(),
                    acl: None,
                    version: 0,
                },
            ),
        ),
        (
            "multi_create_check",
            req(
                8,
                &Request::Multi(vec![
                    create(op::CREATE, "/m", None),
                    Request::Check {
                        path: "/m".into(),
                        version: 3,
                    },
                ]),
            ),
        ),
        (
            "multi_read",
            req(
                9,
                &Request::MultiRead(vec![
                    Request::GetData {
                        path: "/".into(),
                        watch: false,
                    },
                    Request::GetChildren {
                        path: "/".into(),
                        watch: true,
                    },
                ]),
            ),
        ),
        ("multi_read_op_in_write_multi", bad_sub.into_inner()),
        ("multi_no_end_marker", no_end.into_inner()),
        ("multi_200_deletes", req(10, &long_multi)),
        (
            "auth_digest",
            req(
                -4,
                &Request::Auth {
                    auth_type: 0,
                    scheme: "digest".into(),
                    auth: b"alice:secret".to_vec(),
                },
            ),
        ),
        (
            "set_watches2",
            req(
                -8,
                &Request::SetWatches {
                    v2: true,
                    watches: SetWatches {
                        relative_zxid: Zxid(0x1_0000_0005),
                        data: vec!["/a".into()],
                        exist: vec!["/b".into()],
                        child: vec!["/".into()],
                        persistent: vec!["/p".into()],
                        persistent_recursive: vec!["/r".into()],
                    },
                },
            ),
        ),
        (
            "add_watch_recursive",
            req(
                11,
                &Request::AddWatch {
                    path: "/".into(),
                    mode: 1,
                },
            ),
        ),
        ("unknown_op_55", header(12, 55).into_inner()),
        (
            "create_truncated",
            create_req[..create_req.len() / 2].to_vec(),
        ),
        ("huge_path_length", huge_path.into_inner()),
        ("null_path", null_path.into_inner()),
        ("negative_acl_count", bad_acl_len.into_inner()),
        (
            "reconfig_nulls",
            req(
                13,
                &Request::Reconfig {
                    joining: None,
                    leaving: Some("3".into()),
                    new_members: None,
                    config_id: -1,
                },
            ),
        ),
        ("close_session", req(14, &Request::CloseSession)),
    ]
}

fn connect_req(session: i64, passwd: Vec<u8>, read_only: Option<bool>) -> Vec<u8> {
    let mut w = JuteWriter::new();
    ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: Zxid(0x1_0000_0002),
        timeout_ms: 30_000,
        session_id: SessionId(session),
        passwd,
        read_only,
    }
    .write(&mut w);
    w.into_inner()
}

fn connect_resp(timeout: i32, read_only: Option<bool>) -> Vec<u8> {
    let mut w = JuteWriter::new();
    ConnectResponse {
        protocol_version: 0,
        timeout_ms: timeout,
        session_id: SessionId(0x0100_0005_747f_0000),
        passwd: (1..=16).collect(),
        read_only,
    }
    .write(&mut w);
    w.into_inner()
}

fn connect_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let java = connect_req(0, vec![0; 16], Some(false));
    let mut null_pw = java[..24].to_vec();
    null_pw.extend((-1i32).to_be_bytes());
    null_pw.push(1);
    let mut huge_pw = java[..24].to_vec();
    huge_pw.extend(0x7fff_ffffi32.to_be_bytes());
    let mut long_pw_short_input = java[..24].to_vec();
    long_pw_short_input.extend(100i32.to_be_bytes());
    long_pw_short_input.extend([9; 10]);
    let mut trailing = java.clone();
    trailing.extend([1, 2, 3, 4]);
    let mut ro_7f = java.clone();
    *ro_7f.last_mut().unwrap() = 0x7f;
    vec![
        ("empty", vec![]),
        ("java_45", java.clone()),
        ("old_client_44", java[..44].to_vec()),
        (
            "resume_session",
            connect_req(0x0100_0005_747f_0000, vec![7; 16], Some(true)),
        ),
        ("empty_password", connect_req(0, vec![], Some(false))),
        ("response_37", connect_resp(4000, Some(false))),
        ("response_36", connect_resp(4000, None)),
        ("response_read_only", connect_resp(4000, Some(true))),
        ("response_expired", connect_resp(0, Some(false))),
        ("response_negative_timeout", connect_resp(-1, None)),
        ("null_password", null_pw),
        ("huge_password_length", huge_pw),
        ("password_longer_than_input", long_pw_short_input),
        ("truncated_10", java[..10].to_vec()),
        ("truncated_at_password", java[..24].to_vec()),
        ("four_bytes", vec![0, 0, 0, 45]),
        ("trailing_garbage", trailing),
        ("read_only_byte_7f", ro_7f),
        ("all_ff_45", vec![0xff; 45]),
        ("all_zero_45", vec![0; 45]),
    ]
}

/// The position of `op` in the selector table of `fuzz_response`.
fn sel(op: i32) -> u8 {
    crate::REPLY_OPS
        .iter()
        .position(|&o| o == op)
        .expect("op in the reply table") as u8
}

fn resp(op: i32, r: &Response) -> Vec<u8> {
    let mut w = JuteWriter::new();
    w.write_u8(sel(op));
    r.write_body(&mut w);
    w.into_inner()
}

fn stat() -> Stat {
    Stat {
        czxid: Zxid(0x1_0000_0002),
        mzxid: Zxid(0x1_0000_0003),
        ctime: 1_700_000_000_000,
        mtime: 1_700_000_000_500,
        version: 1,
        cversion: -1,
        aversion: 0,
        ephemeral_owner: SessionId(0),
        data_length: 1,
        num_children: 1,
        pzxid: Zxid(0x1_0000_0004),
    }
}

fn response_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let failed_multi = Response::Multi(vec![MultiResult::Error(0), MultiResult::Error(-103)]);
    let long_multi = Response::Multi(vec![MultiResult::Delete; 300]);
    let multi_body = resp(op::MULTI, &failed_multi);
    let mut unknown_result = vec![sel(op::MULTI)];
    let mut w = JuteWriter::new();
    MultiHeader {
        op: op::GET_ACL,
        done: false,
        err: 0,
    }
    .write(&mut w);
    MultiHeader::END.write(&mut w);
    unknown_result.extend(w.into_inner());
    let mut huge_children = vec![sel(op::GET_CHILDREN)];
    huge_children.extend(i32::MAX.to_be_bytes());
    let mut null_children = vec![sel(op::GET_CHILDREN2)];
    null_children.extend((-1i32).to_be_bytes());
    null_children.extend(stat().to_bytes());
    let stat_body = resp(op::EXISTS, &Response::Stat(stat()));
    let mut notification = JuteWriter::new();
    ReplyHeader {
        xid: -1,
        zxid: Zxid(-1),
        err: 0,
    }
    .write(&mut notification);
    WatcherEvent {
        event_type: 4,
        state: 3,
        path: "/a".into(),
    }
    .write(&mut notification);
    let error_reply = encode_reply_frame(
        ReplyHeader {
            xid: 3,
            zxid: Zxid(0x1_0000_0007),
            err: -101,
        },
        None,
    )[4..]
        .to_vec();
    vec![
        ("empty", vec![]),
        (
            "create",
            resp(op::CREATE, &Response::Create { path: "/a".into() }),
        ),
        (
            "create2",
            resp(
                op::CREATE2,
                &Response::Create2 {
                    path: "/a0000000001".into(),
                    stat: stat(),
                },
            ),
        ),
        (
            "get_data_null",
            resp(
                op::GET_DATA,
                &Response::GetData {
                    data: None,
                    stat: stat(),
                },
            ),
        ),
        (
            "get_data",
            resp(
                op::GET_DATA,
                &Response::GetData {
                    data: Some(b"hello".to_vec()),
                    stat: stat(),
                },
            ),
        ),
        (
            "get_acl",
            resp(
                op::GET_ACL,
                &Response::GetAcl {
                    acl: Acl::open_unsafe(),
                    stat: stat(),
                },
            ),
        ),
        (
            "children",
            resp(
                op::GET_CHILDREN,
                &Response::Children {
                    children: vec!["a".into(), "zookeeper".into()],
                },
            ),
        ),
        (
            "children2",
            resp(
                op::GET_CHILDREN2,
                &Response::Children2 {
                    children: vec!["x".into()],
                    stat: stat(),
                },
            ),
        ),
        ("multi_failed", multi_body.clone()),
        (
            "multi_truncated",
            multi_body[..multi_body.len() - 5].to_vec(),
        ),
        ("multi_unknown_result_type", unknown_result),
        (
            "multi_read_results",
            resp(
                op::MULTI_READ,
                &Response::Multi(vec![
                    MultiResult::GetData {
                        data: Some(vec![1]),
                        stat: stat(),
                    },
                    MultiResult::GetChildren {
                        children: vec!["c".into()],
                    },
                    MultiResult::Error(-101),
                ]),
            ),
        ),
        ("multi_300_deletes", resp(op::MULTI, &long_multi)),
        (
            "add_watch",
            resp(op::ADD_WATCH, &Response::ErrorResponse(0)),
        ),
        (
            "who_am_i",
            resp(
                op::WHO_AM_I,
                &Response::WhoAmI(vec![("ip".into(), "127.0.0.1".into())]),
            ),
        ),
        (
            "ephemerals",
            resp(
                op::GET_EPHEMERALS,
                &Response::Ephemerals(vec!["/e1".into(), "/e2".into()]),
            ),
        ),
        (
            "all_children_number",
            resp(op::GET_ALL_CHILDREN_NUMBER, &Response::AllChildrenNumber(7)),
        ),
        ("huge_children_count", huge_children),
        ("null_children", null_children),
        ("stat_truncated", stat_body[..40].to_vec()),
        ("notification", notification.into_inner()),
        ("error_reply_header", error_reply),
    ]
}

fn client_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let base = || ClientScript::new(2, 60).connect().accept(60, 0);
    // A bogus reply (xid 2 before xid 1) as a raw frame.
    let mut out_of_order = JuteWriter::new();
    ReplyHeader {
        xid: 2,
        zxid: Zxid(5),
        err: 0,
    }
    .write(&mut out_of_order);
    let out_of_order = out_of_order.into_inner();
    let mut s = vec![
        ("empty", vec![]),
        ("config_only", vec![7, 1]),
        ("get_data_reply", base().submit(0).reply(0).build()),
        (
            "pipelined_five",
            base()
                .submit(0)
                .submit(1)
                .submit(2)
                .submit(3)
                .submit(7)
                .reply(0)
                .reply(4)
                .reply(0)
                .reply(0)
                .reply(0)
                .build(),
        ),
        ("expired", base().lost().connect().accept(0, 0).build()),
        (
            "reconnect_rearms_watches",
            base()
                .submit(0)
                .submit(1)
                .submit(4)
                .submit(13)
                .reply(0)
                .reply(4)
                .reply(0)
                .reply(0)
                .lost()
                .connect()
                .accept(60, 0)
                .reply(0)
                .reply(0)
                .build(),
        ),
        (
            "pings",
            base()
                .deadline()
                .reply(0)
                .deadline()
                .reply(0)
                .deadline()
                .deadline()
                .deadline()
                .build(),
        ),
        ("read_timeout", base().advance(5000).advance(5000).build()),
        (
            "connect_timeout",
            ClientScript::new(0, 30).connect().deadline().build(),
        ),
        ("auth_failed", base().submit(13).submit(0).reply(9).build()),
        ("close", base().submit(16).reply(0).submit(0).build()),
        ("garbage_frame", base().raw(&[1, 2, 3, 4, 5, 6, 7]).build()),
        (
            "out_of_order",
            base().submit(0).submit(0).raw(&out_of_order).build(),
        ),
        (
            "notifications",
            base()
                .submit(0)
                .reply(0)
                .notify(5, 1, 0)
                .notify(3, 1, 200)
                .notify(4, 0, 0)
                .notify(60, 0, 0)
                .build(),
        ),
        (
            "read_only",
            ClientScript::new(1, 60)
                .connect()
                .accept(60, 1)
                .lost()
                .connect()
                .accept(60, 0)
                .build(),
        ),
        (
            "garbage_body",
            base().submit(6).reply_body(0, &[0xff; 12]).build(),
        ),
        (
            "error_replies",
            base()
                .submit(8)
                .submit(9)
                .submit(19)
                .reply(4)
                .reply(6)
                .reply(5)
                .build(),
        ),
        (
            "multi_and_multi_read",
            base().submit(10).submit(11).reply(0).reply(0).build(),
        ),
        (
            "held_until_connected",
            ClientScript::new(2, 60)
                .submit(0)
                .submit(15)
                .connect()
                .accept(60, 0)
                .reply(0)
                .reply(0)
                .build(),
        ),
        (
            "small_frame_limit",
            ClientScript::new(6, 60)
                .connect()
                .accept(60, 0)
                .submit(18)
                .reply(0)
                .build(),
        ),
        (
            "after_expiry",
            base()
                .lost()
                .submit(0)
                .connect()
                .accept(0, 0)
                .submit(1)
                .connect()
                .build(),
        ),
    ];
    s.push(("undefined_error_code", base().submit(0).reply(15).build()));
    s
}

/// Server scripts: each byte drives one decision of `fuzz_server` (see `server.rs`). These
/// open connections, handshake, send menu requests and complete persistence in various
/// orders; the names say what they lean on.
fn server_seeds() -> Vec<(&'static str, Vec<u8>)> {
    // step kinds: 0 open, 1 handshake, 2/3 request, 4 raw, 5 persist all, 6 persist one,
    // 7 advance time, 8 close.
    let open_and_connect = vec![0u8, 0, 1, 0, 3, 0, 0, 200, 0, 5];
    let with = |tail: &[u8]| {
        let mut v = open_and_connect.clone();
        v.extend_from_slice(tail);
        v
    };
    vec![
        ("empty", vec![]),
        ("open_only", vec![0, 0]),
        ("handshake", open_and_connect.clone()),
        (
            "create_then_persist",
            with(&[2, 0, 0, 1, 0, 0, 7, 0, 0, 1, 5]),
        ),
        (
            "pipelined_unpersisted",
            with(&[2, 0, 0, 1, 0, 2, 0, 1, 4, 0, 3, 0, 3, 0, 4, 1, 6, 6]),
        ),
        (
            "multi",
            with(&[2, 0, 0, 1, 7, 3, 0, 1, 0, 0, 0, 5, 2, 1, 0, 2, 5]),
        ),
        (
            "ephemeral_expire",
            with(&[2, 0, 3, 1, 0, 0, 9, 0, 1, 5, 7, 200, 7, 200, 7, 200, 5]),
        ),
        (
            "watch_then_change",
            with(&[2, 0, 0, 1, 0, 0, 4, 4, 0, 5, 2, 0, 0, 1, 3, 5]),
        ),
        ("close_session", with(&[2, 0, 0, 1, 13, 5, 8, 0])),
        (
            "raw_garbage",
            with(&[4, 0, 12, 0, 0, 0, 1, 0, 0, 0, 55, 1, 2, 3, 4]),
        ),
        ("raw_handshake_garbage", vec![0, 0, 4, 0, 3, 1, 2, 3]),
        ("resume_session", with(&[0, 0, 1, 1, 1, 0, 100, 0, 5])),
        (
            "resume_wrong_password",
            with(&[0, 0, 1, 1, 7, 0, 100, 0, 5]),
        ),
        ("ahead_client", vec![0, 0, 0, 1, 0, 0, 3, 100, 0, 5]),
        (
            "container_reap",
            with(&[2, 0, 2, 1, 2, 0, 1, 0, 0, 0, 2, 0, 1, 2, 0, 0, 5, 7, 40, 5]),
        ),
        (
            "ttl",
            with(&[2, 0, 0, 1, 3, 0, 2, 0, 5, 2, 5, 7, 250, 7, 250, 5]),
        ),
        (
            "acl_and_auth",
            with(&[2, 0, 1, 11, 2, 0, 0, 8, 5, 2, 0, 0, 3, 5]),
        ),
        ("set_watches", with(&[2, 0, 0, 10, 1, 0, 0, 5])),
        ("remove_watches", with(&[2, 0, 0, 9, 1, 2, 0, 0, 12, 3, 5])),
        ("close_conn_midflight", with(&[2, 0, 0, 1, 0, 0, 8, 0, 5])),
        (
            "many_conns",
            vec![
                0, 0, 0, 0, 0, 1, 0, 3, 0, 0, 1, 1, 3, 0, 0, 5, 2, 1, 0, 1, 5,
            ],
        ),
    ]
}

/// Peer frames: one of each message kind, and a Hello.
fn peer_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use corral_core::types::{Epoch, ServerId};
    use corral_core::zab::election::{ElectionEpoch, Notification, PeerState, Vote};
    use corral_core::zab::message::{
        encode, Forward, Hello, LearnerSession, PeerMessage, RejectReason, ReqTag, WireEntry,
        ZabBody, ZabMessage, PEER_PROTOCOL_VERSION,
    };
    let z = |b: ZabBody| {
        encode(&PeerMessage::Zab(ZabMessage {
            session: LearnerSession(0x1234_5678),
            body: b,
        }))
    };
    let zx = Zxid(0x1_0000_0003);
    let e = Epoch(2);
    vec![
        (
            "vote",
            encode(&PeerMessage::Vote(Notification {
                vote: Vote {
                    leader: ServerId(3),
                    zxid: zx,
                    peer_epoch: e,
                },
                election_epoch: ElectionEpoch(5),
                state: PeerState::Looking,
                sender: ServerId(2),
            })),
        ),
        (
            "hello",
            encode(&Hello {
                version: PEER_PROTOCOL_VERSION,
                from: ServerId(3),
                to: ServerId(1),
            }),
        ),
        (
            "followerinfo",
            z(ZabBody::FollowerInfo {
                accepted_epoch: e,
                accepted_leader: Some(ServerId(3)),
                current_epoch: e,
                last_zxid: zx,
            }),
        ),
        (
            "ackepoch",
            z(ZabBody::AckEpoch {
                epoch: e,
                current_epoch: e,
                last_zxid: zx,
                applied_zxid: zx,
            }),
        ),
        ("ack", z(ZabBody::Ack { zxid: zx })),
        (
            "request",
            z(ZabBody::Request {
                req: 7,
                forward: Forward::Request {
                    session: SessionId(9),
                    payload: req(1, &Request::Ping),
                    ids: vec![("ip".into(), "10.0.0.1".into())],
                },
            }),
        ),
        (
            "create_session",
            z(ZabBody::Request {
                req: 8,
                forward: Forward::CreateSession {
                    session: SessionId(9),
                    timeout_ms: 4000,
                },
            }),
        ),
        (
            "error_txn",
            z(ZabBody::Request {
                req: 9,
                forward: Forward::Error {
                    session: SessionId(9),
                    cxid: 3,
                    err: -112,
                },
            }),
        ),
        (
            "revalidate",
            z(ZabBody::Revalidate {
                req: 1,
                session: SessionId(9),
                timeout_ms: 4000,
            }),
        ),
        ("sync", z(ZabBody::Sync { req: 2 })),
        (
            "pingreply",
            z(ZabBody::PingReply {
                acked: Some(zx),
                touches: vec![(SessionId(9), 4000)],
            }),
        ),
        ("leaderinfo", z(ZabBody::LeaderInfo { epoch: e })),
        ("trunc", z(ZabBody::Trunc { zxid: zx })),
        (
            "snap",
            z(ZabBody::Snap {
                zxid: Zxid(0),
                bytes: corral_core::snapshot::to_bytes(&corral_core::snapshot::Image::new()),
            }),
        ),
        (
            "propose",
            z(ZabBody::Propose {
                prev: zx,
                entries: vec![WireEntry {
                    bytes: vec![0; 28],
                    tag: Some(ReqTag {
                        server: ServerId(1),
                        req: 4,
                    }),
                }],
            }),
        ),
        (
            "newleader",
            z(ZabBody::NewLeader {
                epoch: e,
                last_zxid: zx,
            }),
        ),
        ("uptodate", z(ZabBody::UpToDate { committed: zx })),
        ("commit", z(ZabBody::Commit { zxid: zx })),
        ("ping", z(ZabBody::Ping { committed: zx })),
        (
            "syncdone",
            z(ZabBody::SyncDone {
                req: 2,
                committed: zx,
            }),
        ),
        (
            "revalidated",
            z(ZabBody::Revalidated {
                req: 1,
                valid: true,
            }),
        ),
        (
            "reject",
            z(ZabBody::Reject {
                reason: RejectReason::LearnerAhead,
            }),
        ),
    ]
}
