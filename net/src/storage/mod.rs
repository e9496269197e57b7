//! Durable storage of the shell: the transaction log and the data-directory lock.
//!
//! `log` holds the log's on-disk format, recovery and the synchronous segment writer;
//! `writer` runs that writer on its own thread with group commit; `snapshot` reads, writes,
//! builds and purges snapshot files; `compactor` runs snapshot building on its own thread;
//! `recovery` puts it together at start-up. `install` makes a snapshot from a leader the
//! whole stored state, `epoch` keeps ZAB's epoch files, and `gate` orders rewrites of the
//! log against the snapshot thread. See docs/storage.md.

pub mod compactor;
pub mod epoch;
pub mod gate;
pub mod install;
pub mod log;
pub mod recovery;
pub mod snapshot;
#[cfg(test)]
pub(crate) mod testutil;
pub mod writer;
pub mod zk_import;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// Why storage cannot be used. Every variant names the file involved; none is recoverable
/// by the server itself (fail-stop).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("corrupt transaction log {path} at offset {offset}: {reason}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("data directory {path} is in use by another Corral server (lock file {lock} is held)")]
    Locked { path: PathBuf, lock: PathBuf },
    #[error("refusing to log an entry: {0}")]
    BadEntry(String),
    /// A storage request that would break the stored history (a core bug or damage).
    #[error("{path}: refusing to {reason}")]
    Refused { path: PathBuf, reason: String },
}

impl StorageError {
    pub(crate) fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_owned();
        move |source| StorageError::Io { op, path, source }
    }
}

/// Name of the lock file inside each locked directory.
pub const LOCK_FILE: &str = "corral.lock";

/// An exclusive `flock` on a directory's lock file, held for the life of the value (the
/// kernel drops it when the process dies, so a crash never leaves a stale lock).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Create `dir` if needed and lock it, or fail if another process holds the lock.
    pub fn acquire(dir: &Path) -> Result<DirLock, StorageError> {
        std::fs::create_dir_all(dir).map_err(StorageError::io("create directory", dir))?;
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(StorageError::io("open lock file", &path))?;
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => Ok(DirLock { _file: file, path }),
            Err(fs4::TryLockError::WouldBlock) => Err(StorageError::Locked {
                path: dir.to_owned(),
                lock: path,
            }),
            Err(fs4::TryLockError::Error(e)) => Err(StorageError::io("lock", &path)(e)),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Locks for the data directory and (when it differs) the log directory.
#[derive(Debug)]
pub struct DataLocks(Vec<DirLock>);

impl DataLocks {
    /// Lock `data_dir` and `data_log_dir` (once if they are the same directory).
    pub fn acquire(data_dir: &Path, data_log_dir: &Path) -> Result<DataLocks, StorageError> {
        let first = DirLock::acquire(data_dir)?;
        let mut locks = vec![first];
        std::fs::create_dir_all(data_log_dir)
            .map_err(StorageError::io("create directory", data_log_dir))?;
        let same = match (data_dir.canonicalize(), data_log_dir.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if !same {
            locks.push(DirLock::acquire(data_log_dir)?);
        }
        Ok(DataLocks(locks))
    }

    /// The lock files held.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.0.iter().map(DirLock::path)
    }
}

/// Total size in bytes of the regular files under `dir` (recursively); 0 if unreadable.
/// Used by the `dirs` and `conf` four-letter words.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_same_dir_fails() {
        let tmp = tempfile::tempdir().unwrap();
        let held = DirLock::acquire(tmp.path()).unwrap();
        match DirLock::acquire(tmp.path()) {
            Err(e @ StorageError::Locked { .. }) => {
                assert!(e.to_string().contains(LOCK_FILE), "{e}");
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(held);
        DirLock::acquire(tmp.path()).expect("lock is released on drop");
    }

    #[test]
    fn data_locks_cover_a_separate_log_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let (data, log) = (tmp.path().join("data"), tmp.path().join("log"));
        let held = DataLocks::acquire(&data, &log).unwrap();
        assert_eq!(held.paths().count(), 2);
        assert!(matches!(
            DirLock::acquire(&log),
            Err(StorageError::Locked { .. })
        ));
        assert!(matches!(
            DataLocks::acquire(&data, &data),
            Err(StorageError::Locked { .. })
        ));
    }
}
