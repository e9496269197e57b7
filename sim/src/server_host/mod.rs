//! A server host: a single-task driver around `corral_core::server::Server` on turmoil
//! TCP and the simulated disk, standalone or as an ensemble member.
//!
//! Start-up recovers the disk (cutting a torn tail; an ensemble member also reads its
//! epoch files), restores the newest snapshot, replays the log after it into a fresh
//! `Server`, calls `start`, and binds the client port (and, in an ensemble, the peer port;
//! see [`links`]). The loop then waits, in this priority order, for the storage operation
//! in progress to complete, the server's next deadline, the peer links' timers, a peer
//! frame or dial result, a client frame or closed connection from a reader task, and new
//! connections. After every input it drains `poll_output`: `Send`/`Close` go to the
//! client connection's writer task, `Peer` to the link (dropped when it is down), storage
//! outputs to the ordered [`storage`] queue, `Snapshot` to the disk at once. Then it
//! reports to the shared [`Cluster`](crate::cluster::Cluster): replication events, what
//! was applied, its state digest, epochs and status.
//!
//! Checks made here, on the traffic itself: every outgoing ACK names a zxid the disk
//! durably holds, and every entry handed to the disk keeps its zxid's one meaning.

pub mod links;
pub mod storage;

use std::collections::BTreeMap;
use std::time::Duration;

use corral_core::jute::JuteWriter;
use corral_core::proto::ConnectRequest;
use corral_core::server::{
    LogEntry, Output, PeerMessage, ReplicaConfig, Server, ServerConfig, StoredEpochs,
};
use corral_core::txn::Txn;
use corral_core::types::{ConnId, Millis, ServerId, SessionId};
use corral_core::zab::election::ElectionTiming;
use corral_core::zab::message::{WireEntry, ZabBody, ZabMessage};
use std::rc::Rc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use turmoil::net::TcpListener;

use crate::cluster::{self, SharedCluster};
use crate::disk::DiskSet;
use crate::rng::Rng;
use crate::scenario::{server_host, Scenario, CLIENT_PORT, PEER_PORT};
use crate::trace::{sim_ms, Trace};
use crate::wire::{read_frames, write_frames, Inbound, Outbound};
use links::{LinkEvent, LinkTiming, Links};
use storage::{Barrier, Storage};

/// A deliberate bug in the server driver for checking the checkers (planted with
/// `--plant`, never in a normal run; see `check::plant::Bug`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerBug {
    /// Report fsyncs complete without making anything durable: a crash then loses
    /// acknowledged writes.
    LyingFsync,
    /// Tell the server its entries are durable as soon as they are appended (so it
    /// replies, or ACKs), and fsync them afterwards: a crash in that window loses
    /// acknowledged writes.
    AckBeforeFsync,
    /// Snapshots claim their zxid but leave out the effect of the newest data txn they
    /// cover: recovery from such a snapshot silently lacks it.
    SnapshotDropsLastTxn,
    /// Acknowledge TRUNC without truncating: the disk keeps the uncommitted tail, and a
    /// restart recovers it in the middle of the log.
    SkipTrunc,
    /// Ignore the client's `lastZxidSeen`: a server behind the client accepts a moved
    /// session and answers its reads from older state. To let a follower be behind a
    /// moved session at all, its driver also applies commits late (it holds each COMMIT
    /// for a while, as ZooKeeper's asynchronous commit processor may): without that,
    /// Corral's session revalidation, answered by the leader on the same link after the
    /// commits, already brings the follower up to date.
    IgnoreLastZxidSeen,
    /// A follower drops the ephemeral cleanup of every closeSession it is sent (it applies
    /// a close of no session instead).
    DropEphemeralCleanup,
    /// Watch notifications are held back and sent after the connection's next reply,
    /// whose header zxid already includes the change that fired them.
    LateNotification,
}

/// What a server host needs from the world.
#[derive(Clone)]
pub struct ServerCtx {
    /// 0-based; the server id is `index + 1`.
    pub index: usize,
    pub scenario: Rc<Scenario>,
    pub disks: DiskSet,
    pub trace: Trace,
    pub bug: Option<ServerBug>,
    pub cluster: SharedCluster,
    /// Trace every peer message but pings (debugging: `replay --trace-peers`).
    pub trace_peers: bool,
}

/// Wall-clock ms the core sees: the simulation's fixed epoch plus simulated time.
pub fn wall_ms() -> Millis {
    let d = turmoil::since_epoch().expect("inside a simulated host");
    Millis(d.as_millis() as i64)
}

struct ConnHandle {
    writer: mpsc::UnboundedSender<Outbound>,
    reader: JoinHandle<()>,
    /// The handshake frame was seen.
    handshaken: bool,
}

struct Driver {
    ctx: ServerCtx,
    name: String,
    server: Server,
    rng: Rng,
    conns: BTreeMap<ConnId, ConnHandle>,
    storage: Storage,
    links: Option<Links>,
    /// COMMITs held back (planted slow apply): (release time, from, message).
    held: std::collections::VecDeque<(Instant, ServerId, PeerMessage)>,
    /// Notification frames held back per connection (planted late notification).
    late: BTreeMap<ConnId, Vec<u8>>,
    /// The last (applied zxid, digest) and epochs reported.
    reported: (corral_core::types::Zxid, u64),
    reported_epochs: StoredEpochs,
}

impl Driver {
    fn trace(&self, what: impl AsRef<str>) {
        self.ctx.trace.event(sim_ms(), &self.name, what);
    }

    fn ensemble(&self) -> bool {
        self.links.is_some()
    }

    /// Drain the server's outputs until nothing is left; connection closes it asks for
    /// are fed back as `connection_closed`, and acknowledgements the storage queue gives
    /// at once (planted bug) as `persisted`.
    fn drain(&mut self) {
        loop {
            let mut closed = Vec::new();
            while let Some(out) = self.server.poll_output() {
                match out {
                    Output::Send { conn, bytes } => {
                        let bytes = if self.ctx.bug == Some(ServerBug::LateNotification) {
                            self.hold_notifications(conn, bytes)
                        } else {
                            bytes
                        };
                        if let Some(c) = self.conns.get(&conn).filter(|_| !bytes.is_empty()) {
                            let _ = c.writer.send(Outbound::Bytes(bytes));
                        }
                    }
                    Output::Close { conn } => closed.push(conn),
                    Output::Persist { token, entries } => {
                        self.trace(format!(
                            "persist token{} {} entries {:?}..{:?}",
                            token.0,
                            entries.len(),
                            entries.first().map(|e| e.hdr.zxid),
                            entries.last().map(|e| e.hdr.zxid)
                        ));
                        if self.ensemble() {
                            self.ctx
                                .cluster
                                .borrow_mut()
                                .on_persist(self.ctx.index, &entries);
                        }
                        self.storage.append(token, entries);
                    }
                    Output::Truncate { token, after } => {
                        self.trace(format!("truncate token{} after {after}", token.0));
                        self.storage.barrier(token, Barrier::Truncate(after));
                    }
                    Output::InstallSnapshot { token, zxid, bytes } => {
                        self.trace(format!("install snapshot token{} at {zxid}", token.0));
                        let provenance = self
                            .ctx
                            .cluster
                            .borrow_mut()
                            .take_provenance(self.ctx.index, zxid);
                        self.storage.barrier(
                            token,
                            Barrier::Install {
                                zxid,
                                bytes,
                                provenance,
                            },
                        );
                    }
                    Output::SaveEpochs {
                        token,
                        accepted,
                        current,
                    } => {
                        self.trace(format!(
                            "save epochs token{} accepted {:?} current {:?}",
                            token.0,
                            accepted.map(|a| (a.epoch.0, a.leader.map(|l| l.0))),
                            current.map(|c| c.0)
                        ));
                        self.storage
                            .barrier(token, Barrier::Epochs { accepted, current });
                    }
                    Output::Peer { to, msg } => self.send_peer(to, msg),
                    Output::Snapshot { token, zxid, delta } => {
                        self.snapshot(token, zxid, delta.as_deref())
                    }
                }
            }
            let early = self.storage.pump(&mut self.rng);
            if closed.is_empty() && early.is_empty() {
                return;
            }
            for conn in closed {
                self.late.remove(&conn);
                if let Some(c) = self.conns.remove(&conn) {
                    let _ = c.writer.send(Outbound::Close);
                    c.reader.abort();
                    self.trace(format!("close conn{} (server)", conn.0));
                    self.server.connection_closed(wall_ms(), conn);
                }
            }
            for token in early {
                self.server.persisted(wall_ms(), token);
            }
        }
    }

    fn send_peer(&mut self, to: ServerId, msg: PeerMessage) {
        if let PeerMessage::Zab(ZabMessage {
            body: ZabBody::Ack { zxid },
            ..
        }) = &msg
        {
            let (durable, tail) = self
                .ctx
                .disks
                .with(&self.name, |d| (d.durably_holds(*zxid), d.durable_tail()));
            self.ctx
                .cluster
                .borrow_mut()
                .on_ack(self.ctx.index, *zxid, durable, tail);
        }
        if let Some(links) = &mut self.links {
            let sent = links.send(to, &msg);
            if self.ctx.trace_peers && !is_ping(&msg) {
                self.trace(format!(
                    "-> server{}{} {}",
                    to.0,
                    if sent { "" } else { " (link down, dropped)" },
                    brief(&msg)
                ));
            }
        }
    }

    fn snapshot(
        &mut self,
        token: corral_core::server::PersistToken,
        zxid: corral_core::types::Zxid,
        delta: Option<&corral_core::snapshot::Delta>,
    ) {
        let lossy = self.ctx.bug == Some(ServerBug::SnapshotDropsLastTxn);
        let r = self.ctx.disks.with(&self.name, |d| {
            let size = d.snapshot(zxid, lossy)?;
            // The full build is the reference the delta must reproduce (unless a planted
            // bug makes the full build itself wrong).
            let merged = match delta {
                Some(delta) if !lossy => Some(d.check_delta(delta)),
                _ => None,
            };
            Ok::<_, String>((size, merged))
        });
        match &r {
            Ok((size, merged)) => {
                self.trace(format!("snapshot at {zxid} ({size} bytes)"));
                let mut c = self.ctx.cluster.borrow_mut();
                c.stats.snapshots += 1;
                c.status[self.ctx.index].last_snapshot_ms = Some(sim_ms());
                if let Some(merged) = merged {
                    if merged == &Ok(true) {
                        c.stats.delta_snapshots += 1;
                    }
                    let i = self.ctx.index;
                    c.check("delta-snapshot", merged.is_ok(), || {
                        format!(
                            "server{}: {}",
                            i + 1,
                            merged.clone().err().unwrap_or_default()
                        )
                    });
                }
            }
            Err(e) => self.trace(format!("snapshot at {zxid} failed: {e}")),
        }
        self.server.snapshotted(token, zxid, r.is_ok());
    }

    /// The storage operation in progress completed.
    fn storage_done(&mut self) {
        let c = self.storage.complete();
        for n in &c.notes {
            self.trace(n);
        }
        {
            let mut cl = self.ctx.cluster.borrow_mut();
            for e in &c.errors {
                cl.storage_error(self.ctx.index, e.clone());
            }
            if c.errors.is_empty() && self.ensemble() {
                cl.storage_ok();
            }
        }
        for e in c.errors {
            self.trace(format!("storage error: {e}"));
        }
        if let Some(t) = c.ack {
            self.server.persisted(wall_ms(), t);
        }
    }

    fn link_events(&mut self, events: Vec<LinkEvent>) {
        for ev in events {
            match ev {
                LinkEvent::Up(p) => self.trace(format!("link to server{} up", p.0)),
                LinkEvent::Down(p, why) => {
                    self.trace(format!("link to server{} down: {why}", p.0));
                    self.server.peer_disconnected(wall_ms(), p);
                }
                LinkEvent::Note(n) => self.trace(n),
                LinkEvent::Message(p, msg) => {
                    if self.ctx.trace_peers && !is_ping(&msg) {
                        self.trace(format!("<- server{} {}", p.0, brief(&msg)));
                    }
                    let msg = self.inbound_peer(p, msg);
                    // Every message that carries the leader's commit mark (COMMIT, and the
                    // PING and SYNC answer that repeat it) is held, in order.
                    let commit = matches!(
                        &msg,
                        PeerMessage::Zab(ZabMessage {
                            body: ZabBody::Commit { .. }
                                | ZabBody::Ping { .. }
                                | ZabBody::SyncDone { .. },
                            ..
                        })
                    );
                    if commit && self.ctx.bug == Some(ServerBug::IgnoreLastZxidSeen) {
                        let delay = Duration::from_millis(self.rng.range(100, 600) as u64);
                        let at = self
                            .held
                            .back()
                            .map_or(Instant::now(), |h| h.0)
                            .max(Instant::now() + delay);
                        self.held.push_back((at, p, msg));
                    } else {
                        self.server.peer_message(wall_ms(), p, msg);
                    }
                }
            }
            self.drain();
        }
    }

    /// Planted late notification: keep the notification frames (xid -1) of `bytes` back,
    /// and return the other frames followed by what was held before, so a notification
    /// goes out only after the connection's next reply.
    fn hold_notifications(&mut self, conn: ConnId, bytes: Vec<u8>) -> Vec<u8> {
        let mut rest = Vec::new();
        let mut at = 0;
        while at + 8 <= bytes.len() {
            let len = u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
            let end = (at + 4 + len).min(bytes.len());
            let xid = i32::from_be_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
            let frame = &bytes[at..end];
            if xid == -1 {
                self.late.entry(conn).or_default().extend_from_slice(frame);
            } else {
                rest.extend_from_slice(frame);
            }
            at = end;
        }
        rest.extend_from_slice(&bytes[at..]);
        let replied = !rest.is_empty();
        if replied {
            if let Some(held) = self.late.remove(&conn) {
                rest.extend_from_slice(&held);
            }
        }
        rest
    }

    /// Hand the held COMMITs that are due to the core (planted slow apply).
    fn release_held(&mut self) {
        let now = Instant::now();
        while self.held.front().is_some_and(|h| h.0 <= now) {
            let (_, p, msg) = self.held.pop_front().expect("checked");
            self.server.peer_message(wall_ms(), p, msg);
            self.drain();
        }
    }

    /// Look at (and, with a planted bug, change) a peer message before the core sees it.
    fn inbound_peer(&mut self, from: ServerId, mut msg: PeerMessage) -> PeerMessage {
        let PeerMessage::Zab(m) = &mut msg else {
            return msg;
        };
        match &mut m.body {
            ZabBody::Snap { zxid, .. } => {
                // The history behind the snapshot, for the receiving disk's archive.
                let z = *zxid;
                let mut hist = self
                    .ctx
                    .disks
                    .with(&server_host(cluster::index_of(from)), |d| {
                        d.written_entries()
                    });
                hist.retain(|e| e.hdr.zxid <= z);
                self.ctx
                    .cluster
                    .borrow_mut()
                    .on_snap_received(self.ctx.index, z, hist);
            }
            ZabBody::Propose { entries, .. }
                if self.ctx.bug == Some(ServerBug::DropEphemeralCleanup) =>
            {
                for w in entries.iter_mut() {
                    drop_cleanup(w);
                }
            }
            _ => {}
        }
        msg
    }

    /// A client frame, changed first by the planted lastZxidSeen bug.
    fn client_frame(&mut self, conn: ConnId, payload: Vec<u8>) {
        let mut payload = payload;
        if let Some(c) = self.conns.get_mut(&conn) {
            if !c.handshaken {
                c.handshaken = true;
                if self.ctx.bug == Some(ServerBug::IgnoreLastZxidSeen) {
                    if let Ok(mut req) = ConnectRequest::decode(&payload) {
                        req.last_zxid_seen = corral_core::types::Zxid::ZERO;
                        let mut w = JuteWriter::new();
                        req.write(&mut w);
                        payload = w.into_inner();
                    }
                }
            }
        }
        self.server.frame_received(wall_ms(), conn, &payload);
    }

    /// Report to the cluster what changed.
    fn observe(&mut self) {
        let i = self.ctx.index;
        let ms = sim_ms();
        let disks = self.ctx.disks.clone();
        let cluster = self.ctx.cluster.clone();
        let mut c = cluster.borrow_mut();
        while let Some(e) = self.server.poll_zab_event() {
            self.ctx.trace.event(ms, &self.name, format!("zab {e:?}"));
            let name = self.name.clone();
            c.on_event(i, ms, &e, || disks.with(&name, |d| d.durable_entries()));
        }
        let role = self.server.role();
        let s = &mut c.status[i];
        s.role = role;
        s.pending_storage = self.storage.pending();
        s.pending_appends = self.storage.pending_appends();
        if !self.ensemble() {
            return;
        }
        let replica = self.server.replica();
        let h = replica.history();
        s.last_logged = h.last();
        s.committed = h.committed();
        let applied = h.applied();
        let seen = c.seen_applied(i);
        if applied < seen {
            c.rewind_seen(i, applied);
        } else if applied > seen {
            let start = if h.contains(seen) { seen } else { h.base() };
            let entries: Vec<&LogEntry> = h
                .after(start)
                .take_while(|e| e.zxid() <= applied)
                .map(|e| &e.entry)
                .collect();
            c.on_applied_entries(i, &entries, applied);
        }
        let state = (self.server.last_zxid(), self.server.tree().digest());
        if state != self.reported {
            self.reported = state;
            c.status[i].applied = state.0;
            c.status[i].digest = state.1;
            c.on_state(i, state.0, state.1);
        }
        let epochs = StoredEpochs {
            accepted: replica.accepted_epoch(),
            current: replica.current_epoch(),
        };
        if epochs != self.reported_epochs {
            self.reported_epochs = epochs;
            c.on_epochs(i, epochs);
        }
    }
}

fn is_ping(m: &PeerMessage) -> bool {
    matches!(
        m,
        PeerMessage::Zab(ZabMessage {
            body: ZabBody::Ping { .. } | ZabBody::PingReply { .. },
            ..
        })
    )
}

/// A peer message in one short line.
fn brief(m: &PeerMessage) -> String {
    match m {
        PeerMessage::Vote(n) => format!(
            "vote {:?} leader {} zxid {} peer epoch {} round {}",
            n.state, n.vote.leader.0, n.vote.zxid, n.vote.peer_epoch.0, n.election_epoch.0
        ),
        PeerMessage::Zab(z) => match &z.body {
            ZabBody::Propose { prev, entries } => format!(
                "PROPOSE after {prev} {:?} (session {:x})",
                entries
                    .iter()
                    .map(|e| LogEntry::from_bytes(&e.bytes).map(|e| e.hdr.zxid).ok())
                    .collect::<Vec<_>>(),
                z.session.0
            ),
            ZabBody::Snap { zxid, bytes } => {
                format!(
                    "SNAP {zxid} ({} bytes, session {:x})",
                    bytes.len(),
                    z.session.0
                )
            }
            other => format!("{other:?} (session {:x})", z.session.0),
        },
    }
}

/// The planted cleanup bug: a closeSession that closes no session.
fn drop_cleanup(w: &mut WireEntry) {
    let Ok(mut e) = LogEntry::from_bytes(&w.bytes) else {
        return;
    };
    if let Txn::CloseSession { ephemerals } = &mut e.txn {
        if !ephemerals.is_empty() {
            ephemerals.clear();
            e.hdr.session = SessionId::NONE;
            w.bytes = e.to_bytes();
        }
    }
}

fn replica_config(sc: &Scenario, me: ServerId) -> ReplicaConfig {
    let p = sc.ensemble.as_ref().expect("an ensemble");
    let mut rc = ReplicaConfig::new(me, cluster::ids(sc.servers));
    rc.tick_ms = sc.tick_time_ms;
    rc.init_limit = p.init_limit;
    rc.sync_limit = p.sync_limit;
    rc.election = ElectionTiming {
        finalize_wait_ms: p.finalize_wait_ms,
        min_notification_interval_ms: p.min_notification_ms,
        max_notification_interval_ms: p.max_notification_ms,
    };
    rc.diff_window = p.diff_window;
    rc.sync_batch = p.sync_batch;
    rc.max_counter = p.max_counter;
    rc
}

/// Run one incarnation of the server host until it is crashed.
pub async fn run(ctx: ServerCtx) -> turmoil::Result {
    let name = server_host(ctx.index);
    let sc = ctx.scenario.clone();
    let now = wall_ms();
    let recovery = ctx.disks.with(&name, |d| d.recover());
    let history = ctx.disks.with(&name, |d| d.durable_entries());
    let base = recovery
        .image
        .as_ref()
        .map_or(corral_core::types::Zxid::ZERO, |i| i.zxid());
    let incarnation = {
        let mut c = ctx.cluster.borrow_mut();
        c.on_start(ctx.index, recovery.epochs, &history, base);
        if recovery.image.is_some() && c.status[ctx.index].incarnation > 1 {
            c.stats.snapshot_recoveries += 1;
        }
        c.status[ctx.index].incarnation
    };
    let rng = Rng::derive(sc.seed, &format!("{name}/{incarnation}"));
    let config = ServerConfig {
        tick_time_ms: sc.tick_time_ms,
        min_session_timeout_ms: 2 * sc.tick_time_ms,
        max_session_timeout_ms: 20 * sc.tick_time_ms,
        snap_count: sc.snap_count,
        snapshot_deltas: true,
        ..ServerConfig::default()
    };
    let max_frame = config.max_buffer;
    let me = ServerId(ctx.index as u64 + 1);
    let mut server = match &sc.ensemble {
        None => Server::new(config, now),
        Some(_) => Server::new_ensemble(config, replica_config(&sc, me), recovery.epochs, now),
    };
    let n = recovery.entries.len();
    let from = recovery.image.as_ref().map(|i| i.zxid());
    if let Some(image) = recovery.image {
        server.restore(image);
    }
    for e in recovery.entries {
        server.replay(e);
    }
    server.start(now);
    let storage = Storage::new(
        name.clone(),
        ctx.disks.clone(),
        ctx.bug,
        sc.fsync_ms,
        sc.slow_fsync_percent,
    );
    let (links, mut peer_rx, mut dial_rx) = match &sc.ensemble {
        Some(p) => {
            let timing = LinkTiming {
                timeout: Duration::from_millis(p.link_timeout_ms),
                keepalive: Duration::from_millis(p.keepalive_ms),
                backoff_min_ms: 20,
                backoff_max_ms: 1_000,
            };
            let lrng = Rng::derive(sc.seed, &format!("{name}/{incarnation}/links"));
            let (l, f, d) = Links::new(me, cluster::ids(sc.servers), timing, lrng);
            (Some(l), f, d)
        }
        None => {
            let (_, f) = mpsc::unbounded_channel();
            let (_, d) = mpsc::unbounded_channel();
            (None, f, d)
        }
    };
    let mut d = Driver {
        rng,
        server,
        conns: BTreeMap::new(),
        storage,
        links,
        held: std::collections::VecDeque::new(),
        late: BTreeMap::new(),
        reported: (corral_core::types::Zxid(-1), 0),
        reported_epochs: recovery.epochs,
        name,
        ctx,
    };
    d.trace(format!(
        "start #{incarnation}: snapshot {:?} + {n} entries to {}, cut {} torn bytes, epochs accepted {} current {}",
        from,
        d.server.replica().last_logged().max(d.server.last_zxid()),
        recovery.truncated_bytes,
        recovery.epochs.accepted.epoch.0,
        recovery.epochs.current.0,
    ));
    d.drain();
    d.observe();
    let listener = TcpListener::bind(("0.0.0.0", CLIENT_PORT)).await?;
    let peer_listener = match d.links {
        Some(_) => Some(TcpListener::bind(("0.0.0.0", PEER_PORT)).await?),
        None => None,
    };
    let ensemble = d.links.is_some();
    let (tx, mut rx) = mpsc::unbounded_channel::<(ConnId, Inbound)>();
    let mut next_conn = 1u64;
    let mut spins = 0u32;
    let mut last_now = Millis(0);
    loop {
        let now = wall_ms();
        if now == last_now {
            spins += 1;
            // A deadline that never moves would spin without letting time pass.
            assert!(spins < 1_000_000, "server driver spins at {now:?}");
        } else {
            (spins, last_now) = (0, now);
        }
        let storage_at = d.storage.deadline();
        let tick_in = d
            .server
            .next_deadline()
            .map(|t| Duration::from_millis(t.0.saturating_sub(now.0).max(0) as u64));
        let links_at = d.links.as_ref().and_then(Links::next_deadline);
        let held_at = d.held.front().map(|h| h.0);
        tokio::select! {
            biased;
            _ = tokio::time::sleep_until(held_at.unwrap_or_else(Instant::now)), if held_at.is_some() => {
                d.release_held();
            }
            _ = tokio::time::sleep_until(storage_at.unwrap_or_else(Instant::now)), if storage_at.is_some() => {
                d.storage_done();
            }
            _ = tokio::time::sleep(tick_in.unwrap_or_default()), if tick_in.is_some() => {
                d.server.tick(wall_ms());
            }
            _ = tokio::time::sleep_until(links_at.unwrap_or_else(Instant::now)), if links_at.is_some() => {
                let ev = d.links.as_mut().map(Links::poll).unwrap_or_default();
                d.link_events(ev);
            }
            Some((gen, inbound)) = peer_rx.recv(), if ensemble => {
                let ev = d.links.as_mut().map(|l| l.on_frame(gen, inbound)).unwrap_or_default();
                d.link_events(ev);
            }
            Some(dialed) = dial_rx.recv(), if ensemble => {
                let ev = d.links.as_mut().map(|l| l.on_dialed(dialed)).unwrap_or_default();
                d.link_events(ev);
            }
            Some((conn, msg)) = rx.recv() => match msg {
                Inbound::Frame(payload) => d.client_frame(conn, payload),
                Inbound::Closed(why) => {
                    d.late.remove(&conn);
                    if d.conns.remove(&conn).is_some() {
                        d.trace(format!("close conn{} ({why})", conn.0));
                        d.server.connection_closed(wall_ms(), conn);
                    }
                }
            },
            accepted = listener.accept() => {
                let (stream, remote) = accepted?;
                let conn = ConnId(next_conn);
                next_conn += 1;
                let (rd, wr) = stream.into_split();
                let (wtx, wrx) = mpsc::unbounded_channel();
                tokio::task::spawn_local(write_frames(wr, wrx));
                let reader = tokio::task::spawn_local(read_frames(rd, max_frame, conn, tx.clone()));
                d.conns.insert(conn, ConnHandle { writer: wtx, reader, handshaken: false });
                let host = turmoil::reverse_lookup(remote.ip()).unwrap_or_default();
                d.trace(format!("accept conn{} from {host}", conn.0));
                d.server.connection_opened(wall_ms(), conn, remote);
            }
            accepted = async { peer_listener.as_ref().expect("ensemble").accept().await }, if ensemble => {
                let (stream, _) = accepted?;
                if let Some(l) = d.links.as_mut() {
                    l.accept(stream);
                }
            }
        }
        d.drain();
        d.observe();
    }
}
