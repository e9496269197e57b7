//! The snapshot thread: builds each requested snapshot from the previous snapshot plus the
//! log (never from the live tree, so the server keeps serving), writes it atomically, and
//! purges old snapshots and log segments when autopurge is on.
//!
//! A failed snapshot is not fatal: the log still holds every txn, so the server goes on and
//! reports the failure; the next request tries again.

use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Instant;

use corral_core::server::PersistToken;
use corral_core::types::Zxid;
use tokio::sync::mpsc;

use super::snapshot;
use super::writer::Completion;

/// Where snapshots go and what to keep.
#[derive(Clone, Debug)]
pub struct CompactorConfig {
    pub snap_dir: PathBuf,
    pub log_dir: PathBuf,
    /// Snapshots to keep when purging (`autopurge.snapRetainCount`); `None`: never purge.
    pub retain: Option<usize>,
}

/// Handle on the snapshot thread.
pub struct Compactor {
    tx: Option<std::sync::mpsc::Sender<(PersistToken, Zxid)>>,
    handle: Option<JoinHandle<()>>,
}

impl Compactor {
    /// Start the thread; each finished request is reported on `done` as
    /// `Completion::Snapshot`.
    pub fn spawn(
        config: CompactorConfig,
        done: mpsc::UnboundedSender<Completion>,
    ) -> std::io::Result<Compactor> {
        let (tx, rx) = std::sync::mpsc::channel::<(PersistToken, Zxid)>();
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
                while let Ok((token, zxid)) = rx.recv() {
                    // A panic must not leave the core waiting for this snapshot forever (it
                    // would never ask again, and purge would stop with it).
                    let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        take_snapshot(&config, zxid)
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

    /// Ask for a snapshot as of `zxid` (which must be durable in the log).
    pub fn request(&self, token: PersistToken, zxid: Zxid) -> bool {
        self.tx
            .as_ref()
            .is_some_and(|tx| tx.send((token, zxid)).is_ok())
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

/// Build, write and (maybe) purge; false if the snapshot could not be written.
pub fn take_snapshot(config: &CompactorConfig, zxid: Zxid) -> bool {
    let start = Instant::now();
    let image = match snapshot::build_image(&config.snap_dir, &config.log_dir, zxid) {
        Ok(i) => i,
        Err(e) => {
            tracing::error!("snapshot at zxid {zxid} not taken: {e}");
            return false;
        }
    };
    let built = start.elapsed();
    match snapshot::write(&config.snap_dir, &image) {
        Ok((path, size)) => tracing::info!(
            "wrote snapshot {} ({} nodes, {} sessions, {size} bytes) in {:?} (build {:?})",
            path.display(),
            image.tree.len(),
            image.sessions.len(),
            start.elapsed(),
            built
        ),
        Err(e) => {
            tracing::error!("snapshot at zxid {zxid} not written: {e}");
            return false;
        }
    }
    drop(image);
    if let Some(retain) = config.retain {
        // Purge trusts the newest snapshots to replace the log it deletes: read the new
        // file back (every crc) before deleting anything on its strength.
        let path = config.snap_dir.join(snapshot::snapshot_name(zxid));
        let check = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                corral_core::snapshot::visit(&b, &mut |_| Ok(())).map_err(|e| e.to_string())
            });
        if let Err(e) = check {
            tracing::error!(
                "snapshot {} does not read back ({e}); not purging",
                path.display()
            );
            return true;
        }
        match snapshot::purge(&config.snap_dir, &config.log_dir, retain) {
            Ok(p) => {
                for f in p.snapshots.iter().chain(&p.segments) {
                    tracing::info!("purged {}", f.display());
                }
            }
            Err(e) => tracing::error!("purge failed: {e}"),
        }
    }
    true
}
