//! Regression tests from the first review of the server: each asserts ZooKeeper's behaviour.

mod harness;

use corral_core::error::ErrorCode;
use corral_core::proto::{Acl, Id, Request, Response};
use corral_core::server::ServerConfig;
use corral_core::types::{SessionId, Zxid};
use harness::{create, Frame, Harness};

fn config() -> ServerConfig {
    ServerConfig {
        extended_types_enabled: true,
        ..ServerConfig::default()
    }
}

fn replies(frames: &[Frame]) -> Vec<(i32, i32)> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Reply { hdr, .. } => Some((hdr.xid, hdr.err)),
            _ => None,
        })
        .collect()
}

/// Authenticate `a` as alice and create `/secure`, readable and writable only by alice.
fn secure_node(h: &mut Harness, a: corral_core::types::ConnId) {
    h.call(a, 1, &auth("alice:pw"));
    let acl = vec![Acl {
        perms: 31,
        id: Id::new("digest", &corral_core::acl::digest_id("alice:pw")),
    }];
    let (hdr, _) = h.call(
        a,
        2,
        &Request::Create {
            op: 1,
            req: corral_core::proto::CreateRequest {
                path: "/secure".into(),
                data: Some(vec![]),
                acl: Some(acl),
                flags: 0,
                ttl: None,
            },
        },
    );
    assert_eq!(hdr.err, 0);
}

fn auth(user_pw: &str) -> Request {
    Request::Auth {
        auth_type: 0,
        scheme: "digest".into(),
        auth: user_pw.as_bytes().to_vec(),
    }
}

/// ZooKeeper handles addAuth at once in processPacket, so a write sent after it carries
/// the new identity. Here the auth waits behind a pending write (a "read") while the later
/// write is prepared immediately with the old identities.
#[test]
fn r1_auth_behind_a_pending_write_is_seen_by_the_next_write() {
    let mut h = Harness::new(config());
    let (a, _) = h.connect(30_000);
    h.call(a, 1, &auth("alice:pw"));
    let acl = vec![Acl {
        perms: 31,
        id: Id::new("digest", &corral_core::acl::digest_id("alice:pw")),
    }];
    let (hdr, _) = h.call(
        a,
        2,
        &Request::Create {
            op: 1,
            req: corral_core::proto::CreateRequest {
                path: "/secure".into(),
                data: Some(vec![]),
                acl: Some(acl),
                flags: 0,
                ttl: None,
            },
        },
    );
    assert_eq!(hdr.err, 0);

    let (b, _) = h.connect(30_000);
    h.auto_persist = false;
    h.submit(b, 1, &create("/other", b"", 0)); // pending write
    h.submit(b, 2, &auth("alice:pw")); // deferred behind it
    h.submit(
        b,
        3,
        &Request::SetData {
            path: "/secure".into(),
            data: Some(b"x".to_vec()),
            version: -1,
        },
    );
    h.persist_all();
    h.pump();
    h.persist_all();
    h.pump();
    assert_eq!(
        replies(&h.take(b)),
        vec![(1, 0), (2, 0), (3, 0)],
        "setData after addAuth must not get NoAuth"
    );
}

/// Writes pipelined behind the ConnectRequest are deferred; the first one is prepared when
/// the handshake completes, but the rest stay deferred, and a write that arrives *later*
/// is prepared before them. Effects then happen out of session order.
#[test]
fn r2_pipelined_handshake_writes_are_overtaken_by_a_later_write() {
    let mut h = Harness::new(config());
    h.auto_persist = false;
    let c = h.open();
    h.send_connect(c, SessionId(0), vec![0; 16], 30_000, Zxid(0));
    h.submit(c, 1, &create("/a", b"", 0));
    h.submit(c, 2, &create("/b", b"", 0));
    h.persist_all(); // createSession durable -> ConnectResponse, /a prepared
    h.pump();
    // The client got its ConnectResponse and sends another request: delete /b.
    h.submit(
        c,
        3,
        &Request::Delete {
            path: "/b".into(),
            version: -1,
        },
    );
    for _ in 0..4 {
        h.persist_all();
        h.pump();
    }
    let frames = h.take(c);
    assert_eq!(
        replies(&frames),
        vec![(1, 0), (2, 0), (3, 0)],
        "delete /b was sent after create /b succeeded, so it must succeed"
    );
}

/// After a reconnect, a read on the new connection runs against the applied tree even though
/// the same session's earlier write (sent on the old connection) is still in flight. In
/// ZooKeeper standalone the read queues behind every pending txn, so it sees the write.
#[test]
fn r3_read_after_reconnect_misses_the_sessions_in_flight_write() {
    let mut h = Harness::new(config());
    let (a, ra) = h.connect(30_000);
    h.auto_persist = false;
    h.submit(a, 1, &create("/lock-guid-0001", b"", 1)); // in flight
                                                        // Connection drops (client side) before the reply; client reconnects.
    let b = h.open();
    let r = h.handshake(
        b,
        ra.session_id,
        ra.passwd.clone(),
        30_000,
        h.server.last_zxid(),
    );
    assert_eq!(r.session_id, ra.session_id);
    h.submit(
        b,
        1,
        &Request::GetChildren {
            path: "/".into(),
            watch: false,
        },
    );
    h.persist_all();
    h.pump();
    let frames = h.take(b);
    let Some(Frame::Reply { hdr, body }) = frames.first() else {
        panic!("no reply: {frames:?}")
    };
    let resp = Harness::decode(
        &Request::GetChildren {
            path: "/".into(),
            watch: false,
        },
        hdr,
        body,
    );
    match resp {
        Some(Response::Children { children }) => assert!(
            children.contains(&"lock-guid-0001".to_string()),
            "FIFO per session: the earlier create must be visible, got {children:?}"
        ),
        other => panic!("{other:?}"),
    }
}

/// A MarshallingError reply queued behind a pending write carries the zxid from queue time,
/// lower than the write reply that precedes it on the wire.
#[test]
fn r4_queued_error_reply_zxid_goes_backwards() {
    let mut h = Harness::new(config());
    let (a, _) = h.connect(30_000);
    h.auto_persist = false;
    h.submit(a, 1, &create("/z", b"", 0));
    // xid 2: getData with a truncated body -> MarshallingError
    h.send_raw(a, &[0, 0, 0, 2, 0, 0, 0, 4, 0, 0]);
    h.persist_all();
    h.pump();
    let zx: Vec<i64> = h
        .take(a)
        .iter()
        .filter_map(|f| match f {
            Frame::Reply { hdr, .. } => Some(hdr.zxid.0),
            _ => None,
        })
        .collect();
    assert_eq!(zx.len(), 2);
    assert!(zx[1] >= zx[0], "reply zxids went backwards: {zx:?}");
}

/// After an unknown opcode (Unimplemented + close) ZooKeeper processes nothing more from the
/// connection. The bug was that a write pipelined after it was still applied while the
/// close waited in the queue.
#[test]
fn r5_write_after_unknown_opcode_is_still_applied() {
    let mut h = Harness::new(config());
    let (a, _) = h.connect(30_000);
    let (b, _) = h.connect(30_000);
    h.auto_persist = false;
    h.submit(a, 1, &create("/first", b"", 0));
    h.send_raw(a, &[0, 0, 0, 2, 0, 0, 0, 55]); // op 55: unknown
    h.submit(a, 3, &create("/after-close", b"", 0));
    h.persist_all();
    h.pump();
    h.persist_all();
    h.pump();
    h.auto_persist = true;
    let (hdr, _) = h.call(
        b,
        1,
        &Request::Exists {
            path: "/after-close".into(),
            watch: false,
        },
    );
    assert_eq!(
        hdr.err,
        ErrorCode::NoNode.code(),
        "a request after the connection was condemned must not take effect"
    );
}

/// globalOutstandingLimit (default 1000): once more requests than that are parked in the
/// core, it asks the driver to stop reading (`throttled`), and clears when they drain.
#[test]
fn r6_outstanding_requests_throttle_the_driver() {
    let mut h = Harness::new(config());
    let (a, _) = h.connect(30_000);
    h.auto_persist = false;
    h.submit(a, 1, &create("/slow", b"", 0));
    assert!(!h.server.throttled());
    for xid in 2..1_500 {
        h.submit(
            a,
            xid,
            &Request::GetData {
                path: "/slow".into(),
                watch: false,
            },
        );
    }
    assert!(
        h.server.throttled(),
        "1,499 parked requests exceed the limit"
    );
    h.persist_all();
    h.pump();
    assert!(!h.server.throttled());
    assert_eq!(replies(&h.take(a)).len(), 1_499);
}

#[test]
fn r7_empty_multi_survives_restart() {
    let mut h = Harness::new(config());
    let (a, _) = h.connect(30_000);
    let (hdr, _) = h.call(a, 1, &Request::Multi(vec![]));
    assert_eq!(hdr.err, 0);
    h.restart(config());
    assert_eq!(h.server.last_zxid(), hdr.zxid);
}

/// Sanity (expected to pass): expiry while an ephemeral create is in flight deletes it too.
#[test]
fn s1_expiry_with_in_flight_ephemeral_create() {
    let mut h = Harness::new(config());
    let (a, _) = h.connect(4000);
    let (b, _) = h.connect(30_000);
    h.auto_persist = false;
    h.submit(a, 1, &create("/e", b"", 1));
    h.now = h.now.plus(10_000);
    h.server.tick(h.now);
    h.pump();
    h.persist_all();
    h.pump();
    h.auto_persist = true;
    let (hdr, _) = h.call(
        b,
        1,
        &Request::Exists {
            path: "/e".into(),
            watch: false,
        },
    );
    assert_eq!(hdr.err, ErrorCode::NoNode.code());
    assert!(h.server.tree().ephemerals_count() == 0);
}

/// Sanity (expected to pass): a container reap prepared while a child create is in flight.
#[test]
fn s2_container_reap_races_child_create() {
    let mut cfg = config();
    cfg.container_check_interval_ms = 1000;
    let mut h = Harness::new(cfg);
    let (a, _) = h.connect(30_000);
    h.call(
        a,
        1,
        &Request::Create {
            op: 19,
            req: corral_core::proto::CreateRequest {
                path: "/c".into(),
                data: Some(vec![]),
                acl: Some(Acl::open_unsafe()),
                flags: 4,
                ttl: None,
            },
        },
    );
    h.call(a, 2, &create("/c/x", b"", 0));
    h.call(
        a,
        3,
        &Request::Delete {
            path: "/c/x".into(),
            version: -1,
        },
    );
    h.auto_persist = false;
    h.submit(a, 4, &create("/c/y", b"", 0));
    h.now = h.now.plus(2000);
    h.server.tick(h.now);
    h.pump();
    h.persist_all();
    h.pump();
    assert!(h.server.tree().node("/c/y").is_some());
}

/// ZooKeeper answers a failed addAuth at once, closes, and reads nothing more
/// (disableRecv). Here the failed auth waits behind a pending write, and a write sent after
/// it is applied.
#[test]
fn r8_write_after_failed_auth_is_applied() {
    let mut h = Harness::new(config());
    let (a, _) = h.connect(30_000);
    let (b, _) = h.connect(30_000);
    h.auto_persist = false;
    h.submit(a, 1, &create("/one", b"", 0));
    h.submit(
        a,
        -4,
        &Request::Auth {
            auth_type: 0,
            scheme: "bogus".into(),
            auth: b"x".to_vec(),
        },
    );
    h.submit(a, 3, &create("/after-authfailed", b"", 0));
    for _ in 0..3 {
        h.persist_all();
        h.pump();
    }
    h.auto_persist = true;
    let (hdr, _) = h.call(
        b,
        1,
        &Request::Exists {
            path: "/after-authfailed".into(),
            watch: false,
        },
    );
    assert_eq!(hdr.err, ErrorCode::NoNode.code());
}

/// Standalone never changes epoch, so the zxid counter runs out after 2^32-1 txns and
/// `Zxid::next()` panics. ZooKeeper standalone just carries into the epoch bits.
/// After a restart the same panic happens on the first write or handshake: the server is
/// bricked.
#[test]
fn r9_zxid_counter_exhaustion_panics_on_next_handshake() {
    use corral_core::server::{LogEntry, Server};
    use corral_core::txn::{Txn, TxnHeader};
    use corral_core::types::Millis;
    let now = Millis(1_700_000_000_000);
    let mut s = Server::new(config(), now);
    s.replay(LogEntry {
        hdr: TxnHeader {
            session: SessionId(0),
            cxid: 0,
            zxid: Zxid(u32::MAX as i64),
            time: now.0,
            op: -1,
        },
        txn: Txn::Error {
            err: ErrorCode::NoNode,
        },
    });
    s.start(now);
    let c = corral_core::types::ConnId(1);
    s.connection_opened(now, c, "127.0.0.1:1".parse().unwrap());
    let req = corral_core::proto::ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: Zxid(0),
        timeout_ms: 30_000,
        session_id: SessionId(0),
        passwd: vec![0; 16],
        read_only: Some(false),
    };
    let mut w = corral_core::jute::JuteWriter::new();
    req.write(&mut w);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        s.frame_received(now, c, &w.into_inner());
    }));
    assert!(r.is_ok(), "handshake panicked at the zxid counter limit");
}

/// The Java client primes auth right after the ConnectRequest and then sends queued user
/// requests; a write needing that auth must succeed.
#[test]
fn p1_auth_pipelined_in_handshake_precedes_pipelined_write() {
    let mut h = Harness::new(config());
    let (a, _) = h.connect(30_000);
    secure_node(&mut h, a);
    h.auto_persist = false;
    let c = h.open();
    h.send_connect(c, SessionId(0), vec![0; 16], 30_000, h.server.last_zxid());
    h.submit(c, -4, &auth("alice:pw"));
    h.submit(
        c,
        1,
        &Request::SetData {
            path: "/secure".into(),
            data: None,
            version: -1,
        },
    );
    h.submit(
        c,
        2,
        &Request::GetData {
            path: "/secure".into(),
            watch: false,
        },
    );
    for _ in 0..4 {
        h.persist_all();
        h.pump();
    }
    let frames = h.take(c);
    assert!(
        matches!(frames.first(), Some(Frame::Connect(_))),
        "{frames:?}"
    );
    assert_eq!(replies(&frames), vec![(-4, 0), (1, 0), (2, 0)]);
}

/// The bug: addAuth was deferred like a read while ANY session had a txn in flight, while
/// the next write on the same connection was prepared at once, without the identity the
/// client had just added: NoAuth under ordinary load.
#[test]
fn r10_auth_while_another_session_writes() {
    let mut h = Harness::new(config());
    let (a, _) = h.connect(30_000);
    secure_node(&mut h, a);
    let (b, _) = h.connect(30_000);
    let (other, _) = h.connect(30_000);
    h.auto_persist = false;
    h.submit(other, 1, &create("/busy", b"", 0)); // some other client's write in flight
    h.submit(b, 1, &auth("alice:pw"));
    h.submit(
        b,
        2,
        &Request::SetData {
            path: "/secure".into(),
            data: Some(b"x".to_vec()),
            version: -1,
        },
    );
    for _ in 0..3 {
        h.persist_all();
        h.pump();
    }
    assert_eq!(replies(&h.take(b)), vec![(1, 0), (2, 0)]);
}

/// Found by the server fuzz target: a reply to a request pipelined behind the handshake
/// (here an unknown opcode) must not overtake the ConnectResponse.
#[test]
fn r11_nothing_precedes_the_connect_response() {
    let mut h = Harness::new(config());
    h.auto_persist = false;
    let c = h.open();
    h.send_connect(c, SessionId(0), vec![0; 16], 30_000, Zxid(0));
    h.send_raw(c, &[0, 0, 0, 9, 0, 0, 0, 55]);
    h.submit(c, 10, &Request::Sync { path: "/".into() });
    assert!(
        h.take(c).is_empty(),
        "nothing before the session is durable"
    );
    h.persist_all();
    h.pump();
    let frames = h.take(c);
    assert!(matches!(frames.first(), Some(Frame::Connect(r)) if r.timeout_ms > 0));
    assert_eq!(
        replies(&frames[1..]),
        vec![(9, ErrorCode::Unimplemented.code())]
    );
    assert!(h.closed.contains(&c));
}

/// A write from a closing session fails with SessionExpired and, as in ZooKeeper (the txn
/// header is made before the session check), is logged as an error txn.
#[test]
fn r12_write_after_close_session_consumes_a_zxid() {
    let mut h = Harness::new(config());
    let (a, _) = h.connect(30_000);
    h.auto_persist = false;
    h.submit(a, 1, &Request::CloseSession);
    h.submit(a, 2, &create("/late", b"", 0));
    h.persist_all();
    h.pump();
    let last = h.log.last().expect("logged");
    assert_eq!(
        last.txn,
        corral_core::txn::Txn::Error {
            err: ErrorCode::SessionExpired
        }
    );
    assert_eq!(h.server.last_zxid(), last.hdr.zxid);
    assert!(h.closed.contains(&a));
}

fn exists(path: &str) -> Request {
    Request::Exists {
        path: path.into(),
        watch: false,
    }
}

/// Found by `corral bench --workload ephemeral-churn`: a read deferred behind another
/// session's in-flight write ran after the closeSession pipelined behind it had marked the
/// session closing, and was answered SessionExpired. ZooKeeper checks the session in
/// arrival order, so the read is answered normally.
#[test]
fn r13_read_received_before_close_session_is_answered_normally() {
    let mut h = Harness::new(config());
    let (a, _) = h.connect(30_000);
    let (b, _) = h.connect(30_000);
    h.auto_persist = false;
    h.submit(b, 1, &create("/busy", b"", 0)); // another session's write in flight
    h.submit(a, 1, &exists("/x"));
    h.submit(a, 2, &create("/x", b"", 1)); // ephemeral
    h.submit(a, 3, &Request::CloseSession);
    for _ in 0..3 {
        h.persist_all();
        h.pump();
    }
    assert_eq!(
        replies(&h.take(a)),
        vec![(1, ErrorCode::NoNode.code()), (2, 0), (3, 0)]
    );
    assert!(h.closed.contains(&a));
    assert_eq!(replies(&h.take(b)), vec![(1, 0)]);
    // The close deleted the ephemeral.
    let (hdr, _) = h.call(b, 2, &exists("/x"));
    assert_eq!(hdr.err, ErrorCode::NoNode.code());
}

/// The same with the read queued behind the session's own write: it sees that write, and
/// the closeSession behind it does not turn it into SessionExpired. A read received after
/// the closeSession is still refused (it never gets a reply: the close reply ends the
/// connection first).
#[test]
fn r14_reads_around_close_session_follow_arrival_order() {
    let mut h = Harness::new(config());
    let (a, ra) = h.connect(30_000);
    let (b, _) = h.connect(30_000);
    h.auto_persist = false;
    h.submit(b, 1, &create("/busy", b"", 0));
    h.submit(a, 1, &create("/y", b"", 1));
    h.submit(a, 2, &exists("/y"));
    h.submit(a, 3, &Request::CloseSession);
    h.submit(a, 4, &exists("/y"));
    for _ in 0..3 {
        h.persist_all();
        h.pump();
    }
    let frames = h.take(a);
    assert_eq!(replies(&frames), vec![(1, 0), (2, 0), (3, 0)]);
    let Some(Frame::Reply { hdr, body }) = frames.get(1) else {
        panic!("{frames:?}")
    };
    let Some(Response::Stat(stat)) = Harness::decode(&exists("/y"), hdr, body) else {
        panic!("exists /y: {hdr:?}")
    };
    assert_eq!(stat.ephemeral_owner, ra.session_id);
    assert!(h.closed.contains(&a));
}
