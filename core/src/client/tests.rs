//! The client driven against a tiny hand-written fake server built from the proto codec.

use super::*;
use crate::jute::Record;
use crate::proto::data::Stat;
use crate::proto::encode_reply_frame;
use crate::proto::header::RequestHeader;
use crate::proto::response::MultiResult;
use crate::proto::{CreateRequest, SetWatches};

const SID: SessionId = SessionId(0x0100_0000_0000_0042);
const PASSWD: [u8; 16] = [7; 16];

/// Strip and check the length prefix of a frame.
fn payload(frame: &[u8]) -> &[u8] {
    assert!(frame.len() >= 4, "frame shorter than its prefix");
    let len = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
    assert_eq!(len as usize, frame.len() - 4, "length prefix mismatch");
    &frame[4..]
}

/// The server side of one connection: decodes what the client sent, answers by hand.
struct FakeServer {
    session_id: SessionId,
    passwd: Vec<u8>,
    timeout_ms: i32,
    zxid: i64,
}

impl FakeServer {
    fn new() -> FakeServer {
        FakeServer {
            session_id: SID,
            passwd: PASSWD.to_vec(),
            timeout_ms: 6000,
            zxid: 0x1_0000_0000,
        }
    }

    fn decode_connect(frame: &[u8]) -> ConnectRequest {
        ConnectRequest::decode(payload(frame)).expect("valid ConnectRequest")
    }

    /// The ConnectResponse payload for a valid session.
    fn accept(&self, read_only: bool) -> Vec<u8> {
        let mut w = JuteWriter::new();
        ConnectResponse {
            protocol_version: 0,
            timeout_ms: self.timeout_ms,
            session_id: self.session_id,
            passwd: self.passwd.clone(),
            read_only: Some(read_only),
        }
        .write(&mut w);
        w.into_inner()
    }

    fn reject() -> Vec<u8> {
        let mut w = JuteWriter::new();
        ConnectResponse::invalid(Some(false)).write(&mut w);
        w.into_inner()
    }

    fn decode(frame: &[u8]) -> (RequestHeader, Request) {
        let mut r = JuteReader::new(payload(frame));
        let hdr = RequestHeader::read(&mut r).unwrap();
        let req = Request::decode(hdr.op, &mut r).unwrap();
        r.finish().unwrap();
        (hdr, req)
    }

    /// A reply payload (no length prefix) for `xid`; writes bump the zxid.
    fn reply(&mut self, xid: i32, err: ErrorCode, body: Option<&Response>) -> Vec<u8> {
        self.zxid += 1;
        let hdr = ReplyHeader {
            xid,
            zxid: Zxid(self.zxid),
            err: err.code(),
        };
        payload(&encode_reply_frame(hdr, body)).to_vec()
    }

    fn notification(event_type: EventType, path: &str, zxid: i64) -> Vec<u8> {
        let mut w = JuteWriter::new();
        ReplyHeader {
            xid: op::XID_NOTIFICATION,
            zxid: Zxid(zxid),
            err: 0,
        }
        .write(&mut w);
        WatcherEvent {
            event_type: event_type.code(),
            state: 3,
            path: path.to_string(),
        }
        .write(&mut w);
        w.into_inner()
    }
}

fn drain_tx(c: &mut Client) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| c.poll_transmit()).collect()
}

fn drain_ev(c: &mut Client) -> Vec<ClientEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// A client connected to `server` at time 0, with every event drained.
fn connected(server: &FakeServer) -> Client {
    let mut c = Client::new(ClientConfig::new(6000));
    let _hello = c.connect(Millis(0)).unwrap();
    c.handle_frame(Millis(0), &server.accept(false)).unwrap();
    drain_ev(&mut c);
    c
}

fn get_data(path: &str, watch: bool) -> Request {
    Request::GetData {
        path: path.into(),
        watch,
    }
}

fn stat(version: i32) -> Stat {
    Stat {
        version,
        ..Stat::default()
    }
}

fn reply_of(ev: &ClientEvent) -> (RequestId, Option<Zxid>, Result<Response, ErrorCode>) {
    match ev {
        ClientEvent::Reply {
            id, zxid, result, ..
        } => (*id, *zxid, result.clone()),
        other => panic!("expected a reply, got {other:?}"),
    }
}

#[test]
fn handshake_sends_fresh_session_request_and_reports_connected() {
    let server = FakeServer::new();
    let mut c = Client::new(ClientConfig::new(6000));
    let hello = c.connect(Millis(5)).unwrap();
    assert_eq!(
        hello.len(),
        4 + 45,
        "Java-style request with the readOnly byte"
    );
    let req = FakeServer::decode_connect(&hello);
    assert_eq!(
        req,
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: Zxid(0),
            timeout_ms: 6000,
            session_id: SessionId(0),
            passwd: vec![0; 16],
            read_only: Some(false),
        }
    );
    assert_eq!(c.state(), ClientState::Connecting);
    assert_eq!(c.poll_transmit(), None);

    c.handle_frame(Millis(7), &server.accept(false)).unwrap();
    assert_eq!(c.state(), ClientState::Connected { read_only: false });
    assert_eq!(
        drain_ev(&mut c),
        vec![ClientEvent::Connected {
            session_id: SID,
            timeout_ms: 6000,
            read_only: false
        }]
    );
    assert_eq!(c.session_id(), SID);
    assert_eq!(c.session_password(), &PASSWD);
    assert_eq!(c.negotiated_timeout_ms(), 6000);
}

#[test]
fn requests_are_held_until_the_handshake_completes() {
    let server = FakeServer::new();
    let mut c = Client::new(ClientConfig::new(6000));
    let early = c.submit(Millis(0), get_data("/a", false));
    let _hello = c.connect(Millis(0)).unwrap();
    assert_eq!(
        c.poll_transmit(),
        None,
        "nothing but the handshake before the reply"
    );
    c.handle_frame(Millis(1), &server.accept(false)).unwrap();
    let frames = drain_tx(&mut c);
    assert_eq!(frames.len(), 1);
    let (hdr, req) = FakeServer::decode(&frames[0]);
    assert_eq!((hdr.xid, hdr.op), (1, op::GET_DATA));
    assert_eq!(req, get_data("/a", false));
    assert_eq!(early, RequestId(0));
}

#[test]
fn pipelined_replies_match_in_order_and_track_zxid() {
    let mut server = FakeServer::new();
    let mut c = connected(&server);
    let create = Request::Create {
        op: op::CREATE,
        req: CreateRequest {
            path: "/n".into(),
            data: Some(b"x".to_vec()),
            acl: Some(crate::proto::Acl::open_unsafe()),
            flags: 0,
            ttl: None,
        },
    };
    let ids = [
        c.submit(Millis(1), create.clone()),
        c.submit(Millis(1), get_data("/n", false)),
        c.submit(Millis(1), Request::Sync { path: "/".into() }),
    ];
    let frames = drain_tx(&mut c);
    let xids: Vec<i32> = frames.iter().map(|f| FakeServer::decode(f).0.xid).collect();
    assert_eq!(xids, vec![1, 2, 3]);
    assert_eq!(FakeServer::decode(&frames[0]).1, create);
    assert_eq!(c.outstanding(), 3);

    let bodies = [
        Response::Create { path: "/n".into() },
        Response::GetData {
            data: Some(b"x".to_vec()),
            stat: stat(0),
        },
        Response::Sync { path: "/".into() },
    ];
    for (xid, body) in xids.iter().zip(&bodies) {
        let f = server.reply(*xid, ErrorCode::Ok, Some(body));
        c.handle_frame(Millis(2), &f).unwrap();
    }
    let events = drain_ev(&mut c);
    assert_eq!(events.len(), 3);
    for (i, ev) in events.iter().enumerate() {
        let (id, zxid, result) = reply_of(ev);
        assert_eq!(id, ids[i]);
        assert_eq!(zxid, Some(Zxid(0x1_0000_0001 + i as i64)));
        assert_eq!(result, Ok(bodies[i].clone()));
    }
    assert_eq!(c.last_zxid_seen(), Zxid(0x1_0000_0003));
    assert_eq!(c.outstanding(), 0);
}

#[test]
fn out_of_order_reply_is_a_protocol_error_that_drops_the_connection() {
    let mut server = FakeServer::new();
    let mut c = connected(&server);
    let a = c.submit(Millis(1), get_data("/a", false));
    let b = c.submit(Millis(1), get_data("/b", false));
    drain_tx(&mut c);
    let f = server.reply(2, ErrorCode::NoNode, None);
    assert_eq!(
        c.handle_frame(Millis(2), &f),
        Err(ClientError::UnexpectedXid {
            expected: Some(1),
            got: 2
        })
    );
    assert_eq!(c.state(), ClientState::Disconnected);
    let events = drain_ev(&mut c);
    assert_eq!(
        reply_of(&events[0]),
        (a, None, Err(ErrorCode::ConnectionLoss))
    );
    assert_eq!(
        reply_of(&events[1]),
        (b, None, Err(ErrorCode::ConnectionLoss))
    );
    assert_eq!(
        events[2],
        ClientEvent::Disconnected {
            reason: DisconnectReason::ProtocolError
        }
    );
    // Frames after the teardown are refused without further effect.
    assert_eq!(
        c.handle_frame(Millis(3), &f),
        Err(ClientError::NotConnected(ClientState::Disconnected))
    );
    assert!(drain_ev(&mut c).is_empty());
}

#[test]
fn error_replies_carry_no_body() {
    let mut server = FakeServer::new();
    let mut c = connected(&server);
    let id = c.submit(Millis(1), get_data("/missing", false));
    drain_tx(&mut c);
    let f = server.reply(1, ErrorCode::NoNode, None);
    assert_eq!(f.len(), 16, "bare ReplyHeader");
    c.handle_frame(Millis(2), &f).unwrap();
    let ev = drain_ev(&mut c);
    assert_eq!(
        ev,
        vec![ClientEvent::Reply {
            id,
            op: op::GET_DATA,
            xid: 1,
            zxid: Some(Zxid(server.zxid)),
            result: Err(ErrorCode::NoNode),
        }]
    );

    // A body after an error code breaks rule 5.
    c.submit(Millis(3), get_data("/missing", false));
    drain_tx(&mut c);
    let mut f = server.reply(2, ErrorCode::NoNode, None);
    f.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(
        c.handle_frame(Millis(4), &f),
        Err(ClientError::Decode(crate::jute::JuteError::TrailingBytes(
            4
        )))
    );
    assert_eq!(c.state(), ClientState::Disconnected);
}

#[test]
fn unknown_error_codes_and_truncated_bodies_are_protocol_errors() {
    let mut server = FakeServer::new();
    let mut c = connected(&server);
    c.submit(Millis(1), get_data("/a", false));
    drain_tx(&mut c);
    let mut f = server.reply(1, ErrorCode::Ok, None);
    f[12..16].copy_from_slice(&(-9i32).to_be_bytes());
    assert_eq!(
        c.handle_frame(Millis(2), &f),
        Err(ClientError::UnknownErrorCode(-9))
    );

    let mut c = connected(&server);
    c.submit(Millis(1), get_data("/a", false));
    drain_tx(&mut c);
    let f = server.reply(1, ErrorCode::Ok, None); // getData success needs data + stat
    assert!(matches!(
        c.handle_frame(Millis(2), &f),
        Err(ClientError::Decode(_))
    ));
    assert_eq!(c.state(), ClientState::Disconnected);
}

#[test]
fn failed_multi_is_an_ok_reply_with_per_op_errors() {
    let mut server = FakeServer::new();
    let mut c = connected(&server);
    let id = c.submit(
        Millis(1),
        Request::Multi(vec![
            Request::Delete {
                path: "/a".into(),
                version: -1,
            },
            Request::Check {
                path: "/a".into(),
                version: 3,
            },
        ]),
    );
    drain_tx(&mut c);
    let body = Response::Multi(vec![MultiResult::Error(0), MultiResult::Error(-103)]);
    let f = server.reply(1, ErrorCode::Ok, Some(&body));
    c.handle_frame(Millis(2), &f).unwrap();
    let (got, _, result) = reply_of(&drain_ev(&mut c)[0]);
    assert_eq!(got, id);
    assert_eq!(result, Ok(body));
}

#[test]
fn watch_events_are_reported_and_consume_one_shot_watches() {
    let mut server = FakeServer::new();
    let mut c = connected(&server);
    c.submit(Millis(1), get_data("/w", true));
    c.submit(
        Millis(1),
        Request::Exists {
            path: "/gone".into(),
            watch: true,
        },
    );
    drain_tx(&mut c);
    let body = Response::GetData {
        data: None,
        stat: stat(1),
    };
    c.handle_frame(Millis(2), &server.reply(1, ErrorCode::Ok, Some(&body)))
        .unwrap();
    c.handle_frame(Millis(2), &server.reply(2, ErrorCode::NoNode, None))
        .unwrap();
    assert!(c.watches().data.contains("/w"));
    assert!(c.watches().exist.contains("/gone"));
    let seen = c.last_zxid_seen();
    drain_ev(&mut c);

    // A 3.8 notification (zxid -1) does not move last_zxid_seen.
    let n = FakeServer::notification(EventType::NodeDataChanged, "/w", -1);
    c.handle_frame(Millis(3), &n).unwrap();
    assert_eq!(
        drain_ev(&mut c),
        vec![ClientEvent::Watch {
            event_type: EventType::NodeDataChanged,
            state: 3,
            path: "/w".into(),
            zxid: Zxid(-1),
        }]
    );
    assert!(c.watches().data.is_empty());
    assert_eq!(c.last_zxid_seen(), seen);

    // A 3.9 notification carries the txn zxid and does.
    let n = FakeServer::notification(EventType::NodeCreated, "/gone", seen.0 + 10);
    c.handle_frame(Millis(4), &n).unwrap();
    assert!(c.watches().is_empty());
    assert_eq!(c.last_zxid_seen(), Zxid(seen.0 + 10));

    // Undefined event types are protocol errors.
    let mut n = FakeServer::notification(EventType::NodeCreated, "/x", -1);
    n[16..20].copy_from_slice(&42i32.to_be_bytes());
    assert_eq!(
        c.handle_frame(Millis(5), &n),
        Err(ClientError::UnknownEventType(42))
    );
}

#[test]
fn pings_follow_send_idleness_and_read_timeout_drops_the_connection() {
    let mut server = FakeServer::new();
    // Negotiated 6000 ms: read timeout 4000, ping after 2000 idle.
    let mut c = connected(&server);
    assert_eq!(c.next_deadline(), Some(Millis(2000)));
    c.tick(Millis(1999));
    assert!(drain_tx(&mut c).is_empty());

    // Traffic at 1500 pushes the ping back.
    c.submit(Millis(1500), Request::Sync { path: "/".into() });
    drain_tx(&mut c);
    c.handle_frame(
        Millis(1600),
        &server.reply(1, ErrorCode::Ok, Some(&Response::Sync { path: "/".into() })),
    )
    .unwrap();
    assert_eq!(c.next_deadline(), Some(Millis(3500)));
    c.tick(Millis(3499));
    assert!(drain_tx(&mut c).is_empty());
    c.tick(Millis(3500));
    let frames = drain_tx(&mut c);
    assert_eq!(frames.len(), 1);
    assert_eq!(payload(&frames[0]), [0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11]);

    // The internal ping's reply produces no event and does not count as a seen zxid.
    let seen = c.last_zxid_seen();
    c.handle_frame(
        Millis(3600),
        &server.reply(op::XID_PING, ErrorCode::Ok, None),
    )
    .unwrap();
    drain_ev(&mut c);
    assert_eq!(c.last_zxid_seen(), seen);
    assert_eq!(c.outstanding(), 0);

    // Silence: pings go out every 2000 ms, and at 3600 + 4000 the read timeout fires.
    c.tick(Millis(5500));
    assert_eq!(drain_tx(&mut c).len(), 1);
    assert_eq!(c.next_deadline(), Some(Millis(7500)));
    c.tick(Millis(7500));
    assert_eq!(drain_tx(&mut c).len(), 1);
    assert_eq!(c.next_deadline(), Some(Millis(7600)));
    c.tick(Millis(7600));
    assert_eq!(c.state(), ClientState::Disconnected);
    assert_eq!(
        drain_ev(&mut c),
        vec![ClientEvent::Disconnected {
            reason: DisconnectReason::ReadTimeout
        }],
        "internal pings fail silently"
    );
    assert_eq!(c.next_deadline(), None);
}

#[test]
fn ping_interval_is_capped_at_ten_seconds() {
    let mut server = FakeServer::new();
    server.timeout_ms = 40_000;
    let c = connected(&server);
    assert_eq!(c.next_deadline(), Some(Millis(10_000)));
}

#[test]
fn unsolicited_ping_reply_is_a_protocol_error_but_overtaking_is_not() {
    let mut server = FakeServer::new();
    let mut c = connected(&server);
    let f = server.reply(op::XID_PING, ErrorCode::Ok, None);
    assert_eq!(
        c.handle_frame(Millis(1), &f),
        Err(ClientError::UnexpectedXid {
            expected: None,
            got: -2
        })
    );

    let mut c = connected(&server);
    let get = c.submit(Millis(1), get_data("/a", false));
    let ping = c.submit(Millis(1), Request::Ping);
    drain_tx(&mut c);
    c.handle_frame(Millis(2), &server.reply(-2, ErrorCode::Ok, None))
        .unwrap();
    c.handle_frame(Millis(2), &server.reply(1, ErrorCode::NoNode, None))
        .unwrap();
    let ids: Vec<RequestId> = drain_ev(&mut c).iter().map(|e| reply_of(e).0).collect();
    assert_eq!(ids, vec![ping, get]);
}

#[test]
fn connect_timeout_abandons_the_attempt() {
    let mut c = Client::new(ClientConfig::new(6000));
    let held = c.submit(Millis(0), get_data("/a", false));
    let _hello = c.connect(Millis(100)).unwrap();
    assert_eq!(c.next_deadline(), Some(Millis(6100)));
    c.tick(Millis(6099));
    assert_eq!(c.state(), ClientState::Connecting);
    c.tick(Millis(6100));
    assert_eq!(c.state(), ClientState::Disconnected);
    let events = drain_ev(&mut c);
    assert_eq!(
        reply_of(&events[0]),
        (held, None, Err(ErrorCode::ConnectionLoss))
    );
    assert_eq!(
        events[1],
        ClientEvent::Disconnected {
            reason: DisconnectReason::ConnectTimeout
        }
    );
}

#[test]
fn connection_loss_fails_outstanding_requests_in_order() {
    let server = FakeServer::new();
    let mut c = connected(&server);
    let sent = [
        c.submit(Millis(1), get_data("/a", false)),
        c.submit(Millis(1), Request::Ping),
    ];
    drain_tx(&mut c);
    let held = c.submit(Millis(2), get_data("/b", false));
    assert_eq!(c.outstanding(), 3);
    c.connection_lost(Millis(3));
    let events = drain_ev(&mut c);
    assert_eq!(events.len(), 4);
    for (ev, id) in events.iter().zip([sent[0], sent[1], held]) {
        assert_eq!(reply_of(ev), (id, None, Err(ErrorCode::ConnectionLoss)));
    }
    assert_eq!(
        events[3],
        ClientEvent::Disconnected {
            reason: DisconnectReason::ConnectionLost
        }
    );
    assert_eq!(c.outstanding(), 0);
    assert_eq!(c.poll_transmit(), None);
    // Idempotent.
    c.connection_lost(Millis(4));
    assert!(drain_ev(&mut c).is_empty());
}

#[test]
fn reconnect_resumes_session_and_rearms_watches_and_auth() {
    let mut server = FakeServer::new();
    let mut c = connected(&server);
    c.submit(
        Millis(1),
        Request::Auth {
            auth_type: 0,
            scheme: "digest".into(),
            auth: b"u:p".to_vec(),
        },
    );
    c.submit(Millis(1), get_data("/d", true));
    c.submit(
        Millis(1),
        Request::AddWatch {
            path: "/p".into(),
            mode: 0,
        },
    );
    let frames = drain_tx(&mut c);
    assert_eq!(FakeServer::decode(&frames[0]).0.xid, op::XID_AUTH);
    c.handle_frame(Millis(2), &server.reply(-4, ErrorCode::Ok, None))
        .unwrap();
    let body = Response::GetData {
        data: Some(vec![]),
        stat: stat(0),
    };
    c.handle_frame(Millis(2), &server.reply(1, ErrorCode::Ok, Some(&body)))
        .unwrap();
    c.handle_frame(
        Millis(2),
        &server.reply(2, ErrorCode::Ok, Some(&Response::ErrorResponse(0))),
    )
    .unwrap();
    let last = c.last_zxid_seen();
    assert_eq!(last, Zxid(server.zxid));
    c.connection_lost(Millis(3));
    let held = c.submit(Millis(4), get_data("/later", false));
    drain_ev(&mut c);

    // A second server: the session id, password and last zxid travel along.
    let hello = c.connect(Millis(10)).unwrap();
    let req = FakeServer::decode_connect(&hello);
    assert_eq!(req.session_id, SID);
    assert_eq!(req.passwd, PASSWD.to_vec());
    assert_eq!(req.last_zxid_seen, last);
    c.handle_frame(Millis(11), &server.accept(false)).unwrap();
    assert_eq!(
        drain_ev(&mut c),
        vec![ClientEvent::Connected {
            session_id: SID,
            timeout_ms: 6000,
            read_only: false
        }]
    );

    // Auth replay, then setWatches2 (a persistent watch is present), then held requests.
    let frames = drain_tx(&mut c);
    let decoded: Vec<(RequestHeader, Request)> =
        frames.iter().map(|f| FakeServer::decode(f)).collect();
    assert_eq!(decoded.len(), 3);
    assert_eq!(decoded[0].0.xid, op::XID_AUTH);
    assert!(matches!(&decoded[0].1, Request::Auth { scheme, .. } if scheme == "digest"));
    assert_eq!(decoded[1].0, RequestHeader { xid: -8, op: 105 });
    match &decoded[1].1 {
        Request::SetWatches { v2: true, watches } => {
            assert_eq!(watches.relative_zxid, last);
            assert_eq!(watches.data, vec!["/d".to_string()]);
            assert_eq!(watches.persistent, vec!["/p".to_string()]);
            assert!(watches.exist.is_empty() && watches.child.is_empty());
        }
        other => panic!("expected setWatches2, got {other:?}"),
    }
    assert_eq!(decoded[2].1, get_data("/later", false));
    assert_eq!(decoded[2].0.xid, 3, "xids continue across connections");

    // Internal replies are absorbed; the user's reply comes out.
    c.handle_frame(Millis(12), &server.reply(-4, ErrorCode::Ok, None))
        .unwrap();
    c.handle_frame(Millis(12), &server.reply(-8, ErrorCode::Ok, None))
        .unwrap();
    c.handle_frame(Millis(12), &server.reply(3, ErrorCode::NoNode, None))
        .unwrap();
    let events = drain_ev(&mut c);
    assert_eq!(events.len(), 1);
    assert_eq!(reply_of(&events[0]).0, held);
}

#[test]
fn set_watches_without_persistent_watches_uses_op_101() {
    let mut server = FakeServer::new();
    let mut c = connected(&server);
    c.submit(
        Millis(1),
        Request::GetChildren {
            path: "/c".into(),
            watch: true,
        },
    );
    drain_tx(&mut c);
    let body = Response::Children { children: vec![] };
    c.handle_frame(Millis(2), &server.reply(1, ErrorCode::Ok, Some(&body)))
        .unwrap();
    c.connection_lost(Millis(3));
    let _hello = c.connect(Millis(4)).unwrap();
    c.handle_frame(Millis(5), &server.accept(false)).unwrap();
    let frames = drain_tx(&mut c);
    assert_eq!(frames.len(), 1);
    let (hdr, req) = FakeServer::decode(&frames[0]);
    assert_eq!(hdr, RequestHeader { xid: -8, op: 101 });
    assert!(matches!(req, Request::SetWatches { v2: false, watches } if watches.child == ["/c"]));
}

#[test]
fn expired_session_is_terminal() {
    let mut server = FakeServer::new();
    let mut c = connected(&server);
    c.submit(Millis(1), get_data("/d", true));
    drain_tx(&mut c);
    let body = Response::GetData {
        data: None,
        stat: stat(0),
    };
    c.handle_frame(Millis(2), &server.reply(1, ErrorCode::Ok, Some(&body)))
        .unwrap();
    c.connection_lost(Millis(3));
    let held = c.submit(Millis(3), get_data("/x", false));
    drain_ev(&mut c);

    let _hello = c.connect(Millis(4)).unwrap();
    c.handle_frame(Millis(5), &FakeServer::reject()).unwrap();
    assert_eq!(c.state(), ClientState::Expired);
    let events = drain_ev(&mut c);
    assert_eq!(
        reply_of(&events[0]),
        (held, None, Err(ErrorCode::SessionExpired))
    );
    assert_eq!(events[1], ClientEvent::Expired);
    assert!(c.watches().is_empty());
    assert_eq!(c.next_deadline(), None);
    assert_eq!(
        c.connect(Millis(6)),
        Err(ClientError::Terminal(ClientState::Expired))
    );
    let late = c.submit(Millis(7), get_data("/y", false));
    assert_eq!(
        reply_of(&drain_ev(&mut c)[0]),
        (late, None, Err(ErrorCode::SessionExpired))
    );
    assert_eq!(c.poll_transmit(), None);
}

#[test]
fn auth_failure_is_terminal() {
    let mut server = FakeServer::new();
    let mut c = connected(&server);
    let auth = c.submit(
        Millis(1),
        Request::Auth {
            auth_type: 0,
            scheme: "digest".into(),
            auth: b"bad".to_vec(),
        },
    );
    let other = c.submit(Millis(1), get_data("/a", false));
    drain_tx(&mut c);
    c.handle_frame(Millis(2), &server.reply(-4, ErrorCode::AuthFailed, None))
        .unwrap();
    assert_eq!(c.state(), ClientState::AuthFailed);
    let events = drain_ev(&mut c);
    assert_eq!(
        reply_of(&events[0]),
        (auth, Some(Zxid(server.zxid)), Err(ErrorCode::AuthFailed))
    );
    assert_eq!(
        reply_of(&events[1]),
        (other, None, Err(ErrorCode::AuthFailed))
    );
    assert_eq!(events[2], ClientEvent::AuthFailed);
}

#[test]
fn close_session_reply_closes_the_client() {
    let mut server = FakeServer::new();
    let mut c = connected(&server);
    let id = c.close(Millis(1));
    let frames = drain_tx(&mut c);
    assert_eq!(payload(&frames[0]), [0, 0, 0, 1, 0xff, 0xff, 0xff, 0xf5]);
    c.handle_frame(Millis(2), &server.reply(1, ErrorCode::Ok, None))
        .unwrap();
    let events = drain_ev(&mut c);
    assert_eq!(reply_of(&events[0]).0, id);
    assert_eq!(events[1], ClientEvent::Closed);
    assert_eq!(c.state(), ClientState::Closed);
    c.connection_lost(Millis(3));
    assert_eq!(c.state(), ClientState::Closed);
}

#[test]
fn xids_wrap_to_one_and_special_requests_use_special_xids() {
    let server = FakeServer::new();
    let mut c = connected(&server);
    c.next_xid = i32::MAX;
    c.submit(Millis(1), get_data("/a", false));
    c.submit(Millis(1), Request::Ping);
    c.submit(
        Millis(1),
        Request::Auth {
            auth_type: 0,
            scheme: "x".into(),
            auth: vec![],
        },
    );
    c.submit(
        Millis(1),
        Request::SetWatches {
            v2: false,
            watches: SetWatches::default(),
        },
    );
    c.submit(Millis(1), get_data("/b", false));
    let xids: Vec<i32> = drain_tx(&mut c)
        .iter()
        .map(|f| FakeServer::decode(f).0.xid)
        .collect();
    assert_eq!(xids, vec![i32::MAX, -2, -4, -8, 1]);
}

#[test]
fn read_only_server_sessions_are_not_resumed() {
    let server = FakeServer::new();
    let mut config = ClientConfig::new(6000);
    config.read_only = true;
    let mut c = Client::new(config);
    let hello = c.connect(Millis(0)).unwrap();
    assert_eq!(FakeServer::decode_connect(&hello).read_only, Some(true));
    c.handle_frame(Millis(1), &server.accept(true)).unwrap();
    assert_eq!(c.state(), ClientState::Connected { read_only: true });
    assert_eq!(
        drain_ev(&mut c),
        vec![ClientEvent::Connected {
            session_id: SID,
            timeout_ms: 6000,
            read_only: true
        }]
    );
    c.connection_lost(Millis(2));
    let hello = c.connect(Millis(3)).unwrap();
    assert_eq!(FakeServer::decode_connect(&hello).session_id, SessionId(0));
    // After a read-write server, the session is resumed.
    c.handle_frame(Millis(4), &server.accept(false)).unwrap();
    c.connection_lost(Millis(5));
    let hello = c.connect(Millis(6)).unwrap();
    assert_eq!(FakeServer::decode_connect(&hello).session_id, SID);
}

#[test]
fn with_session_resumes_from_the_first_connect() {
    let mut c = Client::with_session(ClientConfig::new(6000), SID, PASSWD.to_vec());
    let req = FakeServer::decode_connect(&c.connect(Millis(0)).unwrap());
    assert_eq!((req.session_id, req.passwd), (SID, PASSWD.to_vec()));
}

#[test]
fn connect_on_a_live_connection_loses_it_first() {
    let server = FakeServer::new();
    let mut c = connected(&server);
    let id = c.submit(Millis(1), get_data("/a", false));
    drain_tx(&mut c);
    let _hello = c.connect(Millis(2)).unwrap();
    let events = drain_ev(&mut c);
    assert_eq!(
        reply_of(&events[0]),
        (id, None, Err(ErrorCode::ConnectionLoss))
    );
    assert_eq!(
        events[1],
        ClientEvent::Disconnected {
            reason: DisconnectReason::ConnectionLost
        }
    );
    assert_eq!(c.state(), ClientState::Connecting);
}

#[test]
fn oversized_and_garbage_frames_drop_the_connection() {
    let server = FakeServer::new();
    let mut config = ClientConfig::new(6000);
    config.max_frame_len = 64;
    let mut c = Client::new(config);
    let _hello = c.connect(Millis(0)).unwrap();
    assert_eq!(
        c.handle_frame(Millis(1), &[0; 65]),
        Err(ClientError::FrameTooLarge { len: 65, max: 64 })
    );
    assert_eq!(c.state(), ClientState::Disconnected);
    let _hello = c.connect(Millis(2)).unwrap();
    assert!(c.handle_frame(Millis(3), &[0, 0, 0]).is_err());
    let _hello = c.connect(Millis(4)).unwrap();
    c.handle_frame(Millis(5), &server.accept(false)).unwrap();
    assert!(c.handle_frame(Millis(6), &[1, 2, 3, 4, 5]).is_err());
    assert_eq!(c.state(), ClientState::Disconnected);
}
