//! In-process cost of the tree's hot operations, without a server around them: 400k
//! creates of 100-byte nodes in 32 directories, 2M lookups that read the stat and data,
//! and 400k setData, in ns per op. For A/B comparisons of tree layouts (run both builds
//! alternately; this machine's speed drifts).
//!
//!     cargo run --release -p corral-core --example tree_ops

use corral_core::tree::DataTree;
use corral_core::txn::{CreateKind, Txn, TxnHeader};
use corral_core::types::{SessionId, Zxid};
use std::time::Instant;

fn main() {
    let n: usize = 400_000;
    let mut t = DataTree::new();
    let mut z = 0i64;
    let mut hdr = |op: i32| {
        z += 1;
        TxnHeader {
            session: SessionId(1),
            cxid: 1,
            zxid: Zxid((1 << 32) | z),
            time: 1_765_000_000_000 + z,
            op,
        }
    };
    let acl = vec![];
    for d in 0..32 {
        let txn = Txn::Create {
            path: format!("/d{d}"),
            data: None,
            acl: acl.clone(),
            kind: CreateKind::Persistent,
            parent_cversion: d + 1,
        };
        t.apply(&hdr(txn.op()), &txn);
    }
    let paths: Vec<String> = (0..n)
        .map(|i| format!("/d{}/n{:010}", i % 32, i / 32))
        .collect();
    let data = vec![7u8; 100];
    let t0 = Instant::now();
    for (i, p) in paths.iter().enumerate() {
        let txn = Txn::Create {
            path: p.clone(),
            data: Some(data.clone()),
            acl: acl.clone(),
            kind: CreateKind::Persistent,
            parent_cversion: (i / 32 + 1) as i32,
        };
        t.apply(&hdr(txn.op()), &txn);
    }
    let create = t0.elapsed();
    let t1 = Instant::now();
    let mut sum = 0i64;
    for _ in 0..5 {
        for p in &paths {
            let node = t.node(p).unwrap();
            sum += node.client_stat().mzxid.0 + node.data.map_or(0, |d| d.len() as i64);
        }
    }
    let get = t1.elapsed();
    let t2 = Instant::now();
    for p in &paths {
        let txn = Txn::SetData {
            path: p.clone(),
            data: Some(data.clone()),
            version: 1,
        };
        t.apply(&hdr(txn.op()), &txn);
    }
    let set = t2.elapsed();
    println!(
        "create {:.0} ns/op  get {:.0} ns/op  set {:.0} ns/op  ({sum})",
        create.as_nanos() as f64 / n as f64,
        get.as_nanos() as f64 / (5 * n) as f64,
        set.as_nanos() as f64 / n as f64
    );
}
