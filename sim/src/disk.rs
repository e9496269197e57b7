//! The simulated disk: an append-only log of framed records with a durable prefix and an
//! unsynced tail.
//!
//! `append` puts bytes in the unsynced tail (the page cache); `sync_to` makes a prefix of
//! it durable (a completed fsync). A crash (`crash`) throws the unsynced tail away, except
//! that with tearing on, a random prefix of it survives, possibly ending in the middle of a
//! record (a torn write), and that partial record may be padded with garbage (a sector that
//! was allocated but not written). Recovery (`recover`) reads records until the first
//! incomplete or checksum-failing one and truncates there, as the real log does.
//!
//! Disks live outside the hosts, in a [`DiskSet`] keyed by host name, so they outlive a
//! host's crash. Everything is in memory and deterministic. (turmoil's `unstable-fs`
//! feature was not used: a model this small says exactly what survives a crash.)
//!
//! Record layout: `u32 BE payload length`, `u32 BE FNV-1a checksum of the payload`,
//! payload = `LogEntry::to_bytes()`.
//!
//! Snapshots are built the way the real shell builds them (previous snapshot plus the
//! durable log, in the core's snapshot format) and land atomically, like a renamed file.
//! After each one the log prefix older than the oldest kept snapshot is purged; purged
//! entries move to an archive that only the checkers read, so recovery really starts from
//! the snapshot.
//!
//! An ensemble member's disk also holds the epoch files (`acceptedEpoch`, `currentEpoch`,
//! replaced atomically), truncates its log (TRUNC) and installs a leader's snapshot (SNAP).
//! Those three are atomic: after a crash the disk holds the old state or the new, never a
//! mix. The server driver issues them only once everything before them is durable, so
//! they never meet an unsynced tail. An installed snapshot replaces the log and every
//! older snapshot; its archive becomes the history the leader that sent it held up to that
//! zxid (its provenance, for the checkers' eyes only), so every disk's archive plus its
//! log is its whole history from the first zxid.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use corral_core::server::{AcceptedEpoch, LogEntry, StoredEpochs};
use corral_core::snapshot::{self, Image};
use corral_core::txn::Txn;
use corral_core::types::{Epoch, Zxid};

use crate::rng::Rng;

const HEADER_LEN: usize = 8;

fn checksum(b: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for x in b {
        h = (h ^ u32::from(*x)).wrapping_mul(0x0100_0193);
    }
    h
}

/// What a crash did to the disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrashReport {
    /// Unsynced bytes thrown away.
    pub lost_bytes: usize,
    /// Unsynced bytes that reached the platter anyway.
    pub kept_bytes: usize,
    /// The kept bytes end inside a record.
    pub torn: bool,
    /// Garbage written after the torn record's prefix.
    pub garbage_bytes: usize,
}

/// Snapshots kept on a disk (the newest ones).
const SNAPSHOTS_KEPT: usize = 2;

/// What recovery found.
#[derive(Clone, Debug, Default)]
pub struct Recovery {
    /// The newest snapshot, loaded.
    pub image: Option<Image>,
    /// Log entries after the snapshot.
    pub entries: Vec<LogEntry>,
    /// Bytes cut off the end (a torn or garbage tail).
    pub truncated_bytes: usize,
    /// The durable epochs (zero on a fresh disk).
    pub epochs: StoredEpochs,
}

/// One host's log device.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    durable: Vec<u8>,
    unsynced: Vec<u8>,
    /// Snapshot files, oldest first.
    snapshots: Vec<Vec<u8>>,
    /// Entries purged from the log (for the checkers only; recovery never sees them).
    archived: Vec<LogEntry>,
    /// Bytes purged from the front of the log: offsets (`written`, `sync_to`) are absolute,
    /// so an fsync started before a purge still covers exactly what it covered.
    purged_bytes: usize,
    /// Zxids of the whole records of `durable`, in order (an index for `durably_holds`).
    durable_zxids: Vec<Zxid>,
    /// (absolute end offset, zxid) of the records in `unsynced`.
    unsynced_records: VecDeque<(usize, Zxid)>,
    /// Zxid of each snapshot in `snapshots`.
    snapshot_zxids: Vec<Zxid>,
    /// The durable epoch files.
    epochs: StoredEpochs,
}

impl Disk {
    /// Write one record to the unsynced tail.
    pub fn append(&mut self, entry: &LogEntry) {
        let payload = entry.to_bytes();
        let len = u32::try_from(payload.len()).expect("log record under 4 GiB");
        self.unsynced.extend_from_slice(&len.to_be_bytes());
        self.unsynced
            .extend_from_slice(&checksum(&payload).to_be_bytes());
        self.unsynced.extend_from_slice(&payload);
        let end = self.written();
        self.unsynced_records.push_back((end, entry.hdr.zxid));
    }

    /// Bytes written so far, durable or not: the offset an fsync started now covers.
    pub fn written(&self) -> usize {
        self.purged_bytes + self.durable.len() + self.unsynced.len()
    }

    /// Bytes known durable.
    pub fn durable_len(&self) -> usize {
        self.purged_bytes + self.durable.len()
    }

    /// An fsync covering everything written before offset `upto` completed.
    pub fn sync_to(&mut self, upto: usize) {
        let n = upto
            .saturating_sub(self.purged_bytes + self.durable.len())
            .min(self.unsynced.len());
        self.durable.extend(self.unsynced.drain(..n));
        let synced = self.durable_len();
        while let Some(&(end, zxid)) = self.unsynced_records.front() {
            if end > synced {
                break;
            }
            self.durable_zxids.push(zxid);
            self.unsynced_records.pop_front();
        }
    }

    /// Whether `zxid` is durably held: in a whole durable log record, or covered by the
    /// newest snapshot (or zero).
    pub fn durably_holds(&self, zxid: Zxid) -> bool {
        zxid == Zxid::ZERO
            || self.snapshot_zxids.last().is_some_and(|s| zxid <= *s)
            || self.durable_zxids.binary_search(&zxid).is_ok()
    }

    /// The last zxid durably held (log or newest snapshot).
    pub fn durable_tail(&self) -> Zxid {
        let log = self.durable_zxids.last().copied().unwrap_or(Zxid::ZERO);
        log.max(self.snapshot_zxids.last().copied().unwrap_or(Zxid::ZERO))
    }

    /// Replace the epoch files (atomic, durable at once: the driver calls this when the
    /// write completes). An epoch going back is refused: `Err` names it, and nothing
    /// changes.
    pub fn save_epochs(
        &mut self,
        accepted: Option<AcceptedEpoch>,
        current: Option<Epoch>,
    ) -> Result<(), String> {
        if let Some(a) = accepted {
            if a.epoch < self.epochs.accepted.epoch {
                return Err(format!(
                    "acceptedEpoch going back from {} to {}",
                    self.epochs.accepted.epoch.0, a.epoch.0
                ));
            }
        }
        if let Some(c) = current {
            if c < self.epochs.current {
                return Err(format!(
                    "currentEpoch going back from {} to {}",
                    self.epochs.current.0, c.0
                ));
            }
        }
        if let Some(a) = accepted {
            self.epochs.accepted = a;
        }
        if let Some(c) = current {
            self.epochs.current = c;
        }
        Ok(())
    }

    /// Remove every log record after `after` (TRUNC). Returns how many went.
    ///
    /// Refused (`Err`, nothing changes) with unsynced bytes (the driver issues it only
    /// once everything before it is durable) or when `after` is below the newest snapshot
    /// (the snapshot would keep what the log loses).
    pub fn truncate_after(&mut self, after: Zxid) -> Result<usize, String> {
        if !self.unsynced.is_empty() {
            return Err(format!(
                "truncate after {after} with {} unsynced bytes",
                self.unsynced.len()
            ));
        }
        if let Some(s) = self.snapshot_zxids.last() {
            if after < *s {
                return Err(format!("truncate after {after}, below the snapshot at {s}"));
            }
        }
        let (entries, good) = parse(&self.durable);
        let mut at = 0;
        let mut kept = 0;
        for e in &entries {
            if e.hdr.zxid > after {
                break;
            }
            at += HEADER_LEN + e.to_bytes().len();
            kept += 1;
        }
        debug_assert!(at <= good);
        self.durable.truncate(at);
        self.durable_zxids.truncate(kept);
        Ok(entries.len() - kept)
    }

    /// Install a leader's snapshot (SNAP): it becomes the only snapshot and the log is
    /// emptied. `provenance` is the history the leader held up to `zxid`; it becomes the
    /// archive (checkers only). Refused (`Err`, nothing changes) with unsynced bytes or a
    /// snapshot that does not read.
    pub fn install_snapshot(
        &mut self,
        zxid: Zxid,
        bytes: Vec<u8>,
        provenance: Vec<LogEntry>,
    ) -> Result<(), String> {
        if !self.unsynced.is_empty() {
            return Err(format!(
                "install snapshot {zxid} with {} unsynced bytes",
                self.unsynced.len()
            ));
        }
        let header = snapshot::read_header(&bytes).map_err(|e| e.to_string())?;
        if header.zxid != zxid {
            return Err(format!(
                "snapshot bytes at {} installed as {zxid}",
                header.zxid
            ));
        }
        self.purged_bytes += self.durable.len();
        self.durable.clear();
        self.durable_zxids.clear();
        self.snapshots = vec![bytes];
        self.snapshot_zxids = vec![zxid];
        self.archived = provenance;
        Ok(())
    }

    /// Power loss. Without `tear` the unsynced tail vanishes; with it, a random prefix of
    /// the tail survives and a record cut in two may get garbage after its surviving part.
    pub fn crash(&mut self, rng: &mut Rng, tear: bool) -> CrashReport {
        let pending = std::mem::take(&mut self.unsynced);
        let keep = if tear && !pending.is_empty() {
            rng.below(pending.len() + 1)
        } else {
            0
        };
        let mut report = CrashReport {
            lost_bytes: pending.len() - keep,
            kept_bytes: keep,
            ..CrashReport::default()
        };
        let kept = &pending[..keep];
        // Find where the last kept record starts, to see whether it was cut.
        let mut at = 0;
        while at + HEADER_LEN <= kept.len() {
            let len = u32::from_be_bytes(kept[at..at + 4].try_into().expect("4 bytes")) as usize;
            if at + HEADER_LEN + len > kept.len() {
                break;
            }
            at += HEADER_LEN + len;
        }
        report.torn = at < kept.len();
        self.durable.extend_from_slice(kept);
        self.unsynced_records.clear();
        if report.torn && kept.len() - at >= HEADER_LEN && rng.chance(50) {
            let len = u32::from_be_bytes(kept[at..at + 4].try_into().expect("4 bytes")) as usize;
            let missing = at + HEADER_LEN + len - kept.len();
            self.durable.extend(std::iter::repeat_n(0xa5, missing));
            report.garbage_bytes = missing;
        }
        self.durable_zxids = parse(&self.durable).0.iter().map(|e| e.hdr.zxid).collect();
        report
    }

    /// Load the newest snapshot, read every whole, checksum-valid record after it, and cut
    /// the log after the last one.
    ///
    /// # Panics
    /// If a record with a valid checksum does not decode, a snapshot does not load, or the
    /// log does not continue the snapshot: those are bugs, not crash effects.
    pub fn recover(&mut self) -> Recovery {
        assert!(self.unsynced.is_empty(), "recover on a running disk");
        let (all, good) = parse(&self.durable);
        let truncated_bytes = self.durable.len() - good;
        self.durable.truncate(good);
        let image = self
            .snapshots
            .last()
            .map(|b| snapshot::read(b).unwrap_or_else(|e| panic!("snapshot does not load: {e}")));
        let base = image.as_ref().map_or(Zxid::ZERO, Image::zxid);
        let entries: Vec<LogEntry> = all.into_iter().filter(|e| e.hdr.zxid > base).collect();
        if let Some(first) = entries.first() {
            assert!(
                first.hdr.zxid.0 == base.0 + 1 || first.hdr.zxid.epoch() > base.epoch(),
                "log resumes at {} after snapshot {base}",
                first.hdr.zxid
            );
        }
        Recovery {
            image,
            entries,
            truncated_bytes,
            epochs: self.epochs,
        }
    }

    /// Write a snapshot as of `zxid` (durable in the log) built from the previous snapshot
    /// and the log, then purge log records older than the oldest snapshot kept. Returns the
    /// snapshot's size.
    ///
    /// `lossy` plants a bug (tests and `--plant` only): the newest data txn (create,
    /// delete, setData, multi...) the snapshot covers is applied as a no-op, so the
    /// snapshot claims `zxid` but lacks that txn's effect.
    pub fn snapshot(&mut self, zxid: Zxid, lossy: bool) -> Result<usize, String> {
        let mut image = match self.snapshots.last() {
            Some(b) => snapshot::read(b).map_err(|e| e.to_string())?,
            None => Image::new(),
        };
        if image.zxid() >= zxid {
            return Err(format!(
                "snapshot {} is not older than {zxid}",
                image.zxid()
            ));
        }
        let from = image.zxid();
        let covered: Vec<LogEntry> = parse(&self.durable)
            .0
            .into_iter()
            .filter(|e| e.hdr.zxid > from && e.hdr.zxid <= zxid)
            .collect();
        let dropped = if lossy {
            covered.iter().rposition(|e| changes_tree(&e.txn))
        } else {
            None
        };
        for (i, e) in covered.iter().enumerate() {
            if Some(i) == dropped {
                let mut noop = e.clone();
                noop.txn = Txn::Error {
                    err: corral_core::error::ErrorCode::SystemError,
                };
                image.apply(&noop);
            } else {
                image.apply(e);
            }
        }
        if image.zxid() != zxid {
            return Err(format!(
                "the durable log ends at {} before {zxid}",
                image.zxid()
            ));
        }
        let bytes = snapshot::to_bytes(&image);
        let size = bytes.len();
        self.snapshots.push(bytes);
        self.snapshot_zxids.push(zxid);
        if self.snapshots.len() > SNAPSHOTS_KEPT {
            self.snapshots.remove(0);
            self.snapshot_zxids.remove(0);
        }
        let oldest = snapshot::read_header(&self.snapshots[0])
            .map_err(|e| e.to_string())?
            .zxid;
        self.purge_through(oldest);
        Ok(size)
    }

    /// Merge `delta` (the changed nodes' live states a server handed out with a snapshot
    /// request) into the snapshot it is against, the way the real snapshot thread does,
    /// and compare with this disk's newest snapshot, just built from the log the full way
    /// (call right after [`snapshot`](Self::snapshot)). `Ok(false)`: the base snapshot is
    /// not on this disk (the real thread would build the full way too). `Err`: the merge
    /// failed or differs, a bug in the server's change tracking.
    pub fn check_delta(&self, delta: &snapshot::Delta) -> Result<bool, String> {
        let fresh;
        let base = if delta.base == Zxid::ZERO {
            fresh = snapshot::to_bytes(&Image::new());
            &fresh
        } else {
            match self.snapshot_zxids.iter().position(|z| *z == delta.base) {
                Some(i) => &self.snapshots[i],
                None => return Ok(false),
            }
        };
        let full = self.snapshots.last().ok_or("no snapshot was built")?;
        let mut merged = Vec::new();
        snapshot::merge(base, delta, &mut merged)
            .map_err(|e| format!("delta against {} does not merge: {e}", delta.base))?;
        // Copied blocks keep the base's block boundaries: compare what the files hold.
        let loaded = snapshot::read(&merged)
            .map_err(|e| format!("delta against {} merges to a bad snapshot: {e}", delta.base))?;
        if snapshot::to_bytes(&loaded) != *full {
            return Err(format!(
                "delta against {} merges to {} bytes that differ from the snapshot built from \
                 the log ({} bytes)",
                delta.base,
                merged.len(),
                full.len()
            ));
        }
        Ok(true)
    }

    /// Move durable records with zxids up to `zxid` to the archive.
    fn purge_through(&mut self, zxid: Zxid) {
        let mut at = 0;
        while at + HEADER_LEN <= self.durable.len() {
            let len =
                u32::from_be_bytes(self.durable[at..at + 4].try_into().expect("4 bytes")) as usize;
            let Some(payload) = self.durable.get(at + HEADER_LEN..at + HEADER_LEN + len) else {
                break;
            };
            let Ok(entry) = LogEntry::from_bytes(payload) else {
                break;
            };
            if entry.hdr.zxid > zxid {
                break;
            }
            self.archived.push(entry);
            at += HEADER_LEN + len;
        }
        self.durable.drain(..at);
        self.purged_bytes += at;
        let purged = self
            .durable_zxids
            .iter()
            .take_while(|z| **z <= zxid)
            .count();
        self.durable_zxids.drain(..purged);
    }

    /// Number of snapshots on the disk.
    pub fn snapshot_count(&self) -> usize {
        self.snapshots.len()
    }

    /// The newest snapshot's zxid, if any.
    pub fn snapshot_zxid(&self) -> Option<Zxid> {
        self.snapshot_zxids.last().copied()
    }

    /// Like [`durable_entries`](Self::durable_entries), with the unsynced tail too: the
    /// history a running server has written (for the provenance of the snapshots it sends:
    /// a leader may apply an entry a quorum made durable before its own fsync completes).
    pub fn written_entries(&self) -> Vec<LogEntry> {
        let mut all = self.durable_entries();
        all.extend(parse(&self.unsynced).0);
        all
    }

    /// This disk's whole durable history (archive, then the durable log), without changing
    /// the disk: for a standalone server every entry ever made durable, for an ensemble
    /// member the history it would recover, back to the first zxid.
    pub fn durable_entries(&self) -> Vec<LogEntry> {
        let mut all = self.archived.clone();
        all.extend(parse(&self.durable).0);
        all
    }
}

/// True for txns that change nodes (not sessions, failures or checks).
fn changes_tree(txn: &Txn) -> bool {
    match txn {
        Txn::Create { .. }
        | Txn::Delete { .. }
        | Txn::DeleteContainer { .. }
        | Txn::SetData { .. }
        | Txn::SetAcl { .. } => true,
        Txn::Multi(subs) => subs.iter().any(changes_tree),
        Txn::Check { .. }
        | Txn::CreateSession { .. }
        | Txn::CloseSession { .. }
        | Txn::Error { .. } => false,
    }
}

/// Whole valid records of `bytes`, and the offset after the last one.
fn parse(bytes: &[u8]) -> (Vec<LogEntry>, usize) {
    let mut entries = Vec::new();
    let mut at = 0;
    while at + HEADER_LEN <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let sum = u32::from_be_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        let Some(payload) = bytes.get(at + HEADER_LEN..at + HEADER_LEN + len) else {
            break;
        };
        if checksum(payload) != sum {
            break;
        }
        let entry = LogEntry::from_bytes(payload)
            .unwrap_or_else(|e| panic!("log record at offset {at} does not decode: {e:?}"));
        entries.push(entry);
        at += HEADER_LEN + len;
    }
    (entries, at)
}

/// The disks of every host, shared by the hosts and the fault controller.
#[derive(Clone, Debug, Default)]
pub struct DiskSet(Rc<RefCell<BTreeMap<String, Disk>>>);

impl DiskSet {
    /// Run `f` on the disk of `host` (created empty on first use).
    pub fn with<R>(&self, host: &str, f: impl FnOnce(&mut Disk) -> R) -> R {
        let mut disks = self.0.borrow_mut();
        f(disks.entry(host.to_owned()).or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_core::txn::{Txn, TxnHeader};
    use corral_core::types::{SessionId, Zxid};

    fn entry(z: i64) -> LogEntry {
        LogEntry {
            hdr: TxnHeader {
                session: SessionId(7),
                cxid: z as i32,
                zxid: Zxid(z),
                time: 1000 + z,
                op: -11,
            },
            txn: Txn::CloseSession {
                ephemerals: vec![format!("/e{z}")],
            },
        }
    }

    #[test]
    fn crash_keeps_synced_and_drops_unsynced() {
        let mut d = Disk::default();
        d.append(&entry(1));
        d.append(&entry(2));
        let mark = d.written();
        d.append(&entry(3));
        d.sync_to(mark);
        let r = d.crash(&mut Rng::new(1), false);
        assert!(r.lost_bytes > 0 && r.kept_bytes == 0 && !r.torn);
        let rec = d.recover();
        assert_eq!(rec.entries, vec![entry(1), entry(2)]);
        assert_eq!(rec.truncated_bytes, 0);
    }

    #[test]
    fn torn_tails_are_cut_at_the_last_whole_record() {
        let mut saw_torn = false;
        let mut saw_garbage = false;
        for seed in 0..200 {
            let mut d = Disk::default();
            d.append(&entry(1));
            d.sync_to(d.written());
            for z in 2..5 {
                d.append(&entry(z));
            }
            let r = d.crash(&mut Rng::new(seed), true);
            saw_torn |= r.torn;
            saw_garbage |= r.garbage_bytes > 0;
            let rec = d.recover();
            // A prefix of the written entries, never less than the synced one.
            assert!(!rec.entries.is_empty() && rec.entries.len() <= 4);
            for (i, e) in rec.entries.iter().enumerate() {
                assert_eq!(*e, entry(i as i64 + 1));
            }
            assert_eq!(rec.truncated_bytes > 0, r.torn);
            // Recovery is idempotent and the log can grow again.
            assert_eq!(d.recover().truncated_bytes, 0);
            d.append(&entry(9));
            d.sync_to(d.written());
            assert_eq!(d.durable_entries().last(), Some(&entry(9)));
        }
        assert!(saw_torn && saw_garbage);
    }

    fn set_data(z: i64, data: &str) -> LogEntry {
        let txn = if z == 1 {
            Txn::Create {
                path: "/x".to_owned(),
                data: Some(data.into()),
                acl: Vec::new(),
                kind: corral_core::txn::CreateKind::Persistent,
                parent_cversion: 1,
            }
        } else {
            Txn::SetData {
                path: "/x".to_owned(),
                data: Some(data.into()),
                version: z as i32 - 1,
            }
        };
        LogEntry {
            hdr: TxnHeader {
                session: SessionId(7),
                cxid: z as i32,
                zxid: Zxid(z),
                time: 1000 + z,
                op: txn.op(),
            },
            txn,
        }
    }

    #[test]
    fn a_lossy_snapshot_claims_its_zxid_but_lacks_the_last_data_txn() {
        for lossy in [false, true] {
            let mut d = Disk::default();
            d.append(&set_data(1, "a"));
            d.append(&set_data(2, "b"));
            d.append(&entry(3));
            d.append(&set_data(4, "c"));
            d.sync_to(d.written());
            d.snapshot(Zxid(3), lossy).unwrap();
            let rec = d.recover();
            let image = rec.image.expect("a snapshot");
            assert_eq!(image.zxid(), Zxid(3));
            let data = image.tree.node("/x").and_then(|n| n.data);
            // zxid 3 closes a session: the newest data txn is the setData at 2.
            let want: &[u8] = if lossy { b"a" } else { b"b" };
            assert_eq!(data, Some(want), "lossy {lossy}");
            assert_eq!(rec.entries, vec![set_data(4, "c")]);
        }
    }

    #[test]
    fn durably_holds_follows_syncs_crashes_and_purges() {
        let mut d = Disk::default();
        for z in 1..=4 {
            d.append(&entry(z));
        }
        assert!(d.durably_holds(Zxid::ZERO));
        assert!(!d.durably_holds(Zxid(1)), "written, not synced");
        let mark = d.written();
        d.append(&entry(5));
        d.sync_to(mark);
        assert!(d.durably_holds(Zxid(4)) && !d.durably_holds(Zxid(5)));
        assert_eq!(d.durable_tail(), Zxid(4));
        d.crash(&mut Rng::new(1), false);
        assert!(!d.durably_holds(Zxid(5)));
        d.recover();
        for z in 5..=8 {
            d.append(&entry(z));
        }
        d.sync_to(d.written());
        d.snapshot(Zxid(3), false).unwrap();
        d.snapshot(Zxid(6), false).unwrap();
        // Records through 3 are purged; the snapshot at 6 covers them.
        assert!(d.durably_holds(Zxid(2)) && d.durably_holds(Zxid(8)));
        assert!(!d.durably_holds(Zxid(9)));
        assert_eq!(d.durable_tail(), Zxid(8));
    }

    #[test]
    fn truncate_removes_the_tail_and_refuses_what_it_cannot_do() {
        let mut d = Disk::default();
        for z in 1..=6 {
            d.append(&entry(z));
        }
        d.append(&entry(7));
        assert!(d.truncate_after(Zxid(4)).is_err(), "unsynced bytes");
        d.sync_to(d.written());
        assert_eq!(d.truncate_after(Zxid(4)), Ok(3));
        assert!(!d.durably_holds(Zxid(5)));
        d.append(&entry(5));
        d.sync_to(d.written());
        d.crash(&mut Rng::new(2), true);
        let rec = d.recover();
        let zxids: Vec<i64> = rec.entries.iter().map(|e| e.hdr.zxid.0).collect();
        assert_eq!(zxids, vec![1, 2, 3, 4, 5]);
        d.snapshot(Zxid(3), false).unwrap();
        assert!(d.truncate_after(Zxid(2)).is_err(), "below the snapshot");
        assert_eq!(d.truncate_after(Zxid(3)), Ok(2));
    }

    #[test]
    fn an_installed_snapshot_replaces_log_and_snapshots_and_carries_its_provenance() {
        let mut leader = Disk::default();
        for z in 1..=5 {
            leader.append(&entry(z));
        }
        leader.sync_to(leader.written());
        leader.snapshot(Zxid(5), false).unwrap();
        let bytes = leader.snapshots.last().cloned().unwrap();
        let mut d = Disk::default();
        for z in [1, 2, 3] {
            d.append(&entry(z));
        }
        d.append(&entry(99));
        assert!(
            d.install_snapshot(Zxid(5), bytes.clone(), Vec::new())
                .is_err(),
            "unsynced bytes"
        );
        d.sync_to(d.written());
        assert!(d
            .install_snapshot(Zxid(4), bytes.clone(), Vec::new())
            .is_err());
        let provenance = leader.durable_entries();
        d.install_snapshot(Zxid(5), bytes, provenance.clone())
            .unwrap();
        assert_eq!(d.snapshot_zxid(), Some(Zxid(5)));
        assert_eq!(d.durable_entries(), provenance);
        d.append(&entry(6));
        d.sync_to(d.written());
        let rec = d.recover();
        assert_eq!(rec.image.map(|i| i.zxid()), Some(Zxid(5)));
        assert_eq!(rec.entries, vec![entry(6)]);
    }

    #[test]
    fn epochs_are_durable_at_once_and_never_go_back() {
        use corral_core::server::AcceptedEpoch;
        use corral_core::types::{Epoch, ServerId};
        let mut d = Disk::default();
        let a = |e: u32| AcceptedEpoch {
            epoch: Epoch(e),
            leader: Some(ServerId(2)),
        };
        d.save_epochs(Some(a(3)), None).unwrap();
        d.save_epochs(None, Some(Epoch(3))).unwrap();
        assert!(d.save_epochs(Some(a(2)), None).is_err());
        assert!(d.save_epochs(None, Some(Epoch(1))).is_err());
        d.crash(&mut Rng::new(3), true);
        let rec = d.recover();
        assert_eq!(rec.epochs.accepted, a(3));
        assert_eq!(rec.epochs.current, Epoch(3));
    }

    #[test]
    fn an_fsync_started_before_a_purge_covers_exactly_what_it_covered() {
        let mut d = Disk::default();
        for z in 1..=6 {
            d.append(&entry(z));
        }
        d.sync_to(d.written());
        d.append(&entry(7));
        let fsync_covers = d.written(); // an fsync starts here
        d.snapshot(Zxid(5), false).unwrap(); // purges nothing yet (one snapshot)
        d.snapshot(Zxid(6), false).unwrap(); // purges records through 5
        d.append(&entry(8)); // written after the fsync started
        d.sync_to(fsync_covers);
        d.crash(&mut Rng::new(3), false);
        let rec = d.recover();
        assert_eq!(rec.entries, vec![entry(7)], "entry 8 was never synced");
    }

    #[test]
    fn snapshots_purge_the_log_and_recovery_starts_from_them() {
        let mut d = Disk::default();
        for z in 1..=10 {
            d.append(&entry(z));
        }
        d.sync_to(d.written());
        d.snapshot(Zxid(4), false).unwrap();
        d.snapshot(Zxid(7), false).unwrap();
        assert!(
            d.snapshot(Zxid(7), false).is_err(),
            "no snapshot twice at one zxid"
        );
        assert!(d.snapshot(Zxid(11), false).is_err(), "only durable zxids");
        d.snapshot(Zxid(9), false).unwrap();
        assert_eq!(d.snapshot_count(), 2);
        // Records through 7 (the oldest kept snapshot) are purged but still archived.
        assert_eq!(parse(&d.durable).0.first(), Some(&entry(8)));
        assert_eq!(d.durable_entries().len(), 10);
        let rec = d.recover();
        assert_eq!(rec.image.as_ref().map(Image::zxid), Some(Zxid(9)));
        assert_eq!(rec.entries, vec![entry(10)]);
    }
}
