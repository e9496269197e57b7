//! Removing the log's records after a zxid (a TRUNC from the leader: an uncommitted tail
//! of an old epoch).
//!
//! A truncation is planned first (reading only), then carried out: whole segments after the
//! cut are removed newest first, each removal made durable (directory fsync) before the
//! next, then the segment holding the cut is shortened and fsynced. So a crash at any point
//! leaves a contiguous prefix of the old log that reaches at least the cut, which recovery
//! reads like any other log; never a gap.
//!
//! Rules: the cut must be a record of the log, or the snapshot the log starts after; it may
//! not lie before the newest snapshot (that snapshot holds the entries the truncation would
//! remove, and a snapshot is only ever taken of committed entries, which no leader asks to
//! truncate). If nothing is left, the caller writes a `log-starts-after` marker for the
//! newest snapshot first, so that recovery accepts the empty log.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use corral_core::types::Zxid;

use super::{
    check_header, payload_zxid, segments, sync_dir, truncate, valid_record_at, LogWriter,
    OpenSegment, HEADER_LEN,
};
use crate::storage::StorageError;

/// What a truncation will do, computed without changing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruncatePlan {
    /// Records after this zxid go.
    pub after: Zxid,
    /// Segments removed whole, newest first.
    pub remove: Vec<PathBuf>,
    /// The segment shortened, and its new length.
    pub cut: Option<(PathBuf, u64)>,
    /// No record is left afterwards.
    pub empties: bool,
}

impl TruncatePlan {
    /// Whether the plan changes nothing.
    pub fn is_noop(&self) -> bool {
        self.remove.is_empty() && self.cut.is_none()
    }
}

impl LogWriter {
    /// Plan removing every record after `after`, given the newest snapshot's zxid `floor`
    /// (`Zxid::ZERO` without snapshots). Writes out anything queued first.
    pub fn plan_truncate(
        &mut self,
        after: Zxid,
        floor: Zxid,
    ) -> Result<TruncatePlan, StorageError> {
        self.commit()?;
        let last = self.last_zxid.unwrap_or(Zxid::ZERO);
        let refuse = |reason: String| StorageError::Refused {
            path: self.dir.clone(),
            reason,
        };
        if after > last {
            return Err(refuse(format!(
                "truncate the log after {after}: it ends at {last}"
            )));
        }
        if after < floor {
            return Err(refuse(format!(
                "truncate the log after {after}: snapshot {floor} holds entries up to {floor}, \
                 and a snapshot must only hold committed entries"
            )));
        }
        let mut plan = TruncatePlan {
            after,
            remove: Vec::new(),
            cut: None,
            empties: false,
        };
        if after == last {
            return Ok(plan);
        }
        let mut kept_last = None;
        for (name, path) in segments(&self.dir)?.into_iter().rev() {
            if name > after {
                plan.remove.push(path);
                continue;
            }
            let (end, last_kept) = end_of_records_upto(&path, name, after)?;
            kept_last = Some(last_kept);
            let len = std::fs::metadata(&path)
                .map_err(StorageError::io("stat", &path))?
                .len();
            if end < len {
                plan.cut = Some((path, end));
            }
            break;
        }
        match kept_last {
            Some(k) if k == after => {}
            // The log starts after the snapshot `after` is: everything goes.
            None if after == floor => plan.empties = true,
            Some(k) if k < floor => {
                return Err(refuse(format!(
                    "truncate the log after {after}: the log does not reach snapshot {floor} \
                     (its last record at or before {after} is {k})"
                )))
            }
            other => {
                let before = other.map_or("none".to_owned(), |k| k.to_string());
                return Err(refuse(format!(
                    "truncate the log after {after}: no record has that zxid (the last one \
                     before it is {before}) and it is not the snapshot the log starts after"
                )));
            }
        }
        Ok(plan)
    }

    /// Carry out `plan` (from [`plan_truncate`](Self::plan_truncate), with nothing appended
    /// since) durably, and continue the log after `plan.after`.
    pub fn apply_truncate(&mut self, plan: &TruncatePlan) -> Result<(), StorageError> {
        if !self.pending.is_empty() {
            return Err(StorageError::BadEntry(
                "records queued between planning a truncation and carrying it out".into(),
            ));
        }
        if plan.is_noop() {
            return Ok(());
        }
        // The open segment may be shortened or removed: reopen the tail afterwards.
        self.segment = None;
        for path in &plan.remove {
            std::fs::remove_file(path).map_err(StorageError::io("remove", path))?;
            // One at a time: a crash must never leave a later segment without an earlier one.
            sync_dir(&self.dir)?;
        }
        if let Some((path, len)) = &plan.cut {
            truncate(path, *len)?;
        }
        if let Some((_, path)) = segments(&self.dir)?.pop() {
            let file = OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(StorageError::io("open", &path))?;
            let len = file
                .metadata()
                .map_err(StorageError::io("stat", &path))?
                .len();
            self.segment = Some(OpenSegment { file, path, len });
        }
        self.last_zxid = (plan.after > Zxid::ZERO).then_some(plan.after);
        tracing::info!(
            "truncated the log after {} ({} segments removed{})",
            plan.after,
            plan.remove.len(),
            plan.cut.as_ref().map_or(String::new(), |(p, l)| format!(
                ", {} cut at {l}",
                p.display()
            ))
        );
        Ok(())
    }
}

/// In the segment `path` named `name` (<= `after`), the byte offset just past the last
/// record at or before `after`, and that record's zxid.
fn end_of_records_upto(path: &Path, name: Zxid, after: Zxid) -> Result<(u64, Zxid), StorageError> {
    let bytes = std::fs::read(path).map_err(StorageError::io("read", path))?;
    let corrupt = |offset: usize, reason: String| StorageError::Corrupt {
        path: path.to_owned(),
        offset: offset as u64,
        reason,
    };
    check_header(&bytes, name).map_err(|b| corrupt(b.offset, b.reason))?;
    let (mut pos, mut end, mut last) = (HEADER_LEN, None, None);
    while pos < bytes.len() {
        let range = valid_record_at(&bytes, pos).map_err(|r| corrupt(pos, r))?;
        let zxid =
            payload_zxid(&bytes[range.clone()]).ok_or_else(|| corrupt(pos, "no zxid".into()))?;
        if zxid > after {
            break;
        }
        (end, last) = (Some(range.end), Some(zxid));
        pos = range.end;
    }
    match (end, last) {
        (Some(end), Some(last)) => Ok((end as u64, last)),
        _ => Err(corrupt(
            HEADER_LEN,
            format!("segment named {name} has no record at or before {after}"),
        )),
    }
}

#[cfg(test)]
mod tests;
