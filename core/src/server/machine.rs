//! The `Server` struct and its inputs: connections, frames, persistence completions, time.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;

use super::conn::{Conn, Phase, Slot};
use super::{LogEntry, Output, PersistToken, ServerConfig};
use crate::error::ErrorCode;
use crate::jute::{JuteError, JuteReader, Record};
use crate::prep::{self, Overlay, PrepContext};
use crate::proto::connect::{ConnectRequest, ConnectResponse};
use crate::proto::header::{ReplyHeader, RequestHeader};
use crate::proto::request::{Request, RequestError};
use crate::proto::response::Response;
use crate::proto::{encode_reply_frame, op};
use crate::session::SessionTracker;
use crate::snapshot::Image;
use crate::tree::DataTree;
use crate::txn::{Txn, TxnHeader};
use crate::types::{ConnId, Millis, SessionId, Zxid};
use crate::watch::WatchManager;

/// A connection that never completes its handshake is closed after this long
/// (`zookeeper.nio.sessionlessCnxnTimeout`).
const SESSIONLESS_TIMEOUT_MS: i64 = 10_000;

/// Who is waiting for a txn's result.
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    pub conn: ConnId,
    pub xid: i32,
    pub op: i32,
    pub received: Millis,
    /// Opcodes of a multi's sub-requests (they decide the shape of each create result).
    pub sub_ops: Vec<i32>,
}

/// The standalone server state machine. See the module docs of `server` for how to drive it.
pub struct Server {
    pub(crate) config: ServerConfig,
    pub(crate) tree: DataTree,
    pub(crate) sessions: SessionTracker,
    pub(crate) watches: WatchManager,
    pub(crate) overlay: Overlay,
    pub(crate) conns: BTreeMap<ConnId, Conn>,
    /// Which connection currently carries each session.
    pub(crate) session_conn: BTreeMap<SessionId, ConnId>,
    /// Zxid of the last prepared txn (≥ the tree's last applied zxid).
    pub(crate) last_prepared: Zxid,
    /// Txns prepared since the last `Persist` output.
    batch: Vec<LogEntry>,
    /// Persist requests issued and not yet acknowledged, in order.
    inflight: VecDeque<(PersistToken, Vec<LogEntry>)>,
    /// Whom to answer once a txn is applied.
    origins: BTreeMap<Zxid, Origin>,
    /// Connections whose front slot is a deferred frame waiting for a zxid to be applied.
    waiters: BTreeSet<(Zxid, ConnId)>,
    next_token: u64,
    outputs: VecDeque<Output>,
    /// Sessions recovered from the log, re-tracked with fresh deadlines by `start`.
    recovered_sessions: BTreeMap<SessionId, i64>,
    /// Txns made durable since the last snapshot was requested.
    since_snapshot: u64,
    /// The outstanding `Output::Snapshot`, if any.
    snapshot_pending: Option<PersistToken>,
    /// Zxid of the last snapshot the driver reported written.
    pub(crate) last_snapshot: Zxid,
    next_container_check: Millis,
    pub(crate) started_at: Millis,
    pub(crate) packets_received: u64,
    pub(crate) packets_sent: u64,
    pub(crate) latency: super::conn::Counters,
}

impl Server {
    /// A server with an empty tree. Feed recovered log entries with [`replay`](Self::replay),
    /// then call [`start`](Self::start).
    pub fn new(config: ServerConfig, now: Millis) -> Server {
        let sessions = SessionTracker::new(config.server_id, now, config.tick_time_ms);
        Server {
            next_container_check: now.plus(config.container_check_interval_ms),
            config,
            tree: DataTree::new(),
            sessions,
            watches: WatchManager::default(),
            overlay: Overlay::default(),
            conns: BTreeMap::new(),
            session_conn: BTreeMap::new(),
            last_prepared: Zxid::ZERO,
            batch: Vec::new(),
            inflight: VecDeque::new(),
            origins: BTreeMap::new(),
            waiters: BTreeSet::new(),
            next_token: 1,
            outputs: VecDeque::new(),
            recovered_sessions: BTreeMap::new(),
            since_snapshot: 0,
            snapshot_pending: None,
            last_snapshot: Zxid::ZERO,
            started_at: now,
            packets_received: 0,
            packets_sent: 0,
            latency: Default::default(),
        }
    }

    /// Start from a snapshot's image (recovery, before any `replay`).
    pub fn restore(&mut self, image: Image) {
        assert!(
            self.tree.last_zxid() == Zxid::ZERO && self.conns.is_empty(),
            "restore must come first"
        );
        self.tree = image.tree;
        self.recovered_sessions = image
            .sessions
            .into_iter()
            .map(|(id, t)| (id, i64::from(t)))
            .collect();
        self.last_prepared = self.tree.last_zxid();
        self.last_snapshot = self.tree.last_zxid();
    }

    /// Apply one durable log entry during recovery. Entries must come in zxid order.
    pub fn replay(&mut self, entry: LogEntry) {
        assert!(
            entry.hdr.zxid > self.tree.last_zxid() || entry.hdr.zxid == Zxid::ZERO,
            "replay out of order: {:?} after {:?}",
            entry.hdr.zxid,
            self.tree.last_zxid()
        );
        self.tree.apply(&entry.hdr, &entry.txn);
        match &entry.txn {
            Txn::CreateSession { timeout_ms } => {
                self.recovered_sessions
                    .insert(entry.hdr.session, *timeout_ms as i64);
            }
            Txn::CloseSession { .. } => {
                self.recovered_sessions.remove(&entry.hdr.session);
            }
            _ => {}
        }
        self.last_prepared = self.tree.last_zxid();
        self.since_snapshot += 1;
    }

    /// Finish recovery: recovered sessions get a fresh deadline, as in ZooKeeper, so the
    /// ephemerals of clients that died while the server was down last one more timeout.
    pub fn start(&mut self, now: Millis) {
        for (id, timeout) in std::mem::take(&mut self.recovered_sessions) {
            self.sessions.add(id, timeout, now);
        }
        self.last_prepared = self.tree.last_zxid();
        self.started_at = now;
        self.next_container_check = now.plus(self.config.container_check_interval_ms);
    }

    /// The last zxid applied to the tree (`lastProcessedZxid`).
    pub fn last_zxid(&self) -> Zxid {
        self.tree.last_zxid()
    }

    /// The applied tree, for inspection (tests, digests, snapshots).
    pub fn tree(&self) -> &DataTree {
        &self.tree
    }

    /// Requests parked in the core (waiting for durability or for their turn) exceed
    /// `globalOutstandingLimit`: the driver should stop reading new frames until this
    /// clears, as ZooKeeper stops reading from client sockets.
    pub fn throttled(&self) -> bool {
        let limit = self.config.global_outstanding_limit;
        limit > 0 && self.conns.values().map(|c| c.queue.len()).sum::<usize>() > limit
    }

    /// A standalone server always serves (no quorum to lose).
    pub fn is_serving(&self) -> bool {
        true
    }

    /// Next output for the driver, or `None` when everything is drained.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.flush_batch();
        self.outputs.pop_front()
    }

    /// The earliest time at which `tick` has work to do.
    pub fn next_deadline(&self) -> Option<Millis> {
        let mut d = Some(self.next_container_check);
        if let Some(s) = self.sessions.next_deadline() {
            d = d.min(Some(s));
        }
        for c in self.conns.values() {
            if c.phase == Phase::AwaitConnect && !c.closed {
                d = d.min(Some(c.opened_at.plus(SESSIONLESS_TIMEOUT_MS)));
            }
        }
        d
    }

    /// A client connected from `remote`.
    pub fn connection_opened(&mut self, now: Millis, conn: ConnId, remote: SocketAddr) {
        let limit = self.config.max_client_cnxns;
        if limit > 0 {
            let same_ip = self
                .conns
                .values()
                .filter(|c| !c.closed && c.remote.ip() == remote.ip())
                .count();
            if same_ip >= limit {
                self.outputs.push_back(Output::Close { conn });
                return;
            }
        }
        self.conns.insert(conn, Conn::new(remote, now));
    }

    /// The connection is gone (peer closed, error, or after our own `Close`). Its session
    /// lives on until it expires or is resumed elsewhere.
    pub fn connection_closed(&mut self, _now: Millis, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            if self.session_conn.get(&c.session) == Some(&conn) {
                self.session_conn.remove(&c.session);
            }
        }
        self.watches.remove_connection(conn);
        // Replies owed to the connection are simply dropped when their txns apply.
    }

    /// Time passed: expire sessions, reap containers and TTL nodes, drop handshake-less
    /// connections.
    pub fn tick(&mut self, now: Millis) {
        for session in self.sessions.expire(now) {
            if let Some(conn) = self.session_conn.remove(&session) {
                self.close_conn(conn);
            }
            self.submit_close_session(now, session, None);
        }
        let stale: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                c.phase == Phase::AwaitConnect && now >= c.opened_at.plus(SESSIONLESS_TIMEOUT_MS)
            })
            .map(|(id, _)| *id)
            .collect();
        for conn in stale {
            self.close_conn(conn);
        }
        if now >= self.next_container_check {
            self.next_container_check = now.plus(self.config.container_check_interval_ms.max(1));
            // znode.container.maxPerMinute, spread over the checks of one minute.
            let interval = self.config.container_check_interval_ms.max(1) as u128;
            let limit = (self.config.container_max_per_minute as u128 * interval / 60_000)
                .min(usize::MAX as u128) as usize;
            let candidates = self
                .tree
                .container_candidates(now, self.config.container_max_never_used_ms);
            for path in candidates.into_iter().take(limit.max(1)) {
                let zxid = self.last_prepared.successor();
                let txn =
                    prep::prepare_delete_container(&self.tree, &mut self.overlay, zxid, &path);
                self.propose(now, SessionId::NONE, 0, txn, None);
            }
        }
    }

    /// The driver made every entry of `token` (and all earlier tokens) durable.
    pub fn persisted(&mut self, now: Millis, token: PersistToken) {
        while let Some((t, _)) = self.inflight.front() {
            if *t > token {
                break;
            }
            let (_, entries) = self.inflight.pop_front().expect("front exists");
            self.since_snapshot += entries.len() as u64;
            for entry in entries {
                self.apply(now, entry);
            }
        }
        self.maybe_snapshot();
    }

    /// Request a snapshot once enough txns are durable (see `ServerConfig::snap_count`).
    fn maybe_snapshot(&mut self) {
        let count = self.config.snap_count;
        if count == 0 || self.snapshot_pending.is_some() {
            return;
        }
        // ZooKeeper draws the threshold at random in [snapCount/2, snapCount); a fixed
        // offset per server id spreads an ensemble's snapshots just as well, deterministically.
        let half = (count / 2).max(1);
        let threshold = half + (self.config.server_id.unsigned_abs().wrapping_mul(7919) % half);
        if self.since_snapshot < threshold {
            return;
        }
        let token = PersistToken(self.next_token);
        self.next_token += 1;
        self.since_snapshot = 0;
        self.snapshot_pending = Some(token);
        let zxid = self.tree.last_zxid();
        self.outputs.push_back(Output::Snapshot { token, zxid });
    }

    /// The driver wrote the snapshot requested with `token` (or gave up on it: `written`
    /// false; a failed snapshot loses nothing, the log still holds every txn).
    pub fn snapshotted(&mut self, token: PersistToken, zxid: Zxid, written: bool) {
        if self.snapshot_pending == Some(token) {
            self.snapshot_pending = None;
            if written {
                self.last_snapshot = self.last_snapshot.max(zxid);
            }
        }
    }

    /// Zxid of the newest snapshot restored or written.
    pub fn last_snapshot_zxid(&self) -> Zxid {
        self.last_snapshot
    }

    /// One frame from a client (length prefix stripped, size already checked).
    pub fn frame_received(&mut self, now: Millis, conn: ConnId, payload: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closed || c.condemned {
            // A reply that closes the connection is queued: nothing more is processed.
            return;
        }
        c.counters.received += 1;
        self.packets_received += 1;
        match c.phase {
            Phase::AwaitConnect => self.handle_connect(now, conn, payload),
            // Writes are prepared at once (their zxids follow the createSession txn);
            // everything else waits for the ConnectResponse, in order.
            Phase::CreatingSession => self.handle_request(now, conn, payload, false, None),
            Phase::Established => {
                self.sessions_touch(now, conn);
                self.handle_request(now, conn, payload, false, None);
            }
        }
    }

    /// Every packet from a session's connection keeps the session alive.
    fn sessions_touch(&mut self, now: Millis, conn: ConnId) {
        if let Some(c) = self.conns.get(&conn) {
            self.sessions.touch(c.session, now);
        }
    }

    // ---- handshake -------------------------------------------------------------------

    fn handle_connect(&mut self, now: Millis, conn: ConnId, payload: &[u8]) {
        let Ok(req) = ConnectRequest::decode(payload) else {
            self.close_conn(conn);
            return;
        };
        if req.last_zxid_seen > self.tree.last_zxid() {
            // The client has seen newer state than ours: it must try another server.
            self.close_conn(conn);
            return;
        }
        let timeout = SessionTracker::negotiate_timeout(
            req.timeout_ms as i64,
            self.config.min_session_timeout_ms,
            self.config.max_session_timeout_ms,
        );
        let c = self.conns.get_mut(&conn).expect("known connection");
        c.read_only_byte = req.read_only;
        if req.session_id == SessionId::NONE {
            let session = self.sessions.next_session_id();
            c.session = session;
            c.timeout_ms = timeout;
            c.phase = Phase::CreatingSession;
            self.session_conn.insert(session, conn);
            let origin = Origin {
                conn,
                xid: 0,
                op: op::CREATE_SESSION,
                received: now,
                sub_ops: Vec::new(),
            };
            self.propose(
                now,
                session,
                0,
                Txn::CreateSession {
                    timeout_ms: timeout as i32,
                },
                Some(origin),
            );
            return;
        }
        // Reconnect: any other connection of this session goes first, before the password
        // is checked, as ZooKeeper does.
        let session = req.session_id;
        if let Some(old) = self.session_conn.remove(&session) {
            if old != conn {
                self.close_conn(old);
            }
        }
        let valid = self.sessions.contains(session)
            && !self.sessions.is_closing(session)
            && req.passwd == SessionTracker::password(session);
        if !valid {
            let resp = ConnectResponse::invalid(req.read_only);
            self.send_connect_response(conn, &resp);
            self.close_conn(conn);
            return;
        }
        self.sessions.set_timeout(session, timeout);
        self.sessions.touch(session, now);
        let c = self.conns.get_mut(&conn).expect("known connection");
        c.session = session;
        c.timeout_ms = timeout;
        c.phase = Phase::Established;
        self.session_conn.insert(session, conn);
        let resp = ConnectResponse {
            protocol_version: 0,
            timeout_ms: timeout as i32,
            session_id: session,
            passwd: SessionTracker::password(session).to_vec(),
            read_only: req.read_only.map(|_| false),
        };
        self.send_connect_response(conn, &resp);
    }

    fn send_connect_response(&mut self, conn: ConnId, resp: &ConnectResponse) {
        let mut w = crate::jute::JuteWriter::framed();
        resp.write(&mut w);
        self.send(conn, w.finish_frame());
    }

    // ---- requests --------------------------------------------------------------------

    /// Handle a request frame. `at_front` is true when it is being run from the head of the
    /// connection's queue (everything before it answered); `received_ok` then carries
    /// whether the session was valid when the frame arrived, which decides for it (the
    /// session is checked in arrival order, as in ZooKeeper, not when the frame runs).
    pub(crate) fn handle_request(
        &mut self,
        now: Millis,
        conn: ConnId,
        payload: &[u8],
        at_front: bool,
        received_ok: Option<bool>,
    ) {
        let mut r = JuteReader::with_limit(payload, 2 * self.config.max_buffer);
        let Ok(hdr) = RequestHeader::read(&mut r) else {
            self.close_conn(conn);
            return;
        };
        {
            let c = self.conns.get_mut(&conn).expect("known connection");
            c.counters.last_op = op::short_name(hdr.op);
            c.counters.last_cxid = hdr.xid;
        }
        let req = match Request::decode(hdr.op, &mut r) {
            Ok(Request::Check { .. }) | Err(RequestError::UnknownOp(_)) => {
                // Unknown opcodes, and `check` outside multi (which corrupts the log of
                // 3.8.0, ZOOKEEPER-2623): Unimplemented, then close.
                let h = ReplyHeader {
                    xid: hdr.xid,
                    zxid: Zxid(-1),
                    err: ErrorCode::Unimplemented.code(),
                };
                self.reply_in_order(now, conn, encode_reply_frame(h, None), true, at_front);
                return;
            }
            Err(RequestError::Marshalling(e)) => {
                self.marshalling_error(now, conn, hdr, payload, &e, at_front);
                return;
            }
            Ok(req) => req,
        };
        let creating = self.conns[&conn].phase == Phase::CreatingSession;
        let queue_busy = creating || (!at_front && !self.conns[&conn].queue.is_empty());
        let session = self.conns[&conn].session;
        let session_ok = received_ok.unwrap_or_else(|| {
            creating || (self.sessions.contains(session) && !self.sessions.is_closing(session))
        });
        // addAuth takes effect on receipt (ZooKeeper's processPacket): writes sent after it
        // carry the new identity. The reply keeps its place in the queue.
        if let Request::Auth { scheme, auth, .. } = &req {
            let h = |err| ReplyHeader {
                xid: hdr.xid,
                zxid: Zxid(0),
                err,
            };
            match crate::acl::add_auth(scheme, auth, self.config.super_digest.as_deref()) {
                Ok(ids) => {
                    let c = self.conns.get_mut(&conn).expect("known connection");
                    for id in ids {
                        if !c.ids.contains(&id) {
                            c.ids.push(id);
                        }
                    }
                    let bytes = encode_reply_frame(h(0), None);
                    if creating {
                        let c = self.conns.get_mut(&conn).expect("known connection");
                        c.queue.push_back(Slot::Ready {
                            bytes,
                            close: false,
                        });
                    } else {
                        self.reply_in_order(now, conn, bytes, false, at_front);
                    }
                }
                Err(e) => {
                    // Fail and stop reading at once, as ZooKeeper does (disableRecv).
                    let bytes = encode_reply_frame(h(e.code()), None);
                    let c = self.conns.get_mut(&conn).expect("known connection");
                    c.queue.clear();
                    c.queue.push_back(Slot::Ready { bytes, close: true });
                    if !creating {
                        self.drain_queue(now, conn);
                    }
                }
            }
            return;
        }
        if req.is_write() {
            if !session_ok && !matches!(req, Request::CloseSession) {
                // ZooKeeper makes the txn header before it checks the session, so this
                // failed write is logged as an error txn and consumes a zxid too.
                let txn = Txn::Error {
                    err: ErrorCode::SessionExpired,
                };
                self.enqueue_txn(now, conn, hdr, txn, Vec::new(), at_front);
                return;
            }
            self.handle_write(now, conn, hdr, req, at_front);
            return;
        }
        if queue_busy || (!at_front && self.tree.last_zxid() < self.last_prepared) {
            // A read behind pending replies, or behind any in-flight txn, waits its turn.
            let barrier = self.last_prepared;
            let c = self.conns.get_mut(&conn).expect("known connection");
            c.queue.push_back(Slot::Deferred {
                payload: payload.to_vec(),
                barrier,
                session_ok,
            });
            if !queue_busy {
                self.waiters.insert((barrier, conn));
            }
            return;
        }
        if !session_ok && !matches!(req, Request::Ping) {
            let frame = self.frame(hdr.xid, Err(ErrorCode::SessionExpired));
            self.reply_in_order(now, conn, frame, false, at_front);
            return;
        }
        let (frames, close) = self.handle_read(now, conn, hdr, req);
        let mut frames = frames.into_iter().peekable();
        while let Some(f) = frames.next() {
            let last = frames.peek().is_none();
            self.reply_in_order(now, conn, f, close && last, at_front);
        }
        let c = self.conns.get_mut(&conn);
        if let Some(c) = c {
            c.counters.record_latency(0);
        }
    }

    /// A request body that does not decode. As in ZooKeeper, a write opcode still becomes
    /// an error txn (it consumes a zxid); reads are answered at once. Two 3.8.0 quirks are
    /// kept: a multi whose sub-request has a null field, and a multiRead whose first
    /// sub-op is a write, are answered MarshallingError with an empty multi body (the end marker) and
    /// consume nothing.
    fn marshalling_error(
        &mut self,
        now: Millis,
        conn: ConnId,
        hdr: RequestHeader,
        payload: &[u8],
        err: &JuteError,
        at_front: bool,
    ) {
        let end_body = match (hdr.op, err) {
            (op::MULTI, JuteError::UnexpectedNull(_)) => true,
            (op::MULTI_READ, JuteError::BadValue("first multi sub-op", sub)) => matches!(
                *sub as i32,
                op::CREATE
                    | op::CREATE2
                    | op::CREATE_CONTAINER
                    | op::CREATE_TTL
                    | op::DELETE
                    | op::SET_DATA
                    | op::SET_ACL
                    | op::CHECK
            ),
            _ => false,
        };
        let write_op = matches!(
            hdr.op,
            op::CREATE
                | op::CREATE2
                | op::CREATE_CONTAINER
                | op::CREATE_TTL
                | op::DELETE
                | op::SET_DATA
                | op::SET_ACL
                | op::DELETE_CONTAINER
                | op::MULTI
        );
        if write_op && !end_body && self.session_ok(conn) {
            let err = Txn::Error {
                err: ErrorCode::MarshallingError,
            };
            self.enqueue_txn(now, conn, hdr, err, Vec::new(), at_front);
            return;
        }
        if !at_front && self.reply_must_wait(conn) {
            // Answer in turn, with the zxid current at that point (reply zxids never go
            // backwards for a client).
            let barrier = self.last_prepared;
            // Recorded for the slot's sake only: a frame that does not decode is re-judged
            // here when it runs (a write deferred during the handshake becomes valid then).
            let session_ok = self.session_ok(conn);
            let c = self.conns.get_mut(&conn).expect("known connection");
            c.queue.push_back(Slot::Deferred {
                payload: payload.to_vec(),
                barrier,
                session_ok,
            });
            return;
        }
        let code = if write_op && !end_body {
            ErrorCode::SessionExpired
        } else {
            ErrorCode::MarshallingError
        };
        let h = self.header(hdr.xid, code);
        let body = end_body.then_some(Response::Multi(Vec::new()));
        let frame = encode_reply_frame(h, body.as_ref());
        self.reply_in_order(now, conn, frame, false, at_front);
    }

    /// Replies on `conn` must queue: earlier ones are pending, or the ConnectResponse has
    /// not gone out yet (nothing may precede it).
    fn reply_must_wait(&self, conn: ConnId) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| !c.queue.is_empty() || c.phase == Phase::CreatingSession)
    }

    fn session_ok(&self, conn: ConnId) -> bool {
        let session = self.conns.get(&conn).map_or(SessionId::NONE, |c| c.session);
        self.sessions.contains(session) && !self.sessions.is_closing(session)
    }

    fn handle_write(
        &mut self,
        now: Millis,
        conn: ConnId,
        hdr: RequestHeader,
        req: Request,
        at_front: bool,
    ) {
        let session = self.conns[&conn].session;
        let zxid = self.last_prepared.successor();
        let txn = if let Request::CloseSession = req {
            self.sessions.set_closing(session);
            prep::prepare_close_session(&self.tree, &mut self.overlay, zxid, session)
        } else {
            let c = &self.conns[&conn];
            let ctx = PrepContext {
                session,
                ids: &c.ids,
                skip_acl: self.config.skip_acl,
                extended_types_enabled: self.config.extended_types_enabled,
            };
            prep::prepare(&self.tree, &mut self.overlay, zxid, &ctx, &req)
        };
        let sub_ops = match &req {
            Request::Multi(ops) => ops.iter().map(Request::op).collect(),
            _ => Vec::new(),
        };
        self.enqueue_txn(now, conn, hdr, txn, sub_ops, at_front);
    }

    /// Propose `txn` for `conn` and hold its reply slot in the connection's queue.
    fn enqueue_txn(
        &mut self,
        now: Millis,
        conn: ConnId,
        hdr: RequestHeader,
        txn: Txn,
        sub_ops: Vec<i32>,
        at_front: bool,
    ) {
        let session = self.conns[&conn].session;
        let zxid = self.last_prepared.successor();
        let origin = Origin {
            conn,
            xid: hdr.xid,
            op: hdr.op,
            received: now,
            sub_ops,
        };
        let c = self.conns.get_mut(&conn).expect("known connection");
        if at_front {
            c.queue.push_front(Slot::Txn { zxid });
        } else {
            c.queue.push_back(Slot::Txn { zxid });
        }
        self.propose(now, session, hdr.xid, txn, Some(origin));
    }

    /// Assign the next zxid to `txn` and queue it for persistence.
    pub(crate) fn propose(
        &mut self,
        now: Millis,
        session: SessionId,
        cxid: i32,
        txn: Txn,
        origin: Option<Origin>,
    ) {
        let zxid = self.last_prepared.successor();
        self.last_prepared = zxid;
        let op = match &txn {
            Txn::Error { .. } => op::ERROR,
            t => t.op(),
        };
        let hdr = TxnHeader {
            session,
            cxid,
            zxid,
            time: now.0,
            op,
        };
        if let Some(o) = origin {
            self.origins.insert(zxid, o);
        }
        self.batch.push(LogEntry { hdr, txn });
    }

    fn submit_close_session(&mut self, now: Millis, session: SessionId, origin: Option<Origin>) {
        self.sessions.set_closing(session);
        let zxid = self.last_prepared.successor();
        let txn = prep::prepare_close_session(&self.tree, &mut self.overlay, zxid, session);
        self.propose(now, session, 0, txn, origin);
    }

    fn flush_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let token = PersistToken(self.next_token);
        self.next_token += 1;
        let entries = std::mem::take(&mut self.batch);
        self.inflight.push_back((token, entries.clone()));
        self.outputs.push_back(Output::Persist { token, entries });
    }

    // ---- applying --------------------------------------------------------------------

    fn apply(&mut self, now: Millis, entry: LogEntry) {
        let zxid = entry.hdr.zxid;
        self.apply_entry(now, entry);
        // Deferred frames waiting for this zxid may run now.
        while let Some(&(barrier, conn)) = self.waiters.first() {
            if barrier > zxid {
                break;
            }
            self.waiters.pop_first();
            self.drain_queue(now, conn);
        }
    }

    fn apply_entry(&mut self, now: Millis, entry: LogEntry) {
        let zxid = entry.hdr.zxid;
        let deleted_acls = self.acls_of_deleted(&entry.txn);
        let result = self.tree.apply(&entry.hdr, &entry.txn);
        self.overlay.applied(zxid);
        match &entry.txn {
            Txn::CreateSession { timeout_ms } => {
                self.sessions
                    .add(entry.hdr.session, *timeout_ms as i64, now);
            }
            Txn::CloseSession { .. } => {
                self.sessions.remove(entry.hdr.session);
            }
            _ => {}
        }
        self.deliver_events(&result.triggers, &deleted_acls);
        let Some(origin) = self.origins.remove(&zxid) else {
            return;
        };
        if !self.conns.contains_key(&origin.conn) {
            return;
        }
        if origin.op == op::CREATE_SESSION {
            self.finish_handshake(now, origin.conn);
            return;
        }
        let frame = super::replies::reply_frame(&origin, zxid, &entry.txn, &result.results);
        let close = origin.op == op::CLOSE_SESSION;
        let c = self.conns.get_mut(&origin.conn).expect("checked above");
        c.counters.last_zxid = zxid;
        c.counters.record_latency(now.0 - origin.received.0);
        self.latency.record_latency(now.0 - origin.received.0);
        if let Some(slot) = c
            .queue
            .iter_mut()
            .find(|s| matches!(s, Slot::Txn { zxid: z } if *z == zxid))
        {
            *slot = Slot::Ready {
                bytes: frame,
                close,
            };
        }
        if close {
            self.session_conn.remove(&entry.hdr.session);
        }
        self.drain_queue(now, origin.conn);
    }

    fn finish_handshake(&mut self, now: Millis, conn: ConnId) {
        let c = self.conns.get_mut(&conn).expect("caller checked");
        let session = c.session;
        c.phase = Phase::Established;
        let resp = ConnectResponse {
            protocol_version: 0,
            timeout_ms: c.timeout_ms as i32,
            session_id: session,
            passwd: SessionTracker::password(session).to_vec(),
            read_only: c.read_only_byte.map(|_| false),
        };
        self.send_connect_response(conn, &resp);
        self.drain_queue(now, conn);
    }

    /// Send what is ready at the front of the queue; run deferred frames that reach it.
    fn drain_queue(&mut self, now: Millis, conn: ConnId) {
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            if c.closed {
                return;
            }
            match c.queue.front() {
                None | Some(Slot::Txn { .. }) => return,
                Some(Slot::Ready { .. }) => {
                    let Some(Slot::Ready { bytes, close }) = c.queue.pop_front() else {
                        unreachable!()
                    };
                    self.send(conn, bytes);
                    if close {
                        self.close_conn(conn);
                        return;
                    }
                }
                Some(Slot::Deferred { barrier, .. }) => {
                    let barrier = *barrier;
                    if barrier > self.tree.last_zxid() {
                        self.waiters.insert((barrier, conn));
                        return;
                    }
                    let Some(Slot::Deferred {
                        payload,
                        session_ok,
                        ..
                    }) = c.queue.pop_front()
                    else {
                        unreachable!()
                    };
                    self.sessions_touch(now, conn);
                    self.handle_request(now, conn, &payload, true, Some(session_ok));
                }
            }
        }
    }

    /// Queue a reply in order: sent now if nothing is pending before it.
    fn reply_in_order(
        &mut self,
        _now: Millis,
        conn: ConnId,
        bytes: Vec<u8>,
        close: bool,
        at_front: bool,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if at_front || (c.queue.is_empty() && c.phase != Phase::CreatingSession) {
            self.send(conn, bytes);
            if close {
                self.close_conn(conn);
            }
        } else {
            c.condemned |= close;
            c.queue.push_back(Slot::Ready { bytes, close });
        }
    }

    pub(crate) fn send(&mut self, conn: ConnId, bytes: Vec<u8>) {
        if let Some(c) = self.conns.get_mut(&conn) {
            if c.closed {
                return;
            }
            c.counters.sent += 1;
            self.packets_sent += 1;
            self.outputs.push_back(Output::Send { conn, bytes });
        }
    }

    pub(crate) fn close_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            if !c.closed {
                c.closed = true;
                c.queue.clear();
                self.outputs.push_back(Output::Close { conn });
            }
        }
        self.watches.remove_connection(conn);
    }

    /// Builds a reply header for the current state.
    pub(crate) fn header(&self, xid: i32, err: ErrorCode) -> ReplyHeader {
        ReplyHeader {
            xid,
            zxid: self.tree.last_zxid(),
            err: err.code(),
        }
    }

    /// Encodes a reply frame.
    pub(crate) fn frame(&self, xid: i32, result: Result<Response, ErrorCode>) -> Vec<u8> {
        match result {
            Ok(body) => encode_reply_frame(self.header(xid, ErrorCode::Ok), Some(&body)),
            Err(e) => encode_reply_frame(self.header(xid, e), None),
        }
    }
}
