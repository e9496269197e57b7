//! Group commit: a dedicated thread appends every batch queued so far, fsyncs once, and
//! reports the covered tokens back in order.
//!
//! The driver submits one `Batch` per core `Output::Persist` over an unbounded channel; the
//! number in flight is bounded by the core itself (globalOutstandingLimit caps the requests
//! that can be waiting for durability). A failure is fail-stop: the thread reports it once
//! and exits, so nothing after it is ever acknowledged.

use std::thread::JoinHandle;

use corral_core::server::PersistToken;
use tokio::sync::mpsc;

use super::log::LogWriter;
use super::StorageError;

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
    tx: Option<mpsc::UnboundedSender<Batch>>,
    handle: Option<JoinHandle<()>>,
}

impl LogThread {
    /// Start the thread; completions go to `done`.
    pub fn spawn(
        writer: LogWriter,
        done: mpsc::UnboundedSender<Completion>,
    ) -> std::io::Result<LogThread> {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = std::thread::Builder::new()
            .name("corral-log".into())
            .spawn(move || run(writer, rx, done))?;
        Ok(LogThread {
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    /// Queue a batch. Fails (returning it) once the thread has stopped.
    pub fn submit(&self, batch: Batch) -> Result<(), Batch> {
        match &self.tx {
            Some(tx) => tx.send(batch).map_err(|e| e.0),
            None => Err(batch),
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
    mut rx: mpsc::UnboundedReceiver<Batch>,
    done: mpsc::UnboundedSender<Completion>,
) {
    let mut carry: Option<Batch> = None;
    loop {
        let first = match carry.take() {
            Some(b) => b,
            None => match rx.blocking_recv() {
                Some(b) => b,
                None => return,
            },
        };
        // Take whatever else is already queued, up to the group bounds.
        let mut group = vec![first];
        let mut bytes: usize = group[0].payloads.iter().map(Vec::len).sum();
        while group.len() < MAX_GROUP_BATCHES && bytes < MAX_GROUP_BYTES {
            match rx.try_recv() {
                Ok(b) => {
                    let n: usize = b.payloads.iter().map(Vec::len).sum();
                    if bytes + n > MAX_GROUP_BYTES {
                        carry = Some(b);
                        break;
                    }
                    bytes += n;
                    group.push(b);
                }
                Err(_) => break,
            }
        }
        match write_group(&mut writer, &group) {
            Ok(()) => {
                let tokens = group.iter().map(|b| b.token).collect();
                if done.send(Completion::Durable(tokens)).is_err() {
                    return;
                }
            }
            Err(e) => {
                // Refuse further batches before reporting, so that once the failure is
                // seen nothing can still be queued behind it (fail-stop).
                rx.close();
                let _ = done.send(Completion::Failed(e));
                return;
            }
        }
    }
}

fn write_group(writer: &mut LogWriter, group: &[Batch]) -> Result<(), StorageError> {
    for b in group {
        for p in &b.payloads {
            writer.append(p)?;
        }
    }
    writer.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::log;

    fn payload(zxid: i64) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[12..20].copy_from_slice(&zxid.to_be_bytes());
        p
    }

    #[test]
    fn batches_complete_in_order_and_are_durable() {
        let tmp = tempfile::tempdir().unwrap();
        let rec = log::recover(tmp.path(), &mut |_, _| Ok(())).unwrap();
        let w = LogWriter::open(tmp.path(), &rec, 1 << 20, true).unwrap();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        let t = LogThread::spawn(w, done_tx).unwrap();
        for i in 0..50u64 {
            let z = 2 * i as i64 + 1;
            let batch = Batch {
                token: PersistToken(i),
                payloads: vec![payload(z), payload(z + 1)],
            };
            t.submit(batch).unwrap();
        }
        let mut seen = Vec::new();
        while seen.len() < 50 {
            match done_rx.blocking_recv() {
                Some(Completion::Durable(tokens)) => seen.extend(tokens),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(seen, (0..50).map(PersistToken).collect::<Vec<_>>());
        t.shutdown();
        let mut n = 0;
        log::recover(tmp.path(), &mut |_, _| {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 100);
    }

    #[test]
    fn a_failed_write_is_reported_once_and_stops_the_thread() {
        let tmp = tempfile::tempdir().unwrap();
        let rec = log::recover(tmp.path(), &mut |_, _| Ok(())).unwrap();
        let w = LogWriter::open(tmp.path(), &rec, 1 << 20, true).unwrap();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        let t = LogThread::spawn(w, done_tx).unwrap();
        t.submit(Batch {
            token: PersistToken(1),
            payloads: vec![payload(5)],
        })
        .unwrap();
        // A gap: refused, fail-stop.
        t.submit(Batch {
            token: PersistToken(2),
            payloads: vec![payload(9)],
        })
        .unwrap();
        let mut got = Vec::new();
        while let Some(c) = done_rx.blocking_recv() {
            got.push(c);
        }
        assert!(
            matches!(&got[0], Completion::Durable(t) if t == &[PersistToken(1)])
                || matches!(&got[0], Completion::Failed(_))
        );
        assert!(matches!(
            got.last(),
            Some(Completion::Failed(StorageError::BadEntry(_)))
        ));
        assert!(t
            .submit(Batch {
                token: PersistToken(3),
                payloads: vec![]
            })
            .is_err());
    }
}
