//! Ephemeral and sequential node rules.

use std::collections::BTreeMap;

use corral_core::path;
use corral_core::proto::{Request, Response};
use corral_core::txn::Txn;
use corral_core::types::Zxid;

use super::{Facts, Verdict};
use crate::history::Outcome;
use crate::workload::flags;

/// (f) No ephemeral outlives its session: the model finds none left after a session's
/// closeSession txn and no ephemeral created for a closed session; and no read invoked
/// after a client's close of its session returned shows a node owned by that session.
/// (Expiry is checked only through the log: a client may learn of its expiry before the
/// closeSession txn is applied, so reads of others may still see its ephemerals then. In
/// an ensemble the read rule does not apply either: a lagging server may still show the
/// node; the `reads` checker holds each read to the state at its own zxid instead.)
pub fn ephemerals(f: &Facts) -> Verdict {
    let mut v = Verdict::new("ephemerals");
    for w in &f.replay.violations {
        v.fail(w.clone());
    }
    let closes: Vec<_> = f.input.session_ends.iter().filter(|e| e.closed).collect();
    v.checked = closes.len();
    if f.input.ensemble {
        return v;
    }
    for op in f.input.ops {
        let Some(ret) = op.ret.as_ref().filter(|r| r.outcome == Outcome::Ok) else {
            continue;
        };
        let owner = match &ret.body {
            Some(Response::Stat(s))
            | Some(Response::GetData { stat: s, .. })
            | Some(Response::Children2 { stat: s, .. }) => s.ephemeral_owner,
            _ => continue,
        };
        if owner.0 == 0 {
            continue;
        }
        for c in &closes {
            if c.session == owner && c.ms < op.invoke_ms {
                v.fail(format!(
                    "{op} shows an ephemeral of session {owner}, closed at {}ms",
                    c.ms
                ));
            }
        }
    }
    v
}

fn seq_counter(p: &str) -> Option<i64> {
    p.get(p.len().checked_sub(10)?..)?.parse().ok()
}

/// (g) Sequential names grow strictly with zxid under each parent, for every sequential
/// create in the log (acknowledged or not).
pub fn sequential(f: &Facts) -> Verdict {
    let mut v = Verdict::new("sequential");
    let mut by_parent: BTreeMap<String, Vec<(Zxid, i64, String)>> = BTreeMap::new();
    for op in f.input.ops {
        let Some(p) = f.txn_of[op.index] else {
            continue;
        };
        let Request::Create { req, .. } = &op.request else {
            continue;
        };
        if !matches!(req.flags, flags::SEQUENTIAL | flags::EPHEMERAL_SEQUENTIAL) {
            continue;
        }
        let e = &f.input.log[p];
        let Txn::Create { path, .. } = &e.txn else {
            continue;
        };
        v.checked += 1;
        match seq_counter(path) {
            Some(n) => by_parent
                .entry(path::parent(path).to_owned())
                .or_default()
                .push((e.hdr.zxid, n, path.clone())),
            None => v.fail(format!("{op}: sequential name {path} has no counter")),
        }
        // The reply names the same node.
        if let Some(Response::Create { path: rp } | Response::Create2 { path: rp, .. }) =
            op.ret.as_ref().and_then(|r| r.body.as_ref())
        {
            if rp != path {
                v.fail(format!("{op}: reply names {rp}, the log created {path}"));
            }
        }
    }
    for list in by_parent.values_mut() {
        list.sort();
        for w in list.windows(2) {
            if w[1].1 <= w[0].1 {
                v.fail(format!(
                    "{} (zxid {}) after {} (zxid {})",
                    w[1].2, w[1].0, w[0].2, w[0].0
                ));
            }
        }
    }
    v
}
