use std::path::Path;

use corral_core::proto::data::Acl;
use corral_core::snapshot::Image;
use corral_core::txn::{CreateKind, LogEntry, Txn, TxnHeader};
use corral_core::types::{SessionId, Zxid};

use super::*;
use crate::storage::compactor::{take_snapshot, CompactorConfig};
use crate::storage::log::LogWriter;
use crate::storage::recovery;

fn entry(zxid: i64) -> LogEntry {
    let txn = if zxid == 1 {
        Txn::CreateSession { timeout_ms: 5000 }
    } else {
        Txn::Create {
            path: format!("/n{zxid:05}"),
            data: Some(format!("value {zxid}").into_bytes()),
            acl: Acl::open_unsafe(),
            kind: if zxid % 3 == 0 {
                CreateKind::Ephemeral(SessionId(9))
            } else {
                CreateKind::Persistent
            },
            parent_cversion: zxid as i32,
        }
    };
    LogEntry {
        hdr: TxnHeader {
            session: SessionId(9),
            cxid: zxid as i32,
            zxid: Zxid(zxid),
            time: 1000 + zxid,
            op: txn.op(),
        },
        txn,
    }
}

/// Append entries `from..=to` to the log under `dir`, in small segments.
fn write_log(dir: &Path, from: i64, to: i64) {
    let log_dir = log::log_dir(dir);
    let rec = log::recover(&log_dir, &mut |_, _| Ok(())).unwrap();
    let mut w = LogWriter::open(&log_dir, &rec, 2048, true).unwrap();
    for z in from..=to {
        w.append(&entry(z).to_bytes()).unwrap();
        w.commit().unwrap();
    }
}

fn expected(upto: i64) -> Image {
    let mut img = Image::new();
    for z in 1..=upto {
        img.apply(&entry(z));
    }
    img
}

/// Recover `dir` the way the server does; returns the image and what recovery said.
fn recover_image(dir: &Path) -> Result<(Image, Zxid, Vec<String>), StorageError> {
    let image = std::cell::RefCell::new(Image::new());
    let rec = recovery::recover(dir, dir, true, &mut |i| *image.borrow_mut() = i, &mut |e| {
        image.borrow_mut().apply(&e)
    })?;
    Ok((image.into_inner(), rec.snapshot_zxid, rec.repairs))
}

fn same(a: &Image, b: &Image) {
    assert_eq!(a.header(), b.header());
    assert_eq!(a.sessions, b.sessions);
    let wa: Vec<_> = a.tree.walk().collect();
    let wb: Vec<_> = b.tree.walk().collect();
    assert_eq!(wa, wb);
}

fn config(dir: &Path, retain: Option<usize>) -> CompactorConfig {
    CompactorConfig {
        snap_dir: snap_dir(dir),
        log_dir: log::log_dir(dir),
        retain,
        gate: Default::default(),
    }
}

#[test]
fn recovery_from_snapshot_plus_log_equals_full_replay() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 1, 120);
    assert!(take_snapshot(&config(tmp.path(), None), Zxid(50)));
    assert!(take_snapshot(&config(tmp.path(), None), Zxid(90)));
    let (image, from, repairs) = recover_image(tmp.path()).unwrap();
    assert_eq!(from, Zxid(90));
    assert!(repairs.is_empty(), "{repairs:?}");
    same(&image, &expected(120));
    // The server can go on writing after recovery from a snapshot.
    write_log(tmp.path(), 121, 125);
    same(&recover_image(tmp.path()).unwrap().0, &expected(125));
}

#[test]
fn purge_keeps_what_recovery_needs_and_bounds_the_files() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), Some(3));
    let mut top = 0;
    for round in 1..=8 {
        write_log(tmp.path(), top + 1, top + 40);
        top += 40;
        assert!(take_snapshot(&cfg, Zxid(top - 5)), "round {round}");
    }
    let snaps = list(&snap_dir(tmp.path())).unwrap();
    assert_eq!(snaps.len(), 3);
    let oldest = snaps[0].0;
    let segs = log::segments(&log::log_dir(tmp.path())).unwrap();
    assert!(segs.len() < 20, "{} segments left", segs.len());
    // Every record after the oldest kept snapshot is still there.
    let n = log::read_records(&log::log_dir(tmp.path()), oldest, Zxid(top), &mut |_, _| {
        Ok(())
    })
    .unwrap();
    assert_eq!(n as i64, top - oldest.0);
    same(&recover_image(tmp.path()).unwrap().0, &expected(top));
}

#[test]
fn a_corrupt_newest_snapshot_falls_back_to_the_previous_one() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 1, 60);
    let cfg = config(tmp.path(), None);
    assert!(take_snapshot(&cfg, Zxid(20)));
    assert!(take_snapshot(&cfg, Zxid(40)));
    let newest = snap_dir(tmp.path()).join(snapshot_name(Zxid(40)));
    let mut bytes = std::fs::read(&newest).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&newest, &bytes).unwrap();
    let (image, from, repairs) = recover_image(tmp.path()).unwrap();
    assert_eq!(from, Zxid(20));
    assert!(
        repairs.iter().any(|r| r.contains("snapshot.28")),
        "the skipped file is named: {repairs:?}"
    );
    same(&image, &expected(60));
}

#[test]
fn a_snapshot_newer_than_the_log_is_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 1, 30);
    assert!(take_snapshot(&config(tmp.path(), None), Zxid(30)));
    // Lose the log's last segments (say, a restored backup of the log disk).
    let segs = log::segments(&log::log_dir(tmp.path())).unwrap();
    assert!(segs.len() >= 2);
    std::fs::remove_file(&segs.last().unwrap().1).unwrap();
    let err = recover_image(tmp.path()).expect_err("must refuse");
    assert!(err.to_string().contains("newer than the log"), "{err}");
}

#[test]
fn a_missing_middle_segment_is_fatal_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 1, 60);
    assert!(take_snapshot(&config(tmp.path(), None), Zxid(5)));
    let segs = log::segments(&log::log_dir(tmp.path())).unwrap();
    assert!(segs.len() >= 3);
    std::fs::remove_file(&segs[1].1).unwrap();
    let err = recover_image(tmp.path()).expect_err("must refuse");
    let msg = err.to_string();
    assert!(
        msg.contains("segment is missing") || msg.contains("gap"),
        "{msg}"
    );
    assert!(msg.contains(&segs[2].1.display().to_string()), "{msg}");
}

#[test]
fn a_snapshot_alone_is_enough_and_the_log_continues_it() {
    let tmp = tempfile::tempdir().unwrap();
    let image = expected(40);
    write(&snap_dir(tmp.path()), &image).unwrap();
    // Without the marker an import or repair leaves, a missing log is a lost dataLogDir.
    let err = recover_image(tmp.path()).expect_err("no log, no marker");
    assert!(err.to_string().contains("no transaction log"), "{err}");
    write_log_start_marker(&snap_dir(tmp.path()), Zxid(40)).unwrap();
    let (back, from, _) = recover_image(tmp.path()).unwrap();
    assert_eq!(from, Zxid(40));
    same(&back, &image);
    write_log(tmp.path(), 41, 45);
    same(&recover_image(tmp.path()).unwrap().0, &expected(45));
}

#[test]
fn an_unfinished_snapshot_is_removed_at_every_cut() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 1, 30);
    let bytes = corral_core::snapshot::to_bytes(&expected(30));
    let dir = snap_dir(tmp.path());
    let tmp_file = dir.join(format!("{}.tmp", snapshot_name(Zxid(30))));
    for cut in (0..bytes.len()).step_by(7) {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&tmp_file, &bytes[..cut]).unwrap();
        let (image, from, _) = recover_image(tmp.path()).unwrap();
        assert_eq!(from, Zxid::ZERO);
        same(&image, &expected(30));
        assert!(!tmp_file.exists());
    }
}

#[test]
fn build_image_reads_only_what_it_needs_while_the_tail_is_being_written() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 1, 20);
    // Half a record after zxid 20, as a concurrent append would leave it for a moment.
    let segs = log::segments(&log::log_dir(tmp.path())).unwrap();
    let last = &segs.last().unwrap().1;
    let mut f = std::fs::OpenOptions::new().append(true).open(last).unwrap();
    std::io::Write::write_all(&mut f, &[0, 0, 0, 90, 1, 2, 3]).unwrap();
    let image = build_image(&snap_dir(tmp.path()), &log::log_dir(tmp.path()), Zxid(20)).unwrap();
    same(&image, &expected(20));
}

#[test]
fn no_usable_snapshot_is_fatal_rather_than_an_empty_start() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 1, 30);
    assert!(take_snapshot(&config(tmp.path(), None), Zxid(20)));
    let only = snap_dir(tmp.path()).join(snapshot_name(Zxid(20)));
    let mut bytes = std::fs::read(&only).unwrap();
    bytes[50] ^= 1;
    std::fs::write(&only, &bytes).unwrap();
    let err = recover_image(tmp.path()).expect_err("must refuse");
    assert!(err.to_string().contains("no snapshot is usable"), "{err}");
}

#[test]
fn a_new_epoch_must_start_at_counter_0_or_1() {
    let e1 = |c: i64| Zxid((1 << 32) | c);
    assert!(log::check_successor(Zxid(7), e1(1)).is_ok());
    assert!(log::check_successor(Zxid(7), e1(0)).is_ok());
    assert!(log::check_successor(Zxid::ZERO, e1(1)).is_ok());
    // A lost snapshot or segment must not hide behind an epoch change.
    assert!(log::check_successor(Zxid::ZERO, e1(0x50)).is_err());
    assert!(log::check_successor(Zxid(7), e1(2)).is_err());
}
