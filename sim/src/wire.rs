//! Moving frames over turmoil TCP streams: a reader task that splits the byte stream into
//! frames (4-byte big-endian length, then payload) and a writer task fed by an unbounded
//! channel, so that the task driving a state machine never blocks on the network (a
//! partitioned turmoil stream stops accepting writes for good).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use turmoil::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// What a reader task reports.
#[derive(Debug)]
pub enum Inbound {
    /// One frame payload, length prefix removed.
    Frame(Vec<u8>),
    /// The stream ended: EOF, reset, or a length outside `0..=max_len`.
    Closed(&'static str),
}

/// What a writer task is asked to do.
#[derive(Debug)]
pub enum Outbound {
    /// Write these bytes (whole frames, prefixes included).
    Bytes(Vec<u8>),
    /// Flush what came before, then shut the write side down.
    Close,
}

/// Read frames until the stream ends, tagging each with `tag`. Frames longer than
/// `max_len` end the stream (the caller then closes the connection).
pub async fn read_frames<T: Copy>(
    mut rd: OwnedReadHalf,
    max_len: usize,
    tag: T,
    tx: mpsc::UnboundedSender<(T, Inbound)>,
) {
    let why = loop {
        let mut len = [0u8; 4];
        if rd.read_exact(&mut len).await.is_err() {
            break "eof";
        }
        let len = i32::from_be_bytes(len);
        if len < 0 || len as usize > max_len {
            break "bad frame length";
        }
        let mut payload = vec![0u8; len as usize];
        if rd.read_exact(&mut payload).await.is_err() {
            break "eof inside a frame";
        }
        if tx.send((tag, Inbound::Frame(payload))).is_err() {
            return;
        }
    };
    let _ = tx.send((tag, Inbound::Closed(why)));
}

/// Write what arrives on `rx` until `Close`, a write error, or the sender going away.
pub async fn write_frames(mut wr: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Outbound>) {
    while let Some(msg) = rx.recv().await {
        match msg {
            Outbound::Bytes(b) => {
                if wr.write_all(&b).await.is_err() {
                    return;
                }
            }
            Outbound::Close => break,
        }
    }
    let _ = wr.shutdown().await;
}
