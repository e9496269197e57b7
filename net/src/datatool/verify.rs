//! `corral data verify`: check every checksum, and the digest chain: replaying the log from
//! the oldest valid snapshot must reach each newer snapshot's recorded digest.

use std::io::Write;

use corral_core::snapshot::Image;
use corral_core::txn::LogEntry;

use super::Dirs;
use crate::storage::{log, snapshot as snapfile, StorageError};

/// What verification found; `problems` empty means the directory is sound.
#[derive(Debug, Default)]
pub struct Verdict {
    pub snapshots: usize,
    pub records: u64,
    /// Snapshots whose digest was checked against a replay.
    pub chain_checks: usize,
    pub problems: Vec<String>,
    /// Things recovery would repair by itself (a torn tail).
    pub notes: Vec<String>,
}

/// Check `dirs`, printing progress to `out`.
pub fn verify(dirs: &Dirs, out: &mut dyn Write) -> Result<Verdict, StorageError> {
    let mut v = Verdict::default();
    let snap_dir = snapfile::snap_dir(&dirs.data);
    // Headers of every loadable snapshot; the oldest one's image starts the chain.
    let mut images = Vec::new();
    let mut base: Option<Image> = None;
    for (_, path) in snapfile::list(&snap_dir)? {
        v.snapshots += 1;
        match snapfile::load(&path) {
            Ok(image) => {
                let _ = writeln!(
                    out,
                    "ok   {} (zxid {}, {} nodes, digest {:016x})",
                    path.display(),
                    image.zxid(),
                    image.tree.len(),
                    image.tree.digest()
                );
                images.push((path, image.header()));
                if base.is_none() {
                    base = Some(image);
                }
            }
            Err(e) => {
                let _ = writeln!(out, "BAD  {e}");
                v.problems.push(e.to_string());
            }
        }
    }
    let log_dir = log::log_dir(&dirs.log);
    let mut image = base.unwrap_or_default();
    let start = image.zxid();
    let mut next = images.iter().filter(|(_, h)| h.zxid > start).peekable();
    let mut chain_problems = Vec::new();
    let mut chain_checks = 0;
    let res = log::scan_read_only(&log_dir, &mut |zxid, payload| {
        let entry = LogEntry::from_bytes(payload).map_err(|e| e.to_string())?;
        if zxid > image.zxid() {
            log::check_successor(image.zxid(), zxid)
                .map_err(|e| format!("log does not continue zxid {}: {e}", image.zxid()))?;
            image.apply(&entry);
        }
        while let Some((path, h)) = next.peek() {
            if h.zxid > image.zxid() {
                break;
            }
            chain_checks += 1;
            if h.zxid != image.zxid() || h.digest != image.tree.digest() {
                chain_problems.push(format!(
                    "{}: digest {:016x} at zxid {}, but replaying the log gives {:016x} at {}",
                    path.display(),
                    h.digest,
                    h.zxid,
                    image.tree.digest(),
                    image.zxid()
                ));
            }
            next.next();
        }
        Ok(())
    });
    match res {
        Ok(rec) => {
            v.records = rec.records;
            v.notes.extend(rec.repairs);
            if let Some((path, h)) = next.next() {
                if rec.last_zxid.is_some() {
                    chain_problems.push(format!(
                        "{} (zxid {}) is newer than the log, which ends at {}",
                        path.display(),
                        h.zxid,
                        image.zxid()
                    ));
                }
            }
        }
        Err(e) => v.problems.push(e.to_string()),
    }
    v.chain_checks = chain_checks;
    v.problems.extend(chain_problems);
    if v.snapshots == 0 && v.records == 0 && v.problems.is_empty() {
        v.problems.push(format!(
            "no Corral data in {} / {}",
            snap_dir.display(),
            log_dir.display()
        ));
    }
    let _ = writeln!(
        out,
        "{} snapshots, {} log records, {} digest checks, {} problems",
        v.snapshots,
        v.records,
        v.chain_checks,
        v.problems.len()
    );
    for n in &v.notes {
        let _ = writeln!(out, "note: recovery would repair: {n}");
    }
    for p in &v.problems {
        let _ = writeln!(out, "PROBLEM: {p}");
    }
    Ok(v)
}
