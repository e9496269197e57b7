//! Real `Server`s in an ensemble on the pure harness: client requests through followers,
//! sessions owned by the leader, revalidation on reconnect, sync, watches across servers,
//! leader failure, and what a server without a quorum does with clients.

mod ensemble_harness;

use corral_core::error::ErrorCode;
use corral_core::proto::event::EventType;
use corral_core::proto::{Request, Response};
use corral_core::server::Role;
use corral_core::session::SessionTracker;
use corral_core::types::{ServerId, SessionId, Zxid};
use ensemble_harness::{create, get, Ensemble};

const EPHEMERAL: i32 = 1;

fn ping(e: &mut Ensemble, conn: corral_core::types::ConnId) {
    e.submit(conn, -2, &Request::Ping);
}

#[test]
fn writes_through_a_follower_are_answered_after_commit_and_seen_everywhere() {
    let mut e = Ensemble::new(3, 1);
    e.settle();
    let f = e.followers()[0];
    let (c, _) = e.connect(f);
    let (hdr, resp) = e.call(c, 1, &create("/a", b"one", 0)).unwrap();
    assert_eq!(hdr.err, 0);
    assert_eq!(resp, Some(Response::Create { path: "/a".into() }));
    // Read your writes on the follower, immediately.
    let (hdr, resp) = e.call(c, 2, &get("/a", false)).unwrap();
    assert_eq!(hdr.err, 0);
    match resp {
        Some(Response::GetData { data, stat }) => {
            assert_eq!(data.as_deref(), Some(&b"one"[..]));
            assert_eq!(stat.czxid, hdr.zxid.min(stat.czxid));
        }
        other => panic!("{other:?}"),
    }
    e.run_for(200);
    let digests = e.digests();
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");
    // Errors are prepared by the leader and answered by the follower.
    let (hdr, _) = e.call(c, 3, &create("/a", b"again", 0)).unwrap();
    assert_eq!(hdr.err, ErrorCode::NodeExists.code());
}

#[test]
fn a_client_pipelining_on_a_follower_gets_fifo_replies() {
    let mut e = Ensemble::new(3, 2);
    e.settle();
    let f = e.followers()[1];
    let (c, _) = e.connect(f);
    for i in 0..20 {
        e.submit(c, 10 + i, &create(&format!("/p{i}"), b"x", 0));
        e.submit(c, 100 + i, &get(&format!("/p{i}"), false));
    }
    let mut last = Zxid::ZERO;
    for i in 0..20 {
        let (h, _) = e.await_reply(c, 10 + i, &create("/", b"", 0)).unwrap();
        assert_eq!(h.err, 0);
        assert!(h.zxid > last);
        last = h.zxid;
        let (h, r) = e.await_reply(c, 100 + i, &get("/", false)).unwrap();
        assert_eq!(h.err, 0, "the read after the create sees it");
        assert!(matches!(r, Some(Response::GetData { .. })));
    }
}

#[test]
fn the_leader_expires_a_silent_session_and_its_ephemerals_vanish_everywhere() {
    let mut e = Ensemble::new(3, 3);
    e.settle();
    let f = e.followers()[0];
    let (c, r) = e.connect(f);
    let (h, _) = e.call(c, 1, &create("/eph", b"", EPHEMERAL)).unwrap();
    assert_eq!(h.err, 0);
    let (w, _) = e.connect(e.leader().unwrap());
    let (h, _) = e
        .call(
            w,
            1,
            &Request::Exists {
                path: "/eph".into(),
                watch: true,
            },
        )
        .unwrap();
    assert_eq!(h.err, 0);
    // Keep the watcher alive, let the ephemeral's owner fall silent.
    for _ in 0..40 {
        e.run_for(200);
        ping(&mut e, w);
    }
    assert!(
        e.closed(c),
        "the follower closed the expired session's connection"
    );
    for s in e.ids() {
        assert!(
            e.server(s).tree().node("/eph").is_none(),
            "gone on server {s}"
        );
    }
    assert!(e
        .events(w)
        .contains(&(EventType::NodeDeleted.code(), "/eph".to_string())));
    // The expired session cannot be resumed anywhere.
    let c2 = e.open(e.followers()[1]);
    e.send_connect(c2, r.session_id, r.passwd.clone(), Zxid::ZERO);
    let resp = e.await_connect(c2).unwrap();
    assert_eq!(resp.timeout_ms, 0, "invalid session");
}

#[test]
fn touches_on_a_follower_keep_a_session_alive_at_the_leader() {
    let mut e = Ensemble::new(3, 4);
    e.settle();
    let f = e.followers()[0];
    let (c, _) = e.connect(f);
    e.call(c, 1, &create("/alive", b"", EPHEMERAL)).unwrap();
    for _ in 0..40 {
        e.run_for(200);
        ping(&mut e, c);
    }
    assert!(!e.closed(c));
    assert!(e
        .server(e.leader().unwrap())
        .tree()
        .node("/alive")
        .is_some());
}

#[test]
fn a_session_moves_between_followers_and_the_old_connection_gets_session_moved() {
    let mut e = Ensemble::new(3, 5);
    e.settle();
    let fs = e.followers();
    let (old, r) = e.connect(fs[0]);
    let (h, _) = e.call(old, 1, &create("/m", b"", 0)).unwrap();
    assert_eq!(h.err, 0);
    // Let the other follower apply that write (a server behind the client refuses it).
    e.run_for(100);
    let new = e.open(fs[1]);
    e.send_connect(new, r.session_id, r.passwd.clone(), h.zxid);
    let resp = e.await_connect(new).expect("revalidated");
    assert_eq!(resp.session_id, r.session_id);
    assert!(resp.timeout_ms > 0);
    let (h, _) = e
        .call(
            new,
            1,
            &Request::SetData {
                path: "/m".into(),
                data: Some(b"moved".to_vec()),
                version: -1,
            },
        )
        .unwrap();
    assert_eq!(h.err, 0);
    // The stale connection on the first follower: its next write is refused and it closes.
    let (h, _) = e
        .call(
            old,
            2,
            &Request::Delete {
                path: "/m".into(),
                version: -1,
            },
        )
        .unwrap();
    assert_eq!(h.err, ErrorCode::SessionMoved.code());
    e.run_for(50);
    assert!(e.closed(old));
    assert!(e.server(fs[0]).tree().node("/m").is_some());
}

#[test]
fn wrong_password_or_unknown_session_is_refused_on_a_follower() {
    let mut e = Ensemble::new(3, 6);
    e.settle();
    let f = e.followers()[0];
    let (_, r) = e.connect(f);
    let c = e.open(f);
    e.send_connect(c, r.session_id, vec![7; 16], Zxid::ZERO);
    assert_eq!(e.await_connect(c).unwrap().timeout_ms, 0);
    let c = e.open(f);
    let bogus = SessionId(0x0700_0000_0000_0001);
    e.send_connect(
        c,
        bogus,
        SessionTracker::password(bogus).to_vec(),
        Zxid::ZERO,
    );
    assert_eq!(e.await_connect(c).unwrap().timeout_ms, 0);
}

#[test]
fn sync_on_a_follower_catches_up_with_writes_made_elsewhere() {
    let mut e = Ensemble::new(3, 7);
    e.settle();
    let l = e.leader().unwrap();
    let f = e.followers()[0];
    // Slow the follower's links so that it lags.
    let (w, _) = e.connect(l);
    let (r, _) = e.connect(f);
    e.submit(w, 1, &create("/s", b"v", 0));
    let (h, _) = e.await_reply(w, 1, &create("/", b"", 0)).unwrap();
    assert_eq!(h.err, 0);
    let (h, resp) = e.call(r, 1, &Request::Sync { path: "/s".into() }).unwrap();
    assert_eq!(h.err, 0);
    assert_eq!(resp, Some(Response::Sync { path: "/s".into() }));
    let (h, _) = e.call(r, 2, &get("/s", false)).unwrap();
    assert_eq!(h.err, 0, "after sync the follower has the write");
}

#[test]
fn watches_set_on_a_follower_fire_for_writes_through_the_leader() {
    let mut e = Ensemble::new(3, 8);
    e.settle();
    let f = e.followers()[0];
    let (watcher, _) = e.connect(f);
    let (h, _) = e
        .call(
            watcher,
            1,
            &Request::Exists {
                path: "/w".into(),
                watch: true,
            },
        )
        .unwrap();
    assert_eq!(h.err, ErrorCode::NoNode.code());
    let (writer, _) = e.connect(e.leader().unwrap());
    e.call(writer, 1, &create("/w", b"", 0)).unwrap();
    e.run_for(100);
    assert_eq!(
        e.events(watcher),
        vec![(EventType::NodeCreated.code(), "/w".into())]
    );
}

#[test]
fn leader_crash_closes_clients_and_keeps_every_acknowledged_write() {
    let mut e = Ensemble::new(3, 9);
    e.settle();
    let l = e.leader().unwrap();
    let f = e.followers()[0];
    let (c, _) = e.connect(f);
    let mut acked = Vec::new();
    for i in 0..10 {
        let path = format!("/k{i}");
        let (h, _) = e.call(c, i + 1, &create(&path, b"", 0)).unwrap();
        assert_eq!(h.err, 0);
        acked.push(path);
    }
    e.crash(l);
    e.run_until(5_000, |e| e.closed(c));
    assert!(e.closed(c), "a follower without a leader drops its clients");
    e.settle();
    assert_ne!(e.leader(), Some(l));
    let (c, _) = e.connect(e.leader().unwrap());
    for p in &acked {
        let (h, _) = e.call(c, 1, &get(p, false)).unwrap();
        assert_eq!(h.err, 0, "{p} survived");
    }
    e.restart(l);
    e.settle();
    e.run_for(500);
    let d = e.digests();
    assert!(d.windows(2).all(|w| w[0] == w[1]), "{d:?}");
}

#[test]
fn a_server_without_a_quorum_refuses_clients_and_a_lagging_one_refuses_a_newer_client() {
    let mut e = Ensemble::new(3, 10);
    e.settle();
    let l = e.leader().unwrap();
    let fs = e.followers();
    let (c, _) = e.connect(l);
    let (h, _) = e.call(c, 1, &create("/x", b"", 0)).unwrap();
    // Cut one follower off: it stops serving.
    e.partition(&[fs[1]], &[l, fs[0]]);
    e.run_until(5_000, |e| e.role(fs[1]) == Some(Role::Looking));
    let c2 = e.open(fs[1]);
    e.send_connect(c2, SessionId(0), vec![0; 16], Zxid::ZERO);
    assert!(e.await_connect(c2).is_none(), "closed: not serving");
    // The others go on; a client that saw a later zxid is refused by a server behind it.
    let (h2, _) = e.call(c, 2, &create("/y", b"", 0)).unwrap();
    assert!(h2.zxid > h.zxid);
    e.heal();
    e.settle();
    let lagging = e.open(fs[0]);
    let far = Zxid(h2.zxid.0 + 1_000);
    e.send_connect(lagging, SessionId(0), vec![0; 16], far);
    assert!(e.await_connect(lagging).is_none());
}

#[test]
fn a_restarted_follower_catches_up_and_serves_the_same_tree() {
    let mut e = Ensemble::new(5, 11);
    e.settle();
    let fs = e.followers();
    e.crash(fs[0]);
    let (c, _) = e.connect(e.leader().unwrap());
    for i in 0..30 {
        e.call(c, i + 1, &create(&format!("/r{i}"), b"", 0))
            .unwrap();
    }
    e.restart(fs[0]);
    e.settle();
    e.run_for(500);
    let d = e.digests();
    assert!(d.windows(2).all(|w| w[0] == w[1]), "{d:?}");
    let _ = ServerId(0);
}

/// Review finding: a Java client may send a write right behind its ConnectRequest; through
/// a follower it reached the leader before the createSession was applied there and failed
/// with SessionExpired.
#[test]
fn a_write_pipelined_behind_the_handshake_succeeds_on_a_follower_too() {
    let mut e = Ensemble::new(3, 12);
    e.settle();
    for (i, server) in [e.leader().unwrap(), e.followers()[0]]
        .into_iter()
        .enumerate()
    {
        let c = e.open(server);
        e.send_connect(c, SessionId(0), vec![0; 16], Zxid::ZERO);
        let path = format!("/early{i}");
        e.submit(c, 1, &create(&path, b"x", 0));
        let connect = e.await_connect(c).expect("session created");
        assert!(connect.timeout_ms > 0);
        let (h, _) = e.await_reply(c, 1, &create("/", b"", 0)).unwrap();
        assert_eq!(
            h.err, 0,
            "create pipelined behind the handshake on server {server}"
        );
    }
}

/// Review finding: request numbers restarted at 1 in a new process, so a proposal tagged by
/// the previous incarnation of a server, handed back by the leader after a restart, was
/// taken for a new client's request (answered before its ConnectResponse, with another
/// client's result).
#[test]
fn a_restarted_server_never_answers_a_new_client_with_an_old_proposal() {
    let mut e = Ensemble::new(5, 7);
    e.settle();
    let l = e.leader().unwrap();
    let fs = e.followers();
    let (s, a, b, d) = (fs[0], fs[1], fs[2], fs[3]);
    let (w, _) = e.connect(l);
    e.crash(d);
    let (x, _) = e.connect(s);
    // Two followers cannot ACK: the proposal for x's create stays uncommitted. And s
    // never receives it: it comes back to s only from the leader, after s restarts, with
    // the tag s's previous incarnation gave it.
    e.cut.insert((a, l));
    e.cut.insert((b, l));
    e.cut.insert((l, s));
    let before = e.server(l).replica().history().last();
    e.submit(x, 1, &create("/p", b"old", 0));
    assert!(e.run_until(1_000, |e| e.server(l).replica().history().last() != before));
    e.crash(s);
    e.cut.remove(&(l, s));
    e.run_for(10);
    e.restart(s);
    assert!(e.run_until(5_000, |e| matches!(e.role(s), Some(Role::Following { .. }))));
    let y = e.open(s);
    e.send_connect(y, SessionId(0), vec![0; 16], Zxid::ZERO);
    e.submit(y, 1, &create("/y", b"new", 0));
    e.run_for(30);
    e.heal();
    e.submit(w, 7, &create("/w", b"", 0));
    e.run_for(500);
    let frames = e.inbox(y).to_vec();
    assert!(
        matches!(frames.first(), Some(ensemble_harness::Frame::Connect(_))),
        "the ConnectResponse comes first: {frames:?}"
    );
    let replies: Vec<_> = frames
        .iter()
        .filter_map(|f| match f {
            ensemble_harness::Frame::Reply { hdr, body } => Some((hdr.xid, hdr.err, body.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(replies.len(), 1, "{replies:?}");
    let (xid, err, body) = &replies[0];
    assert_eq!((*xid, *err), (1, 0));
    let resp = Response::decode(1, &mut corral_core::jute::JuteReader::new(body)).unwrap();
    assert_eq!(
        resp,
        Response::Create { path: "/y".into() },
        "its own create, not /p"
    );
}

/// Found by the simulator: a follower answered a sync, and ran the reads its session sent
/// right after it, only after applying that session's later writes (the leader's COMMIT
/// covered them before its SYNC answer went out). A read sent before a write must not see
/// it.
#[test]
fn a_read_behind_a_sync_on_a_follower_never_sees_the_sessions_later_write() {
    for seed in 0..20 {
        let mut e = Ensemble::new(3, 100 + seed);
        e.settle();
        let f = e.followers()[0];
        let (c, _) = e.connect(f);
        e.submit(c, 1, &create("/a", b"", 0));
        e.submit(c, 2, &Request::Sync { path: "/a".into() });
        e.submit(c, 3, &get("/b", false));
        e.submit(c, 4, &create("/b", b"", 0));
        let (h, _) = e.await_reply(c, 3, &get("/", false)).unwrap();
        assert_eq!(
            h.err,
            ErrorCode::NoNode.code(),
            "seed {seed}: the read saw a later write"
        );
        let (h4, _) = e.await_reply(c, 4, &create("/", b"", 0)).unwrap();
        assert_eq!(h4.err, 0);
        assert!(
            h.zxid < h4.zxid,
            "seed {seed}: read reply zxid {} >= the later write's {}",
            h.zxid,
            h4.zxid
        );
    }
}
