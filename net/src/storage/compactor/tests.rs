//! The snapshot thread against rewrites of the log (see `gate`). Each test stops a
//! compaction between building and publishing (`prepare`, `publish`), runs the rewrite as
//! the log thread does (with the gate held), and lets the compaction finish.

use std::path::Path;

use corral_core::snapshot::Image;

use super::*;
use crate::storage::install;
use crate::storage::log::{self, LogWriter};
use crate::storage::testutil::{self, image, run, z, State};

fn config(dir: &Path, gate: &Arc<RewriteGate>, retain: Option<usize>) -> CompactorConfig {
    CompactorConfig {
        snap_dir: snapshot::snap_dir(dir),
        log_dir: log::log_dir(dir),
        retain,
        gate: gate.clone(),
    }
}

fn writer(dir: &Path) -> LogWriter {
    let d = log::log_dir(dir);
    let rec = log::recover(&d, &mut |_, _| Ok(())).unwrap();
    LogWriter::open(&d, &rec, 600, true).unwrap()
}

/// No snapshot file and no temp file at `at`.
fn no_snapshot_at(dir: &Path, at: Zxid) {
    let sd = snapshot::snap_dir(dir);
    assert!(!sd.join(snapshot::snapshot_name(at)).exists());
    let tmps: Vec<_> = std::fs::read_dir(&sd)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(tmps.is_empty(), "{tmps:?}");
}

#[test]
fn an_install_during_a_compaction_drops_the_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    testutil::append(dir, "a", &run(1, 1, 30), 600);
    let gate = Arc::new(RewriteGate::default());
    let cfg = config(dir, &gate, Some(3));
    let prepared = prepare(&cfg, z(1, 25)).expect("built");
    let leader = image(Image::new(), "L", &run(1, 1, 12));
    gate.rewrite(|| {
        install::install(
            &cfg.snap_dir,
            &cfg.log_dir,
            z(1, 12),
            &testutil::snapshot_bytes(&leader),
        )
    })
    .unwrap();
    assert!(!publish(&cfg, prepared), "built from the replaced log");
    no_snapshot_at(dir, z(1, 25));
    let (state, _) = testutil::recover(dir).unwrap();
    let mut want = State::of(&leader);
    want.snapshot_zxid = z(1, 12);
    assert_eq!(state, want);
}

#[test]
fn a_truncation_during_a_compaction_drops_the_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    testutil::append(dir, "a", &run(1, 1, 30), 600);
    let gate = Arc::new(RewriteGate::default());
    let cfg = config(dir, &gate, None);
    let prepared = prepare(&cfg, z(1, 25)).expect("built");
    let mut w = writer(dir);
    gate.rewrite(|| {
        let plan = w.plan_truncate(z(1, 20), Zxid::ZERO)?;
        w.apply_truncate(&plan)
    })
    .unwrap();
    // The tail the snapshot holds is gone: it must not appear.
    assert!(!publish(&cfg, prepared));
    no_snapshot_at(dir, z(1, 25));
    // A new history after the cut, then a snapshot of it, is right.
    for &zx in &run(2, 1, 10) {
        w.append(&testutil::entry("b", zx).to_bytes()).unwrap();
    }
    w.commit().unwrap();
    drop(w);
    assert!(take_snapshot(&cfg, z(2, 5)));
    let a = image(Image::new(), "a", &run(1, 1, 20));
    let want = image(a, "b", &run(2, 1, 10));
    let (state, rec) = testutil::recover(dir).unwrap();
    assert_eq!(rec.snapshot_zxid, z(2, 5));
    assert_eq!(
        State {
            snapshot_zxid: Zxid::ZERO,
            ..state
        },
        State::of(&want)
    );
}

#[test]
fn a_compaction_after_a_rewrite_sees_only_the_new_log() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    testutil::append(dir, "a", &run(1, 1, 30), 600);
    let gate = Arc::new(RewriteGate::default());
    let cfg = config(dir, &gate, Some(3));
    let mut w = writer(dir);
    gate.rewrite(|| {
        let plan = w.plan_truncate(z(1, 20), Zxid::ZERO)?;
        w.apply_truncate(&plan)
    })
    .unwrap();
    // Asked before the truncation arrived, run after it: the log no longer reaches 1:25.
    assert!(!take_snapshot(&cfg, z(1, 25)));
    no_snapshot_at(dir, z(1, 25));
    assert!(take_snapshot(&cfg, z(1, 20)));
    let (state, _) = testutil::recover(dir).unwrap();
    assert_eq!(state.snapshot_zxid, z(1, 20));
    assert_eq!(state.last_zxid, z(1, 20));
}

#[test]
fn a_compaction_that_finished_first_is_replaced_by_the_install() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    testutil::append(dir, "a", &run(1, 1, 30), 600);
    let gate = Arc::new(RewriteGate::default());
    let cfg = config(dir, &gate, Some(3));
    assert!(take_snapshot(&cfg, z(1, 25)));
    let leader = image(Image::new(), "L", &run(1, 1, 27));
    gate.rewrite(|| {
        install::install(
            &cfg.snap_dir,
            &cfg.log_dir,
            z(1, 27),
            &testutil::snapshot_bytes(&leader),
        )
    })
    .unwrap();
    assert_eq!(
        snapshot::list(&cfg.snap_dir)
            .unwrap()
            .into_iter()
            .map(|(z, _)| z)
            .collect::<Vec<_>>(),
        vec![z(1, 27)]
    );
    assert_eq!(
        testutil::recover(dir).unwrap().0.digest,
        leader.tree.digest()
    );
}

/// A delta as the server would hand it out: `tracked` changed since `base`.
fn delta_of(tracked: &mut Image, base: Zxid) -> Box<corral_core::snapshot::Delta> {
    let paths = tracked.tree.take_changes().expect("tracking");
    Box::new(corral_core::snapshot::Delta {
        base,
        header: tracked.header(),
        sessions: tracked.sessions.iter().map(|(s, t)| (*s, *t)).collect(),
        changes: tracked.tree.export_changes(&paths),
    })
}

/// Log 1..=30, a full snapshot at 10, and the image at 30 with changes tracked since 10.
fn delta_setup(dir: &Path) -> (CompactorConfig, Image) {
    testutil::append(dir, "a", &run(1, 1, 30), 600);
    let gate = Arc::new(RewriteGate::default());
    let cfg = config(dir, &gate, None);
    assert!(take_snapshot(&cfg, z(1, 10)));
    let mut tracked = image(Image::new(), "a", &run(1, 1, 10));
    tracked.tree.track_changes();
    let tracked = image(tracked, "a", &run(1, 11, 30));
    (cfg, tracked)
}

fn snapshot_file(dir: &Path, at: Zxid) -> Vec<u8> {
    std::fs::read(snapshot::snap_dir(dir).join(snapshot::snapshot_name(at))).unwrap()
}

#[test]
fn a_delta_snapshot_equals_the_full_build() {
    let tmp = tempfile::tempdir().unwrap();
    let (cfg, mut tracked) = delta_setup(tmp.path());
    let delta = delta_of(&mut tracked, z(1, 10));
    assert_eq!(delta.changes.len(), 21, "20 creates and their parent");
    assert!(take_snapshot_with(&cfg, z(1, 30), Some(&delta)));
    assert_eq!(
        snapshot_file(tmp.path(), z(1, 30)),
        testutil::snapshot_bytes(&image(Image::new(), "a", &run(1, 1, 30)))
    );
}

#[test]
fn a_delta_that_misses_a_change_falls_back_to_the_full_build() {
    let tmp = tempfile::tempdir().unwrap();
    let (cfg, mut tracked) = delta_setup(tmp.path());
    let mut delta = delta_of(&mut tracked, z(1, 10));
    delta.changes.pop();
    assert!(take_snapshot_with(&cfg, z(1, 30), Some(&delta)));
    assert_eq!(
        snapshot_file(tmp.path(), z(1, 30)),
        testutil::snapshot_bytes(&image(Image::new(), "a", &run(1, 1, 30)))
    );
}

#[test]
fn a_delta_whose_base_is_gone_falls_back_to_the_full_build() {
    let tmp = tempfile::tempdir().unwrap();
    let (cfg, mut tracked) = delta_setup(tmp.path());
    std::fs::remove_file(snapshot::snap_dir(tmp.path()).join(snapshot::snapshot_name(z(1, 10))))
        .unwrap();
    let delta = delta_of(&mut tracked, z(1, 10));
    assert!(take_snapshot_with(&cfg, z(1, 30), Some(&delta)));
    assert_eq!(
        snapshot_file(tmp.path(), z(1, 30)),
        testutil::snapshot_bytes(&image(Image::new(), "a", &run(1, 1, 30)))
    );
}

#[test]
fn the_first_delta_is_against_the_fresh_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    testutil::append(dir, "a", &run(1, 1, 5), 600);
    let gate = Arc::new(RewriteGate::default());
    let cfg = config(dir, &gate, None);
    let mut tracked = Image::new();
    tracked.tree.track_changes();
    let mut tracked = image(tracked, "a", &run(1, 1, 5));
    let delta = delta_of(&mut tracked, Zxid::ZERO);
    // Merged, not rebuilt: the log is gone, so a full build could not succeed.
    std::fs::remove_dir_all(log::log_dir(dir)).unwrap();
    assert!(take_snapshot_with(&cfg, z(1, 5), Some(&delta)));
    assert_eq!(
        snapshot_file(dir, z(1, 5)),
        testutil::snapshot_bytes(&image(Image::new(), "a", &run(1, 1, 5)))
    );
}
