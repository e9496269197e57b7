//! The server driver's storage queue: the core's storage outputs carried out on the
//! simulated disk strictly in the order issued, each acknowledged with its token once
//! durable.
//!
//! - `Persist` appends go to the disk's unsynced tail at once (when nothing unfinished is
//!   ahead of them) and join a group commit: one fsync in flight at a time, taking a
//!   seeded delay, covers everything written before it started.
//! - `Truncate`, `InstallSnapshot` and `SaveEpochs` are barriers: each starts only when
//!   everything before it is durable, takes a seeded delay, and then happens atomically
//!   (a crash before that leaves the old state). Appends issued after a barrier wait for it.
//!
//! A crash loses the queue (it lives in the driver); the controller crashes the disk.

use std::collections::VecDeque;
use std::time::Duration;

use corral_core::server::{AcceptedEpoch, LogEntry, PersistToken};
use corral_core::types::{Epoch, Zxid};
use tokio::time::Instant;

use super::ServerBug;
use crate::disk::DiskSet;
use crate::rng::Rng;

/// An operation that waits for everything before it and happens atomically.
#[derive(Debug)]
pub enum Barrier {
    Truncate(Zxid),
    Install {
        zxid: Zxid,
        bytes: Vec<u8>,
        /// The sending leader's history up to `zxid` (checkers only).
        provenance: Vec<LogEntry>,
    },
    Epochs {
        accepted: Option<AcceptedEpoch>,
        current: Option<Epoch>,
    },
}

#[derive(Debug)]
enum Kind {
    /// Entries to append; `end` is the disk offset after them once written.
    Append {
        entries: Vec<LogEntry>,
        end: Option<usize>,
    },
    Barrier(Barrier),
}

#[derive(Debug)]
struct Item {
    token: PersistToken,
    kind: Kind,
}

#[derive(Clone, Copy, Debug)]
enum Busy {
    /// An fsync making everything before this offset durable.
    Fsync(usize),
    /// The barrier at the front of the queue.
    Barrier,
}

/// What happened when an operation completed, for the trace and the checkers.
#[derive(Debug, Default)]
pub struct Completion {
    /// The token to acknowledge (`persisted`), if any.
    pub ack: Option<PersistToken>,
    /// Trace lines.
    pub notes: Vec<String>,
    /// The disk refused an operation.
    pub errors: Vec<String>,
}

/// See the module docs.
pub struct Storage {
    name: String,
    disks: DiskSet,
    bug: Option<ServerBug>,
    fsync_ms: (u64, u64),
    slow_percent: u32,
    items: VecDeque<Item>,
    /// Leading items that are appends already written to the unsynced tail.
    written: usize,
    busy: Option<(Instant, Busy)>,
}

impl Storage {
    pub fn new(
        name: String,
        disks: DiskSet,
        bug: Option<ServerBug>,
        fsync_ms: (u64, u64),
        slow_percent: u32,
    ) -> Storage {
        Storage {
            name,
            disks,
            bug,
            fsync_ms,
            slow_percent,
            items: VecDeque::new(),
            written: 0,
            busy: None,
        }
    }

    /// Operations issued and not yet durable.
    pub fn pending(&self) -> usize {
        self.items.len()
    }

    /// Appends among them.
    pub fn pending_appends(&self) -> usize {
        self.items
            .iter()
            .filter(|i| matches!(i.kind, Kind::Append { .. }))
            .count()
    }

    /// When the operation in progress completes.
    pub fn deadline(&self) -> Option<Instant> {
        self.busy.map(|(at, _)| at)
    }

    /// Queue an append.
    pub fn append(&mut self, token: PersistToken, entries: Vec<LogEntry>) {
        self.items.push_back(Item {
            token,
            kind: Kind::Append { entries, end: None },
        });
    }

    /// Queue a barrier.
    pub fn barrier(&mut self, token: PersistToken, b: Barrier) {
        self.items.push_back(Item {
            token,
            kind: Kind::Barrier(b),
        });
    }

    fn delay(&self, rng: &mut Rng, factor: u64) -> Duration {
        let (lo, hi) = self.fsync_ms;
        let mut ms = rng.range(lo as i64, hi as i64) as u64;
        if rng.chance(self.slow_percent) {
            ms *= 10;
        }
        Duration::from_millis(ms * factor)
    }

    /// Write what may be written and start the next fsync or barrier. Returns tokens to
    /// acknowledge at once (only with the planted ack-before-fsync bug).
    pub fn pump(&mut self, rng: &mut Rng) -> Vec<PersistToken> {
        let mut early = Vec::new();
        while let Some(item) = self.items.get_mut(self.written) {
            let Kind::Append { entries, end } = &mut item.kind else {
                break;
            };
            let written = self.disks.with(&self.name, |d| {
                for e in entries.iter() {
                    d.append(e);
                }
                d.written()
            });
            *end = Some(written);
            entries.clear();
            if self.bug == Some(ServerBug::AckBeforeFsync) {
                early.push(item.token);
            }
            self.written += 1;
        }
        if self.busy.is_none() {
            if self.written > 0 {
                let upto = self.disks.with(&self.name, |d| d.written());
                let at = Instant::now() + self.delay(rng, 1);
                self.busy = Some((at, Busy::Fsync(upto)));
            } else if matches!(
                self.items.front(),
                Some(Item {
                    kind: Kind::Barrier(_),
                    ..
                })
            ) {
                let factor = match &self.items[0].kind {
                    Kind::Barrier(Barrier::Install { .. }) => 3,
                    _ => 1,
                };
                let at = Instant::now() + self.delay(rng, factor);
                self.busy = Some((at, Busy::Barrier));
            }
        }
        early
    }

    /// The operation in progress is done (its deadline passed): make it durable. Call
    /// `pump` afterwards.
    pub fn complete(&mut self) -> Completion {
        let (_, busy) = self.busy.take().expect("an operation in progress");
        let mut c = Completion::default();
        match busy {
            Busy::Fsync(upto) => {
                if self.bug != Some(ServerBug::LyingFsync) {
                    self.disks.with(&self.name, |d| d.sync_to(upto));
                }
                while let Some(Item {
                    token,
                    kind: Kind::Append { end: Some(end), .. },
                }) = self.items.front()
                {
                    if *end > upto {
                        break;
                    }
                    c.ack = Some(*token);
                    self.items.pop_front();
                    self.written -= 1;
                }
                if let Some(t) = c.ack {
                    c.notes
                        .push(format!("fsync to {upto}: durable through token{}", t.0));
                }
            }
            Busy::Barrier => {
                let item = self.items.pop_front().expect("the barrier");
                let Kind::Barrier(b) = item.kind else {
                    unreachable!("busy with a barrier at the front")
                };
                c.ack = Some(item.token);
                self.apply(b, &mut c);
            }
        }
        c
    }

    fn apply(&mut self, b: Barrier, c: &mut Completion) {
        let skip_trunc = self.bug == Some(ServerBug::SkipTrunc);
        let r = self.disks.with(&self.name, |d| match b {
            Barrier::Truncate(after) if skip_trunc => {
                Ok(format!("truncate after {after}: skipped (planted bug)"))
            }
            Barrier::Truncate(after) => d
                .truncate_after(after)
                .map(|n| format!("truncate after {after}: {n} entries removed")),
            Barrier::Install {
                zxid,
                bytes,
                provenance,
            } => {
                let size = bytes.len();
                d.install_snapshot(zxid, bytes, provenance)
                    .map(|()| format!("install snapshot at {zxid} ({size} bytes)"))
            }
            Barrier::Epochs { accepted, current } => d.save_epochs(accepted, current).map(|()| {
                format!(
                    "epochs saved: accepted {:?} current {:?}",
                    accepted.map(|a| a.epoch.0),
                    current.map(|e| e.0)
                )
            }),
        });
        match r {
            Ok(note) => c.notes.push(note),
            Err(e) => c.errors.push(e),
        }
    }
}
