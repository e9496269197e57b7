//! PLACEHOLDER: replaced by the lead's implementation at merge.
//!
//! A do-nothing `Server` with the agreed API, plus stand-ins for `LogEntry::to_bytes` /
//! `LogEntry::from_bytes`, so that `corral-net` compiles and its driver can be tested before
//! the real state machine lands. Delete this file (and its two lines in `server/mod.rs`)
//! when merging the real `Server` and the real txn codec.

// PLACEHOLDER: replaced by the lead's implementation at merge

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use super::{ConnStats, Output, PersistToken, ServerConfig, StatsSnapshot};
use crate::error::ErrorCode;
use crate::jute::{JuteError, JuteReader, JuteWriter};
use crate::txn::{LogEntry, Txn, TxnHeader};
use crate::types::{ConnId, Millis, SessionId, Zxid};

/// PLACEHOLDER server: tracks connections and replayed zxids, answers every frame by closing
/// the connection. Never persists anything.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    outputs: VecDeque<Output>,
    conns: BTreeMap<ConnId, SocketAddr>,
    last_zxid: Zxid,
    serving: bool,
}

impl Server {
    /// A server with no state.
    pub fn new(config: ServerConfig, _now: Millis) -> Server {
        Server {
            config,
            outputs: VecDeque::new(),
            conns: BTreeMap::new(),
            last_zxid: Zxid::ZERO,
            serving: false,
        }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Apply one durable entry from the log (before `start`).
    pub fn replay(&mut self, entry: LogEntry) {
        self.last_zxid = entry.hdr.zxid;
    }

    /// Begin serving.
    pub fn start(&mut self, _now: Millis) {
        self.serving = true;
    }

    /// A client connected.
    pub fn connection_opened(&mut self, _now: Millis, conn: ConnId, remote: SocketAddr) {
        self.conns.insert(conn, remote);
    }

    /// One frame payload arrived: the placeholder speaks no protocol and closes.
    pub fn frame_received(&mut self, _now: Millis, conn: ConnId, _payload: &[u8]) {
        if self.conns.contains_key(&conn) {
            self.outputs.push_back(Output::Close { conn });
        }
    }

    /// The connection is gone.
    pub fn connection_closed(&mut self, _now: Millis, conn: ConnId) {
        self.conns.remove(&conn);
    }

    /// A `Persist` is durable.
    pub fn persisted(&mut self, _now: Millis, _token: PersistToken) {}

    /// Timers.
    pub fn tick(&mut self, _now: Millis) {}

    /// Next queued output.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When `tick` must next be called.
    pub fn next_deadline(&self) -> Option<Millis> {
        None
    }

    /// Monitoring snapshot.
    pub fn stats(&self, _now: Millis) -> StatsSnapshot {
        StatsSnapshot {
            connections: self
                .conns
                .iter()
                .map(|(c, r)| ConnStats {
                    conn: Some(*c),
                    remote: r.to_string(),
                    last_cxid: -1,
                    ..ConnStats::default()
                })
                .collect(),
            last_zxid: self.last_zxid,
            node_count: 5,
            ..StatsSnapshot::default()
        }
    }

    /// Whether `start` has run.
    pub fn is_serving(&self) -> bool {
        self.serving
    }
}

impl LogEntry {
    /// PLACEHOLDER codec: jute `TxnHeader` followed by a body for the few txn kinds the
    /// placeholder needs (createSession, closeSession, delete, error).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = JuteWriter::new();
        w.write_i64(self.hdr.session.0);
        w.write_i32(self.hdr.cxid);
        w.write_i64(self.hdr.zxid.0);
        w.write_i64(self.hdr.time);
        w.write_i32(self.hdr.op);
        match &self.txn {
            Txn::CreateSession { timeout_ms } => w.write_i32(*timeout_ms),
            Txn::CloseSession { ephemerals } => w.write_string_vec(ephemerals),
            Txn::Delete { path } => w.write_string(path),
            Txn::Error { err } => w.write_i32(err.code()),
            _ => {}
        }
        w.into_inner()
    }

    /// PLACEHOLDER codec: inverse of `to_bytes` for the kinds it supports.
    pub fn from_bytes(b: &[u8]) -> Result<LogEntry, JuteError> {
        let mut r = JuteReader::new(b);
        let hdr = TxnHeader {
            session: SessionId(r.read_i64()?),
            cxid: r.read_i32()?,
            zxid: Zxid(r.read_i64()?),
            time: r.read_i64()?,
            op: r.read_i32()?,
        };
        let txn = match hdr.op {
            -10 => Txn::CreateSession {
                timeout_ms: r.read_i32()?,
            },
            -11 => Txn::CloseSession {
                ephemerals: r.read_string_vec("path")?,
            },
            2 => Txn::Delete {
                path: r.read_string("path")?,
            },
            -1 => {
                let code = r.read_i32()?;
                let err = ErrorCode::from_code(code)
                    .ok_or(JuteError::BadValue("error code", code as i64))?;
                Txn::Error { err }
            }
            op => return Err(JuteError::BadValue("placeholder txn op", op as i64)),
        };
        r.finish()?;
        Ok(LogEntry { hdr, txn })
    }
}
