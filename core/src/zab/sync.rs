//! How a leader brings a learner's log in line with its own history.
//!
//! ZooKeeper's `LearnerHandler.syncFollower`, over the leader's in-memory [`History`]:
//!
//! - **DIFF** when the learner's last zxid is in the leader's history: send the entries
//!   after it.
//! - **TRUNC** when the learner's last zxid is not in the history but above its base: the
//!   learner holds entries the leader does not (an uncommitted tail of an older epoch, or
//!   a tail beyond the leader's end). Cut the learner's log back to the largest zxid of
//!   the history below its last, then DIFF from there.
//! - **SNAP** when the learner is older than what the history holds (or a TRUNC would have
//!   to undo what the learner already applied, which cannot happen in a correct ensemble
//!   and is handled by replacing its state rather than trusted): send the leader's
//!   applied state as a snapshot, then DIFF from there.
//!
//! Why TRUNC to "the largest zxid below" is right: a zxid names one transaction
//! everywhere, and every log obeys the successor rule, so the learner's entries up to the
//! point where its log leaves the leader's history are the leader's entries.

use crate::types::Zxid;
use crate::zab::history::History;

/// What to send a learner before NEWLEADER.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPlan {
    /// Send the entries after `from`.
    Diff { from: Zxid },
    /// Cut the learner's log after `to`, then send the entries after `to`.
    Trunc { to: Zxid },
    /// Send the leader's applied state, then the entries after it.
    Snap,
}

impl SyncPlan {
    /// The zxid after which entries are sent, given the leader's applied zxid for SNAP.
    pub fn diff_from(self, leader_applied: Zxid) -> Zxid {
        match self {
            SyncPlan::Diff { from } => from,
            SyncPlan::Trunc { to } => to,
            SyncPlan::Snap => leader_applied,
        }
    }
}

/// Decide how to bring a learner whose log ends at `learner_last`, and whose state machine
/// has applied through `learner_applied`, in line with `history`.
pub fn plan(history: &History, learner_last: Zxid, learner_applied: Zxid) -> SyncPlan {
    if history.contains(learner_last) {
        return SyncPlan::Diff { from: learner_last };
    }
    if learner_last > history.base() {
        let to = history.before(learner_last);
        if to >= learner_applied {
            return SyncPlan::Trunc { to };
        }
    }
    SyncPlan::Snap
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::{LogEntry, Txn, TxnHeader};
    use crate::types::{Epoch, SessionId};

    fn z(e: u32, c: u32) -> Zxid {
        Zxid::new(Epoch(e), c)
    }

    /// A leader history after `base` holding the given zxids.
    fn history(base: Zxid, zxids: &[Zxid], window: usize) -> History {
        let mut h = History::new(base, window);
        for &zxid in zxids {
            h.append(
                LogEntry {
                    hdr: TxnHeader {
                        session: SessionId(0),
                        cxid: 0,
                        zxid,
                        time: 0,
                        op: crate::txn::txn_op::ERROR,
                    },
                    txn: Txn::Error {
                        err: crate::error::ErrorCode::Ok,
                    },
                },
                None,
            )
            .unwrap();
        }
        h
    }

    #[test]
    fn table() {
        // Leader: base 1.3, then 1.4 1.5 3.1 3.2.
        let h = history(z(1, 3), &[z(1, 4), z(1, 5), z(3, 1), z(3, 2)], 100);
        let cases = [
            // (learner last, learner applied, plan)
            (z(3, 2), z(1, 1), SyncPlan::Diff { from: z(3, 2) }), // in sync
            (z(1, 5), z(1, 5), SyncPlan::Diff { from: z(1, 5) }), // behind, in window
            (z(1, 3), z(1, 3), SyncPlan::Diff { from: z(1, 3) }), // exactly at base
            (z(1, 7), z(1, 4), SyncPlan::Trunc { to: z(1, 5) }),  // old-epoch tail 1.6 1.7
            (z(2, 4), z(1, 5), SyncPlan::Trunc { to: z(1, 5) }),  // a whole epoch not kept
            (z(3, 5), z(3, 1), SyncPlan::Trunc { to: z(3, 2) }),  // beyond the leader's end
            (z(1, 2), z(1, 2), SyncPlan::Snap),                   // older than the window
            (z(0, 9), z(0, 9), SyncPlan::Snap),
            // A TRUNC that would undo applied state: replace the state instead.
            (z(2, 4), z(2, 1), SyncPlan::Snap),
        ];
        for (last, applied, want) in cases {
            assert_eq!(
                plan(&h, last, applied),
                want,
                "learner at {last} applied {applied}"
            );
        }
    }

    #[test]
    fn diff_start() {
        assert_eq!(SyncPlan::Diff { from: z(1, 1) }.diff_from(z(5, 5)), z(1, 1));
        assert_eq!(SyncPlan::Trunc { to: z(1, 2) }.diff_from(z(5, 5)), z(1, 2));
        assert_eq!(SyncPlan::Snap.diff_from(z(5, 5)), z(5, 5));
    }
}
