//! `corral data verify`: check every checksum, and the digest chain: replaying the log from
//! the oldest valid snapshot must reach each newer snapshot's recorded digest. Also the
//! epoch files, and what recovery would refuse: a snapshot with no log and no
//! `log-starts-after` marker. An install that committed but did not finish is checked as
//! recovery will leave it: its new snapshot alone.

use std::io::Write;

use corral_core::snapshot::Image;
use corral_core::txn::LogEntry;

use super::Dirs;
use crate::storage::{epoch, install, log, snapshot as snapfile, StorageError};

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
    match epoch::read_stored(&snap_dir) {
        Ok(e) => {
            let _ = writeln!(
                out,
                "ok   epochs: accepted {}{}, current {}",
                e.accepted.epoch.0,
                e.accepted
                    .leader
                    .map_or(String::new(), |l| format!(" (leader {l})")),
                e.current.0
            );
        }
        Err(e) => {
            let _ = writeln!(out, "BAD  {e}");
            v.problems.push(e.to_string());
        }
    }
    match install::find_interrupted(&snap_dir) {
        Ok(Some(i)) => {
            check_interrupted_install(&i, &mut v, out);
            return Ok(summary(v, out));
        }
        Ok(None) => {}
        Err(e) => v.problems.push(e.to_string()),
    }
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
            // Recovery's rule: a snapshot with no log at all needs the marker an import, a
            // repair or an install leaves.
            if let (None, Some((path, h))) = (rec.last_zxid, images.last()) {
                if !snap_dir.join(snapfile::log_start_marker(h.zxid)).exists() {
                    chain_problems.push(format!(
                        "there is no transaction log, and no {} says the log starts after {}: \
                         recovery refuses this (is the log directory right?)",
                        snapfile::log_start_marker(h.zxid),
                        path.display()
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
    Ok(summary(v, out))
}

/// Print the totals, notes and problems.
fn summary(v: Verdict, out: &mut dyn Write) -> Verdict {
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
    v
}

/// An install committed and not finished: recovery will keep only its new snapshot, so
/// that snapshot is all there is to check.
fn check_interrupted_install(i: &install::Interrupted, v: &mut Verdict, out: &mut dyn Write) {
    v.notes.push(format!(
        "finish the install of snapshot {} ({} exists); every other snapshot and log \
         segment will be removed",
        i.zxid,
        i.commit.display()
    ));
    v.snapshots += 1;
    let checked = std::fs::read(&i.snapshot)
        .map_err(|e| e.to_string())
        .and_then(|b| corral_core::snapshot::read(&b).map_err(|e| e.to_string()));
    match checked {
        Ok(image) if image.zxid() == i.zxid => {
            let _ = writeln!(
                out,
                "ok   {} (zxid {}, {} nodes, digest {:016x}; being installed)",
                i.snapshot.display(),
                image.zxid(),
                image.tree.len(),
                image.tree.digest()
            );
        }
        Ok(image) => v.problems.push(format!(
            "{} holds zxid {}, but {} installs {}",
            i.snapshot.display(),
            image.zxid(),
            i.commit.display(),
            i.zxid
        )),
        Err(e) => v.problems.push(format!(
            "{} (being installed): {e}; recovery will refuse to start",
            i.snapshot.display()
        )),
    }
}
