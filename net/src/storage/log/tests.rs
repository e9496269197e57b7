use super::*;

/// A payload shaped like a jute TxnHeader (zxid at bytes 12..20) plus some body bytes.
fn payload(zxid: i64, body: usize) -> Vec<u8> {
    let mut p = vec![0u8; 32 + body];
    p[0..8].copy_from_slice(&7i64.to_be_bytes());
    p[12..20].copy_from_slice(&zxid.to_be_bytes());
    for (i, b) in p[32..].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(zxid as u8);
    }
    p
}

fn write_log(dir: &Path, zxids: &[i64], roll_bytes: u64) {
    let rec = recover(dir, &mut |_, _| Ok(())).unwrap();
    let mut w = LogWriter::open(dir, &rec, roll_bytes, true).unwrap();
    for &z in zxids {
        w.append(&payload(z, (z % 5) as usize * 10)).unwrap();
    }
    w.commit().unwrap();
}

type Records = Vec<(Zxid, Vec<u8>)>;

fn read_log(dir: &Path) -> Result<(Recovery, Records), StorageError> {
    let mut got = Vec::new();
    let rec = recover(dir, &mut |z, p| {
        got.push((z, p.to_vec()));
        Ok(())
    })?;
    Ok((rec, got))
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = list_segments(dir).unwrap();
    v.sort();
    v.into_iter().map(|(_, p)| p).collect()
}

/// Byte offsets of every record in a segment.
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut pos = HEADER_LEN;
    while pos < bytes.len() {
        out.push(pos);
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        pos += RECORD_HEADER_LEN + len;
    }
    out
}

fn expect_corrupt(dir: &Path, want_path: &Path, want_offset: u64) -> String {
    match read_log(dir) {
        Err(StorageError::Corrupt {
            path,
            offset,
            reason,
        }) => {
            assert_eq!(path, want_path);
            assert_eq!(offset, want_offset, "{reason}");
            let msg = StorageError::Corrupt {
                path,
                offset,
                reason,
            }
            .to_string();
            assert!(msg.contains(&want_path.display().to_string()), "{msg}");
            msg
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn round_trip_across_segments_and_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_log(dir, &[1, 2, 3, 4, 5, 6, 7], 120);
    let segs = segments(dir);
    assert!(
        segs.len() >= 3,
        "small roll size must split the log: {segs:?}"
    );
    assert_eq!(segs[0].file_name().unwrap(), "log.1");
    let (rec, got) = read_log(dir).unwrap();
    assert_eq!(
        got.iter().map(|(z, _)| z.0).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6, 7]
    );
    for (z, p) in &got {
        assert_eq!(p, &payload(z.0, (z.0 % 5) as usize * 10));
    }
    assert_eq!(rec.last_zxid, Some(Zxid(7)));
    assert_eq!(rec.tail.as_deref(), segs.last().map(|p| p.as_path()));
    assert!(rec.repairs.is_empty());
    // Appending after recovery continues the same log; a new epoch may restart the counter.
    let new_epoch = Zxid::new(corral_core::types::Epoch(2), 1).0;
    write_log(dir, &[8, 9, new_epoch], 1 << 20);
    let (_, got) = read_log(dir).unwrap();
    assert_eq!(got.len(), 10);
    assert_eq!(got[9].0, Zxid(new_epoch));
}

#[test]
fn writer_refuses_gaps_and_reordering() {
    let tmp = tempfile::tempdir().unwrap();
    let rec = recover(tmp.path(), &mut |_, _| Ok(())).unwrap();
    let mut w = LogWriter::open(tmp.path(), &rec, 1 << 20, true).unwrap();
    w.append(&payload(5, 0)).unwrap();
    assert!(matches!(
        w.append(&payload(5, 0)),
        Err(StorageError::BadEntry(_))
    ));
    assert!(matches!(
        w.append(&payload(7, 0)),
        Err(StorageError::BadEntry(_))
    ));
    assert!(matches!(
        w.append(&[0u8; 10]),
        Err(StorageError::BadEntry(_))
    ));
    w.append(&payload(6, 0)).unwrap();
    w.commit().unwrap();
    assert_eq!(read_log(tmp.path()).unwrap().1.len(), 2);
}

#[test]
fn torn_last_record_is_truncated_at_every_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_log(dir, &[1, 2, 3], 1 << 20);
    let seg = segments(dir).pop().unwrap();
    let pristine = std::fs::read(&seg).unwrap();
    let last = *record_offsets(&pristine).last().unwrap();
    for cut in last..=pristine.len() {
        std::fs::write(&seg, &pristine[..cut]).unwrap();
        let (rec, got) = read_log(dir).unwrap();
        if cut == pristine.len() {
            assert_eq!(got.len(), 3);
            assert!(rec.repairs.is_empty());
            continue;
        }
        assert_eq!(got.len(), 2, "cut at {cut}");
        assert_eq!(rec.last_zxid, Some(Zxid(2)));
        assert_eq!(
            std::fs::metadata(&seg).unwrap().len(),
            last as u64,
            "cut at {cut}"
        );
        if cut > last {
            assert_eq!(rec.repairs.len(), 1, "cut at {cut}");
            assert!(
                rec.repairs[0].contains(&format!("offset {last}")),
                "{}",
                rec.repairs[0]
            );
            assert!(rec.repairs[0].contains(&seg.display().to_string()));
        }
        // The repaired log accepts the lost record again.
        write_log(dir, &[3], 1 << 20);
        assert_eq!(read_log(dir).unwrap().1.len(), 3, "cut at {cut}");
    }
}

#[test]
fn zero_filled_tail_is_truncated() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), &[1, 2], 1 << 20);
    let seg = segments(tmp.path()).pop().unwrap();
    let good_len = std::fs::metadata(&seg).unwrap().len();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes.extend_from_slice(&[0u8; 4096]);
    std::fs::write(&seg, &bytes).unwrap();
    let (rec, got) = read_log(tmp.path()).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(rec.repairs.len(), 1);
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), good_len);
}

#[test]
fn corruption_in_the_middle_is_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), &[1, 2, 3, 4], 1 << 20);
    let seg = segments(tmp.path()).pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let offs = record_offsets(&bytes);
    bytes[offs[1] + RECORD_HEADER_LEN + 25] ^= 0x40; // a payload byte of record 2
    std::fs::write(&seg, &bytes).unwrap();
    let msg = expect_corrupt(tmp.path(), &seg, offs[1] as u64);
    assert!(msg.contains("crc mismatch"), "{msg}");
    assert!(
        msg.contains(&format!("follows at offset {}", offs[2])),
        "{msg}"
    );
    // Nothing was truncated.
    assert_eq!(std::fs::read(&seg).unwrap(), bytes);
}

#[test]
fn damaged_length_in_the_middle_is_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), &[1, 2, 3, 4], 1 << 20);
    let seg = segments(tmp.path()).pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let offs = record_offsets(&bytes);
    for (i, b) in [0x7fu8, 0, 0, 0].into_iter().enumerate() {
        bytes[offs[1] + i] = b; // record 2 now claims to run past the end of the file
    }
    std::fs::write(&seg, &bytes).unwrap();
    expect_corrupt(tmp.path(), &seg, offs[1] as u64);
}

#[test]
fn crc_flip() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), &[1, 2, 3], 1 << 20);
    let seg = segments(tmp.path()).pop().unwrap();
    let pristine = std::fs::read(&seg).unwrap();
    let offs = record_offsets(&pristine);
    // In the middle (a valid record follows): fatal.
    let mut bytes = pristine.clone();
    bytes[offs[0] + 4] ^= 1;
    std::fs::write(&seg, &bytes).unwrap();
    let msg = expect_corrupt(tmp.path(), &seg, offs[0] as u64);
    assert!(msg.contains("crc mismatch"), "{msg}");
    // On the very last record nothing proves it was ever complete: a torn write, truncated.
    let mut bytes = pristine.clone();
    bytes[offs[2] + 7] ^= 0x80;
    std::fs::write(&seg, &bytes).unwrap();
    let (rec, got) = read_log(tmp.path()).unwrap();
    assert_eq!(got.len(), 2);
    assert!(
        rec.repairs[0].contains("crc mismatch"),
        "{}",
        rec.repairs[0]
    );
}

#[test]
fn damage_in_an_earlier_segment_is_fatal_even_at_its_end() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), &[1, 2, 3, 4, 5, 6], 150);
    let segs = segments(tmp.path());
    assert!(segs.len() >= 2);
    let first = &segs[0];
    let bytes = std::fs::read(first).unwrap();
    let last = *record_offsets(&bytes).last().unwrap();
    std::fs::write(first, &bytes[..bytes.len() - 1]).unwrap();
    expect_corrupt(tmp.path(), first, last as u64);
}

#[test]
fn zxid_gap_between_segments_is_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), &[1, 2, 3, 4], 150);
    let segs = segments(tmp.path());
    assert!(segs.len() >= 2);
    // A log that starts mid-way (older segments purged) is fine.
    std::fs::remove_file(&segs[0]).unwrap();
    assert!(read_log(tmp.path()).is_ok());
    // A segment with a later first zxid written by hand after a hole.
    let tmp2 = tempfile::tempdir().unwrap();
    write_log(tmp2.path(), &[1, 2], 1 << 20);
    let mut seg = encode_header(Zxid(4)).to_vec();
    encode_record(&payload(4, 0), &mut seg);
    let path = tmp2.path().join(segment_name(Zxid(4)));
    std::fs::write(&path, &seg).unwrap();
    let msg = expect_corrupt(tmp2.path(), &path, HEADER_LEN as u64);
    assert!(msg.contains("gap"), "{msg}");
}

#[test]
fn misnamed_segment_and_foreign_files_are_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), &[1, 2], 1 << 20);
    let seg = segments(tmp.path()).pop().unwrap();
    let renamed = tmp.path().join("log.9");
    std::fs::rename(&seg, &renamed).unwrap();
    let msg = expect_corrupt(tmp.path(), &renamed, 0);
    assert!(msg.contains("file name"), "{msg}");

    let zk = tempfile::tempdir().unwrap();
    let mut bytes = b"ZKLG\0\0\0\x02\0\0\0\0\0\0\0\0".to_vec();
    bytes.extend_from_slice(&[1u8; 64]);
    let p = zk.path().join("log.1");
    std::fs::write(&p, &bytes).unwrap();
    let msg = expect_corrupt(zk.path(), &p, 0);
    assert!(msg.contains("ZooKeeper transaction log"), "{msg}");
}

#[test]
fn segment_without_records_is_removed() {
    for contents in [
        encode_header(Zxid(3)).to_vec(),
        b"CRL".to_vec(),
        vec![0u8; 40],
    ] {
        let tmp = tempfile::tempdir().unwrap();
        write_log(tmp.path(), &[1, 2], 1 << 20);
        let extra = tmp.path().join(segment_name(Zxid(3)));
        std::fs::write(&extra, &contents).unwrap();
        let (rec, got) = read_log(tmp.path()).unwrap();
        assert_eq!(got.len(), 2);
        assert!(!extra.exists(), "{contents:?}");
        assert_eq!(rec.repairs.len(), 1);
        assert_ne!(rec.tail.as_deref(), Some(extra.as_path()));
        write_log(tmp.path(), &[3], 1 << 20);
        assert_eq!(read_log(tmp.path()).unwrap().1.len(), 3);
    }
}

#[test]
fn visitor_errors_are_reported_with_the_record_offset() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), &[1, 2], 1 << 20);
    let seg = segments(tmp.path()).pop().unwrap();
    let offs = record_offsets(&std::fs::read(&seg).unwrap());
    let err = recover(tmp.path(), &mut |z, _| {
        if z.0 == 2 {
            Err("bad".into())
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    match err {
        StorageError::Corrupt { offset, reason, .. } => {
            assert_eq!(offset, offs[1] as u64);
            assert!(reason.contains("cannot apply"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}
