//! `corral data inspect`: print the snapshots, log records, epoch files and markers of a
//! data directory without changing anything.

use std::io::Write;

use corral_core::snapshot::{self, Item};
use corral_core::txn::LogEntry;

use super::{describe, Dirs};
use crate::storage::{epoch, install, log, snapshot as snapfile, StorageError};

/// What to print.
#[derive(Clone, Copy, Debug, Default)]
pub struct InspectOptions {
    /// Every node and session of every snapshot, not just the headers.
    pub nodes: bool,
    /// Skip the log records.
    pub no_log: bool,
}

/// Print what `dirs` holds to `out`. Damage is printed where it is found and returned as an
/// error at the end, after everything readable was shown.
pub fn inspect(dirs: &Dirs, opts: InspectOptions, out: &mut dyn Write) -> Result<(), StorageError> {
    let io = |e| StorageError::io("write", std::path::Path::new("<stdout>"))(e);
    let snap_dir = snapfile::snap_dir(&dirs.data);
    let mut first_err = None;
    for (_, path) in snapfile::list(&snap_dir)? {
        let bytes = std::fs::read(&path).map_err(StorageError::io("read", &path))?;
        writeln!(out, "snapshot {} ({} bytes)", path.display(), bytes.len()).map_err(io)?;
        let mut printed = Ok(());
        let res = snapshot::visit(&bytes, &mut |item| {
            if opts.nodes && printed.is_ok() {
                printed = match item {
                    Item::Session { id, timeout_ms } => {
                        writeln!(out, "  session {id} timeout {timeout_ms} ms")
                    }
                    Item::Node { path, data, acl, stat } => writeln!(
                        out,
                        "  {path} czxid {} mzxid {} pzxid {} version {} cversion {} aversion {} owner {:#x} data {} acl {acl:?}",
                        stat.czxid,
                        stat.mzxid,
                        stat.pzxid,
                        stat.version,
                        stat.cversion,
                        stat.aversion,
                        stat.ephemeral_owner,
                        data.map_or("null".to_owned(), |d| format!("{} bytes", d.len())),
                    ),
                };
            }
            Ok(())
        });
        printed.map_err(io)?;
        match res {
            Ok(h) => writeln!(
                out,
                "  zxid {} digest {:016x} nodes {} sessions {}",
                h.zxid, h.digest, h.nodes, h.sessions
            )
            .map_err(io)?,
            Err(e) => {
                writeln!(out, "  DAMAGED {e}").map_err(io)?;
                first_err.get_or_insert(StorageError::Corrupt {
                    path: path.clone(),
                    offset: e.offset,
                    reason: e.reason,
                });
            }
        }
    }
    if let Err(e) = print_state_files(&snap_dir, out).map_err(io)? {
        first_err.get_or_insert(e);
    }
    let log_dir = log::log_dir(&dirs.log);
    for (_, path) in log::segments(&log_dir)? {
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        writeln!(out, "log segment {} ({len} bytes)", path.display()).map_err(io)?;
    }
    let mut printed = Ok(());
    let res = log::scan_read_only(&log_dir, &mut |_, payload| {
        let entry = LogEntry::from_bytes(payload).map_err(|e| e.to_string())?;
        if !opts.no_log && printed.is_ok() {
            printed = writeln!(out, "{}", describe(&entry));
        }
        Ok(())
    });
    printed.map_err(io)?;
    match res {
        Ok(rec) => {
            writeln!(
                out,
                "log: {} records, last zxid {}",
                rec.records,
                rec.last_zxid.map_or("none".to_owned(), |z| z.to_string())
            )
            .map_err(io)?;
            for r in rec.repairs {
                writeln!(out, "log: at the next start the server would be {r}").map_err(io)?;
            }
        }
        Err(e) => {
            writeln!(out, "log: DAMAGED {e}").map_err(io)?;
            first_err.get_or_insert(e);
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The epoch files, the log-starts-after markers and an unfinished install. Damage is
/// printed and returned (inner result) so the rest can still be shown.
fn print_state_files(
    snap_dir: &std::path::Path,
    out: &mut dyn Write,
) -> std::io::Result<Result<(), StorageError>> {
    let mut first_err = None;
    match epoch::read_accepted(snap_dir) {
        Ok(Some(a)) => writeln!(
            out,
            "acceptedEpoch {}{}",
            a.epoch.0,
            a.leader
                .map_or(" (leader not recorded)".to_owned(), |l| format!(
                    " (leader {l})"
                ))
        )?,
        Ok(None) => writeln!(out, "acceptedEpoch: no file (epoch 0)")?,
        Err(e) => {
            writeln!(out, "acceptedEpoch: DAMAGED {e}")?;
            first_err.get_or_insert(e);
        }
    }
    match epoch::read_current(snap_dir) {
        Ok(Some(c)) => writeln!(out, "currentEpoch {}", c.0)?,
        Ok(None) => writeln!(out, "currentEpoch: no file (epoch 0)")?,
        Err(e) => {
            writeln!(out, "currentEpoch: DAMAGED {e}")?;
            first_err.get_or_insert(e);
        }
    }
    match snapfile::markers(snap_dir) {
        Ok(markers) => {
            for (z, path) in markers {
                writeln!(
                    out,
                    "marker {}: the log may start after snapshot {z}",
                    path.display()
                )?;
            }
        }
        Err(e) => {
            first_err.get_or_insert(e);
        }
    }
    match install::find_interrupted(snap_dir) {
        Ok(Some(i)) => writeln!(
            out,
            "install of snapshot {} committed but did not finish ({}): the next start \
             finishes it from {} and removes every other snapshot and log segment",
            i.zxid,
            i.commit.display(),
            i.snapshot.display()
        )?,
        Ok(None) => {}
        Err(e) => {
            writeln!(out, "install: DAMAGED {e}")?;
            first_err.get_or_insert(e);
        }
    }
    Ok(first_err.map_or(Ok(()), Err))
}
