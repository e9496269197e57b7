//! A pure, deterministic harness for the ZAB engine (`zab::replica::Replica`): N replicas,
//! an in-memory network, a simulated disk per server, virtual time that jumps to the next
//! event, and checkers that run after every step.
//!
//! The network keeps each directed link FIFO (like TCP) with a random delay; a cut link
//! drops what is in flight and everything sent while it is cut (like turmoil's
//! partitions: no error, just silence). A crash loses every storage operation not yet
//! reported durable, and every message to or from the server. The disk completes
//! operations in order after a random delay, as group commit does.
//!
//! Checked continuously (a violation panics with the seed's trace tail):
//! - at most one leader establishes each epoch;
//! - every server applies one sequence of transactions: a zxid means the same entry
//!   everywhere, and each server's applied sequence is a prefix of one global sequence;
//! - replicas at the same applied zxid have the same tree digest;
//! - an ACK never covers an entry that is not durable on the acknowledging server;
//! - a newly established leader's history holds every transaction applied anywhere;
//! - durable epochs never go back, across restarts too;
//! - the in-memory history keeps its marks in order.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use corral_core::proto::data::{Acl, Id};
use corral_core::server::PersistToken;
use corral_core::snapshot::{self, Image};
use corral_core::txn::{CreateKind, LogEntry, Txn, TxnHeader};
use corral_core::types::{Epoch, Millis, ServerId, SessionId, Zxid};
use corral_core::zab::election::ElectionTiming;
use corral_core::zab::history::HistEntry;
use corral_core::zab::message::{Forward, PeerMessage, ZabBody};
use corral_core::zab::replica::{
    Host, Replica, ReplicaConfig, ReplicaOutput, Role, StorageOp, StoredEpochs, ZabEvent,
};

/// A small deterministic generator (splitmix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + (self.next() % ((hi - lo + 1) as u64)) as i64
    }
    pub fn chance(&mut self, percent: u32) -> bool {
        self.next() % 100 < u64::from(percent)
    }
}

/// The client-facing side, reduced to a tree: applies what is committed.
pub struct TestHost {
    pub image: Image,
    pub role: Role,
    /// The zxid the next proposal follows, while leading.
    pub last_prepared: Zxid,
    /// What happened to the state since the harness last looked, in order.
    pub changes: Vec<Change>,
}

/// A change to a host's state.
#[derive(Clone, Debug)]
pub enum Change {
    /// An entry applied: zxid, its bytes, the tree digest after it.
    Applied(Zxid, Vec<u8>, u64),
    /// A snapshot installed.
    Installed(Zxid),
}

impl TestHost {
    fn new(image: Image) -> TestHost {
        TestHost {
            image,
            role: Role::Looking,
            last_prepared: Zxid::ZERO,
            changes: Vec::new(),
        }
    }
}

impl Host for TestHost {
    fn apply(&mut self, _now: Millis, entry: HistEntry) {
        self.image.apply(&entry.entry);
        let digest = self.image.tree.digest();
        self.changes.push(Change::Applied(
            entry.zxid(),
            entry.entry.to_bytes(),
            digest,
        ));
    }
    fn snapshot(&mut self) -> (Zxid, Vec<u8>) {
        (self.image.zxid(), snapshot::to_bytes(&self.image))
    }
    fn install(&mut self, _now: Millis, image: Image) {
        self.changes.push(Change::Installed(image.zxid()));
        self.image = image;
    }
    fn role_changed(&mut self, _now: Millis, role: Role, last_zxid: Zxid) {
        self.role = role;
        self.last_prepared = last_zxid;
    }
    fn forwarded(&mut self, _now: Millis, _from: ServerId, _req: u64, _forward: Forward) {}
    fn revalidate(&mut self, _: Millis, _: ServerId, _: SessionId, _: i32) -> bool {
        true
    }
    fn touched(&mut self, _: Millis, _: ServerId, _: Vec<(SessionId, i32)>) {}
    fn take_touches(&mut self) -> Vec<(SessionId, i32)> {
        Vec::new()
    }
    fn sync_done(&mut self, _: Millis, _: u64) {}
    fn revalidated(&mut self, _: Millis, _: u64, _: bool) {}
}

/// What a server has on disk.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    pub snapshot: Option<(Zxid, Vec<u8>)>,
    pub log: Vec<LogEntry>,
    pub epochs: StoredEpochs,
    /// Issued, not yet durable: (completion time, token, op).
    pub pending: VecDeque<(Millis, PersistToken, StorageOp)>,
}

impl Disk {
    /// The last zxid durably held (log end, or the snapshot's).
    pub fn tail(&self) -> Zxid {
        self.log
            .last()
            .map(|e| e.hdr.zxid)
            .or(self.snapshot.as_ref().map(|s| s.0))
            .unwrap_or(Zxid::ZERO)
    }

    /// Whether `zxid` is durably held (in the log, or covered by the snapshot).
    pub fn holds(&self, zxid: Zxid) -> bool {
        self.snapshot.as_ref().is_some_and(|s| zxid <= s.0)
            || self.log.iter().any(|e| e.hdr.zxid == zxid)
            || zxid == Zxid::ZERO
    }

    fn complete(&mut self, op: StorageOp) {
        match op {
            StorageOp::Append(entries) => {
                for e in entries {
                    assert!(
                        e.hdr.zxid > self.tail(),
                        "append {} after {}",
                        e.hdr.zxid,
                        self.tail()
                    );
                    self.log.push(e);
                }
            }
            StorageOp::Truncate { after } => {
                assert!(
                    self.snapshot.as_ref().is_none_or(|s| after >= s.0),
                    "truncate below the snapshot"
                );
                self.log.retain(|e| e.hdr.zxid <= after);
            }
            StorageOp::InstallSnapshot { zxid, bytes } => {
                self.snapshot = Some((zxid, bytes));
                self.log.clear();
            }
            StorageOp::SaveEpochs { accepted, current } => {
                if let Some(a) = accepted {
                    assert!(
                        a.epoch >= self.epochs.accepted.epoch,
                        "acceptedEpoch went back"
                    );
                    self.epochs.accepted = a;
                }
                if let Some(c) = current {
                    assert!(c >= self.epochs.current, "currentEpoch went back");
                    self.epochs.current = c;
                }
            }
        }
    }
}

pub struct Node {
    pub replica: Replica,
    pub host: TestHost,
    /// The zxid this server last applied (to check it applies a continuation).
    pub applied_last: Zxid,
}

/// Knobs of a run.
#[derive(Clone, Debug)]
pub struct Config {
    pub servers: u64,
    pub tick_ms: i64,
    pub init_limit: u32,
    pub sync_limit: u32,
    pub diff_window: usize,
    pub msg_delay_ms: (i64, i64),
    pub disk_delay_ms: (i64, i64),
    /// Propose every this many ms on the leader (0 = never).
    pub propose_every_ms: i64,
    pub max_counter: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            servers: 3,
            tick_ms: 200,
            init_limit: 10,
            sync_limit: 5,
            diff_window: 50,
            msg_delay_ms: (1, 20),
            disk_delay_ms: (1, 10),
            propose_every_ms: 50,
            max_counter: u32::MAX - 1,
        }
    }
}

pub struct Cluster {
    pub cfg: Config,
    pub now: Millis,
    pub rng: Rng,
    pub nodes: BTreeMap<ServerId, Option<Node>>,
    pub disks: BTreeMap<ServerId, Disk>,
    /// In flight: (deliver at, sequence) → (from, to, message).
    queue: BTreeMap<(Millis, u64), (ServerId, ServerId, PeerMessage)>,
    link_last: BTreeMap<(ServerId, ServerId), Millis>,
    seq: u64,
    /// Cut directed links.
    pub cut: BTreeSet<(ServerId, ServerId)>,
    next_propose: Millis,
    payload: u64,
    // ---- checker state ----
    /// The one sequence of applied transactions: zxid → (bytes, digest after).
    pub global: BTreeMap<Zxid, (Vec<u8>, u64)>,
    /// Epoch → the leader that established it.
    pub established: BTreeMap<Epoch, ServerId>,
    pub trace: VecDeque<String>,
    pub events: Vec<(ServerId, ZabEvent)>,
    pub proposed: u64,
    pub restarts: u64,
}

const TRACE_TAIL: usize = 400;

impl Cluster {
    pub fn new(cfg: Config, seed: u64) -> Cluster {
        let mut c = Cluster {
            now: Millis(1_000_000),
            rng: Rng::new(seed),
            nodes: BTreeMap::new(),
            disks: BTreeMap::new(),
            queue: BTreeMap::new(),
            link_last: BTreeMap::new(),
            seq: 0,
            cut: BTreeSet::new(),
            next_propose: Millis(0),
            payload: 0,
            global: BTreeMap::new(),
            established: BTreeMap::new(),
            trace: VecDeque::new(),
            events: Vec::new(),
            proposed: 0,
            restarts: 0,
            cfg,
        };
        for id in c.ids() {
            c.disks.insert(id, Disk::default());
            c.nodes.insert(id, None);
        }
        for id in c.ids() {
            c.boot(id);
        }
        c
    }

    pub fn ids(&self) -> Vec<ServerId> {
        (1..=self.cfg.servers).map(ServerId).collect()
    }

    fn replica_config(&self, id: ServerId) -> ReplicaConfig {
        let mut r = ReplicaConfig::new(id, self.ids());
        r.tick_ms = self.cfg.tick_ms;
        r.init_limit = self.cfg.init_limit;
        r.sync_limit = self.cfg.sync_limit;
        r.diff_window = self.cfg.diff_window;
        r.max_counter = self.cfg.max_counter;
        r.sync_batch = 7;
        r.election = ElectionTiming {
            finalize_wait_ms: 200,
            min_notification_interval_ms: 200,
            max_notification_interval_ms: 1600,
        };
        r
    }

    pub fn log(&mut self, line: String) {
        if self.trace.len() >= TRACE_TAIL {
            self.trace.pop_front();
        }
        self.trace
            .push_back(format!("{:>8} {line}", self.now.0 - 1_000_000));
    }

    /// Fail with context.
    pub fn fail(&self, why: String) -> ! {
        let tail: Vec<&String> = self.trace.iter().collect();
        panic!(
            "{why}\n--- trace tail ---\n{}",
            tail.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    /// Start (or restart) a server from its disk.
    pub fn boot(&mut self, id: ServerId) {
        let disk = self.disks[&id].clone();
        let (snap_zxid, image) = match &disk.snapshot {
            Some((z, bytes)) => (*z, snapshot::read(bytes).expect("our own snapshot reads")),
            None => (Zxid::ZERO, Image::new()),
        };
        let mut replica =
            Replica::quorum(self.replica_config(id), disk.epochs, snap_zxid, self.now);
        for e in &disk.log {
            if e.hdr.zxid > snap_zxid {
                replica.replay(e.clone());
            }
        }
        let mut host = TestHost::new(image);
        replica.start(self.now, self.rng.next(), &mut host);
        self.log(format!(
            "s{} boots: snapshot {snap_zxid}, log to {}, epochs {:?}",
            id.0,
            disk.tail(),
            disk.epochs
        ));
        self.nodes.insert(
            id,
            Some(Node {
                replica,
                host,
                applied_last: snap_zxid,
            }),
        );
        self.drain(id);
    }

    /// Power loss: unsynced storage is gone, and so is everything in flight to or from it.
    pub fn crash(&mut self, id: ServerId) {
        self.nodes.insert(id, None);
        let lost = self.disks.get_mut(&id).map_or(0, |d| {
            let n = d.pending.len();
            d.pending.clear();
            n
        });
        self.queue.retain(|_, (f, t, _)| *f != id && *t != id);
        self.log(format!("s{} crashes, {lost} storage ops lost", id.0));
    }

    pub fn restart(&mut self, id: ServerId) {
        self.restarts += 1;
        self.boot(id);
    }

    pub fn is_up(&self, id: ServerId) -> bool {
        self.nodes[&id].is_some()
    }

    /// Cut both directions between two groups.
    pub fn partition(&mut self, a: &[ServerId], b: &[ServerId]) {
        for &x in a {
            for &y in b {
                self.cut_link(x, y);
                self.cut_link(y, x);
            }
        }
    }

    pub fn cut_link(&mut self, from: ServerId, to: ServerId) {
        self.cut.insert((from, to));
        self.queue.retain(|_, (f, t, _)| !(*f == from && *t == to));
        self.log(format!("cut s{}->s{}", from.0, to.0));
    }

    pub fn heal(&mut self) {
        self.cut.clear();
        self.log("heal all links".into());
    }

    fn send(&mut self, from: ServerId, to: ServerId, msg: PeerMessage) {
        if self.cut.contains(&(from, to)) || !self.is_up(to) {
            return;
        }
        let (lo, hi) = self.cfg.msg_delay_ms;
        let mut at = self.now.plus(self.rng.range(lo, hi));
        if let Some(last) = self.link_last.get(&(from, to)) {
            at = at.max(*last);
        }
        self.link_last.insert((from, to), at);
        self.seq += 1;
        self.queue.insert((at, self.seq), (from, to, msg));
    }

    /// Carry out a server's outputs and check what it did.
    fn drain(&mut self, id: ServerId) {
        loop {
            let Some(node) = self.nodes.get_mut(&id).and_then(|n| n.as_mut()) else {
                return;
            };
            let Some(out) = node.replica.poll_output() else {
                break;
            };
            match out {
                ReplicaOutput::Send { to, msg } => {
                    if let PeerMessage::Zab(m) = &msg {
                        if let ZabBody::Ack { zxid } = m.body {
                            let disk = &self.disks[&id];
                            if !disk.holds(zxid) || disk.tail() < zxid {
                                self.fail(format!(
                                    "s{} ACKs {zxid} but its disk holds only up to {} (or not that entry)",
                                    id.0,
                                    disk.tail()
                                ));
                            }
                        }
                        self.log(format!("s{}->s{} {}", id.0, to.0, brief(&m.body)));
                    }
                    self.send(id, to, msg);
                }
                ReplicaOutput::Storage { token, op } => {
                    let (lo, hi) = self.cfg.disk_delay_ms;
                    let d = self.disks.get_mut(&id).expect("disk");
                    let mut at = self.now.plus(self.rng.range(lo, hi));
                    if let Some((last, _, _)) = d.pending.back() {
                        at = at.max(*last);
                    }
                    d.pending.push_back((at, token, op));
                }
            }
        }
        self.check_node(id);
    }

    fn check_node(&mut self, id: ServerId) {
        let node = self.nodes.get_mut(&id).unwrap().as_mut().unwrap();
        node.replica.history().assert_invariants();
        let changes = std::mem::take(&mut node.host.changes);
        let mut events = Vec::new();
        while let Some(e) = node.replica.poll_event() {
            events.push(e);
        }
        for change in changes {
            let (zxid, bytes, digest) = match change {
                Change::Installed(z) => {
                    self.nodes
                        .get_mut(&id)
                        .unwrap()
                        .as_mut()
                        .unwrap()
                        .applied_last = z;
                    self.log(format!("s{} installs snapshot {z}", id.0));
                    continue;
                }
                Change::Applied(z, b, d) => (z, b, d),
            };
            let node = self.nodes.get_mut(&id).unwrap().as_mut().unwrap();
            let prev = node.applied_last;
            node.applied_last = zxid;
            match self.global.get(&zxid) {
                Some((b, d)) => {
                    if *b != bytes {
                        self.fail(format!("s{} applied a different entry at {zxid}", id.0));
                    }
                    if *d != digest {
                        self.fail(format!("s{} digest differs at {zxid}", id.0));
                    }
                }
                None => {
                    // A new global entry must extend the sequence right after `prev`.
                    let global_last = self
                        .global
                        .keys()
                        .next_back()
                        .copied()
                        .unwrap_or(Zxid::ZERO);
                    if prev != global_last {
                        self.fail(format!(
                            "s{} applied {zxid} after {prev}, but the global sequence ends at {global_last}",
                            id.0
                        ));
                    }
                    self.global.insert(zxid, (bytes, digest));
                }
            }
            // Continuation: the entry right after `prev` in the global sequence.
            if let Some((&next, _)) = self.global.range(Zxid(prev.0 + 1)..).next() {
                if next != zxid {
                    self.fail(format!(
                        "s{} applied {zxid} after {prev}, skipping {next}",
                        id.0
                    ));
                }
            }
        }
        for e in events {
            self.log(format!("s{} {e:?}", id.0));
            if let ZabEvent::Established { epoch, last } = &e {
                if let Some(other) = self.established.insert(*epoch, id) {
                    if other != id {
                        self.fail(format!(
                            "epoch {} established by s{} and s{}",
                            epoch.0, other.0, id.0
                        ));
                    }
                }
                let node = self.nodes[&id].as_ref().unwrap();
                let h = node.replica.history();
                for (z, (bytes, _)) in &self.global {
                    // Entries up to the base are part of the state it started from.
                    if *z <= h.base() {
                        continue;
                    }
                    if h.get(*z).is_none_or(|e| e.entry.to_bytes() != *bytes) {
                        self.fail(format!(
                            "s{} established epoch {} up to {last} without committed {z}",
                            id.0, epoch.0
                        ));
                    }
                }
            }
            self.events.push((id, e));
        }
    }

    /// The next time something happens.
    fn next_time(&self) -> Option<Millis> {
        let mut t: Option<Millis> = self.queue.keys().next().map(|k| k.0);
        let mut take = |x: Option<Millis>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |y| y.min(x)));
            }
        };
        for (id, n) in &self.nodes {
            if let Some(n) = n {
                take(n.replica.next_deadline());
                take(self.disks[id].pending.front().map(|p| p.0));
            }
        }
        if self.cfg.propose_every_ms > 0 {
            take(Some(self.next_propose));
        }
        t
    }

    /// Run until `until` (virtual ms since start of the run, absolute time).
    pub fn run_until(&mut self, until: Millis) {
        let mut steps = 0u64;
        while let Some(t) = self.next_time() {
            if t > until {
                break;
            }
            steps += 1;
            assert!(steps < 5_000_000, "runaway");
            self.now = self.now.max(t);
            self.step();
        }
        self.now = self.now.max(until);
    }

    pub fn run_for(&mut self, ms: i64) {
        let until = self.now.plus(ms);
        self.run_until(until);
    }

    fn step(&mut self) {
        let now = self.now;
        // Messages due.
        while let Some((&key, _)) = self.queue.iter().next() {
            if key.0 > now {
                break;
            }
            let (from, to, msg) = self.queue.remove(&key).unwrap();
            if let Some(node) = self.nodes.get_mut(&to).and_then(|n| n.as_mut()) {
                node.replica.on_message(now, from, msg, &mut node.host);
                self.drain(to);
            }
        }
        // Storage completions due, in order.
        for id in self.ids() {
            while let Some(&(at, token, _)) = self.disks[&id].pending.front() {
                if at > now || !self.is_up(id) {
                    break;
                }
                let (_, _, op) = self
                    .disks
                    .get_mut(&id)
                    .unwrap()
                    .pending
                    .pop_front()
                    .unwrap();
                self.disks.get_mut(&id).unwrap().complete(op);
                let node = self.nodes.get_mut(&id).unwrap().as_mut().unwrap();
                node.replica.persisted(now, token, &mut node.host);
                self.drain(id);
            }
        }
        // Timers.
        for id in self.ids() {
            if let Some(node) = self.nodes.get_mut(&id).and_then(|n| n.as_mut()) {
                if node.replica.next_deadline().is_some_and(|d| d <= now) {
                    node.replica.tick(now, &mut node.host);
                    self.drain(id);
                }
            }
        }
        // Workload.
        if self.cfg.propose_every_ms > 0 && now >= self.next_propose {
            self.next_propose = now.plus(self.cfg.propose_every_ms);
            self.propose_on_leaders();
        }
    }

    /// Every server that believes it leads proposes 1-3 entries.
    pub fn propose_on_leaders(&mut self) {
        for id in self.ids() {
            let n = self.rng.range(1, 3);
            let Some(node) = self.nodes.get_mut(&id).and_then(|n| n.as_mut()) else {
                continue;
            };
            if !matches!(node.host.role, Role::Leading { .. }) {
                continue;
            }
            let mut entries = Vec::new();
            for _ in 0..n {
                let zxid = Zxid(node.host.last_prepared.0 + 1);
                node.host.last_prepared = zxid;
                self.payload += 1;
                entries.push((entry(zxid, self.payload), None));
            }
            self.proposed += entries.len() as u64;
            node.replica.propose(self.now, entries, &mut node.host);
            self.drain(id);
        }
    }

    pub fn leaders(&self) -> Vec<ServerId> {
        self.nodes
            .iter()
            .filter(|(_, n)| {
                n.as_ref()
                    .is_some_and(|n| matches!(n.host.role, Role::Leading { .. }))
            })
            .map(|(id, _)| *id)
            .collect()
    }

    pub fn serving(&self) -> Vec<ServerId> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.as_ref().is_some_and(|n| n.host.role.serving()))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Every live server serves, one of them leads, and all applied the same last zxid.
    pub fn converged(&self) -> bool {
        let live: Vec<&Node> = self.nodes.values().flatten().collect();
        if live.iter().any(|n| !n.host.role.serving()) || self.leaders().len() != 1 {
            return false;
        }
        let leader = &self.nodes[&self.leaders()[0]].as_ref().unwrap();
        let last = leader.replica.history().last();
        live.iter()
            .all(|n| n.applied_last == last && n.replica.history().last() == last)
    }

    /// Run (without new proposals) until converged, or fail after `limit_ms`.
    pub fn settle(&mut self, limit_ms: i64) {
        let saved = self.cfg.propose_every_ms;
        self.cfg.propose_every_ms = 0;
        let deadline = self.now.plus(limit_ms);
        while self.now < deadline {
            self.run_for(50);
            if self.converged() {
                self.cfg.propose_every_ms = saved;
                self.next_propose = self.now;
                return;
            }
        }
        let states: Vec<String> = self
            .nodes
            .iter()
            .map(|(id, n)| match n {
                None => format!("s{} down", id.0),
                Some(n) => format!(
                    "s{} {:?} applied {} log {} durable {}",
                    id.0,
                    n.host.role,
                    n.applied_last,
                    n.replica.history().last(),
                    n.replica.durable()
                ),
            })
            .collect();
        self.fail(format!("did not converge within {limit_ms} ms: {states:?}"));
    }

    /// Events of one kind seen so far.
    pub fn count(&self, f: impl Fn(&ZabEvent) -> bool) -> usize {
        self.events.iter().filter(|(_, e)| f(e)).count()
    }
}

/// A distinct entry for `zxid`: a new node under the root with a payload.
pub fn entry(zxid: Zxid, payload: u64) -> LogEntry {
    LogEntry {
        hdr: TxnHeader {
            session: SessionId(0),
            cxid: 0,
            zxid,
            time: 1_700_000_000_000,
            op: corral_core::txn::txn_op::CREATE,
        },
        txn: Txn::Create {
            path: format!("/n{payload}"),
            data: Some(payload.to_be_bytes().to_vec()),
            acl: vec![Acl {
                perms: 31,
                id: Id::new("world", "anyone"),
            }],
            kind: CreateKind::Persistent,
            parent_cversion: 0,
        },
    }
}

fn brief(b: &ZabBody) -> String {
    match b {
        ZabBody::Propose { prev, entries } => format!(
            "PROPOSE after {prev} {:?}",
            entries
                .iter()
                .map(|e| LogEntry::from_bytes(&e.bytes).map(|e| e.hdr.zxid).ok())
                .collect::<Vec<_>>()
        ),
        ZabBody::Snap { zxid, bytes } => format!("SNAP {zxid} ({} bytes)", bytes.len()),
        other => format!("{other:?}"),
    }
}
