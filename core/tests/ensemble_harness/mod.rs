//! A pure harness for an ensemble of real `Server`s: an in-memory network between them
//! (FIFO per directed link, random delay, cuttable), a disk per server that completes
//! storage outputs in order after a delay and loses the unfinished ones on a crash, and
//! client connections driven by raw protocol frames. Virtual time jumps to the next event.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;

use corral_core::jute::{JuteReader, JuteWriter, Record};
use corral_core::proto::event::WatcherEvent;
use corral_core::proto::{
    encode_request_frame, ConnectRequest, ConnectResponse, ReplyHeader, Request, Response,
};
use corral_core::server::{
    LogEntry, Output, PeerMessage, PersistToken, ReplicaConfig, Role, Server, ServerConfig,
    StoredEpochs,
};
use corral_core::snapshot::{self, Image};
use corral_core::types::{ConnId, Millis, ServerId, SessionId, Zxid};
use corral_core::zab::election::ElectionTiming;

/// splitmix64.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0xA076_1D64_78BD_642F)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + (self.next() % ((hi - lo + 1) as u64)) as i64
    }
}

/// A reply or notification as a client sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    Connect(ConnectResponse),
    Reply { hdr: ReplyHeader, body: Vec<u8> },
    Event(WatcherEvent),
}

/// One storage output waiting to become durable.
#[derive(Clone, Debug)]
enum Op {
    Append(Vec<LogEntry>),
    Truncate(Zxid),
    Install(Zxid, Vec<u8>),
    Epochs(
        Option<corral_core::server::AcceptedEpoch>,
        Option<corral_core::types::Epoch>,
    ),
}

#[derive(Clone, Debug, Default)]
pub struct Disk {
    pub snapshot: Option<(Zxid, Vec<u8>)>,
    pub log: Vec<LogEntry>,
    pub epochs: StoredEpochs,
    pending: VecDeque<(Millis, PersistToken, Op)>,
}

impl Disk {
    fn complete(&mut self, op: Op) {
        match op {
            Op::Append(entries) => self.log.extend(entries),
            Op::Truncate(after) => self.log.retain(|e| e.hdr.zxid <= after),
            Op::Install(zxid, bytes) => {
                self.snapshot = Some((zxid, bytes));
                self.log.clear();
            }
            Op::Epochs(a, c) => {
                if let Some(a) = a {
                    self.epochs.accepted = a;
                }
                if let Some(c) = c {
                    self.epochs.current = c;
                }
            }
        }
    }
}

/// What one client connection received, not yet taken by the test.
#[derive(Default)]
struct ClientConn {
    server: ServerId,
    inbox: Vec<Frame>,
    handshaken: bool,
    closed: bool,
}

pub struct Ensemble {
    pub now: Millis,
    pub rng: Rng,
    pub servers: BTreeMap<ServerId, Option<Server>>,
    pub disks: BTreeMap<ServerId, Disk>,
    queue: BTreeMap<(Millis, u64), (ServerId, ServerId, PeerMessage)>,
    link_last: BTreeMap<(ServerId, ServerId), Millis>,
    seq: u64,
    pub cut: BTreeSet<(ServerId, ServerId)>,
    clients: BTreeMap<ConnId, ClientConn>,
    next_conn: u64,
    pub config: ServerConfig,
    pub size: u64,
}

pub fn addr() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

impl Ensemble {
    pub fn new(size: u64, seed: u64) -> Ensemble {
        let config = ServerConfig {
            tick_time_ms: 200,
            min_session_timeout_ms: 400,
            max_session_timeout_ms: 4000,
            snap_count: 0,
            ..ServerConfig::default()
        };
        let mut e = Ensemble {
            now: Millis(1_700_000_000_000),
            rng: Rng::new(seed),
            servers: BTreeMap::new(),
            disks: BTreeMap::new(),
            queue: BTreeMap::new(),
            link_last: BTreeMap::new(),
            seq: 0,
            cut: BTreeSet::new(),
            clients: BTreeMap::new(),
            next_conn: 1,
            config,
            size,
        };
        for id in e.ids() {
            e.disks.insert(id, Disk::default());
            e.boot(id);
        }
        e
    }

    pub fn ids(&self) -> Vec<ServerId> {
        (1..=self.size).map(ServerId).collect()
    }

    fn boot(&mut self, id: ServerId) {
        let disk = self.disks[&id].clone();
        let mut rc = ReplicaConfig::new(id, self.ids());
        rc.tick_ms = self.config.tick_time_ms;
        rc.election = ElectionTiming {
            finalize_wait_ms: 100,
            min_notification_interval_ms: 100,
            max_notification_interval_ms: 800,
        };
        let mut s = Server::new_ensemble(self.config.clone(), rc, disk.epochs, self.now);
        let mut from = Zxid::ZERO;
        if let Some((z, bytes)) = &disk.snapshot {
            s.restore(snapshot::read(bytes).expect("snapshot reads"));
            from = *z;
        }
        for e in &disk.log {
            if e.hdr.zxid > from {
                s.replay(e.clone());
            }
        }
        s.start(self.now);
        self.servers.insert(id, Some(s));
        self.pump(id);
    }

    pub fn crash(&mut self, id: ServerId) {
        self.servers.insert(id, None);
        self.disks.get_mut(&id).unwrap().pending.clear();
        self.queue.retain(|_, (f, t, _)| *f != id && *t != id);
        for c in self.clients.values_mut() {
            if c.server == id {
                c.closed = true;
            }
        }
    }

    pub fn restart(&mut self, id: ServerId) {
        self.boot(id);
    }

    pub fn server(&self, id: ServerId) -> &Server {
        self.servers[&id].as_ref().expect("server up")
    }

    pub fn role(&self, id: ServerId) -> Option<Role> {
        self.servers[&id].as_ref().map(|s| s.role())
    }

    pub fn leader(&self) -> Option<ServerId> {
        self.ids()
            .into_iter()
            .find(|id| matches!(self.role(*id), Some(Role::Leading { .. })))
    }

    pub fn followers(&self) -> Vec<ServerId> {
        self.ids()
            .into_iter()
            .filter(|id| matches!(self.role(*id), Some(Role::Following { .. })))
            .collect()
    }

    pub fn partition(&mut self, a: &[ServerId], b: &[ServerId]) {
        for &x in a {
            for &y in b {
                for (f, t) in [(x, y), (y, x)] {
                    self.cut.insert((f, t));
                    self.queue.retain(|_, (qf, qt, _)| !(*qf == f && *qt == t));
                }
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Carry out a server's outputs.
    fn pump(&mut self, id: ServerId) {
        loop {
            let Some(server) = self.servers.get_mut(&id).and_then(|s| s.as_mut()) else {
                return;
            };
            let Some(out) = server.poll_output() else {
                return;
            };
            let now = self.now;
            match out {
                Output::Send { conn, bytes } => self.receive(conn, &bytes),
                Output::Close { conn } => {
                    if let Some(c) = self.clients.get_mut(&conn) {
                        c.closed = true;
                    }
                    self.servers
                        .get_mut(&id)
                        .unwrap()
                        .as_mut()
                        .unwrap()
                        .connection_closed(now, conn);
                }
                Output::Peer { to, msg } => {
                    if self.cut.contains(&(id, to))
                        || self.servers.get(&to).is_none_or(|s| s.is_none())
                    {
                        continue;
                    }
                    let mut at = self.now.plus(self.rng.range(1, 5));
                    if let Some(l) = self.link_last.get(&(id, to)) {
                        at = at.max(*l);
                    }
                    self.link_last.insert((id, to), at);
                    self.seq += 1;
                    self.queue.insert((at, self.seq), (id, to, msg));
                }
                Output::Persist { token, entries } => self.store(id, token, Op::Append(entries)),
                Output::Truncate { token, after } => self.store(id, token, Op::Truncate(after)),
                Output::InstallSnapshot { token, zxid, bytes } => {
                    self.store(id, token, Op::Install(zxid, bytes))
                }
                Output::SaveEpochs {
                    token,
                    accepted,
                    current,
                } => self.store(id, token, Op::Epochs(accepted, current)),
                Output::Snapshot { token, zxid, .. } => {
                    self.servers
                        .get_mut(&id)
                        .unwrap()
                        .as_mut()
                        .unwrap()
                        .snapshotted(token, zxid, false);
                }
            }
        }
    }

    fn store(&mut self, id: ServerId, token: PersistToken, op: Op) {
        let mut at = self.now.plus(self.rng.range(1, 3));
        let d = self.disks.get_mut(&id).unwrap();
        if let Some((last, _, _)) = d.pending.back() {
            at = at.max(*last);
        }
        d.pending.push_back((at, token, op));
    }

    fn receive(&mut self, conn: ConnId, bytes: &[u8]) {
        let Some(c) = self.clients.get_mut(&conn) else {
            return;
        };
        let mut rest = bytes;
        while !rest.is_empty() {
            let len = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let payload = &rest[4..4 + len];
            rest = &rest[4 + len..];
            let frame = if !c.handshaken {
                c.handshaken = true;
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
            c.inbox.push(frame);
        }
    }

    fn next_time(&self) -> Option<Millis> {
        let mut t = self.queue.keys().next().map(|k| k.0);
        for (id, s) in &self.servers {
            if let Some(s) = s {
                for x in [
                    s.next_deadline(),
                    self.disks[id].pending.front().map(|p| p.0),
                ]
                .into_iter()
                .flatten()
                {
                    t = Some(t.map_or(x, |y: Millis| y.min(x)));
                }
            }
        }
        t
    }

    fn step(&mut self) {
        let now = self.now;
        while let Some((&key, _)) = self.queue.iter().next() {
            if key.0 > now {
                break;
            }
            let (from, to, msg) = self.queue.remove(&key).unwrap();
            if let Some(s) = self.servers.get_mut(&to).and_then(|s| s.as_mut()) {
                s.peer_message(now, from, msg);
                self.pump(to);
            }
        }
        for id in self.ids() {
            // Group commit: everything due completes, and one acknowledgement (the last
            // token) covers it all, as a driver whose fsync covered several requests may do.
            let mut last = None;
            while let Some(&(at, token, _)) = self.disks[&id].pending.front() {
                if at > now || self.servers[&id].is_none() {
                    break;
                }
                let (_, _, op) = self
                    .disks
                    .get_mut(&id)
                    .unwrap()
                    .pending
                    .pop_front()
                    .unwrap();
                self.disks.get_mut(&id).unwrap().complete(op);
                last = Some(token);
            }
            if let Some(token) = last {
                self.servers
                    .get_mut(&id)
                    .unwrap()
                    .as_mut()
                    .unwrap()
                    .persisted(now, token);
                self.pump(id);
            }
            if let Some(s) = self.servers.get_mut(&id).and_then(|s| s.as_mut()) {
                if s.next_deadline().is_some_and(|d| d <= now) {
                    s.tick(now);
                    self.pump(id);
                }
            }
        }
    }

    /// Run until `ms` of virtual time passed.
    pub fn run_for(&mut self, ms: i64) {
        let until = self.now.plus(ms);
        let mut steps = 0;
        while let Some(t) = self.next_time() {
            if t > until {
                break;
            }
            steps += 1;
            assert!(steps < 2_000_000, "runaway");
            self.now = self.now.max(t);
            self.step();
        }
        self.now = until;
    }

    /// Run until `done` holds (checked every 10 ms), at most `limit_ms`.
    pub fn run_until(
        &mut self,
        limit_ms: i64,
        mut done: impl FnMut(&mut Ensemble) -> bool,
    ) -> bool {
        let deadline = self.now.plus(limit_ms);
        while self.now < deadline {
            if done(self) {
                return true;
            }
            self.run_for(10);
        }
        done(self)
    }

    /// Wait until one leader and every other live server serve.
    pub fn settle(&mut self) {
        let ok = self.run_until(20_000, |e| {
            e.leader().is_some() && e.servers.values().flatten().all(|s| s.is_serving())
        });
        assert!(
            ok,
            "ensemble did not settle: {:?}",
            self.ids().iter().map(|i| self.role(*i)).collect::<Vec<_>>()
        );
    }

    // ---- clients -------------------------------------------------------------------

    pub fn open(&mut self, server: ServerId) -> ConnId {
        let c = ConnId(self.next_conn);
        self.next_conn += 1;
        self.clients.insert(
            c,
            ClientConn {
                server,
                ..ClientConn::default()
            },
        );
        let now = self.now;
        self.servers
            .get_mut(&server)
            .unwrap()
            .as_mut()
            .unwrap()
            .connection_opened(now, c, addr());
        self.pump(server);
        c
    }

    pub fn send_raw(&mut self, conn: ConnId, payload: &[u8]) {
        let server = self.clients[&conn].server;
        let now = self.now;
        if let Some(s) = self.servers.get_mut(&server).and_then(|s| s.as_mut()) {
            s.frame_received(now, conn, payload);
            self.pump(server);
        }
    }

    pub fn send_connect(&mut self, conn: ConnId, session: SessionId, passwd: Vec<u8>, last: Zxid) {
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: last,
            timeout_ms: 2000,
            session_id: session,
            passwd,
            read_only: Some(false),
        };
        let mut w = JuteWriter::new();
        req.write(&mut w);
        self.send_raw(conn, &w.into_inner());
    }

    /// Wait for the ConnectResponse on `conn` (None if the connection was closed first).
    pub fn await_connect(&mut self, conn: ConnId) -> Option<ConnectResponse> {
        let ok = self.run_until(5_000, |e| {
            let c = &e.clients[&conn];
            c.closed || c.inbox.iter().any(|f| matches!(f, Frame::Connect(_)))
        });
        assert!(ok, "no answer to the handshake");
        let c = self.clients.get_mut(&conn).unwrap();
        let i = c
            .inbox
            .iter()
            .position(|f| matches!(f, Frame::Connect(_)))?;
        match c.inbox.remove(i) {
            Frame::Connect(r) => Some(r),
            _ => unreachable!(),
        }
    }

    /// A new session on `server`.
    pub fn connect(&mut self, server: ServerId) -> (ConnId, ConnectResponse) {
        let c = self.open(server);
        self.send_connect(c, SessionId(0), vec![0; 16], Zxid(0));
        let r = self.await_connect(c).expect("session created");
        (c, r)
    }

    pub fn submit(&mut self, conn: ConnId, xid: i32, req: &Request) {
        let frame = encode_request_frame(xid, req);
        self.send_raw(conn, &frame[4..]);
    }

    pub fn closed(&self, conn: ConnId) -> bool {
        self.clients[&conn].closed
    }

    /// What `conn` received and the test has not taken yet, in order.
    pub fn inbox(&self, conn: ConnId) -> &[Frame] {
        &self.clients[&conn].inbox
    }

    /// Send a request and wait for its reply (None if the connection closed first).
    pub fn call(
        &mut self,
        conn: ConnId,
        xid: i32,
        req: &Request,
    ) -> Option<(ReplyHeader, Option<Response>)> {
        self.submit(conn, xid, req);
        self.await_reply(conn, xid, req)
    }

    pub fn await_reply(
        &mut self,
        conn: ConnId,
        xid: i32,
        req: &Request,
    ) -> Option<(ReplyHeader, Option<Response>)> {
        let found = |e: &Ensemble| {
            e.clients[&conn]
                .inbox
                .iter()
                .position(|f| matches!(f, Frame::Reply { hdr, .. } if hdr.xid == xid))
        };
        self.run_until(10_000, |e| found(e).is_some() || e.clients[&conn].closed);
        let i = found(self)?;
        let Frame::Reply { hdr, body } = self.clients.get_mut(&conn).unwrap().inbox.remove(i)
        else {
            unreachable!()
        };
        let resp = (hdr.err == 0)
            .then(|| Response::decode(req.op(), &mut JuteReader::new(&body)).unwrap());
        Some((hdr, resp))
    }

    /// Watch events received on `conn`, as (type, path).
    pub fn events(&mut self, conn: ConnId) -> Vec<(i32, String)> {
        let c = self.clients.get_mut(&conn).unwrap();
        let mut out = Vec::new();
        c.inbox.retain(|f| match f {
            Frame::Event(e) => {
                out.push((e.event_type, e.path.clone()));
                false
            }
            _ => true,
        });
        out
    }

    /// Every live server's tree digest and last zxid.
    pub fn digests(&self) -> Vec<(Zxid, u64)> {
        self.servers
            .values()
            .flatten()
            .map(|s| (s.last_zxid(), s.tree().digest()))
            .collect()
    }

    /// The state as of a snapshot's bytes, for checks.
    pub fn image_of(bytes: &[u8]) -> Image {
        snapshot::read(bytes).unwrap()
    }
}

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

pub fn get(path: &str, watch: bool) -> Request {
    Request::GetData {
        path: path.into(),
        watch,
    }
}
