//! The server state machine under arbitrary input sequences.
//!
//! The input bytes are a script: each step opens or closes a connection, sends a handshake,
//! a well-formed request drawn from a small menu (small path set, so operations collide),
//! or raw bytes as a frame, completes persistence (all of it or only the oldest batch), or
//! moves time forward. After every step the server must not have panicked and the tree must
//! pass its full consistency check; replies on a connection must echo the xids of its
//! requests in order, and nothing may be sent to a connection after its `Close`.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use corral_core::jute::{JuteReader, JuteWriter, Record};
use corral_core::proto::{
    encode_request_frame, Acl, ConnectRequest, ConnectResponse, CreateRequest, ReplyHeader,
    Request, SetWatches,
};
use corral_core::server::{Output, PersistToken, Server, ServerConfig};
use corral_core::types::{ConnId, Millis, SessionId, Zxid};

const PATHS: &[&str] = &["/a", "/a/b", "/a/b/c", "/e", "/c", "/", "/zookeeper", "/s-"];

/// A byte cursor that yields 0 once the script is exhausted.
struct Script<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Script<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
    fn path(&mut self) -> String {
        PATHS[self.byte() as usize % PATHS.len()].to_owned()
    }
}

#[derive(Default)]
struct ConnModel {
    /// xids sent and not yet answered (pings excluded: they always reply with -2).
    expected: VecDeque<i32>,
    handshaken: bool,
    connected: bool,
    closed: bool,
    /// Raw bytes were sent: the reply-order model no longer applies.
    unchecked: bool,
    session: Option<(SessionId, Vec<u8>)>,
}

struct World {
    server: Server,
    now: Millis,
    pending: VecDeque<PersistToken>,
    conns: BTreeMap<ConnId, ConnModel>,
    sessions: Vec<(SessionId, Vec<u8>)>,
    next_conn: u64,
    next_xid: i32,
}

impl World {
    fn pump(&mut self) {
        while let Some(out) = self.server.poll_output() {
            match out {
                Output::Persist { token, entries } => {
                    for e in &entries {
                        // The log encoding must round-trip whatever the server persists.
                        let back = corral_core::server::LogEntry::from_bytes(&e.to_bytes())
                            .expect("persisted entry decodes");
                        assert_eq!(&back, e, "log entry round trip");
                    }
                    self.pending.push_back(token);
                }
                Output::Snapshot { token, zxid, .. } => {
                    // The live tree stands for what the shell would rebuild from the log;
                    // its snapshot must load back to the same digest.
                    assert_eq!(
                        self.server.tree().last_zxid(),
                        zxid,
                        "snapshot of applied state"
                    );
                    let image = corral_core::snapshot::Image {
                        tree: self.server.tree().clone(),
                        sessions: Default::default(),
                    };
                    let back =
                        corral_core::snapshot::read(&corral_core::snapshot::to_bytes(&image))
                            .expect("snapshot loads");
                    assert_eq!(back.tree.digest(), image.tree.digest());
                    self.server.snapshotted(token, zxid, true);
                }
                Output::Close { conn } => {
                    let c = self.conns.entry(conn).or_default();
                    c.closed = true;
                    self.server.connection_closed(self.now, conn);
                }
                Output::Send { conn, bytes } => {
                    let c = self
                        .conns
                        .get_mut(&conn)
                        .expect("send to a known connection");
                    assert!(!c.closed, "send after close on {conn:?}");
                    check_frames(c, &bytes, &mut self.sessions);
                }
                other => panic!("a standalone server emitted {other:?}"),
            }
        }
        self.server.tree().verify().expect("tree stays consistent");
    }
}

fn check_frames(c: &mut ConnModel, bytes: &[u8], sessions: &mut Vec<(SessionId, Vec<u8>)>) {
    let mut rest = bytes;
    while !rest.is_empty() && !c.unchecked {
        assert!(rest.len() >= 4, "truncated frame");
        let len = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let payload = &rest[4..4 + len];
        rest = &rest[4 + len..];
        if !c.connected {
            let resp = ConnectResponse::decode(payload).expect("ConnectResponse decodes");
            assert_eq!(resp.passwd.len(), 16);
            c.connected = true;
            if resp.timeout_ms > 0 {
                sessions.push((resp.session_id, resp.passwd.clone()));
            }
            continue;
        }
        let hdr = ReplyHeader::read(&mut JuteReader::new(payload)).expect("reply header");
        if hdr.xid == -1 || hdr.xid == -2 {
            continue;
        }
        let want = c.expected.pop_front();
        assert_eq!(want, Some(hdr.xid), "reply out of order");
    }
}

fn menu(s: &mut Script<'_>) -> Request {
    let path = s.path();
    let version = (s.byte() as i32 % 3) - 1;
    match s.byte() % 16 {
        0 | 1 => Request::Create {
            op: [1, 15, 19, 21][s.byte() as usize % 4],
            req: CreateRequest {
                path,
                data: Some(vec![s.byte()]),
                acl: Some(if s.byte().is_multiple_of(5) {
                    Acl::creator_all()
                } else {
                    Acl::open_unsafe()
                }),
                flags: s.byte() as i32 % 8,
                ttl: Some(s.byte() as i64 * 100),
            },
        },
        2 => Request::Delete { path, version },
        3 => Request::SetData {
            path,
            data: None,
            version,
        },
        4 => Request::GetData {
            path,
            watch: s.byte().is_multiple_of(2),
        },
        5 => Request::Exists { path, watch: true },
        6 => Request::GetChildren2 { path, watch: true },
        7 => Request::Multi((0..s.byte() % 4).map(|_| menu_write(s)).collect()),
        8 => Request::SetAcl {
            path,
            acl: Some(Acl::read_unsafe()),
            version,
        },
        9 => Request::AddWatch {
            path,
            mode: s.byte() as i32 % 3,
        },
        10 => Request::SetWatches {
            v2: true,
            watches: SetWatches {
                relative_zxid: Zxid(s.byte() as i64),
                data: vec![path.clone()],
                exist: vec![s.path()],
                child: vec![path],
                persistent: vec![s.path()],
                persistent_recursive: vec![],
            },
        },
        11 => Request::Auth {
            auth_type: 0,
            scheme: "digest".into(),
            auth: b"u:p".to_vec(),
        },
        12 => Request::RemoveWatches {
            path,
            watcher_type: s.byte() as i32 % 6,
        },
        13 => Request::CloseSession,
        14 => Request::GetEphemerals { prefix: "/".into() },
        _ => Request::Sync { path },
    }
}

fn menu_write(s: &mut Script<'_>) -> Request {
    match menu(s) {
        r @ (Request::Create { .. } | Request::Delete { .. } | Request::SetData { .. }) => r,
        _ => Request::Check {
            path: s.path(),
            version: -1,
        },
    }
}

/// Drive a `Server` with the script in `data`. Panics only on a bug.
pub fn fuzz_server(data: &[u8]) {
    let now = Millis(1_700_000_000_000);
    let config = ServerConfig {
        extended_types_enabled: data.first().is_some_and(|b| b % 2 == 0),
        container_check_interval_ms: 1000,
        snap_count: 4,
        ..ServerConfig::default()
    };
    let mut server = Server::new(config, now);
    server.start(now);
    let mut w = World {
        server,
        now,
        pending: VecDeque::new(),
        conns: BTreeMap::new(),
        sessions: Vec::new(),
        next_conn: 1,
        next_xid: 1,
    };
    let mut s = Script { data, pos: 1 };
    let addr: SocketAddr = "127.0.0.1:5000".parse().expect("address");
    let mut steps = 0;
    while !s.done() && steps < 512 {
        steps += 1;
        let live: Vec<ConnId> = w
            .conns
            .iter()
            .filter(|(_, c)| !c.closed)
            .map(|(id, _)| *id)
            .collect();
        let pick = |b: u8| live.get(b as usize % live.len().max(1)).copied();
        match s.byte() % 9 {
            0 => {
                let id = ConnId(w.next_conn);
                w.next_conn += 1;
                w.conns.insert(id, ConnModel::default());
                w.server.connection_opened(w.now, id, addr);
            }
            1 => {
                let Some(id) = pick(s.byte()) else { continue };
                let c = w.conns.get_mut(&id).expect("live");
                if c.handshaken {
                    continue;
                }
                c.handshaken = true;
                let resume = s.byte();
                let (session, passwd) = match w.sessions.get(resume as usize % 4) {
                    Some((id, pw)) if !resume.is_multiple_of(3) => {
                        let mut pw = pw.clone();
                        if resume.is_multiple_of(7) {
                            pw[0] ^= 1;
                        }
                        (*id, pw)
                    }
                    _ => (SessionId(0), vec![0; 16]),
                };
                c.session = Some((session, passwd.clone()));
                let req = ConnectRequest {
                    protocol_version: 0,
                    last_zxid_seen: Zxid(s.byte() as i64 % 4),
                    timeout_ms: s.byte() as i32 * 100,
                    session_id: session,
                    passwd,
                    read_only: s.byte().is_multiple_of(2).then_some(false),
                };
                let mut jw = JuteWriter::new();
                req.write(&mut jw);
                w.server.frame_received(w.now, id, &jw.into_inner());
            }
            2 | 3 => {
                let Some(id) = pick(s.byte()) else { continue };
                let req = menu(&mut s);
                let xid = w.next_xid;
                w.next_xid += 1;
                let c = w.conns.get_mut(&id).expect("live");
                if !c.handshaken {
                    continue;
                }
                c.expected.push_back(xid);
                let frame = encode_request_frame(xid, &req);
                w.server.frame_received(w.now, id, &frame[4..]);
            }
            4 => {
                let Some(id) = pick(s.byte()) else { continue };
                let n = s.byte() as usize % 24;
                let raw: Vec<u8> = (0..n).map(|_| s.byte()).collect();
                // Raw bytes may be anything; the reply-order model cannot follow them.
                let c = w.conns.get_mut(&id).expect("live");
                c.unchecked = true;
                c.handshaken = true;
                w.server.frame_received(w.now, id, &raw);
            }
            5 => {
                if let Some(t) = w.pending.back().copied() {
                    w.pending.clear();
                    w.server.persisted(w.now, t);
                }
            }
            6 => {
                if let Some(t) = w.pending.pop_front() {
                    w.server.persisted(w.now, t);
                }
            }
            7 => {
                w.now = w.now.plus(s.byte() as i64 * 50);
                w.server.tick(w.now);
            }
            _ => {
                let Some(id) = pick(s.byte()) else { continue };
                w.conns.get_mut(&id).expect("live").closed = true;
                w.server.connection_closed(w.now, id);
            }
        }
        w.pump();
    }
    // Finally everything becomes durable; the server must settle cleanly.
    if let Some(t) = w.pending.back().copied() {
        w.server.persisted(w.now, t);
    }
    w.pump();
}
