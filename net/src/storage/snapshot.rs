//! Snapshot files: writing them atomically, finding the newest valid one, building a new
//! one from the previous snapshot plus the log, and purging old files.
//!
//! Snapshots live in `<dataDir>/version-2/snapshot.<hex zxid>` (ZooKeeper's naming), in the
//! format of `corral_core::snapshot`. A snapshot is written to `snapshot.<hex>.tmp`,
//! fsynced, renamed into place and the directory fsynced, so a crash leaves either no
//! snapshot or a complete one (plus, at worst, a `.tmp` file removed at the next start).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use corral_core::snapshot::{self, Delta, Image, MergeError};
use corral_core::txn::LogEntry;
use corral_core::types::Zxid;

use super::log;
use super::StorageError;

/// Subdirectory of dataDir holding the snapshots (ZooKeeper's layout).
pub const SNAP_SUBDIR: &str = "version-2";
const PREFIX: &str = "snapshot.";
const TMP_SUFFIX: &str = ".tmp";

/// The directory holding the snapshots for `data_dir`.
pub fn snap_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(SNAP_SUBDIR)
}

/// File name of the snapshot as of `zxid`.
pub fn snapshot_name(zxid: Zxid) -> String {
    format!("{PREFIX}{:x}", zxid.0)
}

/// The snapshots under `dir`, oldest first, by the zxid in their names. `.tmp` leftovers
/// and foreign names are skipped.
pub fn list(dir: &Path) -> Result<Vec<(Zxid, PathBuf)>, StorageError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StorageError::io("list", dir)(e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(StorageError::io("list", dir))?;
        let name = entry.file_name();
        let Some(hex) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        if hex.ends_with(TMP_SUFFIX) {
            continue;
        }
        match u64::from_str_radix(hex, 16) {
            Ok(z) => out.push((Zxid(z as i64), entry.path())),
            Err(_) => tracing::warn!("ignoring {}: not a snapshot name", entry.path().display()),
        }
    }
    out.sort();
    Ok(out)
}

/// Remove `.tmp` files a crash during a snapshot write left behind.
pub fn remove_leftovers(dir: &Path) -> Result<(), StorageError> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in rd.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(PREFIX) && name.ends_with(TMP_SUFFIX) {
            let path = entry.path();
            tracing::warn!("removing unfinished snapshot {}", path.display());
            std::fs::remove_file(&path).map_err(StorageError::io("remove", &path))?;
        }
    }
    Ok(())
}

/// Read and fully check one snapshot file.
pub fn load(path: &Path) -> Result<Image, StorageError> {
    let bytes = std::fs::read(path).map_err(StorageError::io("read", path))?;
    let image = snapshot::read(&bytes).map_err(|e| StorageError::Corrupt {
        path: path.to_owned(),
        offset: e.offset,
        reason: format!("snapshot: {}", e.reason),
    })?;
    let named = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix(PREFIX))
        .and_then(|h| u64::from_str_radix(h, 16).ok());
    if named != Some(image.zxid().0 as u64) {
        return Err(StorageError::Corrupt {
            path: path.to_owned(),
            offset: 8,
            reason: format!(
                "snapshot holds zxid {}, its name says otherwise",
                image.zxid()
            ),
        });
    }
    Ok(image)
}

/// The newest snapshot that loads, with its path. A newer one that fails to load is
/// reported (warning naming file, offset and reason) and the next older one is tried, as
/// ZooKeeper does; the caller then needs the log from that older zxid on, which purging
/// keeps. `None` when there is no loadable snapshot at all (`failed` says whether any
/// existed).
pub fn load_newest(dir: &Path) -> Result<Newest, StorageError> {
    let mut failed = Vec::new();
    for (_, path) in list(dir)?.into_iter().rev() {
        match load(&path) {
            Ok(image) => {
                return Ok(Newest {
                    found: Some((path, image)),
                    failed,
                })
            }
            Err(e) => {
                tracing::error!("cannot use snapshot: {e}");
                failed.push(e);
            }
        }
    }
    Ok(Newest {
        found: None,
        failed,
    })
}

/// What [`load_newest`] found.
#[derive(Debug)]
pub struct Newest {
    pub found: Option<(PathBuf, Image)>,
    /// Newer snapshots that did not load, newest first.
    pub failed: Vec<StorageError>,
}

/// Name of the marker saying the log legitimately starts after `zxid` (written when a
/// snapshot is all there is: an import, or a repair that set the whole log aside).
pub fn log_start_marker(zxid: Zxid) -> String {
    format!("{MARKER_PREFIX}{:x}", zxid.0)
}

const MARKER_PREFIX: &str = "log-starts-after.";

/// The `log-starts-after` markers under `dir`, oldest first.
pub fn markers(dir: &Path) -> Result<Vec<(Zxid, PathBuf)>, StorageError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StorageError::io("list", dir)(e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(StorageError::io("list", dir))?;
        let name = entry.file_name();
        let Some(hex) = name.to_str().and_then(|n| n.strip_prefix(MARKER_PREFIX)) else {
            continue;
        };
        if let Ok(z) = u64::from_str_radix(hex, 16) {
            out.push((Zxid(z as i64), entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Record that the log starts after `zxid`, durably.
pub fn write_log_start_marker(dir: &Path, zxid: Zxid) -> Result<(), StorageError> {
    std::fs::create_dir_all(dir).map_err(StorageError::io("create directory", dir))?;
    let path = dir.join(log_start_marker(zxid));
    File::create(&path)
        .and_then(|f| f.sync_all())
        .map_err(StorageError::io("create", &path))?;
    sync_dir(dir)
}

/// Write `image` as `dir/snapshot.<zxid>` atomically (temp file, fsync, rename, directory
/// fsync). Returns the path and the file size.
pub fn write(dir: &Path, image: &Image) -> Result<(PathBuf, u64), StorageError> {
    write_unpublished(dir, image)?.publish()
}

/// A snapshot written to its temp file and fsynced, but not yet in place: recovery removes
/// it. The snapshot thread publishes it only if the log did not change meanwhile (`gate`).
#[derive(Debug)]
pub struct Unpublished {
    pub tmp: PathBuf,
    pub path: PathBuf,
    pub size: u64,
}

impl Unpublished {
    /// Rename it into place and fsync the directory. Returns the path and the file size.
    pub fn publish(&self) -> Result<(PathBuf, u64), StorageError> {
        std::fs::rename(&self.tmp, &self.path).map_err(StorageError::io("rename", &self.tmp))?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        sync_dir(dir)?;
        Ok((self.path.clone(), self.size))
    }

    /// Remove the temp file if it is still there (best effort: recovery removes it anyway).
    pub fn discard(&self) {
        if !self.tmp.exists() {
            return;
        }
        if let Err(e) = std::fs::remove_file(&self.tmp) {
            tracing::warn!("cannot remove {}: {e}", self.tmp.display());
        }
    }
}

/// Write `image` to `dir/snapshot.<zxid>.tmp` and fsync it; [`Unpublished::publish`] puts it
/// in place.
pub fn write_unpublished(dir: &Path, image: &Image) -> Result<Unpublished, StorageError> {
    write_unpublished_with(dir, image.zxid(), |out| snapshot::write(image, out))
}

/// Write the snapshot at `delta.header.zxid` that merging `delta` into `base` (the bytes of
/// the snapshot at `delta.base`) gives, to its temp file, fsynced (see
/// [`write_unpublished`]). A merge that does not add up to the live tree is an error.
pub fn write_unpublished_delta(
    dir: &Path,
    base: &[u8],
    delta: &Delta,
) -> Result<Unpublished, StorageError> {
    write_unpublished_with(dir, delta.header.zxid, |out| {
        snapshot::merge(base, delta, out).map_err(|e| match e {
            MergeError::Io(e) => e,
            e => std::io::Error::other(e.to_string()),
        })
    })
}

fn write_unpublished_with(
    dir: &Path,
    zxid: Zxid,
    body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<Unpublished, StorageError> {
    std::fs::create_dir_all(dir).map_err(StorageError::io("create directory", dir))?;
    let name = snapshot_name(zxid);
    let path = dir.join(&name);
    let tmp = dir.join(format!("{name}{TMP_SUFFIX}"));
    let result = write_tmp(&tmp, body);
    if result.is_err() {
        // Do not leave a half-written file to fill the disk further (e.g. on ENOSPC).
        let _ = std::fs::remove_file(&tmp);
    }
    let size = result?;
    Ok(Unpublished { tmp, path, size })
}

/// Bytes of snapshot written between two `fdatasync`s of the temp file.
const SYNC_EVERY: usize = 4 << 20;

/// Writes to a file, syncing it every [`SYNC_EVERY`] bytes. One fsync of a whole
/// multi-megabyte snapshot at the end flushes all of it at once, and on a shared filesystem
/// journal the log's own fdatasync waits behind that burst (a write stall); syncing as it
/// goes keeps each flush small.
struct ChunkSync {
    file: File,
    since_sync: usize,
}

impl Write for ChunkSync {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.since_sync += n;
        if self.since_sync >= SYNC_EVERY {
            self.file.sync_data()?;
            self.since_sync = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

fn write_tmp(
    tmp: &Path,
    body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<u64, StorageError> {
    let file = File::create(tmp).map_err(StorageError::io("create", tmp))?;
    let file = ChunkSync {
        file,
        since_sync: 0,
    };
    let mut out = BufWriter::with_capacity(1 << 20, file);
    body(&mut out).map_err(StorageError::io("write", tmp))?;
    out.flush().map_err(StorageError::io("write", tmp))?;
    let file = out
        .into_inner()
        .map_err(|e| StorageError::io("write", tmp)(e.into_error()))?
        .file;
    file.sync_all().map_err(StorageError::io("fsync", tmp))?;
    Ok(file.metadata().map(|m| m.len()).unwrap_or(0))
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StorageError::io("fsync directory", dir))
}

/// Build the image as of `zxid` from the newest snapshot at or before it plus the log, the
/// way recovery would. Never touches the live tree.
pub fn build_image(snap_dir: &Path, log_dir: &Path, zxid: Zxid) -> Result<Image, StorageError> {
    let mut base = None;
    for (z, path) in list(snap_dir)?.into_iter().rev() {
        if z > zxid {
            continue;
        }
        match load(&path) {
            Ok(image) => {
                base = Some(image);
                break;
            }
            Err(e) => tracing::warn!("snapshot not usable as a base: {e}"),
        }
    }
    let mut image = base.unwrap_or_default();
    log::read_records(log_dir, image.zxid(), zxid, &mut |z, payload| {
        let entry = LogEntry::from_bytes(payload).map_err(|e| e.to_string())?;
        if entry.hdr.zxid != z {
            return Err(format!("entry decodes with zxid {}", entry.hdr.zxid));
        }
        image.apply(&entry);
        Ok(())
    })?;
    Ok(image)
}

/// What a purge removed.
#[derive(Debug, Default)]
pub struct Purged {
    pub snapshots: Vec<PathBuf>,
    pub segments: Vec<PathBuf>,
}

/// Keep the newest `retain` snapshots (at least 1) and the log needed to recover from the
/// oldest of them; remove older snapshots and every segment whose records all precede it.
/// The newest segment is never removed.
pub fn purge(snap_dir: &Path, log_dir: &Path, retain: usize) -> Result<Purged, StorageError> {
    let snaps = list(snap_dir)?;
    let retain = retain.max(1);
    if snaps.len() < retain {
        return Ok(Purged::default());
    }
    let keep_from = snaps[snaps.len() - retain].0;
    let mut purged = Purged::default();
    for (z, path) in &snaps {
        if *z < keep_from {
            std::fs::remove_file(path).map_err(StorageError::io("remove", path))?;
            purged.snapshots.push(path.clone());
        }
    }
    let segs = log::segments(log_dir)?;
    // Segment i holds zxids [name_i, name_{i+1}); it is needed unless the next segment
    // starts at or before keep_from + 1 (then every record in it is <= keep_from).
    for pair in segs.windows(2) {
        let ((_, path), (next, _)) = (&pair[0], &pair[1]);
        if next.0 <= keep_from.0 + 1 {
            std::fs::remove_file(path).map_err(StorageError::io("remove", path))?;
            purged.segments.push(path.clone());
        }
    }
    if !purged.snapshots.is_empty() {
        sync_dir(snap_dir)?;
    }
    if !purged.segments.is_empty() {
        sync_dir(log_dir)?;
    }
    Ok(purged)
}

#[cfg(test)]
mod tests;
