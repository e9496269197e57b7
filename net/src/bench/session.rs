//! One ZooKeeper session over TCP, and the loop that keeps its pipeline full.
//!
//! A session runs in one task: it writes every request it may issue in one `write_all`,
//! then reads one reply and every further reply already buffered, verifies them in order,
//! and refills. Replies of one session come back in request order (xid order), so a
//! mismatch of xids is a protocol error that ends the session.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use corral_core::jute::{JuteReader, JuteWriter, Record};
use corral_core::proto::{
    encode_request_frame, op, ConnectRequest, ConnectResponse, ReplyHeader, Request,
};
use corral_core::types::{SessionId, Zxid};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use super::stats::{Histogram, Live};
use super::workload::{Expect, SessionModel};

/// Replies larger than this are refused (ZooKeeper's jute.maxbuffer is 1 MiB).
const MAX_FRAME: usize = 16 << 20;
/// No reply for this long means the server is stuck: fail rather than hang.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// Error messages kept per session (the count is always exact).
const MAX_SAMPLES: usize = 5;

/// A connected session.
pub struct Conn {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    wbuf: Vec<u8>,
    frame: Vec<u8>,
    next_xid: i32,
    /// The session id the server gave.
    pub session_id: SessionId,
}

impl Conn {
    /// Connect to `addr` and open a new session.
    pub async fn open(addr: SocketAddr, timeout_ms: i32) -> io::Result<Conn> {
        let stream = tokio::time::timeout(REPLY_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        let mut conn = Conn {
            reader: BufReader::with_capacity(64 << 10, r),
            writer: w,
            wbuf: Vec::with_capacity(64 << 10),
            frame: Vec::new(),
            next_xid: 1,
            session_id: SessionId(0),
        };
        let mut w = JuteWriter::framed();
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: Zxid(0),
            timeout_ms,
            session_id: SessionId(0),
            passwd: vec![0; 16],
            read_only: Some(false),
        }
        .write(&mut w);
        conn.writer.write_all(&w.finish_frame()).await?;
        conn.read_frame().await?;
        let resp = ConnectResponse::decode(&conn.frame)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        if resp.timeout_ms <= 0 {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "the server refused the session",
            ));
        }
        conn.session_id = resp.session_id;
        Ok(conn)
    }

    /// Queue `req` for the next flush; returns its xid.
    pub fn push(&mut self, req: &Request) -> i32 {
        let xid = self.next_xid;
        self.next_xid = self.next_xid.wrapping_add(1).max(1);
        self.wbuf.extend_from_slice(&encode_request_frame(xid, req));
        xid
    }

    /// Send everything queued.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.wbuf.is_empty() {
            self.writer.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        Ok(())
    }

    /// Whether a whole reply is already buffered (so reading it will not wait).
    fn has_buffered_frame(&self) -> bool {
        let b = self.reader.buffer();
        b.len() >= 4 && b.len() - 4 >= i32::from_be_bytes([b[0], b[1], b[2], b[3]]).max(0) as usize
    }

    async fn read_frame(&mut self) -> io::Result<()> {
        let read = async {
            let len = self.reader.read_i32().await?;
            if len < 0 || len as usize > MAX_FRAME {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("reply frame length {len}"),
                ));
            }
            self.frame.resize(len as usize, 0);
            self.reader.read_exact(&mut self.frame).await?;
            Ok(())
        };
        tokio::time::timeout(REPLY_TIMEOUT, read)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no reply for 30 s"))?
    }

    /// Read the next reply: its header, with the body left in `self.frame[16..]`.
    async fn read_reply(&mut self) -> io::Result<ReplyHeader> {
        self.read_frame().await?;
        ReplyHeader::read(&mut JuteReader::new(&self.frame))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
    }

    fn body(&self) -> &[u8] {
        &self.frame[16..]
    }

    /// Send one request and wait for its reply: (error code, body). Notifications and
    /// pings in between are skipped.
    pub async fn call(&mut self, req: &Request) -> io::Result<(i32, Vec<u8>)> {
        let xid = self.push(req);
        self.flush().await?;
        loop {
            let hdr = self.read_reply().await?;
            if hdr.xid == xid {
                return Ok((hdr.err, self.body().to_vec()));
            }
            if hdr.xid >= 0 {
                return Err(desync(xid, hdr.xid));
            }
        }
    }

    /// Send `reqs` with at most `window` in flight; the replies, in order.
    pub async fn pipelined(
        &mut self,
        reqs: &[Request],
        window: usize,
    ) -> io::Result<Vec<(i32, Vec<u8>)>> {
        let mut out = Vec::with_capacity(reqs.len());
        let mut inflight = VecDeque::new();
        let mut next = 0;
        while out.len() < reqs.len() {
            while next < reqs.len() && inflight.len() < window.max(1) {
                inflight.push_back(self.push(&reqs[next]));
                next += 1;
            }
            self.flush().await?;
            loop {
                let hdr = self.read_reply().await?;
                if hdr.xid < 0 {
                    continue;
                }
                let want = inflight.pop_front().unwrap_or(-1);
                if hdr.xid != want {
                    return Err(desync(want, hdr.xid));
                }
                out.push((hdr.err, self.body().to_vec()));
                if !self.has_buffered_frame() || inflight.is_empty() {
                    break;
                }
            }
        }
        Ok(out)
    }
}

fn desync(want: i32, got: i32) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("reply xid {got} where {want} was expected"),
    )
}

/// Shared run state: when measuring starts and when to stop issuing.
#[derive(Debug, Default)]
pub struct Control {
    /// Set when the warm-up is over: ops issued from now on are measured.
    pub recording: AtomicBool,
    /// Set when no more ops may be issued (duration over, or a fatal error elsewhere).
    pub stop: AtomicBool,
}

/// What a session measured.
#[derive(Debug, Default)]
pub struct SessionResult {
    /// Latency of measured ops.
    pub hist: Histogram,
    /// Measured ops completed.
    pub ops: u64,
    /// Verification failures, unexpected errors and I/O failures.
    pub errors: u64,
    /// The first few error messages.
    pub samples: Vec<String>,
    /// Watch notifications verified.
    pub notifications: u64,
    /// When the last measured op completed.
    pub last_done: Option<Instant>,
}

impl SessionResult {
    /// Count an error, keeping its message if there is room.
    pub fn error(&mut self, live: &Live, msg: String) {
        live.add_error();
        self.errors += 1;
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push(msg);
        }
    }

    fn done(&mut self, live: &Live, measured: bool, sent: Instant, now: Instant) {
        live.add_ops(1);
        if measured {
            self.ops += 1;
            self.hist.record((now - sent).as_nanos() as u64);
            self.last_done = Some(now);
        }
    }
}

/// Decides whether a session may issue another op, and whether it is measured.
struct Quota<'a> {
    control: &'a Control,
    /// Measured ops this session may issue (`None`: until stopped).
    limit: Option<u64>,
    issued: u64,
}

impl Quota<'_> {
    /// `Some(measured)` if an op may be issued now.
    fn take(&mut self) -> Option<bool> {
        if self.control.stop.load(Ordering::Relaxed) {
            return None;
        }
        if !self.control.recording.load(Ordering::Relaxed) {
            return Some(false);
        }
        if self.limit.is_some_and(|l| self.issued >= l) {
            return None;
        }
        self.issued += 1;
        Some(true)
    }
}

struct Pending {
    xid: i32,
    op: i32,
    expect: Expect,
    sent: Instant,
    measured: bool,
}

/// Run a request/reply workload on `conn` until the quota or the stop flag ends it, then
/// close the session.
pub async fn run_pipelined(
    mut conn: Conn,
    model: &mut SessionModel,
    depth: usize,
    limit: Option<u64>,
    control: &Control,
    live: &Live,
    res: &mut SessionResult,
) -> io::Result<()> {
    let mut quota = Quota {
        control,
        limit,
        issued: 0,
    };
    let mut pending: VecDeque<Pending> = VecDeque::with_capacity(depth);
    loop {
        let mut pushed = 0;
        while pending.len() < depth {
            let Some(measured) = quota.take() else { break };
            let (req, expect) = model.next_op();
            let xid = conn.push(&req);
            pending.push_back(Pending {
                xid,
                op: req.op(),
                expect,
                sent: Instant::now(),
                measured,
            });
            pushed += 1;
        }
        if pending.is_empty() {
            break;
        }
        if pushed > 0 {
            conn.flush().await?;
        }
        loop {
            let hdr = conn.read_reply().await?;
            let now = Instant::now();
            match hdr.xid {
                op::XID_NOTIFICATION => {
                    if let Err(e) = model.on_notification(conn.body()) {
                        res.error(live, e);
                    } else {
                        live.notifications.fetch_add(1, Ordering::Relaxed);
                    }
                }
                op::XID_PING => {}
                xid => {
                    let Some(p) = pending.pop_front() else {
                        return Err(desync(-1, xid));
                    };
                    if p.xid != xid {
                        return Err(desync(p.xid, xid));
                    }
                    if let Err(e) = model.verify(p.op, p.expect, hdr.err, conn.body()) {
                        res.error(live, e);
                    }
                    res.done(live, p.measured, p.sent, now);
                }
            }
            if pending.is_empty() || !conn.has_buffered_frame() {
                break;
            }
        }
    }
    res.notifications = model.notifications;
    let (err, _) = conn.call(&Request::CloseSession).await?;
    if err != 0 {
        res.error(live, format!("closeSession: error {err}"));
    }
    Ok(())
}

/// How a paced (open-loop) session sends.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Requests in flight at most.
    pub depth: usize,
    /// Time between two scheduled sends.
    pub interval: Duration,
}

/// Take one whole frame off the front of `buf`, if there is one.
fn take_frame(buf: &mut Vec<u8>) -> io::Result<Option<Vec<u8>>> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if len < 0 || len as usize > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("reply frame length {len}"),
        ));
    }
    let end = 4 + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    let frame = buf[4..end].to_vec();
    buf.drain(..end);
    Ok(Some(frame))
}

/// Run a request/reply workload on a fixed schedule (open loop): one send every
/// `pace.interval`, at most `pace.depth` in flight, latency measured from the scheduled
/// send time (so time a request waited because the server fell behind counts, rather than
/// being hidden by the client slowing down: no coordinated omission). Then close the
/// session.
pub async fn run_paced(
    conn: Conn,
    model: &mut SessionModel,
    pace: Pace,
    limit: Option<u64>,
    control: &Control,
    live: &Live,
    res: &mut SessionResult,
) -> io::Result<()> {
    let Conn {
        reader,
        mut writer,
        mut next_xid,
        ..
    } = conn;
    // Reading through our own buffer: `read_buf` can be abandoned in a select without
    // losing bytes, which a framed read cannot.
    let mut buf: Vec<u8> = reader.buffer().to_vec();
    let mut rd = reader.into_inner();
    let mut quota = Quota {
        control,
        limit,
        issued: 0,
    };
    let mut pending: VecDeque<Pending> = VecDeque::with_capacity(pace.depth);
    let mut wbuf = Vec::new();
    let mut next = tokio::time::Instant::now();
    let mut stopping = false;
    let mut close_xid = None;
    // A send that is due while the pipeline is full waits for the server: its latency
    // counts from the scheduled time. One that is only late because the timer woke up late
    // (tokio's resolution is a millisecond) counts from when it really left.
    let mut held = false;
    loop {
        let now = tokio::time::Instant::now();
        if now >= next && pending.len() >= pace.depth {
            held = true;
        }
        while !stopping && pending.len() < pace.depth && now >= next {
            let Some(measured) = quota.take() else {
                stopping = true;
                break;
            };
            let (req, expect) = model.next_op();
            let xid = next_xid;
            next_xid = next_xid.wrapping_add(1).max(1);
            wbuf.extend_from_slice(&encode_request_frame(xid, &req));
            pending.push_back(Pending {
                xid,
                op: req.op(),
                expect,
                sent: if held {
                    next.into_std()
                } else {
                    now.into_std()
                },
                measured,
            });
            next += pace.interval;
        }
        if now < next {
            held = false;
        }
        if stopping && pending.is_empty() && close_xid.is_none() {
            let xid = next_xid;
            wbuf.extend_from_slice(&encode_request_frame(xid, &Request::CloseSession));
            close_xid = Some(xid);
        }
        if !wbuf.is_empty() {
            writer.write_all(&wbuf).await?;
            wbuf.clear();
        }
        while let Some(frame) = take_frame(&mut buf)? {
            let now = Instant::now();
            let hdr = ReplyHeader::read(&mut JuteReader::new(&frame))
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            let body = &frame[16..];
            match hdr.xid {
                op::XID_NOTIFICATION => match model.on_notification(body) {
                    Err(e) => res.error(live, e),
                    Ok(()) => {
                        live.notifications.fetch_add(1, Ordering::Relaxed);
                    }
                },
                op::XID_PING => {}
                xid if Some(xid) == close_xid => {
                    if hdr.err != 0 {
                        res.error(live, format!("closeSession: error {}", hdr.err));
                    }
                    res.notifications = model.notifications;
                    return Ok(());
                }
                xid => {
                    let Some(p) = pending.pop_front() else {
                        return Err(desync(-1, xid));
                    };
                    if p.xid != xid {
                        return Err(desync(p.xid, xid));
                    }
                    if let Err(e) = model.verify(p.op, p.expect, hdr.err, body) {
                        res.error(live, e);
                    }
                    res.done(live, p.measured, p.sent, now);
                }
            }
        }
        if stopping && pending.is_empty() && close_xid.is_none() {
            // Everything answered: go round once more to send the close.
            continue;
        }
        let may_send = !stopping && pending.len() < pace.depth;
        tokio::select! {
            r = rd.read_buf(&mut buf) => {
                if r? == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed the connection"));
                }
            }
            _ = tokio::time::sleep_until(next), if may_send => {}
            _ = tokio::time::sleep(REPLY_TIMEOUT) => {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no reply for 30 s"));
            }
        }
    }
}

/// Run ephemeral churn: every op is a new session to `addr` that checks, creates, closes.
pub async fn run_churn(
    addr: SocketAddr,
    timeout_ms: i32,
    model: &mut SessionModel,
    limit: Option<u64>,
    control: &Control,
    live: &Live,
    res: &mut SessionResult,
) -> io::Result<()> {
    let mut quota = Quota {
        control,
        limit,
        issued: 0,
    };
    while let Some(measured) = quota.take() {
        let sent = Instant::now();
        let mut conn = Conn::open(addr, timeout_ms).await?;
        let mut pending = VecDeque::new();
        for (req, expect) in model.churn_requests() {
            pending.push_back((conn.push(&req), req.op(), expect));
        }
        conn.flush().await?;
        while let Some((xid, op, expect)) = pending.pop_front() {
            let hdr = loop {
                let hdr = conn.read_reply().await?;
                if hdr.xid >= 0 {
                    break hdr;
                }
            };
            if hdr.xid != xid {
                return Err(desync(xid, hdr.xid));
            }
            if let Err(e) = model.verify(op, expect, hdr.err, conn.body()) {
                res.error(live, e);
            }
        }
        res.done(live, measured, sent, Instant::now());
    }
    Ok(())
}
