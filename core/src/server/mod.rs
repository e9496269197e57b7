//! The standalone server state machine: connections, handshake, sessions, request
//! pipeline, replies and watch notifications, with persistence as a request acknowledged
//! by token.
//!
//! Drive it like this:
//! 1. `Server::new(config, now)`, then `restore(image)` with the newest snapshot if there
//!    is one, then `replay(entry)` for every durable log entry after it, then `start(now)`
//!    (re-tracks recovered sessions with fresh deadlines).
//! 2. Feed inputs: `connection_opened`, `frame_received` (one frame payload, length prefix
//!    already stripped and checked against `config.max_buffer`), `connection_closed`,
//!    `persisted(token)`, `snapshotted(token)`, and `tick(now)` whenever `next_deadline()` has passed.
//! 3. After every input, drain `poll_output()` until `None`.
//!
//! Nothing that depends on durability (a write's reply, its watch events) leaves before the
//! driver has reported the covering `Persist` durable.

mod api;
mod conn;
mod host;
mod machine;
mod reads;
mod replies;
mod stats;

pub use crate::txn::LogEntry;

use crate::types::{ConnId, Epoch, ServerId, SessionId, Zxid};
pub use crate::zab::message::PeerMessage;
pub use crate::zab::replica::{AcceptedEpoch, ReplicaConfig, Role, StoredEpochs};
pub use api::Server;

/// Settings of a server, from zoo.cfg and system-property equivalents.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// `myid`; 1 for a standalone server (it seeds session ids).
    pub server_id: i64,
    pub tick_time_ms: i64,
    pub min_session_timeout_ms: i64,
    pub max_session_timeout_ms: i64,
    /// jute.maxbuffer: largest frame and field accepted.
    pub max_buffer: usize,
    /// `zookeeper.extendedTypesEnabled`: TTL nodes.
    pub extended_types_enabled: bool,
    /// `znode.container.checkIntervalMs`.
    pub container_check_interval_ms: i64,
    /// `znode.container.maxPerMinute`.
    pub container_max_per_minute: u32,
    /// `znode.container.maxNeverUsedIntervalMs` (0 = never delete never-used containers).
    pub container_max_never_used_ms: i64,
    /// `maxClientCnxns` per client IP; 0 = no limit.
    pub max_client_cnxns: usize,
    /// `zookeeper.DigestAuthenticationProvider.superDigest` (`super:<hash>`).
    pub super_digest: Option<String>,
    /// `zookeeper.skipACL`.
    pub skip_acl: bool,
    /// Requests in flight (all connections) before the server stops reading more
    /// (`globalOutstandingLimit`).
    pub global_outstanding_limit: usize,
    /// `snapCount`: a snapshot is requested once about this many txns were made durable
    /// since the last one (between half and all of it, offset per server id as ZooKeeper
    /// randomises it, so that an ensemble does not snapshot everywhere at once). 0 = never.
    pub snap_count: u64,
    /// Ask for delta snapshots: the server tracks which nodes change and hands their live
    /// states with each `Output::Snapshot`, so the driver can merge them into the previous
    /// snapshot instead of rebuilding the tree from the log (see `snapshot::Delta`).
    pub snapshot_deltas: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            server_id: 1,
            tick_time_ms: 2000,
            min_session_timeout_ms: 4000,
            max_session_timeout_ms: 40000,
            max_buffer: crate::jute::DEFAULT_MAX_BUFFER,
            extended_types_enabled: false,
            container_check_interval_ms: 60_000,
            container_max_per_minute: 10_000,
            container_max_never_used_ms: 0,
            max_client_cnxns: 60,
            super_digest: None,
            skip_acl: false,
            global_outstanding_limit: 1000,
            snap_count: 100_000,
            snapshot_deltas: false,
        }
    }
}

/// Identifies one `Persist` request; handed back through `Server::persisted`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PersistToken(pub u64);

/// Something the driver must do.
#[derive(Debug)]
#[must_use]
pub enum Output {
    /// Write these bytes (whole frames, length prefixes included) to the connection.
    Send { conn: ConnId, bytes: Vec<u8> },
    /// Close the connection once everything queued before this has been written.
    Close { conn: ConnId },
    /// Append these entries to the log and make them durable (fsync), then call
    /// `Server::persisted(token)`. Tokens complete in the order they were issued.
    Persist {
        token: PersistToken,
        entries: Vec<LogEntry>,
    },
    /// Remove every log entry after `after` (ensemble only: TRUNC from a leader), then
    /// call `Server::persisted(token)`. Ordered with `Persist` and the other storage
    /// outputs: tokens of all of them complete in the order issued.
    Truncate { token: PersistToken, after: Zxid },
    /// Make `bytes` (a snapshot in `core::snapshot` format, the state as of `zxid`) the
    /// state to recover from, with an empty log after it: every older log entry and
    /// snapshot is discarded (ensemble only: SNAP from a leader). After a crash at any
    /// point, recovery must find either the old state or this one, never a mix. Then call
    /// `Server::persisted(token)`.
    InstallSnapshot {
        token: PersistToken,
        zxid: Zxid,
        bytes: Vec<u8>,
    },
    /// Replace `acceptedEpoch` and/or `currentEpoch` atomically and durably (ensemble
    /// only), then call `Server::persisted(token)`.
    SaveEpochs {
        token: PersistToken,
        accepted: Option<AcceptedEpoch>,
        current: Option<Epoch>,
    },
    /// Send a message to a peer of the ensemble, best effort: drop it if the link is down
    /// (the protocol re-sends or recovers what matters).
    Peer { to: ServerId, msg: PeerMessage },
    /// Write a snapshot of the state as of `zxid` (already durable in the log), then call
    /// `Server::snapshotted(token)`. At most one is outstanding. The driver builds it off
    /// the request path, so the server goes on serving meanwhile, and may purge old
    /// snapshots and log segments afterwards. With `ServerConfig::snapshot_deltas`, `delta`
    /// (when present) holds the state as of `zxid` relative to the snapshot at
    /// `delta.base`: merging it into that file gives the snapshot (`snapshot::merge`).
    /// Without a delta, or if the merge fails, the driver builds it from storage (previous
    /// snapshot plus log).
    Snapshot {
        token: PersistToken,
        zxid: Zxid,
        delta: Option<Box<crate::snapshot::Delta>>,
    },
}

/// Per-connection counters for the `cons`/`stat` four-letter words.
#[derive(Clone, Debug, Default)]
pub struct ConnStats {
    pub conn: Option<ConnId>,
    pub remote: String,
    pub session: SessionId,
    pub timeout_ms: i64,
    pub queued: u64,
    pub received: u64,
    pub sent: u64,
    pub established_ms: i64,
    pub last_op: String,
    pub last_cxid: i32,
    pub last_zxid: Zxid,
    pub last_response_ms: i64,
    pub last_latency_ms: i64,
    pub min_latency_ms: i64,
    pub avg_latency_ms: f64,
    pub max_latency_ms: i64,
}

/// A snapshot of the server's state for monitoring (four-letter words).
#[derive(Clone, Debug, Default)]
pub struct StatsSnapshot {
    pub connections: Vec<ConnStats>,
    pub last_zxid: Zxid,
    pub node_count: u64,
    pub approximate_data_size: u64,
    pub ephemerals_count: u64,
    /// (session, ephemeral paths) pairs, sessions ascending.
    pub ephemerals_by_session: Vec<(SessionId, Vec<String>)>,
    /// (session, timeout ms) of every live session.
    pub sessions: Vec<(SessionId, i64)>,
    pub packets_received: u64,
    pub packets_sent: u64,
    pub outstanding_requests: u64,
    pub min_latency_ms: i64,
    pub avg_latency_ms: f64,
    pub max_latency_ms: i64,
    /// Connections with at least one watch.
    pub watching_connections: u64,
    /// Distinct watched paths.
    pub watched_paths: u64,
    pub total_watches: u64,
    /// (path, sessions watching it), paths ascending.
    pub watches_by_path: Vec<(String, Vec<SessionId>)>,
    /// `standalone`, `leader`, `follower`, or `looking` (not serving).
    pub mode: &'static str,
    /// Followers synchronized with this leader.
    pub synced_followers: u64,
}
