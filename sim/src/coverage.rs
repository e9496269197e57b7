//! Coverage counters ("sometimes" assertions): how often a run reached the situations the
//! faults are there to create. A checker that passes proves little if the dangerous
//! situation never happened, so `sweep` sums these over its seeds and fails when one of the
//! required counters stayed at zero.
//!
//! Counters come from three places: the fault controller (what a crash found on the disk
//! and in the server driver), the servers' replication events (elections, syncs), and the
//! history and the committed history after the run (expiries, unknown writes, reads queued
//! behind writes, watches, session moves).

use std::collections::{BTreeMap, BTreeSet};

use corral_core::server::LogEntry;
use corral_core::txn::Txn;
use corral_core::types::SessionId;

use crate::history::Op;
use crate::world::EPOCH_SECS;

/// Which runs a counter applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every run.
    All,
    /// Ensembles only (replication): required only in sweeps that ran an ensemble.
    Ensemble,
}

/// One counter: its short name (the table column), what it counts, and whether a sweep of
/// [`REQUIRED_FROM_SEEDS`] seeds or more fails when it stays at zero.
#[derive(Clone, Copy, Debug)]
pub struct Counter {
    pub name: &'static str,
    pub what: &'static str,
    pub required: bool,
    pub scope: Scope,
}

/// Sweeps with at least this many seeds fail when a required counter stays at zero;
/// shorter sweeps only report.
pub const REQUIRED_FROM_SEEDS: u64 = 50;

/// A crash is "shortly after a snapshot" when the newest snapshot was written at most this
/// long before it.
pub const SOON_AFTER_SNAPSHOT_MS: u64 = 1_000;

macro_rules! counters {
    ($($idx:ident = $i:expr, $name:expr, $required:expr, $scope:ident, $what:expr;)*) => {
        $(
            #[doc = $what]
            pub const $idx: usize = $i;
        )*
        /// Every counter, in index order.
        pub const COUNTERS: &[Counter] = &[
            $(Counter { name: $name, what: $what, required: $required, scope: Scope::$scope },)*
        ];
    };
}

counters! {
    CRASH_LOST_UNSYNCED = 0, "crash-lost-unsynced", true, All,
        "a crash threw away unsynced log bytes";
    CRASH_TORN_TAIL = 1, "crash-torn-tail", true, All,
        "a crash tore the log tail (a record cut in two, maybe padded with garbage)";
    CRASH_BEFORE_ACK = 2, "crash-persist-before-ack", true, All,
        "a crash while entries were handed to the disk and their fsync (so their reply or ACK) had not completed";
    CRASH_AFTER_SNAPSHOT = 3, "crash-after-snapshot", true, All,
        "a crash at most 1 s after the server wrote a snapshot";
    SNAPSHOT_RECOVERY = 4, "recovery-from-snapshot", true, All,
        "a restart whose recovery loaded a snapshot (then replayed the log after it)";
    EXPIRY_IN_PARTITION = 5, "expiry-in-partition", true, All,
        "a session expired while a fault cut its client off from every server";
    UNKNOWN_COMMITTED = 6, "unknown-write-committed", true, All,
        "a write without an answer whose txn is in the committed history";
    UNKNOWN_ABSENT = 7, "unknown-write-absent", true, All,
        "a write without an answer, sent in a session, whose txn is not in the committed history";
    WATCH_FIRED = 8, "watch-fired", true, All,
        "a client received a watch notification";
    READ_BEHIND_WRITE = 9, "read-behind-write", true, All,
        "a read submitted while a write of its session was in flight, answered after the write's txn";
    CONTESTED_ELECTION = 10, "contested-election", true, Ensemble,
        "two servers decided for different leaders within initLimit, or a decision was followed by LOOKING within initLimit";
    SYNC_DIFF = 11, "sync-diff", true, Ensemble,
        "a leader synchronized a learner by a non-empty DIFF";
    SYNC_TRUNC = 12, "sync-trunc", true, Ensemble,
        "a leader synchronized a learner by TRUNC (the learner had an uncommitted tail)";
    SYNC_SNAP = 13, "sync-snap", true, Ensemble,
        "a leader synchronized a learner by SNAP";
    CRASH_DURING_SYNC = 14, "crash-during-sync", true, Ensemble,
        "a crash of a learner between receiving its synchronization and serving, or of a leader whose synchronization of a learner was not finished";
    CRASH_ACKED_UNCOMMITTED = 15, "crash-acked-uncommitted", true, Ensemble,
        "a crash of a follower that had durably logged and ACKed a zxid beyond what it knew committed";
    SESSION_MOVED = 16, "session-moved", true, Ensemble,
        "a client resumed its session on another server (lastZxidSeen, revalidation)";
    LEADER_CHANGES = 17, "leader-changes", false, Ensemble,
        "a newly established leader differs from the previous one (informational)";
    SNAPSHOTS = 18, "snapshots", false, All,
        "snapshots the servers wrote (informational)";
    ENSEMBLE_RUNS = 19, "ensemble-runs", false, All,
        "runs with 3 or 5 servers (informational)";
    DELTA_SNAPSHOTS = 20, "delta-snapshots", true, All,
        "a snapshot merged from the server's delta (changed nodes) equal to the one built from the log";
}

/// The counters of one run, or their sum over a sweep.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    pub counts: Vec<u64>,
}

impl Coverage {
    /// All zero.
    pub fn new() -> Coverage {
        Coverage {
            counts: vec![0; COUNTERS.len()],
        }
    }

    /// Count `n` more of counter `i`.
    pub fn add(&mut self, i: usize, n: u64) {
        self.counts[i] += n;
    }

    /// The value of counter `i`.
    pub fn get(&self, i: usize) -> u64 {
        self.counts[i]
    }

    /// Add another run's counters.
    pub fn merge(&mut self, other: &Coverage) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    /// Whether counter `c` is required here: replication counters only once an ensemble ran.
    pub fn applies(&self, c: &Counter) -> bool {
        c.scope == Scope::All || self.get(ENSEMBLE_RUNS) > 0
    }

    /// Names of the required counters still at zero.
    pub fn missing(&self) -> Vec<&'static str> {
        COUNTERS
            .iter()
            .zip(&self.counts)
            .filter(|(c, n)| c.required && self.applies(c) && **n == 0)
            .map(|(c, _)| c.name)
            .collect()
    }
}

/// The counters that come from the history and the committed history (`log`).
/// `isolation` holds (client, from ms, to ms): when a client was cut off from every server.
pub fn from_history(
    isolation: &[(usize, u64, u64)],
    ops: &[Op],
    log: &[LogEntry],
    cov: &mut Coverage,
) {
    let logged: BTreeSet<(SessionId, i32)> =
        log.iter().map(|e| (e.hdr.session, e.hdr.cxid)).collect();
    for o in ops.iter().filter(|o| o.is_write() && !o.answered()) {
        if o.session == SessionId::NONE {
            continue;
        }
        if logged.contains(&(o.session, o.xid)) {
            cov.add(UNKNOWN_COMMITTED, 1);
        } else {
            cov.add(UNKNOWN_ABSENT, 1);
        }
    }
    cov.add(READ_BEHIND_WRITE, reads_behind_writes(ops, &logged));
    // Server-side expiries: closeSession txns the server proposed itself (cxid 0).
    let client_of: BTreeMap<SessionId, usize> = ops
        .iter()
        .filter(|o| o.session != SessionId::NONE)
        .map(|o| (o.session, o.client))
        .collect();
    let epoch_ms = (EPOCH_SECS * 1000) as i64;
    for e in log {
        if !matches!(e.txn, Txn::CloseSession { .. }) || e.hdr.cxid != 0 {
            continue;
        }
        let Some(&client) = client_of.get(&e.hdr.session) else {
            continue;
        };
        let at = (e.hdr.time - epoch_ms).max(0) as u64;
        let partitioned = isolation
            .iter()
            .any(|&(c, from, to)| c == client && from <= at && at <= to);
        if partitioned {
            cov.add(EXPIRY_IN_PARTITION, 1);
        }
    }
}

/// Reads submitted while an earlier write of the same session (client incarnation) was
/// still outstanding, where that write's txn is logged and the read was answered after it
/// returned: the server had to hold the read back until the write committed.
fn reads_behind_writes(ops: &[Op], logged: &BTreeSet<(SessionId, i32)>) -> u64 {
    let mut by_session: BTreeMap<(usize, u32), Vec<&Op>> = BTreeMap::new();
    for o in ops {
        by_session
            .entry((o.client, o.incarnation))
            .or_default()
            .push(o);
    }
    let mut n = 0;
    for list in by_session.values_mut() {
        list.sort_by_key(|o| o.invoke_seq);
        for (i, r) in list.iter().enumerate() {
            if r.is_write() || !r.answered() {
                continue;
            }
            let r_ret = r.ret.as_ref().expect("answered").seq;
            let behind = list[..i].iter().rev().take(8).any(|w| {
                w.is_write()
                    && w.answered()
                    && logged.contains(&(w.session, w.xid))
                    && w.ret
                        .as_ref()
                        .is_some_and(|ret| ret.seq > r.invoke_seq && ret.seq < r_ret)
            });
            n += u64::from(behind);
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_names_required_counters_at_zero_only() {
        let mut c = Coverage::new();
        // Without an ensemble run, only the counters of every run are required.
        let all_required: Vec<&str> = COUNTERS
            .iter()
            .filter(|c| c.required && c.scope == Scope::All)
            .map(|c| c.name)
            .collect();
        assert_eq!(c.missing(), all_required);
        for (i, counter) in COUNTERS.iter().enumerate() {
            if counter.name != "expiry-in-partition" && counter.scope == Scope::All {
                c.add(i, 1);
            }
        }
        // Replication counters apply once an ensemble ran (ENSEMBLE_RUNS is All-scoped).
        let replication: Vec<&str> = COUNTERS
            .iter()
            .filter(|c| c.required && c.scope == Scope::Ensemble)
            .map(|c| c.name)
            .collect();
        let mut want = vec!["expiry-in-partition"];
        want.extend(replication);
        assert_eq!(c.missing(), want);
        c.counts[ENSEMBLE_RUNS] = 0;
        assert_eq!(c.missing(), vec!["expiry-in-partition"]);
        let mut sum = Coverage::new();
        sum.merge(&c);
        sum.merge(&c);
        assert_eq!(sum.get(WATCH_FIRED), 2);
        assert_eq!(sum.get(EXPIRY_IN_PARTITION), 0);
        // The informational counter never fails a sweep.
        assert!(!COUNTERS[SNAPSHOTS].required);
    }
}
