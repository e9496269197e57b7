//! Storage benchmark (not a test): how long a restart takes with many znodes, and what a
//! snapshot costs.
//!
//! ```text
//! cargo run --release -p corral-net --example storage_bench -- [NODES] [DIR]
//! ```
//!
//! Writes NODES (default 1,000,000) znodes of 100 bytes in a 3-level tree (100 x 100 x N)
//! straight into a log under DIR (default: a temp dir), then measures:
//! 1. building + writing a snapshot as of the last zxid (what the snapshot thread does);
//! 2. a restart from that snapshot plus a 10,000-txn log tail (load + replay + start);
//! 3. a restart from the log alone (no snapshot), for comparison.
//!
//! `KEEP_SNAPSHOT=1` stops after step 2 (DIR keeps the snapshot); `RESTART_ONLY=DIR` then
//! measures (or, under perf, profiles) just a restart from it, and `RSS_ONLY=DIR` the
//! memory the recovered server holds.

use std::path::PathBuf;
use std::time::Instant;

use corral_core::proto::data::Acl;
use corral_core::server::{Server, ServerConfig};
use corral_core::txn::{CreateKind, LogEntry, Txn, TxnHeader};
use corral_core::types::{Millis, SessionId, Zxid};
use corral_net::storage::compactor::{take_snapshot, CompactorConfig};
use corral_net::storage::log::{self, LogWriter};
use corral_net::storage::{recovery, snapshot};

fn create(zxid: i64, path: String, parent_cversion: i32) -> Vec<u8> {
    let txn = Txn::Create {
        path,
        data: Some(vec![b'x'; 100]),
        acl: Acl::open_unsafe(),
        kind: CreateKind::Persistent,
        parent_cversion,
    };
    LogEntry {
        hdr: TxnHeader {
            session: SessionId(1),
            cxid: 0,
            zxid: Zxid(zxid),
            time: 1_700_000_000_000 + zxid,
            op: txn.op(),
        },
        txn,
    }
    .to_bytes()
}

fn restart(dir: &std::path::Path) -> (std::time::Duration, Zxid, u64) {
    let t = Instant::now();
    let core = std::cell::RefCell::new(Server::new(ServerConfig::default(), Millis(0)));
    let rec = recovery::recover(
        dir,
        dir,
        true,
        &mut |image| core.borrow_mut().restore(image),
        &mut |e| core.borrow_mut().replay(e),
    )
    .expect("recovery");
    let mut core = core.into_inner();
    core.start(Millis(0));
    let took = t.elapsed();
    let nodes = core.tree().len() as u64;
    drop(rec);
    (took, core.last_zxid(), nodes)
}

/// Resident set size of this process, KiB (Linux; 0 elsewhere).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    if let Some(dir) = std::env::var_os("RESTART_ONLY") {
        // Profile a restart alone: RESTART_ONLY=DIR (a directory a previous run kept).
        let (took, z, n) = restart(std::path::Path::new(&dir));
        println!("restart: {took:?} ({n} znodes, zxid {z})");
        return;
    }
    if let Some(dir) = std::env::var_os("RSS_ONLY") {
        // Memory of a server holding the recovered tree: RSS_ONLY=DIR.
        let before = rss_kib();
        let core = std::cell::RefCell::new(Server::new(ServerConfig::default(), Millis(0)));
        let dir = std::path::Path::new(&dir);
        let rec = recovery::recover(
            dir,
            dir,
            true,
            &mut |image| core.borrow_mut().restore(image),
            &mut |e| core.borrow_mut().replay(e),
        )
        .expect("recovery");
        drop(rec);
        let core = core.into_inner();
        let after = rss_kib();
        let n = core.tree().len() as u64;
        println!(
            "RSS {} MiB with {n} znodes ({} MiB before loading): {} bytes per znode",
            after >> 10,
            before >> 10,
            (after - before) * 1024 / n.max(1)
        );
        return;
    }
    let nodes: i64 = args.next().map_or(1_000_000, |s| s.parse().expect("NODES"));
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir: PathBuf = args
        .next()
        .map_or_else(|| tmp.path().to_owned(), PathBuf::from);
    let log_dir = log::log_dir(&dir);
    let rec = log::recover(&log_dir, &mut |_, _| Ok(())).expect("empty log");
    let mut w = LogWriter::open(&log_dir, &rec, log::DEFAULT_SEGMENT_BYTES, false).expect("log");
    let t = Instant::now();
    let mut zxid = 0i64;
    let per = ((nodes as f64).cbrt().ceil() as i64).max(1);
    let mut made = 0i64;
    let mut next = |path: String, pc: i32, w: &mut LogWriter| {
        zxid += 1;
        w.append(&create(zxid, path, pc)).expect("append");
    };
    'outer: for a in 0..per {
        next(format!("/a{a}"), (a + 1) as i32, &mut w);
        made += 1;
        for b in 0..per {
            next(format!("/a{a}/b{b}"), (b + 1) as i32, &mut w);
            made += 1;
            for c in 0..per {
                if made >= nodes {
                    break 'outer;
                }
                next(format!("/a{a}/b{b}/c{c}"), (c + 1) as i32, &mut w);
                made += 1;
            }
        }
    }
    w.commit().expect("commit");
    let last = Zxid(made);
    println!("wrote {made} creates to the log in {:?}", t.elapsed());

    let cfg = CompactorConfig {
        snap_dir: snapshot::snap_dir(&dir),
        log_dir: log_dir.clone(),
        retain: None,
        gate: Default::default(),
    };
    let t = Instant::now();
    let tail = 10_000.min(made / 2);
    let snap_at = Zxid(made - tail);
    assert!(take_snapshot(&cfg, snap_at), "snapshot failed");
    let snap_time = t.elapsed();
    let size: u64 = snapshot::list(&cfg.snap_dir)
        .expect("list")
        .iter()
        .map(|(_, p)| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    println!(
        "snapshot at {snap_at} (built from the log + written): {snap_time:?}, {} MiB",
        size >> 20
    );
    let (took, z, n) = restart(&dir);
    assert_eq!(z, last);
    println!("restart from snapshot + {tail} log txns: {took:?} ({n} znodes, zxid {z})");
    if std::env::var_os("KEEP_SNAPSHOT").is_some() {
        return;
    }
    for (_, p) in snapshot::list(&cfg.snap_dir).expect("list") {
        std::fs::remove_file(p).expect("remove snapshot");
    }
    let (took, z, n) = restart(&dir);
    assert_eq!(z, last);
    println!("restart from the log alone: {took:?} ({n} znodes)");
}
