use super::*;
use crate::storage::log;
use crate::storage::testutil::{self, entry, image, run, z, State};
use corral_core::server::StoredEpochs;
use corral_core::snapshot::Image;
use corral_core::types::ServerId;

fn stores(dir: &std::path::Path) -> Stores {
    Stores {
        snap_dir: crate::storage::snapshot::snap_dir(dir),
        gate: Default::default(),
    }
}

fn payload(zxid: i64) -> Vec<u8> {
    let mut p = vec![0u8; 40];
    p[12..20].copy_from_slice(&zxid.to_be_bytes());
    p
}

#[test]
fn batches_complete_in_order_and_are_durable() {
    let tmp = tempfile::tempdir().unwrap();
    let rec = log::recover(tmp.path(), &mut |_, _| Ok(())).unwrap();
    let w = LogWriter::open(tmp.path(), &rec, 1 << 20, true).unwrap();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let t = LogThread::spawn(w, stores(tmp.path()), done_tx).unwrap();
    for i in 0..50u64 {
        let z = 2 * i as i64 + 1;
        let batch = Batch {
            token: PersistToken(i),
            payloads: vec![payload(z), payload(z + 1)],
        };
        t.submit(batch).unwrap();
    }
    let mut seen = Vec::new();
    while seen.len() < 50 {
        match done_rx.blocking_recv() {
            Some(Completion::Durable(tokens)) => seen.extend(tokens),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seen, (0..50).map(PersistToken).collect::<Vec<_>>());
    t.shutdown();
    let mut n = 0;
    log::recover(tmp.path(), &mut |_, _| {
        n += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(n, 100);
}

#[test]
fn a_failed_write_is_reported_once_and_stops_the_thread() {
    let tmp = tempfile::tempdir().unwrap();
    let rec = log::recover(tmp.path(), &mut |_, _| Ok(())).unwrap();
    let w = LogWriter::open(tmp.path(), &rec, 1 << 20, true).unwrap();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let t = LogThread::spawn(w, stores(tmp.path()), done_tx).unwrap();
    t.submit(Batch {
        token: PersistToken(1),
        payloads: vec![payload(5)],
    })
    .unwrap();
    // A gap: refused, fail-stop.
    t.submit(Batch {
        token: PersistToken(2),
        payloads: vec![payload(9)],
    })
    .unwrap();
    let mut got = Vec::new();
    while let Some(c) = done_rx.blocking_recv() {
        got.push(c);
    }
    assert!(
        matches!(&got[0], Completion::Durable(t) if t == &[PersistToken(1)])
            || matches!(&got[0], Completion::Failed(_))
    );
    assert!(matches!(
        got.last(),
        Some(Completion::Failed(StorageError::BadEntry(_)))
    ));
    assert!(t
        .submit(Batch {
            token: PersistToken(3),
            payloads: vec![]
        })
        .is_err());
}

/// A log thread over `dir` (dataDir and dataLogDir), continuing what recovery finds.
fn start(dir: &std::path::Path) -> (LogThread, mpsc::UnboundedReceiver<Completion>) {
    let (_, rec) = testutil::recover(dir).unwrap();
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let t = LogThread::spawn(rec.writer, stores(dir), done_tx).unwrap();
    (t, done_rx)
}

fn append_request(token: u64, tag: &str, zxids: &[corral_core::types::Zxid]) -> Request {
    Request::Append(Batch {
        token: PersistToken(token),
        payloads: zxids.iter().map(|&zx| entry(tag, zx).to_bytes()).collect(),
    })
}

/// Every completion until the thread stops.
fn completions(t: LogThread, mut rx: mpsc::UnboundedReceiver<Completion>) -> Vec<Completion> {
    t.shutdown();
    let mut out = Vec::new();
    while let Some(c) = rx.blocking_recv() {
        out.push(c);
    }
    out
}

fn durable_tokens(got: &[Completion]) -> Vec<u64> {
    got.iter()
        .flat_map(|c| match c {
            Completion::Durable(t) => t.iter().map(|t| t.0).collect::<Vec<_>>(),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[test]
fn mixed_requests_complete_in_order_and_recover() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (t, rx) = start(dir);
    let accepted = AcceptedEpoch {
        epoch: Epoch(2),
        leader: Some(ServerId(3)),
    };
    // The leader's state the install brings: a different history up to 2:9.
    let leader: Vec<_> = run(1, 1, 4).into_iter().chain(run(2, 1, 9)).collect();
    let installed = image(Image::new(), "L", &leader);
    let requests = vec![
        append_request(1, "a", &run(1, 1, 3)),
        Request::SaveEpochs {
            token: PersistToken(2),
            accepted: Some(accepted),
            current: None,
        },
        append_request(3, "a", &run(1, 4, 6)),
        Request::Truncate {
            token: PersistToken(4),
            after: z(1, 5),
        },
        append_request(5, "b", &run(1, 6, 7)),
        Request::InstallSnapshot {
            token: PersistToken(6),
            zxid: z(2, 9),
            bytes: testutil::snapshot_bytes(&installed),
        },
        append_request(7, "L", &[z(2, 10)]),
        Request::SaveEpochs {
            token: PersistToken(8),
            accepted: None,
            current: Some(Epoch(2)),
        },
    ];
    for r in requests {
        t.submit(r).unwrap();
    }
    let got = completions(t, rx);
    assert_eq!(durable_tokens(&got), (1..=8).collect::<Vec<_>>());
    let (state, rec) = testutil::recover(dir).unwrap();
    let mut want = State::of(&image(installed, "L", &[z(2, 10)]));
    want.snapshot_zxid = z(2, 9);
    assert_eq!(state, want);
    assert_eq!(
        rec.epochs,
        StoredEpochs {
            accepted,
            current: Epoch(2)
        }
    );
}

#[test]
fn truncate_then_append_through_the_thread_recovers_the_new_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    testutil::append(dir, "a", &run(1, 1, 40), 512);
    let (t, rx) = start(dir);
    t.submit(Request::Truncate {
        token: PersistToken(1),
        after: z(1, 12),
    })
    .unwrap();
    t.submit(append_request(2, "b", &run(1, 13, 20))).unwrap();
    t.submit(append_request(3, "b", &run(2, 1, 3))).unwrap();
    assert_eq!(durable_tokens(&completions(t, rx)), vec![1, 2, 3]);
    let base = image(Image::new(), "a", &run(1, 1, 12));
    let mut b: Vec<_> = run(1, 13, 20);
    b.extend(run(2, 1, 3));
    assert_eq!(
        testutil::recover(dir).unwrap().0,
        State::of(&image(base, "b", &b))
    );
}

#[test]
fn appends_are_grouped_up_to_the_next_other_request() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let batch = |t: u64| Batch {
        token: PersistToken(t),
        payloads: vec![payload(t as i64)],
    };
    tx.send(Request::Append(batch(2))).unwrap();
    tx.send(Request::Append(batch(3))).unwrap();
    tx.send(Request::SaveEpochs {
        token: PersistToken(4),
        accepted: None,
        current: Some(Epoch(1)),
    })
    .unwrap();
    tx.send(Request::Append(batch(5))).unwrap();
    let mut carry = None;
    let group = gather(batch(1), &mut rx, &mut carry);
    assert_eq!(
        group.iter().map(|b| b.token.0).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(matches!(carry, Some(Request::SaveEpochs { .. })));
    // The append behind the epoch save starts the next group.
    let mut carry = None;
    let Ok(Request::Append(next)) = rx.try_recv() else {
        panic!("the append after the save is still queued")
    };
    assert_eq!(gather(next, &mut rx, &mut carry).len(), 1);
}

#[test]
fn a_refused_truncation_is_fail_stop_and_names_the_snapshot_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    testutil::append(dir, "a", &run(1, 1, 10), 1 << 20);
    let cfg = crate::storage::compactor::CompactorConfig {
        snap_dir: crate::storage::snapshot::snap_dir(dir),
        log_dir: log::log_dir(dir),
        retain: None,
        gate: Default::default(),
    };
    assert!(crate::storage::compactor::take_snapshot(&cfg, z(1, 8)));
    let (t, mut rx) = start(dir);
    t.submit(Request::Truncate {
        token: PersistToken(1),
        after: z(1, 6),
    })
    .unwrap();
    match rx.blocking_recv() {
        Some(Completion::Failed(e @ StorageError::Refused { .. })) => {
            assert!(e.to_string().contains("snapshot 0x100000008"), "{e}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(t.submit(append_request(2, "a", &[z(1, 11)])).is_err());
    drop(t);
    // Nothing was removed.
    assert_eq!(testutil::recover(dir).unwrap().0.last_zxid, z(1, 10));
}

/// A snapshot at 1:10 and a log that starts right after it, with no marker (as a purge can
/// leave it): truncating after 1:10 empties the log, so the marker is written first, and a
/// crash after any removal still recovers the snapshot plus a prefix of the log.
#[test]
fn truncating_the_whole_log_after_a_snapshot_writes_the_marker_first() {
    let src = tempfile::tempdir().unwrap();
    let sd = crate::storage::snapshot::snap_dir(src.path());
    let base = image(Image::new(), "a", &run(1, 1, 10));
    crate::storage::snapshot::write(&sd, &base).unwrap();
    testutil::append(src.path(), "a", &run(1, 11, 40), 600);
    let full = testutil::recover(src.path()).unwrap().0;
    assert_eq!(full.last_zxid, z(1, 40));

    // Every crash point: the marker (or not), then the first k removals.
    let (_, rec) = testutil::recover(src.path()).unwrap();
    let mut w = rec.writer;
    let plan = w.plan_truncate(z(1, 10), z(1, 10)).unwrap();
    drop(w);
    drop(rec.locks);
    assert!(plan.empties && plan.remove.len() >= 3, "{plan:?}");
    for k in 0..=plan.remove.len() {
        let tmp = tempfile::tempdir().unwrap();
        testutil::copy_dir(src.path(), tmp.path());
        let tsd = crate::storage::snapshot::snap_dir(tmp.path());
        crate::storage::snapshot::write_log_start_marker(&tsd, z(1, 10)).unwrap();
        for p in &plan.remove[..k] {
            std::fs::remove_file(tmp.path().join(p.strip_prefix(src.path()).unwrap())).unwrap();
        }
        let (state, _) = testutil::recover(tmp.path()).unwrap();
        assert_eq!(state.snapshot_zxid, z(1, 10), "k {k}");
        let last = state.last_zxid.counter();
        assert!(k < plan.remove.len() || last == 10, "k {k}: {last}");
        let mut want = State::of(&image(base.clone(), "a", &run(1, 11, last)));
        want.snapshot_zxid = z(1, 10);
        assert_eq!(state, want, "k {k}");
    }

    // The whole truncation, then a new history continues the snapshot.
    let (_, rec) = testutil::recover(src.path()).unwrap();
    let mut w = rec.writer;
    truncate(&mut w, &sd, z(1, 10)).unwrap();
    assert!(sd
        .join(crate::storage::snapshot::log_start_marker(z(1, 10)))
        .exists());
    assert!(log::segments(w.dir()).unwrap().is_empty());
    w.append(&entry("b", z(2, 1)).to_bytes()).unwrap();
    w.commit().unwrap();
    drop(w);
    drop(rec.locks);
    let mut want = State::of(&image(base, "b", &[z(2, 1)]));
    want.snapshot_zxid = z(1, 10);
    assert_eq!(testutil::recover(src.path()).unwrap().0, want);
}
