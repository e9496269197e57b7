//! The epoch files ZAB needs (`acceptedEpoch`, `currentEpoch` in dataDir, as ZooKeeper names
//! them): one decimal number each, replaced atomically (write a temp file, fsync, rename,
//! fsync the directory), so a crash leaves the old value or the new one, never a mix.
//! Nothing uses them until replication lands; they are here with the rest of storage.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use corral_core::types::Epoch;

use super::StorageError;

/// The epoch this server last accepted from a prospective leader (NEWEPOCH).
pub const ACCEPTED_EPOCH: &str = "acceptedEpoch";
/// The epoch of the leader this server last synchronized with (NEWLEADER).
pub const CURRENT_EPOCH: &str = "currentEpoch";

/// Read `dir/name`: `None` if it does not exist (a fresh server), an error naming the file
/// if it exists but does not hold one epoch number.
pub fn read(dir: &Path, name: &str) -> Result<Option<Epoch>, StorageError> {
    let path = dir.join(name);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io("read", &path)(e)),
    };
    text.trim()
        .parse::<u32>()
        .map(|e| Some(Epoch(e)))
        .map_err(|_| StorageError::Corrupt {
            path,
            offset: 0,
            reason: format!("expected one epoch number, found {:?}", text.trim()),
        })
}

/// Replace `dir/name` with `epoch`, durably and atomically.
pub fn write(dir: &Path, name: &str, epoch: Epoch) -> Result<(), StorageError> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = File::create(&tmp).map_err(StorageError::io("create", &tmp))?;
    f.write_all(format!("{}\n", epoch.0).as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(StorageError::io("write", &tmp))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(StorageError::io("rename", &tmp))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StorageError::io("fsync directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_written_replaced_and_damaged() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(read(tmp.path(), CURRENT_EPOCH).unwrap(), None);
        write(tmp.path(), CURRENT_EPOCH, Epoch(3)).unwrap();
        assert_eq!(read(tmp.path(), CURRENT_EPOCH).unwrap(), Some(Epoch(3)));
        write(tmp.path(), CURRENT_EPOCH, Epoch(4)).unwrap();
        assert_eq!(read(tmp.path(), CURRENT_EPOCH).unwrap(), Some(Epoch(4)));
        assert!(!tmp.path().join("currentEpoch.tmp").exists());
        std::fs::write(tmp.path().join(ACCEPTED_EPOCH), "4x\n").unwrap();
        let e = read(tmp.path(), ACCEPTED_EPOCH).unwrap_err();
        assert!(e.to_string().contains("acceptedEpoch"), "{e}");
        // A crash between the temp file and the rename leaves the old value readable.
        std::fs::write(tmp.path().join("currentEpoch.tmp"), "9").unwrap();
        assert_eq!(read(tmp.path(), CURRENT_EPOCH).unwrap(), Some(Epoch(4)));
    }
}
