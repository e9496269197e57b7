//! Session rules.

use std::collections::BTreeMap;

use corral_core::txn::Txn;
use corral_core::types::SessionId;

use super::{Facts, Verdict};
use crate::world::EPOCH_SECS;

/// A client is told its session expired only once it has: the committed history closes the
/// session (a closeSession txn) no later than the moment the client heard of it. A server
/// that merely has not applied the session's creation yet (a lagging follower, a session
/// moved in from elsewhere) must not report it expired.
pub fn expiry(f: &Facts) -> Verdict {
    let mut v = Verdict::new("expiry");
    let epoch_ms = (EPOCH_SECS * 1000) as i64;
    let mut closed_at: BTreeMap<SessionId, u64> = BTreeMap::new();
    for e in f.input.log {
        if matches!(e.txn, Txn::CloseSession { .. }) {
            let at = (e.hdr.time - epoch_ms).max(0) as u64;
            closed_at.entry(e.hdr.session).or_insert(at);
        }
    }
    for end in f.input.session_ends.iter().filter(|e| !e.closed) {
        v.checked += 1;
        match closed_at.get(&end.session) {
            Some(at) if *at <= end.ms => {}
            Some(at) => v.fail(format!(
                "session {} reported expired at {}ms, the leader closed it at {at}ms",
                end.session, end.ms
            )),
            None => v.fail(format!(
                "session {} reported expired at {}ms, but the committed history never closes it",
                end.session, end.ms
            )),
        }
    }
    v
}
