//! Planted bugs in whole runs: a sweep from seed 0 catches each one within a stated number
//! of seeds (docs/simulation.md lists the same numbers), by the stated checker, and the
//! coverage counters that explain the catch were reached.
//!

use corral_sim::check::plant::Bug;
use corral_sim::coverage::{CRASH_BEFORE_ACK, SESSION_MOVED, SNAPSHOT_RECOVERY, SYNC_TRUNC};
use corral_sim::scenario::Knobs;
use corral_sim::{cli, run, RunOptions, RunReport};

fn opts(bug: Bug, faults: bool, servers: usize) -> RunOptions {
    RunOptions {
        knobs: Knobs {
            plant: Some(bug),
            faults,
            servers: Some(servers),
            ..Knobs::default()
        },
        ..RunOptions::default()
    }
}

/// Run seeds 0, 1, 2... with `bug` planted until one fails; the first failing run, which
/// must come within `within` seeds.
fn first_catch(bug: Bug, servers: usize, within: u64) -> RunReport {
    for seed in 0..within {
        let r = run(seed, &opts(bug, true, servers));
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
    let r = first_catch(Bug::AckBeforeFsync, 1, 3);
    assert!(failed(&r).contains(&"durability"), "{}", cli::summary(&r));
    assert!(r.coverage.get(CRASH_BEFORE_ACK) > 0);
}

#[test]
fn acking_before_fsync_in_an_ensemble_is_caught_at_the_first_ack() {
    // A follower's ACK names a zxid its disk does not durably hold yet.
    let r = first_catch(Bug::AckBeforeFsync, 3, 1);
    assert!(failed(&r).contains(&"ack-durable"), "{}", cli::summary(&r));
}

#[test]
fn a_snapshot_missing_its_last_txn_is_caught_within_8_seeds_after_a_recovery() {
    let r = first_catch(Bug::SnapshotDropsLastTxn, 1, 8);
    let f = failed(&r);
    assert!(
        f.contains(&"reads") || f.contains(&"write-replies"),
        "{}",
        cli::summary(&r)
    );
    assert!(r.coverage.get(SNAPSHOT_RECOVERY) > 0);
    // The lossy snapshots alone change nothing until a restart loads one.
    let calm = run(r.seed, &opts(Bug::SnapshotDropsLastTxn, false, 1));
    assert!(calm.passed(), "{}", cli::summary(&calm));
}

#[test]
fn a_dropped_ephemeral_cleanup_is_caught_within_3_seeds() {
    let r = first_catch(Bug::ZombieEphemeral, 1, 3);
    assert!(failed(&r).contains(&"reads"), "{}", cli::summary(&r));
}

#[test]
fn a_follower_dropping_the_ephemeral_cleanup_is_caught_within_2_seeds() {
    let r = first_catch(Bug::DropEphemeralCleanup, 3, 2);
    let f = failed(&r);
    // The follower's tree differs from the others' at the same zxid, its log holds a
    // different txn at the close's zxid, and its clients read ephemerals of closed sessions.
    for name in ["replica-digest", "zxid-unique", "reads"] {
        assert!(f.contains(&name), "{name}: {}", cli::summary(&r));
    }
}

#[test]
fn a_stale_read_is_caught_within_3_seeds() {
    let r = first_catch(Bug::StaleRead, 1, 3);
    assert!(
        failed(&r).contains(&"session-order"),
        "{}",
        cli::summary(&r)
    );
}

#[test]
fn skipping_trunc_is_caught_within_14_seeds() {
    // The follower's disk keeps the uncommitted tail TRUNC should have removed: its
    // history disagrees with the committed one (at the end, or when it restarts).
    let r = first_catch(Bug::SkipTrunc, 3, 14);
    assert!(
        failed(&r).contains(&"committed-prefix"),
        "{}",
        cli::summary(&r)
    );
    assert!(r.coverage.get(SYNC_TRUNC) > 0);
    // Without faults nothing is truncated and the same seed passes.
    let calm = run(r.seed, &opts(Bug::SkipTrunc, false, 3));
    assert!(calm.passed(), "{}", cli::summary(&calm));
}

#[test]
fn a_stale_read_after_a_session_move_is_caught_within_8_seeds() {
    let r = first_catch(Bug::StaleReadAfterMove, 3, 8);
    assert!(
        failed(&r).contains(&"session-order"),
        "{}",
        cli::summary(&r)
    );
    assert!(r.coverage.get(SESSION_MOVED) > 0);
}

#[test]
fn a_late_notification_is_caught_at_the_first_seed() {
    // Standalone and ensemble: a notification sent after a reply that includes its change.
    for servers in [1, 3] {
        let r = first_catch(Bug::LateNotification, servers, 1);
        assert_eq!(failed(&r), ["watch-order"], "{}", cli::summary(&r));
    }
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
    let knobs = opts(Bug::SnapshotDropsLastTxn, true, 1).knobs;
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
