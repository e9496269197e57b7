//! ZAB engine tests on the pure multi-replica harness: scripted scenarios for each way a
//! server gets in line with a leader (DIFF, TRUNC, SNAP), leader and follower crashes,
//! partitions; and property tests over random fault schedules. The harness checks the
//! invariants after every step (see `zab_harness`).

mod zab_harness;

use corral_core::types::{Epoch, ServerId};
use corral_core::zab::replica::{Role, SyncKind, ZabEvent};
use proptest::prelude::*;
use zab_harness::{Cluster, Config};

fn s(id: u64) -> ServerId {
    ServerId(id)
}

fn synced(c: &Cluster, kind: SyncKind) -> usize {
    c.count(|e| matches!(e, ZabEvent::SyncSent { kind: k, .. } if *k == kind))
}

fn leader(c: &Cluster) -> ServerId {
    let l = c.leaders();
    assert_eq!(l.len(), 1, "one leader: {l:?}");
    l[0]
}

#[test]
fn three_servers_elect_one_leader_and_replicate() {
    let mut c = Cluster::new(Config::default(), 1);
    c.run_for(3_000);
    let l = leader(&c);
    // FLE picks the highest id among equal logs.
    assert_eq!(l, s(3));
    assert_eq!(c.serving().len(), 3);
    c.settle(5_000);
    assert!(c.global.len() > 20, "committed {}", c.global.len());
    assert_eq!(c.established.len(), 1);
    assert_eq!(c.established.keys().next(), Some(&Epoch(1)));
}

#[test]
fn five_servers_with_two_down_still_serve_and_three_down_do_not() {
    let cfg = Config {
        servers: 5,
        ..Config::default()
    };
    let mut c = Cluster::new(cfg, 2);
    c.crash(s(4));
    c.crash(s(5));
    c.run_for(4_000);
    assert_eq!(leader(&c), s(3));
    let committed = c.global.len();
    assert!(committed > 0);
    c.crash(s(3));
    c.run_for(6_000);
    assert!(c.leaders().is_empty(), "two of five cannot lead");
    assert_eq!(
        c.global.len(),
        committed,
        "nothing commits without a quorum"
    );
    c.restart(s(4));
    c.restart(s(5));
    c.restart(s(3));
    c.run_for(1_000);
    c.settle(20_000);
}

#[test]
fn leader_crash_mid_broadcast_elects_a_new_leader_that_keeps_every_commit() {
    let mut c = Cluster::new(Config::default(), 3);
    c.run_for(3_000);
    let old = leader(&c);
    let before = c.global.len();
    c.crash(old);
    c.run_for(5_000);
    let new = leader(&c);
    assert_ne!(new, old);
    assert!(c.established.keys().any(|e| *e >= Epoch(2)));
    assert!(c.global.len() > before, "the new leader commits new writes");
    c.restart(old);
    c.settle(10_000);
}

#[test]
fn follower_behind_by_a_few_catches_up_by_diff() {
    let mut c = Cluster::new(Config::default(), 4);
    c.run_for(3_000);
    let l = leader(&c);
    let f = c.ids().into_iter().find(|id| *id != l).unwrap();
    c.crash(f);
    c.run_for(400);
    let diffs = synced(&c, SyncKind::Diff);
    c.restart(f);
    c.settle(10_000);
    assert!(synced(&c, SyncKind::Diff) > diffs);
    assert_eq!(
        leader(&c),
        l,
        "a returning follower does not disturb the leader"
    );
}

#[test]
fn isolated_leader_with_uncommitted_proposals_is_truncated_when_it_returns() {
    // A window large enough that the new leader still holds the point where the old
    // leader's log left its history (otherwise SNAP is the answer).
    let cfg = Config {
        diff_window: 100_000,
        ..Config::default()
    };
    let mut c = Cluster::new(cfg, 5);
    c.run_for(3_000);
    let old = leader(&c);
    let others: Vec<ServerId> = c.ids().into_iter().filter(|id| *id != old).collect();
    // Cut the leader off: it keeps proposing until it notices (syncLimit), and those
    // proposals can never be committed.
    c.partition(&[old], &others);
    c.run_for(5_000);
    let new = leader(&c);
    assert_ne!(new, old);
    c.heal();
    c.settle(15_000);
    assert!(
        synced(&c, SyncKind::Trunc) >= 1,
        "the old leader's tail was cut: {:?}",
        c.events
    );
}

#[test]
fn follower_far_behind_gets_a_snapshot() {
    let cfg = Config {
        diff_window: 5,
        ..Config::default()
    };
    let mut c = Cluster::new(cfg, 6);
    c.run_for(3_000);
    let l = leader(&c);
    let f = c.ids().into_iter().find(|id| *id != l).unwrap();
    c.crash(f);
    c.run_for(3_000);
    c.restart(f);
    c.settle(10_000);
    assert!(synced(&c, SyncKind::Snap) >= 1, "{:?}", c.events);
}

#[test]
fn whole_cluster_restart_keeps_every_commit() {
    let mut c = Cluster::new(Config::default(), 7);
    c.run_for(3_000);
    let committed = c.global.len();
    for id in c.ids() {
        c.crash(id);
    }
    for id in c.ids() {
        c.restart(id);
    }
    c.run_for(1_000);
    c.settle(10_000);
    assert!(c.global.len() >= committed);
    assert!(c.established.keys().any(|e| *e >= Epoch(2)));
}

#[test]
fn exhausted_counter_forces_a_new_epoch() {
    let cfg = Config {
        max_counter: 20,
        ..Config::default()
    };
    let mut c = Cluster::new(cfg, 8);
    c.run_for(8_000);
    assert!(
        c.count(|e| matches!(e, ZabEvent::Looking { reason } if reason.contains("counter"))) >= 1
    );
    assert!(c.established.len() >= 2);
    c.settle(10_000);
}

#[test]
fn minority_side_of_a_partition_stops_serving() {
    let cfg = Config {
        servers: 5,
        ..Config::default()
    };
    let mut c = Cluster::new(cfg, 9);
    c.run_for(3_000);
    let l = leader(&c);
    let rest: Vec<ServerId> = c.ids().into_iter().filter(|id| *id != l).collect();
    // The leader and one follower on one side, three on the other.
    let minority = [l, rest[0]];
    let majority = [rest[1], rest[2], rest[3]];
    c.partition(&minority, &majority);
    c.run_for(6_000);
    let serving = c.serving();
    assert!(
        !serving.contains(&l) && !serving.contains(&rest[0]),
        "{serving:?}"
    );
    assert_eq!(c.leaders().len(), 1);
    assert!(majority.contains(&leader(&c)));
    c.heal();
    c.settle(15_000);
}

#[test]
fn same_seed_same_history() {
    let run = |seed| {
        let mut c = Cluster::new(Config::default(), seed);
        c.run_for(2_000);
        let l = leader(&c);
        c.crash(l);
        c.run_for(3_000);
        c.restart(l);
        c.settle(10_000);
        (
            c.trace.clone(),
            c.global.keys().copied().collect::<Vec<_>>(),
        )
    };
    assert_eq!(run(11), run(11));
}

/// One fault of a random schedule.
#[derive(Clone, Debug)]
enum Fault {
    Crash(u64),
    Restart(u64),
    Isolate(u64),
    Split(u64),
    CutOneWay(u64, u64),
    Heal,
    Wait(i64),
}

fn fault(servers: u64) -> impl Strategy<Value = Fault> {
    prop_oneof![
        (1..=servers).prop_map(Fault::Crash),
        (1..=servers).prop_map(Fault::Restart),
        (1..=servers).prop_map(Fault::Isolate),
        (1..=servers).prop_map(Fault::Split),
        ((1..=servers), (1..=servers)).prop_map(|(a, b)| Fault::CutOneWay(a, b)),
        Just(Fault::Heal),
        (0i64..3_000).prop_map(Fault::Wait),
    ]
}

fn run_schedule(servers: u64, seed: u64, window: usize, faults: &[Fault]) -> Cluster {
    let cfg = Config {
        servers,
        diff_window: window,
        ..Config::default()
    };
    let mut c = Cluster::new(cfg, seed);
    c.run_for(1_500);
    for f in faults {
        match *f {
            Fault::Crash(id) => {
                if c.is_up(s(id)) {
                    c.crash(s(id));
                }
            }
            Fault::Restart(id) => {
                if !c.is_up(s(id)) {
                    c.restart(s(id));
                }
            }
            Fault::Isolate(id) => {
                let others: Vec<ServerId> = c.ids().into_iter().filter(|x| x.0 != id).collect();
                c.partition(&[s(id)], &others);
            }
            Fault::Split(k) => {
                let ids = c.ids();
                let (a, b) = ids.split_at((k as usize).min(ids.len() - 1).max(1));
                c.partition(a, b);
            }
            Fault::CutOneWay(a, b) => {
                if a != b {
                    c.cut_link(s(a), s(b));
                }
            }
            Fault::Heal => c.heal(),
            Fault::Wait(ms) => c.run_for(ms),
        }
        c.run_for(100);
    }
    // Liveness: heal, bring everyone back, converge.
    c.heal();
    for id in c.ids() {
        if !c.is_up(id) {
            c.restart(id);
        }
    }
    c.run_for(500);
    c.settle(40_000);
    assert!(c.converged());
    assert!(c
        .leaders()
        .iter()
        .all(|l| matches!(c.nodes[l].as_ref().unwrap().host.role, Role::Leading { .. })));
    c
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    #[test]
    fn three_servers_survive_random_faults(
        seed in any::<u64>(),
        window in prop_oneof![Just(3usize), Just(50)],
        faults in prop::collection::vec(fault(3), 1..14),
    ) {
        run_schedule(3, seed, window, &faults);
    }

    #[test]
    fn five_servers_survive_random_faults(
        seed in any::<u64>(),
        window in prop_oneof![Just(3usize), Just(50)],
        faults in prop::collection::vec(fault(5), 1..14),
    ) {
        run_schedule(5, seed, window, &faults);
    }
}

/// A random schedule drawn from a seed (for the coverage sweep).
fn random_faults(rng: &mut zab_harness::Rng, servers: u64) -> Vec<Fault> {
    let n = rng.range(2, 14);
    (0..n)
        .map(|_| {
            let id = rng.range(1, servers as i64) as u64;
            match rng.range(0, 6) {
                0 => Fault::Crash(id),
                1 => Fault::Restart(id),
                2 => Fault::Isolate(id),
                3 => Fault::Split(id),
                4 => Fault::CutOneWay(id, rng.range(1, servers as i64) as u64),
                5 => Fault::Heal,
                _ => Fault::Wait(rng.range(0, 3_000)),
            }
        })
        .collect()
}

/// The faults bite: across a fixed sweep, every kind of synchronization happens, leaders
/// change, and servers restart into all of it.
#[test]
fn fixed_sweep_reaches_every_sync_kind() {
    let mut totals = std::collections::BTreeMap::new();
    for seed in 0..60u64 {
        let mut rng = zab_harness::Rng::new(seed);
        let servers = if seed % 3 == 0 { 5 } else { 3 };
        let window = if seed % 2 == 0 { 3 } else { 50 };
        let faults = random_faults(&mut rng, servers);
        let c = run_schedule(servers, seed, window, &faults);
        for kind in [SyncKind::Diff, SyncKind::Trunc, SyncKind::Snap] {
            *totals.entry(format!("{kind:?}")).or_insert(0) += synced(&c, kind);
        }
        *totals.entry("epochs".into()).or_insert(0) += c.established.len();
        *totals.entry("restarts".into()).or_insert(0) += c.restarts as usize;
        *totals.entry("committed".into()).or_insert(0) += c.global.len();
    }
    println!("{totals:?}");
    for key in ["Diff", "Trunc", "Snap", "epochs", "restarts"] {
        assert!(totals[key] > 0, "{key} never happened: {totals:?}");
    }
}

fn quiet_cluster(seed: u64) -> (Cluster, ServerId, Vec<ServerId>) {
    let mut c = Cluster::new(Config::default(), seed);
    c.run_for(3_000);
    c.settle(5_000);
    c.cfg.propose_every_ms = 0;
    c.run_for(500);
    let l = c.leaders()[0];
    let fs: Vec<ServerId> = c.ids().into_iter().filter(|x| *x != l).collect();
    (c, l, fs)
}

/// Review finding: a COMMIT lost on a link that broke and came back was never repaired
/// without new writes (the follower stayed behind). PING now carries the commit mark.
#[test]
fn a_lost_final_commit_is_repaired_by_the_next_ping() {
    let (mut c, l, fs) = quiet_cluster(11);
    c.propose_on_leaders();
    for _ in 0..10_000 {
        c.run_for(1);
        let ln = c.nodes[&l].as_ref().unwrap();
        let last = ln.replica.history().last();
        if ln.replica.history().committed() != last {
            continue;
        }
        let lagging = fs.iter().copied().find(|f| {
            let h = c.nodes[f].as_ref().unwrap().replica.history();
            h.last() == last && h.committed() < last
        });
        let f = lagging.expect("a follower with the COMMIT in flight (try another seed)");
        c.cut_link(l, f);
        c.heal();
        c.settle(20_000);
        return;
    }
    panic!("the leader never committed");
}

/// Review finding: an ACK lost on a link that broke and came back was never repaired
/// without new writes (the leader never committed). PING answers now repeat the ACK.
#[test]
fn a_lost_final_ack_is_repaired_by_the_next_ping_answer() {
    let (mut c, l, fs) = quiet_cluster(12);
    c.crash(fs[1]);
    let f = fs[0];
    c.propose_on_leaders();
    for _ in 0..10_000 {
        c.run_for(1);
        let ln = c.nodes[&l].as_ref().unwrap();
        let last = ln.replica.history().last();
        let fnode = c.nodes[&f].as_ref().unwrap();
        if fnode.replica.durable() == last && ln.replica.history().committed() < last {
            c.cut_link(f, l);
            c.heal();
            c.settle(20_000);
            return;
        }
    }
    panic!("no window with the ACK in flight");
}

/// A follower makes a proposal durable and crashes before its ACK reaches the leader: the
/// entry is on its disk but counted nowhere. It must come back with it (or have it
/// replaced consistently), and nothing committed may be lost.
#[test]
fn crash_between_persist_and_ack() {
    let (mut c, l, fs) = quiet_cluster(21);
    let f = fs[0];
    // Its ACKs never arrive; the other follower's do, so the entry commits.
    c.cut_link(f, l);
    c.propose_on_leaders();
    let target = c.nodes[&l].as_ref().unwrap().replica.history().last();
    let mut durable = false;
    for _ in 0..5_000 {
        c.run_for(1);
        if c.disks[&f].holds(target) && c.disks[&f].tail() >= target {
            durable = true;
            break;
        }
    }
    assert!(durable, "the follower made {target} durable");
    c.crash(f);
    c.heal();
    c.run_for(200);
    c.restart(f);
    c.settle(20_000);
    assert!(c.global.contains_key(&target), "{target} committed");
}
