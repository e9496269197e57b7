//! `sync`: a sync catches its server up. ZooKeeper's promise for `sync` followed by a
//! read is that the read sees every write committed before the sync was invoked; the
//! sync's own reply already carries the server's state after it. So every answered sync's
//! reply zxid is at least the header zxid of every reply any client had received before
//! the sync was invoked (a write's is its txn's; a read's is a committed state its server
//! had applied). Reads after it in the same session are then held to it by
//! `session-order`.
//!
//! One exemption, shared with ZooKeeper: a leader answers sync without a quorum round, so
//! a leader already deposed but not yet aware of it (it notices within half a tick) can
//! answer a sync from its old epoch while a new leader commits. A sync answered in an
//! older epoch than the newer state it missed is counted in the verdict's note, not
//! failed.
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
    // (return seq, reply zxid, op) of every answered op.
    let mut seen: Vec<(u64, Zxid, usize)> = ops
        .iter()
        .filter_map(|o| Some((o.ret.as_ref()?.seq, o.reply_zxid()?, o.index)))
        .collect();
    seen.sort_unstable();
    let mut syncs: Vec<usize> = ops
        .iter()
        .filter(|o| matches!(o.request, Request::Sync { .. }))
        .filter(|o| o.outcome() == Some(&Outcome::Ok))
        .map(|o| o.index)
        .collect();
    syncs.sort_by_key(|&i| ops[i].invoke_seq);
    let mut j = 0;
    let mut newest: Option<(Zxid, usize)> = None;
    let mut deposed = 0usize;
    for i in syncs {
        let s = &ops[i];
        while j < seen.len() && seen[j].0 < s.invoke_seq {
            if newest.is_none_or(|(z, _)| seen[j].1 > z) {
                newest = Some((seen[j].1, seen[j].2));
            }
            j += 1;
        }
        let Some(z) = s.reply_zxid() else {
            continue;
        };
        v.checked += 1;
        let Some((w, before)) = newest.filter(|(w, _)| *w > z) else {
            continue;
        };
        if w.epoch() > z.epoch() {
            deposed += 1;
            continue;
        }
        v.fail(format!(
            "{s} caught up only to {z}, but {} (zxid {w}) was answered before it was invoked",
            ops[before]
        ));
    }
    if deposed > 0 {
        v.note = Some(format!(
            "{deposed} syncs answered in an older epoch than a state seen before them (a deposed leader)"
        ));
    }
    v
}
