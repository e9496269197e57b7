//! One client connection: a reader task (framing, four-letter words, backpressure) and a
//! writer task (coalescing queued frames into few write syscalls).
//!
//! The reader owns the connection's life: it reports `Opened` once it knows the connection
//! speaks the binary protocol, and exactly one `Closed` when it ends, whoever ended it (peer
//! EOF, a bad frame, the core's `Close`, a write error).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use corral_core::types::ConnId;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Notify};

use super::{Event, FourLetterReply, Shell};
use crate::fourlw::{self, Opening};

/// Output queued for a connection beyond which the reader stops reading requests from it
/// (ZooKeeper stops reading from a connection whose replies are not being consumed).
pub const READ_PAUSE_BYTES: usize = 4 << 20;
/// Output queued for a connection beyond which it is dropped (a client that never reads).
pub const MAX_QUEUED_BYTES: usize = 64 << 20;
/// Most bytes gathered into one write syscall (a single larger frame is written whole).
const COALESCE_BYTES: usize = 256 << 10;
/// How long a new connection may take to send its first 4 bytes (ZooKeeper's
/// `sessionlessCnxnTimeout` default).
pub const FIRST_BYTES_TIMEOUT: Duration = Duration::from_secs(10);
/// A write that makes no progress for this long drops the connection: a client that stops
/// reading must not hold its socket (and its queued output) forever, nor keep a `Close`
/// from the core waiting behind a blocked write.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for the peer to close after a four-letter-word answer.
const LINGER: Duration = Duration::from_secs(2);

/// A message for the writer task.
#[derive(Debug)]
pub enum WriteMsg {
    Bytes(Vec<u8>),
    /// Flush everything before this, then shut the socket down.
    Close,
}

/// What the core task holds for a connection.
#[derive(Debug)]
pub struct ConnOut {
    pub tx: mpsc::UnboundedSender<WriteMsg>,
    pub flow: Arc<Flow>,
    /// The core asked to close it (or it overflowed): further output is dropped.
    pub closing: bool,
}

impl ConnOut {
    /// Queue bytes; false if the connection must be dropped (queue over its bound).
    pub fn send(&mut self, bytes: Vec<u8>) -> bool {
        if self.closing {
            return true;
        }
        let n = bytes.len();
        if self.flow.queued.load(Ordering::Acquire) + n > MAX_QUEUED_BYTES {
            return false;
        }
        self.flow.queued.fetch_add(n, Ordering::AcqRel);
        if self.tx.send(WriteMsg::Bytes(bytes)).is_err() {
            self.flow.queued.fetch_sub(n, Ordering::AcqRel);
        }
        true
    }

    /// Ask the writer to flush and close.
    pub fn close(&mut self) {
        if !self.closing {
            self.closing = true;
            let _ = self.tx.send(WriteMsg::Close);
        }
    }
}

/// Output accounting shared by the core task, the writer and the reader.
#[derive(Debug, Default)]
pub struct Flow {
    queued: AtomicUsize,
    drained: Notify,
}

/// Serve one accepted connection until it closes.
pub async fn run(stream: TcpStream, conn: ConnId, remote: SocketAddr, shell: Arc<Shell>) {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let mut rd = BufReader::with_capacity(64 << 10, rd);
    let mut first = [0u8; 4];
    match tokio::time::timeout(FIRST_BYTES_TIMEOUT, rd.read_exact(&mut first)).await {
        Ok(Ok(_)) => {}
        _ => return,
    }
    match fourlw::classify(first) {
        Opening::TelnetClose => {}
        Opening::Command(cmd) => four_letter(cmd, rd, wr, remote, &shell).await,
        Opening::Frame => frames(first, rd, wr, conn, remote, shell).await,
    }
}

async fn frames<R: AsyncRead + Unpin>(
    first: [u8; 4],
    mut rd: R,
    wr: OwnedWriteHalf,
    conn: ConnId,
    remote: SocketAddr,
    shell: Arc<Shell>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let flow = Arc::new(Flow::default());
    let mut writer = tokio::spawn(write_loop(wr, rx, flow.clone()));
    let out = ConnOut {
        tx,
        flow: flow.clone(),
        closing: false,
    };
    if shell
        .events
        .send(Event::Opened { conn, remote, out })
        .await
        .is_err()
    {
        writer.abort();
        return;
    }
    let max = shell.config.server.max_buffer;
    let mut len_bytes = Some(first);
    'conn: loop {
        // Backpressure: do not read more requests while replies pile up unread.
        while flow.queued.load(Ordering::Acquire) > READ_PAUSE_BYTES {
            tokio::select! {
                _ = flow.drained.notified() => {}
                _ = &mut writer => break 'conn,
            }
        }
        let frame = tokio::select! {
            f = read_frame(&mut rd, len_bytes.take(), max) => f,
            _ = &mut writer => break 'conn,
        };
        let Some(payload) = frame else { break };
        if shell
            .events
            .send(Event::Frame { conn, payload })
            .await
            .is_err()
        {
            break;
        }
    }
    writer.abort();
    let _ = shell.events.send(Event::Closed { conn }).await;
}

/// Read one frame; `None` on EOF, error, or a length outside `0..=max` (ZooKeeper closes
/// such connections without a reply).
async fn read_frame<R: AsyncRead + Unpin>(
    rd: &mut R,
    len_bytes: Option<[u8; 4]>,
    max: usize,
) -> Option<Vec<u8>> {
    let len_bytes = match len_bytes {
        Some(b) => b,
        None => {
            let mut b = [0u8; 4];
            rd.read_exact(&mut b).await.ok()?;
            b
        }
    };
    let len = i32::from_be_bytes(len_bytes);
    if len < 0 || len as usize > max {
        tracing::debug!("closing connection: frame length {len} outside 0..={max}");
        return None;
    }
    let mut payload = vec![0u8; len as usize];
    rd.read_exact(&mut payload).await.ok()?;
    Some(payload)
}

async fn write_loop(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<WriteMsg>,
    flow: Arc<Flow>,
) {
    let mut buf: Vec<u8> = Vec::new();
    while let Some(msg) = rx.recv().await {
        let mut close = false;
        let mut next = Some(msg);
        while let Some(m) = next.take() {
            match m {
                WriteMsg::Bytes(b) => {
                    if buf.is_empty() {
                        buf = b;
                    } else {
                        buf.extend_from_slice(&b);
                    }
                }
                WriteMsg::Close => {
                    close = true;
                    break;
                }
            }
            if buf.len() < COALESCE_BYTES {
                next = rx.try_recv().ok();
            }
        }
        if !buf.is_empty() {
            let n = buf.len();
            match tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(&buf)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return,
                Err(_) => {
                    tracing::warn!(
                        "dropping a connection that has not read its replies for {WRITE_TIMEOUT:?}"
                    );
                    return;
                }
            }
            buf.clear();
            flow.queued.fetch_sub(n, Ordering::AcqRel);
            flow.drained.notify_one();
        }
        if close {
            let _ = wr.shutdown().await;
            return;
        }
    }
}

async fn four_letter<R: AsyncRead + Unpin>(
    cmd: &'static str,
    mut rd: R,
    mut wr: OwnedWriteHalf,
    remote: SocketAddr,
    shell: &Shell,
) {
    let text = if !shell.config.whitelist.allows(cmd) {
        fourlw::refusal(cmd)
    } else {
        if cmd == "stmk" {
            let mut mask = [0u8; 8];
            match tokio::time::timeout(FIRST_BYTES_TIMEOUT, rd.read_exact(&mut mask)).await {
                Ok(Ok(_)) => shell
                    .trace_mask
                    .store(i64::from_be_bytes(mask), Ordering::Relaxed),
                _ => return,
            }
        }
        let (reply, rx) = oneshot::channel();
        if shell
            .events
            .send(Event::FourLetter { reply })
            .await
            .is_err()
        {
            return;
        }
        let Ok(snapshot) = rx.await else { return };
        render(cmd, snapshot, remote, shell).await
    };
    if wr.write_all(text.as_bytes()).await.is_err() {
        return;
    }
    let _ = wr.shutdown().await;
    // Let the client read the answer and close first: closing with its unread bytes (the
    // newline of `echo ruok | nc`) still queued would reset the connection.
    let mut sink = [0u8; 512];
    let _ = tokio::time::timeout(LINGER, async {
        let mut budget: usize = 64 << 10;
        while budget > 0 {
            match rd.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => budget = budget.saturating_sub(n),
            }
        }
    })
    .await;
}

async fn render(
    cmd: &'static str,
    snap: FourLetterReply,
    remote: SocketAddr,
    shell: &Shell,
) -> String {
    let (data_dir, log_dir) = (shell.snap_dir.clone(), shell.log_dir.clone());
    let (data_dir_size, log_dir_size) = if matches!(cmd, "conf" | "dirs" | "mntr") {
        tokio::task::spawn_blocking(move || {
            (
                crate::storage::dir_size(&data_dir),
                crate::storage::dir_size(&log_dir),
            )
        })
        .await
        .unwrap_or((0, 0))
    } else {
        (0, 0)
    };
    let ctx = fourlw::Context {
        config: &shell.config,
        stats: &snap.stats,
        serving: snap.serving,
        now_ms: snap.now.0,
        uptime_ms: shell.started.elapsed().as_millis() as i64,
        own_remote: remote,
        data_dir_size,
        log_dir_size,
        trace_mask: shell.trace_mask.load(Ordering::Relaxed),
    };
    fourlw::render(cmd, &ctx)
}
