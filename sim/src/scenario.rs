//! Everything a seed decides before the run starts: topology, timing, workload shape and
//! the fault schedule. The hosts draw their moment-to-moment choices (think times, fsync
//! delays, which op next) from their own streams derived from the same seed.

use crate::check::plant::Bug;
use crate::rng::Rng;

/// The ZooKeeper client port every server listens on.
pub const CLIENT_PORT: u16 = 2181;

/// Host name of server `i` (0-based); its ZooKeeper server id is `i + 1`.
pub fn server_host(i: usize) -> String {
    format!("server{}", i + 1)
}

/// Host name of client `i` (0-based).
pub fn client_host(i: usize) -> String {
    format!("client{}", i + 1)
}

/// Port of the peer links between servers of an ensemble.
pub const PEER_PORT: u16 = 2888;

/// Which server a fault hits. `Leader` and `Follower` are resolved when the fault starts,
/// from the servers' roles (a random live follower; no server at all when there is none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Server(usize),
    Leader,
    Follower,
}

/// One injected fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Power loss of a server: partition it from every host, crash it (the unsynced log
    /// tail is lost; with `tear`, part of it survives and the last record may be torn),
    /// restart it after `downtime_ms`.
    Crash {
        target: Target,
        downtime_ms: u64,
        tear: bool,
    },
    /// Armed from `at_ms` for `armed_ms`: the next time a server reports a synchronization
    /// event (`SyncSent` as leader, `SyncReceived` as learner), power off the learner
    /// (`learner`) or the leader of that sync, and restart it `downtime_ms` later.
    CrashInSync {
        learner: bool,
        armed_ms: u64,
        downtime_ms: u64,
        tear: bool,
    },
    /// Cut one client off from every server (`server: None`) or from one server, both
    /// directions, for `duration_ms`.
    Partition {
        client: usize,
        server: Option<usize>,
        duration_ms: u64,
    },
    /// Cut the link between two servers, both directions or only `a -> b`.
    ServerLink {
        a: usize,
        b: usize,
        one_way: bool,
        duration_ms: u64,
    },
    /// Cut the leader (resolved at the start) off from every other server; its clients
    /// still reach it, so it goes on proposing what it cannot commit.
    IsolateLeader { duration_ms: u64 },
    /// Cut these servers (a minority) off from the others; clients reach everyone.
    Split {
        minority: Vec<usize>,
        duration_ms: u64,
    },
    /// The link between two servers goes down and up every `period_ms`.
    Flap {
        a: usize,
        b: usize,
        period_ms: u64,
        duration_ms: u64,
    },
    /// Hold every message between two servers, then deliver them all at once.
    Hold {
        a: usize,
        b: usize,
        duration_ms: u64,
    },
    /// Raise the maximum message latency between one client (or all, `None`) and every
    /// server to `latency_ms` for `duration_ms`.
    Delay {
        client: Option<usize>,
        latency_ms: u64,
        duration_ms: u64,
    },
    /// Raise the maximum message latency between every pair of servers.
    ServerDelay { latency_ms: u64, duration_ms: u64 },
    /// A follower lags and a client fails over to it: the link between the leader and a
    /// follower (both resolved at the start) gets up to `latency_ms` (below the link
    /// timeout, so the follower keeps serving, behind), and the client is cut off from
    /// every other server, so it must move its session there. A server that honours the
    /// client's lastZxidSeen refuses it until it has caught up.
    LaggingFollower {
        client: usize,
        latency_ms: u64,
        duration_ms: u64,
    },
}

/// A fault and when it starts (simulated ms since the start of the run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub at_ms: u64,
    pub kind: FaultKind,
}

impl Fault {
    /// When the fault is over (for an armed crash: when it is disarmed, or the latest its
    /// restart can come).
    pub fn end_ms(&self) -> u64 {
        self.at_ms
            + match &self.kind {
                FaultKind::Crash { downtime_ms, .. } => *downtime_ms,
                FaultKind::CrashInSync {
                    armed_ms,
                    downtime_ms,
                    ..
                } => armed_ms + downtime_ms,
                FaultKind::Partition { duration_ms, .. }
                | FaultKind::ServerLink { duration_ms, .. }
                | FaultKind::IsolateLeader { duration_ms }
                | FaultKind::Split { duration_ms, .. }
                | FaultKind::Flap { duration_ms, .. }
                | FaultKind::Hold { duration_ms, .. }
                | FaultKind::Delay { duration_ms, .. }
                | FaultKind::ServerDelay { duration_ms, .. }
                | FaultKind::LaggingFollower { duration_ms, .. } => *duration_ms,
            }
    }
}

/// Knobs that are not drawn from the seed (CLI flags and tests set them).
#[derive(Clone, Debug)]
pub struct Knobs {
    /// Workload length in simulated ms.
    pub workload_ms: u64,
    /// Inject faults at all.
    pub faults: bool,
    /// A bug to plant (`--plant NAME`), to show that the checkers catch it.
    pub plant: Option<Bug>,
    /// Keep only these faults (indexes into the seed's schedule, in time order), to replay
    /// a shrunk schedule (`--keep-faults`). `None` keeps them all.
    pub keep_faults: Option<Vec<usize>>,
    /// Force the ensemble size (1, 3 or 5; `--servers`). `None` draws it from the seed.
    pub servers: Option<usize>,
    /// Work around known core bug 1 (docs/simulation.md): clients send a sync only when
    /// nothing else of theirs is outstanding, and nothing else until it returns (a
    /// follower answers a sync, and what its session queued behind it, after applying the
    /// session's later writes). Set by `--known-core-bugs` (`--isolate-syncs` alone).
    pub isolate_syncs: bool,
    /// Tolerate known core bug 2: `expiry` violations (a follower refuses a live session
    /// as expired from its own stale session table) are reported as a note instead of
    /// failing the run. Set by `--known-core-bugs` (`--tolerate-expiry` alone).
    pub tolerate_expiry: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            workload_ms: 30_000,
            faults: true,
            plant: None,
            keep_faults: None,
            servers: None,
            isolate_syncs: false,
            tolerate_expiry: false,
        }
    }
}

impl Knobs {
    /// Both known-core-bug workarounds on (`--known-core-bugs`). The default tests use
    /// them until the core is fixed; sim/tests/core_bugs.rs shows each bug without them.
    pub fn with_known_core_bugs(self) -> Knobs {
        Knobs {
            isolate_syncs: true,
            tolerate_expiry: true,
            ..self
        }
    }
}

/// The replication settings of an ensemble (3 or 5 servers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnsembleParams {
    /// initLimit and syncLimit, in ticks.
    pub init_limit: u32,
    pub sync_limit: u32,
    /// Fast Leader Election timing (finalize wait, first and largest notification timeout).
    pub finalize_wait_ms: i64,
    pub min_notification_ms: i64,
    pub max_notification_ms: i64,
    /// Applied entries a leader keeps for DIFF; small ones force SNAP.
    pub diff_window: usize,
    /// Entries per PROPOSAL message during synchronization.
    pub sync_batch: usize,
    /// The last zxid counter a leader proposes before it steps down for a new epoch.
    pub max_counter: u32,
    /// A peer link with nothing received for this long is closed and redialled.
    pub link_timeout_ms: u64,
    /// A peer link with nothing sent for this long gets a keepalive frame.
    pub keepalive_ms: u64,
}

/// The whole plan of one run.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub seed: u64,
    /// Ensemble size: 1 (a standalone server), 3 or 5.
    pub servers: usize,
    pub clients: usize,
    /// Clients submit operations in `[0, workload_ms)`.
    pub workload_ms: u64,
    /// After the workload, clients wait this long for outstanding replies, then stop. It
    /// is also the liveness bound: by `workload_ms + drain_ms` the system must have
    /// converged.
    pub drain_ms: u64,
    /// Server tickTime; min/max session timeouts are 2x and 20x of it, as in ZooKeeper.
    pub tick_time_ms: i64,
    /// Session timeout each client asks for.
    pub session_timeout_ms: Vec<i32>,
    /// Most requests a client keeps outstanding.
    pub max_outstanding: Vec<usize>,
    /// Mean think time between a client's operations.
    pub think_ms: Vec<u64>,
    /// Each client's connect string: the servers it tries, in order, round robin.
    pub connect: Vec<Vec<usize>>,
    /// fsync latency range, and how often (percent) an fsync is slow (10x).
    pub fsync_ms: (u64, u64),
    pub slow_fsync_percent: u32,
    /// The server's snapCount: small, so that runs take several snapshots and crashes
    /// recover from them.
    pub snap_count: u64,
    /// Normal network latency range.
    pub latency_ms: (u64, u64),
    /// Replication settings (`None` for a standalone server).
    pub ensemble: Option<EnsembleParams>,
    /// Clients isolate their syncs (`Knobs::isolate_syncs`).
    pub isolate_syncs: bool,
    /// Faults, by start time. All are over by `heal_ms`.
    pub faults: Vec<Fault>,
    /// No fault is active from here on: the liveness phase starts (the fault controller
    /// heals every link and restarts every server that is down).
    pub heal_ms: u64,
}

impl Scenario {
    /// Draw the scenario of `seed`.
    pub fn from_seed(seed: u64, knobs: &Knobs) -> Scenario {
        let servers = knobs.servers.unwrap_or_else(|| {
            let mut t = Rng::derive(seed, "topology");
            match t.range(0, 99) {
                0..=19 => 1,
                20..=69 => 3,
                _ => 5,
            }
        });
        assert!(
            matches!(servers, 1 | 3 | 5),
            "ensemble size {servers}: 1, 3 or 5"
        );
        let mut sc = if servers == 1 {
            Scenario::standalone(seed, knobs)
        } else {
            Scenario::ensemble(seed, servers, knobs)
        };
        // Filtering after drawing leaves every other draw of the seed unchanged.
        if let Some(keep) = &knobs.keep_faults {
            sc.faults = std::mem::take(&mut sc.faults)
                .into_iter()
                .enumerate()
                .filter(|(i, _)| keep.contains(i))
                .map(|(_, f)| f)
                .collect();
        }
        sc.heal_ms = sc.faults.iter().map(Fault::end_ms).max().unwrap_or(0);
        sc.isolate_syncs = knobs.isolate_syncs;
        sc
    }

    /// One standalone server: the draws of the first simulator slice, unchanged.
    fn standalone(seed: u64, knobs: &Knobs) -> Scenario {
        let mut r = Rng::derive(seed, "scenario");
        let clients = r.range(3, 6) as usize;
        let tick_time_ms = *r.pick(&[500i64, 1000, 2000]);
        let session_timeout_ms = (0..clients)
            .map(|_| r.range(4_000, 10_000) as i32)
            .collect();
        let max_outstanding = (0..clients).map(|_| r.range(1, 4) as usize).collect();
        let think_ms = (0..clients).map(|_| r.range(5, 60) as u64).collect();
        let fsync_lo = r.range(1, 5) as u64;
        let fsync_ms = (fsync_lo, fsync_lo + r.range(0, 20) as u64);
        let lat_lo = r.range(0, 3) as u64;
        let latency_ms = (lat_lo, lat_lo + r.range(1, 20) as u64);
        let workload_ms = knobs.workload_ms;
        // Faults stop well before the end so the last stretch shows the system recovers.
        let fault_window = workload_ms.saturating_sub(10_000);
        let mut faults = Vec::new();
        if knobs.faults && fault_window > 2_000 {
            let n = r.range(2, 7);
            for _ in 0..n {
                let at_ms = r.range(1_000, fault_window as i64 - 1_000) as u64;
                let room = fault_window - at_ms;
                let kind = match r.range(0, 99) {
                    0..=34 => FaultKind::Crash {
                        target: Target::Server(0),
                        downtime_ms: (r.range(100, 6_000) as u64).min(room),
                        tear: r.chance(50),
                    },
                    35..=69 => FaultKind::Partition {
                        client: r.below(clients),
                        server: None,
                        duration_ms: (r.range(200, 15_000) as u64).min(room),
                    },
                    _ => FaultKind::Delay {
                        client: if r.chance(30) {
                            None
                        } else {
                            Some(r.below(clients))
                        },
                        latency_ms: r.range(100, 3_000) as u64,
                        duration_ms: (r.range(500, 6_000) as u64).min(room),
                    },
                };
                faults.push(Fault { at_ms, kind });
            }
        }
        faults.sort_by_key(|f| f.at_ms);
        // Drawn from its own stream so that adding it left every other draw unchanged.
        let snap_count = Rng::derive(seed, "snapshots").range(20, 400) as u64;
        Scenario {
            seed,
            snap_count,
            servers: 1,
            clients,
            workload_ms,
            drain_ms: 12_000,
            tick_time_ms,
            session_timeout_ms,
            max_outstanding,
            think_ms,
            connect: vec![vec![0]; clients],
            fsync_ms,
            slow_fsync_percent: r.range(0, 10) as u32,
            latency_ms,
            ensemble: None,
            isolate_syncs: false,
            faults,
            heal_ms: 0,
        }
    }

    /// An ensemble of `servers` (3 or 5): short, realistic ZooKeeper timing (tickTime
    /// 100-200 ms), elections capped to converge within a few seconds, and the replication
    /// faults.
    fn ensemble(seed: u64, servers: usize, knobs: &Knobs) -> Scenario {
        let mut r = Rng::derive(seed, "ensemble");
        let clients = r.range(3, 6) as usize;
        let tick_time_ms = *r.pick(&[100i64, 150, 200]);
        let session_timeout_ms = (0..clients).map(|_| r.range(1_500, 6_000) as i32).collect();
        let max_outstanding = (0..clients).map(|_| r.range(1, 4) as usize).collect();
        let think_ms = (0..clients).map(|_| r.range(5, 60) as u64).collect();
        let connect = (0..clients)
            .map(|_| {
                let mut order: Vec<usize> = (0..servers).collect();
                for i in (1..order.len()).rev() {
                    order.swap(i, r.below(i + 1));
                }
                order
            })
            .collect();
        let fsync_lo = r.range(1, 5) as u64;
        let fsync_ms = (fsync_lo, fsync_lo + r.range(0, 20) as u64);
        let slow_fsync_percent = r.range(0, 10) as u32;
        let lat_lo = r.range(0, 3) as u64;
        let latency_ms = (lat_lo, lat_lo + r.range(1, 20) as u64);
        let sync_limit = r.range(3, 5) as u32;
        let min_notification_ms = r.range(50, 200);
        let init_limit = r.range(5, 10) as u32;
        let finalize_wait_ms = r.range(50, 200);
        // A server finishing its finalize wait drops notifications that are not better
        // and waits afresh (as ZooKeeper's finalize loop does), so peers re-sending faster
        // than the wait starve it forever. With k peers re-sending every `cap` ms, some
        // gap is at least cap / k: a cap of 5 waits guarantees one (seed 145 livelocked
        // with a cap of 116 ms under a wait of 180 ms). ZooKeeper's defaults (200 ms
        // wait, 60 s cap) keep the same margin.
        let max_notification_ms = (min_notification_ms * r.range(2, 8)).max(5 * finalize_wait_ms);
        let ens = EnsembleParams {
            init_limit,
            sync_limit,
            finalize_wait_ms,
            min_notification_ms,
            max_notification_ms,
            // Small windows make a lagging follower need SNAP.
            diff_window: if r.chance(35) {
                r.range(4, 64) as usize
            } else {
                r.range(500, 5_000) as usize
            },
            sync_batch: *r.pick(&[3usize, 16, 512]),
            // Now and then a leader runs out of zxids and forces a new epoch.
            max_counter: if r.chance(10) {
                r.range(150, 800) as u32
            } else {
                u32::MAX - 1
            },
            link_timeout_ms: sync_limit as u64 * tick_time_ms as u64,
            keepalive_ms: (sync_limit as u64 * tick_time_ms as u64 / 4).max(10),
        };
        let snap_count = r.range(20, 400) as u64;
        let workload_ms = knobs.workload_ms;
        let fault_window = workload_ms.saturating_sub(8_000);
        let faults = if knobs.faults && fault_window > 2_000 {
            ensemble_faults(&mut r, servers, clients, fault_window, ens.link_timeout_ms)
        } else {
            Vec::new()
        };
        Scenario {
            seed,
            servers,
            clients,
            workload_ms,
            drain_ms: 12_000,
            tick_time_ms,
            session_timeout_ms,
            max_outstanding,
            think_ms,
            connect,
            fsync_ms,
            slow_fsync_percent,
            snap_count,
            latency_ms,
            ensemble: Some(ens),
            isolate_syncs: false,
            faults,
            heal_ms: 0,
        }
    }

    /// Simulated time by which every client has stopped.
    pub fn end_ms(&self) -> u64 {
        self.workload_ms + self.drain_ms
    }
}

fn two_servers(r: &mut Rng, servers: usize) -> (usize, usize) {
    let a = r.below(servers);
    let b = (a + 1 + r.below(servers - 1)) % servers;
    (a, b)
}

/// The fault schedule of an ensemble: 2-7 faults in `[1 s, window - 1 s)`, each over by
/// `window`. A crash now and then comes with one or two more in a row.
fn ensemble_faults(
    r: &mut Rng,
    servers: usize,
    clients: usize,
    window: u64,
    link_timeout_ms: u64,
) -> Vec<Fault> {
    let mut faults = Vec::new();
    let n = r.range(2, 7);
    for _ in 0..n {
        let at_ms = r.range(1_000, window as i64 - 1_000) as u64;
        let room = window - at_ms;
        let dur = |r: &mut Rng, lo: i64, hi: i64| (r.range(lo, hi) as u64).min(room);
        let kind = match r.range(0, 99) {
            0..=19 => {
                let crashes = if r.chance(25) { r.range(2, 3) } else { 1 };
                let mut t = at_ms;
                for _ in 1..crashes {
                    // More crashes in a row: the next ones follow within 0.2-1.5 s.
                    let next = t + r.range(200, 1_500) as u64;
                    if next + 100 >= window {
                        break;
                    }
                    let room = window - next;
                    faults.push(Fault {
                        at_ms: next,
                        kind: FaultKind::Crash {
                            target: crash_target(r, servers),
                            downtime_ms: (r.range(100, 4_000) as u64).min(room),
                            tear: r.chance(50),
                        },
                    });
                    t = next;
                }
                FaultKind::Crash {
                    target: crash_target(r, servers),
                    downtime_ms: dur(r, 100, 6_000),
                    tear: r.chance(50),
                }
            }
            20..=29 => {
                let armed_ms = dur(r, 500, 8_000);
                FaultKind::CrashInSync {
                    learner: r.chance(70),
                    armed_ms,
                    downtime_ms: (r.range(100, 3_000) as u64).min(room - armed_ms),
                    tear: r.chance(50),
                }
            }
            30..=37 => {
                let (a, b) = two_servers(r, servers);
                FaultKind::ServerLink {
                    a,
                    b,
                    one_way: r.chance(40),
                    duration_ms: dur(r, 200, 8_000),
                }
            }
            38..=48 => FaultKind::IsolateLeader {
                duration_ms: dur(r, 300, 8_000),
            },
            49..=57 => {
                let size = r.range(1, ((servers - 1) / 2) as i64) as usize;
                let mut all: Vec<usize> = (0..servers).collect();
                let mut minority = Vec::new();
                for _ in 0..size {
                    minority.push(all.remove(r.below(all.len())));
                }
                minority.sort_unstable();
                FaultKind::Split {
                    minority,
                    duration_ms: dur(r, 300, 8_000),
                }
            }
            58..=62 => {
                let (a, b) = two_servers(r, servers);
                FaultKind::Flap {
                    a,
                    b,
                    period_ms: r.range(50, 600) as u64,
                    duration_ms: dur(r, 1_000, 6_000),
                }
            }
            63..=67 => {
                let (a, b) = two_servers(r, servers);
                FaultKind::Hold {
                    a,
                    b,
                    duration_ms: dur(r, 100, 3_000),
                }
            }
            68..=81 => FaultKind::Partition {
                client: r.below(clients),
                server: if r.chance(50) {
                    None
                } else {
                    Some(r.below(servers))
                },
                duration_ms: dur(r, 200, 12_000),
            },
            82..=89 => FaultKind::LaggingFollower {
                client: r.below(clients),
                latency_ms: r.range(50, (link_timeout_ms / 2).max(60) as i64) as u64,
                duration_ms: dur(r, 1_000, 6_000),
            },
            90..=95 => FaultKind::Delay {
                client: if r.chance(30) {
                    None
                } else {
                    Some(r.below(clients))
                },
                latency_ms: r.range(100, 2_000) as u64,
                duration_ms: dur(r, 500, 6_000),
            },
            _ => FaultKind::ServerDelay {
                latency_ms: r.range(50, 1_500) as u64,
                duration_ms: dur(r, 500, 6_000),
            },
        };
        faults.push(Fault { at_ms, kind });
    }
    debug_assert!(faults.iter().all(|f| f.end_ms() <= window));
    faults.sort_by_key(|f| f.at_ms);
    faults
}

fn crash_target(r: &mut Rng, servers: usize) -> Target {
    match r.range(0, 9) {
        0..=3 => Target::Leader,
        4 => Target::Follower,
        _ => Target::Server(r.below(servers)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_are_a_function_of_the_seed() {
        let k = Knobs::default();
        let a = Scenario::from_seed(3, &k);
        let b = Scenario::from_seed(3, &k);
        assert_eq!(a.faults, b.faults);
        assert_eq!(a.session_timeout_ms, b.session_timeout_ms);
        let differs = (0..20).any(|s| Scenario::from_seed(s, &k).faults != a.faults);
        assert!(differs);
        for s in 0..50 {
            let sc = Scenario::from_seed(s, &k);
            assert!(sc.heal_ms + 8_000 <= sc.workload_ms, "seed {s}");
            assert!(sc.faults.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
        }
    }
}
