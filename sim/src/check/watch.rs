//! `watches`: a watch fires at most once per registration.
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
//! Not checked: that a notification arrives before the client can read data newer than
//! the change that fired it.

use std::collections::BTreeMap;

use corral_core::error::ErrorCode;
use corral_core::proto::Request;
use corral_core::types::SessionId;

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
