use std::path::Path;

use corral_core::proto::data::Acl;
use corral_core::txn::{CreateKind, LogEntry, Txn, TxnHeader};
use corral_core::types::{SessionId, Zxid};

use super::*;
use crate::storage::compactor::{take_snapshot, CompactorConfig};
use crate::storage::log::{self, LogWriter};
use crate::storage::{epoch, install, recovery, snapshot as snapfile};

fn entry(zxid: i64) -> LogEntry {
    let txn = Txn::Create {
        path: format!("/n{zxid:04}"),
        data: Some(vec![b'v'; 40]),
        acl: Acl::open_unsafe(),
        kind: CreateKind::Persistent,
        parent_cversion: zxid as i32,
    };
    LogEntry {
        hdr: TxnHeader {
            session: SessionId(3),
            cxid: zxid as i32,
            zxid: Zxid(zxid),
            time: 5 + zxid,
            op: txn.op(),
        },
        txn,
    }
}

fn write_log(dir: &Path, from: i64, to: i64) {
    let log_dir = log::log_dir(dir);
    let rec = log::recover(&log_dir, &mut |_, _| Ok(())).unwrap();
    let mut w = LogWriter::open(&log_dir, &rec, 1024, true).unwrap();
    for z in from..=to {
        w.append(&entry(z).to_bytes()).unwrap();
        w.commit().unwrap();
    }
}

fn snap(dir: &Path, z: i64) {
    let cfg = CompactorConfig {
        snap_dir: snapfile::snap_dir(dir),
        log_dir: log::log_dir(dir),
        retain: None,
        gate: Default::default(),
    };
    assert!(take_snapshot(&cfg, Zxid(z)));
}

/// Recovered last zxid, as the server would see it.
fn recovered(dir: &Path) -> Result<Zxid, crate::storage::StorageError> {
    recovery::recover(dir, dir, true, &mut |_| {}, &mut |_| {}).map(|r| r.last_zxid)
}

fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut out = Vec::new();
    f(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn inspect_prints_snapshots_and_records_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 1, 30);
    snap(tmp.path(), 20);
    // A torn tail: reported, not cut.
    let seg = log::segments(&log::log_dir(tmp.path()))
        .unwrap()
        .pop()
        .unwrap()
        .1;
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes.extend_from_slice(&[0, 0, 0, 77, 1]);
    std::fs::write(&seg, &bytes).unwrap();
    let dirs = Dirs::new(tmp.path(), None);
    let out = text(|o| {
        inspect(
            &dirs,
            inspect::InspectOptions {
                nodes: true,
                no_log: false,
            },
            o,
        )
        .unwrap()
    });
    assert!(out.contains("zxid 0x14 digest"), "{out}");
    assert!(out.contains("/n0020 czxid 0x14"), "{out}");
    assert!(out.contains("zxid 0x1e session 0x3"), "{out}");
    assert!(out.contains("log: 30 records, last zxid 0x1e"), "{out}");
    assert!(out.contains("would be truncating torn tail"), "{out}");
    assert_eq!(
        std::fs::read(&seg).unwrap(),
        bytes,
        "inspect must not repair"
    );
}

#[test]
fn verify_passes_a_sound_directory_and_checks_the_digest_chain() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 1, 50);
    snap(tmp.path(), 10);
    snap(tmp.path(), 30);
    snap(tmp.path(), 45);
    let v = verify(&Dirs::new(tmp.path(), None), &mut Vec::new()).unwrap();
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    assert_eq!((v.snapshots, v.records, v.chain_checks), (3, 50, 2));
}

#[test]
fn verify_reports_a_snapshot_that_disagrees_with_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 1, 20);
    snap(tmp.path(), 5);
    // A well-formed snapshot at 15 whose content is not what the log says (one node
    // missing): every checksum is fine, only the chain can tell.
    let mut image = corral_core::snapshot::Image::new();
    for z in 1..=15 {
        if z != 9 {
            image.apply(&entry(z));
        }
    }
    image.apply(&LogEntry {
        hdr: TxnHeader {
            op: -1,
            ..entry(15).hdr
        },
        txn: Txn::Error {
            err: corral_core::error::ErrorCode::NoNode,
        },
    });
    snapfile::write(&snapfile::snap_dir(tmp.path()), &image).unwrap();
    let out = text(|o| {
        let v = verify(&Dirs::new(tmp.path(), None), o).unwrap();
        assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
    });
    assert!(out.contains("replaying the log gives"), "{out}");
}

#[test]
fn repair_cuts_a_log_damaged_in_the_middle_and_keeps_the_rest_aside() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 1, 40);
    let segs = log::segments(&log::log_dir(tmp.path())).unwrap();
    assert!(segs.len() >= 3);
    // Damage the second record of the second segment.
    let victim = &segs[1].1;
    let mut bytes = std::fs::read(victim).unwrap();
    let len = u32::from_be_bytes(bytes[16..20].try_into().unwrap()) as usize;
    let second = 16 + 8 + len;
    bytes[second + 20] ^= 0xff;
    std::fs::write(victim, &bytes).unwrap();
    let err = recovered(tmp.path()).unwrap_err();
    assert!(err.to_string().contains("corrupt"), "{err}");

    let dirs = Dirs::new(tmp.path(), None);
    let plan = repair(&dirs, false, &mut Vec::new()).unwrap();
    assert_eq!(
        plan[0],
        repair::Step::Cut {
            file: victim.clone(),
            offset: second as u64
        }
    );
    assert_eq!(
        plan.len(),
        segs.len() - 1,
        "the later segments are set aside"
    );
    assert!(recovered(tmp.path()).is_err(), "a dry run changes nothing");

    repair(&dirs, true, &mut Vec::new()).unwrap();
    let last = recovered(tmp.path()).unwrap();
    assert_eq!(
        last, segs[1].0,
        "the log ends at the damaged segment's first record"
    );
    let quarantined: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("quarantine-"))
        .collect();
    assert_eq!(quarantined.len(), 1);
    let kept = std::fs::read_dir(quarantined[0].path()).unwrap().count();
    assert_eq!(
        kept,
        segs.len() - 1,
        "the cut tail and each later segment are kept"
    );
    assert!(repair(&dirs, false, &mut Vec::new()).unwrap().is_empty());
}

#[test]
fn repair_falls_back_to_the_snapshot_when_the_log_ends_before_it() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 1, 30);
    snap(tmp.path(), 30);
    let segs = log::segments(&log::log_dir(tmp.path())).unwrap();
    std::fs::remove_file(&segs.last().unwrap().1).unwrap();
    assert!(recovered(tmp.path()).is_err());
    let dirs = Dirs::new(tmp.path(), None);
    repair(&dirs, true, &mut Vec::new()).unwrap();
    assert_eq!(recovered(tmp.path()).unwrap(), Zxid(30));
}

#[test]
fn repair_leaves_damage_that_recovery_never_reads_alone() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 1, 60);
    snap(tmp.path(), 50);
    let segs = log::segments(&log::log_dir(tmp.path())).unwrap();
    // Bit rot in the first segment, which holds only records before the snapshot.
    assert!(segs[1].0 .0 <= 51);
    let mut bytes = std::fs::read(&segs[0].1).unwrap();
    bytes[40] ^= 0xff;
    std::fs::write(&segs[0].1, &bytes).unwrap();
    assert_eq!(recovered(tmp.path()).unwrap(), Zxid(60));
    let dirs = Dirs::new(tmp.path(), None);
    assert!(repair(&dirs, true, &mut Vec::new()).unwrap().is_empty());
    assert_eq!(
        recovered(tmp.path()).unwrap(),
        Zxid(60),
        "nothing after the snapshot lost"
    );
}

/// An install of `img` that committed and stopped right there (temp file and commit file
/// written, nothing old removed), as a crash leaves it.
fn interrupted_install(dir: &Path, img: &corral_core::snapshot::Image) {
    let sd = snapfile::snap_dir(dir);
    let bytes = corral_core::snapshot::to_bytes(img);
    std::fs::write(sd.join(install::tmp_name(img.zxid())), bytes).unwrap();
    std::fs::write(sd.join(install::commit_name(img.zxid())), b"").unwrap();
}

fn leader_image(upto: i64) -> corral_core::snapshot::Image {
    let mut img = corral_core::snapshot::Image::new();
    for z in 1..=upto {
        let mut e = entry(z);
        if let Txn::Create { path, .. } = &mut e.txn {
            *path = format!("/leader{z:04}");
        }
        img.apply(&e);
    }
    img
}

fn install_now(dir: &Path, img: &corral_core::snapshot::Image) {
    install::install(
        &snapfile::snap_dir(dir),
        &log::log_dir(dir),
        img.zxid(),
        &corral_core::snapshot::to_bytes(img),
    )
    .unwrap();
}

#[test]
fn inspect_shows_epochs_markers_and_an_unfinished_install() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 1, 10);
    let sd = snapfile::snap_dir(tmp.path());
    // ZooKeeper's format (no leader), and Corral's.
    std::fs::write(sd.join(epoch::ACCEPTED_EPOCH), "3").unwrap();
    std::fs::write(sd.join(epoch::CURRENT_EPOCH), "2\n").unwrap();
    interrupted_install(tmp.path(), &leader_image(15));
    let before = crate::storage::testutil::files(tmp.path());
    let dirs = Dirs::new(tmp.path(), None);
    let out = text(|o| inspect(&dirs, inspect::InspectOptions::default(), o).unwrap());
    assert!(
        out.contains("acceptedEpoch 3 (leader not recorded)"),
        "{out}"
    );
    assert!(out.contains("currentEpoch 2"), "{out}");
    assert!(
        out.contains("install of snapshot 0xf committed but did not finish"),
        "{out}"
    );
    assert_eq!(crate::storage::testutil::files(tmp.path()), before);

    let tmp = tempfile::tempdir().unwrap();
    install_now(tmp.path(), &leader_image(15));
    epoch::save(
        &snapfile::snap_dir(tmp.path()),
        Some(corral_core::server::AcceptedEpoch {
            epoch: corral_core::types::Epoch(4),
            leader: Some(corral_core::types::ServerId(2)),
        }),
        None,
    )
    .unwrap();
    let dirs = Dirs::new(tmp.path(), None);
    let out = text(|o| inspect(&dirs, inspect::InspectOptions::default(), o).unwrap());
    assert!(out.contains("acceptedEpoch 4 (leader 2)"), "{out}");
    assert!(out.contains("currentEpoch: no file (epoch 0)"), "{out}");
    assert!(
        out.contains("log-starts-after.f: the log may start after snapshot 0xf"),
        "{out}"
    );
}

#[test]
fn inspect_and_verify_report_a_damaged_epoch_file() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 1, 5);
    let sd = snapfile::snap_dir(tmp.path());
    std::fs::create_dir_all(&sd).unwrap();
    std::fs::write(sd.join(epoch::CURRENT_EPOCH), "two\n").unwrap();
    let dirs = Dirs::new(tmp.path(), None);
    let mut out = Vec::new();
    let err = inspect(&dirs, inspect::InspectOptions::default(), &mut out).unwrap_err();
    assert!(err.to_string().contains("currentEpoch"), "{err}");
    let v = verify(&dirs, &mut Vec::new()).unwrap();
    assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
    assert!(v.problems[0].contains("currentEpoch"), "{:?}", v.problems);
}

#[test]
fn verify_accepts_an_installed_snapshot_with_or_without_a_log_after_it() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 1, 30);
    snap(tmp.path(), 20);
    install_now(tmp.path(), &leader_image(25));
    let dirs = Dirs::new(tmp.path(), None);
    let v = verify(&dirs, &mut Vec::new()).unwrap();
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    assert_eq!((v.snapshots, v.records), (1, 0));
    write_log(tmp.path(), 26, 40);
    snap(tmp.path(), 35);
    let v = verify(&dirs, &mut Vec::new()).unwrap();
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    assert_eq!((v.snapshots, v.records, v.chain_checks), (2, 15, 1));
    assert_eq!(recovered(tmp.path()).unwrap(), Zxid(40));
}

#[test]
fn verify_flags_a_snapshot_without_log_or_marker_as_recovery_does() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 1, 12);
    snap(tmp.path(), 12);
    for (_, seg) in log::segments(&log::log_dir(tmp.path())).unwrap() {
        std::fs::remove_file(seg).unwrap();
    }
    let v = verify(&Dirs::new(tmp.path(), None), &mut Vec::new()).unwrap();
    assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
    assert!(
        v.problems[0].contains("no transaction log"),
        "{:?}",
        v.problems
    );
    assert!(recovered(tmp.path()).is_err());
}

#[test]
fn verify_and_repair_handle_an_unfinished_install() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 1, 30);
    snap(tmp.path(), 20);
    let img = leader_image(25);
    interrupted_install(tmp.path(), &img);
    let dirs = Dirs::new(tmp.path(), None);
    let v = verify(&dirs, &mut Vec::new()).unwrap();
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    assert!(
        v.notes[0].contains("finish the install of snapshot 0x19"),
        "{:?}",
        v.notes
    );

    let before = crate::storage::testutil::files(tmp.path());
    let plan = repair(&dirs, false, &mut Vec::new()).unwrap();
    assert_eq!(plan, vec![repair::Step::FinishInstall(Zxid(25))]);
    let mut after = crate::storage::testutil::files(tmp.path());
    after.retain(|p, _| !p.ends_with(crate::storage::LOCK_FILE));
    let mut before = before;
    before.retain(|p, _| !p.ends_with(crate::storage::LOCK_FILE));
    assert_eq!(after, before, "a dry run changes nothing");

    let done = repair(&dirs, true, &mut Vec::new()).unwrap();
    assert_eq!(done, vec![repair::Step::FinishInstall(Zxid(25))]);
    assert!(repair(&dirs, false, &mut Vec::new()).unwrap().is_empty());
    let image = std::cell::RefCell::new(None);
    recovery::recover(
        tmp.path(),
        tmp.path(),
        true,
        &mut |i| *image.borrow_mut() = Some(i),
        &mut |_| panic!("no log after an install"),
    )
    .unwrap();
    assert_eq!(image.into_inner().unwrap().tree.digest(), img.tree.digest());
}

#[test]
fn verify_reports_a_damaged_snapshot_being_installed() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 1, 10);
    let img = leader_image(12);
    interrupted_install(tmp.path(), &img);
    let tmp_file = snapfile::snap_dir(tmp.path()).join(install::tmp_name(Zxid(12)));
    let mut bytes = std::fs::read(&tmp_file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&tmp_file, &bytes).unwrap();
    let v = verify(&Dirs::new(tmp.path(), None), &mut Vec::new()).unwrap();
    assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
    assert!(
        v.problems[0].contains("being installed"),
        "{:?}",
        v.problems
    );
}
