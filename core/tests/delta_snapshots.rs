//! Delta snapshots from a running server: every delta the server hands out with a snapshot
//! request, merged into the last snapshot written, must hold exactly the state the log
//! gives at its zxid, across failed snapshots, session closes and a restart.

mod harness;

use corral_core::proto::Request;
use corral_core::server::ServerConfig;
use harness::{create, Harness};

fn config() -> ServerConfig {
    ServerConfig {
        snap_count: 16,
        snapshot_deltas: true,
        ..ServerConfig::default()
    }
}

/// A round of writes from `n` fresh sessions: persistent, sequential and ephemeral
/// creates, setData, deletes, a multi; half the sessions close (their ephemerals go).
fn round(h: &mut Harness, r: usize, n: usize) {
    let mut xid = 1;
    let mut call = |h: &mut Harness, c, req: &Request| {
        xid += 1;
        h.call(c, xid, req)
    };
    for s in 0..n {
        let (c, _) = h.connect(30_000);
        let dir = format!("/r{r}s{s}");
        call(h, c, &create(&dir, b"d", 0));
        for i in 0..4 {
            call(h, c, &create(&format!("{dir}/n{i}"), b"x", 0));
            call(h, c, &create(&format!("{dir}/q-"), b"s", 2));
            call(h, c, &create(&format!("{dir}/e{i}"), b"e", 1));
        }
        call(
            h,
            c,
            &Request::SetData {
                path: format!("{dir}/n1"),
                data: Some(vec![s as u8; 40]),
                version: -1,
            },
        );
        call(
            h,
            c,
            &Request::Delete {
                path: format!("{dir}/n2"),
                version: -1,
            },
        );
        call(
            h,
            c,
            &Request::Multi(vec![
                create(&format!("{dir}/m"), b"m", 0),
                Request::SetData {
                    path: dir.clone(),
                    data: None,
                    version: -1,
                },
            ]),
        );
        if s % 2 == 0 {
            call(h, c, &Request::CloseSession);
        }
    }
}

#[test]
fn deltas_hold_the_logged_state() {
    let mut h = Harness::new(config());
    for r in 0..3 {
        round(&mut h, r, 4);
    }
    assert!(h.deltas_merged >= 10, "{} deltas", h.deltas_merged);
    assert_eq!(h.full_snapshots, 0, "every snapshot came with a delta");
}

#[test]
fn failed_snapshots_and_restarts_keep_deltas_whole() {
    let mut h = Harness::new(config());
    // Every third snapshot is not written: the next delta must cover its changes too.
    h.fail_snapshot_every = 3;
    for r in 0..3 {
        round(&mut h, r, 3);
    }
    let before = h.deltas_merged;
    assert!(before >= 6, "{before} deltas");
    h.restart(config());
    for r in 3..5 {
        round(&mut h, r, 3);
    }
    assert!(h.deltas_merged > before, "deltas after the restart");
}

#[test]
fn without_deltas_snapshots_are_full() {
    let mut h = Harness::new(ServerConfig {
        snapshot_deltas: false,
        ..config()
    });
    round(&mut h, 0, 3);
    assert_eq!(h.deltas_merged, 0);
    assert!(h.full_snapshots > 0);
}
