use std::path::Path;

use corral_core::proto::data::Acl;
use corral_core::txn::{CreateKind, LogEntry, Txn, TxnHeader};
use corral_core::types::{SessionId, Zxid};

use super::*;
use crate::storage::compactor::{take_snapshot, CompactorConfig};
use crate::storage::log::{self, LogWriter};
use crate::storage::{recovery, snapshot as snapfile};

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
