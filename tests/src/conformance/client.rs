//! A blocking raw-socket ZooKeeper client: frames in, frames out, nothing hidden.
//!
//! It never interprets what it reads beyond the length prefix, so a scenario sees exactly
//! what the server sent, including replies to malformed input and the moment the server
//! closes the connection. Every read is bounded by a deadline.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use corral_core::jute::JuteWriter;
use corral_core::proto::{encode_request_frame, ConnectRequest, Request};

/// Largest frame this client accepts from a server (well above jute.maxbuffer).
pub const MAX_FRAME: usize = 4 << 20;

/// The result of waiting for one frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// One whole frame body (length prefix stripped).
    Frame(Vec<u8>),
    /// The server closed (EOF or reset). Bytes of a partial frame, if any, are dropped.
    Closed,
    /// Nothing complete arrived before the deadline.
    Timeout,
}

/// One TCP connection to a server.
#[derive(Debug)]
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
    closed: bool,
}

impl RawConn {
    /// Connect with a bounded connect timeout.
    pub fn open(addr: SocketAddr, timeout: Duration) -> io::Result<RawConn> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(RawConn {
            stream,
            buf: Vec::new(),
            closed: false,
        })
    }

    /// True once a read saw EOF or a reset, or a write failed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Send bytes exactly as given. A failed write marks the connection closed.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        let r = self
            .stream
            .write_all(bytes)
            .and_then(|_| self.stream.flush());
        if r.is_err() {
            self.closed = true;
        }
        r
    }

    /// Send a handshake frame (with or without the readOnly byte, as `req` says).
    pub fn send_connect(&mut self, req: &ConnectRequest) -> io::Result<()> {
        let mut w = JuteWriter::framed();
        req.write(&mut w);
        self.send_raw(&w.finish_frame())
    }

    /// Send one request frame.
    pub fn send_request(&mut self, xid: i32, req: &Request) -> io::Result<()> {
        self.send_raw(&encode_request_frame(xid, req))
    }

    /// Wait up to `timeout` for the next frame.
    pub fn read_frame(&mut self, timeout: Duration) -> ReadOutcome {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(frame) = self.take_frame() {
                return frame;
            }
            if self.closed {
                return ReadOutcome::Closed;
            }
            let now = Instant::now();
            if now >= deadline {
                return ReadOutcome::Timeout;
            }
            // set_read_timeout rejects zero; the deadline check above keeps this positive.
            let wait = (deadline - now).max(Duration::from_millis(1));
            if self.stream.set_read_timeout(Some(wait)).is_err() {
                self.closed = true;
                continue;
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => self.closed = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.closed = true,
            }
        }
    }

    /// A complete frame from the buffer, or a protocol error as `Closed`.
    fn take_frame(&mut self) -> Option<ReadOutcome> {
        if self.buf.len() < 4 {
            return None;
        }
        let len = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        if len < 0 || len as usize > MAX_FRAME {
            // A server never sends this; treat the stream as unusable.
            self.closed = true;
            self.buf.clear();
            return Some(ReadOutcome::Closed);
        }
        let len = len as usize;
        if self.buf.len() < 4 + len {
            return None;
        }
        let frame = self.buf[4..4 + len].to_vec();
        self.buf.drain(..4 + len);
        Some(ReadOutcome::Frame(frame))
    }

    /// Close both directions (no closeSession is sent).
    pub fn close(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        self.closed = true;
    }
}

impl Drop for RawConn {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}
