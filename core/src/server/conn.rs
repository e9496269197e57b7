//! Per-connection state: handshake phase, identities, and the in-order reply queue.
//!
//! Replies leave a connection in request order. A write's reply waits for its txn to be
//! durable and applied; a read that arrives behind a pending write waits too, and runs
//! against the tree only when everything before it has been answered, so it observes the
//! connection's own earlier writes and nothing later (FIFO per session).

use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::proto::data::Id;
use crate::types::{Millis, SessionId, Zxid};

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for the ConnectRequest.
    AwaitConnect,
    /// A createSession txn is in flight; later frames wait.
    CreatingSession,
    /// A follower asked the leader whether the resumed session is alive; later frames
    /// wait.
    Revalidating,
    /// Serving requests.
    Established,
}

impl Phase {
    /// The ConnectResponse has not gone out yet: no reply may go before it.
    pub fn awaits_handshake(self) -> bool {
        matches!(self, Phase::CreatingSession | Phase::Revalidating)
    }
}

/// One entry of the in-order reply queue.
#[derive(Debug)]
pub(crate) enum Slot {
    /// A reply that is ready but waits for earlier slots; `close` closes the connection
    /// once it is sent.
    Ready { bytes: Vec<u8>, close: bool },
    /// A write whose txn is in flight (or a sync the leader has not confirmed yet),
    /// known by this server's request number (the `req` of its `ReqTag`).
    Txn { req: u64 },
    /// A frame received while earlier replies (or, for reads, any in-flight txn) were
    /// pending. It runs when it reaches the front and the tree has applied `barrier`: the
    /// last txn prepared when it arrived. Like ZooKeeper's standalone pipeline, a read is
    /// ordered after every write that arrived before it, from any session.
    ///
    /// `session_ok` is whether the session was valid when the frame arrived. ZooKeeper
    /// checks the session in arrival order (PrepRequestProcessor), so a read received
    /// before a closeSession is answered normally even if it runs after the close was
    /// prepared and the session marked closing.
    Deferred {
        payload: Vec<u8>,
        barrier: Zxid,
        session_ok: bool,
    },
}

/// Counters reported by `cons` and `stat`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Counters {
    pub received: u64,
    pub sent: u64,
    pub last_op: &'static str,
    pub last_cxid: i32,
    pub last_zxid: Zxid,
    pub last_response: Millis,
    pub last_latency_ms: i64,
    pub min_latency_ms: i64,
    pub max_latency_ms: i64,
    pub total_latency_ms: i64,
    pub replies: u64,
}

impl Counters {
    pub fn record_latency(&mut self, ms: i64) {
        if self.replies == 0 || ms < self.min_latency_ms {
            self.min_latency_ms = ms;
        }
        self.max_latency_ms = self.max_latency_ms.max(ms);
        self.total_latency_ms += ms;
        self.last_latency_ms = ms;
        self.replies += 1;
    }
}

/// A client connection as the core sees it.
#[derive(Debug)]
pub(crate) struct Conn {
    pub remote: SocketAddr,
    pub opened_at: Millis,
    pub phase: Phase,
    pub session: SessionId,
    pub timeout_ms: i64,
    /// Whether the ConnectRequest carried the readOnly byte (echoed in the response).
    pub read_only_byte: Option<bool>,
    /// Identities: `ip:<addr>` from the start, more from addAuth.
    pub ids: Vec<Id>,
    pub queue: VecDeque<Slot>,
    pub counters: Counters,
    /// Set once a Close was emitted; nothing more is sent.
    pub closed: bool,
    /// A reply that closes the connection is queued: later frames are ignored.
    pub condemned: bool,
}

impl Conn {
    pub fn new(remote: SocketAddr, now: Millis) -> Conn {
        Conn {
            remote,
            opened_at: now,
            phase: Phase::AwaitConnect,
            session: SessionId::NONE,
            timeout_ms: 0,
            read_only_byte: None,
            // Canonical form: an IPv4 client on a dual-stack socket is `a.b.c.d`, not
            // `::ffff:a.b.c.d`, so `ip:` ACLs and whoAmI see the address users expect.
            ids: vec![Id::new("ip", &remote.ip().to_canonical().to_string())],
            queue: VecDeque::new(),
            counters: Counters::default(),
            closed: false,
            condemned: false,
        }
    }
}
