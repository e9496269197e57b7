//! The tokio driver around the core `Server` state machine.
//!
//! One task (the core task) owns the `Server` and is the only one to call it. Connection
//! tasks send it events over a bounded channel; it calls the matching `Server` method and
//! then drains `poll_output()`: `Send` goes to the connection's writer, `Close` asks the
//! writer to flush and shut down, `Persist` goes to the log thread, whose completion comes
//! back as `persisted(token)`. A timer calls `tick` at `next_deadline()`.
//!
//! Start-up: lock the data directories, load the newest snapshot and replay the log after
//! it into a fresh `Server`, `start` it, open the log for appending, bind the client port.
//! `Snapshot` outputs go to the snapshot thread (`storage::compactor`), whose completion
//! comes back as `snapshotted(token)`. `Truncate`, `InstallSnapshot` and `SaveEpochs` go to
//! the log thread too, in the same queue as `Persist`: it carries them out in the order
//! issued and reports each token durable in that order (`storage::writer`).

mod conn;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use corral_core::server::{Output, PeerMessage, PersistToken, Server, StatsSnapshot};
use corral_core::types::ServerId;
use corral_core::types::Zxid;
use corral_core::types::{ConnId, Millis};
use corral_core::zab::replica::ZabEvent;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::fourlw::DEFAULT_TRACE_MASK;
use crate::peer::{PeerEvent, PeerNet, PeerNetConfig};
use crate::storage::compactor::{Compactor, CompactorConfig};
use crate::storage::gate::RewriteGate;
use crate::storage::log::{self, LogWriter};
use crate::storage::writer::{Batch, Completion, LogThread, Request, Stores};
use crate::storage::{recovery, snapshot};
use crate::storage::{DataLocks, StorageError};
use conn::ConnOut;
pub use conn::{MAX_QUEUED_BYTES, READ_PAUSE_BYTES};

/// Events queued from connection tasks to the core task.
const EVENT_QUEUE: usize = 1024;

/// Why the server could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the log thread: {0}")]
    Thread(std::io::Error),
    #[error("the transaction log stopped; refusing to serve writes that cannot be made durable")]
    LogStopped,
    #[error("{0}")]
    Unsupported(String),
}

/// The wall clock as the core wants it.
pub fn wall_ms() -> Millis {
    // Wall time read once, then advanced by the monotonic clock: session deadlines must not
    // jump when NTP steps the system clock or a VM resumes (ZooKeeper's expiry queue uses
    // the monotonic clock too), while ctime/mtime stay close to real time.
    static START: std::sync::OnceLock<(i64, std::time::Instant)> = std::sync::OnceLock::new();
    let (wall0, mono0) = START.get_or_init(|| {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        (d.as_millis() as i64, std::time::Instant::now())
    });
    Millis(wall0 + mono0.elapsed().as_millis() as i64)
}

/// The state machine the driver runs: the core `Server`, or a test double. Every method
/// mirrors the `Server` method of the same name.
pub trait Core: Send + 'static {
    fn connection_opened(&mut self, now: Millis, conn: ConnId, remote: SocketAddr);
    fn frame_received(&mut self, now: Millis, conn: ConnId, payload: &[u8]);
    fn connection_closed(&mut self, now: Millis, conn: ConnId);
    fn persisted(&mut self, now: Millis, token: PersistToken);
    fn snapshotted(&mut self, _token: PersistToken, _zxid: Zxid, _written: bool) {}
    fn tick(&mut self, now: Millis);
    fn poll_output(&mut self) -> Option<Output>;
    fn next_deadline(&self) -> Option<Millis>;
    fn stats(&self, now: Millis) -> StatsSnapshot;
    fn is_serving(&self) -> bool;
    /// True while too many requests are outstanding: the driver stops reading frames.
    fn throttled(&self) -> bool {
        false
    }
    /// A message from an ensemble peer.
    fn peer_message(&mut self, _now: Millis, _from: ServerId, _msg: PeerMessage) {}
    /// The link to an ensemble peer broke.
    fn peer_disconnected(&mut self, _now: Millis, _peer: ServerId) {}
    /// The next replication event, for the log.
    fn poll_zab_event(&mut self) -> Option<ZabEvent> {
        None
    }
}

impl Core for Server {
    fn connection_opened(&mut self, now: Millis, conn: ConnId, remote: SocketAddr) {
        Server::connection_opened(self, now, conn, remote)
    }
    fn frame_received(&mut self, now: Millis, conn: ConnId, payload: &[u8]) {
        Server::frame_received(self, now, conn, payload)
    }
    fn connection_closed(&mut self, now: Millis, conn: ConnId) {
        Server::connection_closed(self, now, conn)
    }
    fn persisted(&mut self, now: Millis, token: PersistToken) {
        Server::persisted(self, now, token)
    }
    fn snapshotted(&mut self, token: PersistToken, zxid: Zxid, written: bool) {
        Server::snapshotted(self, token, zxid, written)
    }
    fn tick(&mut self, now: Millis) {
        Server::tick(self, now)
    }
    fn poll_output(&mut self) -> Option<Output> {
        Server::poll_output(self)
    }
    fn next_deadline(&self) -> Option<Millis> {
        Server::next_deadline(self)
    }
    fn stats(&self, now: Millis) -> StatsSnapshot {
        Server::stats(self, now)
    }
    fn is_serving(&self) -> bool {
        Server::is_serving(self)
    }
    fn throttled(&self) -> bool {
        Server::throttled(self)
    }
    fn peer_message(&mut self, now: Millis, from: ServerId, msg: PeerMessage) {
        Server::peer_message(self, now, from, msg)
    }
    fn peer_disconnected(&mut self, now: Millis, peer: ServerId) {
        Server::peer_disconnected(self, now, peer)
    }
    fn poll_zab_event(&mut self) -> Option<ZabEvent> {
        Server::poll_zab_event(self)
    }
}

/// State shared by the core task and the connection tasks.
struct Shell {
    config: Config,
    events: mpsc::Sender<Event>,
    started: Instant,
    trace_mask: AtomicI64,
    snap_dir: PathBuf,
    log_dir: PathBuf,
}

/// What the core task hands a four-letter-word connection.
struct FourLetterReply {
    stats: StatsSnapshot,
    serving: bool,
    now: Millis,
}

enum Event {
    Opened {
        conn: ConnId,
        remote: SocketAddr,
        out: ConnOut,
    },
    Frame {
        conn: ConnId,
        payload: Vec<u8>,
    },
    Closed {
        conn: ConnId,
    },
    FourLetter {
        reply: oneshot::Sender<FourLetterReply>,
    },
}

/// A running server.
pub struct ServerHandle {
    local_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), DriverError>>,
}

impl ServerHandle {
    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Wait until the server stops by itself (only on a fatal error).
    pub async fn wait(&mut self) -> Result<(), DriverError> {
        join(&mut self.task).await
    }

    /// Stop accepting, let connections go, finish queued log writes, and return.
    pub async fn stop(mut self) -> Result<(), DriverError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        join(&mut self.task).await
    }
}

async fn join(task: &mut JoinHandle<Result<(), DriverError>>) -> Result<(), DriverError> {
    match task.await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Ok(()),
    }
}

/// Recover, start and serve `config` on its client address. The data directories are
/// locked and the log recovered before the port is bound, so storage problems are reported
/// first.
pub async fn start(config: Config) -> Result<ServerHandle, DriverError> {
    let recovered = recover_blocking(&config).await?;
    let addr = config.client_addr;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| DriverError::Bind { addr, source })?;
    let peers = start_peers(&config).await?;
    launch(config, listener, recovered, peers)
}

/// Like `start`, on an already bound listener.
pub async fn start_on(config: Config, listener: TcpListener) -> Result<ServerHandle, DriverError> {
    let recovered = recover_blocking(&config).await?;
    let peers = start_peers(&config).await?;
    launch(config, listener, recovered, peers)
}

/// An ensemble member's peer links (none for a standalone server).
type Peers = Option<(PeerNet, mpsc::Receiver<PeerEvent>)>;

async fn start_peers(config: &Config) -> Result<Peers, DriverError> {
    let Some(e) = &config.ensemble else {
        return Ok(None);
    };
    let addr = e
        .peer_listen_addr()
        .map_err(|err| DriverError::Unsupported(err.to_string()))?;
    let net = PeerNet::start(
        PeerNetConfig::from_ensemble(e, config.server.tick_time_ms),
        addr,
    )
    .await
    .map_err(|source| DriverError::Bind { addr, source })?;
    tracing::info!(
        "server {} of an ensemble of {}: peer links on {addr}",
        e.my_id,
        e.peers.len()
    );
    Ok(Some(net))
}

type Recovered<C> = (DataLocks, C, LogWriter);

async fn recover_blocking(config: &Config) -> Result<Recovered<Server>, DriverError> {
    let cfg = config.clone();
    // Disk work (locking, reading the whole log) happens off the async workers.
    tokio::task::spawn_blocking(move || recover(&cfg))
        .await
        .map_err(|e| DriverError::Thread(std::io::Error::other(e.to_string())))?
}

fn launch<C: Core>(
    config: Config,
    listener: TcpListener,
    (locks, core, writer): Recovered<C>,
    peers: Peers,
) -> Result<ServerHandle, DriverError> {
    let local_addr = listener.local_addr().map_err(|source| DriverError::Bind {
        addr: config.client_addr,
        source,
    })?;
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    // Shared by the log thread and the snapshot thread: no snapshot built across a
    // truncation or an install is published.
    let gate = Arc::new(RewriteGate::default());
    let compactor = Compactor::spawn(
        CompactorConfig {
            snap_dir: snapshot::snap_dir(&config.data_dir),
            log_dir: log::log_dir(&config.data_log_dir),
            retain: (config.purge_interval_hours > 0).then_some(config.snap_retain_count as usize),
            gate: gate.clone(),
        },
        done_tx.clone(),
    )
    .map_err(DriverError::Thread)?;
    let stores = Stores {
        snap_dir: snapshot::snap_dir(&config.data_dir),
        gate,
    };
    let log = LogThread::spawn(writer, stores, done_tx).map_err(DriverError::Thread)?;
    let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
    let shell = Arc::new(Shell {
        snap_dir: snapshot::snap_dir(&config.data_dir),
        log_dir: log::log_dir(&config.data_log_dir),
        config,
        events: events_tx,
        started: Instant::now(),
        trace_mask: AtomicI64::new(DEFAULT_TRACE_MASK),
    });
    let (shutdown_tx, shutdown_rx) = oneshot::channel();
    let (peer, peer_events) = match peers {
        Some((net, rx)) => (Some(net), Some(rx)),
        None => (None, None),
    };
    let driver = Driver {
        core,
        conns: HashMap::new(),
        log: Some(log),
        compactor: Some(compactor),
        next_conn: 1,
        peer,
    };
    let task = tokio::spawn(async move {
        let _locks = locks; // held until the driver ends
        driver
            .run(
                listener,
                shell,
                events_rx,
                done_rx,
                shutdown_rx,
                peer_events,
            )
            .await
    });
    Ok(ServerHandle {
        local_addr,
        shutdown: Some(shutdown_tx),
        task,
    })
}

/// Lock the directories, recover the state into a new `Server` (standalone, or an
/// ensemble member with its durable epochs), start it.
fn recover(config: &Config) -> Result<Recovered<Server>, DriverError> {
    let now = wall_ms();
    let server = match config.replica_config() {
        None => Server::new(config.server.clone(), now),
        // The epochs are read by recovery and handed over before `start`.
        Some(rc) => Server::new_ensemble(config.server.clone(), rc, Default::default(), now),
    };
    let core = std::cell::RefCell::new(server);
    let rec = recovery::recover(
        &config.data_dir,
        &config.data_log_dir,
        config.force_sync,
        &mut |image| core.borrow_mut().restore(image),
        &mut |entry| core.borrow_mut().replay(entry),
    )?;
    let mut core = core.into_inner();
    core.restore_epochs(rec.epochs);
    core.start(wall_ms());
    Ok((rec.locks, core, rec.writer))
}

struct Driver<C> {
    core: C,
    conns: HashMap<ConnId, ConnOut>,
    log: Option<LogThread>,
    compactor: Option<Compactor>,
    next_conn: u64,
    /// Links to the other members of an ensemble.
    peer: Option<PeerNet>,
}

/// The next peer event, or never for a standalone server.
async fn next_peer_event(rx: &mut Option<mpsc::Receiver<PeerEvent>>) -> Option<PeerEvent> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl<C: Core> Driver<C> {
    async fn run(
        mut self,
        listener: TcpListener,
        shell: Arc<Shell>,
        mut events: mpsc::Receiver<Event>,
        mut done: mpsc::UnboundedReceiver<Completion>,
        mut shutdown: oneshot::Receiver<()>,
        mut peer_events: Option<mpsc::Receiver<PeerEvent>>,
    ) -> Result<(), DriverError> {
        let result = loop {
            // Checked here rather than only in the sleep branch, which a steady stream of
            // events would starve (the select is biased).
            let now = wall_ms();
            if self.core.next_deadline().is_some_and(|d| d <= now) {
                self.core.tick(now);
                if let Err(e) = self.drain() {
                    break Err(e);
                }
            }
            let sleep = self.until_deadline();
            tokio::select! {
                biased;
                _ = &mut shutdown => break Ok(()),
                c = done.recv() => match c {
                    Some(Completion::Durable(tokens)) => {
                        for t in tokens {
                            self.core.persisted(wall_ms(), t);
                        }
                    }
                    Some(Completion::Failed(e)) => break Err(DriverError::Storage(e)),
                    Some(Completion::Snapshot { token, zxid, written }) => {
                        self.core.snapshotted(token, zxid, written);
                    }
                    None => break Err(DriverError::LogStopped),
                },
                // Peer traffic (heartbeats, proposals, acks) before client traffic: a
                // leader that falls behind on it loses its followers.
                ev = next_peer_event(&mut peer_events) => match ev {
                    Some(PeerEvent::Message(from, msg)) => {
                        self.core.peer_message(wall_ms(), from, msg);
                    }
                    Some(PeerEvent::Disconnected(peer)) => {
                        self.core.peer_disconnected(wall_ms(), peer);
                    }
                    Some(PeerEvent::Connected(peer)) => {
                        tracing::debug!("peer link to server {peer} up");
                    }
                    None => break Err(DriverError::Unsupported(
                        "the peer network stopped".into(),
                    )),
                },
                accepted = listener.accept() => match accepted {
                    Ok((stream, remote)) => {
                        let conn = ConnId(self.next_conn);
                        self.next_conn += 1;
                        tokio::spawn(conn::run(stream, conn, remote, shell.clone()));
                    }
                    Err(e) => {
                        // Usually EMFILE: back off instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                // globalOutstandingLimit: while throttled, events (frames) stay in the bounded
                // channel and connection tasks stop reading their sockets; completions keep
                // flowing, so the backlog drains.
                Some(ev) = events.recv(), if !self.core.throttled() => self.on_event(ev),
                _ = tokio::time::sleep(sleep) => self.core.tick(wall_ms()),
            }
            if let Err(e) = self.drain() {
                break Err(e);
            }
        };
        for out in self.conns.values_mut() {
            out.close();
        }
        if let Some(peer) = self.peer.take() {
            peer.shutdown().await;
        }
        if let Some(log) = self.log.take() {
            tokio::task::spawn_blocking(move || log.shutdown())
                .await
                .ok();
        }
        if let Some(c) = self.compactor.take() {
            tokio::task::spawn_blocking(move || c.shutdown()).await.ok();
        }
        result
    }

    fn until_deadline(&self) -> Duration {
        match self.core.next_deadline() {
            Some(d) => Duration::from_millis(d.0.saturating_sub(wall_ms().0).max(0) as u64),
            None => Duration::from_secs(3600),
        }
    }

    fn on_event(&mut self, ev: Event) {
        let now = wall_ms();
        match ev {
            Event::Opened { conn, remote, out } => {
                self.conns.insert(conn, out);
                self.core.connection_opened(now, conn, remote);
            }
            Event::Frame { conn, payload } => {
                if self.conns.contains_key(&conn) {
                    self.core.frame_received(now, conn, &payload);
                }
            }
            Event::Closed { conn } => {
                if self.conns.remove(&conn).is_some() {
                    self.core.connection_closed(now, conn);
                }
            }
            Event::FourLetter { reply } => {
                let _ = reply.send(FourLetterReply {
                    stats: self.core.stats(now),
                    serving: self.core.is_serving(),
                    now,
                });
            }
        }
    }

    /// Carry out everything the core queued.
    fn drain(&mut self) -> Result<(), DriverError> {
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Send { conn, bytes } => {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        if !c.send(bytes) {
                            tracing::warn!(
                                "dropping connection {conn:?}: more than {MAX_QUEUED_BYTES} \
                                 bytes of replies unread"
                            );
                            c.close();
                        }
                    }
                }
                Output::Close { conn } => {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.close();
                    }
                }
                Output::Persist { token, entries } => {
                    let mut payloads = Vec::with_capacity(entries.len());
                    for e in &entries {
                        let bytes = e.to_bytes();
                        if log::payload_zxid(&bytes) != Some(e.hdr.zxid) {
                            return Err(StorageError::BadEntry(format!(
                                "entry {} does not encode its zxid at the TxnHeader position",
                                e.hdr.zxid
                            ))
                            .into());
                        }
                        payloads.push(bytes);
                    }
                    self.submit(Batch { token, payloads }.into())?;
                }
                Output::Truncate { token, after } => {
                    self.submit(Request::Truncate { token, after })?;
                }
                Output::InstallSnapshot { token, zxid, bytes } => {
                    self.submit(Request::InstallSnapshot { token, zxid, bytes })?;
                }
                Output::SaveEpochs {
                    token,
                    accepted,
                    current,
                } => {
                    self.submit(Request::SaveEpochs {
                        token,
                        accepted,
                        current,
                    })?;
                }
                Output::Snapshot { token, zxid, delta } => {
                    let sent = self
                        .compactor
                        .as_ref()
                        .is_some_and(|c| c.request(token, zxid, delta));
                    if !sent {
                        tracing::error!("snapshot thread is gone; snapshot {zxid} not taken");
                        self.core.snapshotted(token, zxid, false);
                    }
                }
                Output::Peer { to, msg } => match &self.peer {
                    // Best effort: a link that is down drops it (the protocol recovers).
                    Some(peer) => {
                        peer.send(to, &msg);
                    }
                    None => {
                        return Err(DriverError::Unsupported(format!(
                            "a standalone server asked to send {msg:?} to server {to}"
                        )))
                    }
                },
            }
        }
        while let Some(ev) = self.core.poll_zab_event() {
            log_zab_event(&ev);
        }
        Ok(())
    }

    /// Queue a storage request on the log thread (one queue: requests complete in order).
    fn submit(&self, request: Request) -> Result<(), DriverError> {
        let log = self.log.as_ref().ok_or(DriverError::LogStopped)?;
        log.submit(request).map_err(|_| DriverError::LogStopped)
    }
}

/// Replication events an operator wants to see: role changes at info, the rest at debug.
fn log_zab_event(ev: &ZabEvent) {
    match ev {
        ZabEvent::Looking { reason } => tracing::info!("looking for a leader: {reason}"),
        ZabEvent::Established { epoch, last } => {
            tracing::info!(
                "leading epoch {}: established with history up to {last}",
                epoch.0
            )
        }
        ZabEvent::FollowerServing { leader, epoch } => {
            tracing::info!("following server {leader} in epoch {}", epoch.0)
        }
        ZabEvent::SyncSent {
            learner,
            kind,
            from,
            to,
        } => tracing::info!("synchronizing server {learner} by {kind:?} ({from}..{to})"),
        ZabEvent::SyncReceived { kind, zxid } => {
            tracing::info!("synchronized by {kind:?} at {zxid}")
        }
        other => tracing::debug!("zab: {other:?}"),
    }
}

#[cfg(test)]
mod tests;
