//! Server state machine tests: handshake, durability ordering, FIFO, watches, sessions,
//! recovery and determinism, driven through raw protocol frames.

mod harness;

use corral_core::error::ErrorCode;
use corral_core::proto::{CreateRequest, Request, Response};
use corral_core::server::ServerConfig;
use corral_core::types::{SessionId, Zxid};
use harness::{create, Frame, Harness};

fn config() -> ServerConfig {
    ServerConfig {
        extended_types_enabled: true,
        ..ServerConfig::default()
    }
}

fn get(path: &str, watch: bool) -> Request {
    Request::GetData {
        path: path.into(),
        watch,
    }
}

#[test]
fn handshake_creates_a_session_after_it_is_durable() {
    let mut h = Harness::new(config());
    h.auto_persist = false;
    let c = h.open();
    h.send_connect(c, SessionId(0), vec![0; 16], 30_000, Zxid(0));
    assert!(
        h.take(c).is_empty(),
        "no ConnectResponse before the createSession txn is durable"
    );
    assert_eq!(h.pending.len(), 1);
    h.persist_all();
    h.pump();
    match h.take(c).as_slice() {
        [Frame::Connect(r)] => {
            assert_eq!(r.timeout_ms, 30_000);
            assert_ne!(r.session_id, SessionId(0));
            assert_eq!(r.passwd.len(), 16);
            assert_eq!(r.read_only, Some(false));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        h.server.last_zxid(),
        Zxid(1),
        "session creation consumes a zxid"
    );
}

#[test]
fn timeouts_are_clamped_to_tick_bounds() {
    let mut h = Harness::new(config());
    assert_eq!(h.connect(100).1.timeout_ms, 4000);
    assert_eq!(h.connect(1_000_000_000).1.timeout_ms, 40000);
}

#[test]
fn write_reply_waits_for_durability_and_reads_of_others_wait_behind_it() {
    let mut h = Harness::new(config());
    let (a, _) = h.connect(30_000);
    let (b, _) = h.connect(30_000);
    h.auto_persist = false;
    h.submit(a, 1, &create("/x", b"v", 0));
    assert!(h.take(a).is_empty(), "no reply before fsync");
    // As in ZooKeeper's standalone pipeline, a read that arrives after a write (from any
    // session) is answered after it: it never sees non-durable state, and never misses a
    // write that was sent before it.
    h.submit(b, 1, &get("/x", false));
    assert!(
        h.take(b).is_empty(),
        "the read waits for the in-flight write"
    );
    h.persist_all();
    h.pump();
    match h.take(a).as_slice() {
        [Frame::Reply { hdr, .. }] => assert_eq!((hdr.xid, hdr.err), (1, 0)),
        other => panic!("unexpected {other:?}"),
    }
    match h.take(b).as_slice() {
        [Frame::Reply { hdr, body }] => match Harness::decode(&get("/x", false), hdr, body) {
            Some(Response::GetData { data, .. }) => assert_eq!(data.as_deref(), Some(&b"v"[..])),
            other => panic!("unexpected {other:?}"),
        },
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn reads_without_writes_in_flight_are_answered_at_once() {
    let mut h = Harness::new(config());
    let (a, _) = h.connect(30_000);
    h.auto_persist = false;
    h.submit(a, 1, &get("/", false));
    assert_eq!(h.take(a).len(), 1);
}

#[test]
fn pipelined_read_after_write_sees_the_write_and_replies_stay_in_order() {
    let mut h = Harness::new(config());
    let (a, _) = h.connect(30_000);
    h.auto_persist = false;
    h.submit(a, 1, &create("/p", b"1", 0));
    h.submit(a, 2, &get("/p", false));
    h.submit(
        a,
        3,
        &Request::SetData {
            path: "/p".into(),
            data: Some(b"2".to_vec()),
            version: 0,
        },
    );
    h.submit(a, 4, &get("/p", false));
    assert_eq!(
        h.pending.len(),
        2,
        "both writes are prepared at once (group commit)"
    );
    assert!(h.take(a).is_empty());
    h.persist_all();
    h.pump();
    let frames = h.take(a);
    let xids: Vec<i32> = frames
        .iter()
        .map(|f| match f {
            Frame::Reply { hdr, .. } => hdr.xid,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(xids, vec![1, 2, 3, 4]);
    // The read at xid 2 sees the create, not the later setData.
    let Frame::Reply { hdr, body } = &frames[1] else {
        unreachable!()
    };
    match Harness::decode(&get("/p", false), hdr, body) {
        Some(Response::GetData { data, stat }) => {
            assert_eq!(data.as_deref(), Some(&b"1"[..]));
            assert_eq!(stat.version, 0);
        }
        other => panic!("unexpected {other:?}"),
    }
    let Frame::Reply { hdr, body } = &frames[3] else {
        unreachable!()
    };
    match Harness::decode(&get("/p", false), hdr, body) {
        Some(Response::GetData { data, stat }) => {
            assert_eq!(data.as_deref(), Some(&b"2"[..]));
            assert_eq!(stat.version, 1);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn in_flight_writes_are_validated_against_each_other() {
    let mut h = Harness::new(config());
    let (a, _) = h.connect(30_000);
    h.auto_persist = false;
    h.submit(a, 1, &create("/dup", b"", 0));
    h.submit(a, 2, &create("/dup", b"", 0));
    h.submit(a, 3, &create("/dup/child", b"", 0));
    h.persist_all();
    h.pump();
    let errs: Vec<i32> = h
        .take(a)
        .iter()
        .map(|f| match f {
            Frame::Reply { hdr, .. } => hdr.err,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(errs, vec![0, ErrorCode::NodeExists.code(), 0]);
}

#[test]
fn failed_write_consumes_a_zxid() {
    let mut h = Harness::new(config());
    let (a, _) = h.connect(30_000);
    let before = h.server.last_zxid();
    let (hdr, _) = h.call(
        a,
        1,
        &Request::Delete {
            path: "/nope".into(),
            version: -1,
        },
    );
    assert_eq!(hdr.err, ErrorCode::NoNode.code());
    assert_eq!(hdr.zxid, before.next());
    assert_eq!(h.server.last_zxid(), before.next());
}

#[test]
fn watch_event_arrives_before_the_write_reply() {
    let mut h = Harness::new(config());
    let (a, _) = h.connect(30_000);
    h.call(a, 1, &create("/w", b"", 0));
    h.call(a, 2, &get("/w", true));
    h.submit(
        a,
        3,
        &Request::SetData {
            path: "/w".into(),
            data: None,
            version: -1,
        },
    );
    let frames = h.take(a);
    assert!(matches!(&frames[0], Frame::Event(e) if e.event_type == 3 && e.path == "/w"));
    assert!(matches!(&frames[1], Frame::Reply { hdr, .. } if hdr.xid == 3));
    // One-shot: a second change fires nothing.
    h.call(
        a,
        4,
        &Request::SetData {
            path: "/w".into(),
            data: None,
            version: -1,
        },
    );
    assert!(h.events(a).is_empty());
}

#[test]
fn session_expiry_deletes_ephemerals_and_fires_watches() {
    let mut h = Harness::new(config());
    let (a, ra) = h.connect(4000);
    let (b, _) = h.connect(30_000);
    h.call(a, 1, &create("/eph", b"", 1));
    h.call(
        b,
        1,
        &Request::Exists {
            path: "/eph".into(),
            watch: true,
        },
    );
    // b keeps its session alive with pings; a goes silent.
    for _ in 0..4 {
        h.advance(1500);
        h.call(b, -2, &Request::Ping);
    }
    assert!(
        h.closed.contains(&a),
        "the expired session's connection is closed"
    );
    assert_eq!(h.events(b), vec![(2, "/eph".to_string())]);
    let (hdr, _) = h.call(
        b,
        2,
        &Request::Exists {
            path: "/eph".into(),
            watch: false,
        },
    );
    assert_eq!(hdr.err, ErrorCode::NoNode.code());
    // Reconnecting to the expired session gets the invalid answer.
    let c = h.open();
    let r = h.handshake(c, ra.session_id, ra.passwd.clone(), 4000, Zxid(0));
    assert_eq!((r.timeout_ms, r.session_id), (0, SessionId(0)));
}

#[test]
fn reconnect_with_password_keeps_the_session_and_wrong_password_is_refused() {
    let mut h = Harness::new(config());
    let (a, ra) = h.connect(30_000);
    h.call(a, 1, &create("/mine", b"", 1));
    let last = h.server.last_zxid();
    let b = h.open();
    let r = h.handshake(b, ra.session_id, ra.passwd.clone(), 30_000, last);
    assert_eq!(r.session_id, ra.session_id);
    assert!(
        h.closed.contains(&a),
        "the old connection of the session is closed"
    );
    let (hdr, body) = h.call(b, 1, &Request::GetEphemerals { prefix: "/".into() });
    assert_eq!(hdr.err, 0);
    assert_eq!(body, Some(Response::Ephemerals(vec!["/mine".into()])));

    let c = h.open();
    let mut bad = ra.passwd.clone();
    bad[0] ^= 1;
    let r = h.handshake(c, ra.session_id, bad, 30_000, Zxid(0));
    assert_eq!(r.timeout_ms, 0);
    assert!(h.closed.contains(&c));
}

#[test]
fn client_ahead_of_the_server_is_refused() {
    let mut h = Harness::new(config());
    let c = h.open();
    h.send_connect(c, SessionId(0), vec![0; 16], 30_000, Zxid(1000));
    assert!(h.take(c).is_empty());
    assert!(h.closed.contains(&c));
}

#[test]
fn close_session_replies_then_closes_and_removes_ephemerals() {
    let mut h = Harness::new(config());
    let (a, _) = h.connect(30_000);
    let (b, _) = h.connect(30_000);
    h.call(a, 1, &create("/bye", b"", 1));
    let (hdr, _) = h.call(a, 2, &Request::CloseSession);
    assert_eq!(hdr.err, 0);
    assert!(h.closed.contains(&a));
    let (hdr, _) = h.call(
        b,
        1,
        &Request::Exists {
            path: "/bye".into(),
            watch: false,
        },
    );
    assert_eq!(hdr.err, ErrorCode::NoNode.code());
}

#[test]
fn unknown_opcode_and_standalone_check_get_unimplemented_and_close() {
    let mut h = Harness::new(config());
    let (a, _) = h.connect(30_000);
    let mut frame = vec![0, 0, 0, 7, 0, 0, 0, 55];
    frame.extend_from_slice(b"junk");
    h.send_raw(a, &frame);
    match h.take(a).as_slice() {
        [Frame::Reply { hdr, .. }] => {
            assert_eq!(
                (hdr.xid, hdr.zxid, hdr.err),
                (7, Zxid(-1), ErrorCode::Unimplemented.code())
            )
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(h.closed.contains(&a));

    let (b, _) = h.connect(30_000);
    let (hdr, _) = h.call(
        b,
        1,
        &Request::Check {
            path: "/".into(),
            version: -1,
        },
    );
    assert_eq!(hdr.err, ErrorCode::Unimplemented.code());
    assert!(h.closed.contains(&b));
}

#[test]
fn malformed_body_gets_marshalling_error_and_the_connection_stays() {
    let mut h = Harness::new(config());
    let (a, _) = h.connect(30_000);
    // getData (op 4) with a null path.
    h.send_raw(a, &[0, 0, 0, 9, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff, 0]);
    match h.take(a).as_slice() {
        [Frame::Reply { hdr, .. }] => assert_eq!(hdr.err, ErrorCode::MarshallingError.code()),
        other => panic!("unexpected {other:?}"),
    }
    assert!(!h.closed.contains(&a));
    let (hdr, _) = h.call(a, 10, &get("/", false));
    assert_eq!(hdr.err, 0);
}

#[test]
fn sequential_names_come_from_the_parent_counter_and_failed_multi_rolls_back() {
    let mut h = Harness::new(config());
    let (a, _) = h.connect(30_000);
    h.call(a, 1, &create("/s", b"", 0));
    h.call(a, 2, &create("/s/b", b"", 0));
    let (_, body) = h.call(a, 3, &create("/s/seq-", b"", 2));
    assert_eq!(
        body,
        Some(Response::Create {
            path: "/s/seq-0000000001".into()
        })
    );
    let multi = Request::Multi(vec![
        create("/s/seq-", b"", 2),
        Request::Check {
            path: "/s".into(),
            version: 99,
        },
    ]);
    let (hdr, body) = h.call(a, 4, &multi);
    assert_eq!(hdr.err, 0, "a failed multi still has header err 0");
    match body {
        Some(Response::Multi(results)) => assert_eq!(
            results,
            vec![
                corral_core::proto::MultiResult::Error(0),
                corral_core::proto::MultiResult::Error(ErrorCode::BadVersion.code()),
            ]
        ),
        other => panic!("unexpected {other:?}"),
    }
    let (_, body) = h.call(a, 5, &create("/s/seq-", b"", 2));
    assert_eq!(
        body,
        Some(Response::Create {
            path: "/s/seq-0000000002".into()
        })
    );
}

#[test]
fn ttl_needs_extended_types() {
    let mut h = Harness::new(ServerConfig::default());
    let (a, _) = h.connect(30_000);
    let req = Request::Create {
        op: 21,
        req: CreateRequest {
            path: "/ttl".into(),
            data: None,
            acl: Some(corral_core::proto::Acl::open_unsafe()),
            flags: 5,
            ttl: Some(1000),
        },
    };
    let (hdr, _) = h.call(a, 1, &req);
    assert_eq!(hdr.err, ErrorCode::Unimplemented.code());
}

#[test]
fn restart_recovers_acknowledged_writes_and_sessions() {
    let mut h = Harness::new(config());
    let (a, ra) = h.connect(30_000);
    h.call(a, 1, &create("/keep", b"data", 0));
    h.call(a, 2, &create("/keep/eph", b"", 1));
    h.auto_persist = false;
    h.submit(a, 3, &create("/lost", b"", 0));
    // Crash before the last write is durable: it was never acknowledged.
    h.restart(config());
    let b = h.open();
    let last = h.server.last_zxid();
    let r = h.handshake(b, ra.session_id, ra.passwd.clone(), 30_000, last);
    assert_eq!(
        r.session_id, ra.session_id,
        "the session survives the restart"
    );
    h.auto_persist = true;
    let (_, body) = h.call(b, 1, &get("/keep", false));
    assert!(matches!(body, Some(Response::GetData { data: Some(d), .. }) if d == b"data"));
    let (hdr, _) = h.call(b, 2, &get("/keep/eph", false));
    assert_eq!(hdr.err, 0);
    let (hdr, _) = h.call(b, 3, &get("/lost", false));
    assert_eq!(hdr.err, ErrorCode::NoNode.code());
}

#[test]
fn same_inputs_give_the_same_trace() {
    fn run() -> Vec<String> {
        let mut h = Harness::new(config());
        let (a, _) = h.connect(5000);
        let (b, _) = h.connect(30_000);
        h.call(
            b,
            1,
            &Request::AddWatch {
                path: "/".into(),
                mode: 1,
            },
        );
        for i in 0..20 {
            h.call(a, i + 1, &create(&format!("/n{i}"), b"x", i % 4));
        }
        h.advance(7000);
        h.call(
            b,
            2,
            &Request::GetChildren {
                path: "/".into(),
                watch: false,
            },
        );
        h.trace
    }
    let t1 = run();
    assert!(t1.len() > 40);
    assert_eq!(t1, run());
}

#[test]
fn close_session_removes_ephemerals_created_in_a_multi() {
    let mut h = Harness::new(config());
    let (a, _) = h.connect(30_000);
    let (b, _) = h.connect(30_000);
    h.call(b, 1, &create("/m", b"", 0));
    let multi = Request::Multi(vec![create("/m/e", b"", 1), create("/m/p", b"", 0)]);
    let (hdr, _) = h.call(a, 1, &multi);
    assert_eq!(hdr.err, 0);
    h.call(a, 2, &Request::CloseSession);
    let (_, body) = h.call(
        b,
        2,
        &Request::GetChildren {
            path: "/m".into(),
            watch: false,
        },
    );
    assert_eq!(
        body,
        Some(Response::Children {
            children: vec!["p".into()]
        })
    );
}
