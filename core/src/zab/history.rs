//! The in-memory tail of a server's log: what ZAB needs to apply, commit and synchronize.
//!
//! A [`History`] holds the log entries after `base`, in zxid order, with three marks:
//! `applied ≤ committed ≤ last`. Entries up to `applied` have been handed to the state
//! machine; a window of them is kept so the leader can bring a follower up to date by
//! DIFF, and older ones are dropped (`base` moves up). Everything after `applied` is the
//! part of the log whose fate is open (not yet known committed), or committed and about to
//! be applied.
//!
//! `base` is a zxid known to be in this server's history (the snapshot it started from,
//! the last entry dropped from the window, or zero). Every entry follows its predecessor
//! by the successor rule: the next counter in the same epoch, or counter 0 or 1 of a later
//! epoch. Together with "one leader per epoch" this makes a zxid name one transaction
//! everywhere, so two servers that hold the same zxid agree on the whole log before it.

use std::collections::VecDeque;

use crate::txn::LogEntry;
use crate::types::Zxid;
use crate::zab::message::ReqTag;

/// One entry and who waits for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistEntry {
    pub entry: LogEntry,
    pub tag: Option<ReqTag>,
}

impl HistEntry {
    /// The entry's zxid.
    pub fn zxid(&self) -> Zxid {
        self.entry.hdr.zxid
    }
}

/// Whether `next` may directly follow `prev` in a log: the next counter of the same
/// epoch, or the start (counter 0 or 1) of a later epoch. Counter 0 only occurs where a
/// standalone server carried its counter over into the epoch half.
pub fn follows(prev: Zxid, next: Zxid) -> bool {
    if next.epoch() == prev.epoch() {
        next.0 == prev.0 + 1
    } else {
        next.epoch() > prev.epoch() && next.counter() <= 1
    }
}

/// An entry that cannot be appended where it was offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// The log's last zxid.
    pub last: Zxid,
    /// The zxid offered after it.
    pub offered: Zxid,
}

/// The in-memory log tail. See the module docs.
#[derive(Clone, Debug)]
pub struct History {
    base: Zxid,
    entries: VecDeque<HistEntry>,
    applied: Zxid,
    committed: Zxid,
    /// Applied entries kept for DIFF.
    window: usize,
}

impl History {
    /// A history that starts after `base` (a snapshot's zxid, or zero), everything up to
    /// which is applied, and keeps up to `window` applied entries for DIFF.
    pub fn new(base: Zxid, window: usize) -> History {
        History {
            base,
            entries: VecDeque::new(),
            applied: base,
            committed: base,
            window,
        }
    }

    /// The last zxid in the log (`base` when no entry is held).
    pub fn last(&self) -> Zxid {
        self.entries.back().map_or(self.base, HistEntry::zxid)
    }

    /// The zxid before the first entry held.
    pub fn base(&self) -> Zxid {
        self.base
    }

    /// The last zxid handed to the state machine.
    pub fn applied(&self) -> Zxid {
        self.applied
    }

    /// The last zxid known committed.
    pub fn committed(&self) -> Zxid {
        self.committed
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn index_of(&self, zxid: Zxid) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&zxid, HistEntry::zxid)
    }

    /// Whether `zxid` is known to be in this history: `base`, or an entry held.
    pub fn contains(&self, zxid: Zxid) -> bool {
        zxid == self.base || self.index_of(zxid).is_ok()
    }

    /// The largest zxid of this history below `zxid` (at least `base`). `zxid` must be
    /// above `base`.
    pub fn before(&self, zxid: Zxid) -> Zxid {
        assert!(zxid > self.base, "{zxid} is not above base {}", self.base);
        match self.index_of(zxid) {
            Ok(0) | Err(0) => self.base,
            Ok(i) | Err(i) => self.entries[i - 1].zxid(),
        }
    }

    /// The entries after `zxid`, which must be in this history.
    pub fn after(&self, zxid: Zxid) -> impl Iterator<Item = &HistEntry> {
        let start = if zxid == self.base {
            0
        } else {
            self.index_of(zxid)
                .unwrap_or_else(|_| panic!("{zxid} is not in this history"))
                + 1
        };
        self.entries.range(start..)
    }

    /// The entry with this zxid, if held.
    pub fn get(&self, zxid: Zxid) -> Option<&HistEntry> {
        self.index_of(zxid).ok().map(|i| &self.entries[i])
    }

    /// Append an entry at the end. It must follow the last one by the successor rule.
    pub fn append(&mut self, entry: LogEntry, tag: Option<ReqTag>) -> Result<(), Gap> {
        let (last, offered) = (self.last(), entry.hdr.zxid);
        if !follows(last, offered) {
            return Err(Gap { last, offered });
        }
        self.entries.push_back(HistEntry { entry, tag });
        Ok(())
    }

    /// Drop every entry after `zxid`, which must be in this history and not below what was
    /// applied (applied state cannot be undone here).
    pub fn truncate_after(&mut self, zxid: Zxid) {
        assert!(
            self.contains(zxid),
            "truncate to {zxid}: not in this history"
        );
        assert!(
            zxid >= self.applied,
            "truncate to {zxid} below the applied {}",
            self.applied
        );
        let keep = if zxid == self.base {
            0
        } else {
            self.index_of(zxid).expect("contained") + 1
        };
        self.entries.truncate(keep);
        self.committed = self.committed.min(zxid);
    }

    /// Everything through `zxid` is committed: the committed mark moves to the last entry
    /// at or below it (a zxid that names no entry here, which only a confused peer sends,
    /// commits nothing beyond what it covers). Never goes back.
    pub fn commit_to(&mut self, zxid: Zxid) {
        let to = if zxid >= self.last() {
            self.last()
        } else if zxid <= self.base {
            self.base
        } else if self.index_of(zxid).is_ok() {
            zxid
        } else {
            self.before(zxid)
        };
        if to > self.committed {
            self.committed = to;
        }
    }

    /// The committed entries not yet applied, in order; they count as applied afterwards.
    /// Then drops applied entries beyond the window.
    pub fn take_appliable(&mut self) -> Vec<HistEntry> {
        if self.committed <= self.applied {
            return Vec::new();
        }
        let from = match self.index_of(self.applied) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        let to = self.index_of(self.committed).expect("committed entry held") + 1;
        let out: Vec<HistEntry> = self.entries.range(from..to).cloned().collect();
        self.applied = self.committed;
        self.trim();
        out
    }

    /// Start over after `base` (a snapshot installed from the leader): nothing held,
    /// everything through `base` applied and committed.
    pub fn reset(&mut self, base: Zxid) {
        self.entries.clear();
        self.base = base;
        self.applied = base;
        self.committed = base;
    }

    /// Drop applied entries beyond the window.
    fn trim(&mut self) {
        let applied_held = match self.index_of(self.applied) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        let excess = applied_held.saturating_sub(self.window);
        for _ in 0..excess {
            let e = self.entries.pop_front().expect("counted");
            self.base = e.zxid();
        }
    }

    /// Checks the marks; panics with context when broken.
    pub fn assert_invariants(&self) {
        assert!(
            self.base <= self.applied && self.applied <= self.committed,
            "marks out of order: base {} applied {} committed {}",
            self.base,
            self.applied,
            self.committed
        );
        assert!(self.committed <= self.last(), "committed beyond the log");
        let mut prev = self.base;
        for e in &self.entries {
            assert!(follows(prev, e.zxid()), "{} after {prev}", e.zxid());
            prev = e.zxid();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::{Txn, TxnHeader};
    use crate::types::{Epoch, SessionId};

    fn entry(epoch: u32, counter: u32) -> LogEntry {
        LogEntry {
            hdr: TxnHeader {
                session: SessionId(1),
                cxid: 0,
                zxid: Zxid::new(Epoch(epoch), counter),
                time: 0,
                op: crate::txn::txn_op::SET_DATA,
            },
            txn: Txn::SetData {
                path: "/a".into(),
                data: None,
                version: 1,
            },
        }
    }

    fn z(epoch: u32, counter: u32) -> Zxid {
        Zxid::new(Epoch(epoch), counter)
    }

    fn history(entries: &[(u32, u32)]) -> History {
        let mut h = History::new(Zxid::ZERO, 100);
        for &(e, c) in entries {
            h.append(entry(e, c), None).unwrap();
        }
        h
    }

    #[test]
    fn successor_rule() {
        assert!(follows(z(0, 0), z(0, 1)));
        assert!(follows(z(1, 5), z(1, 6)));
        assert!(!follows(z(1, 5), z(1, 7)));
        assert!(!follows(z(1, 5), z(1, 5)));
        assert!(follows(z(1, 5), z(3, 1)));
        assert!(follows(z(1, u32::MAX), z(2, 0)));
        assert!(!follows(z(1, 5), z(2, 2)));
        assert!(!follows(z(2, 1), z(1, 2)));
    }

    #[test]
    fn append_refuses_gaps() {
        let mut h = history(&[(0, 1), (0, 2)]);
        assert_eq!(
            h.append(entry(0, 4), None),
            Err(Gap {
                last: z(0, 2),
                offered: z(0, 4)
            })
        );
        h.append(entry(2, 1), None).unwrap();
        assert_eq!(h.last(), z(2, 1));
        h.assert_invariants();
    }

    #[test]
    fn contains_before_after() {
        let h = history(&[(0, 1), (0, 2), (0, 3), (2, 1), (2, 2)]);
        assert!(h.contains(Zxid::ZERO));
        assert!(h.contains(z(0, 3)));
        assert!(!h.contains(z(1, 1)));
        assert_eq!(h.before(z(1, 4)), z(0, 3));
        assert_eq!(h.before(z(0, 1)), Zxid::ZERO);
        assert_eq!(h.before(z(9, 9)), z(2, 2));
        let after: Vec<Zxid> = h.after(z(0, 3)).map(HistEntry::zxid).collect();
        assert_eq!(after, vec![z(2, 1), z(2, 2)]);
        assert_eq!(h.after(Zxid::ZERO).count(), 5);
    }

    #[test]
    fn commit_apply_and_trim() {
        let mut h = History::new(Zxid::ZERO, 2);
        for c in 1..=5 {
            h.append(entry(0, c), None).unwrap();
        }
        h.commit_to(z(0, 3));
        let applied: Vec<Zxid> = h.take_appliable().iter().map(HistEntry::zxid).collect();
        assert_eq!(applied, vec![z(0, 1), z(0, 2), z(0, 3)]);
        assert_eq!(h.applied(), z(0, 3));
        // Only two applied entries stay for DIFF.
        assert_eq!(h.base(), z(0, 1));
        assert_eq!(h.len(), 4);
        assert!(h.take_appliable().is_empty());
        h.commit_to(z(9, 9));
        assert_eq!(h.committed(), z(0, 5), "commit is capped at the log's end");
        assert_eq!(h.take_appliable().len(), 2);
        h.assert_invariants();
    }

    #[test]
    fn a_commit_between_entries_stops_at_the_entry_below() {
        let mut h = history(&[(0, 1), (0, 2), (2, 1)]);
        h.commit_to(z(1, 7));
        assert_eq!(h.committed(), z(0, 2));
        assert_eq!(h.take_appliable().len(), 2);
        h.assert_invariants();
    }

    #[test]
    fn truncate_drops_the_tail_only() {
        let mut h = history(&[(1, 1), (1, 2), (1, 3), (1, 4)]);
        h.commit_to(z(1, 1));
        h.take_appliable();
        h.truncate_after(z(1, 2));
        assert_eq!(h.last(), z(1, 2));
        h.append(entry(2, 1), None).unwrap();
        h.assert_invariants();
    }

    #[test]
    #[should_panic(expected = "below the applied")]
    fn truncate_below_applied_is_a_bug() {
        let mut h = history(&[(1, 1), (1, 2)]);
        h.commit_to(z(1, 2));
        h.take_appliable();
        h.truncate_after(z(1, 1));
    }

    #[test]
    fn reset_starts_after_a_snapshot() {
        let mut h = history(&[(1, 1)]);
        h.reset(z(3, 7));
        assert_eq!(
            (h.base(), h.applied(), h.committed(), h.last()),
            (z(3, 7), z(3, 7), z(3, 7), z(3, 7))
        );
        h.append(entry(3, 8), None).unwrap();
        h.assert_invariants();
    }
}
