//! Start-up: lock the directories, load the newest valid snapshot, replay the log after it,
//! and leave a writer positioned to continue the log.
//!
//! Rules (docs/storage.md): an install of a leader's snapshot that committed but did not
//! finish is finished first (`install`); the log must continue the snapshot without a gap;
//! a log that ends before the snapshot means segments were lost (fatal); a torn log tail is
//! truncated by `log::recover` with a warning; corruption anywhere else is fatal. The epoch
//! files are read too (`epoch`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use corral_core::server::StoredEpochs;
use corral_core::snapshot::Image;
use corral_core::txn::LogEntry;
use corral_core::types::Zxid;

use super::log::{self, LogWriter, DEFAULT_SEGMENT_BYTES};
use super::{epoch, install, snapshot, DataLocks, StorageError};

/// What recovery found and opened.
pub struct Recovered {
    pub locks: DataLocks,
    pub writer: LogWriter,
    /// The snapshot the state started from.
    pub snapshot: Option<PathBuf>,
    pub snapshot_zxid: Zxid,
    /// Log entries applied after the snapshot.
    pub replayed: u64,
    /// The last zxid of the recovered state.
    pub last_zxid: Zxid,
    /// ZAB's durable epochs (zero where a file is missing).
    pub epochs: StoredEpochs,
    /// Torn tails cut, unusable snapshots skipped, interrupted installs finished (each also
    /// logged).
    pub repairs: Vec<String>,
}

/// Recover the state in `data_dir` / `data_log_dir`: `restore` gets the snapshot's image
/// (if any), then `replay` every log entry after it, in order.
pub fn recover(
    data_dir: &Path,
    data_log_dir: &Path,
    force_sync: bool,
    restore: &mut dyn FnMut(Image),
    replay: &mut dyn FnMut(LogEntry),
) -> Result<Recovered, StorageError> {
    let started = Instant::now();
    let locks = DataLocks::acquire(data_dir, data_log_dir)?;
    let snap_dir = snapshot::snap_dir(data_dir);
    let log_dir = log::log_dir(data_log_dir);
    let mut repairs = Vec::new();
    // Before anything else looks at the files: the old state and the new one are only told
    // apart by the install's commit file (see `install`).
    if let Some(z) = install::finish_interrupted(&snap_dir, &log_dir)? {
        repairs.push(format!("finished the interrupted install of snapshot {z}"));
    }
    snapshot::remove_leftovers(&snap_dir)?;
    let epochs = epoch::read_stored(&snap_dir)?;
    let newest = snapshot::load_newest(&snap_dir)?;
    repairs.extend(
        newest
            .failed
            .iter()
            .map(|e| format!("skipped unusable snapshot: {e}")),
    );
    let (snap_path, snap_zxid) = match newest.found {
        Some((path, image)) => {
            let z = image.zxid();
            tracing::info!(
                "loaded snapshot {} (zxid {z}, {} nodes, {} sessions) in {:?}",
                path.display(),
                image.tree.len(),
                image.sessions.len(),
                started.elapsed()
            );
            restore(image);
            (Some(path), z)
        }
        None if !newest.failed.is_empty() => {
            // Starting from an empty tree would silently drop everything the snapshots
            // hold whenever the log no longer reaches back to zxid 1.
            return Err(StorageError::Corrupt {
                path: snap_dir,
                offset: 0,
                reason: format!(
                    "no snapshot is usable ({} damaged; the first: {}); set them aside with                      `corral data repair` if the log is complete from zxid 1",
                    newest.failed.len(),
                    newest.failed[0]
                ),
            });
        }
        None => (None, Zxid::ZERO),
    };
    let mut replayed = 0u64;
    let mut last_applied = snap_zxid;
    let mut rec = log::recover_after(&log_dir, snap_zxid, &mut |zxid, payload| {
        if zxid <= snap_zxid {
            return Ok(());
        }
        log::check_successor(last_applied, zxid).map_err(|e| {
            format!("the log does not continue from zxid {last_applied} (snapshot or previous record): {e}; a log segment is missing")
        })?;
        let entry = LogEntry::from_bytes(payload).map_err(|e| e.to_string())?;
        if entry.hdr.zxid != zxid {
            return Err(format!("entry decodes with zxid {}", entry.hdr.zxid));
        }
        replay(entry);
        replayed += 1;
        last_applied = zxid;
        Ok(())
    })?;
    repairs.append(&mut rec.repairs);
    match rec.last_zxid {
        Some(last) if last < snap_zxid => {
            return Err(StorageError::Corrupt {
                path: log_dir,
                offset: 0,
                reason: format!(
                    "snapshot {} (zxid {snap_zxid}) is newer than the log, which ends at {last}: \
                     log segments are missing (see `corral data repair` in docs/storage.md)",
                    snap_path.as_deref().unwrap_or(Path::new("?")).display()
                ),
            });
        }
        Some(_) => {}
        None => {
            if snap_zxid > Zxid::ZERO {
                // Purge never removes the newest segment, so a snapshot without any log is
                // only legitimate after an import or a repair, which leave a marker. Anything
                // else is a lost or wrong dataLogDir: starting would drop every write after
                // the snapshot.
                let marker = snap_dir.join(snapshot::log_start_marker(snap_zxid));
                if !marker.exists() {
                    return Err(StorageError::Corrupt {
                        path: log_dir,
                        offset: 0,
                        reason: format!(
                            "there is no transaction log, but snapshot {snap_zxid} exists: is                              dataLogDir right? (to start from the snapshot alone, run                              `corral data repair`)"
                        ),
                    });
                }
                tracing::info!("starting from snapshot {snap_zxid}; the log starts after it");
                // The next record must follow the snapshot.
                rec.last_zxid = Some(snap_zxid);
            }
        }
    }
    tracing::info!(
        "recovered to zxid {last_applied}: snapshot {snap_zxid} + {replayed} log entries in \
         {:?}; acceptedEpoch {} (leader {}), currentEpoch {}",
        started.elapsed(),
        epochs.accepted.epoch.0,
        epochs
            .accepted
            .leader
            .map_or("not recorded".to_owned(), |l| l.to_string()),
        epochs.current.0
    );
    let writer = LogWriter::open(&log_dir, &rec, DEFAULT_SEGMENT_BYTES, force_sync)?;
    Ok(Recovered {
        locks,
        writer,
        snapshot: snap_path,
        snapshot_zxid: snap_zxid,
        replayed,
        last_zxid: last_applied,
        epochs,
        repairs,
    })
}
