//! Watch checkers: `watches` (a watch fires at most once per registration) and
//! `watch-order` (it fires before the client can see the change).
//!
//! ## `watches`
//!
//! A watch is registered by a read with `watch=true` that the server answered (getData,
//! getChildren: Ok; exists: Ok or NoNode); a read whose answer was lost may have
//! registered one too, so it counts as well (the check stays sound, if weaker). Reconnects
//! re-arm the watches a client still holds (setWatches): the same registrations, not new
//! ones. So, per session and path, at the moment of each notification the client must
//! have sent at least as many watch-setting reads of that path as it has received
//! notifications for it so far. A server that fires a watch twice, or fires one nobody
//! set (a getData of a missing node leaves no watch), breaks this.
//!
//! ## `watch-order`
//!
//! ZooKeeper's promise: a client sees the notification of a change it watches before it
//! sees any state that includes that change. A read answered at zxid `z` with a watch
//! registers it; the first committed txn `w > z` that triggers that kind of watch on the
//! path fires it (a data watch, set by getData or exists: create, delete or setData of
//! the path; a child watch, set by getChildren: delete of the path, create or delete of a
//! child). So the session's first reply after the read with a header zxid `≥ w` must come
//! after a notification for that path whose type such a watch can deliver (a reconnect's
//! setWatches may report a later state than `w`'s: a delete instead of a data change).
//!
//! One exemption, ZooKeeper's own: an exists watch on a missing node, re-armed by
//! setWatches after a reconnect, fires only if the node exists at that moment; a node
//! created and deleted again while the client was away leaves no notification. So a
//! missing create notification is accepted when the session reconnected in between and
//! the node was deleted again by the zxid of the reply that would have exposed it.

use std::collections::BTreeMap;

use corral_core::error::ErrorCode;
use corral_core::path::parent;
use corral_core::proto::Request;
use corral_core::txn::Txn;
use corral_core::types::{SessionId, Zxid};

use super::{Facts, Verdict};
use crate::history::Outcome;

/// The path a read sets a watch on, if it asks for one, and whether it is an exists (which
/// registers a watch on a missing node too).
fn watched(r: &Request) -> Option<(&str, bool)> {
    match r {
        Request::GetData { path, watch: true }
        | Request::GetChildren { path, watch: true }
        | Request::GetChildren2 { path, watch: true } => Some((path.as_str(), false)),
        Request::Exists { path, watch: true } => Some((path.as_str(), true)),
        _ => None,
    }
}

/// The `watches` verdict (see the module docs).
pub fn watches(f: &Facts) -> Verdict {
    let mut v = Verdict::new("watches");
    // (session, path) → invoke seqs of the reads that may have registered a watch.
    let mut regs: BTreeMap<(SessionId, &str), Vec<u64>> = BTreeMap::new();
    for op in f.input.ops {
        let Some((path, exists)) = watched(&op.request) else {
            continue;
        };
        let registered = match op.outcome() {
            Some(Outcome::Ok) | Some(Outcome::Unknown(_)) | None => true,
            Some(Outcome::Failed(ErrorCode::NoNode)) => exists,
            Some(Outcome::Failed(_)) => false,
        };
        if registered && op.session != SessionId::NONE {
            regs.entry((op.session, path))
                .or_default()
                .push(op.invoke_seq);
        }
    }
    for r in regs.values_mut() {
        r.sort_unstable();
    }
    let mut fired: BTreeMap<(SessionId, &str), usize> = BTreeMap::new();
    for e in f.input.watches {
        v.checked += 1;
        let n = fired.entry((e.session, e.path.as_str())).or_default();
        *n += 1;
        let sent = regs
            .get(&(e.session, e.path.as_str()))
            .map_or(0, |r| r.partition_point(|s| *s < e.seq));
        if *n > sent {
            v.fail(format!(
                "session {} received notification #{n} (type {}) for {} at {} ms, after only {sent} watch-setting reads of it",
                e.session, e.event_type, e.path, e.ms
            ));
        }
    }
    v
}

/// Event type wire codes.
const CREATED: i32 = 1;
const DELETED: i32 = 2;
const DATA_CHANGED: i32 = 3;
const CHILDREN_CHANGED: i32 = 4;

/// The two kinds of one-shot watch a read can set.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    /// getData, exists.
    Data,
    /// getChildren.
    Child,
}

impl Kind {
    /// Event types a watch of this kind can deliver (directly or after a reconnect).
    fn delivers(self, event_type: i32) -> bool {
        match self {
            Kind::Data => matches!(event_type, CREATED | DELETED | DATA_CHANGED),
            Kind::Child => matches!(event_type, DELETED | CHILDREN_CHANGED),
        }
    }
}

/// The kind of watch a read registered, if it registered one (answered, and a success or
/// an exists of a missing node).
fn registered(op: &crate::history::Op) -> Option<(&str, Kind)> {
    let (path, exists) = watched(&op.request)?;
    let kind = match op.request {
        Request::GetChildren { .. } | Request::GetChildren2 { .. } => Kind::Child,
        _ => Kind::Data,
    };
    match op.outcome()? {
        Outcome::Ok => Some((path, kind)),
        Outcome::Failed(ErrorCode::NoNode) if exists => Some((path, kind)),
        _ => None,
    }
}

/// Per (path, kind): the committed txns that fire such a watch, in zxid order, with the
/// event type they fire.
type Triggers<'a> = BTreeMap<(&'a str, Kind), Vec<(Zxid, i32)>>;

fn triggers<'a>(f: &Facts<'a>) -> Triggers<'a> {
    fn add<'a>(t: &mut Triggers<'a>, zxid: Zxid, txn: &'a Txn) {
        let deleted = |t: &mut Triggers<'a>, p: &'a str| {
            t.entry((p, Kind::Data)).or_default().push((zxid, DELETED));
            t.entry((p, Kind::Child)).or_default().push((zxid, DELETED));
            t.entry((parent(p), Kind::Child))
                .or_default()
                .push((zxid, CHILDREN_CHANGED));
        };
        match txn {
            Txn::Create { path, .. } => {
                t.entry((path, Kind::Data))
                    .or_default()
                    .push((zxid, CREATED));
                t.entry((parent(path), Kind::Child))
                    .or_default()
                    .push((zxid, CHILDREN_CHANGED));
            }
            Txn::Delete { path } | Txn::DeleteContainer { path } => deleted(t, path),
            Txn::CloseSession { ephemerals } => {
                for p in ephemerals {
                    deleted(t, p);
                }
            }
            Txn::SetData { path, .. } => t
                .entry((path, Kind::Data))
                .or_default()
                .push((zxid, DATA_CHANGED)),
            Txn::Multi(subs) => {
                for s in subs {
                    add(t, zxid, s);
                }
            }
            Txn::SetAcl { .. }
            | Txn::Check { .. }
            | Txn::CreateSession { .. }
            | Txn::Error { .. } => {}
        }
    }
    let mut t = Triggers::new();
    for e in f.input.log {
        add(&mut t, e.hdr.zxid, &e.txn);
    }
    t
}

/// The `watch-order` verdict (see the module docs).
pub fn watch_order(f: &Facts) -> Verdict {
    let mut v = Verdict::new("watch-order");
    let triggers = triggers(f);
    // Per session: (reply seq, reply zxid) of every answered op, in arrival order.
    let mut replies: BTreeMap<SessionId, Vec<(u64, Zxid)>> = BTreeMap::new();
    for op in f.input.ops {
        if let (Some(z), Some(r)) = (op.reply_zxid(), &op.ret) {
            replies.entry(op.session).or_default().push((r.seq, z));
        }
    }
    for r in replies.values_mut() {
        r.sort_unstable();
    }
    let mut notes: BTreeMap<(SessionId, &str), Vec<(u64, i32)>> = BTreeMap::new();
    for e in f.input.watches {
        notes
            .entry((e.session, e.path.as_str()))
            .or_default()
            .push((e.seq, e.event_type));
    }
    let mut exempt = 0usize;
    let mut connects: BTreeMap<SessionId, Vec<u64>> = BTreeMap::new();
    for c in f.input.connects {
        connects.entry(c.session).or_default().push(c.seq);
    }
    for op in f.input.ops {
        let Some((path, kind)) = registered(op) else {
            continue;
        };
        let (Some(z), Some(ret)) = (op.reply_zxid(), &op.ret) else {
            continue;
        };
        let Some(&(w, fired)) = triggers.get(&(path, kind)).and_then(|t| {
            let i = t.partition_point(|(zx, _)| *zx <= z);
            t.get(i)
        }) else {
            continue;
        };
        let session_replies = replies.get(&op.session).map_or(&[][..], Vec::as_slice);
        let after_read = session_replies.partition_point(|(seq, _)| *seq <= ret.seq);
        let Some(&(exposed_seq, exposed_zxid)) = session_replies[after_read..]
            .iter()
            .find(|(_, zx)| *zx >= w)
        else {
            continue;
        };
        v.checked += 1;
        let session_connects = connects.get(&op.session).map_or(&[][..], Vec::as_slice);
        let reconnected_before =
            |seq: u64| session_connects.iter().any(|c| *c > ret.seq && *c < seq);
        // The type `w` fires; after a reconnect, setWatches reports the state it finds,
        // which may be a later change's type.
        let notified = notes.get(&(op.session, path)).is_some_and(|n| {
            n.iter().any(|&(seq, t)| {
                seq > ret.seq
                    && seq < exposed_seq
                    && (t == fired || (kind.delivers(t) && reconnected_before(seq)))
            })
        });
        if notified {
            continue;
        }
        // (A delete at `w` itself is a later op of the same multi as the create.)
        let deleted_again = triggers.get(&(path, Kind::Data)).is_some_and(|t| {
            t.iter()
                .any(|(zx, ty)| *ty == DELETED && *zx >= w && *zx <= exposed_zxid)
        });
        if fired == CREATED && reconnected_before(exposed_seq) && deleted_again {
            exempt += 1;
            continue;
        }
        let exposing = f.input.ops.iter().find(|o| {
            o.session == op.session && o.ret.as_ref().is_some_and(|r| r.seq == exposed_seq)
        });
        v.fail(format!(
            "{op}: its watch fires at zxid {w} (type {fired}), but the session saw zxid {exposed_zxid} first, in {}",
            exposing.map_or_else(|| "a reply".to_owned(), ToString::to_string)
        ));
    }
    if exempt > 0 {
        v.note = Some(format!(
            "{exempt} exempt: exists watches re-armed after a reconnect, the node created and deleted meanwhile"
        ));
    }
    v
}
