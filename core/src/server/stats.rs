//! The monitoring snapshot behind the four-letter words.

use super::machine::State;
use super::{ConnStats, StatsSnapshot};
use crate::types::{Millis, SessionId};

impl State {
    /// Everything the `srvr`, `stat`, `mntr`, `cons`, `wchs` and `dump` words print.
    pub(crate) fn stats(&self, _now: Millis) -> StatsSnapshot {
        let connections = self
            .conns
            .iter()
            .filter(|(_, c)| !c.closed)
            .map(|(id, c)| {
                let k = &c.counters;
                ConnStats {
                    conn: Some(*id),
                    remote: c.remote.to_string(),
                    session: c.session,
                    timeout_ms: c.timeout_ms,
                    queued: c.queue.len() as u64,
                    received: k.received,
                    sent: k.sent,
                    established_ms: c.opened_at.0,
                    last_op: if k.last_op.is_empty() {
                        "NA".into()
                    } else {
                        k.last_op.into()
                    },
                    last_cxid: k.last_cxid,
                    last_zxid: k.last_zxid,
                    last_response_ms: k.last_response.0,
                    last_latency_ms: k.last_latency_ms,
                    min_latency_ms: k.min_latency_ms,
                    avg_latency_ms: avg(k.total_latency_ms, k.replies),
                    max_latency_ms: k.max_latency_ms,
                }
            })
            .collect();
        let by_session = self.tree.ephemerals_by_session();
        let summary = self.watches.data_watch_summary();
        let conn_session = |c| {
            self.conns
                .get(&c)
                .map(|c| c.session)
                .unwrap_or(SessionId::NONE)
        };
        StatsSnapshot {
            connections,
            last_zxid: self.tree.last_zxid(),
            node_count: self.tree.node_count(),
            approximate_data_size: self.tree.approximate_data_size(),
            ephemerals_count: by_session.values().map(|s| s.len() as u64).sum(),
            ephemerals_by_session: by_session
                .into_iter()
                .map(|(s, p)| (s, p.into_iter().collect()))
                .collect(),
            sessions: self.sessions.sessions(),
            packets_received: self.packets_received,
            packets_sent: self.packets_sent,
            outstanding_requests: self.conns.values().map(|c| c.queue.len() as u64).sum(),
            min_latency_ms: self.latency.min_latency_ms,
            avg_latency_ms: avg(self.latency.total_latency_ms, self.latency.replies),
            max_latency_ms: self.latency.max_latency_ms,
            // `wchs`/`wchp` report ZooKeeper's data-watch table only.
            watching_connections: summary.connections,
            watched_paths: summary.paths,
            total_watches: summary.watches,
            watches_by_path: self
                .watches
                .data_watches_by_path()
                .into_iter()
                .map(|(p, conns)| (p, conns.into_iter().map(conn_session).collect()))
                .collect(),
            mode: "standalone",
            synced_followers: 0,
        }
    }
}

fn avg(total: i64, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        total as f64 / n as f64
    }
}
