//! Property tests: every request and reply shape survives encode → frame → decode.

use corral_core::jute::{JuteReader, JuteWriter, Record};
use corral_core::proto::event::WatcherEvent;
use corral_core::proto::{
    encode_reply_frame, encode_request_frame, op, Acl, ConnectRequest, ConnectResponse,
    CreateRequest, Id, MultiResult, ReplyHeader, Request, RequestHeader, Response, SetWatches,
    Stat,
};
use corral_core::types::{SessionId, Zxid};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..24)
}

fn opt_bytes() -> impl Strategy<Value = Option<Vec<u8>>> {
    option::of(bytes())
}

fn acl() -> impl Strategy<Value = Acl> {
    (any::<i32>(), text(), text()).prop_map(|(perms, scheme, id)| Acl {
        perms,
        id: Id { scheme, id },
    })
}

fn acls() -> impl Strategy<Value = Option<Vec<Acl>>> {
    option::of(vec(acl(), 0..4))
}

fn stat() -> impl Strategy<Value = Stat> {
    (
        (any::<i64>(), any::<i64>(), any::<i64>(), any::<i64>()),
        (any::<i32>(), any::<i32>(), any::<i32>()),
        (any::<i64>(), any::<i32>(), any::<i32>(), any::<i64>()),
    )
        .prop_map(
            |(
                (czxid, mzxid, ctime, mtime),
                (version, cversion, aversion),
                (eph, dl, nc, pzxid),
            )| {
                Stat {
                    czxid: Zxid(czxid),
                    mzxid: Zxid(mzxid),
                    ctime,
                    mtime,
                    version,
                    cversion,
                    aversion,
                    ephemeral_owner: SessionId(eph),
                    data_length: dl,
                    num_children: nc,
                    pzxid: Zxid(pzxid),
                }
            },
        )
}

fn strings() -> impl Strategy<Value = Vec<String>> {
    vec(text(), 0..4)
}

/// create, create2, createContainer, createTTL (TTL present exactly for op 21).
fn create() -> impl Strategy<Value = Request> {
    (
        prop_oneof![
            Just(op::CREATE),
            Just(op::CREATE2),
            Just(op::CREATE_CONTAINER),
            Just(op::CREATE_TTL)
        ],
        text(),
        opt_bytes(),
        acls(),
        any::<i32>(),
        any::<i64>(),
    )
        .prop_map(|(op, path, data, acl, flags, ttl)| Request::Create {
            op,
            req: CreateRequest {
                path,
                data,
                acl,
                flags,
                ttl: (op == op::CREATE_TTL).then_some(ttl),
            },
        })
}

/// The sub-requests a multi (14) may carry.
fn write_sub_op() -> impl Strategy<Value = Request> {
    prop_oneof![
        create(),
        (text(), any::<i32>()).prop_map(|(path, version)| Request::Delete { path, version }),
        (text(), opt_bytes(), any::<i32>()).prop_map(|(path, data, version)| Request::SetData {
            path,
            data,
            version
        }),
        (text(), any::<i32>()).prop_map(|(path, version)| Request::Check { path, version }),
    ]
}

/// The sub-requests a multiRead (22) may carry.
fn read_sub_op() -> impl Strategy<Value = Request> {
    prop_oneof![
        (text(), any::<bool>()).prop_map(|(path, watch)| Request::GetData { path, watch }),
        (text(), any::<bool>()).prop_map(|(path, watch)| Request::GetChildren { path, watch }),
    ]
}

fn set_watches() -> impl Strategy<Value = Request> {
    (
        any::<bool>(),
        any::<i64>(),
        (strings(), strings(), strings()),
        (strings(), strings()),
    )
        .prop_map(|(v2, zxid, (data, exist, child), (p, pr))| {
            let (persistent, persistent_recursive) = if v2 { (p, pr) } else { (vec![], vec![]) };
            Request::SetWatches {
                v2,
                watches: SetWatches {
                    relative_zxid: Zxid(zxid),
                    data,
                    exist,
                    child,
                    persistent,
                    persistent_recursive,
                },
            }
        })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        write_sub_op(),
        (text(), any::<bool>()).prop_map(|(path, watch)| Request::Exists { path, watch }),
        read_sub_op(),
        (text(), any::<bool>()).prop_map(|(path, watch)| Request::GetChildren2 { path, watch }),
        text().prop_map(|path| Request::GetAcl { path }),
        (text(), acls(), any::<i32>()).prop_map(|(path, acl, version)| Request::SetAcl {
            path,
            acl,
            version
        }),
        text().prop_map(|path| Request::Sync { path }),
        Just(Request::Ping),
        Just(Request::WhoAmI),
        Just(Request::CloseSession),
        vec(write_sub_op(), 0..5).prop_map(Request::Multi),
        vec(read_sub_op(), 0..5).prop_map(Request::MultiRead),
        (any::<i32>(), text(), bytes()).prop_map(|(auth_type, scheme, auth)| Request::Auth {
            auth_type,
            scheme,
            auth
        }),
        set_watches(),
        (text(), any::<i32>()).prop_map(|(path, mode)| Request::AddWatch { path, mode }),
        (text(), any::<i32>())
            .prop_map(|(path, watcher_type)| Request::CheckWatches { path, watcher_type }),
        (text(), any::<i32>())
            .prop_map(|(path, watcher_type)| Request::RemoveWatches { path, watcher_type }),
        text().prop_map(|prefix| Request::GetEphemerals { prefix }),
        text().prop_map(|path| Request::GetAllChildrenNumber { path }),
        (
            option::of(text()),
            option::of(text()),
            option::of(text()),
            any::<i64>()
        )
            .prop_map(
                |(joining, leaving, new_members, config_id)| Request::Reconfig {
                    joining,
                    leaving,
                    new_members,
                    config_id
                }
            ),
    ]
}

fn multi_result() -> impl Strategy<Value = MultiResult> {
    prop_oneof![
        text().prop_map(|path| MultiResult::Create { path }),
        (text(), stat()).prop_map(|(path, stat)| MultiResult::Create2 { path, stat }),
        Just(MultiResult::Delete),
        stat().prop_map(|stat| MultiResult::SetData { stat }),
        Just(MultiResult::Check),
        strings().prop_map(|children| MultiResult::GetChildren { children }),
        (opt_bytes(), stat()).prop_map(|(data, stat)| MultiResult::GetData { data, stat }),
        any::<i32>().prop_map(MultiResult::Error),
    ]
}

/// A reply body and an opcode whose reply has that shape.
fn response() -> impl Strategy<Value = (i32, Response)> {
    prop_oneof![
        prop_oneof![
            Just(op::DELETE),
            Just(op::PING),
            Just(op::AUTH),
            Just(op::SET_WATCHES2),
            Just(op::CLOSE_SESSION)
        ]
        .prop_map(|op| (op, Response::Empty)),
        text().prop_map(|path| (op::CREATE, Response::Create { path })),
        (
            prop_oneof![
                Just(op::CREATE2),
                Just(op::CREATE_CONTAINER),
                Just(op::CREATE_TTL)
            ],
            text(),
            stat()
        )
            .prop_map(|(op, path, stat)| (op, Response::Create2 { path, stat })),
        (
            prop_oneof![Just(op::EXISTS), Just(op::SET_DATA), Just(op::SET_ACL)],
            stat()
        )
            .prop_map(|(op, stat)| (op, Response::Stat(stat))),
        (opt_bytes(), stat())
            .prop_map(|(data, stat)| (op::GET_DATA, Response::GetData { data, stat })),
        (vec(acl(), 0..4), stat())
            .prop_map(|(acl, stat)| (op::GET_ACL, Response::GetAcl { acl, stat })),
        strings().prop_map(|children| (op::GET_CHILDREN, Response::Children { children })),
        (strings(), stat()).prop_map(|(children, stat)| (
            op::GET_CHILDREN2,
            Response::Children2 { children, stat }
        )),
        text().prop_map(|path| (op::SYNC, Response::Sync { path })),
        (
            prop_oneof![Just(op::MULTI), Just(op::MULTI_READ)],
            vec(multi_result(), 0..6)
        )
            .prop_map(|(op, results)| (op, Response::Multi(results))),
        any::<i32>().prop_map(|e| (op::ADD_WATCH, Response::ErrorResponse(e))),
        strings().prop_map(|v| (op::GET_EPHEMERALS, Response::Ephemerals(v))),
        any::<i32>().prop_map(|n| (op::GET_ALL_CHILDREN_NUMBER, Response::AllChildrenNumber(n))),
        vec((text(), text()), 0..4).prop_map(|v| (op::WHO_AM_I, Response::WhoAmI(v))),
    ]
}

/// Check the length prefix and return the payload.
fn unframe(frame: &[u8]) -> &[u8] {
    let len = i32::from_be_bytes(frame[..4].try_into().unwrap());
    assert_eq!(len as usize, frame.len() - 4);
    &frame[4..]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn requests_round_trip(xid in any::<i32>(), req in request()) {
        let frame = encode_request_frame(xid, &req);
        let mut r = JuteReader::new(unframe(&frame));
        let hdr = RequestHeader::read(&mut r).unwrap();
        prop_assert_eq!(hdr, RequestHeader { xid, op: req.op() });
        let back = Request::decode(hdr.op, &mut r).unwrap();
        prop_assert_eq!(r.remaining(), 0);
        prop_assert_eq!(back, req);
    }

    #[test]
    fn responses_round_trip(
        xid in any::<i32>(),
        zxid in any::<i64>(),
        (op, resp) in response(),
    ) {
        let hdr = ReplyHeader { xid, zxid: Zxid(zxid), err: 0 };
        let frame = encode_reply_frame(hdr, Some(&resp));
        let mut r = JuteReader::new(unframe(&frame));
        prop_assert_eq!(ReplyHeader::read(&mut r).unwrap(), hdr);
        let back = Response::decode(op, &mut r).unwrap();
        prop_assert_eq!(r.remaining(), 0);
        prop_assert_eq!(back, resp);
    }

    #[test]
    fn error_replies_are_bare_headers(xid in any::<i32>(), zxid in any::<i64>(), err in any::<i32>()) {
        let hdr = ReplyHeader { xid, zxid: Zxid(zxid), err };
        let frame = encode_reply_frame(hdr, None);
        prop_assert_eq!(frame.len(), 4 + 16);
        prop_assert_eq!(ReplyHeader::from_bytes(unframe(&frame)).unwrap(), hdr);
    }

    #[test]
    fn handshake_records_round_trip(
        zxid in any::<i64>(),
        timeout in any::<i32>(),
        sid in any::<i64>(),
        passwd in bytes(),
        read_only in option::of(any::<bool>()),
    ) {
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: Zxid(zxid),
            timeout_ms: timeout,
            session_id: SessionId(sid),
            passwd: passwd.clone(),
            read_only,
        };
        let mut w = JuteWriter::new();
        req.write(&mut w);
        let b = w.into_inner();
        prop_assert_eq!(b.len(), 28 + passwd.len() + usize::from(read_only.is_some()));
        prop_assert_eq!(ConnectRequest::decode(&b).unwrap(), req);

        let resp = ConnectResponse {
            protocol_version: 0,
            timeout_ms: timeout,
            session_id: SessionId(sid),
            passwd: passwd.clone(),
            read_only,
        };
        let mut w = JuteWriter::new();
        resp.write(&mut w);
        let b = w.into_inner();
        prop_assert_eq!(b.len(), 20 + passwd.len() + usize::from(read_only.is_some()));
        prop_assert_eq!(ConnectResponse::decode(&b).unwrap(), resp);
    }

    #[test]
    fn watcher_events_round_trip(t in any::<i32>(), s in any::<i32>(), path in text()) {
        let ev = WatcherEvent { event_type: t, state: s, path };
        prop_assert_eq!(WatcherEvent::from_bytes(&ev.to_bytes()).unwrap(), ev);
    }
}
