//! `sync`: a sync catches its server up. ZooKeeper's promise for `sync` followed by a
//! read is that the read sees every write committed before the sync was invoked; the
//! sync's own reply already carries the server's state after it. So every answered sync's
//! reply zxid is at least the zxid of every write whose reply (Ok or an error logged as a
//! txn) any client had received before the sync was invoked. Reads after it in the same
//! session are then held to it by `session-order`.
//!
//! Reads alone are only sequentially consistent in an ensemble (a follower answers from
//! its own, possibly lagging, state), so this is the one real-time rule an ensemble's
//! reads are held to.

use corral_core::proto::Request;
use corral_core::types::Zxid;

use super::{Facts, Verdict};
use crate::history::Outcome;

/// The `sync` verdict (see the module docs).
pub fn sync(f: &Facts) -> Verdict {
    let mut v = Verdict::new("sync");
    let ops = f.input.ops;
    // (return seq, zxid, op) of every answered write that took a zxid of its own.
    let mut writes: Vec<(u64, Zxid, usize)> = ops
        .iter()
        .filter(|o| o.is_write() && o.answered())
        .filter_map(|o| {
            let p = f.pos[o.index].filter(|p| p.strict)?;
            Some((o.ret.as_ref()?.seq, p.zxid, o.index))
        })
        .collect();
    writes.sort_unstable();
    let mut syncs: Vec<usize> = ops
        .iter()
        .filter(|o| matches!(o.request, Request::Sync { .. }))
        .filter(|o| o.outcome() == Some(&Outcome::Ok))
        .map(|o| o.index)
        .collect();
    syncs.sort_by_key(|&i| ops[i].invoke_seq);
    let mut j = 0;
    let mut newest: Option<(Zxid, usize)> = None;
    for i in syncs {
        let s = &ops[i];
        while j < writes.len() && writes[j].0 < s.invoke_seq {
            if newest.is_none_or(|(z, _)| writes[j].1 > z) {
                newest = Some((writes[j].1, writes[j].2));
            }
            j += 1;
        }
        let Some(z) = s.reply_zxid() else {
            continue;
        };
        v.checked += 1;
        if let Some((w, before)) = newest.filter(|(w, _)| *w > z) {
            v.fail(format!(
                "{s} caught up only to {z}, but {} (zxid {w}) was acknowledged before it was invoked",
                ops[before]
            ));
        }
    }
    v
}
