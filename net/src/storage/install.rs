//! Installing a snapshot received from a leader (SNAP) as the whole stored state: the new
//! snapshot, with an empty log after it; every older snapshot and log segment goes.
//!
//! # Crash safety
//!
//! After a crash at any point, recovery must find either the complete old state or the
//! complete new one. The install has a single commit point, the creation of the file
//! `installing.<hex zxid>` in the snapshot directory:
//!
//! 1. write the snapshot to `snapshot.<hex>.install.tmp`, fsync it, fsync the directory;
//! 2. **commit**: create `installing.<hex>`, fsync the directory;
//! 3. rename the temp file to `snapshot.<hex>` (replacing an old snapshot of that name);
//! 4. write the marker `log-starts-after.<hex>` (recovery then accepts the empty log);
//! 5. remove every other snapshot and marker, then every log segment, fsyncing each
//!    directory after its removals;
//! 6. remove `installing.<hex>`, fsync the directory.
//!
//! Before step 2 nothing of the old state was touched; recovery removes the temp file as it
//! removes any unfinished snapshot, and finds the old state. From step 2 on, recovery sees
//! `installing.<hex>` first thing and redoes steps 3-6 ([`finish_interrupted`]): each is
//! idempotent, and which `snapshot.<hex>` is the new one is plain (if the temp file is
//! still there, the rename has not happened). Step 6 is durable before the install is
//! reported done, so no segment written after an install can ever be taken for an old
//! one. The log is never touched before the commit, and an old snapshot is never removed
//! before the commit either, so the two states cannot mix.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use corral_core::types::Zxid;

use super::snapshot::{self, sync_dir};
use super::{log, StorageError};

const COMMIT_PREFIX: &str = "installing.";
const TMP_SUFFIX: &str = ".install.tmp";

/// Name of the commit file of the install of snapshot `zxid`.
pub fn commit_name(zxid: Zxid) -> String {
    format!("{COMMIT_PREFIX}{:x}", zxid.0)
}

/// Name of the temp file the installed snapshot is written to.
pub fn tmp_name(zxid: Zxid) -> String {
    format!("{}{TMP_SUFFIX}", snapshot::snapshot_name(zxid))
}

/// Make `bytes` (a snapshot in the core format, as of `zxid`) the whole stored state: the
/// snapshot in `snap_dir`, no log in `log_dir`. Crash-safe as described above. The caller
/// holds the rewrite gate, and continues its log writer after `zxid`.
pub fn install(
    snap_dir: &Path,
    log_dir: &Path,
    zxid: Zxid,
    bytes: &[u8],
) -> Result<(), StorageError> {
    run(install_steps(snap_dir, log_dir, zxid, bytes, &mut None))
}

/// An install that committed but did not finish, found in `snap_dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupted {
    pub zxid: Zxid,
    /// The commit file.
    pub commit: PathBuf,
    /// The new snapshot: the temp file if the rename did not happen yet, else the snapshot.
    pub snapshot: PathBuf,
}

/// Find an install that committed and did not finish, without changing anything.
pub fn find_interrupted(snap_dir: &Path) -> Result<Option<Interrupted>, StorageError> {
    let rd = match std::fs::read_dir(snap_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io("list", snap_dir)(e)),
    };
    let mut found = Vec::new();
    for entry in rd {
        let entry = entry.map_err(StorageError::io("list", snap_dir))?;
        let name = entry.file_name();
        let Some(hex) = name.to_str().and_then(|n| n.strip_prefix(COMMIT_PREFIX)) else {
            continue;
        };
        let zxid = u64::from_str_radix(hex, 16).map_err(|_| StorageError::Corrupt {
            path: entry.path(),
            offset: 0,
            reason: "not an install commit file name".into(),
        })?;
        found.push((Zxid(zxid as i64), entry.path()));
    }
    let (zxid, commit) = match found.len() {
        0 => return Ok(None),
        1 => found.remove(0),
        n => {
            return Err(StorageError::Corrupt {
                path: snap_dir.to_owned(),
                offset: 0,
                reason: format!(
                    "{n} install commit files ({COMMIT_PREFIX}*); at most one can exist"
                ),
            })
        }
    };
    let tmp = snap_dir.join(tmp_name(zxid));
    let snapshot = if tmp.exists() {
        tmp
    } else {
        snap_dir.join(snapshot::snapshot_name(zxid))
    };
    Ok(Some(Interrupted {
        zxid,
        commit,
        snapshot,
    }))
}

/// At start-up, before anything else reads the directories: finish an install that
/// committed (steps 3-6). Returns its zxid if there was one. The new snapshot is checked
/// (every crc) before anything old is removed: if it is damaged, this fails and leaves
/// the old state in place.
pub fn finish_interrupted(snap_dir: &Path, log_dir: &Path) -> Result<Option<Zxid>, StorageError> {
    run(finish_steps(snap_dir, log_dir, &mut None))
}

/// Why a run stopped: an error, or (tests only) a simulated crash after a number of steps.
enum Stop {
    Error(StorageError),
    Crash,
}

impl From<StorageError> for Stop {
    fn from(e: StorageError) -> Stop {
        Stop::Error(e)
    }
}

fn run<T>(r: Result<T, Stop>) -> Result<T, StorageError> {
    r.map_err(|s| match s {
        Stop::Error(e) => e,
        // Only a step budget stops a run, and the public entry points give none.
        Stop::Crash => StorageError::BadEntry("install stopped without a step budget".into()),
    })
}

/// One durable file-system action. With a budget (tests), stop once it is used up: the
/// directories are then as a crash at that point leaves them.
fn step(budget: &mut Option<usize>) -> Result<(), Stop> {
    match budget {
        Some(0) => Err(Stop::Crash),
        Some(n) => {
            *n -= 1;
            Ok(())
        }
        None => Ok(()),
    }
}

fn install_steps(
    snap_dir: &Path,
    log_dir: &Path,
    zxid: Zxid,
    bytes: &[u8],
    budget: &mut Option<usize>,
) -> Result<(), Stop> {
    let target = snap_dir.join(snapshot::snapshot_name(zxid));
    check_snapshot(&target, bytes, zxid)?;
    if let Some(i) = find_interrupted(snap_dir)? {
        return Err(StorageError::Refused {
            path: i.commit,
            reason: format!("install snapshot {zxid}: an earlier install did not finish"),
        }
        .into());
    }
    std::fs::create_dir_all(snap_dir).map_err(StorageError::io("create directory", snap_dir))?;
    let tmp = snap_dir.join(tmp_name(zxid));
    step(budget)?;
    let written = File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .map_err(StorageError::io("write", &tmp));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.into());
    }
    step(budget)?;
    sync_dir(snap_dir)?;
    // The commit point.
    let commit = snap_dir.join(commit_name(zxid));
    step(budget)?;
    File::create(&commit)
        .and_then(|f| f.sync_all())
        .map_err(StorageError::io("create", &commit))?;
    step(budget)?;
    sync_dir(snap_dir)?;
    roll_forward(snap_dir, log_dir, zxid, &commit, budget)
}

fn finish_steps(
    snap_dir: &Path,
    log_dir: &Path,
    budget: &mut Option<usize>,
) -> Result<Option<Zxid>, Stop> {
    let Some(i) = find_interrupted(snap_dir)? else {
        return Ok(None);
    };
    let bytes = std::fs::read(&i.snapshot).map_err(|e| StorageError::Refused {
        path: i.commit.clone(),
        reason: format!(
            "finish the install of snapshot {}: cannot read {}: {e}",
            i.zxid,
            i.snapshot.display()
        ),
    })?;
    if let Err(e) = check_snapshot(&i.snapshot, &bytes, i.zxid) {
        return Err(StorageError::Refused {
            path: i.commit.clone(),
            reason: format!(
                "finish the install of snapshot {}: the new snapshot is damaged ({e}); the \
                 old snapshots and log are still in place (remove {} to start from them)",
                i.zxid,
                i.commit.display()
            ),
        }
        .into());
    }
    tracing::warn!(
        "finishing the install of snapshot {} interrupted by a crash",
        i.zxid
    );
    roll_forward(snap_dir, log_dir, i.zxid, &i.commit, budget)?;
    Ok(Some(i.zxid))
}

/// Steps 3-6, each idempotent.
fn roll_forward(
    snap_dir: &Path,
    log_dir: &Path,
    zxid: Zxid,
    commit: &Path,
    budget: &mut Option<usize>,
) -> Result<(), Stop> {
    let tmp = snap_dir.join(tmp_name(zxid));
    let target = snap_dir.join(snapshot::snapshot_name(zxid));
    if tmp.exists() {
        step(budget)?;
        std::fs::rename(&tmp, &target).map_err(StorageError::io("rename", &tmp))?;
        step(budget)?;
        sync_dir(snap_dir)?;
    }
    step(budget)?;
    snapshot::write_log_start_marker(snap_dir, zxid)?;
    let mut removed_snap = false;
    for (z, path) in snapshot::list(snap_dir)?
        .into_iter()
        .chain(snapshot::markers(snap_dir)?)
    {
        if z != zxid {
            step(budget)?;
            std::fs::remove_file(&path).map_err(StorageError::io("remove", &path))?;
            removed_snap = true;
        }
    }
    if removed_snap {
        step(budget)?;
        sync_dir(snap_dir)?;
    }
    let segments = log::segments(log_dir)?;
    for (_, path) in &segments {
        step(budget)?;
        std::fs::remove_file(path).map_err(StorageError::io("remove", path))?;
    }
    if !segments.is_empty() {
        step(budget)?;
        sync_dir(log_dir)?;
    }
    step(budget)?;
    std::fs::remove_file(commit).map_err(StorageError::io("remove", commit))?;
    step(budget)?;
    sync_dir(snap_dir)?;
    tracing::info!("installed snapshot {zxid}; the log starts after it");
    Ok(())
}

/// Every crc of `bytes` checks, and it is the snapshot as of `zxid`.
fn check_snapshot(path: &Path, bytes: &[u8], zxid: Zxid) -> Result<(), StorageError> {
    let header = corral_core::snapshot::visit(bytes, &mut |_| Ok(())).map_err(|e| {
        StorageError::Corrupt {
            path: path.to_owned(),
            offset: e.offset,
            reason: format!("snapshot to install: {}", e.reason),
        }
    })?;
    if header.zxid != zxid {
        return Err(StorageError::Corrupt {
            path: path.to_owned(),
            offset: 8,
            reason: format!(
                "snapshot to install holds zxid {}, expected {zxid}",
                header.zxid
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
