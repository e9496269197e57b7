//! Planted bugs in whole runs: a sweep from seed 0 catches each one within a stated number
//! of seeds (docs/simulation.md lists the same numbers), and the coverage counters that
//! explain the catch were reached.

use corral_sim::check::plant::Bug;
use corral_sim::coverage::{CRASH_BEFORE_ACK, SNAPSHOT_RECOVERY};
use corral_sim::scenario::Knobs;
use corral_sim::{cli, run, RunOptions, RunReport};

fn opts(bug: Bug, faults: bool) -> RunOptions {
    RunOptions {
        knobs: Knobs {
            plant: Some(bug),
            faults,
            ..Knobs::default()
        },
        ..RunOptions::default()
    }
}

/// Run seeds 0, 1, 2... with `bug` planted until one fails; the first failing run, which
/// must come within `within` seeds.
fn first_catch(bug: Bug, within: u64) -> RunReport {
    for seed in 0..within {
        let r = run(seed, &opts(bug, true));
        assert!(
            r.planted.is_some(),
            "{bug:?} was not planted in seed {seed}"
        );
        if !r.passed() {
            return r;
        }
    }
    panic!("{bug:?} not caught within {within} seeds");
}

fn failed(r: &RunReport) -> Vec<&'static str> {
    r.verdicts
        .iter()
        .filter(|v| !v.passed())
        .map(|v| v.name)
        .collect()
}

#[test]
fn acking_before_fsync_is_caught_within_3_seeds() {
    // (Even without faults: the final durable log is what a crash at the end would leave,
    // and the last acknowledged writes are not synced yet.)
    let r = first_catch(Bug::AckBeforeFsync, 3);
    assert!(failed(&r).contains(&"durability"), "{}", cli::summary(&r));
    assert!(r.coverage.get(CRASH_BEFORE_ACK) > 0);
}

#[test]
fn a_snapshot_missing_its_last_txn_is_caught_within_8_seeds_after_a_recovery() {
    let r = first_catch(Bug::SnapshotDropsLastTxn, 8);
    let f = failed(&r);
    assert!(
        f.contains(&"reads") || f.contains(&"write-replies"),
        "{}",
        cli::summary(&r)
    );
    assert!(r.coverage.get(SNAPSHOT_RECOVERY) > 0);
    // The lossy snapshots alone change nothing until a restart loads one.
    let calm = run(r.seed, &opts(Bug::SnapshotDropsLastTxn, false));
    assert!(calm.passed(), "{}", cli::summary(&calm));
}

#[test]
fn a_dropped_ephemeral_cleanup_is_caught_within_3_seeds() {
    let r = first_catch(Bug::ZombieEphemeral, 3);
    assert!(failed(&r).contains(&"reads"), "{}", cli::summary(&r));
}

#[test]
fn a_stale_read_is_caught_within_3_seeds() {
    let r = first_catch(Bug::StaleRead, 3);
    assert!(
        failed(&r).contains(&"session-order"),
        "{}",
        cli::summary(&r)
    );
}

#[test]
fn bug_names_round_trip() {
    for b in Bug::ALL {
        assert_eq!(Bug::from_name(b.name()), Ok(*b));
    }
    assert!(Bug::from_name("no-such-bug").is_err());
}

/// A failure that needs a crash shrinks to a schedule of fewer faults that still fails,
/// and in which every remaining fault is needed.
#[test]
fn a_failing_schedule_shrinks_to_the_faults_it_needs() {
    use corral_sim::shrink::{fails, schedule_len, shrink_faults};
    let knobs = opts(Bug::SnapshotDropsLastTxn, true).knobs;
    let seed = 2;
    let total = schedule_len(seed, &knobs);
    let keep = shrink_faults(seed, &knobs, &mut |_| {}).expect("seed 2 catches the planted bug");
    assert!(
        !keep.is_empty() && keep.len() < total,
        "{keep:?} of {total}"
    );
    let shrunk = Knobs {
        keep_faults: Some(keep.clone()),
        ..knobs.clone()
    };
    assert!(fails(seed, &shrunk));
    for i in 0..keep.len() {
        let mut fewer = keep.clone();
        fewer.remove(i);
        let k = Knobs {
            keep_faults: Some(fewer),
            ..knobs.clone()
        };
        assert!(!fails(seed, &k), "fault {} was not needed", keep[i]);
    }
}
