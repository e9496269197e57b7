//! One run of one seed: build the turmoil world (server hosts, client hosts, simulated
//! disks), step it while the fault controller applies the schedule, wait for the liveness
//! phase to converge, then check the history against the committed history and the
//! replication invariants.
//!
//! **The committed history** the checkers hold clients to is read from disks after the
//! run. A standalone server's is everything its disk ever made durable (the durable log
//! plus what snapshots purged, which the disk archives for the checkers). An ensemble's is
//! the converged leader's whole durable history: its archive (entries purged behind
//! snapshots, or, for a snapshot it installed from a leader, that leader's history up to
//! it) and its durable log. Convergence waits until every server's storage is idle at the
//! leader's last zxid, so that history is complete: it must follow from zxid 0 without a
//! gap, replay to the servers' common digest, hold every transaction any server applied
//! during the run, and equal every other server's disk history.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use corral_core::server::{LogEntry, Role};
use corral_core::tree::DataTree;
use corral_core::types::{SessionId, Zxid};
use corral_core::zab::history::follows;

use crate::check::plant::{self, Plant};
use crate::check::{self, Verdict};
use crate::client_host::{self, ClientCtx};
use crate::cluster::{entry_hash, Cluster, SharedCluster, ZabStats};
use crate::coverage::{self, Coverage};
use crate::disk::DiskSet;
use crate::faults::{self, Controller, FaultStats};
use crate::history::{Connect, History, Op, Outcome, SessionEnd, WatchEvent};
use crate::scenario::{client_host as client_name, server_host, Knobs, Scenario};
use crate::server_host::{self, ServerBug, ServerCtx};
use crate::trace::Trace;

/// The simulated wall clock starts here (2023-11-14T22:13:20Z), whatever the real date.
pub const EPOCH_SECS: u64 = 1_700_000_000;

/// How to run a seed.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub knobs: Knobs,
    /// Print every trace line as it happens.
    pub print_trace: bool,
    /// Trace peer messages too (changes the digest; debugging only).
    pub trace_peers: bool,
    /// Tests only: run a deliberately broken server driver.
    pub server_bug: Option<ServerBug>,
    /// Tests only: damage the history or log before checking.
    pub plant: Option<Plant>,
}

/// Operation counts.
#[derive(Clone, Debug, Default)]
pub struct OpStats {
    pub total: usize,
    pub reads: usize,
    pub writes: usize,
    pub ok: usize,
    pub failed: usize,
    pub unknown: usize,
    pub unanswered: usize,
    /// Writes without an answer whose txn is in the log / is not.
    pub unknown_writes_present: usize,
    pub unknown_writes_absent: usize,
    pub sessions: usize,
}

/// The raw material the checkers read: the history and the committed history.
#[derive(Clone, Debug, Default)]
pub struct RunData {
    pub ops: Vec<Op>,
    pub session_ends: Vec<SessionEnd>,
    pub watches: Vec<WatchEvent>,
    pub connects: Vec<Connect>,
    pub log: Vec<LogEntry>,
    pub heal_ms: u64,
    pub clients: usize,
    pub ensemble: bool,
}

impl RunData {
    /// The checkers' view of it.
    pub fn input(&self) -> check::Input<'_> {
        check::Input {
            ops: &self.ops,
            session_ends: &self.session_ends,
            watches: &self.watches,
            connects: &self.connects,
            log: &self.log,
            heal_ms: self.heal_ms,
            clients: self.clients,
            ensemble: self.ensemble,
        }
    }
}

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub seed: u64,
    pub knobs: Knobs,
    pub servers: usize,
    pub clients: usize,
    pub sim_ms: u64,
    pub wall: Duration,
    pub faults: FaultStats,
    pub ops: OpStats,
    pub server_starts: u32,
    pub log_entries: usize,
    pub last_zxid: Zxid,
    /// Replication counts (elections, syncs...).
    pub zab: ZabStats,
    /// When the liveness phase converged (simulated ms), if it did.
    pub converged_ms: Option<u64>,
    pub verdicts: Vec<Verdict>,
    /// The simulation itself failed (a host panicked or ran out of time).
    pub error: Option<String>,
    pub digest: u64,
    pub events: u64,
    pub planted: Option<String>,
    /// The coverage counters of this run.
    pub coverage: Coverage,
    pub trace_tail: Vec<String>,
    pub data: RunData,
}

impl RunReport {
    /// No simulation error and every checker passed.
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.verdicts.iter().all(Verdict::passed)
    }

    /// The one command that replays this run with its full trace.
    pub fn repro_command(&self) -> String {
        repro_command(self.seed, &self.knobs)
    }
}

/// The one command that replays `seed` under `knobs` with its full trace.
pub fn repro_command(seed: u64, knobs: &Knobs) -> String {
    let mut cmd = format!("cargo run -p corral-sim -- replay --seed {seed} --trace");
    let d = Knobs::default();
    if knobs.workload_ms != d.workload_ms {
        cmd.push_str(&format!(" --workload-ms {}", knobs.workload_ms));
    }
    if let Some(n) = knobs.servers {
        cmd.push_str(&format!(" --servers {n}"));
    }
    if knobs.faults != d.faults {
        cmd.push_str(" --no-faults");
    }
    match (knobs.isolate_syncs, knobs.tolerate_expiry) {
        (true, true) => cmd.push_str(" --known-core-bugs"),
        (true, false) => cmd.push_str(" --isolate-syncs"),
        (false, true) => cmd.push_str(" --tolerate-expiry"),
        (false, false) => {}
    }
    if let Some(b) = knobs.plant {
        cmd.push_str(&format!(" --plant {}", b.name()));
    }
    if let Some(keep) = &knobs.keep_faults {
        let list: Vec<String> = keep.iter().map(usize::to_string).collect();
        cmd.push_str(&format!(" --keep-faults '{}'", list.join(",")));
    }
    cmd
}

/// Whether the system has converged; otherwise what blocks it.
fn convergence(sc: &Scenario, cluster: &Cluster, history: &History) -> Result<(), String> {
    let mut blocked = Vec::new();
    let st = &cluster.status;
    for (i, s) in st.iter().enumerate() {
        if !s.up {
            blocked.push(format!("server{} is down", i + 1));
        }
    }
    if sc.ensemble.is_some() {
        match cluster.leader() {
            None => blocked.push("no single established leader".to_owned()),
            Some(l) => {
                let (lz, ld) = (st[l].applied, st[l].digest);
                let Role::Leading { epoch } = st[l].role else {
                    unreachable!("the leader leads")
                };
                for (i, s) in st.iter().enumerate().filter(|(_, s)| s.up) {
                    let follows_l = i == l
                        || s.role
                            == Role::Following {
                                leader: corral_core::types::ServerId(l as u64 + 1),
                                epoch,
                            };
                    if !follows_l {
                        blocked.push(format!("server{} is {:?}", i + 1, s.role));
                    } else if s.applied != lz || s.digest != ld || s.last_logged != lz {
                        blocked.push(format!(
                            "server{} applied {} (log to {}, digest {:016x}), the leader {} ({:016x})",
                            i + 1,
                            s.applied,
                            s.last_logged,
                            s.digest,
                            lz,
                            ld
                        ));
                    }
                }
            }
        }
    } else if st[0].up && st[0].role != Role::Standalone {
        blocked.push(format!("server1 is {:?}", st[0].role));
    }
    for (i, s) in st.iter().enumerate().filter(|(_, s)| s.up) {
        if s.pending_storage > 0 {
            blocked.push(format!(
                "server{} has {} storage operations pending",
                i + 1,
                s.pending_storage
            ));
        }
    }
    let outstanding = history.outstanding();
    if outstanding > 0 {
        blocked.push(format!("{outstanding} client requests outstanding"));
    }
    if blocked.is_empty() {
        Ok(())
    } else {
        Err(blocked.join("; "))
    }
}

/// Run `seed` and check it.
pub fn run(seed: u64, opts: &RunOptions) -> RunReport {
    let started = Instant::now();
    let sc = Rc::new(Scenario::from_seed(seed, &opts.knobs));
    let trace = Trace::new(opts.print_trace);
    let disks = DiskSet::default();
    let history = History::default();
    let moves = crate::client_host::Moves::new(sc.clients);
    let init_ms = sc
        .ensemble
        .as_ref()
        .map_or(0, |p| u64::from(p.init_limit) * sc.tick_time_ms as u64);
    let cluster: SharedCluster =
        Rc::new(std::cell::RefCell::new(Cluster::new(sc.servers, init_ms)));
    let server_bug = opts
        .server_bug
        .or_else(|| opts.knobs.plant.and_then(|b| b.server_bug()));
    let plant = opts
        .plant
        .or_else(|| opts.knobs.plant.and_then(|b| b.plant()));
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(EPOCH_SECS))
        .simulation_duration(Duration::from_millis(sc.end_ms() + 60_000))
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(sc.latency_ms.0))
        .max_message_latency(Duration::from_millis(sc.latency_ms.1))
        .tcp_capacity(1 << 12)
        .build();
    trace.event(0, "world", format!("seed {seed}: {sc:?}"));
    for i in 0..sc.servers {
        let ctx = ServerCtx {
            index: i,
            scenario: sc.clone(),
            disks: disks.clone(),
            trace: trace.clone(),
            bug: server_bug,
            cluster: cluster.clone(),
            trace_peers: opts.trace_peers,
        };
        sim.host(server_host(i), move || server_host::run(ctx.clone()));
    }
    for i in 0..sc.clients {
        let ctx = ClientCtx {
            index: i,
            scenario: sc.clone(),
            trace: trace.clone(),
            history: history.clone(),
            moves: moves.clone(),
        };
        sim.client(client_name(i), client_host::run(ctx));
    }
    let timeline = faults::timeline(&sc);
    let mut controller = Controller::new(
        sc.clone(),
        disks.clone(),
        trace.clone(),
        cluster.clone(),
        moves.clone(),
    );
    let mut next = 0;
    let mut error = None;
    let mut converged_ms = None;
    let mut clients_done = false;
    let mut blocked = String::new();
    loop {
        let now = sim.elapsed().as_millis() as u64;
        while next < timeline.len() && timeline[next].0 <= now {
            controller.apply(&mut sim, now, &timeline[next].1);
            next += 1;
        }
        controller.poll(&mut sim, now);
        if now >= sc.workload_ms && converged_ms.is_none() {
            match convergence(&sc, &cluster.borrow(), &history) {
                Ok(()) => {
                    converged_ms = Some(now);
                    trace.event(now, "world", "converged");
                }
                Err(why) => blocked = why,
            }
        }
        // Converged: stop here, so that the final checks see exactly the converged state
        // (no request is outstanding, so the history is complete).
        if converged_ms.is_some() || (clients_done && now >= sc.end_ms()) {
            break;
        }
        match sim.step() {
            Ok(done) => clients_done = done,
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    let sim_ms = sim.elapsed().as_millis() as u64;
    controller.finish(sim_ms);
    trace.event(sim_ms, "world", "run over");
    drop(sim);

    let mut live = Verdict::new("convergence");
    live.checked = 1;
    if converged_ms.is_none() && error.is_none() {
        live.fail(format!(
            "not converged by {} ms (workload end + {} ms): {blocked}",
            sc.end_ms(),
            sc.drain_ms
        ));
    }
    let mut log = committed_history(&sc, &disks, &cluster, converged_ms.is_some());
    let zab_verdicts = if sc.ensemble.is_some() {
        final_checks(&sc, &disks, &cluster, &log, converged_ms.is_some());
        cluster.borrow().verdicts()
    } else {
        // A standalone server has no replication invariants, but its delta snapshots are
        // cross-checked all the same.
        cluster
            .borrow()
            .verdicts()
            .into_iter()
            .filter(|v| v.name == "delta-snapshot")
            .collect()
    };
    let mut ops = history.ops();
    let ends = history.session_ends();
    let mut cov = Coverage::new();
    coverage::from_history(&controller.isolation, &ops, &log, &mut cov);
    let planted = plant.and_then(|p| plant::apply(p, &mut ops, &mut log));
    let planted = match (planted, server_bug) {
        (Some(p), _) => Some(p),
        (None, Some(b)) => Some(format!("server driver bug {b:?}")),
        (None, None) if plant.is_some() => Some("nothing to damage in this run".to_owned()),
        (None, None) => None,
    };
    let data = RunData {
        ops,
        session_ends: ends,
        watches: history.watches(),
        connects: history.connects(),
        log,
        heal_ms: sc.heal_ms,
        clients: sc.clients,
        ensemble: sc.ensemble.is_some(),
    };
    let mut verdicts = check::check_all(data.input());
    if opts.knobs.tolerate_expiry {
        tolerate_known_bugs(&mut verdicts);
    }
    verdicts.push(live);
    verdicts.extend(zab_verdicts);
    let stats = op_stats(&data.ops, &data.log);
    let f = &controller.stats;
    let c = cluster.borrow();
    cov.add(coverage::CRASH_LOST_UNSYNCED, u64::from(f.lost_unsynced));
    cov.add(coverage::CRASH_TORN_TAIL, u64::from(f.torn_tails));
    cov.add(coverage::CRASH_BEFORE_ACK, u64::from(f.before_ack));
    cov.add(coverage::CRASH_AFTER_SNAPSHOT, u64::from(f.after_snapshot));
    cov.add(coverage::SNAPSHOT_RECOVERY, c.stats.snapshot_recoveries);
    cov.add(coverage::SNAPSHOTS, c.stats.snapshots);
    cov.add(coverage::DELTA_SNAPSHOTS, c.stats.delta_snapshots);
    cov.add(coverage::WATCH_FIRED, history.watch_events());
    if sc.ensemble.is_some() {
        cov.add(coverage::ENSEMBLE_RUNS, 1);
        cov.add(coverage::CONTESTED_ELECTION, c.stats.contested);
        cov.add(coverage::SYNC_DIFF, c.stats.sync_diff);
        cov.add(coverage::SYNC_TRUNC, c.stats.sync_trunc);
        cov.add(coverage::SYNC_SNAP, c.stats.sync_snap);
        cov.add(coverage::CRASH_DURING_SYNC, u64::from(f.during_sync));
        cov.add(
            coverage::CRASH_ACKED_UNCOMMITTED,
            u64::from(f.acked_uncommitted),
        );
        cov.add(coverage::SESSION_MOVED, history.session_moves());
        cov.add(coverage::LEADER_CHANGES, c.stats.leader_changes);
    }
    RunReport {
        seed,
        knobs: opts.knobs.clone(),
        servers: sc.servers,
        clients: sc.clients,
        sim_ms,
        wall: started.elapsed(),
        faults: controller.stats.clone(),
        ops: stats,
        server_starts: c.status.iter().map(|s| s.incarnation).sum(),
        log_entries: data.log.len(),
        last_zxid: data.log.last().map_or(Zxid::ZERO, |e| e.hdr.zxid),
        zab: c.stats.clone(),
        converged_ms,
        verdicts,
        error,
        digest: trace.digest(),
        events: trace.events(),
        planted,
        coverage: cov,
        trace_tail: trace.tail(),
        data,
    }
}

/// With `Knobs::tolerate_expiry`: `expiry` violations (core bug 2) become a note.
fn tolerate_known_bugs(verdicts: &mut [Verdict]) {
    for v in verdicts
        .iter_mut()
        .filter(|v| v.name == "expiry" && v.count > 0)
    {
        v.note = Some(format!(
            "tolerated (--known-core-bugs, core bug 2): {} violation(s), first: {}",
            v.count,
            v.violations.first().cloned().unwrap_or_default()
        ));
        v.count = 0;
        v.violations.clear();
    }
}

/// The committed history the client checkers hold the run to (see the module docs).
fn committed_history(
    sc: &Scenario,
    disks: &DiskSet,
    cluster: &SharedCluster,
    converged: bool,
) -> Vec<LogEntry> {
    if sc.ensemble.is_none() {
        return disks.with(&server_host(0), |d| d.durable_entries());
    }
    let c = cluster.borrow();
    // Converged: the leader. Otherwise the live server that applied the most, cut at what
    // it applied (its log may hold an uncommitted tail).
    let (who, upto) = match c.leader().filter(|_| converged) {
        Some(l) => (l, Zxid(i64::MAX)),
        None => {
            let best = (0..sc.servers)
                .filter(|i| c.status[*i].up)
                .max_by_key(|i| (c.status[*i].applied, usize::MAX - i))
                .unwrap_or(0);
            (best, c.status[best].applied)
        }
    };
    let mut h = disks.with(&server_host(who), |d| d.durable_entries());
    h.retain(|e| e.hdr.zxid <= upto);
    h
}

/// The end-of-run replication checks on the committed history (see the module docs).
fn final_checks(
    sc: &Scenario,
    disks: &DiskSet,
    cluster: &SharedCluster,
    log: &[LogEntry],
    converged: bool,
) {
    let mut c = cluster.borrow_mut();
    // A chain from zxid 0.
    let mut prev = Zxid::ZERO;
    let mut hole = None;
    for e in log {
        if !follows(prev, e.hdr.zxid) {
            hole = Some((prev, e.hdr.zxid));
            break;
        }
        prev = e.hdr.zxid;
    }
    c.check("committed-prefix", hole.is_none(), || {
        let (a, b) = hole.unwrap_or_default();
        format!("the committed history jumps from {a} to {b} (a transaction is missing)")
    });
    let chain: BTreeMap<Zxid, u64> = log.iter().map(|e| (e.hdr.zxid, entry_hash(e))).collect();
    let end = prev;
    // Everything applied anywhere is in it.
    let missing: Vec<(Zxid, usize)> = c
        .applied_entries()
        .iter()
        .filter(|(z, _)| **z <= end || converged)
        .filter(|(z, (h, _))| chain.get(z) != Some(h))
        .map(|(z, (_, who))| (*z, *who))
        .take(5)
        .collect();
    c.check("committed-prefix", missing.is_empty(), || {
        format!(
            "applied during the run but not in the final committed history: {}",
            missing
                .iter()
                .map(|(z, w)| format!("{z} (by server{})", w + 1))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    if !converged {
        return;
    }
    // It replays to the servers' common state.
    let mut tree = DataTree::new();
    for e in log {
        tree.apply(&e.hdr, &e.txn);
    }
    let l = c.leader().expect("converged with a leader");
    let (want, at) = (c.status[l].digest, c.status[l].applied);
    let got = tree.digest();
    c.check("replica-digest", got == want && end == at, || {
        format!(
            "the committed history replays to digest {got:016x} at {end}, the servers hold {want:016x} at {at}"
        )
    });
    // Every disk holds exactly it.
    for i in 0..sc.servers {
        let h = disks.with(&server_host(i), |d| d.durable_entries());
        let mine: BTreeMap<Zxid, u64> = h.iter().map(|e| (e.hdr.zxid, entry_hash(e))).collect();
        let diff = chain
            .iter()
            .find(|(z, h)| mine.get(z) != Some(h))
            .map(|(z, _)| *z)
            .or_else(|| mine.keys().find(|z| !chain.contains_key(z)).copied());
        c.check("committed-prefix", diff.is_none(), || {
            let z = diff.unwrap_or_default();
            let what = match (chain.contains_key(&z), mine.contains_key(&z)) {
                (true, true) => "holds another txn at",
                (true, false) => "lacks",
                _ => "holds what is not committed at",
            };
            format!(
                "server{}'s disk history ({} entries, {}..{}) {what} {z}",
                i + 1,
                h.len(),
                h.first().map_or(Zxid::ZERO, |e| e.hdr.zxid),
                h.last().map_or(Zxid::ZERO, |e| e.hdr.zxid),
            )
        });
    }
}

fn op_stats(ops: &[Op], log: &[LogEntry]) -> OpStats {
    let logged: BTreeSet<(SessionId, i32)> =
        log.iter().map(|e| (e.hdr.session, e.hdr.cxid)).collect();
    let mut s = OpStats {
        total: ops.len(),
        ..OpStats::default()
    };
    let mut sessions = BTreeSet::new();
    for o in ops {
        if o.is_write() {
            s.writes += 1;
        } else {
            s.reads += 1;
        }
        if o.session != SessionId::NONE {
            sessions.insert(o.session);
        }
        match o.outcome() {
            Some(Outcome::Ok) => s.ok += 1,
            Some(Outcome::Failed(_)) => s.failed += 1,
            Some(Outcome::Unknown(_)) => s.unknown += 1,
            None => s.unanswered += 1,
        }
        if o.is_write() && !o.answered() {
            if o.session != SessionId::NONE && logged.contains(&(o.session, o.xid)) {
                s.unknown_writes_present += 1;
            } else {
                s.unknown_writes_absent += 1;
            }
        }
    }
    s.sessions = sessions.len();
    s
}
