//! `corral data repair`: make a damaged data directory recoverable again, keeping every byte
//! it sets aside in a quarantine directory.
//!
//! What it does (and only with `apply`; otherwise it prints the plan):
//! - unusable snapshots are moved to quarantine (recovery skips them anyway);
//! - a log damaged in the middle, or not continuing the newest snapshot, is cut at the first
//!   bad record: the rest of that segment is saved to quarantine and the segment truncated,
//!   later segments are moved to quarantine;
//! - a log that ends before the newest snapshot (segments lost) is moved to quarantine
//!   whole, so the server starts from the snapshot alone;
//! - an install of a leader's snapshot that committed but did not finish is finished first,
//!   exactly as the server's start-up would (then the rest is planned on the result).
//!
//! Everything after the cut is lost to the server. In an ensemble a repaired server catches
//! up from the leader; a standalone server loses those txns. docs/storage.md says when to
//! use it.

use std::io::Write;
use std::path::{Path, PathBuf};

use corral_core::types::Zxid;

use super::Dirs;
use crate::storage::{install, log, snapshot as snapfile, DataLocks, StorageError};

/// One planned change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Quarantine(PathBuf),
    /// Record that the log starts after this snapshot zxid (the whole log was set aside).
    LogStartsAfter(Zxid),
    /// Save the bytes from `offset` on to quarantine, then truncate the file there.
    Cut {
        file: PathBuf,
        offset: u64,
    },
    /// Finish the interrupted install of this snapshot (done before planning the rest).
    FinishInstall(Zxid),
}

/// Plan (and with `apply`, carry out) the repair of `dirs`. Returns the steps.
pub fn repair(dirs: &Dirs, apply: bool, out: &mut dyn Write) -> Result<Vec<Step>, StorageError> {
    let _locks = DataLocks::acquire(&dirs.data, &dirs.log)?;
    let snap_dir = snapfile::snap_dir(&dirs.data);
    let log_dir = log::log_dir(&dirs.log);
    let mut steps = Vec::new();
    if let Some(i) = install::find_interrupted(&snap_dir)? {
        let _ = writeln!(
            out,
            "the install of snapshot {} committed but did not finish ({}): finish it, as the \
             server's start would (every other snapshot and log segment goes)",
            i.zxid,
            i.commit.display()
        );
        steps.push(Step::FinishInstall(i.zxid));
        if !apply {
            let _ = writeln!(
                out,
                "dry run: nothing changed; run again with --apply to do this (the rest is \
                 planned after it)"
            );
            return Ok(steps);
        }
        install::finish_interrupted(&snap_dir, &log_dir)?;
        let _ = writeln!(out, "finished the install of snapshot {}", i.zxid);
    }
    let finished = steps.len();
    let mut snap_zxid = Zxid::ZERO;
    for (z, path) in snapfile::list(&snap_dir)?.into_iter().rev() {
        if snap_zxid != Zxid::ZERO {
            break;
        }
        match snapfile::load(&path) {
            Ok(_) => snap_zxid = z,
            Err(e) => {
                let _ = writeln!(out, "unusable snapshot: {e}");
                steps.push(Step::Quarantine(path));
            }
        }
    }
    let mut last = snap_zxid;
    let mut log_last: Option<Zxid> = None;
    // The same view as recovery: segments wholly before the snapshot are never read, so
    // damage there costs nothing now (purge removes them in time) and is left alone.
    let res = log::scan_read_only_after(&log_dir, snap_zxid, &mut |zxid, _| {
        log_last = Some(zxid);
        if zxid <= snap_zxid {
            return Ok(());
        }
        log::check_successor(last, zxid)
            .map_err(|e| format!("does not continue zxid {last}: {e}"))?;
        last = zxid;
        Ok(())
    });
    let segments = log::segments(&log_dir)?;
    match res {
        Err(StorageError::Corrupt {
            path,
            offset,
            reason,
        }) if segments.iter().any(|(_, p)| *p == path) => {
            let _ = writeln!(
                out,
                "log damaged: {} at offset {offset}: {reason}",
                path.display()
            );
            if log_last.is_none_or(|z| z < snap_zxid) {
                whole_log(&segments, snap_zxid, &mut steps);
            } else {
                if offset > log::HEADER_LEN as u64 {
                    steps.push(Step::Cut {
                        file: path.clone(),
                        offset,
                    });
                } else {
                    steps.push(Step::Quarantine(path.clone()));
                }
                let later = segments.iter().skip_while(|(_, p)| *p != path).skip(1);
                steps.extend(later.map(|(_, p)| Step::Quarantine(p.clone())));
            }
        }
        Err(e) => return Err(e),
        Ok(_) => {
            if let Some(end) = log_last.filter(|z| *z < snap_zxid) {
                let _ = writeln!(
                    out,
                    "the log ends at {end}, before the newest snapshot ({snap_zxid})"
                );
                whole_log(&segments, snap_zxid, &mut steps);
            }
        }
    }
    if steps.len() == finished {
        if finished == 0 {
            let _ = writeln!(out, "nothing to repair");
        }
        return Ok(steps);
    }
    let quarantine = dirs.log.join(format!("quarantine-{}", unix_secs()));
    for s in &steps {
        let _ = match s {
            Step::Quarantine(p) => {
                writeln!(out, "move {} to {}", p.display(), quarantine.display())
            }
            Step::Cut { file, offset } => writeln!(
                out,
                "cut {} at offset {offset} (the rest saved to {})",
                file.display(),
                quarantine.display()
            ),
            Step::LogStartsAfter(z) => writeln!(out, "start the log afresh after snapshot {z}"),
            Step::FinishInstall(_) => Ok(()),
        };
    }
    if !apply {
        let _ = writeln!(
            out,
            "dry run: nothing changed; run again with --apply to do this"
        );
        return Ok(steps);
    }
    std::fs::create_dir_all(&quarantine)
        .map_err(StorageError::io("create directory", &quarantine))?;
    for s in &steps {
        match s {
            Step::Quarantine(p) => {
                let to = quarantine.join(p.file_name().unwrap_or_default());
                std::fs::rename(p, &to).map_err(StorageError::io("move", p))?;
            }
            Step::Cut { file, offset } => cut(file, *offset, &quarantine)?,
            Step::LogStartsAfter(z) => snapfile::write_log_start_marker(&snap_dir, *z)?,
            // Already done, before planning.
            Step::FinishInstall(_) => {}
        }
    }
    for d in [&snap_dir, &log_dir, &quarantine] {
        std::fs::File::open(d)
            .and_then(|f| f.sync_all())
            .map_err(StorageError::io("fsync directory", d))?;
    }
    let _ = writeln!(
        out,
        "done; the set-aside data is in {}",
        quarantine.display()
    );
    Ok(steps)
}

fn whole_log(segments: &[(Zxid, PathBuf)], snap_zxid: Zxid, steps: &mut Vec<Step>) {
    steps.extend(segments.iter().map(|(_, p)| Step::Quarantine(p.clone())));
    steps.push(Step::LogStartsAfter(snap_zxid));
}

fn cut(file: &Path, offset: u64, quarantine: &Path) -> Result<(), StorageError> {
    let bytes = std::fs::read(file).map_err(StorageError::io("read", file))?;
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    let saved = quarantine.join(format!("{name}.from-{offset}"));
    let tail = bytes.get(offset as usize..).unwrap_or_default();
    std::fs::write(&saved, tail).map_err(StorageError::io("write", &saved))?;
    std::fs::File::open(&saved)
        .and_then(|f| f.sync_all())
        .map_err(StorageError::io("fsync", &saved))?;
    // The saved copy's directory entry must be durable before the original is cut.
    std::fs::File::open(quarantine)
        .and_then(|f| f.sync_all())
        .map_err(StorageError::io("fsync directory", quarantine))?;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(file)
        .map_err(StorageError::io("open", file))?;
    f.set_len(offset)
        .map_err(StorageError::io("truncate", file))?;
    f.sync_all().map_err(StorageError::io("fsync", file))
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
