//! The epoch files ZAB needs, `acceptedEpoch` and `currentEpoch`, in the snapshot directory
//! (`<dataDir>/version-2/`, where ZooKeeper keeps them too).
//!
//! Format: one line. `currentEpoch` holds a decimal epoch. `acceptedEpoch` holds a decimal
//! epoch, optionally followed by a space and the decimal id of the leader it was accepted
//! from (`"5 2\n"`); ZooKeeper writes only the number (`"5"`, with or without a newline),
//! and such a file reads as "leader unknown". Each file is replaced atomically (temp file,
//! fsync, rename, fsync the directory), so a crash leaves the old content or the new one.
//!
//! A missing file reads as epoch 0 (a fresh server). A file that does not parse, or a
//! `currentEpoch` after the `acceptedEpoch` (ZAB writes acceptedEpoch first, so this is
//! damage; ZooKeeper refuses it too), is an error naming the file.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use corral_core::server::{AcceptedEpoch, StoredEpochs};
use corral_core::types::{Epoch, ServerId};

use super::StorageError;

/// The epoch this server last accepted from a prospective leader (NEWEPOCH), and from which
/// leader.
pub const ACCEPTED_EPOCH: &str = "acceptedEpoch";
/// The epoch of the leader this server last synchronized with (NEWLEADER).
pub const CURRENT_EPOCH: &str = "currentEpoch";
/// Longest epoch file accepted: anything longer is not an epoch file.
const MAX_FILE_BYTES: u64 = 64;

/// Read both files in `dir`: zeros for missing files; an error naming the file if one is
/// damaged, or if the current epoch is after the accepted one.
pub fn read_stored(dir: &Path) -> Result<StoredEpochs, StorageError> {
    let accepted = read_accepted(dir)?.unwrap_or_default();
    let current = read_current(dir)?.unwrap_or_default();
    if current > accepted.epoch {
        return Err(StorageError::Corrupt {
            path: dir.join(CURRENT_EPOCH),
            offset: 0,
            reason: format!(
                "the current epoch {} is after the accepted epoch {} (in {})",
                current.0,
                accepted.epoch.0,
                dir.join(ACCEPTED_EPOCH).display()
            ),
        });
    }
    Ok(StoredEpochs { accepted, current })
}

/// Read `dir/acceptedEpoch`: `None` if it does not exist.
pub fn read_accepted(dir: &Path) -> Result<Option<AcceptedEpoch>, StorageError> {
    let Some((path, text)) = read_text(dir, ACCEPTED_EPOCH)? else {
        return Ok(None);
    };
    parse_accepted(&text)
        .map(Some)
        .map_err(|reason| damaged(path, &text, &reason))
}

/// Read `dir/currentEpoch`: `None` if it does not exist.
pub fn read_current(dir: &Path) -> Result<Option<Epoch>, StorageError> {
    let Some((path, text)) = read_text(dir, CURRENT_EPOCH)? else {
        return Ok(None);
    };
    let fields: Vec<&str> = text.split_whitespace().collect();
    match fields[..] {
        [e] => parse_epoch(e)
            .map(Some)
            .map_err(|reason| damaged(path, &text, &reason)),
        _ => Err(damaged(path, &text, "expected one epoch number")),
    }
}

/// Replace the files given, durably and atomically each: `acceptedEpoch` first, then
/// `currentEpoch` (a crash between leaves the new accepted epoch with the old current one,
/// which ZAB allows: accepted is never behind current).
pub fn save(
    dir: &Path,
    accepted: Option<AcceptedEpoch>,
    current: Option<Epoch>,
) -> Result<(), StorageError> {
    if let Some(a) = accepted {
        let text = match a.leader {
            Some(l) => format!("{} {}\n", a.epoch.0, l.0),
            None => format!("{}\n", a.epoch.0),
        };
        replace(dir, ACCEPTED_EPOCH, &text)?;
    }
    if let Some(c) = current {
        replace(dir, CURRENT_EPOCH, &format!("{}\n", c.0))?;
    }
    Ok(())
}

fn parse_accepted(text: &str) -> Result<AcceptedEpoch, String> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    match fields[..] {
        [e] => Ok(AcceptedEpoch {
            epoch: parse_epoch(e)?,
            leader: None,
        }),
        [e, l] => Ok(AcceptedEpoch {
            epoch: parse_epoch(e)?,
            leader: Some(ServerId(l.parse::<u64>().map_err(|_| {
                format!("leader id {l:?} is not a non-negative number")
            })?)),
        }),
        _ => Err("expected an epoch number, optionally followed by a leader id".into()),
    }
}

fn parse_epoch(s: &str) -> Result<Epoch, String> {
    // An epoch is the high 32 bits of a zxid: ZooKeeper writes it as a long, but a valid
    // one always fits.
    s.parse::<u32>()
        .map(Epoch)
        .map_err(|_| format!("epoch {s:?} is not a number from 0 to {}", u32::MAX))
}

fn damaged(path: PathBuf, text: &str, reason: &str) -> StorageError {
    StorageError::Corrupt {
        path,
        offset: 0,
        reason: format!("{reason}; the file holds {:?}", text),
    }
}

fn read_text(dir: &Path, name: &str) -> Result<Option<(PathBuf, String)>, StorageError> {
    let path = dir.join(name);
    let len = match std::fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io("stat", &path)(e)),
    };
    if len > MAX_FILE_BYTES {
        return Err(StorageError::Corrupt {
            path,
            offset: 0,
            reason: format!("{len} bytes is too long for an epoch file"),
        });
    }
    let bytes = std::fs::read(&path).map_err(StorageError::io("read", &path))?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Some((path, text))),
        Err(e) => Err(StorageError::Corrupt {
            path,
            offset: e.utf8_error().valid_up_to() as u64,
            reason: "not text".into(),
        }),
    }
}

/// Replace `dir/name` with `text`: temp file, fsync, rename, fsync the directory.
fn replace(dir: &Path, name: &str, text: &str) -> Result<(), StorageError> {
    std::fs::create_dir_all(dir).map_err(StorageError::io("create directory", dir))?;
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = File::create(&tmp).map_err(StorageError::io("create", &tmp))?;
    f.write_all(text.as_bytes())
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

    fn accepted(epoch: u32, leader: Option<u64>) -> AcceptedEpoch {
        AcceptedEpoch {
            epoch: Epoch(epoch),
            leader: leader.map(ServerId),
        }
    }

    #[test]
    fn missing_files_are_zero_epochs() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(read_stored(tmp.path()).unwrap(), StoredEpochs::default());
        assert_eq!(
            read_stored(&tmp.path().join("not-there")).unwrap(),
            StoredEpochs::default()
        );
    }

    #[test]
    fn epochs_round_trip_and_are_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        save(dir, Some(accepted(3, Some(2))), None).unwrap();
        assert_eq!(
            read_stored(dir).unwrap(),
            StoredEpochs {
                accepted: accepted(3, Some(2)),
                current: Epoch(0)
            }
        );
        assert_eq!(
            std::fs::read_to_string(dir.join(ACCEPTED_EPOCH)).unwrap(),
            "3 2\n"
        );
        save(dir, Some(accepted(4, None)), Some(Epoch(4))).unwrap();
        assert_eq!(
            read_stored(dir).unwrap(),
            StoredEpochs {
                accepted: accepted(4, None),
                current: Epoch(4)
            }
        );
        assert_eq!(
            std::fs::read_to_string(dir.join(ACCEPTED_EPOCH)).unwrap(),
            "4\n"
        );
        save(dir, None, Some(Epoch(3))).unwrap();
        assert_eq!(read_current(dir).unwrap(), Some(Epoch(3)));
        assert_eq!(read_accepted(dir).unwrap(), Some(accepted(4, None)));
        assert!(!dir.join("currentEpoch.tmp").exists());
        assert!(!dir.join("acceptedEpoch.tmp").exists());
    }

    #[test]
    fn zookeeper_written_files_read() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        // ZooKeeper writes Long.toString(epoch), without a newline.
        std::fs::write(dir.join(ACCEPTED_EPOCH), "7").unwrap();
        std::fs::write(dir.join(CURRENT_EPOCH), "6\n").unwrap();
        assert_eq!(
            read_stored(dir).unwrap(),
            StoredEpochs {
                accepted: accepted(7, None),
                current: Epoch(6)
            }
        );
    }

    #[test]
    fn damaged_files_are_errors_naming_them() {
        let cases: &[(&str, &str)] = &[
            (ACCEPTED_EPOCH, "4x\n"),
            (ACCEPTED_EPOCH, ""),
            (ACCEPTED_EPOCH, "4 2 1\n"),
            (ACCEPTED_EPOCH, "4 -2\n"),
            (ACCEPTED_EPOCH, "-1\n"),
            (ACCEPTED_EPOCH, "4294967296\n"),
            (CURRENT_EPOCH, "4 2\n"),
            (CURRENT_EPOCH, "\u{0}\u{0}\u{0}"),
        ];
        for (name, content) in cases {
            let tmp = tempfile::tempdir().unwrap();
            std::fs::write(tmp.path().join(name), content).unwrap();
            let e = read_stored(tmp.path()).expect_err(content);
            assert!(e.to_string().contains(name), "{e}");
        }
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(CURRENT_EPOCH), [0xff, 0xfe]).unwrap();
        let e = read_stored(tmp.path()).unwrap_err();
        assert!(e.to_string().contains(CURRENT_EPOCH), "{e}");
        std::fs::write(tmp.path().join(CURRENT_EPOCH), "1".repeat(100)).unwrap();
        let e = read_stored(tmp.path()).unwrap_err();
        assert!(e.to_string().contains("too long"), "{e}");
    }

    #[test]
    fn a_current_epoch_after_the_accepted_one_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        save(tmp.path(), Some(accepted(2, Some(1))), Some(Epoch(3))).unwrap();
        let e = read_stored(tmp.path()).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(CURRENT_EPOCH) && msg.contains(ACCEPTED_EPOCH),
            "{msg}"
        );
    }

    #[test]
    fn a_crash_before_the_rename_leaves_the_old_value() {
        let tmp = tempfile::tempdir().unwrap();
        save(tmp.path(), Some(accepted(4, Some(1))), Some(Epoch(4))).unwrap();
        std::fs::write(tmp.path().join("currentEpoch.tmp"), "9").unwrap();
        std::fs::write(tmp.path().join("acceptedEpoch.tmp"), "9 3").unwrap();
        assert_eq!(read_current(tmp.path()).unwrap(), Some(Epoch(4)));
        assert_eq!(
            read_accepted(tmp.path()).unwrap(),
            Some(accepted(4, Some(1)))
        );
    }
}
