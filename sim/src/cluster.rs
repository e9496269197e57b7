//! What the servers of one run share with the fault controller and the checkers: each
//! server's status (role, applied zxid, digest, what its storage has pending), its
//! replication events, and the replication invariants, checked as the run goes.
//!
//! The invariants (each becomes a verdict at the end of an ensemble run):
//! - `one-leader`: at most one server establishes each epoch (`ZabEvent::Established`),
//!   and epochs are established in increasing order;
//! - `zxid-unique`: a zxid names one transaction everywhere: every entry any server hands
//!   to its disk, and every entry any server applies;
//! - `committed-prefix`: the history of a newly established leader (its whole durable
//!   history, read from its disk) agrees with the committed history known so far and holds
//!   every transaction any server has applied; a recovered log never holds a transaction
//!   outside the committed history *followed by* one inside it (a divergent tail is
//!   allowed only at the end, where TRUNC removes it); at the end, every disk agrees with
//!   the final committed history (see `world`);
//! - `epochs`: `acceptedEpoch` and `currentEpoch` never go back, on disk or in a server's
//!   memory, across restarts too;
//! - `ack-durable`: an ACK leaves a server only for a zxid its disk durably holds;
//! - `replica-digest`: replicas whose applied state has the same zxid have the same tree
//!   digest;
//! - `storage`: the disk never refuses a storage operation (truncating below a snapshot,
//!   an operation meeting unsynced bytes, an unreadable snapshot).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use corral_core::server::{LogEntry, Role, StoredEpochs};
use corral_core::types::{Epoch, ServerId, Zxid};
use corral_core::zab::replica::{SyncKind, ZabEvent};

use crate::check::Verdict;

/// FNV-1a 64 of an entry's bytes: how the invariants compare transactions.
pub fn entry_hash(e: &LogEntry) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in e.to_bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The names of the replication invariants, in report order.
pub const INVARIANTS: &[&str] = &[
    "one-leader",
    "zxid-unique",
    "committed-prefix",
    "epochs",
    "ack-durable",
    "replica-digest",
    "storage",
    "delta-snapshot",
];

/// One invariant's tally.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub checked: u64,
    pub count: u64,
    pub violations: Vec<String>,
}

const LISTED: usize = 12;

impl Tally {
    fn fail(&mut self, what: String) {
        self.count += 1;
        if self.violations.len() < LISTED {
            self.violations.push(what);
        }
    }
}

/// What one server is doing, as its driver last reported it.
#[derive(Clone, Debug)]
pub struct ServerStatus {
    /// Running (not powered off).
    pub up: bool,
    pub incarnation: u32,
    pub role: Role,
    /// The applied state: its zxid and tree digest.
    pub applied: Zxid,
    pub digest: u64,
    /// The last zxid of its log, and what it knows committed.
    pub last_logged: Zxid,
    pub committed: Zxid,
    /// Storage operations issued and not yet reported durable (appends among them).
    pub pending_storage: usize,
    pub pending_appends: usize,
    /// The highest zxid this incarnation has acknowledged to a leader.
    pub max_acked: Zxid,
    /// As learner: a synchronization was received and serving has not started yet.
    pub syncing: bool,
    /// As leader: learners sent a synchronization that have not reported serving, and when.
    pub syncs_sent: BTreeMap<usize, u64>,
    /// Simulated ms of its newest snapshot.
    pub last_snapshot_ms: Option<u64>,
    /// Last `Decided` (ms, leader), and whether a `Looking` after it was counted.
    pub decided: Option<(u64, ServerId)>,
    pub looked_after_decision: bool,
}

impl Default for ServerStatus {
    fn default() -> Self {
        ServerStatus {
            up: false,
            incarnation: 0,
            role: Role::Looking,
            applied: Zxid::ZERO,
            digest: 0,
            last_logged: Zxid::ZERO,
            committed: Zxid::ZERO,
            pending_storage: 0,
            pending_appends: 0,
            max_acked: Zxid::ZERO,
            syncing: false,
            syncs_sent: BTreeMap::new(),
            last_snapshot_ms: None,
            decided: None,
            looked_after_decision: false,
        }
    }
}

/// A synchronization event (for the crash-in-sync trigger).
#[derive(Clone, Copy, Debug)]
pub struct SyncEvent {
    pub ms: u64,
    /// The leader and the learner of the sync (0-based server indexes).
    pub leader: Option<usize>,
    pub learner: usize,
    pub kind: SyncKind,
    /// Reported by the leader (`SyncSent`) or the learner (`SyncReceived`).
    pub sent: bool,
}

/// Replication counts for the summary and the coverage counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZabStats {
    /// Election decisions (every server's `Decided`).
    pub decisions: u64,
    /// Leaders established (`Established`, one per epoch).
    pub established: u64,
    /// Established leaders that differ from the previous one.
    pub leader_changes: u64,
    /// `Looking` events (a server left its role or started electing).
    pub lookings: u64,
    pub contested: u64,
    /// Synchronizations sent by leaders, by kind (DIFF counts only non-empty ones).
    pub sync_diff: u64,
    pub sync_diff_empty: u64,
    pub sync_trunc: u64,
    pub sync_snap: u64,
    pub snapshots: u64,
    /// Snapshots whose delta (merged the way the real snapshot thread does) matched the
    /// full build.
    pub delta_snapshots: u64,
    /// Restarts (not the first start) that loaded a snapshot.
    pub snapshot_recoveries: u64,
}

/// The shared state. See the module docs.
#[derive(Debug)]
pub struct Cluster {
    pub status: Vec<ServerStatus>,
    pub stats: ZabStats,
    pub sync_events: Vec<SyncEvent>,
    pub tallies: BTreeMap<&'static str, Tally>,
    /// initLimit * tickTime: the window of a contested election.
    init_ms: u64,
    /// Epoch → (server index, ms) that established it.
    established: BTreeMap<Epoch, (usize, u64)>,
    last_leader: Option<usize>,
    /// Every zxid handed to any disk → entry hash.
    persisted: BTreeMap<Zxid, u64>,
    /// Every zxid applied anywhere → (entry hash, first server that applied it).
    applied: BTreeMap<Zxid, (u64, usize)>,
    /// Per server: the applied mark up to which its history was read.
    seen_applied: Vec<Zxid>,
    /// Applied zxid → (tree digest, server).
    digests: BTreeMap<Zxid, (u64, usize)>,
    /// The committed history as of the last establishment: zxid → hash, and its end.
    truth: BTreeMap<Zxid, u64>,
    truth_upto: Zxid,
    /// Per server: the highest durable epochs seen, across incarnations.
    max_epochs: Vec<StoredEpochs>,
    /// (receiving server, snapshot zxid) → the history of the leader that sent it, up to
    /// that zxid: the archive of the disk that installs it.
    provenance: BTreeMap<(usize, Zxid), Vec<LogEntry>>,
}

/// The handle every host holds.
pub type SharedCluster = Rc<RefCell<Cluster>>;

impl Cluster {
    /// The state of `servers` servers, none started yet.
    pub fn new(servers: usize, init_ms: u64) -> Cluster {
        Cluster {
            status: vec![ServerStatus::default(); servers],
            stats: ZabStats::default(),
            sync_events: Vec::new(),
            tallies: INVARIANTS.iter().map(|n| (*n, Tally::default())).collect(),
            init_ms,
            established: BTreeMap::new(),
            last_leader: None,
            persisted: BTreeMap::new(),
            applied: BTreeMap::new(),
            seen_applied: vec![Zxid::ZERO; servers],
            digests: BTreeMap::new(),
            truth: BTreeMap::new(),
            truth_upto: Zxid::ZERO,
            max_epochs: vec![StoredEpochs::default(); servers],
            provenance: BTreeMap::new(),
        }
    }

    fn tally(&mut self, name: &'static str) -> &mut Tally {
        self.tallies.get_mut(name).expect("a known invariant")
    }

    /// Record one check of `name`, failing with `what` when `ok` is false.
    pub fn check(&mut self, name: &'static str, ok: bool, what: impl FnOnce() -> String) {
        let t = self.tally(name);
        t.checked += 1;
        if !ok {
            t.fail(what());
        }
    }

    /// The index of the established leader, if exactly one live server leads.
    pub fn leader(&self) -> Option<usize> {
        let leaders: Vec<usize> = self
            .status
            .iter()
            .enumerate()
            .filter(|(_, s)| s.up && matches!(s.role, Role::Leading { .. }))
            .map(|(i, _)| i)
            .collect();
        (leaders.len() == 1).then(|| leaders[0])
    }

    // ---- server lifecycle --------------------------------------------------------

    /// Server `i` starts from its disk: `epochs` durable, `history` its recovered history
    /// (archive and log), applied state at `base`.
    pub fn on_start(&mut self, i: usize, epochs: StoredEpochs, history: &[LogEntry], base: Zxid) {
        let max = self.max_epochs[i];
        self.check(
            "epochs",
            epochs.accepted.epoch >= max.accepted.epoch && epochs.current >= max.current,
            || {
                format!(
                    "server{} recovered epochs accepted {} current {}, but had durably reached {} and {}",
                    i + 1,
                    epochs.accepted.epoch.0,
                    epochs.current.0,
                    max.accepted.epoch.0,
                    max.current.0
                )
            },
        );
        self.note_epochs(i, epochs);
        self.check_recovered(i, history);
        let s = &mut self.status[i];
        *s = ServerStatus {
            up: true,
            incarnation: s.incarnation + 1,
            last_snapshot_ms: s.last_snapshot_ms,
            decided: s.decided,
            ..ServerStatus::default()
        };
        self.seen_applied[i] = base;
    }

    /// Server `i` lost power.
    pub fn on_crash(&mut self, i: usize) {
        let s = &mut self.status[i];
        s.up = false;
        s.role = Role::Looking;
        s.syncing = false;
        s.syncs_sent.clear();
    }

    fn note_epochs(&mut self, i: usize, e: StoredEpochs) {
        let m = &mut self.max_epochs[i];
        if e.accepted.epoch > m.accepted.epoch {
            m.accepted = e.accepted;
        }
        m.current = m.current.max(e.current);
    }

    /// A recovered history: a transaction outside the committed history (as known at the
    /// last establishment) may only be followed by more of them (an uncommitted tail that
    /// TRUNC will remove), never by a committed one; and a committed zxid holds the
    /// committed transaction.
    fn check_recovered(&mut self, i: usize, history: &[LogEntry]) {
        if history.is_empty() {
            return;
        }
        let mut divergent: Option<Zxid> = None;
        let mut bad = None;
        for e in history {
            let z = e.hdr.zxid;
            if z > self.truth_upto {
                break;
            }
            match self.truth.get(&z) {
                Some(h) if *h == entry_hash(e) => {
                    if let Some(d) = divergent {
                        bad = Some(format!(
                            "server{} recovered a log in which committed {z} follows {d}, which is not in the committed history",
                            i + 1
                        ));
                        break;
                    }
                }
                Some(_) => {
                    bad = Some(format!(
                        "server{} recovered a log whose {z} differs from the committed transaction",
                        i + 1
                    ));
                    break;
                }
                None => {
                    divergent.get_or_insert(z);
                }
            }
        }
        self.check("committed-prefix", bad.is_none(), || {
            bad.unwrap_or_default()
        });
    }

    // ---- what a running server reports ---------------------------------------------

    /// Entries handed to server `i`'s disk.
    pub fn on_persist(&mut self, i: usize, entries: &[LogEntry]) {
        for e in entries {
            let (z, h) = (e.hdr.zxid, entry_hash(e));
            let prev = *self.persisted.entry(z).or_insert(h);
            self.check("zxid-unique", prev == h, || {
                format!(
                    "server{} persists {z} as {:?}, another server persisted a different txn at it",
                    i + 1,
                    e.txn
                )
            });
        }
    }

    /// Server `i` applied these entries (all committed), up to its applied mark `upto`.
    pub fn on_applied_entries(&mut self, i: usize, entries: &[&LogEntry], upto: Zxid) {
        for e in entries {
            let (z, h) = (e.hdr.zxid, entry_hash(e));
            let (prev, who) = *self.applied.entry(z).or_insert((h, i));
            self.check("zxid-unique", prev == h, || {
                format!(
                    "server{} applied {z} as {:?}, server{} applied a different txn at it",
                    i + 1,
                    e.txn,
                    who + 1
                )
            });
            if z <= self.truth_upto {
                let t = self.truth.get(&z).copied();
                self.check("committed-prefix", t == Some(h), || {
                    format!(
                        "server{} applied {z}, which the committed history as of epoch establishment does not hold",
                        i + 1
                    )
                });
            }
        }
        self.seen_applied[i] = upto;
    }

    /// Where server `i`'s history was last read up to.
    pub fn seen_applied(&self, i: usize) -> Zxid {
        self.seen_applied[i]
    }

    /// Forget what was read of server `i`'s history past `z` (its applied state went back:
    /// a snapshot was installed).
    pub fn rewind_seen(&mut self, i: usize, z: Zxid) {
        self.seen_applied[i] = self.seen_applied[i].min(z);
    }

    /// Server `i`'s applied state is at `zxid` with `digest`.
    pub fn on_state(&mut self, i: usize, zxid: Zxid, digest: u64) {
        let (d, who) = *self.digests.entry(zxid).or_insert((digest, i));
        self.check("replica-digest", d == digest, || {
            format!(
                "server{} has digest {digest:016x} at {zxid}, server{} had {d:016x}",
                i + 1,
                who + 1
            )
        });
    }

    /// Server `i` is about to send ACK for `zxid`; `durable` says whether its disk holds it.
    pub fn on_ack(&mut self, i: usize, zxid: Zxid, durable: bool, disk_tail: Zxid) {
        self.check("ack-durable", durable, || {
            format!(
                "server{} acknowledges {zxid}, but its disk durably holds only up to {disk_tail}",
                i + 1
            )
        });
        let s = &mut self.status[i];
        s.max_acked = s.max_acked.max(zxid);
    }

    /// Server `i`'s epochs in memory (durable as far as it believes).
    pub fn on_epochs(&mut self, i: usize, e: StoredEpochs) {
        let max = self.max_epochs[i];
        self.check(
            "epochs",
            e.accepted.epoch >= max.accepted.epoch && e.current >= max.current,
            || {
                format!(
                    "server{} holds epochs accepted {} current {}, below {} and {} reached before",
                    i + 1,
                    e.accepted.epoch.0,
                    e.current.0,
                    max.accepted.epoch.0,
                    max.current.0
                )
            },
        );
        self.note_epochs(i, e);
    }

    /// The disk of server `i` refused or failed a storage operation.
    pub fn storage_error(&mut self, i: usize, what: String) {
        self.check("storage", false, || format!("server{}: {what}", i + 1));
    }

    /// A storage operation completed.
    pub fn storage_ok(&mut self) {
        self.check("storage", true, String::new);
    }

    /// Server `i` received a SNAP at `zxid` from server `from`, whose history up to it is
    /// `history`.
    pub fn on_snap_received(&mut self, i: usize, zxid: Zxid, history: Vec<LogEntry>) {
        self.provenance.insert((i, zxid), history);
    }

    /// The provenance of a snapshot server `i` installs (empty when unknown).
    pub fn take_provenance(&mut self, i: usize, zxid: Zxid) -> Vec<LogEntry> {
        self.provenance.remove(&(i, zxid)).unwrap_or_default()
    }

    /// A replication event of server `i` at `ms`. `history` reads the server's durable
    /// history (only called for `Established`).
    pub fn on_event(
        &mut self,
        i: usize,
        ms: u64,
        e: &ZabEvent,
        history: impl FnOnce() -> Vec<LogEntry>,
    ) {
        match e {
            ZabEvent::Looking { .. } => {
                self.stats.lookings += 1;
                let init_ms = self.init_ms;
                let s = &mut self.status[i];
                s.syncing = false;
                s.syncs_sent.clear();
                // A decision that did not hold for initLimit: contested.
                let recent = s
                    .decided
                    .is_some_and(|(d, _)| ms.saturating_sub(d) <= init_ms);
                if recent && !s.looked_after_decision {
                    self.stats.contested += 1;
                    s.looked_after_decision = true;
                }
            }
            ZabEvent::Decided { leader, .. } => {
                self.stats.decisions += 1;
                // Another server decided for another leader within initLimit: contested.
                let differs = self.status.iter().enumerate().any(|(j, s)| {
                    j != i
                        && s.decided.is_some_and(|(d, l)| {
                            ms.saturating_sub(d) <= self.init_ms && l != *leader
                        })
                });
                if differs {
                    self.stats.contested += 1;
                }
                let s = &mut self.status[i];
                s.decided = Some((ms, *leader));
                s.looked_after_decision = false;
            }
            ZabEvent::EpochChosen { .. } => {}
            ZabEvent::Established { epoch, last } => {
                self.on_established(i, ms, *epoch, *last, history)
            }
            ZabEvent::SyncSent {
                learner,
                kind,
                from,
                to,
            } => {
                let l = learner.0 as usize - 1;
                match kind {
                    SyncKind::Diff if to > from => self.stats.sync_diff += 1,
                    SyncKind::Diff => self.stats.sync_diff_empty += 1,
                    SyncKind::Trunc => self.stats.sync_trunc += 1,
                    SyncKind::Snap => self.stats.sync_snap += 1,
                }
                self.status[i].syncs_sent.insert(l, ms);
                self.sync_events.push(SyncEvent {
                    ms,
                    leader: Some(i),
                    learner: l,
                    kind: *kind,
                    sent: true,
                });
            }
            ZabEvent::SyncReceived { kind, .. } => {
                self.status[i].syncing = true;
                self.sync_events.push(SyncEvent {
                    ms,
                    leader: None,
                    learner: i,
                    kind: *kind,
                    sent: false,
                });
            }
            ZabEvent::FollowerServing { .. } => {
                self.status[i].syncing = false;
                for s in &mut self.status {
                    s.syncs_sent.remove(&i);
                }
            }
        }
    }

    fn on_established(
        &mut self,
        i: usize,
        ms: u64,
        epoch: Epoch,
        last: Zxid,
        history: impl FnOnce() -> Vec<LogEntry>,
    ) {
        self.stats.established += 1;
        if self.last_leader != Some(i) {
            self.stats.leader_changes += 1;
        }
        self.last_leader = Some(i);
        let before = self.established.insert(epoch, (i, ms));
        self.check("one-leader", before.is_none_or(|(j, _)| j == i), || {
            format!(
                "epoch {} established by server{} and server{}",
                epoch.0,
                before.map_or(0, |(j, _)| j + 1),
                i + 1
            )
        });
        let higher = self
            .established
            .range(Epoch(epoch.0 + 1)..)
            .next()
            .map(|(e, (j, _))| (*e, *j));
        self.check("one-leader", higher.is_none(), || {
            let (e, j) = higher.unwrap_or((Epoch(0), 0));
            format!(
                "server{} established epoch {} after server{} had established epoch {}",
                i + 1,
                epoch.0,
                j + 1,
                e.0
            )
        });
        // The new leader's durable history is the committed history up to `last`.
        let hist = history();
        let new: BTreeMap<Zxid, u64> = hist
            .iter()
            .filter(|e| e.hdr.zxid <= last)
            .map(|e| (e.hdr.zxid, entry_hash(e)))
            .collect();
        let tail = hist.last().map_or(Zxid::ZERO, |e| e.hdr.zxid);
        let mut problems = Vec::new();
        if tail < last {
            problems.push(format!("its disk holds only up to {tail}"));
        }
        for (z, h) in self.truth.range(..=self.truth_upto.min(last)) {
            if new.get(z) != Some(h) {
                problems.push(format!("it lacks committed {z}"));
                break;
            }
        }
        for z in new.keys().filter(|z| **z <= self.truth_upto) {
            if !self.truth.contains_key(z) {
                problems.push(format!("it holds {z}, which was not committed"));
                break;
            }
        }
        for (z, (h, who)) in &self.applied {
            if new.get(z) != Some(h) && z.epoch() < epoch {
                problems.push(format!("it lacks {z}, applied by server{}", who + 1));
                break;
            }
        }
        let ok = problems.is_empty();
        self.check("committed-prefix", ok, || {
            format!(
                "server{} established epoch {} up to {last}, but {}",
                i + 1,
                epoch.0,
                problems.join("; ")
            )
        });
        if ok && last >= self.truth_upto {
            self.truth = new;
            self.truth_upto = last;
        }
    }

    /// The verdicts of the replication invariants.
    pub fn verdicts(&self) -> Vec<Verdict> {
        INVARIANTS
            .iter()
            .map(|n| {
                let t = &self.tallies[n];
                let mut v = Verdict::new(n);
                v.checked = t.checked as usize;
                v.count = t.count as usize;
                v.violations = t.violations.clone();
                v
            })
            .collect()
    }

    /// A set of the zxids applied anywhere, for the final check.
    pub fn applied_entries(&self) -> &BTreeMap<Zxid, (u64, usize)> {
        &self.applied
    }
}

/// A server index from its id.
pub fn index_of(id: ServerId) -> usize {
    id.0 as usize - 1
}

/// Server ids of an ensemble of `n`.
pub fn ids(n: usize) -> BTreeSet<ServerId> {
    (1..=n as u64).map(ServerId).collect()
}
