//! Executing a scenario against a live server and recording normalised outcomes.
//!
//! Each step yields the list of things received while it ran (replies, notifications,
//! "closed", "timeout"), in arrival order. Afterwards the runner closes every session the
//! scenario left open, removes the scenario's subtree and, when containers or TTL nodes were
//! involved, waits until the server's zxid stops moving, so no transaction of this scenario
//! can land in the middle of the next one.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::thread::sleep;
use std::time::{Duration, Instant};

use corral_core::jute::{JuteReader, JuteWriter, Record};
use corral_core::proto::data::Acl;
use corral_core::proto::{op, ConnectRequest, ConnectResponse, ReplyHeader, Request, Response};
use corral_core::types::{SessionId, Zxid};
use serde_json::{json, Value};

use super::catalogue::CLEANUP_AUTH;
use super::client::{RawConn, ReadOutcome};
use super::normalise::Normaliser;
use super::spec::{decode_hex, Scenario, Step, StepSpec, ZxidRef};

/// Which server a run talks to: steps marked `zk_skip` are not sent to ZooKeeper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    ZooKeeper,
    Corral,
}

/// Bounds and address for a run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub addr: SocketAddr,
    pub target: Target,
    /// How long to wait for an expected reply.
    pub reply_timeout: Duration,
    /// How long `expect_closed` waits for the server to close.
    pub close_timeout: Duration,
}

impl RunOptions {
    /// Defaults: 5 s per reply, 3 s for an expected close.
    pub fn new(addr: SocketAddr, target: Target) -> RunOptions {
        RunOptions {
            addr,
            target,
            reply_timeout: Duration::from_secs(5),
            close_timeout: Duration::from_secs(3),
        }
    }
}

/// Outcomes of one run: one entry per step, `None` for steps not executed.
#[derive(Clone, Debug, Default)]
pub struct RunResult {
    pub outcomes: Vec<Option<Vec<Value>>>,
    /// Problems while cleaning up (a scenario that leaves state behind breaks later ones).
    pub cleanup_problems: Vec<String>,
}

/// A session id with the password that resumes it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct SessionKey {
    id: i64,
    passwd: Vec<u8>,
}

#[derive(Debug)]
enum Pending {
    Connect { seq: u64 },
    Req { seq: u64, xid: i32, op: i32 },
}

impl Pending {
    fn seq(&self) -> u64 {
        match self {
            Pending::Connect { seq } | Pending::Req { seq, .. } => *seq,
        }
    }
}

struct Conn {
    raw: RawConn,
    pending: VecDeque<Pending>,
    next_xid: i32,
    session: Option<SessionKey>,
}

impl Conn {
    fn new(raw: RawConn) -> Conn {
        Conn {
            raw,
            pending: VecDeque::new(),
            next_xid: 1,
            session: None,
        }
    }
}

/// Runs one scenario.
pub struct Runner<'a> {
    opts: &'a RunOptions,
    conns: BTreeMap<String, Conn>,
    /// The session each connection name last established (kept after the socket closes,
    /// for `resume`).
    sessions: BTreeMap<String, SessionKey>,
    live: BTreeSet<SessionKey>,
    marks: BTreeMap<String, i64>,
    norm: Normaliser,
    seq: u64,
}

/// Session timeout used by the runner's own housekeeping sessions.
const HOUSEKEEPING_TIMEOUT_MS: i32 = 10_000;

impl<'a> Runner<'a> {
    pub fn new(opts: &'a RunOptions) -> Runner<'a> {
        Runner {
            opts,
            conns: BTreeMap::new(),
            sessions: BTreeMap::new(),
            live: BTreeSet::new(),
            marks: BTreeMap::new(),
            norm: Normaliser::default(),
            seq: 0,
        }
    }

    /// Run every step, then clean up.
    pub fn run(mut self, sc: &Scenario) -> RunResult {
        let mut result = RunResult::default();
        if let Some(root) = &sc.root {
            if let Err(e) = remove_tree(self.opts, root) {
                result.cleanup_problems.push(format!("pre-clean: {e}"));
            }
        }
        for s in &sc.steps {
            let skip = s.zk_skip && self.opts.target == Target::ZooKeeper;
            result
                .outcomes
                .push(if skip { None } else { Some(self.step(s)) });
        }
        self.cleanup(sc, &mut result.cleanup_problems);
        result
    }

    fn step(&mut self, s: &StepSpec) -> Vec<Value> {
        match &s.step {
            Step::Connect { conn, spec } => {
                let (session_id, passwd) = match &spec.resume {
                    Some(from) => match self.sessions.get(from) {
                        Some(k) => {
                            let mut p = k.passwd.clone();
                            if spec.wrong_password {
                                p.iter_mut().for_each(|b| *b ^= 0x5a);
                            }
                            (k.id, p)
                        }
                        None => return vec![json!(format!("no session to resume from {from}"))],
                    },
                    None if spec.unknown_session => (0x7e00_0000_0000_0001, vec![7u8; 16]),
                    None => (0, vec![0u8; 16]),
                };
                let req = ConnectRequest {
                    protocol_version: 0,
                    last_zxid_seen: Zxid(self.resolve(&spec.last_zxid_seen)),
                    timeout_ms: spec.timeout_ms,
                    session_id: SessionId(session_id),
                    passwd,
                    read_only: spec.read_only,
                };
                // A new connection under an existing name replaces (and closes) the old one.
                self.conns.remove(conn);
                let raw = match RawConn::open(self.opts.addr, self.opts.reply_timeout) {
                    Ok(r) => r,
                    Err(e) => return vec![json!({ "connect_failed": e.kind().to_string() })],
                };
                self.conns.insert(conn.clone(), Conn::new(raw));
                let mut w = JuteWriter::framed();
                req.write(&mut w);
                self.send_handshake(conn, &w.finish_frame(), spec.no_wait)
            }
            Step::Request {
                conn,
                xid,
                no_wait,
                request,
            } => {
                let marks = &self.marks;
                let max = self.norm.max_zxid;
                let req = request.to_request(&|m| marks.get(m).copied().unwrap_or(max));
                let Some(c) = self.conns.get_mut(conn) else {
                    return vec![json!(format!("no connection {conn}"))];
                };
                let xid = xid.or(request.default_xid()).unwrap_or_else(|| {
                    let x = c.next_xid;
                    c.next_xid += 1;
                    x
                });
                self.send_and_read(conn, &encode(xid, &req), Some((xid, req.op())), *no_wait)
            }
            Step::Open { conn } => {
                self.conns.remove(conn);
                match RawConn::open(self.opts.addr, self.opts.reply_timeout) {
                    Ok(raw) => {
                        self.conns.insert(conn.clone(), Conn::new(raw));
                        Vec::new()
                    }
                    Err(e) => vec![json!({ "connect_failed": e.kind().to_string() })],
                }
            }
            Step::Raw {
                conn,
                hex,
                reply,
                expect_connect,
                no_wait,
            } => {
                let bytes = decode_hex(hex).unwrap_or_default();
                if *expect_connect {
                    return self.send_handshake(conn, &bytes, *no_wait);
                }
                let reply = reply.as_ref().map(|r| (r.xid, r.op));
                self.send_and_read(conn, &bytes, reply, *no_wait)
            }
            Step::ReadEvents {
                conn,
                wait_ms,
                min_events,
            } => self.read_events(conn, *wait_ms, *min_events),
            Step::ExpectClosed { conn } => {
                let t = self.opts.close_timeout;
                self.read_until(conn, None, Some(t))
            }
            Step::Close { conn } => {
                if let Some(mut c) = self.conns.remove(conn) {
                    c.raw.close();
                }
                Vec::new()
            }
            Step::Mark { name } => {
                self.marks.insert(name.clone(), self.norm.max_zxid);
                Vec::new()
            }
        }
    }

    /// Send a handshake frame and (unless `no_wait`) read the ConnectResponse.
    fn send_handshake(&mut self, conn: &str, frame: &[u8], no_wait: bool) -> Vec<Value> {
        let seq = self.next_seq();
        let Some(c) = self.conns.get_mut(conn) else {
            return vec![json!(format!("no connection {conn}"))];
        };
        if c.raw.send_raw(frame).is_err() {
            return vec![json!("closed")];
        }
        c.pending.push_back(Pending::Connect { seq });
        if no_wait {
            Vec::new()
        } else {
            self.read_until(conn, Some(seq), None)
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn resolve(&self, z: &ZxidRef) -> i64 {
        match z {
            ZxidRef::Literal(v) => *v,
            ZxidRef::Mark(m) => self.marks.get(m).copied().unwrap_or(self.norm.max_zxid),
        }
    }

    fn send_and_read(
        &mut self,
        conn: &str,
        bytes: &[u8],
        reply: Option<(i32, i32)>,
        no_wait: bool,
    ) -> Vec<Value> {
        let seq = self.next_seq();
        let Some(c) = self.conns.get_mut(conn) else {
            return vec![json!(format!("no connection {conn}"))];
        };
        if c.raw.is_closed() || c.raw.send_raw(bytes).is_err() {
            return vec![json!("closed")];
        }
        let Some((xid, op)) = reply else {
            return Vec::new();
        };
        c.pending.push_back(Pending::Req { seq, xid, op });
        if no_wait {
            Vec::new()
        } else {
            self.read_until(conn, Some(seq), None)
        }
    }

    /// Wait for `min_events` notifications (up to `wait_ms`), then a ping round trip.
    fn read_events(&mut self, conn: &str, wait_ms: u64, min_events: usize) -> Vec<Value> {
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_millis(wait_ms);
        while count_events(&out) < min_events {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let got = self.read_one(conn, deadline - now);
            let stop = matches!(got.last(), Some(v) if v == "closed" || v == "timeout");
            out.extend(got.into_iter().filter(|v| v != "timeout"));
            if stop {
                break;
            }
        }
        if matches!(out.last(), Some(v) if v == "closed") {
            return out;
        }
        let ping = encode(op::XID_PING, &Request::Ping);
        out.extend(self.send_and_read(conn, &ping, Some((op::XID_PING, op::PING)), false));
        out
    }

    /// Read one frame (or close/timeout) and decode it.
    fn read_one(&mut self, conn: &str, timeout: Duration) -> Vec<Value> {
        let Some(c) = self.conns.get_mut(conn) else {
            return vec![json!(format!("no connection {conn}"))];
        };
        match c.raw.read_frame(timeout) {
            ReadOutcome::Frame(f) => vec![self.decode(conn, &f)],
            ReadOutcome::Closed => vec![json!("closed")],
            ReadOutcome::Timeout => vec![json!("timeout")],
        }
    }

    /// Read until the pending entry `seq` is answered (or, with `None`, until the
    /// connection closes), bounded by `timeout` per frame.
    fn read_until(
        &mut self,
        conn: &str,
        seq: Option<u64>,
        timeout: Option<Duration>,
    ) -> Vec<Value> {
        let timeout = timeout.unwrap_or(self.opts.reply_timeout);
        let mut out = Vec::new();
        loop {
            if let Some(seq) = seq {
                let done = match self.conns.get(conn) {
                    Some(c) => !c.pending.iter().any(|p| p.seq() == seq),
                    None => true,
                };
                if done {
                    return out;
                }
            }
            let got = self.read_one(conn, timeout);
            let stop =
                matches!(got.last(), Some(v) if v == "closed" || v == "timeout" || v.is_string());
            out.extend(got);
            if stop {
                return out;
            }
        }
    }

    /// Decode one frame against the connection's pending requests.
    fn decode(&mut self, conn: &str, frame: &[u8]) -> Value {
        let c = self
            .conns
            .get_mut(conn)
            .expect("decode on a known connection");
        if let Some(Pending::Connect { .. }) = c.pending.front() {
            c.pending.pop_front();
            let v = self.norm.connect_response(frame);
            if let Ok(r) = ConnectResponse::decode(frame) {
                if r.timeout_ms > 0 {
                    let key = SessionKey {
                        id: r.session_id.0,
                        passwd: r.passwd.clone(),
                    };
                    c.session = Some(key.clone());
                    self.sessions.insert(conn.to_owned(), key.clone());
                    self.live.insert(key);
                }
            }
            return v;
        }
        let xid = match ReplyHeader::read(&mut JuteReader::new(frame)) {
            Ok(h) => h.xid,
            Err(_) => return self.norm.reply(frame, None),
        };
        if xid == op::XID_NOTIFICATION {
            return self.norm.reply(frame, None);
        }
        // Ping replies carry xid -2 whatever the request used.
        let idx = if xid == op::XID_PING {
            c.pending
                .iter()
                .position(|p| matches!(p, Pending::Req { op: o, .. } if *o == op::PING))
                .or_else(|| {
                    c.pending
                        .iter()
                        .position(|p| matches!(p, Pending::Req { xid: x, .. } if *x == xid))
                })
        } else {
            c.pending
                .iter()
                .position(|p| matches!(p, Pending::Req { xid: x, .. } if *x == xid))
        };
        // 3.8.0 answers a client-sent createSession (-10) with a bare ConnectResponse.
        if idx.is_none() {
            if let Some(i) = c
                .pending
                .iter()
                .position(|p| matches!(p, Pending::Req { op: o, .. } if *o == op::CREATE_SESSION))
            {
                c.pending.remove(i);
                return self.norm.connect_response(frame);
            }
        }
        let op = idx.and_then(|i| match c.pending.remove(i) {
            Some(Pending::Req { op, .. }) => Some(op),
            _ => None,
        });
        let v = self.norm.reply(frame, op);
        if op == Some(op::CLOSE_SESSION) && v["reply"]["err"] == 0 {
            if let Some(k) = c.session.take() {
                self.live.remove(&k);
            }
        }
        v
    }

    fn cleanup(&mut self, sc: &Scenario, problems: &mut Vec<String>) {
        self.conns.clear();
        for key in std::mem::take(&mut self.live) {
            if let Err(e) = close_session(self.opts, &key) {
                problems.push(format!("closing session: {e}"));
            }
        }
        if let Some(root) = &sc.root {
            if let Err(e) = remove_tree(self.opts, root) {
                problems.push(format!("removing {root}: {e}"));
            }
        }
        if sc.needs_settle() {
            if let Err(e) = settle(self.opts) {
                problems.push(format!("settling: {e}"));
            }
        }
    }
}

fn count_events(v: &[Value]) -> usize {
    v.iter().filter(|x| x.get("event").is_some()).count()
}

fn encode(xid: i32, req: &Request) -> Vec<u8> {
    corral_core::proto::encode_request_frame(xid, req)
}

/// A minimal synchronous session for housekeeping (not part of any recording).
pub struct SimpleSession {
    raw: RawConn,
    timeout: Duration,
    next_xid: i32,
}

impl SimpleSession {
    /// Open a new session, or resume `resume` (None if the server refuses it).
    pub fn open(opts: &RunOptions, resume: Option<(i64, &[u8])>) -> Result<Option<Self>, String> {
        let mut raw = RawConn::open(opts.addr, opts.reply_timeout).map_err(|e| e.to_string())?;
        let (id, passwd) = resume.unwrap_or((0, &[0u8; 16]));
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: Zxid(0),
            timeout_ms: HOUSEKEEPING_TIMEOUT_MS,
            session_id: SessionId(id),
            passwd: passwd.to_vec(),
            read_only: Some(false),
        };
        raw.send_connect(&req).map_err(|e| e.to_string())?;
        match raw.read_frame(opts.reply_timeout) {
            ReadOutcome::Frame(f) => {
                let r = ConnectResponse::decode(&f).map_err(|e| e.to_string())?;
                if r.timeout_ms <= 0 {
                    return Ok(None);
                }
            }
            ReadOutcome::Closed => return Ok(None),
            ReadOutcome::Timeout => return Err("no ConnectResponse".into()),
        }
        Ok(Some(SimpleSession {
            raw,
            timeout: opts.reply_timeout,
            next_xid: 1,
        }))
    }

    /// Send a request and wait for its reply, skipping notifications.
    pub fn call(&mut self, req: &Request) -> Result<(ReplyHeader, Option<Response>), String> {
        let xid = match req {
            Request::Ping => op::XID_PING,
            Request::Auth { .. } => op::XID_AUTH,
            _ => {
                self.next_xid += 1;
                self.next_xid
            }
        };
        self.raw
            .send_request(xid, req)
            .map_err(|e| format!("send: {e}"))?;
        loop {
            match self.raw.read_frame(self.timeout) {
                ReadOutcome::Frame(f) => {
                    let mut r = JuteReader::new(&f);
                    let h = ReplyHeader::read(&mut r).map_err(|e| e.to_string())?;
                    if h.xid == op::XID_NOTIFICATION {
                        continue;
                    }
                    if h.xid != xid {
                        return Err(format!("reply xid {} for request xid {xid}", h.xid));
                    }
                    if h.err != 0 {
                        return Ok((h, None));
                    }
                    let body = Response::decode(req.op(), &mut r).map_err(|e| e.to_string())?;
                    return Ok((h, Some(body)));
                }
                ReadOutcome::Closed => return Err("connection closed".into()),
                ReadOutcome::Timeout => return Err("reply timed out".into()),
            }
        }
    }

    /// Close the session with closeSession.
    pub fn close(mut self) -> Result<(), String> {
        self.call(&Request::CloseSession).map(|_| ())
    }
}

fn close_session(opts: &RunOptions, key: &SessionKey) -> Result<(), String> {
    match SimpleSession::open(opts, Some((key.id, &key.passwd)))? {
        Some(s) => s.close(),
        None => Ok(()), // already gone (expired or closed by the scenario)
    }
}

const NO_NODE: i32 = -101;
const NO_AUTH: i32 = -102;

/// Delete `root` and everything under it, opening ACLs where the cleanup identities can.
pub fn remove_tree(opts: &RunOptions, root: &str) -> Result<(), String> {
    let mut s = SimpleSession::open(opts, None)?.ok_or("cleanup session refused")?;
    let (h, _) = s.call(&Request::Exists {
        path: root.to_owned(),
        watch: false,
    })?;
    if h.err == NO_NODE {
        return s.close();
    }
    for a in CLEANUP_AUTH {
        s.call(&Request::Auth {
            auth_type: 0,
            scheme: "digest".into(),
            auth: a.as_bytes().to_vec(),
        })?;
    }
    let r = delete_rec(&mut s, root, 0);
    let c = s.close();
    r.and(c)
}

fn open_acl(s: &mut SimpleSession, path: &str) -> Result<(), String> {
    s.call(&Request::SetAcl {
        path: path.to_owned(),
        acl: Some(Acl::open_unsafe()),
        version: -1,
    })
    .map(|_| ())
}

fn delete_rec(s: &mut SimpleSession, path: &str, depth: usize) -> Result<(), String> {
    if depth > 64 {
        return Err(format!("tree too deep at {path}"));
    }
    // A node we can neither read nor re-ACL may still be a deletable leaf: try that.
    let mut children = Vec::new();
    for _ in 0..2 {
        let (h, body) = s.call(&Request::GetChildren {
            path: path.to_owned(),
            watch: false,
        })?;
        match (h.err, body) {
            (0, Some(Response::Children { children: c })) => {
                children = c;
                break;
            }
            (NO_NODE, _) => return Ok(()),
            (NO_AUTH, _) => open_acl(s, path)?,
            (e, _) => return Err(format!("getChildren {path}: {e}")),
        }
    }
    for c in children {
        delete_rec(s, &format!("{path}/{c}"), depth + 1)?;
    }
    for _ in 0..2 {
        let (h, _) = s.call(&Request::Delete {
            path: path.to_owned(),
            version: -1,
        })?;
        match h.err {
            0 | NO_NODE => return Ok(()),
            NO_AUTH => {
                let parent = match path.rfind('/') {
                    Some(0) => "/",
                    Some(i) => &path[..i],
                    None => return Err(format!("bad path {path}")),
                };
                open_acl(s, parent)?;
            }
            e => return Err(format!("delete {path}: {e}")),
        }
    }
    Err(format!("could not delete {path}"))
}

/// Wait until the server's zxid stays still across one container-check interval (so the
/// reaper has no pending work), bounded to about 15 s.
fn settle(opts: &RunOptions) -> Result<(), String> {
    let mut s = SimpleSession::open(opts, None)?.ok_or("settle session refused")?;
    let mut last = s.call(&Request::Ping)?.0.zxid;
    for _ in 0..10 {
        sleep(Duration::from_millis(1500));
        let now = s.call(&Request::Ping)?.0.zxid;
        if now == last {
            return s.close();
        }
        last = now;
    }
    let _ = s.close();
    Err("zxid kept moving".into())
}
