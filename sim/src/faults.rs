//! Turning the scenario's fault list into actions on the turmoil world, between steps.
//!
//! Links between the server and each client carry a count of reasons to be cut (a client
//! partition, the server's power loss); a link is repaired only when no reason is left.
//! Delay spikes stack the same way: the link's maximum latency is the largest active spike.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use turmoil::Sim;

use crate::coverage::{ServerProbe, SOON_AFTER_SNAPSHOT_MS};
use crate::disk::DiskSet;
use crate::rng::Rng;
use crate::scenario::{client_host, server_host, FaultKind, Scenario};
use crate::trace::Trace;

/// One thing the controller does at a point in simulated time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Fault `id` starts: partition the server from everyone, crash it, lose the disk's
    /// unsynced tail (tearing it with `tear`).
    PowerOff {
        id: usize,
        tear: bool,
    },
    /// Fault `id` ends: restart the server and repair its links.
    PowerOn {
        id: usize,
    },
    Cut {
        client: usize,
    },
    Heal {
        client: usize,
    },
    Slow {
        clients: Vec<usize>,
        latency_ms: u64,
    },
    Fast {
        clients: Vec<usize>,
        latency_ms: u64,
    },
}

/// Every action of the scenario with its time, in time order (ties keep fault order,
/// starts before ends).
pub fn timeline(sc: &Scenario) -> Vec<(u64, Action)> {
    let mut out = Vec::new();
    for (id, f) in sc.faults.iter().enumerate() {
        match &f.kind {
            FaultKind::Crash { tear, .. } => {
                out.push((f.at_ms, Action::PowerOff { id, tear: *tear }));
                out.push((f.end_ms(), Action::PowerOn { id }));
            }
            FaultKind::Partition { client, .. } => {
                out.push((f.at_ms, Action::Cut { client: *client }));
                out.push((f.end_ms(), Action::Heal { client: *client }));
            }
            FaultKind::Delay {
                client, latency_ms, ..
            } => {
                let clients: Vec<usize> = match client {
                    Some(c) => vec![*c],
                    None => (0..sc.clients).collect(),
                };
                out.push((
                    f.at_ms,
                    Action::Slow {
                        clients: clients.clone(),
                        latency_ms: *latency_ms,
                    },
                ));
                out.push((
                    f.end_ms(),
                    Action::Fast {
                        clients,
                        latency_ms: *latency_ms,
                    },
                ));
            }
        }
    }
    out.sort_by_key(|(t, _)| *t);
    out
}

/// Counts of what was injected, for the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    pub crashes: u32,
    pub restarts: u32,
    pub torn_tails: u32,
    pub lost_unsynced_bytes: u64,
    pub partitions: u32,
    pub delay_spikes: u32,
    /// Crashes skipped because the server was already down.
    pub skipped: u32,
    /// Crashes that threw unsynced bytes away.
    pub lost_unsynced: u32,
    /// Crashes while a persist request's fsync (and so its reply) was outstanding.
    pub before_ack: u32,
    /// Crashes at most `coverage::SOON_AFTER_SNAPSHOT_MS` after a snapshot.
    pub after_snapshot: u32,
}

/// The controller's view of the faults in force.
pub struct Controller {
    scenario: Rc<Scenario>,
    disks: DiskSet,
    trace: Trace,
    rng: Rng,
    cut_reasons: BTreeMap<usize, u32>,
    spikes: BTreeMap<usize, Vec<u64>>,
    down_by: Option<usize>,
    probe: Rc<RefCell<ServerProbe>>,
    pub stats: FaultStats,
}

impl Controller {
    pub fn new(
        scenario: Rc<Scenario>,
        disks: DiskSet,
        trace: Trace,
        probe: Rc<RefCell<ServerProbe>>,
    ) -> Controller {
        Controller {
            rng: Rng::derive(scenario.seed, "faults"),
            scenario,
            disks,
            trace,
            cut_reasons: BTreeMap::new(),
            spikes: BTreeMap::new(),
            down_by: None,
            probe,
            stats: FaultStats::default(),
        }
    }

    fn cut(&mut self, sim: &Sim, client: usize) {
        let n = self.cut_reasons.entry(client).or_insert(0);
        *n += 1;
        if *n == 1 {
            sim.partition(server_host(0), client_host(client));
        }
    }

    fn heal(&mut self, sim: &Sim, client: usize) {
        let n = self
            .cut_reasons
            .get_mut(&client)
            .expect("healing a cut link");
        *n -= 1;
        if *n == 0 {
            sim.repair(server_host(0), client_host(client));
        }
    }

    fn set_latency(&self, sim: &Sim, client: usize) {
        let max = self
            .spikes
            .get(&client)
            .and_then(|s| s.iter().max().copied())
            .unwrap_or(self.scenario.latency_ms.1);
        sim.set_link_max_message_latency(
            server_host(0),
            client_host(client),
            Duration::from_millis(max),
        );
    }

    /// Do `action` at simulated time `ms`.
    pub fn apply(&mut self, sim: &mut Sim, ms: u64, action: &Action) {
        let server = server_host(0);
        match action {
            Action::PowerOff { id, tear } => {
                if self.down_by.is_some() {
                    self.stats.skipped += 1;
                    self.trace
                        .event(ms, "faults", format!("crash #{id} skipped: already down"));
                    return;
                }
                self.down_by = Some(*id);
                for c in 0..self.scenario.clients {
                    self.cut(sim, c);
                }
                sim.crash(server.as_str());
                let report = self.disks.with(&server, |d| d.crash(&mut self.rng, *tear));
                self.stats.crashes += 1;
                self.stats.torn_tails += u32::from(report.torn);
                self.stats.lost_unsynced_bytes += report.lost_bytes as u64;
                self.stats.lost_unsynced += u32::from(report.lost_bytes > 0);
                {
                    let mut p = self.probe.borrow_mut();
                    self.stats.before_ack += u32::from(p.unacked_persists > 0);
                    p.unacked_persists = 0;
                    self.stats.after_snapshot += u32::from(
                        p.last_snapshot_ms
                            .is_some_and(|t| ms.saturating_sub(t) <= SOON_AFTER_SNAPSHOT_MS),
                    );
                }
                self.trace.event(
                    ms,
                    "faults",
                    format!(
                        "power off {server} (#{id}): lost {} unsynced bytes, kept {}, torn {}, garbage {}",
                        report.lost_bytes, report.kept_bytes, report.torn, report.garbage_bytes
                    ),
                );
            }
            Action::PowerOn { id } => {
                if self.down_by != Some(*id) {
                    return;
                }
                self.down_by = None;
                self.trace
                    .event(ms, "faults", format!("power on {server} (#{id})"));
                sim.bounce(server.as_str());
                for c in 0..self.scenario.clients {
                    self.heal(sim, c);
                }
                self.stats.restarts += 1;
            }
            Action::Cut { client } => {
                self.trace.event(
                    ms,
                    "faults",
                    format!("partition {server} | {}", client_host(*client)),
                );
                self.cut(sim, *client);
                self.stats.partitions += 1;
            }
            Action::Heal { client } => {
                self.trace.event(
                    ms,
                    "faults",
                    format!("heal {server} | {}", client_host(*client)),
                );
                self.heal(sim, *client);
            }
            Action::Slow {
                clients,
                latency_ms,
            } => {
                self.trace.event(
                    ms,
                    "faults",
                    format!("delay spike up to {latency_ms}ms for clients {clients:?}"),
                );
                for c in clients {
                    self.spikes.entry(*c).or_default().push(*latency_ms);
                    self.set_latency(sim, *c);
                }
                self.stats.delay_spikes += 1;
            }
            Action::Fast {
                clients,
                latency_ms,
            } => {
                self.trace.event(
                    ms,
                    "faults",
                    format!("delay spike of {latency_ms}ms over for clients {clients:?}"),
                );
                for c in clients {
                    let s = self.spikes.get_mut(c).expect("ending a spike");
                    let i = s
                        .iter()
                        .position(|x| x == latency_ms)
                        .expect("spike active");
                    s.remove(i);
                    self.set_latency(sim, *c);
                }
            }
        }
    }
}
