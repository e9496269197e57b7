//! Everything a seed decides before the run starts: topology, timing, workload shape and
//! the fault schedule. The hosts draw their moment-to-moment choices (think times, fsync
//! delays, which op next) from their own streams derived from the same seed.

use crate::check::plant::Bug;
use crate::rng::Rng;

/// The ZooKeeper client port every server listens on.
pub const CLIENT_PORT: u16 = 2181;

/// Host name of server `i` (0-based). One server for now; ensembles add more.
pub fn server_host(i: usize) -> String {
    format!("server{}", i + 1)
}

/// Host name of client `i` (0-based).
pub fn client_host(i: usize) -> String {
    format!("client{}", i + 1)
}

/// One injected fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Power loss of server 0: partition it from everyone, crash it (the unsynced log tail
    /// is lost; with `tear`, part of it survives and the last record may be torn), restart
    /// it after `downtime_ms`.
    Crash { downtime_ms: u64, tear: bool },
    /// Cut one client off from the server (both directions) for `duration_ms`.
    Partition { client: usize, duration_ms: u64 },
    /// Raise the maximum message latency between one client (or all, `None`) and the
    /// server to `latency_ms` for `duration_ms`.
    Delay {
        client: Option<usize>,
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
    /// When the fault is over.
    pub fn end_ms(&self) -> u64 {
        self.at_ms
            + match self.kind {
                FaultKind::Crash { downtime_ms, .. } => downtime_ms,
                FaultKind::Partition { duration_ms, .. } => duration_ms,
                FaultKind::Delay { duration_ms, .. } => duration_ms,
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
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            workload_ms: 30_000,
            faults: true,
            plant: None,
            keep_faults: None,
        }
    }
}

/// The whole plan of one run.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub seed: u64,
    pub servers: usize,
    pub clients: usize,
    /// Clients submit operations in `[0, workload_ms)`.
    pub workload_ms: u64,
    /// After the workload, clients wait this long for outstanding replies, then stop.
    pub drain_ms: u64,
    /// Server tickTime; min/max session timeouts are 2x and 20x of it, as in ZooKeeper.
    pub tick_time_ms: i64,
    /// Session timeout each client asks for.
    pub session_timeout_ms: Vec<i32>,
    /// Most requests a client keeps outstanding.
    pub max_outstanding: Vec<usize>,
    /// Mean think time between a client's operations.
    pub think_ms: Vec<u64>,
    /// fsync latency range, and how often (percent) an fsync is slow (10x).
    pub fsync_ms: (u64, u64),
    pub slow_fsync_percent: u32,
    /// The server's snapCount: small, so that runs take several snapshots and crashes
    /// recover from them.
    pub snap_count: u64,
    /// Normal network latency range.
    pub latency_ms: (u64, u64),
    /// Faults, by start time. All are over by `heal_ms`.
    pub faults: Vec<Fault>,
    /// No fault is active from here on.
    pub heal_ms: u64,
}

impl Scenario {
    /// Draw the scenario of `seed`.
    pub fn from_seed(seed: u64, knobs: &Knobs) -> Scenario {
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
                        downtime_ms: (r.range(100, 6_000) as u64).min(room),
                        tear: r.chance(50),
                    },
                    35..=69 => FaultKind::Partition {
                        client: r.below(clients),
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
        // Filtering after drawing leaves every other draw of the seed unchanged.
        if let Some(keep) = &knobs.keep_faults {
            faults = faults
                .into_iter()
                .enumerate()
                .filter(|(i, _)| keep.contains(i))
                .map(|(_, f)| f)
                .collect();
        }
        let heal_ms = faults.iter().map(Fault::end_ms).max().unwrap_or(0);
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
            fsync_ms,
            slow_fsync_percent: r.range(0, 10) as u32,
            latency_ms,
            faults,
            heal_ms,
        }
    }

    /// Simulated time by which every client has stopped.
    pub fn end_ms(&self) -> u64 {
        self.workload_ms + self.drain_ms
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
            assert!(sc.heal_ms + 10_000 <= sc.workload_ms, "seed {s}");
            assert!(sc.faults.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
        }
    }
}
