//! Turning the scenario's fault list into actions on the turmoil world, between steps.
//!
//! Hosts are numbered servers first, then clients. Every directed link carries a count of
//! reasons to be cut (a partition, a power loss...); a direction is repaired only when no
//! reason is left. Holds and delay spikes stack the same way. Faults that name "the
//! leader" or "a follower" are resolved when they start, from the servers' roles; a crash
//! during synchronization is armed and fires at the next synchronization event a server
//! reports.
//!
//! A power loss partitions the server from every host first, then crashes it (turmoil runs
//! Drop impls, but the partition swallows the FIN), then crashes its disk (the unsynced
//! tail is lost, or torn). At `heal_ms` the controller ends whatever is still in force
//! and restarts every server that is down: the liveness phase starts.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use corral_core::server::Role;
use turmoil::Sim;

use crate::client_host::Moves;
use crate::cluster::SharedCluster;
use crate::coverage::SOON_AFTER_SNAPSHOT_MS;
use crate::disk::DiskSet;
use crate::rng::Rng;
use crate::scenario::{client_host, server_host, FaultKind, Scenario, Target};
use crate::trace::Trace;

/// One thing the controller does at a point in simulated time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Fault `id` starts.
    Start(usize),
    /// Fault `id` ends.
    End(usize),
    /// A flapping link (fault `id`) goes down (`cut`) or up.
    Flap { id: usize, cut: bool },
    /// Halfway through a lagging follower (fault `id`), when the follower is behind: its
    /// client is cut off from every other server and moves its session to it.
    Move(usize),
}

/// Every action of the scenario with its time, in time order (ties keep fault order).
pub fn timeline(sc: &Scenario) -> Vec<(u64, Action)> {
    let mut out = Vec::new();
    for (id, f) in sc.faults.iter().enumerate() {
        out.push((f.at_ms, Action::Start(id)));
        if let FaultKind::Flap { period_ms, .. } = f.kind {
            let mut t = f.at_ms + period_ms;
            let mut cut = false;
            while t < f.end_ms() {
                out.push((t, Action::Flap { id, cut }));
                cut = !cut;
                t += period_ms;
            }
        }
        if let FaultKind::LaggingFollower { duration_ms, .. } = f.kind {
            out.push((f.at_ms + duration_ms / 2, Action::Move(id)));
        }
        if !matches!(f.kind, FaultKind::CrashInSync { .. }) {
            out.push((f.end_ms(), Action::End(id)));
        }
    }
    out.sort_by_key(|(t, _)| *t);
    out
}

/// Counts of what was injected, for the summary and the coverage counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    pub crashes: u32,
    pub restarts: u32,
    pub torn_tails: u32,
    pub lost_unsynced_bytes: u64,
    pub partitions: u32,
    pub delay_spikes: u32,
    pub holds: u32,
    /// Crash faults not applied: the server was already down, or there was no leader
    /// (or follower) to crash, or an armed crash saw no synchronization.
    pub skipped: u32,
    /// Crashes that threw unsynced bytes away.
    pub lost_unsynced: u32,
    /// Crashes while a storage append (and so its reply or ACK) was not yet durable.
    pub before_ack: u32,
    /// Crashes at most `coverage::SOON_AFTER_SNAPSHOT_MS` after a snapshot.
    pub after_snapshot: u32,
    /// Crashes of a learner between receiving a synchronization and serving, or of a
    /// leader with a synchronization sent to a learner that is not serving yet.
    pub during_sync: u32,
    /// Crashes of a follower that had acknowledged a zxid beyond what it knew committed.
    pub acked_uncommitted: u32,
    /// Leader isolations applied.
    pub isolations: u32,
}

/// What a started fault did, to undo it.
#[derive(Clone, Debug)]
enum Active {
    /// A power loss of this server.
    Down(usize),
    /// Directed host pairs cut.
    Cuts(Vec<(usize, usize)>),
    /// A flapping link: its pairs and whether they are cut now.
    Flap(Vec<(usize, usize)>, bool),
    /// A held host pair.
    Held(usize, usize),
    /// Raised latency on these host pairs.
    Spikes(Vec<(usize, usize)>, u64),
    /// A lagging follower: the cut links of its client and the raised latency.
    Lag(Vec<(usize, usize)>, Vec<(usize, usize)>, u64),
}

/// The controller's view of the faults in force.
pub struct Controller {
    sc: Rc<Scenario>,
    disks: DiskSet,
    trace: Trace,
    cluster: SharedCluster,
    moves: Moves,
    rng: Rng,
    hosts: Vec<String>,
    cuts: BTreeMap<(usize, usize), u32>,
    held: BTreeMap<(usize, usize), u32>,
    spikes: BTreeMap<(usize, usize), Vec<u64>>,
    /// Servers powered off, and the fault that did it.
    down: BTreeMap<usize, usize>,
    active: BTreeMap<usize, Active>,
    /// Armed crash-in-sync faults: id → armed until (ms).
    armed: BTreeMap<usize, u64>,
    /// Restarts of servers crashed by an armed fault: (at ms, fault id).
    restarts: Vec<(u64, usize)>,
    /// Sync events already looked at.
    sync_seen: usize,
    healed: bool,
    /// Per client: since when it has been cut off from every server, and the intervals so
    /// far (for `expiry-in-partition`).
    isolated_since: BTreeMap<usize, u64>,
    pub isolation: Vec<(usize, u64, u64)>,
    pub stats: FaultStats,
}

impl Controller {
    pub fn new(
        sc: Rc<Scenario>,
        disks: DiskSet,
        trace: Trace,
        cluster: SharedCluster,
        moves: Moves,
    ) -> Controller {
        let mut hosts: Vec<String> = (0..sc.servers).map(server_host).collect();
        hosts.extend((0..sc.clients).map(client_host));
        Controller {
            rng: Rng::derive(sc.seed, "faults"),
            sc,
            disks,
            trace,
            cluster,
            moves,
            hosts,
            cuts: BTreeMap::new(),
            held: BTreeMap::new(),
            spikes: BTreeMap::new(),
            down: BTreeMap::new(),
            active: BTreeMap::new(),
            armed: BTreeMap::new(),
            restarts: Vec::new(),
            sync_seen: 0,
            healed: false,
            isolated_since: BTreeMap::new(),
            isolation: Vec::new(),
            stats: FaultStats::default(),
        }
    }

    fn servers(&self) -> std::ops::Range<usize> {
        0..self.sc.servers
    }

    fn client(&self, c: usize) -> usize {
        self.sc.servers + c
    }

    fn note(&self, ms: u64, what: String) {
        self.trace.event(ms, "faults", what);
    }

    // ---- links -------------------------------------------------------------------

    /// Put the turmoil link between hosts `a` and `b` in the state the counts say.
    fn sync_pair(&self, sim: &Sim, a: usize, b: usize) {
        let (x, y) = (a.min(b), a.max(b));
        let (hx, hy) = (self.hosts[x].as_str(), self.hosts[y].as_str());
        if self.held.get(&(x, y)).copied().unwrap_or(0) > 0 {
            sim.hold(hx, hy);
        } else {
            sim.repair(hx, hy);
        }
        for (f, t) in [(x, y), (y, x)] {
            if self.cuts.get(&(f, t)).copied().unwrap_or(0) > 0 {
                sim.partition_oneway(self.hosts[f].as_str(), self.hosts[t].as_str());
            }
        }
    }

    fn cut(&mut self, sim: &Sim, from: usize, to: usize, ms: u64) {
        let n = self.cuts.entry((from, to)).or_insert(0);
        *n += 1;
        if *n == 1 {
            sim.partition_oneway(self.hosts[from].as_str(), self.hosts[to].as_str());
        }
        self.track_isolation(from.max(to), ms);
    }

    fn uncut(&mut self, sim: &Sim, from: usize, to: usize, ms: u64) {
        let n = self
            .cuts
            .get_mut(&(from, to))
            .expect("repairing a cut link");
        *n -= 1;
        if *n == 0 {
            self.cuts.remove(&(from, to));
            self.sync_pair(sim, from, to);
        }
        self.track_isolation(from.max(to), ms);
    }

    fn cut_both(&mut self, sim: &Sim, pairs: &[(usize, usize)], ms: u64) -> Vec<(usize, usize)> {
        let mut done = Vec::new();
        for &(a, b) in pairs {
            self.cut(sim, a, b, ms);
            self.cut(sim, b, a, ms);
            done.push((a, b));
            done.push((b, a));
        }
        done
    }

    /// Whether client host `h` is now cut (in either direction) from every server.
    fn track_isolation(&mut self, h: usize, ms: u64) {
        if h < self.sc.servers {
            return;
        }
        let c = h - self.sc.servers;
        let cut = |s: usize| {
            self.cuts.get(&(s, h)).is_some_and(|n| *n > 0)
                || self.cuts.get(&(h, s)).is_some_and(|n| *n > 0)
        };
        let isolated = self.servers().all(cut);
        match (isolated, self.isolated_since.get(&c).copied()) {
            (true, None) => {
                self.isolated_since.insert(c, ms);
            }
            (false, Some(since)) => {
                self.isolated_since.remove(&c);
                self.isolation.push((c, since, ms));
            }
            _ => {}
        }
    }

    fn set_latency(&self, sim: &Sim, a: usize, b: usize) {
        let key = (a.min(b), a.max(b));
        let max = self
            .spikes
            .get(&key)
            .and_then(|s| s.iter().max().copied())
            .unwrap_or(self.sc.latency_ms.1);
        sim.set_link_max_message_latency(
            self.hosts[a].as_str(),
            self.hosts[b].as_str(),
            Duration::from_millis(max),
        );
    }

    // ---- servers -----------------------------------------------------------------

    fn resolve(&mut self, t: Target) -> Option<usize> {
        let c = self.cluster.borrow();
        match t {
            Target::Server(s) => Some(s),
            Target::Leader => c.leader(),
            Target::Follower => {
                let f: Vec<usize> = self
                    .servers()
                    .filter(|i| {
                        c.status[*i].up && matches!(c.status[*i].role, Role::Following { .. })
                    })
                    .collect();
                drop(c);
                (!f.is_empty()).then(|| f[self.rng.below(f.len())])
            }
        }
    }

    /// Power loss of server `s` (fault `id`).
    fn power_off(&mut self, sim: &mut Sim, ms: u64, s: usize, id: usize, tear: bool) -> bool {
        if self.down.contains_key(&s) {
            self.stats.skipped += 1;
            self.note(
                ms,
                format!("crash #{id} of {} skipped: already down", self.hosts[s]),
            );
            return false;
        }
        let others: Vec<(usize, usize)> = (0..self.hosts.len())
            .filter(|h| *h != s)
            .map(|h| (s, h))
            .collect();
        let cuts = self.cut_both(sim, &others, ms);
        self.active.insert(usize::MAX - s, Active::Cuts(cuts));
        self.down.insert(s, id);
        sim.crash(self.hosts[s].as_str());
        let report = self
            .disks
            .with(&self.hosts[s], |d| d.crash(&mut self.rng, tear));
        self.stats.crashes += 1;
        self.stats.torn_tails += u32::from(report.torn);
        self.stats.lost_unsynced_bytes += report.lost_bytes as u64;
        self.stats.lost_unsynced += u32::from(report.lost_bytes > 0);
        let mut c = self.cluster.borrow_mut();
        let st = c.status[s].clone();
        self.stats.before_ack += u32::from(st.pending_appends > 0);
        self.stats.after_snapshot += u32::from(
            st.last_snapshot_ms
                .is_some_and(|t| ms.saturating_sub(t) <= SOON_AFTER_SNAPSHOT_MS),
        );
        let in_sync = st.syncing
            || st
                .syncs_sent
                .keys()
                .any(|l| !matches!(c.status[*l].role, Role::Following { .. }));
        self.stats.during_sync += u32::from(in_sync);
        let acked_uncommitted = matches!(st.role, Role::Following { .. } | Role::Looking)
            && st.max_acked > st.committed;
        self.stats.acked_uncommitted += u32::from(acked_uncommitted);
        c.on_crash(s);
        drop(c);
        self.note(
            ms,
            format!(
                "power off {} (#{id}, {:?}): lost {} unsynced bytes, kept {}, torn {}, garbage {}{}{}{}",
                self.hosts[s],
                st.role,
                report.lost_bytes,
                report.kept_bytes,
                report.torn,
                report.garbage_bytes,
                if st.pending_appends > 0 { ", appends pending" } else { "" },
                if in_sync { ", during sync" } else { "" },
                if acked_uncommitted { ", acked beyond commit" } else { "" },
            ),
        );
        true
    }

    fn power_on(&mut self, sim: &mut Sim, ms: u64, s: usize) {
        let id = self.down.remove(&s).expect("a server that is down");
        self.note(ms, format!("power on {} (#{id})", self.hosts[s]));
        sim.bounce(self.hosts[s].as_str());
        if let Some(Active::Cuts(cuts)) = self.active.remove(&(usize::MAX - s)) {
            for (a, b) in cuts {
                self.uncut(sim, a, b, ms);
            }
        }
        self.stats.restarts += 1;
    }

    // ---- the schedule ------------------------------------------------------------

    /// Do `action` at simulated time `ms`.
    pub fn apply(&mut self, sim: &mut Sim, ms: u64, action: &Action) {
        match action {
            Action::Start(id) => self.start(sim, ms, *id),
            Action::End(id) => self.end(sim, ms, *id),
            Action::Move(id) => {
                let Some(Active::Lag(_, pairs, latency_ms)) = self.active.get(id).cloned() else {
                    return;
                };
                let FaultKind::LaggingFollower { client, .. } = self.sc.faults[*id].kind else {
                    unreachable!("a move belongs to a lagging follower")
                };
                let (l, f) = pairs[0];
                // Preferably a client of the leader: it has seen the newest state.
                let of_leader = self.moves.clients_of(l);
                let client = if of_leader.is_empty() {
                    client
                } else {
                    of_leader[client % of_leader.len()]
                };
                let c = self.client(client);
                self.note(
                    ms,
                    format!(
                        "{} reaches only lagging {} and moves its session there",
                        client_host(client),
                        self.hosts[f]
                    ),
                );
                let others: Vec<(usize, usize)> =
                    self.servers().filter(|s| *s != f).map(|s| (c, s)).collect();
                let cuts = self.cut_both(sim, &others, ms);
                self.active
                    .insert(*id, Active::Lag(cuts, pairs, latency_ms));
                self.moves.order(client, f);
            }
            Action::Flap { id, cut } => {
                let Some(Active::Flap(pairs, is_cut)) = self.active.get(id).cloned() else {
                    return;
                };
                if *cut != is_cut {
                    for (a, b) in &pairs {
                        if *cut {
                            self.cut(sim, *a, *b, ms);
                        } else {
                            self.uncut(sim, *a, *b, ms);
                        }
                    }
                    self.active.insert(*id, Active::Flap(pairs, *cut));
                }
            }
        }
    }

    fn start(&mut self, sim: &mut Sim, ms: u64, id: usize) {
        let f = self.sc.faults[id].clone();
        match f.kind {
            FaultKind::Crash { target, tear, .. } => {
                let Some(s) = self.resolve(target) else {
                    self.stats.skipped += 1;
                    self.note(ms, format!("crash #{id} of {target:?} skipped: none"));
                    return;
                };
                if self.power_off(sim, ms, s, id, tear) {
                    self.active.insert(id, Active::Down(s));
                }
            }
            FaultKind::CrashInSync { armed_ms, .. } => {
                self.note(
                    ms,
                    format!("crash #{id} armed for the next synchronization"),
                );
                self.armed.insert(id, ms + armed_ms);
                self.sync_seen = self.cluster.borrow().sync_events.len();
            }
            FaultKind::Partition { client, server, .. } => {
                let c = self.client(client);
                let servers: Vec<usize> = match server {
                    Some(s) => vec![s],
                    None => self.servers().collect(),
                };
                self.note(
                    ms,
                    format!("partition {} | {servers:?}", client_host(client)),
                );
                let pairs: Vec<(usize, usize)> = servers.into_iter().map(|s| (c, s)).collect();
                let cuts = self.cut_both(sim, &pairs, ms);
                self.active.insert(id, Active::Cuts(cuts));
                self.stats.partitions += 1;
            }
            FaultKind::ServerLink { a, b, one_way, .. } => {
                self.note(
                    ms,
                    format!(
                        "cut {} {} {}",
                        self.hosts[a],
                        if one_way { "->" } else { "<->" },
                        self.hosts[b]
                    ),
                );
                let cuts = if one_way {
                    self.cut(sim, a, b, ms);
                    vec![(a, b)]
                } else {
                    self.cut_both(sim, &[(a, b)], ms)
                };
                self.active.insert(id, Active::Cuts(cuts));
                self.stats.partitions += 1;
            }
            FaultKind::IsolateLeader { .. } => {
                let Some(l) = self.resolve(Target::Leader) else {
                    self.note(ms, format!("isolate leader #{id} skipped: no leader"));
                    return;
                };
                self.note(
                    ms,
                    format!("isolate leader {} from the servers", self.hosts[l]),
                );
                let pairs: Vec<(usize, usize)> =
                    self.servers().filter(|s| *s != l).map(|s| (l, s)).collect();
                let cuts = self.cut_both(sim, &pairs, ms);
                self.active.insert(id, Active::Cuts(cuts));
                self.stats.partitions += 1;
                self.stats.isolations += 1;
            }
            FaultKind::Split { ref minority, .. } => {
                self.note(ms, format!("split servers {minority:?} from the others"));
                let n = self.sc.servers;
                let pairs: Vec<(usize, usize)> = minority
                    .iter()
                    .flat_map(|m| {
                        (0..n)
                            .filter(|s| !minority.contains(s))
                            .map(move |s| (*m, s))
                    })
                    .collect();
                let cuts = self.cut_both(sim, &pairs, ms);
                self.active.insert(id, Active::Cuts(cuts));
                self.stats.partitions += 1;
            }
            FaultKind::Flap { a, b, .. } => {
                self.note(ms, format!("flap {} <-> {}", self.hosts[a], self.hosts[b]));
                let cuts = self.cut_both(sim, &[(a, b)], ms);
                self.active.insert(id, Active::Flap(cuts, true));
                self.stats.partitions += 1;
            }
            FaultKind::Hold { a, b, .. } => {
                self.note(ms, format!("hold {} <-> {}", self.hosts[a], self.hosts[b]));
                let key = (a.min(b), a.max(b));
                *self.held.entry(key).or_insert(0) += 1;
                self.sync_pair(sim, a, b);
                self.active.insert(id, Active::Held(a, b));
                self.stats.holds += 1;
            }
            FaultKind::Delay {
                client, latency_ms, ..
            } => {
                let clients: Vec<usize> = match client {
                    Some(c) => vec![c],
                    None => (0..self.sc.clients).collect(),
                };
                self.note(
                    ms,
                    format!("delay spike up to {latency_ms}ms for clients {clients:?}"),
                );
                let n = self.sc.servers;
                let pairs: Vec<(usize, usize)> = clients
                    .iter()
                    .flat_map(|c| (0..n).map(move |s| (s, n + c)))
                    .collect();
                self.spike(sim, id, pairs, latency_ms);
            }
            FaultKind::LaggingFollower {
                client, latency_ms, ..
            } => {
                let (Some(l), Some(f)) =
                    (self.resolve(Target::Leader), self.resolve(Target::Follower))
                else {
                    self.note(ms, format!("lagging follower #{id} skipped: no leader"));
                    return;
                };
                self.note(
                    ms,
                    format!(
                        "{} lags behind leader {} (up to {latency_ms}ms); {} will move there",
                        self.hosts[f],
                        self.hosts[l],
                        client_host(client)
                    ),
                );
                let pairs = vec![(l, f)];
                for &(a, b) in &pairs {
                    self.spikes
                        .entry((a.min(b), a.max(b)))
                        .or_default()
                        .push(latency_ms);
                    self.set_latency(sim, a, b);
                }
                self.active
                    .insert(id, Active::Lag(Vec::new(), pairs, latency_ms));
                self.stats.partitions += 1;
                self.stats.delay_spikes += 1;
            }
            FaultKind::ServerDelay { latency_ms, .. } => {
                self.note(
                    ms,
                    format!("delay spike up to {latency_ms}ms between servers"),
                );
                let n = self.sc.servers;
                let pairs: Vec<(usize, usize)> = (0..n)
                    .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
                    .collect();
                self.spike(sim, id, pairs, latency_ms);
            }
        }
    }

    fn spike(&mut self, sim: &Sim, id: usize, pairs: Vec<(usize, usize)>, latency_ms: u64) {
        for &(a, b) in &pairs {
            self.spikes
                .entry((a.min(b), a.max(b)))
                .or_default()
                .push(latency_ms);
            self.set_latency(sim, a, b);
        }
        self.active.insert(id, Active::Spikes(pairs, latency_ms));
        self.stats.delay_spikes += 1;
    }

    fn end(&mut self, sim: &mut Sim, ms: u64, id: usize) {
        let Some(a) = self.active.remove(&id) else {
            return;
        };
        match a {
            Active::Down(s) => {
                if self.down.get(&s) == Some(&id) {
                    self.power_on(sim, ms, s);
                }
            }
            Active::Cuts(cuts) | Active::Flap(cuts, true) => {
                self.note(
                    ms,
                    format!("fault #{id} over: heal {} cut links", cuts.len()),
                );
                for (a, b) in cuts {
                    self.uncut(sim, a, b, ms);
                }
            }
            Active::Flap(_, false) => self.note(ms, format!("flap #{id} over")),
            Active::Held(a, b) => {
                self.note(
                    ms,
                    format!("release {} <-> {}", self.hosts[a], self.hosts[b]),
                );
                let key = (a.min(b), a.max(b));
                let n = self.held.get_mut(&key).expect("held");
                *n -= 1;
                if *n == 0 {
                    self.held.remove(&key);
                    sim.release(self.hosts[a].as_str(), self.hosts[b].as_str());
                }
                self.sync_pair(sim, a, b);
            }
            Active::Spikes(pairs, latency_ms) => {
                self.note(ms, format!("delay spike of {latency_ms}ms over"));
                self.unspike(sim, &pairs, latency_ms);
            }
            Active::Lag(cuts, pairs, latency_ms) => {
                self.note(ms, format!("lagging follower #{id} over"));
                for (a, b) in cuts {
                    self.uncut(sim, a, b, ms);
                }
                self.unspike(sim, &pairs, latency_ms);
            }
        }
    }

    fn unspike(&mut self, sim: &Sim, pairs: &[(usize, usize)], latency_ms: u64) {
        for &(a, b) in pairs {
            let s = self
                .spikes
                .get_mut(&(a.min(b), a.max(b)))
                .expect("spike active");
            let i = s.iter().position(|x| *x == latency_ms).expect("spike");
            s.remove(i);
            self.set_latency(sim, a, b);
        }
    }

    /// Between steps: fire armed crashes at synchronization events, restart what they
    /// crashed, and at `heal_ms` heal everything.
    pub fn poll(&mut self, sim: &mut Sim, ms: u64) {
        let due: Vec<(u64, usize)> = self
            .restarts
            .iter()
            .copied()
            .filter(|r| r.0 <= ms)
            .collect();
        self.restarts.retain(|r| r.0 > ms);
        for (_, id) in due {
            self.end(sim, ms, id);
        }
        if !self.armed.is_empty() {
            self.fire_armed(sim, ms);
        }
        if !self.healed && ms >= self.sc.heal_ms {
            self.heal_all(sim, ms);
        }
    }

    fn fire_armed(&mut self, sim: &mut Sim, ms: u64) {
        let events: Vec<_> = {
            let c = self.cluster.borrow();
            let ev = c.sync_events[self.sync_seen..].to_vec();
            self.sync_seen = c.sync_events.len();
            ev
        };
        let ids: Vec<usize> = self.armed.keys().copied().collect();
        for id in ids {
            let until = self.armed[&id];
            let FaultKind::CrashInSync {
                learner,
                downtime_ms,
                tear,
                ..
            } = self.sc.faults[id].kind
            else {
                unreachable!("only crash-in-sync faults are armed")
            };
            let hit = events
                .iter()
                .find(|e| if learner { !e.sent } else { e.sent });
            if let Some(e) = hit {
                self.armed.remove(&id);
                let s = if learner {
                    e.learner
                } else {
                    e.leader.expect("SyncSent names its leader")
                };
                self.note(
                    ms,
                    format!(
                        "crash #{id} fires: {:?} sync of {} ({})",
                        e.kind,
                        self.hosts[e.learner],
                        if e.sent { "sent" } else { "received" }
                    ),
                );
                if self.power_off(sim, ms, s, id, tear) {
                    self.active.insert(id, Active::Down(s));
                    self.restarts.push((ms + downtime_ms, id));
                }
            } else if ms >= until {
                self.armed.remove(&id);
                self.stats.skipped += 1;
                self.note(ms, format!("crash #{id} disarmed: no synchronization"));
            }
        }
    }

    /// The liveness phase starts: end every fault still in force, restart every server
    /// that is down.
    pub fn heal_all(&mut self, sim: &mut Sim, ms: u64) {
        self.healed = true;
        self.note(ms, "heal everything: the liveness phase starts".to_owned());
        for id in std::mem::take(&mut self.armed).into_keys() {
            self.stats.skipped += 1;
            self.note(ms, format!("crash #{id} disarmed"));
        }
        self.restarts.clear();
        let ids: Vec<usize> = self
            .active
            .keys()
            .copied()
            .filter(|k| *k < self.sc.faults.len())
            .collect();
        for id in ids {
            self.end(sim, ms, id);
        }
        let down: Vec<usize> = self.down.keys().copied().collect();
        for s in down {
            self.power_on(sim, ms, s);
        }
        assert!(
            self.cuts.is_empty(),
            "cuts left after healing: {:?}",
            self.cuts
        );
        assert!(self.held.is_empty(), "holds left after healing");
        assert!(
            self.spikes.values().all(Vec::is_empty),
            "spikes left after healing"
        );
    }

    /// Close the isolation intervals still open at the end of the run.
    pub fn finish(&mut self, ms: u64) {
        for (c, since) in std::mem::take(&mut self.isolated_since) {
            self.isolation.push((c, since, ms));
        }
    }
}
