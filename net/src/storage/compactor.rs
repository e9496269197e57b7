//! The snapshot thread: builds each requested snapshot off the request path (so the server
//! keeps serving), writes it atomically, and purges old snapshots and log segments when
//! autopurge is on.
//!
//! A request that carries a delta (the live states of the nodes changed since the previous
//! snapshot, `corral_core::snapshot::Delta`) is built by merging the delta into the
//! previous snapshot: one pass over that file that copies untouched blocks as stored, no
//! tree and no replay, so snapshots of a big tree cost a fraction of the CPU and memory.
//! Without a delta, the snapshot is built from the previous snapshot plus the log. The merge is
//! checked against the live tree's node count and digest; if it does not add up, or the
//! base file is not there, the snapshot is built the full way.
//!
//! A failed snapshot is not fatal: the log still holds every txn, so the server goes on and
//! reports the failure; the next request tries again.
//!
//! Against truncations and installs (which rewrite the history a snapshot is built from),
//! the rule is the rewrite gate's (`gate`): a snapshot is published, and a purge runs, only
//! with the gate held and only if no rewrite started since the build began; otherwise the
//! snapshot is dropped and reported `written: false`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use corral_core::server::PersistToken;
use corral_core::snapshot::{Delta, Image};
use corral_core::types::Zxid;
use tokio::sync::mpsc;

use super::gate::RewriteGate;
use super::snapshot;
use super::writer::Completion;

/// Where snapshots go and what to keep.
#[derive(Clone, Debug)]
pub struct CompactorConfig {
    pub snap_dir: PathBuf,
    pub log_dir: PathBuf,
    /// Snapshots to keep when purging (`autopurge.snapRetainCount`); `None`: never purge.
    pub retain: Option<usize>,
    /// Shared with the log thread: no snapshot built across a rewrite is published.
    pub gate: Arc<RewriteGate>,
}

/// Handle on the snapshot thread.
/// One snapshot asked for.
type Job = (PersistToken, Zxid, Option<Box<Delta>>);

pub struct Compactor {
    tx: Option<std::sync::mpsc::Sender<Job>>,
    handle: Option<JoinHandle<()>>,
}

impl Compactor {
    /// Start the thread; each finished request is reported on `done` as
    /// `Completion::Snapshot`.
    pub fn spawn(
        config: CompactorConfig,
        done: mpsc::UnboundedSender<Completion>,
    ) -> std::io::Result<Compactor> {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let handle = std::thread::Builder::new()
            .name("corral-snapshot".into())
            .spawn(move || {
                // Snapshots are background work: on a small machine they compete with
                // request handling for the same cores, so they run at the lowest normal
                // priority (niceness; needs no privileges). Failing to lower it is harmless.
                if let Err(e) = thread_priority::set_current_thread_priority(
                    thread_priority::ThreadPriority::Min,
                ) {
                    tracing::debug!("snapshot thread keeps its priority: {e:?}");
                }
                while let Ok((token, zxid, delta)) = rx.recv() {
                    // A panic must not leave the core waiting for this snapshot forever (it
                    // would never ask again, and purge would stop with it).
                    let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        take_snapshot_with(&config, zxid, delta.as_deref())
                    }))
                    .unwrap_or_else(|_| {
                        tracing::error!("snapshot at zxid {zxid} panicked; not taken");
                        false
                    });
                    if done
                        .send(Completion::Snapshot {
                            token,
                            zxid,
                            written,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
            })?;
        Ok(Compactor {
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    /// Ask for a snapshot as of `zxid` (which must be durable in the log), built from
    /// `delta` if given and usable.
    pub fn request(&self, token: PersistToken, zxid: Zxid, delta: Option<Box<Delta>>) -> bool {
        self.tx
            .as_ref()
            .is_some_and(|tx| tx.send((token, zxid, delta)).is_ok())
    }

    /// Finish the snapshot in progress (if any) and stop.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.tx.take();
        if let Some(h) = self.handle.take() {
            if h.join().is_err() {
                tracing::error!("snapshot thread panicked");
            }
        }
    }
}

impl Drop for Compactor {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Build, write and (maybe) purge; false if the snapshot could not be written, or was
/// dropped because the log was rewritten (truncated, or replaced by an install) meanwhile.
pub fn take_snapshot(config: &CompactorConfig, zxid: Zxid) -> bool {
    take_snapshot_with(config, zxid, None)
}

/// [`take_snapshot`], from `delta` when it is usable.
pub fn take_snapshot_with(config: &CompactorConfig, zxid: Zxid, delta: Option<&Delta>) -> bool {
    let prepared = match delta {
        Some(d) if d.header.zxid == zxid => {
            prepare_delta(config, d).or_else(|| prepare(config, zxid))
        }
        _ => prepare(config, zxid),
    };
    prepared.is_some_and(|p| publish(config, p))
}

/// A snapshot built and written to its temp file, waiting to be published.
#[derive(Debug)]
pub struct Prepared {
    zxid: Zxid,
    /// The gate's generation before anything was read.
    seen: u64,
    file: snapshot::Unpublished,
    /// The file read back with every crc correct (purging trusts it).
    purge_ok: bool,
    started: Instant,
    nodes: usize,
    sessions: usize,
}

/// Build the snapshot as of `zxid` and write it to its temp file (`None`: it failed,
/// logged). Reads only durable files and takes no lock: the server keeps writing.
pub fn prepare(config: &CompactorConfig, zxid: Zxid) -> Option<Prepared> {
    let started = Instant::now();
    // Noted before reading anything: a rewrite from here on makes what is read suspect.
    let seen = config.gate.generation();
    let image = match snapshot::build_image(&config.snap_dir, &config.log_dir, zxid) {
        Ok(i) => i,
        Err(e) => {
            tracing::error!("snapshot at zxid {zxid} not taken: {e}");
            return None;
        }
    };
    let (nodes, sessions) = (image.tree.len(), image.sessions.len());
    let file = match snapshot::write_unpublished(&config.snap_dir, &image) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!("snapshot at zxid {zxid} not written: {e}");
            return None;
        }
    };
    drop(image);
    // Purge trusts the newest snapshots to replace the log it deletes: read the new file
    // back (every crc) before deleting anything on its strength.
    let purge_ok = config.retain.is_some() && reads_back(&file.tmp, true);
    Some(Prepared {
        zxid,
        seen,
        file,
        purge_ok,
        started,
        nodes,
        sessions,
    })
}

/// Build the snapshot `delta` describes by merging it into the snapshot at `delta.base`, and
/// write it to its temp file. `None` (logged) if the base is missing or unreadable or the
/// merge does not match the live tree: the caller builds it the full way.
pub fn prepare_delta(config: &CompactorConfig, delta: &Delta) -> Option<Prepared> {
    let started = Instant::now();
    let seen = config.gate.generation();
    let zxid = delta.header.zxid;
    let base_path = config.snap_dir.join(snapshot::snapshot_name(delta.base));
    let base = match std::fs::read(&base_path) {
        Ok(b) => b,
        // Nothing snapshotted yet: the base is the fresh tree.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && delta.base == Zxid::ZERO => {
            corral_core::snapshot::to_bytes(&Image::new())
        }
        Err(e) => {
            tracing::info!(
                "snapshot at zxid {zxid}: base {} not readable ({e}); building it from the log",
                base_path.display()
            );
            return None;
        }
    };
    let file = match snapshot::write_unpublished_delta(&config.snap_dir, &base, delta) {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(
                "snapshot at zxid {zxid}: delta against {} not merged ({e}); building it from \
                 the log",
                base_path.display()
            );
            return None;
        }
    };
    drop(base);
    // The merge checked what it wrote; reading back only has to show the bytes are intact.
    let purge_ok = config.retain.is_some() && reads_back(&file.tmp, false);
    tracing::debug!(
        "snapshot at zxid {zxid}: merged {} changes into the snapshot at {}",
        delta.changes.len(),
        delta.base
    );
    Some(Prepared {
        zxid,
        seen,
        file,
        purge_ok,
        started,
        nodes: delta.header.nodes as usize,
        sessions: delta.header.sessions as usize,
    })
}

/// Put a prepared snapshot in place and purge, with the gate held, unless the log was
/// rewritten since `prepare` began (then the file is removed). True if published.
pub fn publish(config: &CompactorConfig, p: Prepared) -> bool {
    let zxid = p.zxid;
    let outcome = config.gate.publish(p.seen, || {
        let published = p.file.publish()?;
        if let (Some(retain), true) = (config.retain, p.purge_ok) {
            match snapshot::purge(&config.snap_dir, &config.log_dir, retain) {
                Ok(purged) => {
                    for f in purged.snapshots.iter().chain(&purged.segments) {
                        tracing::info!("purged {}", f.display());
                    }
                }
                Err(e) => tracing::error!("purge failed: {e}"),
            }
        }
        Ok::<_, super::StorageError>(published)
    });
    match outcome {
        Some(Ok((path, size))) => {
            tracing::info!(
                "wrote snapshot {} ({} nodes, {} sessions, {size} bytes) in {:?}",
                path.display(),
                p.nodes,
                p.sessions,
                p.started.elapsed(),
            );
            true
        }
        Some(Err(e)) => {
            tracing::error!("snapshot at zxid {zxid} not written: {e}");
            p.file.discard();
            false
        }
        None => {
            tracing::info!(
                "snapshot at zxid {zxid} dropped: the log was truncated or replaced while it \
                 was built"
            );
            p.file.discard();
            false
        }
    }
}

/// Whether the snapshot file at `path` reads back with every crc correct (and, if
/// `records`, every record decoding).
fn reads_back(path: &Path, records: bool) -> bool {
    let check = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|b| {
            if records {
                corral_core::snapshot::visit(&b, &mut |_| Ok(())).map_err(|e| e.to_string())
            } else {
                corral_core::snapshot::check_crcs(&b).map_err(|e| e.to_string())
            }
        });
    match check {
        Ok(_) => true,
        Err(e) => {
            tracing::error!(
                "snapshot {} does not read back ({e}); not purging",
                path.display()
            );
            false
        }
    }
}

#[cfg(test)]
mod tests;
