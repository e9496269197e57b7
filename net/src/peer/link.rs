//! One established peer link: its send queue, bounded in bytes, and the reader and writer
//! that run until the link breaks.
//!
//! The reader and the writer are two futures of one task, raced against each other: when
//! either ends (end of stream, silence, a bad frame, a write that makes no progress, an
//! overflowing queue) the other is dropped with the socket, so a writer stuck on a peer that
//! stopped reading cannot outlive the link. `Connected` is reported before the first
//! message, `Disconnected` after the last, and the slot that `send` uses is emptied before
//! `Disconnected`, so nothing is queued onto a dead link.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use corral_core::types::ServerId;
use corral_core::zab::message::{decode, PeerMessage, MAX_PEER_FRAME};
use tokio::io::{BufReader, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};
use tokio::time::timeout;

use super::frame::{self, ReadError};
use super::{Ctx, PeerEvent};

/// What a queued frame costs beyond its bytes (the `Vec` and channel node), so that a flood
/// of tiny messages is bounded too.
const FRAME_OVERHEAD: usize = 64;

/// Socket buffer sizes in user space.
const IO_BUFFER: usize = 64 << 10;

/// An encoded message waiting for the writer.
struct Queued {
    body: Vec<u8>,
    /// Admitted as the one large frame (see [`LinkTx::push`]); not counted in `waiting`.
    bulk: bool,
}

/// Bytes that `send` has queued and the writer has not taken yet.
#[derive(Default)]
struct QueueState {
    waiting: AtomicUsize,
    bulk_waiting: AtomicBool,
}

impl QueueState {
    /// The writer took `q` off the queue: it no longer counts against the bound.
    fn taken(&self, q: &Queued) {
        if q.bulk {
            self.bulk_waiting.store(false, Ordering::Release);
        } else {
            self.waiting
                .fetch_sub(q.body.len() + FRAME_OVERHEAD, Ordering::AcqRel);
        }
    }
}

/// The sending side of a live link, held in the peer's [`Slot`].
pub(super) struct LinkTx {
    tx: mpsc::UnboundedSender<Queued>,
    queue: Arc<QueueState>,
    /// Ends the link at once (the queue overflowed: what follows must not be sent).
    kill: Arc<Notify>,
    max_queued_bytes: usize,
}

impl LinkTx {
    /// Queue one encoded message. `Err(reason)` means the link must close instead: dropping
    /// this message and sending later ones would leave a hole, which the protocol does not
    /// tolerate, while a broken link is only a delay.
    ///
    /// The queue holds at most `max_queued_bytes` of ordinary frames, plus one large frame
    /// (over a quarter of the bound, in practice a SNAP) that is not counted: a snapshot
    /// larger than the bound must still go out, followed by the proposals of the sync.
    pub(super) fn push(&self, body: Vec<u8>) -> Result<(), String> {
        let n = body.len();
        if n > MAX_PEER_FRAME {
            return Err(format!(
                "a message of {n} bytes is larger than a peer frame may be ({MAX_PEER_FRAME})"
            ));
        }
        let bulk = n > self.max_queued_bytes / 4;
        if bulk {
            if self.queue.bulk_waiting.swap(true, Ordering::AcqRel) {
                return Err(format!(
                    "a second large message ({n} bytes) while another still waits to be sent"
                ));
            }
        } else {
            let cost = n + FRAME_OVERHEAD;
            let waiting = self.queue.waiting.load(Ordering::Acquire);
            if waiting + cost > self.max_queued_bytes {
                return Err(format!(
                    "more than {} bytes waiting to be sent (the peer reads too slowly)",
                    self.max_queued_bytes
                ));
            }
            self.queue.waiting.fetch_add(cost, Ordering::AcqRel);
        }
        // The writer is gone only when the link is ending; the slot is emptied right after.
        let _ = self.tx.send(Queued { body, bulk });
        Ok(())
    }

    /// End the link now, without sending what is still queued.
    pub(super) fn kill(&self) {
        self.kill.notify_one();
    }
}

/// Where `send` finds a peer's live link, if any.
#[derive(Default)]
pub(super) struct Slot {
    link: Mutex<Option<LinkTx>>,
}

impl Slot {
    /// The slot, locked. Only `send` and the link's own task take it, each briefly.
    pub(super) fn lock(&self) -> MutexGuard<'_, Option<LinkTx>> {
        // A panic while holding it cannot leave an Option half-written.
        self.link.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How a link ended.
pub(super) struct Ended {
    /// A newer connection from the same peer that replaced this one.
    pub replacement: Option<TcpStream>,
    /// The event receiver is gone: the whole peer network is shutting down.
    pub stop: bool,
}

enum End {
    /// Worth a warning: the peer misbehaved or the link was unusable.
    Broken(String),
    /// Ordinary: closed by the other side, replaced.
    Closed(String),
    Replaced(TcpStream),
    EventsGone,
}

/// Run a handshaken connection with `peer` until it breaks. `incoming` (acceptor side only)
/// delivers newer connections from the same peer: one replaces the current link, as
/// ZooKeeper keeps the latest connection from a server.
pub(super) async fn run(
    ctx: &Ctx,
    peer: ServerId,
    slot: &Slot,
    stream: TcpStream,
    incoming: Option<&mut mpsc::Receiver<TcpStream>>,
) -> Ended {
    let remote = stream
        .peer_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    let (tx, rx) = mpsc::unbounded_channel();
    let queue = Arc::new(QueueState::default());
    let kill = Arc::new(Notify::new());
    *slot.lock() = Some(LinkTx {
        tx,
        queue: queue.clone(),
        kill: kill.clone(),
        max_queued_bytes: ctx.max_queued_bytes,
    });
    tracing::info!("peer link with server {peer} ({remote}) up");
    let end = if ctx.events.send(PeerEvent::Connected(peer)).await.is_err() {
        End::EventsGone
    } else {
        let (r, w) = stream.into_split();
        tokio::select! {
            e = read_loop(ctx, peer, r) => e,
            e = write_loop(w, rx, queue, ctx.keepalive, ctx.silence) => e,
            _ = kill.notified() => End::Broken("closed to keep the stream whole".to_owned()),
            s = next_connection(incoming) => End::Replaced(s),
        }
    };
    // Emptied before Disconnected: from here on, sends to this peer are dropped.
    let _ = slot.lock().take();
    let mut ended = Ended {
        replacement: None,
        stop: false,
    };
    match end {
        End::Broken(why) => tracing::warn!("peer link with server {peer} ({remote}) down: {why}"),
        End::Closed(why) => tracing::info!("peer link with server {peer} ({remote}) down: {why}"),
        End::Replaced(s) => {
            tracing::info!(
                "peer link with server {peer} ({remote}) replaced by a newer connection"
            );
            ended.replacement = Some(s);
        }
        End::EventsGone => ended.stop = true,
    }
    if !ended.stop
        && ctx
            .events
            .send(PeerEvent::Disconnected(peer))
            .await
            .is_err()
    {
        ended.stop = true;
    }
    ended
}

/// The next connection from `incoming`; never, without one (or once it is closed).
async fn next_connection(incoming: Option<&mut mpsc::Receiver<TcpStream>>) -> TcpStream {
    if let Some(rx) = incoming {
        if let Some(s) = rx.recv().await {
            return s;
        }
    }
    std::future::pending().await
}

async fn read_loop(ctx: &Ctx, peer: ServerId, r: OwnedReadHalf) -> End {
    let mut r = BufReader::with_capacity(IO_BUFFER, r);
    loop {
        let body = match frame::read_frame(&mut r, MAX_PEER_FRAME, ctx.silence).await {
            Ok(Some(body)) => body,
            Ok(None) => continue, // keepalive: its arrival was the point
            Err(e @ (ReadError::Eof | ReadError::Truncated)) => return End::Closed(e.to_string()),
            Err(e) => return End::Broken(e.to_string()),
        };
        let msg = match decode::<PeerMessage>(&body) {
            Ok(m) => m,
            Err(e) => return End::Broken(format!("{e} ({} bytes)", body.len())),
        };
        if ctx
            .events
            .send(PeerEvent::Message(peer, msg))
            .await
            .is_err()
        {
            return End::EventsGone;
        }
    }
}

async fn write_loop(
    w: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Queued>,
    queue: Arc<QueueState>,
    keepalive: Duration,
    silence: Duration,
) -> End {
    let mut w = BufWriter::with_capacity(IO_BUFFER, w);
    loop {
        let written = match timeout(keepalive, rx.recv()).await {
            Ok(Some(q)) => {
                queue.taken(&q);
                frame::write_frame(&mut w, &q.body, silence).await
            }
            Ok(None) => return End::Closed("closed by this server".to_owned()),
            Err(_idle) => frame::write_keepalive(&mut w, silence).await,
        };
        let flushed = match written {
            // Flush once the queue is empty: a burst becomes few large writes.
            Ok(()) if rx.is_empty() => frame::flush(&mut w, silence).await,
            other => other,
        };
        if let Err(e) = flushed {
            return End::Broken(format!("write failed: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link_tx(max_queued_bytes: usize) -> (LinkTx, mpsc::UnboundedReceiver<Queued>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let link = LinkTx {
            tx,
            queue: Arc::new(QueueState::default()),
            kill: Arc::new(Notify::new()),
            max_queued_bytes,
        };
        (link, rx)
    }

    #[test]
    fn ordinary_frames_are_bounded_in_bytes() {
        let (link, mut rx) = link_tx(1000);
        // 3 × (200 + overhead) fit in 1000; a fourth does not.
        for _ in 0..3 {
            link.push(vec![1; 200]).unwrap();
        }
        let err = link.push(vec![1; 200]).unwrap_err();
        assert!(err.contains("1000 bytes waiting"), "{err}");
        // Once the writer takes one, there is room again.
        let q = rx.try_recv().unwrap();
        link.queue.taken(&q);
        link.push(vec![1; 200]).unwrap();
    }

    #[test]
    fn one_large_frame_may_wait_beside_the_bound() {
        let (link, mut rx) = link_tx(1000);
        link.push(vec![2; 5000]).unwrap();
        // The sync that follows a snapshot still fits.
        for _ in 0..3 {
            link.push(vec![1; 200]).unwrap();
        }
        let err = link.push(vec![3; 300]).unwrap_err();
        assert!(err.contains("second large message"), "{err}");
        let q = rx.try_recv().unwrap();
        assert!(q.bulk);
        link.queue.taken(&q);
        link.push(vec![3; 300]).unwrap();
    }

    #[test]
    fn a_frame_over_the_protocol_limit_is_refused() {
        let (link, _rx) = link_tx(MAX_PEER_FRAME);
        // Zeroed memory is mapped lazily: this does not touch a gigabyte.
        let err = link.push(vec![0; MAX_PEER_FRAME + 1]).unwrap_err();
        assert!(err.contains("larger than a peer frame"), "{err}");
    }
}
