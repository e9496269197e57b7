//! One run of one seed: build the turmoil world (server host, client hosts, simulated
//! disk), step it while the fault controller applies the schedule, then check the history
//! against the server's durable log.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use corral_core::server::LogEntry;
use corral_core::types::{SessionId, Zxid};

use crate::check::plant::{self, Plant};
use crate::check::{self, Verdict};
use crate::client_host::{self, ClientCtx};
use crate::coverage::{self, Coverage, ServerProbe};
use crate::disk::DiskSet;
use crate::faults::{self, Controller, FaultStats};
use crate::history::{History, Op, Outcome, SessionEnd};
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

/// The raw material the checkers read: the history and the final durable log.
#[derive(Clone, Debug, Default)]
pub struct RunData {
    pub ops: Vec<Op>,
    pub session_ends: Vec<SessionEnd>,
    pub log: Vec<LogEntry>,
    pub heal_ms: u64,
    pub clients: usize,
}

impl RunData {
    /// The checkers' view of it.
    pub fn input(&self) -> check::Input<'_> {
        check::Input {
            ops: &self.ops,
            session_ends: &self.session_ends,
            log: &self.log,
            heal_ms: self.heal_ms,
            clients: self.clients,
        }
    }
}

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub seed: u64,
    pub knobs: Knobs,
    pub clients: usize,
    pub sim_ms: u64,
    pub wall: Duration,
    pub faults: FaultStats,
    pub ops: OpStats,
    pub server_starts: u32,
    pub log_entries: usize,
    pub last_zxid: Zxid,
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
    if knobs.faults != d.faults {
        cmd.push_str(" --no-faults");
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

/// Run `seed` and check it.
pub fn run(seed: u64, opts: &RunOptions) -> RunReport {
    let started = Instant::now();
    let sc = Rc::new(Scenario::from_seed(seed, &opts.knobs));
    let trace = Trace::new(opts.print_trace);
    let disks = DiskSet::default();
    let history = History::default();
    let incarnation = Rc::new(Cell::new(0));
    let probe = Rc::new(RefCell::new(ServerProbe::default()));
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
    let server_ctx = ServerCtx {
        name: server_host(0),
        scenario: sc.clone(),
        disks: disks.clone(),
        trace: trace.clone(),
        incarnation: incarnation.clone(),
        bug: server_bug,
        probe: probe.clone(),
    };
    sim.host(server_host(0), move || server_host::run(server_ctx.clone()));
    for i in 0..sc.clients {
        let ctx = ClientCtx {
            index: i,
            scenario: sc.clone(),
            trace: trace.clone(),
            history: history.clone(),
        };
        sim.client(client_name(i), client_host::run(ctx));
    }
    let timeline = faults::timeline(&sc);
    let mut controller = Controller::new(sc.clone(), disks.clone(), trace.clone(), probe.clone());
    let mut next = 0;
    let mut error = None;
    loop {
        let now = sim.elapsed().as_millis() as u64;
        while next < timeline.len() && timeline[next].0 <= now {
            controller.apply(&mut sim, now, &timeline[next].1);
            next += 1;
        }
        match sim.step() {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    let sim_ms = sim.elapsed().as_millis() as u64;
    trace.event(sim_ms, "world", "run over");
    drop(sim);

    let mut log = disks.with(&server_host(0), |d| d.durable_entries());
    let mut ops = history.ops();
    let ends = history.session_ends();
    let mut cov = Coverage::new();
    coverage::from_history(&sc, &ops, &log, &mut cov);
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
        log,
        heal_ms: sc.heal_ms,
        clients: sc.clients,
    };
    let verdicts = check::check_all(data.input());
    let stats = op_stats(&data.ops, &data.log);
    let f = &controller.stats;
    cov.add(coverage::CRASH_LOST_UNSYNCED, u64::from(f.lost_unsynced));
    cov.add(coverage::CRASH_TORN_TAIL, u64::from(f.torn_tails));
    cov.add(coverage::CRASH_BEFORE_ACK, u64::from(f.before_ack));
    cov.add(coverage::CRASH_AFTER_SNAPSHOT, u64::from(f.after_snapshot));
    {
        let p = probe.borrow();
        cov.add(coverage::SNAPSHOT_RECOVERY, p.snapshot_recoveries);
        cov.add(coverage::SNAPSHOTS, p.snapshots);
    }
    cov.add(coverage::WATCH_FIRED, history.watch_events());
    RunReport {
        seed,
        knobs: opts.knobs.clone(),
        clients: sc.clients,
        sim_ms,
        wall: started.elapsed(),
        faults: controller.stats.clone(),
        ops: stats,
        server_starts: incarnation.get(),
        log_entries: data.log.len(),
        last_zxid: data.log.last().map_or(Zxid::ZERO, |e| e.hdr.zxid),
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
