//! Peer links: one TCP connection per pair of ensemble members, carrying
//! `corral_core::zab::message::PeerMessage`s (election notifications and ZAB alike).
//!
//! - **Port.** Each server listens on its quorum port (the second field of `server.N`).
//!   The election port (third field) is accepted in zoo.cfg but never bound: Corral has one
//!   link per pair for both election and ZAB.
//! - **Who dials.** The server with the higher id dials the lower one, as ZooKeeper keeps
//!   the connection from the larger sid. So each pair has exactly one link, with no
//!   simultaneous-open race to settle. The acceptor keeps the newest connection from a peer.
//! - **Handshake.** Both ends send a `Hello { version, from, to }` and check the other's
//!   (`handshake`); a mismatch closes the connection with a warning naming the peer.
//! - **Frames.** `u32` big-endian length, then the bincode body; a zero length is a
//!   keepalive (`frame`). Frames over `MAX_PEER_FRAME` or that do not decode close that
//!   link (with a warning), never the process, and never another link.
//! - **Liveness.** A link with nothing to send sends a keepalive every tickTime/2; a link
//!   that receives nothing at all (not even a keepalive) for syncLimit × tickTime, or whose
//!   writes make no progress that long, is closed. A silently stalled peer is noticed.
//! - **Sending** is non-blocking and best effort (`PeerNet::send`): dropped when the link
//!   is down. Each link's queue is bounded in bytes; on overflow the link is closed rather
//!   than one message silently skipped (`link`). A slow peer never blocks another: each
//!   link has its own task and queue.
//! - **Reconnecting.** The dialer retries with exponential backoff (50 ms doubling to 2 s,
//!   plus jitter); the acceptor simply waits for the next connection.
//!
//! Events come out of one bounded channel, in order per peer: `Connected`, its
//! `Message`s, `Disconnected`, and again. When the driver falls behind, the readers wait
//! (and TCP pushes back on the senders) rather than buffering without bound.

mod backoff;
mod frame;
mod handshake;
mod link;
mod tasks;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use corral_core::types::ServerId;
use corral_core::zab::message::{encode, PeerMessage};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{EnsembleConfig, PeerAddr};
pub use backoff::Backoff;
use link::Slot;

/// Bytes of ordinary frames a link may hold unsent before it is closed (besides one large
/// frame such as a SNAP; see `link`).
pub const MAX_QUEUED_BYTES: usize = 64 << 20;
/// Events buffered between the links and the driver.
pub const EVENT_QUEUE: usize = 1024;
/// Connections in their handshake at once; more are closed at once.
const MAX_HANDSHAKES: usize = 64;

/// What happens on the peer links, for the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    /// A link with this peer is up (handshake done): `send` now reaches it.
    Connected(ServerId),
    /// A message from this peer, in the order sent on the current link.
    Message(ServerId, PeerMessage),
    /// The link with this peer is down; messages sent on it after some point were lost.
    Disconnected(ServerId),
}

/// Settings of the peer network.
#[derive(Clone, Debug)]
pub struct PeerNetConfig {
    /// This server.
    pub my_id: ServerId,
    /// Every member (this server may be included; it is skipped). Lower ids are dialled at
    /// `host:quorum_port`; higher ids are expected to dial in.
    pub peers: BTreeMap<ServerId, PeerAddr>,
    /// zoo.cfg `tickTime`, ms: keepalives go every half tick.
    pub tick_ms: u64,
    /// zoo.cfg `syncLimit`, ticks: a link silent this long is closed.
    pub sync_limit: u32,
    /// Per-link send queue bound ([`MAX_QUEUED_BYTES`] by default).
    pub max_queued_bytes: usize,
    /// First reconnect delay.
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
}

impl PeerNetConfig {
    /// Defaults for everything but the ensemble and its timing.
    pub fn new(
        my_id: ServerId,
        peers: BTreeMap<ServerId, PeerAddr>,
        tick_ms: u64,
        sync_limit: u32,
    ) -> PeerNetConfig {
        PeerNetConfig {
            my_id,
            peers,
            tick_ms,
            sync_limit,
            max_queued_bytes: MAX_QUEUED_BYTES,
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
        }
    }

    /// From zoo.cfg's ensemble and `tickTime`.
    pub fn from_ensemble(e: &EnsembleConfig, tick_ms: i64) -> PeerNetConfig {
        PeerNetConfig::new(
            e.my_id,
            e.peers.clone(),
            tick_ms.max(1) as u64,
            e.sync_limit,
        )
    }

    fn keepalive(&self) -> Duration {
        Duration::from_millis((self.tick_ms / 2).max(1))
    }

    fn silence(&self) -> Duration {
        Duration::from_millis(self.tick_ms.max(1) * u64::from(self.sync_limit.max(1)))
    }
}

/// What every task of the peer network shares.
struct Ctx {
    my_id: ServerId,
    keepalive: Duration,
    silence: Duration,
    max_queued_bytes: usize,
    backoff_min: Duration,
    backoff_max: Duration,
    events: mpsc::Sender<PeerEvent>,
}

/// The running peer network: send to peers, stop it. Dropping it stops it too.
pub struct PeerNet {
    local_addr: SocketAddr,
    slots: BTreeMap<ServerId, Arc<Slot>>,
    tasks: Vec<JoinHandle<()>>,
}

impl PeerNet {
    /// Bind `listen` (this server's quorum port) and start linking with the peers.
    pub async fn start(
        config: PeerNetConfig,
        listen: SocketAddr,
    ) -> io::Result<(PeerNet, mpsc::Receiver<PeerEvent>)> {
        let listener = TcpListener::bind(listen).await.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot listen for peers on {listen}: {e}"),
            )
        })?;
        PeerNet::start_on(config, listener)
    }

    /// Like `start`, on a bound listener. Must be called within a tokio runtime.
    pub fn start_on(
        config: PeerNetConfig,
        listener: TcpListener,
    ) -> io::Result<(PeerNet, mpsc::Receiver<PeerEvent>)> {
        let local_addr = listener.local_addr()?;
        let (events, rx) = mpsc::channel(EVENT_QUEUE);
        let ctx = Arc::new(Ctx {
            my_id: config.my_id,
            keepalive: config.keepalive(),
            silence: config.silence(),
            max_queued_bytes: config.max_queued_bytes,
            backoff_min: config.backoff_min,
            backoff_max: config.backoff_max,
            events,
        });
        let me = config.my_id;
        let mut slots = BTreeMap::new();
        let mut routes = BTreeMap::new();
        let mut tasks = Vec::new();
        for (&id, addr) in config.peers.iter().filter(|(&id, _)| id != me) {
            let slot = Arc::new(Slot::default());
            slots.insert(id, slot.clone());
            let ctx = ctx.clone();
            if id < me {
                let addr = addr.clone();
                tasks.push(tokio::spawn(tasks::dial_peer(ctx, id, addr, slot)));
            } else {
                // A few queued connections at most: each replaces the one before.
                let (tx, rx) = mpsc::channel(4);
                routes.insert(id, tx);
                tasks.push(tokio::spawn(tasks::accepted_peer(ctx, id, slot, rx)));
            }
        }
        let known: BTreeSet<ServerId> = slots.keys().copied().collect();
        tasks.push(tokio::spawn(tasks::accept_loop(
            ctx, listener, known, routes,
        )));
        Ok((
            PeerNet {
                local_addr,
                slots,
                tasks,
            },
            rx,
        ))
    }

    /// The address peers connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Queue `msg` for `to` without blocking. False if it was dropped: `to` is not a peer,
    /// its link is down, or its link was just closed because its queue overflowed or the
    /// message is too large (a `Disconnected` follows). Encodes on the caller's thread.
    pub fn send(&self, to: ServerId, msg: &PeerMessage) -> bool {
        let Some(slot) = self.slots.get(&to) else {
            return false;
        };
        if slot.lock().is_none() {
            return false; // link down: skip the encoding
        }
        let body = encode(msg);
        let mut guard = slot.lock();
        let Some(link) = guard.as_ref() else {
            return false;
        };
        match link.push(body) {
            Ok(()) => true,
            Err(why) => {
                tracing::warn!("closing the peer link with server {to}: {why}");
                link.kill();
                // Nothing more may go on this link once a message is missing from it.
                *guard = None;
                false
            }
        }
    }

    /// Whether a link with `peer` is up.
    pub fn is_connected(&self, peer: ServerId) -> bool {
        self.slots.get(&peer).is_some_and(|s| s.lock().is_some())
    }

    /// Close every link and stop every task; returns once they are gone.
    pub async fn shutdown(mut self) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for PeerNet {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
