//! A tiny synchronous driver for `Server` used by the server tests: it decodes outputs,
//! keeps the log in memory, and completes persistence when told to.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;

use corral_core::jute::{JuteReader, JuteWriter, Record};
use corral_core::proto::event::WatcherEvent;
use corral_core::proto::{
    encode_request_frame, ConnectRequest, ConnectResponse, ReplyHeader, Request, Response,
};
use corral_core::server::{LogEntry, Output, PersistToken, Server, ServerConfig};
use corral_core::snapshot::Delta;
use corral_core::types::{ConnId, Millis, SessionId, Zxid};

/// A reply or notification as seen by a client.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    Connect(ConnectResponse),
    Reply { hdr: ReplyHeader, body: Vec<u8> },
    Event(WatcherEvent),
}

pub struct Harness {
    pub server: Server,
    pub now: Millis,
    /// Every durable entry, in order (what a restart replays).
    pub log: Vec<LogEntry>,
    /// Persist requests not yet completed.
    pub pending: Vec<(PersistToken, Vec<LogEntry>)>,
    /// Frames received per connection, not yet taken by the test.
    pub inbox: BTreeMap<ConnId, Vec<Frame>>,
    pub closed: Vec<ConnId>,
    /// Every output in order, rendered as text (for determinism checks).
    pub trace: Vec<String>,
    connected: BTreeMap<ConnId, bool>,
    next_conn: u64,
    /// Complete persistence automatically after each input.
    pub auto_persist: bool,
    /// Snapshots: each request is answered written (the harness keeps the whole log, so
    /// it writes nothing), except every `fail_snapshot_every`-th one (0: none fails). A
    /// delta that comes with a request is merged into the last snapshot written and must
    /// hold what replaying the log up to its zxid gives.
    pub fail_snapshot_every: u64,
    snapshots_asked: u64,
    /// The last snapshot written (`None`: the fresh tree, the base of the first delta).
    snapshot_base: Option<Vec<u8>>,
    /// Deltas merged and checked.
    pub deltas_merged: u64,
    /// Snapshots requested without a delta.
    pub full_snapshots: u64,
}

pub fn addr() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

impl Harness {
    pub fn new(config: ServerConfig) -> Harness {
        let now = Millis(1_700_000_000_000);
        let mut server = Server::new(config, now);
        server.start(now);
        Harness {
            server,
            now,
            log: Vec::new(),
            pending: Vec::new(),
            inbox: BTreeMap::new(),
            closed: Vec::new(),
            trace: Vec::new(),
            connected: BTreeMap::new(),
            next_conn: 1,
            auto_persist: true,
            fail_snapshot_every: 0,
            snapshots_asked: 0,
            snapshot_base: None,
            deltas_merged: 0,
            full_snapshots: 0,
        }
    }

    /// Answer a snapshot request (see `fail_snapshot_every`), checking its delta.
    fn snapshot(&mut self, token: PersistToken, zxid: Zxid, delta: Option<Box<Delta>>) {
        use corral_core::snapshot;
        self.snapshots_asked += 1;
        let mut full = snapshot::Image::new();
        for e in self.log.iter().filter(|e| e.hdr.zxid <= zxid) {
            full.apply(e);
        }
        assert_eq!(full.zxid(), zxid, "snapshot of a zxid not durable");
        let full = snapshot::to_bytes(&full);
        if let Some(delta) = delta {
            let base = self
                .snapshot_base
                .clone()
                .unwrap_or_else(|| snapshot::to_bytes(&snapshot::Image::new()));
            let mut merged = Vec::new();
            snapshot::merge(&base, &delta, &mut merged)
                .unwrap_or_else(|e| panic!("delta at {zxid} does not merge: {e}"));
            let loaded = snapshot::read(&merged).expect("merged snapshot reads");
            assert!(
                snapshot::to_bytes(&loaded) == full,
                "delta at {zxid} differs from the log's state"
            );
            self.deltas_merged += 1;
        } else {
            self.full_snapshots += 1;
        }
        let written = self.fail_snapshot_every == 0
            || !self
                .snapshots_asked
                .is_multiple_of(self.fail_snapshot_every);
        if written {
            self.snapshot_base = Some(full);
        }
        self.server.snapshotted(token, zxid, written);
    }

    /// Restart from the durable log: a fresh server replays it. Un-persisted work is lost.
    pub fn restart(&mut self, config: ServerConfig) {
        let mut server = Server::new(config, self.now);
        for e in self.log.clone() {
            server.replay(e);
        }
        server.start(self.now);
        self.server = server;
        // Recovery replayed the log from the start: the fresh tree is the base again.
        self.snapshot_base = None;
        self.pending.clear();
        self.inbox.clear();
        self.connected.clear();
    }

    pub fn pump(&mut self) {
        loop {
            while let Some(out) = self.server.poll_output() {
                self.trace.push(format!("{out:?}"));
                match out {
                    Output::Send { conn, bytes } => self.receive(conn, &bytes),
                    Output::Close { conn } => {
                        self.closed.push(conn);
                        self.server.connection_closed(self.now, conn);
                    }
                    Output::Persist { token, entries } => self.pending.push((token, entries)),
                    // The harness keeps the whole log and replays it on restart.
                    Output::Snapshot { token, zxid, delta } => self.snapshot(token, zxid, delta),
                    other => panic!("a standalone server emitted {other:?}"),
                }
            }
            if self.auto_persist && !self.pending.is_empty() {
                self.persist_all();
                continue;
            }
            break;
        }
    }

    /// Make every pending Persist durable and acknowledge the last token.
    pub fn persist_all(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        if let Some((last, _)) = pending.last() {
            let last = *last;
            for (_, entries) in pending {
                // Durable bytes: round-trip through the log encoding.
                for e in entries {
                    let bytes = e.to_bytes();
                    self.log
                        .push(LogEntry::from_bytes(&bytes).expect("log entry decodes"));
                }
            }
            self.server.persisted(self.now, last);
        }
    }

    fn receive(&mut self, conn: ConnId, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let len = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let payload = &rest[4..4 + len];
            rest = &rest[4 + len..];
            let connected = self.connected.entry(conn).or_insert(false);
            let frame = if !*connected {
                *connected = true;
                Frame::Connect(ConnectResponse::decode(payload).unwrap())
            } else {
                let mut r = JuteReader::new(payload);
                let hdr = ReplyHeader::read(&mut r).unwrap();
                if hdr.xid == -1 {
                    Frame::Event(WatcherEvent::read(&mut r).unwrap())
                } else {
                    Frame::Reply {
                        hdr,
                        body: r.rest().to_vec(),
                    }
                }
            };
            self.inbox.entry(conn).or_default().push(frame);
        }
    }

    pub fn open(&mut self) -> ConnId {
        let c = ConnId(self.next_conn);
        self.next_conn += 1;
        self.server.connection_opened(self.now, c, addr());
        self.pump();
        c
    }

    pub fn send_raw(&mut self, conn: ConnId, payload: &[u8]) {
        self.server.frame_received(self.now, conn, payload);
        self.pump();
    }

    /// Open a connection and establish a new session.
    pub fn connect(&mut self, timeout_ms: i32) -> (ConnId, ConnectResponse) {
        let c = self.open();
        let resp = self.handshake(c, SessionId(0), vec![0; 16], timeout_ms, Zxid(0));
        (c, resp)
    }

    pub fn send_connect(
        &mut self,
        c: ConnId,
        session: SessionId,
        passwd: Vec<u8>,
        timeout_ms: i32,
        last: Zxid,
    ) {
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: last,
            timeout_ms,
            session_id: session,
            passwd,
            read_only: Some(false),
        };
        let mut w = JuteWriter::new();
        req.write(&mut w);
        self.send_raw(c, &w.into_inner());
    }

    pub fn handshake(
        &mut self,
        c: ConnId,
        session: SessionId,
        passwd: Vec<u8>,
        timeout_ms: i32,
        last: Zxid,
    ) -> ConnectResponse {
        self.send_connect(c, session, passwd, timeout_ms, last);
        let mut frames = self.take(c).into_iter();
        match frames.next() {
            Some(Frame::Connect(r)) => r,
            other => panic!("expected a ConnectResponse, got {other:?}"),
        }
    }

    /// Send a request without waiting.
    pub fn submit(&mut self, c: ConnId, xid: i32, req: &Request) {
        let frame = encode_request_frame(xid, req);
        self.send_raw(c, &frame[4..]);
    }

    /// Decode a reply frame's body for the request it answers.
    pub fn decode(req: &Request, hdr: &ReplyHeader, body: &[u8]) -> Option<Response> {
        (hdr.err == 0).then(|| Response::decode(req.op(), &mut JuteReader::new(body)).unwrap())
    }

    /// Send a request and return its reply; events received meanwhile stay in the inbox.
    pub fn call(&mut self, c: ConnId, xid: i32, req: &Request) -> (ReplyHeader, Option<Response>) {
        self.submit(c, xid, req);
        let frames = self.take(c);
        let mut reply = None;
        let mut keep = Vec::new();
        for f in frames {
            match f {
                Frame::Reply { hdr, body } if reply.is_none() => {
                    reply = Some((hdr, Self::decode(req, &hdr, &body)))
                }
                other => keep.push(other),
            }
        }
        self.inbox.entry(c).or_default().extend(keep);
        reply.unwrap_or_else(|| panic!("no reply for xid {xid}"))
    }

    pub fn take(&mut self, c: ConnId) -> Vec<Frame> {
        self.inbox.remove(&c).unwrap_or_default()
    }

    /// Watch events received on `c`, as (type, path).
    pub fn events(&mut self, c: ConnId) -> Vec<(i32, String)> {
        let mut keep = Vec::new();
        let mut out = Vec::new();
        for f in self.take(c) {
            match f {
                Frame::Event(e) => out.push((e.event_type, e.path)),
                other => keep.push(other),
            }
        }
        if !keep.is_empty() {
            self.inbox.insert(c, keep);
        }
        out
    }

    pub fn advance(&mut self, ms: i64) {
        self.now = self.now.plus(ms);
        self.server.tick(self.now);
        self.pump();
    }
}

/// A create request with open ACLs.
pub fn create(path: &str, data: &[u8], flags: i32) -> Request {
    Request::Create {
        op: 1,
        req: corral_core::proto::CreateRequest {
            path: path.into(),
            data: Some(data.to_vec()),
            acl: Some(corral_core::proto::Acl::open_unsafe()),
            flags,
            ttl: None,
        },
    }
}
