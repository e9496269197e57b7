use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use corral_core::server::AcceptedEpoch;
use corral_core::snapshot::Image;
use corral_core::types::{Epoch, ServerId};

use super::*;
use crate::storage::compactor::{take_snapshot, CompactorConfig};
use crate::storage::testutil::{self, image, run, z, State};
use crate::storage::{epoch, log, snapshot, LOCK_FILE};

fn snap_dir(d: &Path) -> PathBuf {
    snapshot::snap_dir(d)
}

fn log_dir(d: &Path) -> PathBuf {
    log::log_dir(d)
}

fn snap(dir: &Path, at: Zxid) {
    let cfg = CompactorConfig {
        snap_dir: snap_dir(dir),
        log_dir: log_dir(dir),
        retain: None,
        gate: Default::default(),
    };
    assert!(take_snapshot(&cfg, at));
}

/// Old state: history "a" 1:1..1:30 in small segments, snapshots at 1:10 and 1:20, epochs.
fn old_state(dir: &Path) {
    testutil::append(dir, "a", &run(1, 1, 30), 600);
    snap(dir, z(1, 10));
    snap(dir, z(1, 20));
    let accepted = AcceptedEpoch {
        epoch: Epoch(2),
        leader: Some(ServerId(2)),
    };
    epoch::save(&snap_dir(dir), Some(accepted), Some(Epoch(1))).unwrap();
}

/// Files other than the lock.
fn content(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut f = testutil::files(dir);
    f.retain(|p, _| !p.ends_with(LOCK_FILE));
    f
}

/// The leader's images the scenarios install: newer than the old log, older than it
/// (the old log holds an uncommitted tail), and at the zxid of an old snapshot.
fn leader_images() -> Vec<Image> {
    let mut newer = run(1, 1, 25);
    newer.extend(run(2, 1, 12));
    vec![
        image(Image::new(), "L", &newer),
        image(Image::new(), "L", &run(1, 1, 24)),
        image(Image::new(), "L", &run(1, 1, 20)),
    ]
}

fn new_state(img: &Image) -> State {
    let mut s = State::of(img);
    s.snapshot_zxid = img.zxid();
    s
}

#[test]
fn an_install_replaces_every_snapshot_and_segment_and_the_log_continues_it() {
    for img in leader_images() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        old_state(dir);
        let epochs = epoch::read_stored(&snap_dir(dir)).unwrap();
        let n = img.zxid();
        install(
            &snap_dir(dir),
            &log_dir(dir),
            n,
            &testutil::snapshot_bytes(&img),
        )
        .unwrap();
        let names: Vec<String> = content(dir)
            .keys()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            names,
            vec![
                "version-2/acceptedEpoch".to_owned(),
                "version-2/currentEpoch".to_owned(),
                format!("version-2/{}", snapshot::log_start_marker(n)),
                format!("version-2/{}", snapshot::snapshot_name(n)),
            ]
        );
        let (state, rec) = testutil::recover(dir).unwrap();
        assert_eq!(state, new_state(&img));
        assert_eq!(rec.epochs, epochs, "epochs are not part of an install");
        drop(rec);
        // The log continues the installed snapshot.
        let next = Zxid(n.0 + 1);
        testutil::append(dir, "L", &[next], 600);
        let mut want = new_state(&image(img.clone(), "L", &[next]));
        want.snapshot_zxid = n;
        assert_eq!(testutil::recover(dir).unwrap().0, want);
    }
}

/// Stop an install after every number of steps (each a durable file-system action), as a
/// crash there would, then recover: the result is exactly the old state before the commit
/// file exists, and exactly the new one from then on. Recovery finishing the install is
/// itself interrupted at every step too, and a second recovery still finds the new state.
#[test]
fn a_crash_at_every_step_recovers_the_old_state_or_the_new_one() {
    for img in leader_images() {
        let n = img.zxid();
        let bytes = testutil::snapshot_bytes(&img);
        let src = tempfile::tempdir().unwrap();
        old_state(src.path());
        let (old, rec) = testutil::recover(src.path()).unwrap();
        drop(rec);
        let old_files = content(src.path());
        let new = new_state(&img);
        let mut outcomes = Vec::new();
        // Once the commit file was created (seen after some crash), every later crash point
        // is past the commit, even once the roll forward has removed the file again.
        let mut past_commit = false;
        for k in 0.. {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path();
            testutil::copy_dir(src.path(), dir);
            let r = install_steps(&snap_dir(dir), &log_dir(dir), n, &bytes, &mut Some(k));
            let finished = match r {
                Ok(()) => true,
                Err(Stop::Crash) => false,
                Err(Stop::Error(e)) => panic!("step {k}: {e}"),
            };
            let committed = snap_dir(dir).join(commit_name(n)).exists();
            past_commit |= committed || finished;
            if committed {
                // Recovery is interrupted at every step of finishing too.
                for j in 0.. {
                    let again = tempfile::tempdir().unwrap();
                    testutil::copy_dir(dir, again.path());
                    let sd = snap_dir(again.path());
                    match finish_steps(&sd, &log_dir(again.path()), &mut Some(j)) {
                        Ok(done) => {
                            assert_eq!(done, Some(n));
                            break;
                        }
                        Err(Stop::Crash) => {}
                        Err(Stop::Error(e)) => panic!("step {k}, finish step {j}: {e}"),
                    }
                    let (state, _) = testutil::recover(again.path()).unwrap();
                    assert_eq!(state, new, "install step {k}, finish step {j}");
                }
            }
            let (state, rec) = testutil::recover(dir).unwrap();
            drop(rec);
            if past_commit {
                assert_eq!(state, new, "step {k}");
                assert!(!snap_dir(dir).join(commit_name(n)).exists());
            } else {
                assert_eq!(state, old, "step {k}");
                assert_eq!(
                    content(dir),
                    old_files,
                    "step {k}: the old files are intact"
                );
            }
            outcomes.push(committed);
            if finished {
                break;
            }
        }
        // The commit file exists from one step on, until the roll forward's last steps.
        let first = outcomes.iter().position(|&b| b).unwrap();
        let last = outcomes.iter().rposition(|&b| b).unwrap();
        assert!(first > 0, "the first steps leave the old state");
        assert!(outcomes[first..=last].iter().all(|&b| b), "{outcomes:?}");
        assert!(
            last > first + 5,
            "the roll forward has steps to cut: {outcomes:?}"
        );
    }
}

#[test]
fn bad_snapshot_bytes_are_refused_before_anything_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    old_state(dir);
    let before = content(dir);
    let img = &leader_images()[0];
    let mut bytes = testutil::snapshot_bytes(img);
    // Another zxid than the one announced.
    let e = install(&snap_dir(dir), &log_dir(dir), z(2, 13), &bytes).unwrap_err();
    assert!(e.to_string().contains("expected 0x20000000d"), "{e}");
    // A flipped byte.
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    let e = install(&snap_dir(dir), &log_dir(dir), img.zxid(), &bytes).unwrap_err();
    assert!(matches!(e, StorageError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("snapshot to install"), "{e}");
    assert_eq!(content(dir), before);
}

#[test]
fn a_damaged_new_snapshot_after_the_commit_stops_recovery_and_keeps_the_old_state() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    old_state(dir);
    let img = &leader_images()[0];
    let n = img.zxid();
    let bytes = testutil::snapshot_bytes(img);
    // Crash right after the commit (4 steps: write, fsync, create, fsync).
    assert!(matches!(
        install_steps(&snap_dir(dir), &log_dir(dir), n, &bytes, &mut Some(4)),
        Err(Stop::Crash)
    ));
    let tmp_file = snap_dir(dir).join(tmp_name(n));
    let mut damaged = std::fs::read(&tmp_file).unwrap();
    damaged[60] ^= 1;
    std::fs::write(&tmp_file, &damaged).unwrap();
    let before = content(dir);
    let err = testutil::recover(dir).err().expect("must refuse");
    let msg = err.to_string();
    assert!(msg.contains(&commit_name(n)), "{msg}");
    assert!(msg.contains("damaged"), "{msg}");
    assert_eq!(content(dir), before, "nothing old was removed");
}

#[test]
fn two_commit_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let sd = snap_dir(tmp.path());
    std::fs::create_dir_all(&sd).unwrap();
    std::fs::write(sd.join(commit_name(z(1, 1))), b"").unwrap();
    std::fs::write(sd.join(commit_name(z(1, 2))), b"").unwrap();
    let e = find_interrupted(&sd).unwrap_err();
    assert!(e.to_string().contains("at most one"), "{e}");
}
