//! The client-facing state of a server (`State`) and its inputs: connections, frames,
//! time. Replication (`zab::replica::Replica`) drives it through `Host`
//! (`server/host.rs`): committed entries arrive through `apply`, role changes through
//! `role_changed`. Writes leave it as prepared txns (`batch`, when this server leads or
//! runs standalone) or as requests for the leader (`to_leader`, when it follows); the
//! public `Server` (`server/api.rs`) hands both to the replica after every input.

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
use crate::types::{ConnId, Millis, ServerId, SessionId, Zxid};
use crate::watch::WatchManager;
use crate::zab::message::{Forward, ReqTag};
use crate::zab::replica::{Role, ToLeader};

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

/// What a held reply slot waits for.
enum Submit {
    /// A txn this server prepared (leading or standalone).
    Txn(Txn),
    /// A request the leader prepares (following).
    Forward(Forward),
    /// A sync the leader confirms (following).
    Sync,
}

/// The client-facing state of a server. See the module docs.
pub(crate) struct State {
    pub(crate) config: ServerConfig,
    pub(crate) tree: DataTree,
    pub(crate) sessions: SessionTracker,
    pub(crate) watches: WatchManager,
    pub(crate) overlay: Overlay,
    pub(crate) conns: BTreeMap<ConnId, Conn>,
    /// Which connection currently carries each session.
    pub(crate) session_conn: BTreeMap<SessionId, ConnId>,
    /// Zxid of the last prepared txn (≥ the tree's last applied zxid). Meaningful while
    /// leading or standalone.
    pub(crate) last_prepared: Zxid,
    /// Zxid of the last txn actually prepared here (or applied, when none is in flight):
    /// what a read ordered behind every earlier write waits for. Not `last_prepared`, which
    /// a new leader sets to counter 0 of its epoch, a zxid no txn has.
    pub(crate) last_proposed: Zxid,
    /// Txns prepared since the replica last took them (leading or standalone).
    pub(crate) batch: Vec<(LogEntry, Option<ReqTag>)>,
    /// Requests for the leader since the replica last took them (following).
    pub(crate) to_leader: Vec<ToLeader>,
    /// Whom to answer once a txn is applied (or a sync done), by this server's request
    /// number: the `req` of the `ReqTag` its txn carries.
    pub(crate) origins: BTreeMap<u64, Origin>,
    next_req: u64,
    /// This server's id (the `server` of the tags of its own requests).
    pub(crate) me: ServerId,
    /// The role, as the replica last reported it.
    pub(crate) role: Role,
    /// Sessions with traffic since the leader last asked (following), with timeouts.
    pub(crate) touched: BTreeMap<SessionId, i32>,
    /// Which server holds each session's connection (leading; ZooKeeper's session owner).
    pub(crate) owners: BTreeMap<SessionId, ServerId>,
    /// Reconnects waiting for the leader's revalidation: request number → connection.
    pub(crate) revalidating: BTreeMap<u64, ConnId>,
    /// Client syncs forwarded to the leader: request number → path to echo.
    pub(crate) syncs: BTreeMap<u64, String>,
    /// Leading: sessions whose createSession is proposed but not applied yet. Writes a
    /// client pipelines behind its ConnectRequest arrive (forwarded) before that, and must
    /// find the session alive, as ZooKeeper's leader tracks a session when it prepares
    /// its createSession.
    pub(crate) proposed_sessions: BTreeSet<SessionId>,
    /// Connections whose front slot is a deferred frame waiting for a zxid to be applied.
    pub(crate) waiters: BTreeSet<(Zxid, ConnId)>,
    next_token: u64,
    pub(crate) outputs: VecDeque<Output>,
    /// Sessions recovered from the log, re-tracked with fresh deadlines by `start`.
    recovered_sessions: BTreeMap<SessionId, i64>,
    /// Txns applied since the last snapshot was requested.
    pub(crate) since_snapshot: u64,
    /// The outstanding `Output::Snapshot`, if any.
    snapshot_pending: Option<PersistToken>,
    /// Zxid of the last snapshot the driver reported written.
    pub(crate) last_snapshot: Zxid,
    /// The changed paths handed out with the outstanding delta snapshot: put back if it is
    /// not written.
    delta_paths: Option<Vec<Box<str>>>,
    /// The outstanding (full) snapshot is the one change tracking restarted from.
    pub(crate) tracking_restarted: bool,
    pub(crate) next_container_check: Millis,
    pub(crate) started_at: Millis,
    pub(crate) packets_received: u64,
    pub(crate) packets_sent: u64,
    pub(crate) latency: super::conn::Counters,
}

impl State {
    /// A server with an empty tree; `me` tags its own requests.
    pub(crate) fn new(config: ServerConfig, me: ServerId, now: Millis) -> State {
        let sessions = SessionTracker::new(config.server_id, now, config.tick_time_ms);
        let mut tree = DataTree::new();
        if config.snapshot_deltas && config.snap_count > 0 {
            // The fresh tree is the state before zxid 0, the base of the first delta.
            tree.track_changes();
        }
        State {
            next_container_check: now.plus(config.container_check_interval_ms),
            config,
            tree,
            sessions,
            watches: WatchManager::default(),
            overlay: Overlay::default(),
            conns: BTreeMap::new(),
            session_conn: BTreeMap::new(),
            last_prepared: Zxid::ZERO,
            last_proposed: Zxid::ZERO,
            batch: Vec::new(),
            to_leader: Vec::new(),
            origins: BTreeMap::new(),
            next_req: 1,
            me,
            role: Role::Looking,
            touched: BTreeMap::new(),
            owners: BTreeMap::new(),
            revalidating: BTreeMap::new(),
            syncs: BTreeMap::new(),
            proposed_sessions: BTreeSet::new(),
            waiters: BTreeSet::new(),
            next_token: 1,
            outputs: VecDeque::new(),
            recovered_sessions: BTreeMap::new(),
            since_snapshot: 0,
            snapshot_pending: None,
            last_snapshot: Zxid::ZERO,
            delta_paths: None,
            tracking_restarted: false,
            started_at: now,
            packets_received: 0,
            packets_sent: 0,
            latency: Default::default(),
        }
    }

    /// Start from a snapshot's image (recovery, before any `replay`).
    pub(crate) fn restore(&mut self, image: Image) {
        assert!(
            self.tree.last_zxid() == Zxid::ZERO && self.conns.is_empty(),
            "restore must come first"
        );
        self.tree = image.tree;
        if self.deltas_on() {
            self.tree.track_changes();
        }
        self.recovered_sessions = image
            .sessions
            .into_iter()
            .map(|(id, t)| (id, i64::from(t)))
            .collect();
        self.last_prepared = self.tree.last_zxid();
        self.last_proposed = self.tree.last_zxid();
        self.last_snapshot = self.tree.last_zxid();
    }

    /// Apply one durable log entry during a standalone server's recovery (everything in
    /// its log is committed). Entries must come in zxid order.
    pub(crate) fn replay(&mut self, entry: LogEntry) {
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
        self.last_proposed = self.tree.last_zxid();
        self.since_snapshot += 1;
    }

    /// Finish recovery: recovered sessions get a fresh deadline, as in ZooKeeper, so the
    /// ephemerals of clients that died while the server was down last one more timeout.
    ///
    /// Request numbers (the `req` of this server's `ReqTag`s) start from a base that
    /// differs per process start (`incarnation`, the start time): a proposal tagged by an
    /// earlier incarnation of this server can come back from the leader after a restart,
    /// and must not be mistaken for a new client's request.
    pub(crate) fn start(&mut self, now: Millis, incarnation: u64) {
        self.next_req = (incarnation & 0xFFFF_FFFF) << 32 | 1;
        for (id, timeout) in std::mem::take(&mut self.recovered_sessions) {
            self.sessions.add(id, timeout, now);
        }
        self.last_prepared = self.tree.last_zxid();
        self.last_proposed = self.tree.last_zxid();
        self.started_at = now;
        self.next_container_check = now.plus(self.config.container_check_interval_ms);
    }

    /// Whether this server prepares writes itself (leading or standalone).
    pub(crate) fn prepares(&self) -> bool {
        matches!(self.role, Role::Leading { .. } | Role::Standalone)
    }

    /// Whether this server follows a leader (and forwards writes to it).
    pub(crate) fn follows(&self) -> bool {
        matches!(self.role, Role::Following { .. })
    }

    /// Requests parked in the core (waiting for durability or for their turn) exceed
    /// `globalOutstandingLimit`: the driver should stop reading new frames until this
    /// clears, as ZooKeeper stops reading from client sockets.
    pub(crate) fn throttled(&self) -> bool {
        let limit = self.config.global_outstanding_limit;
        limit > 0 && self.conns.values().map(|c| c.queue.len()).sum::<usize>() > limit
    }

    /// The earliest time at which `tick` has work to do.
    pub(crate) fn next_deadline(&self) -> Option<Millis> {
        let mut d = None;
        if self.prepares() {
            // Only the leader (or a standalone server) expires sessions and reaps
            // containers; a follower would wake up for nothing.
            d = Some(self.next_container_check);
            if let Some(s) = self.sessions.next_deadline() {
                d = d.min(Some(s));
            }
        }
        for c in self.conns.values() {
            if c.phase == Phase::AwaitConnect && !c.closed {
                let t = c.opened_at.plus(SESSIONLESS_TIMEOUT_MS);
                d = Some(d.map_or(t, |x: Millis| x.min(t)));
            }
        }
        d
    }

    fn next_req(&mut self) -> u64 {
        let r = self.next_req;
        self.next_req += 1;
        r
    }

    /// The tag a txn prepared for one of this server's own requests carries.
    fn tag(&self, req: u64) -> Option<ReqTag> {
        Some(ReqTag {
            server: self.me,
            req,
        })
    }

    /// A client connected from `remote`.
    pub(crate) fn connection_opened(&mut self, now: Millis, conn: ConnId, remote: SocketAddr) {
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
    pub(crate) fn connection_closed(&mut self, _now: Millis, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            if self.session_conn.get(&c.session) == Some(&conn) {
                self.session_conn.remove(&c.session);
            }
        }
        self.watches.remove_connection(conn);
        // Replies owed to the connection are simply dropped when their txns apply.
    }

    /// Time passed: expire sessions, reap containers and TTL nodes (leading or standalone
    /// only), drop handshake-less connections.
    pub(crate) fn tick(&mut self, now: Millis) {
        if self.prepares() {
            for session in self.sessions.expire(now) {
                if let Some(conn) = self.session_conn.remove(&session) {
                    self.close_conn(conn);
                }
                self.submit_close_session(now, session);
            }
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
        if self.prepares() && now >= self.next_container_check {
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

    /// Request a snapshot once enough txns were applied (see `ServerConfig::snap_count`),
    /// as of the last applied zxid that is also durable here (`durable`): the driver
    /// builds it from this server's own log, or (delta snapshots) from the previous
    /// snapshot and the changed nodes' live states.
    pub(crate) fn maybe_snapshot(&mut self, durable: Zxid) {
        if self.tree.changed_count() > self.delta_cap() {
            // Snapshots are rare (a huge snapCount) or keep failing: the set would grow
            // without bound. Full builds until tracking restarts (below).
            self.tree.untrack_changes();
        }
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
        let applied = self.tree.last_zxid();
        if self.tree.tracks_changes() && applied <= durable {
            if applied > self.last_snapshot {
                self.request_delta_snapshot();
            }
            return;
        }
        // A delta must be exactly the applied state, which must be durable here (a leader
        // may apply a quorum's commit before its own fsync). Under steady load that is
        // nearly always soon true; if it stays false, fall back to a full snapshot as of
        // what is durable, leaving the tracked changes (a superset) for the next delta.
        if self.tree.tracks_changes() && self.since_snapshot < 2 * threshold {
            return;
        }
        let zxid = applied.min(durable);
        if zxid <= self.last_snapshot {
            return;
        }
        let token = self.next_snapshot_token();
        if self.deltas_on() && !self.tree.tracks_changes() && zxid == applied {
            // Tracking was dropped: start again from exactly this state, which the full
            // snapshot asked for now captures; it becomes the base if it is written.
            self.tree.track_changes();
            self.tracking_restarted = true;
        }
        self.outputs.push_back(Output::Snapshot {
            token,
            zxid,
            delta: None,
        });
    }

    /// Whether this server hands out deltas with its snapshot requests.
    fn deltas_on(&self) -> bool {
        self.config.snapshot_deltas && self.config.snap_count > 0
    }

    /// Most changed paths tracked: a few times what one snapshot interval changes, within
    /// bounds (about 80 bytes each).
    fn delta_cap(&self) -> usize {
        let c = usize::try_from(self.config.snap_count.saturating_mul(4)).unwrap_or(usize::MAX);
        c.clamp(50_000, 500_000)
    }

    fn next_snapshot_token(&mut self) -> PersistToken {
        let token = PersistToken(self.next_token);
        self.next_token += 1;
        self.since_snapshot = 0;
        self.snapshot_pending = Some(token);
        token
    }

    /// Ask for a snapshot as of the applied zxid, with the live states of every node changed
    /// since the last snapshot written.
    fn request_delta_snapshot(&mut self) {
        let paths = self.tree.take_changes().expect("tracking changes");
        let changes = self.tree.export_changes(&paths);
        let sessions: Vec<(SessionId, i32)> = self
            .sessions
            .recorded()
            .into_iter()
            .map(|(id, t)| (id, t as i32))
            .collect();
        let header = crate::snapshot::Header {
            zxid: self.tree.last_zxid(),
            digest: self.tree.digest(),
            nodes: self.tree.len() as u64,
            sessions: sessions.len() as u64,
        };
        let delta = crate::snapshot::Delta {
            base: self.last_snapshot,
            header,
            sessions,
            changes,
        };
        self.delta_paths = Some(paths);
        let token = self.next_snapshot_token();
        self.outputs.push_back(Output::Snapshot {
            token,
            zxid: header.zxid,
            delta: Some(Box::new(delta)),
        });
    }

    /// The driver wrote the snapshot requested with `token` (or gave up on it: `written`
    /// false; a failed snapshot loses nothing, the log still holds every txn).
    pub(crate) fn snapshotted(&mut self, token: PersistToken, zxid: Zxid, written: bool) {
        if self.snapshot_pending == Some(token) {
            self.snapshot_pending = None;
            let paths = self.delta_paths.take();
            let restarted = std::mem::take(&mut self.tracking_restarted);
            if written {
                self.last_snapshot = self.last_snapshot.max(zxid);
            } else if restarted {
                // Tracking restarted against a snapshot that does not exist.
                self.tree.untrack_changes();
            } else if let Some(paths) = paths {
                // The next delta is against the same base, so it must cover these too.
                self.tree.restore_changes(paths);
            }
        }
    }

    /// One frame from a client (length prefix stripped, size already checked).
    pub(crate) fn frame_received(&mut self, now: Millis, conn: ConnId, payload: &[u8]) {
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
            // Writes are prepared (or forwarded) at once (their zxids follow the
            // createSession txn, or the revalidation); everything else waits for the
            // ConnectResponse, in order.
            Phase::CreatingSession | Phase::Revalidating => {
                self.handle_request(now, conn, payload, false, None)
            }
            Phase::Established => {
                self.sessions_touch(now, conn);
                self.handle_request(now, conn, payload, false, None);
            }
        }
    }

    /// Every packet from a session's connection keeps the session alive. A follower also
    /// notes the touch for the leader (which alone expires sessions), sent with the next
    /// PING answer.
    fn sessions_touch(&mut self, now: Millis, conn: ConnId) {
        if let Some(c) = self.conns.get(&conn) {
            let (session, timeout) = (c.session, c.timeout_ms);
            self.sessions.touch(session, now);
            // A follower reports every touch: the leader knows the session even when this
            // server has not applied its createSession yet.
            if self.follows() && session != SessionId::NONE {
                self.touched.insert(session, timeout as i32);
            }
        }
    }

    // ---- handshake -------------------------------------------------------------------

    fn handle_connect(&mut self, now: Millis, conn: ConnId, payload: &[u8]) {
        if !self.role.serving() {
            // ZooKeeper: "ZooKeeperServer not running": the connection is closed.
            self.close_conn(conn);
            return;
        }
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
            let req = self.next_req();
            self.origins.insert(
                req,
                Origin {
                    conn,
                    xid: 0,
                    op: op::CREATE_SESSION,
                    received: now,
                    sub_ops: Vec::new(),
                },
            );
            if self.prepares() {
                self.owners.insert(session, self.me);
                self.proposed_sessions.insert(session);
                let txn = Txn::CreateSession {
                    timeout_ms: timeout as i32,
                };
                self.propose(now, session, 0, txn, self.tag(req));
            } else {
                self.to_leader.push(ToLeader::Forward {
                    req,
                    forward: Forward::CreateSession {
                        session,
                        timeout_ms: timeout as i32,
                    },
                });
            }
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
        // A follower only checks the password: whether the session lives is the leader's
        // to say (its own view may lag, or hold a stale close), as ZooKeeper's REVALIDATE.
        let valid = req.passwd == SessionTracker::password(session)
            && (self.follows()
                || (self.sessions.contains(session) && !self.sessions.is_closing(session)));
        if !valid {
            let resp = ConnectResponse::invalid(req.read_only);
            self.send_connect_response(conn, &resp);
            self.close_conn(conn);
            return;
        }
        let follows = self.follows();
        let c = self.conns.get_mut(&conn).expect("known connection");
        c.session = session;
        c.timeout_ms = timeout;
        self.session_conn.insert(session, conn);
        if follows {
            // Only the leader knows whether the session is still alive (it may have
            // expired it a moment ago): ask it, as ZooKeeper's REVALIDATE does. Frames
            // wait behind the answer.
            c.phase = Phase::Revalidating;
            let req = self.next_req();
            self.revalidating.insert(req, conn);
            self.to_leader.push(ToLeader::Revalidate {
                req,
                session,
                timeout_ms: timeout as i32,
            });
            return;
        }
        self.owners.insert(session, self.me);
        self.accept_reconnect(now, conn);
    }

    /// The reconnect on `conn` is valid: resume its session.
    pub(crate) fn accept_reconnect(&mut self, now: Millis, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let (session, timeout) = (c.session, c.timeout_ms);
        c.phase = Phase::Established;
        let read_only = c.read_only_byte;
        self.sessions.set_timeout(session, timeout);
        self.sessions.touch(session, now);
        let resp = ConnectResponse {
            protocol_version: 0,
            timeout_ms: timeout as i32,
            session_id: session,
            passwd: SessionTracker::password(session).to_vec(),
            read_only: read_only.map(|_| false),
        };
        self.send_connect_response(conn, &resp);
        self.drain_queue(now, conn);
    }

    /// The leader found the session of the reconnect on `conn` dead.
    pub(crate) fn refuse_reconnect(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let resp = ConnectResponse::invalid(c.read_only_byte);
        let session = c.session;
        if self.session_conn.get(&session) == Some(&conn) {
            self.session_conn.remove(&session);
        }
        // Replies of requests sent meanwhile must not follow the invalid response.
        if let Some(c) = self.conns.get_mut(&conn) {
            c.queue.clear();
        }
        self.send_connect_response(conn, &resp);
        self.close_conn(conn);
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
        let creating = matches!(
            self.conns[&conn].phase,
            Phase::CreatingSession | Phase::Revalidating
        );
        let queue_busy = creating || (!at_front && !self.conns[&conn].queue.is_empty());
        let session = self.conns[&conn].session;
        let session_ok = received_ok.unwrap_or_else(|| creating || self.session_alive(session));
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
            self.handle_write(now, conn, hdr, req, payload, at_front);
            return;
        }
        // Following: a sync goes to the leader at once, in order with the session's writes
        // (ZooKeeper's follower forwards it as it forwards writes), even while earlier
        // replies are pending: held back until it reached the front of the queue, it would
        // reach the leader after writes the session sent later, and the reads behind it
        // would see them (found by the simulator).
        if let Request::Sync { path } = &req {
            if self.follows() && session_ok {
                self.forward_sync(now, conn, hdr.xid, path.clone(), at_front);
                return;
            }
        }
        // A standalone server orders every read behind every write received before it
        // (ZooKeeper's single Prep → Sync → Final pipeline, which clients rely on). In an
        // ensemble, as in ZooKeeper, a read only waits for its own session's earlier
        // requests, except `sync` on the leader, which waits for every write in flight.
        let barrier_applies = match self.role {
            Role::Standalone => true,
            Role::Leading { .. } => matches!(req, Request::Sync { .. }),
            _ => false,
        };
        if queue_busy
            || (barrier_applies && !at_front && self.tree.last_zxid() < self.last_proposed)
        {
            // A read behind pending replies, or behind any in-flight txn, waits its turn.
            let barrier = if barrier_applies {
                self.last_proposed
            } else {
                Zxid::ZERO
            };
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
        if let Request::Sync { path } = req {
            if self.follows() {
                self.forward_sync(now, conn, hdr.xid, path, at_front);
                return;
            }
            // Leading or standalone: every write before it is applied by now.
            let frame = self.frame(hdr.xid, Ok(Response::Sync { path }));
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
            let barrier = self.last_proposed;
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
            .is_some_and(|c| !c.queue.is_empty() || c.phase.awaits_handshake())
    }

    fn session_ok(&self, conn: ConnId) -> bool {
        let session = self.conns.get(&conn).map_or(SessionId::NONE, |c| c.session);
        self.session_alive(session)
    }

    /// Whether requests on `session` are judged valid here. The leader (or a standalone
    /// server) knows; a follower only knows of closes its own clients asked for, and leaves
    /// the rest to the leader (its tracker may lag behind a createSession).
    fn session_alive(&self, session: SessionId) -> bool {
        if self.follows() {
            !self.sessions.is_closing(session)
        } else {
            self.sessions.contains(session) && !self.sessions.is_closing(session)
        }
    }

    fn handle_write(
        &mut self,
        now: Millis,
        conn: ConnId,
        hdr: RequestHeader,
        req: Request,
        payload: &[u8],
        at_front: bool,
    ) {
        let session = self.conns[&conn].session;
        let sub_ops = match &req {
            Request::Multi(ops) => ops.iter().map(Request::op).collect(),
            _ => Vec::new(),
        };
        if self.follows() {
            // The leader prepares every write; it gets the request as the client sent it.
            if let Request::CloseSession = req {
                self.sessions.set_closing(session);
            }
            let ids = self.conns[&conn]
                .ids
                .iter()
                .map(|id| (id.scheme.clone(), id.id.clone()))
                .collect();
            let forward = Forward::Request {
                session,
                payload: payload.to_vec(),
                ids,
            };
            self.hold_slot(now, conn, hdr, sub_ops, at_front, Submit::Forward(forward));
            return;
        }
        let zxid = self.last_prepared.successor();
        // closeSession is honoured from any server (ZooKeeper checks no owner for it).
        let txn = if let Request::CloseSession = req {
            self.sessions.set_closing(session);
            prep::prepare_close_session(&self.tree, &mut self.overlay, zxid, session)
        } else if self.moved_away(session) {
            Txn::Error {
                err: ErrorCode::SessionMoved,
            }
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
        self.enqueue_txn(now, conn, hdr, txn, sub_ops, at_front);
    }

    /// As leader: the session is held by another server now (a client moved it there).
    /// ZooKeeper's `checkSession(sessionId, owner)`; a session without a known owner (a
    /// new leader has not heard from it yet) is adopted by the first server to use it.
    pub(crate) fn owner_mismatch(&mut self, session: SessionId, server: ServerId) -> bool {
        if !matches!(self.role, Role::Leading { .. }) {
            return false;
        }
        match self.owners.get(&session) {
            Some(owner) => *owner != server,
            None => {
                self.owners.insert(session, server);
                false
            }
        }
    }

    fn moved_away(&mut self, session: SessionId) -> bool {
        let me = self.me;
        self.owner_mismatch(session, me)
    }

    /// Propose `txn` for `conn` (or, following, have the leader log it: only error txns
    /// reach here then) and hold its reply slot in the connection's queue.
    fn enqueue_txn(
        &mut self,
        now: Millis,
        conn: ConnId,
        hdr: RequestHeader,
        txn: Txn,
        sub_ops: Vec<i32>,
        at_front: bool,
    ) {
        let submit = if self.follows() {
            let Txn::Error { err } = txn else {
                unreachable!("a follower prepares no txn but errors: {txn:?}");
            };
            Submit::Forward(Forward::Error {
                session: self.conns[&conn].session,
                cxid: hdr.xid,
                err: err.code(),
            })
        } else {
            Submit::Txn(txn)
        };
        self.hold_slot(now, conn, hdr, sub_ops, at_front, submit);
    }

    /// Hold the reply slot of a write (or forwarded sync) on `conn` and send it on its way.
    fn hold_slot(
        &mut self,
        now: Millis,
        conn: ConnId,
        hdr: RequestHeader,
        sub_ops: Vec<i32>,
        at_front: bool,
        submit: Submit,
    ) -> u64 {
        let session = self.conns[&conn].session;
        let req = self.next_req();
        self.origins.insert(
            req,
            Origin {
                conn,
                xid: hdr.xid,
                op: hdr.op,
                received: now,
                sub_ops,
            },
        );
        let c = self.conns.get_mut(&conn).expect("known connection");
        if at_front {
            c.queue.push_front(Slot::Txn { req });
        } else {
            c.queue.push_back(Slot::Txn { req });
        }
        match submit {
            Submit::Txn(txn) => self.propose(now, session, hdr.xid, txn, self.tag(req)),
            Submit::Forward(forward) => self.to_leader.push(ToLeader::Forward { req, forward }),
            Submit::Sync => self.to_leader.push(ToLeader::Sync { req }),
        }
        req
    }

    /// Following: a client `sync`. The leader answers once every commit before it went out
    /// on this link, so the reply (sent when the answer arrives) follows all of them.
    fn forward_sync(&mut self, now: Millis, conn: ConnId, xid: i32, path: String, at_front: bool) {
        let hdr = RequestHeader { xid, op: op::SYNC };
        let req = self.hold_slot(now, conn, hdr, Vec::new(), at_front, Submit::Sync);
        self.syncs.insert(req, path);
    }

    /// Assign the next zxid to `txn` and queue it for the replica (leading or standalone).
    pub(crate) fn propose(
        &mut self,
        now: Millis,
        session: SessionId,
        cxid: i32,
        txn: Txn,
        tag: Option<ReqTag>,
    ) {
        debug_assert!(self.prepares(), "propose while {:?}", self.role);
        let zxid = self.last_prepared.successor();
        self.last_prepared = zxid;
        self.last_proposed = zxid;
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
        self.batch.push((LogEntry { hdr, txn }, tag));
    }

    fn submit_close_session(&mut self, now: Millis, session: SessionId) {
        self.sessions.set_closing(session);
        let zxid = self.last_prepared.successor();
        let txn = prep::prepare_close_session(&self.tree, &mut self.overlay, zxid, session);
        self.propose(now, session, 0, txn, None);
    }

    // ---- applying --------------------------------------------------------------------

    /// Apply a committed entry (in zxid order) and answer whoever waits for it here.
    pub(crate) fn apply(&mut self, now: Millis, entry: LogEntry, tag: Option<ReqTag>) {
        let zxid = entry.hdr.zxid;
        self.apply_entry(now, entry, tag);
        self.since_snapshot += 1;
        // Deferred frames waiting for this zxid may run now.
        while let Some(&(barrier, conn)) = self.waiters.first() {
            if barrier > zxid {
                break;
            }
            self.waiters.pop_first();
            self.drain_queue(now, conn);
        }
    }

    fn apply_entry(&mut self, now: Millis, entry: LogEntry, tag: Option<ReqTag>) {
        let zxid = entry.hdr.zxid;
        let session = entry.hdr.session;
        let deleted_acls = self.acls_of_deleted(&entry.txn);
        let result = self.tree.apply(&entry.hdr, &entry.txn);
        self.overlay.applied(zxid);
        let origin = tag
            .filter(|t| t.server == self.me)
            .and_then(|t| self.origins.remove(&t.req));
        match &entry.txn {
            Txn::CreateSession { timeout_ms } => {
                self.sessions.add(session, *timeout_ms as i64, now);
                self.proposed_sessions.remove(&session);
            }
            Txn::CloseSession { .. } => {
                self.sessions.remove(session);
                self.owners.remove(&session);
                self.touched.remove(&session);
                // Expired by the leader while a client is connected here: the server
                // holding the connection closes it without a word, as ZooKeeper does.
                if let Some(&conn) = self.session_conn.get(&session) {
                    if origin.as_ref().is_none_or(|o| o.conn != conn) {
                        self.session_conn.remove(&session);
                        self.close_conn(conn);
                    }
                }
            }
            _ => {}
        }
        self.deliver_events(&result.triggers, &deleted_acls);
        let Some(origin) = origin else {
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
        // A session that moved to another server: ZooKeeper answers SessionMoved and
        // closes the stale connection.
        let moved = matches!(
            entry.txn,
            Txn::Error {
                err: ErrorCode::SessionMoved
            }
        );
        let close = origin.op == op::CLOSE_SESSION || moved;
        let c = self.conns.get_mut(&origin.conn).expect("checked above");
        c.counters.last_zxid = zxid;
        c.counters.record_latency(now.0 - origin.received.0);
        self.latency.record_latency(now.0 - origin.received.0);
        let req = tag.expect("an origin comes with a tag").req;
        self.complete_slot(now, origin.conn, req, frame, close);
        if origin.op == op::CLOSE_SESSION && self.session_conn.get(&session) == Some(&origin.conn) {
            self.session_conn.remove(&session);
        }
    }

    /// The reply of the request `req` held in a slot of `conn` is ready.
    fn complete_slot(&mut self, now: Millis, conn: ConnId, req: u64, bytes: Vec<u8>, close: bool) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if let Some(slot) = c
            .queue
            .iter_mut()
            .find(|s| matches!(s, Slot::Txn { req: r } if *r == req))
        {
            *slot = Slot::Ready { bytes, close };
        }
        self.drain_queue(now, conn);
    }

    /// Following: the leader confirmed the sync `req`; everything committed before it has
    /// been applied here.
    pub(crate) fn sync_done(&mut self, now: Millis, req: u64) {
        let (Some(origin), Some(path)) = (self.origins.remove(&req), self.syncs.remove(&req))
        else {
            return;
        };
        let frame = self.frame(origin.xid, Ok(Response::Sync { path }));
        self.complete_slot(now, origin.conn, req, frame, false);
    }

    /// Following: the leader's answer to the revalidation `req`.
    pub(crate) fn revalidated(&mut self, now: Millis, req: u64, valid: bool) {
        let Some(conn) = self.revalidating.remove(&req) else {
            return;
        };
        if !self
            .conns
            .get(&conn)
            .is_some_and(|c| c.phase == Phase::Revalidating && !c.closed)
        {
            return;
        }
        if valid {
            self.accept_reconnect(now, conn);
        } else {
            self.refuse_reconnect(conn);
        }
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
            if c.phase.awaits_handshake() {
                // Nothing may precede the ConnectResponse.
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
        if at_front || (c.queue.is_empty() && !c.phase.awaits_handshake()) {
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
