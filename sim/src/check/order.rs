//! Ordering checks: the zxid placement of operations against real time and against each
//! session's submission order.

use std::collections::BTreeMap;

use corral_core::types::{SessionId, Zxid};

use super::{Facts, Pos, Verdict};

/// Does placing `p` after an operation placed at `before` respect order? A txn of its
/// own must come strictly later; an observation may see the same state.
fn after(p: Pos, before: Zxid) -> bool {
    if p.strict {
        p.zxid > before
    } else {
        p.zxid >= before
    }
}

/// (c) Real time: if A returned before B was invoked, B is placed after A. For writes this
/// is linearizability of the zxid order; for reads it holds on a single server (reads are
/// answered from the one state every write went through), not in an ensemble, where it is
/// checked only for B a txn of its own (a write placed strictly).
pub fn real_time(f: &Facts) -> Verdict {
    let mut v = Verdict::new("real-time");
    let ops = f.input.ops;
    // Answered ops by return time.
    let mut returned: Vec<(u64, Zxid, usize)> = ops
        .iter()
        .filter(|o| o.answered())
        .filter_map(|o| Some((o.ret.as_ref()?.ms, f.pos[o.index]?.zxid, o.index)))
        .collect();
    returned.sort();
    let mut placed: Vec<usize> = ops
        .iter()
        .filter(|o| f.pos[o.index].is_some())
        .map(|o| o.index)
        .collect();
    placed.sort_by_key(|&i| (ops[i].invoke_ms, ops[i].invoke_seq));
    let mut j = 0;
    let mut best: Option<(Zxid, usize)> = None;
    for i in placed {
        let op = &ops[i];
        while j < returned.len() && returned[j].0 < op.invoke_ms {
            if best.is_none_or(|(z, _)| returned[j].1 > z) {
                best = Some((returned[j].1, returned[j].2));
            }
            j += 1;
        }
        let p = f.pos[i].expect("placed");
        if f.input.ensemble && !p.strict {
            continue;
        }
        v.checked += 1;
        if let Some((z, before)) = best {
            if !after(p, z) {
                v.fail(format!(
                    "{op} placed at {} but {} returned before it was invoked",
                    p.zxid, ops[before]
                ));
            }
        }
    }
    v
}

/// (d, e) Session order: replies come back in submission order (FIFO), and placements
/// follow submission order within a session across reconnections, reads and writes alike
/// (monotonic reads, read-your-writes, including writes whose reply was lost; in an
/// ensemble those bind only later writes). The log holds each session's txns in cxid
/// order.
pub fn session_order(f: &Facts) -> Verdict {
    let mut v = Verdict::new("session-order");
    let ops = f.input.ops;
    let mut by_incarnation: BTreeMap<(usize, u32), Vec<usize>> = BTreeMap::new();
    for o in ops {
        by_incarnation
            .entry((o.client, o.incarnation))
            .or_default()
            .push(o.index);
    }
    for list in by_incarnation.values_mut() {
        list.sort_by_key(|&i| ops[i].invoke_seq);
        let mut last_ret: Option<(u64, usize)> = None;
        let mut high: Option<(Zxid, usize)> = None;
        // In an ensemble, a write whose reply was lost binds only the session's later
        // writes: it may still be in flight to the leader from the server the session left
        // while another server answers the session's later reads (ZooKeeper guarantees no
        // more; a later write goes to the leader after the session moved, so it follows).
        let mut high_unanswered: Option<(Zxid, usize)> = None;
        for &i in list.iter() {
            let op = &ops[i];
            if op.answered() {
                v.checked += 1;
                let seq = op.ret.as_ref().expect("answered").seq;
                if let Some((prev, pi)) = last_ret {
                    if seq < prev {
                        v.fail(format!("{op} answered before earlier {}", ops[pi]));
                    }
                }
                last_ret = Some((seq, i));
            }
            let Some(p) = f.pos[i] else {
                continue;
            };
            let binding = match (high, high_unanswered) {
                (Some(a), Some(b)) if p.strict && b.0 > a.0 => Some(b),
                (None, Some(b)) if p.strict => Some(b),
                (a, _) => a,
            };
            if let Some((z, hi)) = binding {
                if !after(p, z) {
                    v.fail(format!(
                        "{op} placed at {} but was submitted after {}",
                        p.zxid, ops[hi]
                    ));
                }
            }
            let mark = if f.input.ensemble && !op.answered() {
                &mut high_unanswered
            } else {
                &mut high
            };
            if mark.is_none_or(|(z, _)| p.zxid > z) {
                *mark = Some((p.zxid, i));
            }
        }
    }
    let mut last_cxid: BTreeMap<SessionId, i32> = BTreeMap::new();
    for e in f.input.log {
        // Error txns change nothing; a late one (SessionMoved) may land after its session's
        // later requests.
        if e.hdr.cxid == 0
            || e.hdr.session == SessionId::NONE
            || matches!(e.txn, corral_core::txn::Txn::Error { .. })
        {
            continue;
        }
        if let Some(prev) = last_cxid.insert(e.hdr.session, e.hdr.cxid) {
            if e.hdr.cxid <= prev {
                v.fail(format!(
                    "zxid {}: session {} cxid {} logged after cxid {prev}",
                    e.hdr.zxid, e.hdr.session, e.hdr.cxid
                ));
            }
        }
    }
    v
}
