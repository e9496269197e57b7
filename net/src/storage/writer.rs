//! The log thread: carries out the core's storage requests (appends, truncations, snapshot
//! installs, epoch saves) one after another in the order issued, and reports their tokens
//! durable in that order.
//!
//! Consecutive appends are folded into one group: everything queued so far is appended and
//! fsynced once (group commit). Any other request ends the group; it runs after the group
//! is durable, and the next group starts after it. That one queue is what gives ZAB its
//! "log, then epoch, then ACK" order: a token is reported only after every earlier request
//! is durable.
//!
//! The driver submits one `Request` per core output over an unbounded channel; the number
//! in flight is bounded by the core itself (globalOutstandingLimit caps the requests that can
//! be waiting for durability). A failure is fail-stop: the thread reports it once and exits,
//! so nothing after it is ever acknowledged.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use corral_core::server::{AcceptedEpoch, PersistToken};
use corral_core::types::{Epoch, Zxid};
use tokio::sync::mpsc;

use super::gate::RewriteGate;
use super::log::LogWriter;
use super::{epoch, install, snapshot, StorageError};

/// Most batches folded into one fsync.
pub const MAX_GROUP_BATCHES: usize = 4096;
/// Most payload bytes folded into one fsync (a batch is never split).
pub const MAX_GROUP_BYTES: usize = 16 << 20;

/// Entries to make durable, already encoded (`LogEntry::to_bytes`).
#[derive(Debug)]
pub struct Batch {
    pub token: PersistToken,
    pub payloads: Vec<Vec<u8>>,
}

/// One storage request of the core, carried out in submission order.
#[derive(Debug)]
pub enum Request {
    /// `Output::Persist`: append and fsync.
    Append(Batch),
    /// `Output::Truncate`: remove every record after `after` (see `log::TruncatePlan`).
    Truncate { token: PersistToken, after: Zxid },
    /// `Output::InstallSnapshot`: make this snapshot the whole state (see `install`).
    InstallSnapshot {
        token: PersistToken,
        zxid: Zxid,
        bytes: Vec<u8>,
    },
    /// `Output::SaveEpochs`: replace the epoch files (see `epoch`).
    SaveEpochs {
        token: PersistToken,
        accepted: Option<AcceptedEpoch>,
        current: Option<Epoch>,
    },
}

impl Request {
    /// The token reported when this request is durable.
    pub fn token(&self) -> PersistToken {
        match self {
            Request::Append(b) => b.token,
            Request::Truncate { token, .. }
            | Request::InstallSnapshot { token, .. }
            | Request::SaveEpochs { token, .. } => *token,
        }
    }
}

impl From<Batch> for Request {
    fn from(b: Batch) -> Request {
        Request::Append(b)
    }
}

/// What the log thread needs besides the log: where snapshots and epoch files live, and the
/// gate it holds while rewriting history (shared with the snapshot thread).
#[derive(Clone, Debug)]
pub struct Stores {
    /// `<dataDir>/version-2`: snapshots, markers, epoch files.
    pub snap_dir: PathBuf,
    pub gate: Arc<RewriteGate>,
}

/// What the log thread reports.
#[derive(Debug)]
pub enum Completion {
    /// These tokens are durable, in submission order.
    Durable(Vec<PersistToken>),
    /// Writing failed; nothing more will be written.
    Failed(StorageError),
    /// The snapshot thread finished a request (see `compactor`).
    Snapshot {
        token: PersistToken,
        zxid: corral_core::types::Zxid,
        written: bool,
    },
}

/// Handle on the log thread.
pub struct LogThread {
    tx: Option<mpsc::UnboundedSender<Request>>,
    handle: Option<JoinHandle<()>>,
}

impl LogThread {
    /// Start the thread; completions go to `done`.
    pub fn spawn(
        writer: LogWriter,
        stores: Stores,
        done: mpsc::UnboundedSender<Completion>,
    ) -> std::io::Result<LogThread> {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = std::thread::Builder::new()
            .name("corral-log".into())
            .spawn(move || run(writer, stores, rx, done))?;
        Ok(LogThread {
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    /// Queue a request. Fails (returning it) once the thread has stopped.
    pub fn submit(&self, request: impl Into<Request>) -> Result<(), Request> {
        let request = request.into();
        match &self.tx {
            Some(tx) => tx.send(request).map_err(|e| e.0),
            None => Err(request),
        }
    }

    /// Let the thread finish what is queued, then wait for it.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.tx.take();
        if let Some(h) = self.handle.take() {
            if h.join().is_err() {
                tracing::error!("log thread panicked");
            }
        }
    }
}

impl Drop for LogThread {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(
    mut writer: LogWriter,
    stores: Stores,
    mut rx: mpsc::UnboundedReceiver<Request>,
    done: mpsc::UnboundedSender<Completion>,
) {
    let mut carry: Option<Request> = None;
    loop {
        let first = match carry.take() {
            Some(r) => r,
            None => match rx.blocking_recv() {
                Some(r) => r,
                None => return,
            },
        };
        let result = match first {
            Request::Append(batch) => {
                let group = gather(batch, &mut rx, &mut carry);
                write_group(&mut writer, &group).map(|()| group.iter().map(|b| b.token).collect())
            }
            other => rewrite(&mut writer, &stores, &other).map(|()| vec![other.token()]),
        };
        match result {
            Ok(tokens) => {
                if done.send(Completion::Durable(tokens)).is_err() {
                    return;
                }
            }
            Err(e) => {
                // Refuse further requests before reporting, so that once the failure is
                // seen nothing can still be queued behind it (fail-stop).
                rx.close();
                let _ = done.send(Completion::Failed(e));
                return;
            }
        }
    }
}

/// `first` and the appends queued right behind it, up to the group bounds. The first
/// request that cannot join (another kind, or too big) is left in `carry`.
fn gather(
    first: Batch,
    rx: &mut mpsc::UnboundedReceiver<Request>,
    carry: &mut Option<Request>,
) -> Vec<Batch> {
    let mut bytes: usize = first.payloads.iter().map(Vec::len).sum();
    let mut group = vec![first];
    while group.len() < MAX_GROUP_BATCHES && bytes < MAX_GROUP_BYTES {
        match rx.try_recv() {
            Ok(Request::Append(b)) => {
                let n: usize = b.payloads.iter().map(Vec::len).sum();
                if bytes + n > MAX_GROUP_BYTES {
                    *carry = Some(Request::Append(b));
                    break;
                }
                bytes += n;
                group.push(b);
            }
            Ok(other) => {
                *carry = Some(other);
                break;
            }
            Err(_) => break,
        }
    }
    group
}

fn write_group(writer: &mut LogWriter, group: &[Batch]) -> Result<(), StorageError> {
    for b in group {
        for p in &b.payloads {
            writer.append(p)?;
        }
    }
    writer.commit()
}

/// Carry out one request other than an append. Appends before it are already durable.
fn rewrite(writer: &mut LogWriter, stores: &Stores, request: &Request) -> Result<(), StorageError> {
    match request {
        Request::Append(_) => Err(StorageError::BadEntry(
            "an append reached the rewrite path".into(),
        )),
        Request::Truncate { after, .. } => stores
            .gate
            .rewrite(|| truncate(writer, &stores.snap_dir, *after)),
        Request::InstallSnapshot { zxid, bytes, .. } => stores.gate.rewrite(|| {
            writer.commit()?;
            install::install(&stores.snap_dir, writer.dir(), *zxid, bytes)?;
            writer.restart_after(*zxid)
        }),
        Request::SaveEpochs {
            accepted, current, ..
        } => epoch::save(&stores.snap_dir, *accepted, *current),
    }
}

/// Truncate after `after`, never below the newest snapshot. If no record is left, the
/// marker saying the log starts after the newest snapshot is made durable first, so that a
/// crash at any point leaves a state recovery accepts.
fn truncate(
    writer: &mut LogWriter,
    snap_dir: &std::path::Path,
    after: Zxid,
) -> Result<(), StorageError> {
    let floor = snapshot::list(snap_dir)?
        .last()
        .map_or(Zxid::ZERO, |(z, _)| *z);
    let plan = writer.plan_truncate(after, floor)?;
    if plan.empties && floor > Zxid::ZERO {
        snapshot::write_log_start_marker(snap_dir, floor)?;
    }
    writer.apply_truncate(&plan)
}

#[cfg(test)]
mod tests;
