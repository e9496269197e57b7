//! The rewrite gate: orders the log thread's rewrites of stored history (Truncate,
//! InstallSnapshot) against the snapshot thread publishing a snapshot and purging.
//!
//! The rule, kept simple on purpose:
//! - a rewrite runs with the gate held, and bumps the generation before it changes anything;
//! - the snapshot thread notes the generation before it reads anything, and publishes (renames
//!   its file into place, then purges) with the gate held and only if the generation is still
//!   the one it noted. Otherwise the snapshots and log it built from may have changed under
//!   it, so it drops its file and reports `written: false`; the core asks again later.
//!
//! Appends never take the gate: a snapshot is built only from records up to a zxid already
//! durable, and appends only add records after the last one. So a published snapshot was
//! built from exactly the history the log held when it was published, and a rewrite never
//! sees a snapshot or a purge half done.

use std::sync::{Mutex, PoisonError};

/// Shared by the log thread and the snapshot thread (in an `Arc`).
#[derive(Debug, Default)]
pub struct RewriteGate {
    generation: Mutex<u64>,
}

impl RewriteGate {
    /// The number of rewrites started so far.
    pub fn generation(&self) -> u64 {
        *self.lock()
    }

    /// Run a rewrite of the log or snapshots: no snapshot is published or purge runs
    /// meanwhile, and any snapshot being built now will not be published.
    pub fn rewrite<T>(&self, f: impl FnOnce() -> T) -> T {
        let mut generation = self.lock();
        *generation += 1;
        f()
    }

    /// Run `f` (publish and purge) only if no rewrite started since `seen` was read;
    /// `None` if one did.
    pub fn publish<T>(&self, seen: u64, f: impl FnOnce() -> T) -> Option<T> {
        let generation = self.lock();
        (*generation == seen).then(f)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, u64> {
        // A panic while the gate was held leaves nothing half-updated in the counter itself;
        // the files are checked by whoever reads them next.
        self.generation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewrite_after_the_snapshot_started_blocks_its_publication() {
        let gate = RewriteGate::default();
        let seen = gate.generation();
        assert_eq!(gate.publish(seen, || 7), Some(7));
        gate.rewrite(|| ());
        assert_eq!(gate.publish(seen, || 7), None);
        let again = gate.generation();
        assert_eq!(gate.publish(again, || 8), Some(8));
    }
}
