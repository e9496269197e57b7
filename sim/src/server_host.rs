//! A server host: a small single-task driver around `corral_core::server::Server` on
//! turmoil TCP and the simulated disk.
//!
//! Start-up replays the durable log (cutting a torn tail) into a fresh `Server`, calls
//! `start`, and binds the client port. The loop then waits, in this priority order, for a
//! completed fsync, the server's next deadline, a frame or closed connection from a
//! reader task, and a new connection; after every input it drains `poll_output`:
//! `Send`/`Close` go to the connection's writer task, `Persist` appends to the disk's
//! unsynced tail and joins the group commit: one fsync at a time, taking a seeded delay,
//! covers everything written before it started, and then `persisted` is called with the
//! newest token it covers.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use corral_core::server::{Output, PersistToken, Server, ServerConfig};
use corral_core::types::{ConnId, Millis};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use turmoil::net::TcpListener;

use crate::coverage::ServerProbe;
use crate::disk::DiskSet;
use crate::rng::Rng;
use crate::scenario::{Scenario, CLIENT_PORT};
use crate::trace::{sim_ms, Trace};
use crate::wire::{read_frames, write_frames, Inbound, Outbound};

/// A deliberate bug in the server driver for checking the checkers (planted with
/// `--plant`, never in a normal run; see `check::plant::Bug`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerBug {
    /// Report fsyncs complete without making anything durable: a crash then loses
    /// acknowledged writes.
    LyingFsync,
    /// Tell the server its entries are durable as soon as they are appended (so it replies),
    /// and fsync them afterwards: a crash in that window loses acknowledged writes.
    AckBeforeFsync,
    /// Snapshots claim their zxid but leave out the effect of the newest data txn they
    /// cover: recovery from such a snapshot silently lacks it.
    SnapshotDropsLastTxn,
}

/// What a server host needs from the world.
#[derive(Clone)]
pub struct ServerCtx {
    pub name: String,
    pub scenario: Rc<Scenario>,
    pub disks: DiskSet,
    pub trace: Trace,
    /// Counts starts, so each incarnation draws its own random stream.
    pub incarnation: Rc<Cell<u32>>,
    pub bug: Option<ServerBug>,
    /// What the driver reports for the coverage counters (outlives incarnations).
    pub probe: Rc<RefCell<ServerProbe>>,
}

/// Wall-clock ms the core sees: the simulation's fixed epoch plus simulated time.
pub fn wall_ms() -> Millis {
    let d = turmoil::since_epoch().expect("inside a simulated host");
    Millis(d.as_millis() as i64)
}

struct ConnHandle {
    writer: mpsc::UnboundedSender<Outbound>,
    reader: JoinHandle<()>,
}

/// The group commit: tokens waiting for durability and the fsync in flight.
#[derive(Default)]
struct Fsync {
    /// (token, disk offset after its entries).
    waiting: VecDeque<(PersistToken, usize)>,
    /// (completion time, offset it makes durable).
    inflight: Option<(Instant, usize)>,
}

struct Driver {
    ctx: ServerCtx,
    server: Server,
    rng: Rng,
    conns: BTreeMap<ConnId, ConnHandle>,
    fsync: Fsync,
}

impl Driver {
    fn trace(&self, what: impl AsRef<str>) {
        self.ctx.trace.event(sim_ms(), &self.ctx.name, what);
    }

    /// Drain the server's outputs; connection closes it asks for are fed back as
    /// `connection_closed` and drained again.
    fn drain(&mut self) {
        loop {
            let mut closed = Vec::new();
            while let Some(out) = self.server.poll_output() {
                match out {
                    Output::Send { conn, bytes } => {
                        if let Some(c) = self.conns.get(&conn) {
                            let _ = c.writer.send(Outbound::Bytes(bytes));
                        }
                    }
                    Output::Close { conn } => closed.push(conn),
                    Output::Persist { token, entries } => self.persist(token, entries),
                    Output::Snapshot { token, zxid } => {
                        let lossy = self.ctx.bug == Some(ServerBug::SnapshotDropsLastTxn);
                        let r = self
                            .ctx
                            .disks
                            .with(&self.ctx.name, |d| d.snapshot(zxid, lossy));
                        match &r {
                            Ok(size) => {
                                self.trace(format!("snapshot at {zxid} ({size} bytes)"));
                                let mut p = self.ctx.probe.borrow_mut();
                                p.snapshots += 1;
                                p.last_snapshot_ms = Some(sim_ms());
                            }
                            Err(e) => self.trace(format!("snapshot at {zxid} failed: {e}")),
                        }
                        self.server.snapshotted(token, zxid, r.is_ok());
                    }
                    other => panic!("a standalone server emitted {other:?}"),
                }
            }
            if closed.is_empty() {
                return;
            }
            for conn in closed {
                if let Some(c) = self.conns.remove(&conn) {
                    let _ = c.writer.send(Outbound::Close);
                    c.reader.abort();
                    self.trace(format!("close conn{} (server)", conn.0));
                    self.server.connection_closed(wall_ms(), conn);
                }
            }
        }
    }

    fn persist(&mut self, token: PersistToken, entries: Vec<corral_core::server::LogEntry>) {
        let first = entries.first().map(|e| e.hdr.zxid);
        let last = entries.last().map(|e| e.hdr.zxid);
        let end = self.ctx.disks.with(&self.ctx.name, |d| {
            for e in &entries {
                d.append(e);
            }
            d.written()
        });
        self.trace(format!(
            "persist token{} {} entries {:?}..{:?}",
            token.0,
            entries.len(),
            first,
            last
        ));
        self.fsync.waiting.push_back((token, end));
        self.ctx.probe.borrow_mut().unacked_persists = self.fsync.waiting.len();
        if self.ctx.bug == Some(ServerBug::AckBeforeFsync) {
            self.server.persisted(wall_ms(), token);
        }
        self.start_fsync();
    }

    fn start_fsync(&mut self) {
        if self.fsync.inflight.is_some() || self.fsync.waiting.is_empty() {
            return;
        }
        let (lo, hi) = self.ctx.scenario.fsync_ms;
        let mut ms = self.rng.range(lo as i64, hi as i64) as u64;
        if self.rng.chance(self.ctx.scenario.slow_fsync_percent) {
            ms *= 10;
        }
        let upto = self.ctx.disks.with(&self.ctx.name, |d| d.written());
        self.fsync.inflight = Some((Instant::now() + Duration::from_millis(ms), upto));
    }

    fn finish_fsync(&mut self) {
        let (_, upto) = self.fsync.inflight.take().expect("an fsync in flight");
        if self.ctx.bug != Some(ServerBug::LyingFsync) {
            self.ctx.disks.with(&self.ctx.name, |d| d.sync_to(upto));
        }
        let mut newest = None;
        while let Some(&(token, end)) = self.fsync.waiting.front() {
            if end > upto {
                break;
            }
            newest = Some(token);
            self.fsync.waiting.pop_front();
        }
        self.ctx.probe.borrow_mut().unacked_persists = self.fsync.waiting.len();
        if let Some(token) = newest {
            self.trace(format!("fsync to {upto}: durable through token{}", token.0));
            if self.ctx.bug != Some(ServerBug::AckBeforeFsync) {
                self.server.persisted(wall_ms(), token);
            }
        }
        self.start_fsync();
    }
}

/// Run one incarnation of the server host until it is crashed.
pub async fn run(ctx: ServerCtx) -> turmoil::Result {
    let incarnation = ctx.incarnation.get() + 1;
    ctx.incarnation.set(incarnation);
    let rng = Rng::derive(ctx.scenario.seed, &format!("{}/{incarnation}", ctx.name));
    let now = wall_ms();
    let recovery = ctx.disks.with(&ctx.name, |d| d.recover());
    let sc = &ctx.scenario;
    let config = ServerConfig {
        tick_time_ms: sc.tick_time_ms,
        min_session_timeout_ms: 2 * sc.tick_time_ms,
        max_session_timeout_ms: 20 * sc.tick_time_ms,
        snap_count: sc.snap_count,
        ..ServerConfig::default()
    };
    let max_frame = config.max_buffer;
    let mut server = Server::new(config, now);
    let n = recovery.entries.len();
    let from = recovery.image.as_ref().map(|i| i.zxid());
    if let Some(image) = recovery.image {
        server.restore(image);
        if incarnation > 1 {
            ctx.probe.borrow_mut().snapshot_recoveries += 1;
        }
    }
    for e in recovery.entries {
        server.replay(e);
    }
    server.start(now);
    let mut d = Driver {
        rng,
        server,
        conns: BTreeMap::new(),
        fsync: Fsync::default(),
        ctx,
    };
    d.trace(format!(
        "start #{incarnation}: snapshot {:?} + {n} entries to {}, cut {} torn bytes",
        from,
        d.server.last_zxid(),
        recovery.truncated_bytes
    ));
    let listener = TcpListener::bind(("0.0.0.0", CLIENT_PORT)).await?;
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
        let fsync_at = d.fsync.inflight.map(|(at, _)| at);
        let tick_in = d
            .server
            .next_deadline()
            .map(|t| Duration::from_millis(t.0.saturating_sub(now.0).max(0) as u64));
        tokio::select! {
            biased;
            _ = tokio::time::sleep_until(fsync_at.unwrap_or_else(Instant::now)), if fsync_at.is_some() => {
                d.finish_fsync();
            }
            _ = tokio::time::sleep(tick_in.unwrap_or_default()), if tick_in.is_some() => {
                d.server.tick(wall_ms());
            }
            Some((conn, msg)) = rx.recv() => match msg {
                Inbound::Frame(payload) => d.server.frame_received(wall_ms(), conn, &payload),
                Inbound::Closed(why) => {
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
                d.conns.insert(conn, ConnHandle { writer: wtx, reader });
                let host = turmoil::reverse_lookup(remote.ip()).unwrap_or_default();
                d.trace(format!("accept conn{} from {host}", conn.0));
                d.server.connection_opened(wall_ms(), conn, remote);
            }
        }
        d.drain();
    }
}
