use std::path::Path;

use super::*;
use crate::storage::log::{self, Recovery};
use crate::storage::testutil::{entry, run, z};

/// A log of history `tag` over `zxids` in `dir` (the segment directory), in small segments.
fn write(dir: &Path, tag: &str, zxids: &[Zxid]) {
    let rec = log::recover(dir, &mut |_, _| Ok(())).unwrap();
    let mut w = LogWriter::open(dir, &rec, 400, true).unwrap();
    for &zx in zxids {
        w.append(&entry(tag, zx).to_bytes()).unwrap();
        w.commit().unwrap();
    }
}

fn writer(dir: &Path) -> LogWriter {
    let rec = log::recover(dir, &mut |_, _| Ok(())).unwrap();
    LogWriter::open(dir, &rec, 400, true).unwrap()
}

/// Every record in the log, as (zxid, payload).
fn records(dir: &Path) -> (Recovery, Vec<(Zxid, Vec<u8>)>) {
    let mut got = Vec::new();
    let rec = log::recover(dir, &mut |zx, p| {
        got.push((zx, p.to_vec()));
        Ok(())
    })
    .unwrap();
    (rec, got)
}

fn expected(parts: &[(&str, Vec<Zxid>)]) -> Vec<(Zxid, Vec<u8>)> {
    parts
        .iter()
        .flat_map(|(tag, zs)| zs.iter().map(move |&zx| (zx, entry(tag, zx).to_bytes())))
        .collect()
}

#[test]
fn truncate_across_segments_then_append_then_recover() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "a", &run(1, 1, 40));
    let before = log::segments(dir).unwrap();
    assert!(before.len() >= 6, "{} segments", before.len());
    let mut w = writer(dir);
    let plan = w.plan_truncate(z(1, 12), Zxid::ZERO).unwrap();
    assert!(!plan.empties);
    // Every segment named after the cut goes; the one holding 1:12 is shortened, unless
    // 1:12 ends it.
    let later = before.iter().filter(|(n, _)| *n > z(1, 12)).count();
    assert_eq!(plan.remove.len(), later);
    w.apply_truncate(&plan).unwrap();
    assert_eq!(w.last_zxid(), Some(z(1, 12)));
    for &zx in &run(1, 13, 30) {
        w.append(&entry("b", zx).to_bytes()).unwrap();
        w.commit().unwrap();
    }
    drop(w);
    let (rec, got) = records(dir);
    assert!(rec.repairs.is_empty(), "{:?}", rec.repairs);
    assert_eq!(
        got,
        expected(&[("a", run(1, 1, 12)), ("b", run(1, 13, 30))])
    );
}

#[test]
fn truncating_at_a_segment_boundary_cuts_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "a", &run(1, 1, 30));
    let segs = log::segments(dir).unwrap();
    // The last record of the second segment.
    let boundary = Zxid(segs[2].0 .0 - 1);
    let mut w = writer(dir);
    let plan = w.plan_truncate(boundary, Zxid::ZERO).unwrap();
    assert_eq!(plan.cut, None);
    assert_eq!(plan.remove.len(), segs.len() - 2);
    w.apply_truncate(&plan).unwrap();
    // The next record continues the second segment (it is not full yet, or it rolls).
    w.append(&entry("b", boundary.next()).to_bytes()).unwrap();
    w.commit().unwrap();
    drop(w);
    let (_, got) = records(dir);
    assert_eq!(
        got,
        expected(&[
            ("a", run(1, 1, boundary.counter())),
            ("b", vec![boundary.next()])
        ])
    );
}

#[test]
fn truncating_after_the_last_record_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "a", &run(1, 1, 10));
    let files = crate::storage::testutil::files(dir);
    let mut w = writer(dir);
    let plan = w.plan_truncate(z(1, 10), Zxid::ZERO).unwrap();
    assert!(plan.is_noop());
    w.apply_truncate(&plan).unwrap();
    assert_eq!(crate::storage::testutil::files(dir), files);
}

#[test]
fn truncating_everything_without_snapshots_empties_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "a", &run(1, 1, 10));
    let mut w = writer(dir);
    let plan = w.plan_truncate(Zxid::ZERO, Zxid::ZERO).unwrap();
    assert!(plan.empties);
    w.apply_truncate(&plan).unwrap();
    assert!(log::segments(dir).unwrap().is_empty());
    w.append(&entry("b", z(2, 1)).to_bytes()).unwrap();
    w.commit().unwrap();
    drop(w);
    assert_eq!(records(dir).1, expected(&[("b", vec![z(2, 1)])]));
}

#[test]
fn refusals_name_the_rule_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Epoch 1 ends at 1:8, epoch 2 starts at 2:1: 1:9 lies in no record.
    let mut zs = run(1, 1, 8);
    zs.extend(run(2, 1, 5));
    write(dir, "a", &zs);
    let files = crate::storage::testutil::files(dir);
    let mut w = writer(dir);
    let cases = [
        (z(2, 9), Zxid::ZERO, "it ends at 0x200000005"),
        (z(1, 3), z(1, 4), "snapshot 0x100000004 holds entries"),
        (z(1, 9), Zxid::ZERO, "no record has that zxid"),
    ];
    for (after, floor, want) in cases {
        match w.plan_truncate(after, floor) {
            Err(e @ StorageError::Refused { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(want), "{msg}");
                assert!(msg.contains(&dir.display().to_string()), "{msg}");
            }
            other => panic!("after {after}: expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(crate::storage::testutil::files(dir), files);
}

#[test]
fn damage_in_the_segment_to_cut_is_named_with_its_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "a", &run(1, 1, 3));
    let mut w = writer(dir);
    let seg = log::segments(dir).unwrap()[0].1.clone();
    let mut bytes = std::fs::read(&seg).unwrap();
    let first_len = u32::from_be_bytes(bytes[16..20].try_into().unwrap()) as usize;
    let second = HEADER_LEN + 8 + first_len;
    bytes[second + 12] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    match w.plan_truncate(z(1, 2), Zxid::ZERO) {
        Err(StorageError::Corrupt { path, offset, .. }) => {
            assert_eq!(path, seg);
            assert_eq!(offset, second as u64);
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

/// A crash part way through leaves a prefix of the old log reaching at least the cut:
/// simulate it by carrying out only the first `k` removals (newest first), with and
/// without the final cut.
#[test]
fn a_crash_during_a_truncation_leaves_a_readable_prefix() {
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "a", &run(1, 1, 40));
    let plan = writer(src.path())
        .plan_truncate(z(1, 9), Zxid::ZERO)
        .unwrap();
    assert!(plan.remove.len() >= 3 && plan.cut.is_some());
    for k in 0..=plan.remove.len() {
        for with_cut in [false, true] {
            if with_cut && k < plan.remove.len() {
                continue;
            }
            let tmp = tempfile::tempdir().unwrap();
            crate::storage::testutil::copy_dir(src.path(), tmp.path());
            let moved =
                |p: &std::path::PathBuf| tmp.path().join(p.strip_prefix(src.path()).unwrap());
            for p in &plan.remove[..k] {
                std::fs::remove_file(moved(p)).unwrap();
            }
            if with_cut {
                let (p, len) = plan.cut.as_ref().unwrap();
                log::truncate(&moved(p), *len).unwrap();
            }
            let (rec, got) = records(tmp.path());
            let last = rec.last_zxid.unwrap();
            assert!(last >= z(1, 9), "k {k}: ends at {last}");
            assert_eq!(got, expected(&[("a", run(1, 1, last.counter()))]), "k {k}");
        }
    }
}
