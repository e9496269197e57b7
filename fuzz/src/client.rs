//! `fuzz_client`: the input is a script of driver actions and server frames played against
//! the client state machine, with a minimal fake server that can answer in order.
//!
//! Script layout: byte 0 = config flags (bit 0 read_only, bit 1 reset_watches, bit 2 a
//! 64-byte frame limit), byte 1 = requested timeout in units of 100 ms; then steps, each an
//! action byte (taken modulo [`ACTIONS`]) followed by its arguments (missing bytes read
//! as 0). [`ClientScript`] writes scripts.

use std::collections::{BTreeSet, VecDeque};

use corral_core::client::{Client, ClientConfig, ClientEvent, ClientState, RequestId};
use corral_core::error::ErrorCode;
use corral_core::jute::{JuteReader, JuteWriter, Record};
use corral_core::proto::event::WatcherEvent;
use corral_core::proto::{
    encode_reply_frame, op, Acl, ConnectRequest, ConnectResponse, CreateRequest, MultiResult,
    ReplyHeader, Request, RequestHeader, Response, SetWatches, Stat,
};
use corral_core::types::{Millis, SessionId, Zxid};

/// Number of distinct actions.
pub const ACTIONS: u8 = 10;
const CONNECT: u8 = 0;
const SUBMIT: u8 = 1;
const RAW: u8 = 2;
const REPLY: u8 = 3;
const REPLY_BODY: u8 = 4;
const ACCEPT: u8 = 5;
const NOTIFY: u8 = 6;
const ADVANCE: u8 = 7;
const LOST: u8 = 8;
const DEADLINE: u8 = 9;

/// Reply codes the fake server picks from; the last two are undefined on purpose.
const CODES: &[i32] = &[
    0, 0, 0, -4, -101, -102, -103, -110, -112, -115, -118, -119, -121, -5, -6, -9, 7,
];

const PATHS: &[&str] = &["/", "/a", "/a/b", "", "/zookeeper"];

/// Builds `fuzz_client` inputs (used for the seed corpus and tests).
#[derive(Clone, Debug)]
pub struct ClientScript(Vec<u8>);

impl ClientScript {
    /// A script with config `flags` and a requested timeout of `timeout_100ms` * 100 ms.
    pub fn new(flags: u8, timeout_100ms: u8) -> Self {
        ClientScript(vec![flags, timeout_100ms])
    }
    /// Call `connect` (the fake server starts a new connection).
    pub fn connect(mut self) -> Self {
        self.0.push(CONNECT);
        self
    }
    /// Submit request number `k` of the menu in [`request_menu`].
    pub fn submit(mut self, k: u8) -> Self {
        self.0.extend([SUBMIT, k]);
        self
    }
    /// Feed a raw frame payload (at most 255 bytes).
    pub fn raw(mut self, payload: &[u8]) -> Self {
        let n = payload.len().min(255);
        self.0.extend([RAW, n as u8]);
        self.0.extend_from_slice(&payload[..n]);
        self
    }
    /// Answer the oldest in-flight request with code `CODES[code]` and a well-formed body.
    pub fn reply(mut self, code: u8) -> Self {
        self.0.extend([REPLY, code]);
        self
    }
    /// Answer the oldest in-flight request with code `CODES[code]` and `body` as the body.
    pub fn reply_body(mut self, code: u8, body: &[u8]) -> Self {
        let n = body.len().min(255);
        self.0.extend([REPLY_BODY, code, n as u8]);
        self.0.extend_from_slice(&body[..n]);
        self
    }
    /// Send a ConnectResponse with timeout `timeout_100ms` * 100 (0 = expired); flags bit 0
    /// marks a read-only server, the other bits pick the session id.
    pub fn accept(mut self, timeout_100ms: u8, flags: u8) -> Self {
        self.0.extend([ACCEPT, timeout_100ms, flags]);
        self
    }
    /// Send a notification: event type code `t` - 2, path `PATHS[p]`, zxid `z` - 1.
    pub fn notify(mut self, t: u8, p: u8, z: u8) -> Self {
        self.0.extend([NOTIFY, t, p, z]);
        self
    }
    /// Advance the clock by `ms` and tick.
    pub fn advance(mut self, ms: u16) -> Self {
        self.0.push(ADVANCE);
        self.0.extend(ms.to_be_bytes());
        self
    }
    /// Report the transport lost.
    pub fn lost(mut self) -> Self {
        self.0.push(LOST);
        self
    }
    /// Jump to the next deadline and tick.
    pub fn deadline(mut self) -> Self {
        self.0.push(DEADLINE);
        self
    }
    /// The input bytes.
    pub fn build(self) -> Vec<u8> {
        self.0
    }
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
}

fn path(k: u8) -> String {
    PATHS[usize::from(k) % PATHS.len()].to_string()
}

/// The requests scripts can submit, by number (taken modulo the menu length).
pub fn request_menu(k: u8) -> Request {
    let p = path(k / 25);
    let create = |op| Request::Create {
        op,
        req: CreateRequest {
            path: p.clone(),
            data: Some(vec![k]),
            acl: Some(Acl::open_unsafe()),
            flags: 0,
            ttl: (op == op::CREATE_TTL).then_some(1000),
        },
    };
    match k % 25 {
        0 => Request::GetData {
            path: p,
            watch: true,
        },
        1 => Request::Exists {
            path: p,
            watch: true,
        },
        2 => Request::GetChildren {
            path: p,
            watch: true,
        },
        3 => Request::GetChildren2 {
            path: p,
            watch: false,
        },
        4 => Request::AddWatch { path: p, mode: 0 },
        5 => Request::AddWatch { path: p, mode: 1 },
        6 => Request::RemoveWatches {
            path: p,
            watcher_type: 3,
        },
        7 => create(op::CREATE2),
        8 => Request::Delete {
            path: p,
            version: -1,
        },
        9 => Request::SetData {
            path: p,
            data: None,
            version: -1,
        },
        10 => Request::Multi(vec![
            create(op::CREATE),
            Request::Check {
                path: "/".into(),
                version: 0,
            },
        ]),
        11 => Request::MultiRead(vec![
            Request::GetData {
                path: p.clone(),
                watch: true,
            },
            Request::GetChildren {
                path: p,
                watch: false,
            },
        ]),
        12 => Request::Ping,
        13 => Request::Auth {
            auth_type: 0,
            scheme: "digest".into(),
            auth: b"u:p".to_vec(),
        },
        14 => Request::SetWatches {
            v2: true,
            watches: SetWatches {
                relative_zxid: Zxid(1),
                data: vec![p],
                ..SetWatches::default()
            },
        },
        15 => Request::Sync { path: p },
        16 => Request::CloseSession,
        17 => Request::WhoAmI,
        18 => Request::GetAcl { path: p },
        19 => Request::SetAcl {
            path: p,
            acl: Some(Acl::read_unsafe()),
            version: -1,
        },
        20 => Request::GetEphemerals { prefix: p },
        21 => Request::GetAllChildrenNumber { path: p },
        22 => Request::CheckWatches {
            path: p,
            watcher_type: 2,
        },
        23 => create(op::CREATE_TTL),
        _ => Request::Reconfig {
            joining: None,
            leaving: Some("2".into()),
            new_members: None,
            config_id: -1,
        },
    }
}

/// A well-formed success body for a request with opcode `op`.
fn canned_response(op: i32) -> Response {
    let stat = Stat::default();
    match op {
        op::CREATE => Response::Create { path: "/a".into() },
        op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => Response::Create2 {
            path: "/a".into(),
            stat,
        },
        op::EXISTS | op::SET_DATA | op::SET_ACL => Response::Stat(stat),
        op::GET_DATA => Response::GetData {
            data: Some(vec![1]),
            stat,
        },
        op::GET_ACL => Response::GetAcl {
            acl: Acl::open_unsafe(),
            stat,
        },
        op::GET_CHILDREN => Response::Children {
            children: vec!["b".into()],
        },
        op::GET_CHILDREN2 => Response::Children2 {
            children: vec![],
            stat,
        },
        op::SYNC => Response::Sync { path: "/".into() },
        op::MULTI => Response::Multi(vec![MultiResult::Error(0), MultiResult::Error(-103)]),
        op::MULTI_READ => Response::Multi(vec![
            MultiResult::GetData { data: None, stat },
            MultiResult::Error(-101),
        ]),
        op::ADD_WATCH => Response::ErrorResponse(0),
        op::GET_EPHEMERALS => Response::Ephemerals(vec!["/e".into()]),
        op::GET_ALL_CHILDREN_NUMBER => Response::AllChildrenNumber(3),
        op::WHO_AM_I => Response::WhoAmI(vec![("ip".into(), "127.0.0.1".into())]),
        _ => Response::Empty,
    }
}

/// The fake server's view of one connection plus the invariants being checked.
struct Harness {
    client: Client,
    now: Millis,
    /// (xid, op) of frames the client released on this connection, oldest first.
    in_flight: VecDeque<(i32, i32)>,
    /// False once a raw frame may have consumed an in-flight request behind our back.
    in_flight_exact: bool,
    /// Submitted requests without a Reply event yet.
    unanswered: BTreeSet<RequestId>,
    zxid: i64,
    last_zxid_seen: Zxid,
    max_frame_len: usize,
    summary: Summary,
}

/// What happened during one script, for tests that check scripts reach their target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub connects: usize,
    pub disconnects: usize,
    pub frames_sent: usize,
    pub replies_ok: usize,
    pub replies_err: usize,
    pub watch_events: usize,
    /// The terminal state reached, if any.
    pub terminal: Option<ClientState>,
}

impl Harness {
    fn config(flags: u8, timeout: u8) -> ClientConfig {
        let mut config = ClientConfig::new(i32::from(timeout) * 100);
        config.read_only = flags & 1 != 0;
        config.reset_watches = flags & 2 != 0;
        if flags & 4 != 0 {
            config.max_frame_len = 64;
        }
        config
    }

    fn connected(&self) -> bool {
        matches!(self.client.state(), ClientState::Connected { .. })
    }

    fn step(&mut self, action: u8, c: &mut Cursor<'_>) {
        match action {
            CONNECT => {
                self.in_flight.clear();
                self.in_flight_exact = true;
                match self.client.connect(self.now) {
                    Ok(frame) => {
                        let req = ConnectRequest::decode(&frame[4..]).expect("handshake decodes");
                        assert_eq!(req.last_zxid_seen, self.client.last_zxid_seen());
                        assert_eq!(req.passwd.len(), 16);
                    }
                    Err(_) => assert!(self.client.state().is_terminal()),
                }
            }
            SUBMIT => {
                let id = self.client.submit(self.now, request_menu(c.byte()));
                assert!(self.unanswered.insert(id), "request id reused");
            }
            RAW => {
                let n = usize::from(c.byte());
                let payload = c.bytes(n).to_vec();
                let notification = payload.starts_with(&[0xff; 4]);
                if self.client.handle_frame(self.now, &payload).is_ok() && !notification {
                    self.in_flight_exact = false;
                }
            }
            REPLY | REPLY_BODY => self.reply(action, c),
            ACCEPT => self.accept(c),
            NOTIFY => {
                let t = i32::from(c.byte()) - 2;
                let p = path(c.byte());
                let z = i64::from(c.byte()) - 1;
                let mut w = JuteWriter::new();
                ReplyHeader {
                    xid: -1,
                    zxid: Zxid(z),
                    err: 0,
                }
                .write(&mut w);
                WatcherEvent {
                    event_type: t,
                    state: 3,
                    path: p,
                }
                .write(&mut w);
                let was_connected = self.connected();
                let result = self.client.handle_frame(self.now, &w.into_inner());
                let defined = (1..=7).contains(&t) || t == -1;
                if was_connected {
                    assert_eq!(result.is_ok(), defined, "notification type {t}: {result:?}");
                }
            }
            ADVANCE => {
                let ms = u16::from_be_bytes([c.byte(), c.byte()]);
                self.now = self.now.plus(i64::from(ms));
                self.client.tick(self.now);
            }
            LOST => self.client.connection_lost(self.now),
            _ => {
                if let Some(d) = self.client.next_deadline() {
                    self.now = d;
                    self.client.tick(self.now);
                }
            }
        }
    }

    fn accept(&mut self, c: &mut Cursor<'_>) {
        let timeout = i32::from(c.byte()) * 100;
        let flags = c.byte();
        let mut w = JuteWriter::new();
        ConnectResponse {
            protocol_version: 0,
            timeout_ms: timeout,
            session_id: SessionId(i64::from(flags >> 1) + 1),
            passwd: vec![flags; 16],
            read_only: Some(flags & 1 != 0),
        }
        .write(&mut w);
        let connecting = self.client.state() == ClientState::Connecting;
        let result = self.client.handle_frame(self.now, &w.into_inner());
        assert_eq!(result.is_ok(), connecting, "ConnectResponse: {result:?}");
        if connecting && timeout == 0 {
            assert_eq!(self.client.state(), ClientState::Expired);
        }
    }

    fn reply(&mut self, action: u8, c: &mut Cursor<'_>) {
        let err = CODES[usize::from(c.byte()) % CODES.len()];
        let Some(&(xid, op)) = self.in_flight.front() else {
            if action == REPLY_BODY {
                let n = usize::from(c.byte());
                c.bytes(n);
            }
            return;
        };
        self.zxid += 1;
        let hdr = ReplyHeader {
            xid,
            zxid: Zxid(if xid == -4 { 0 } else { self.zxid }),
            err,
        };
        let frame = if action == REPLY_BODY {
            let n = usize::from(c.byte());
            let mut w = JuteWriter::new();
            hdr.write(&mut w);
            w.write_raw(c.bytes(n));
            w.into_inner()
        } else {
            let body = (err == 0).then(|| canned_response(op));
            encode_reply_frame(hdr, body.as_ref())[4..].to_vec()
        };
        let was_connected = self.connected();
        let result = self.client.handle_frame(self.now, &frame);
        let must_accept = action == REPLY
            && was_connected
            && self.in_flight_exact
            && ErrorCode::from_code(err).is_some()
            && frame.len() <= self.max_frame_len;
        if must_accept {
            assert_eq!(result, Ok(()), "well-formed in-order reply refused");
        }
        if result.is_ok() {
            self.in_flight.pop_front();
        }
    }

    /// Drain outputs and check invariants after every step.
    fn check(&mut self) {
        while let Some(frame) = self.client.poll_transmit() {
            assert!(self.connected(), "frame released while not connected");
            let len = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
            assert_eq!(len as usize, frame.len() - 4);
            let mut r = JuteReader::new(&frame[4..]);
            let hdr = RequestHeader::read(&mut r).expect("own header decodes");
            Request::decode(hdr.op, &mut r).expect("own request decodes");
            assert_eq!(r.remaining(), 0);
            self.in_flight.push_back((hdr.xid, hdr.op));
            self.summary.frames_sent += 1;
        }
        while let Some(ev) = self.client.poll_event() {
            match ev {
                ClientEvent::Reply { id, result, .. } => {
                    assert!(self.unanswered.remove(&id), "reply for {id:?} twice");
                    match result {
                        Ok(_) => self.summary.replies_ok += 1,
                        Err(_) => self.summary.replies_err += 1,
                    }
                }
                ClientEvent::Disconnected { .. } => {
                    self.summary.disconnects += 1;
                    self.in_flight.clear();
                }
                ClientEvent::Connected { .. } => self.summary.connects += 1,
                ClientEvent::Watch { .. } => self.summary.watch_events += 1,
                ClientEvent::Expired | ClientEvent::AuthFailed | ClientEvent::Closed => {
                    self.summary.terminal = Some(self.client.state());
                }
            }
        }
        let state = self.client.state();
        if !self.connected() {
            self.in_flight.clear();
        }
        let live = matches!(
            state,
            ClientState::Connecting | ClientState::Connected { .. }
        );
        match self.client.next_deadline() {
            Some(d) => assert!(live && d > self.now, "deadline {d:?} at {:?}", self.now),
            None => assert!(!live, "live connection without a deadline"),
        }
        if state.is_terminal() {
            assert!(self.unanswered.is_empty(), "terminal with requests pending");
            assert_eq!(self.client.outstanding(), 0);
        }
        if !live {
            // Only held user requests survive a lost connection.
            assert_eq!(self.unanswered.len(), self.client.outstanding());
        }
        assert!(self.client.last_zxid_seen() >= self.last_zxid_seen);
        self.last_zxid_seen = self.client.last_zxid_seen();
    }
}

/// Play a script (see the module docs) against a [`Client`] and check its invariants:
/// every submitted request gets exactly one Reply event, nothing is released while not
/// connected, the client's own frames decode, a well-formed in-order reply is accepted,
/// deadlines exist exactly while a connection is live, last_zxid_seen never goes back,
/// and losing the connection completes everything outstanding.
pub fn fuzz_client(data: &[u8]) {
    play_client_script(data);
}

/// [`fuzz_client`], returning what happened.
pub fn play_client_script(data: &[u8]) -> Summary {
    let mut c = Cursor(data);
    let config = Harness::config(c.byte(), c.byte());
    let max_frame_len = config.max_frame_len;
    let mut h = Harness {
        max_frame_len,
        summary: Summary::default(),
        client: Client::new(config),
        now: Millis(0),
        in_flight: VecDeque::new(),
        in_flight_exact: true,
        unanswered: BTreeSet::new(),
        zxid: 0x1_0000_0000,
        last_zxid_seen: Zxid::ZERO,
    };
    // Bound the work per input: scripts longer than this are cut.
    for _ in 0..4096 {
        if c.0.is_empty() {
            break;
        }
        let action = c.byte() % ACTIONS;
        h.step(action, &mut c);
        h.check();
    }
    h.client.connection_lost(h.now);
    h.check();
    assert_eq!(
        h.unanswered.len(),
        h.client.outstanding(),
        "requests neither answered nor held"
    );
    h.summary
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ClientScript {
        ClientScript::new(2, 60).connect().accept(60, 0)
    }

    #[test]
    fn scripts_reach_what_they_aim_at() {
        let s = play_client_script(&base().submit(0).submit(1).reply(0).reply(4).build());
        assert_eq!((s.connects, s.frames_sent), (1, 2));
        assert_eq!((s.replies_ok, s.replies_err), (1, 1));

        // Reconnect: the getData watch and the auth are replayed (2 internal frames).
        let s = play_client_script(
            &base()
                .submit(0)
                .submit(13)
                .reply(0)
                .reply(0)
                .lost()
                .connect()
                .accept(60, 0)
                .reply(0)
                .reply(0)
                .build(),
        );
        assert_eq!((s.connects, s.frames_sent, s.replies_ok), (2, 4, 2));

        let s = play_client_script(&base().lost().connect().accept(0, 0).submit(0).build());
        assert_eq!(s.terminal, Some(ClientState::Expired));
        assert_eq!(s.replies_err, 1);

        let s = play_client_script(&base().submit(13).submit(0).reply(9).build());
        assert_eq!(s.terminal, Some(ClientState::AuthFailed));
        assert_eq!(s.replies_err, 2);

        let s = play_client_script(&base().submit(0).reply(0).notify(5, 1, 0).build());
        assert_eq!(s.watch_events, 1);

        // Timeout 6000: pings at 2000 (answered) and 4000 (not), read timeout at 6000.
        let s = play_client_script(
            &base()
                .deadline()
                .reply(0)
                .deadline()
                .deadline()
                .deadline()
                .build(),
        );
        assert_eq!((s.frames_sent, s.disconnects), (2, 1));
        assert_eq!(
            s.replies_ok + s.replies_err,
            0,
            "internal pings are not reported"
        );
    }
}
