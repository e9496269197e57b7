//! Peer frames on the wire: a `u32` big-endian length, then that many bytes of bincode
//! (`corral_core::zab::message::encode`). A zero length is a keepalive and carries nothing.
//!
//! Time limits count silence, not whole frames: every read or write call must make progress
//! within the limit, so a 1 GiB SNAP over a slow link is fine while a peer that stops
//! sending (or reading) is noticed.

use std::fmt;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

/// Bytes read or written per call for large bodies: memory for a frame grows only as its
/// bytes arrive (a garbage length does not allocate a gigabyte), and a slow but moving
/// transfer keeps resetting the silence limit.
const CHUNK: usize = 256 << 10;

/// The keepalive frame.
pub const KEEPALIVE: [u8; 4] = [0; 4];

/// Why a frame could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed the connection between frames.
    Eof,
    /// The peer closed the connection in the middle of a frame.
    Truncated,
    /// Nothing arrived for this long.
    Silent(Duration),
    /// The length prefix exceeds the limit.
    TooLarge {
        len: usize,
        max: usize,
    },
    Io(io::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Eof => write!(f, "closed by the other side"),
            ReadError::Truncated => write!(f, "closed by the other side in the middle of a frame"),
            ReadError::Silent(d) => write!(f, "nothing received for {} ms", d.as_millis()),
            ReadError::TooLarge { len, max } => {
                write!(f, "frame of {len} bytes is larger than the limit of {max}")
            }
            ReadError::Io(e) => write!(f, "read failed: {e}"),
        }
    }
}

/// Read one frame: `Some(body)`, or `None` for a keepalive.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
    silence: Duration,
) -> Result<Option<Vec<u8>>, ReadError> {
    let mut len = [0u8; 4];
    read_full(r, &mut len, silence, true).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 {
        return Ok(None);
    }
    if len > max {
        return Err(ReadError::TooLarge { len, max });
    }
    let mut body = Vec::with_capacity(len.min(CHUNK));
    while body.len() < len {
        let start = body.len();
        body.resize(start + (len - start).min(CHUNK), 0);
        read_full(r, &mut body[start..], silence, false).await?;
    }
    Ok(Some(body))
}

async fn read_full<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut [u8],
    silence: Duration,
    frame_start: bool,
) -> Result<(), ReadError> {
    let mut filled = 0;
    while filled < buf.len() {
        match within(silence, r.read(&mut buf[filled..])).await {
            Err(_) => return Err(ReadError::Silent(silence)),
            Ok(Ok(0)) if frame_start && filled == 0 => return Err(ReadError::Eof),
            Ok(Ok(0)) => return Err(ReadError::Truncated),
            Ok(Ok(n)) => filled += n,
            Ok(Err(e)) => return Err(ReadError::Io(e)),
        }
    }
    Ok(())
}

/// Write one frame (length prefix and body); the caller flushes. `body` must be at most
/// `u32::MAX` bytes (callers hold it to `MAX_PEER_FRAME`).
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    body: &[u8],
    silence: Duration,
) -> io::Result<()> {
    let len = u32::try_from(body.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("frame of {} bytes does not fit a u32 length", body.len()),
        )
    })?;
    progress(silence, w.write_all(&len.to_be_bytes())).await?;
    for chunk in body.chunks(CHUNK) {
        progress(silence, w.write_all(chunk)).await?;
    }
    Ok(())
}

/// Write a keepalive frame; the caller flushes.
pub async fn write_keepalive<W: AsyncWrite + Unpin>(
    w: &mut W,
    silence: Duration,
) -> io::Result<()> {
    progress(silence, w.write_all(&KEEPALIVE)).await
}

/// Flush, within the silence limit.
pub async fn flush<W: AsyncWrite + Unpin>(w: &mut W, silence: Duration) -> io::Result<()> {
    progress(silence, w.flush()).await
}

/// Run `f` to completion, failing if it makes no progress for `silence`. Reads and writes
/// go through buffers and nearly always complete at once: `f` is polled once first, and only
/// if it must wait is a timer armed (a clock read and a timer-wheel insert and removal per
/// call showed up as ~3 % of a busy leader's CPU).
async fn within<T>(
    silence: Duration,
    f: impl std::future::Future<Output = T>,
) -> Result<T, tokio::time::error::Elapsed> {
    let mut f = std::pin::pin!(f);
    let ready = std::future::poll_fn(|cx| match f.as_mut().poll(cx) {
        std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await;
    match ready {
        Some(v) => Ok(v),
        None => timeout(silence, f).await,
    }
}

async fn progress(
    silence: Duration,
    f: impl std::future::Future<Output = io::Result<()>>,
) -> io::Result<()> {
    within(silence, f).await.map_err(|_| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no write progress for {} ms", silence.as_millis()),
        )
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    const SILENCE: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn frames_and_keepalives_round_trip() {
        let (mut a, mut b) = tokio::io::duplex(1 << 10);
        let big = vec![7u8; 3 * CHUNK + 5];
        let body = big.clone();
        let w = tokio::spawn(async move {
            write_frame(&mut a, b"hi", SILENCE).await.unwrap();
            a.write_all(&KEEPALIVE).await.unwrap();
            write_frame(&mut a, &body, SILENCE).await.unwrap();
            flush(&mut a, SILENCE).await.unwrap();
        });
        let max = 4 * CHUNK;
        assert_eq!(
            read_frame(&mut b, max, SILENCE).await.unwrap(),
            Some(b"hi".to_vec())
        );
        assert_eq!(read_frame(&mut b, max, SILENCE).await.unwrap(), None);
        assert_eq!(read_frame(&mut b, max, SILENCE).await.unwrap(), Some(big));
        w.await.unwrap();
        assert!(matches!(
            read_frame(&mut b, max, SILENCE).await,
            Err(ReadError::Eof)
        ));
    }

    #[tokio::test]
    async fn oversized_truncated_and_silent() {
        let (mut a, mut b) = tokio::io::duplex(1 << 10);
        a.write_all(&11u32.to_be_bytes()).await.unwrap();
        match read_frame(&mut b, 10, SILENCE).await {
            Err(e @ ReadError::TooLarge { len: 11, max: 10 }) => {
                assert!(e.to_string().contains("11 bytes"), "{e}")
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        // A length, part of the body, then the writer goes away.
        let (mut a, mut b) = tokio::io::duplex(1 << 10);
        a.write_all(&5u32.to_be_bytes()).await.unwrap();
        a.write_all(b"ab").await.unwrap();
        drop(a);
        assert!(matches!(
            read_frame(&mut b, 10, SILENCE).await,
            Err(ReadError::Truncated)
        ));
        // A writer that says nothing: the silence limit ends the read.
        let (_a, mut b) = tokio::io::duplex(1 << 10);
        let short = Duration::from_millis(20);
        assert!(matches!(
            read_frame(&mut b, 10, short).await,
            Err(ReadError::Silent(_))
        ));
    }

    #[tokio::test]
    async fn a_reader_that_stops_reading_times_the_writer_out() {
        // A pipe of 64 bytes nobody reads: the first writes complete at once (no timer),
        // then the writer waits, and the silence limit ends it.
        let (mut a, _b) = tokio::io::duplex(64);
        let short = Duration::from_millis(20);
        write_frame(&mut a, &[1u8; 16], short).await.unwrap();
        let e = write_frame(&mut a, &[2u8; 4096], short).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
    }
}
