//! A sans-IO ZooKeeper client: the protocol state machine shared by the simulator, the bench
//! and the CLI.
//!
//! No sockets, no clock: every call that needs time takes `now`. The driver owns the
//! transport and follows this contract:
//!
//! 1. Open a transport, send the bytes returned by [`Client::connect`].
//! 2. Split incoming bytes into frames (int32 length prefix, at most
//!    [`ClientConfig::max_frame_len`]) and hand each payload, without the prefix, to
//!    [`Client::handle_frame`].
//! 3. After any call, drain [`Client::poll_transmit`] (bytes to write, length prefix
//!    included) and [`Client::poll_event`] until both return `None`.
//! 4. Call [`Client::tick`] when [`Client::next_deadline`] is reached (it moves after every
//!    call, so re-read it).
//! 5. When the transport fails, call [`Client::connection_lost`]; when a
//!    [`ClientEvent::Disconnected`] comes out (timeouts, protocol errors), close the
//!    transport. Then go back to 1 (on any server) to resume the session.
//!
//! Behaviour follows the Java client (compat reference §2, §3.2, §7.5, §10.1):
//! - Requests submitted before the handshake completes are held and sent after it, in
//!   submission order. On every successful handshake the client first replays its auth
//!   packets (xid -4) and re-arms its watches with setWatches/setWatches2 (xid -8, batched
//!   as the Java client does, see [`WatchTable::set_watches_requests`]).
//! - Replies must come back in request order. A reply (other than ping -2, auth -4 and
//!   notifications -1) whose xid is not the oldest outstanding one is a protocol error, and
//!   so is an undecodable frame or a body after an error code.
//!   Auth replies may overtake other replies (the server answers them outside its
//!   pipeline), and ping replies are matched to the oldest outstanding ping wherever it is.
//! - `last_zxid_seen` is the maximum reply zxid > 0 of ordinary replies and notifications
//!   (not pings). It is sent on reconnect, so a server that is behind refuses the client.
//! - Watches are tracked per path and table; [`WatchTable`] documents the
//!   registration and firing rules. No chroot support.
//! - After a connection to a read-only server only, reconnects send session id 0, like
//!   the Java client (`seenRwServerBefore`): read-only sessions are local to that server.

mod event;
mod watches;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;

pub use event::{ClientError, ClientEvent, DisconnectReason};
pub use watches::{WatchTable, SET_WATCHES_MAX_LENGTH};

use watches::WatchEffect;

use crate::error::ErrorCode;
use crate::jute::{JuteReader, JuteWriter, Record, DEFAULT_MAX_BUFFER};
use crate::proto::event::{EventType, WatcherEvent};
use crate::proto::{
    encode_request_frame, op, ConnectRequest, ConnectResponse, ReplyHeader, Request, Response,
};
use crate::types::{Millis, SessionId, Zxid};

/// Length of the session password every ZooKeeper server hands out.
pub const PASSWORD_LEN: usize = 16;

/// The Java client's `MAX_SEND_PING_INTERVAL`: ping at least this often, whatever the
/// session timeout.
pub const MAX_PING_INTERVAL_MS: i64 = 10_000;

/// Identifies one submitted request for its whole life. Unlike the xid it never wraps and
/// is never shared by special requests.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct RequestId(pub u64);

/// Client settings. Build with [`ClientConfig::new`] and adjust the public fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// Requested session timeout; the server clamps it and the result drives the timers.
    pub session_timeout_ms: i32,
    /// Sent as ConnectRequest.readOnly: "a read-only server is acceptable".
    pub read_only: bool,
    /// How long to wait for the ConnectResponse. The Java client uses
    /// `session_timeout / number_of_hosts`; the default is the whole session timeout.
    pub connect_timeout_ms: i64,
    /// Upper bound on the idle-send time before a ping (default [`MAX_PING_INTERVAL_MS`]).
    pub max_ping_interval_ms: i64,
    /// Re-arm watches with setWatches on reconnect (the Java client's
    /// `!disableAutoWatchReset`). Default true.
    pub reset_watches: bool,
    /// Largest frame payload accepted from the server (default jute.maxbuffer, 0xfffff).
    pub max_frame_len: usize,
}

impl ClientConfig {
    /// Defaults for a client asking for `session_timeout_ms`.
    pub fn new(session_timeout_ms: i32) -> ClientConfig {
        ClientConfig {
            session_timeout_ms,
            read_only: false,
            connect_timeout_ms: i64::from(session_timeout_ms.max(1)),
            max_ping_interval_ms: MAX_PING_INTERVAL_MS,
            reset_watches: true,
            max_frame_len: DEFAULT_MAX_BUFFER,
        }
    }
}

/// Where the client is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientState {
    /// No transport. Submitted requests are held until the next successful handshake.
    Disconnected,
    /// ConnectRequest sent, waiting for the ConnectResponse.
    Connecting,
    /// Session established on the current transport.
    Connected { read_only: bool },
    /// Session expired (terminal).
    Expired,
    /// closeSession answered (terminal).
    Closed,
    /// The server rejected an auth packet (terminal).
    AuthFailed,
}

impl ClientState {
    /// Expired, Closed and AuthFailed never change again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ClientState::Expired | ClientState::Closed | ClientState::AuthFailed
        )
    }
}

/// A request the client sent or will send. `id` is `None` for the client's own requests
/// (pings, auth replays, setWatches re-arming), whose replies are not reported.
#[derive(Clone, Debug)]
struct Pending {
    id: Option<RequestId>,
    xid: i32,
    op: i32,
    watch: Option<WatchEffect>,
}

/// The protocol state machine of one ZooKeeper session, across connections.
#[derive(Clone, Debug)]
pub struct Client {
    config: ClientConfig,
    state: ClientState,
    session_id: SessionId,
    passwd: Vec<u8>,
    negotiated_timeout_ms: i32,
    last_zxid_seen: Zxid,
    /// Once connected to a read-write server, reconnects resume the session id.
    seen_rw_server: bool,
    next_xid: i32,
    next_id: u64,
    /// Frames not yet handed to the driver, with their bookkeeping. Held while not
    /// Connected.
    unsent: VecDeque<(Pending, Vec<u8>)>,
    /// Handed to the driver, awaiting replies, in send order.
    in_flight: VecDeque<Pending>,
    /// (scheme, auth) of every auth packet submitted, replayed on each handshake.
    auth_info: Vec<(String, Vec<u8>)>,
    watches: WatchTable,
    events: VecDeque<ClientEvent>,
    /// When the current connection attempt started (for the connect timeout).
    connect_started: Millis,
    last_send: Millis,
    last_recv: Millis,
}

impl Client {
    /// A client with no session yet; call [`connect`](Client::connect) to start one.
    pub fn new(config: ClientConfig) -> Client {
        Client {
            config,
            state: ClientState::Disconnected,
            session_id: SessionId::NONE,
            passwd: vec![0; PASSWORD_LEN],
            negotiated_timeout_ms: 0,
            last_zxid_seen: Zxid::ZERO,
            seen_rw_server: false,
            next_xid: 1,
            next_id: 0,
            unsent: VecDeque::new(),
            in_flight: VecDeque::new(),
            auth_info: Vec::new(),
            watches: WatchTable::default(),
            events: VecDeque::new(),
            connect_started: Millis(0),
            last_send: Millis(0),
            last_recv: Millis(0),
        }
    }

    /// A client that resumes an existing session (as the Java `ZooKeeper(..., sessionId,
    /// passwd)` constructor): the first `connect` already sends this id and password.
    pub fn with_session(config: ClientConfig, session_id: SessionId, passwd: Vec<u8>) -> Client {
        let mut c = Client::new(config);
        c.session_id = session_id;
        c.passwd = passwd;
        c.seen_rw_server = session_id != SessionId::NONE;
        c
    }

    /// The current state.
    pub fn state(&self) -> ClientState {
        self.state
    }

    /// The session id from the last successful handshake (0 before the first).
    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    /// The session password from the last successful handshake (16 zero bytes before).
    pub fn session_password(&self) -> &[u8] {
        &self.passwd
    }

    /// The timeout the server granted in the last successful handshake (0 before).
    pub fn negotiated_timeout_ms(&self) -> i32 {
        self.negotiated_timeout_ms
    }

    /// The highest zxid seen in replies and notifications.
    pub fn last_zxid_seen(&self) -> Zxid {
        self.last_zxid_seen
    }

    /// The watches the client believes the server holds for it.
    pub fn watches(&self) -> &WatchTable {
        &self.watches
    }

    /// Submitted requests (the client's own included) still waiting for their replies,
    /// sent or not.
    pub fn outstanding(&self) -> usize {
        self.in_flight.len() + self.unsent.len()
    }

    /// Start a handshake on a fresh transport; returns the ConnectRequest frame (length
    /// prefix included) to write first. It carries the stored session id, password and
    /// `last_zxid_seen`, so the session survives a move to another server.
    ///
    /// On a live connection (Connecting/Connected) the old one is considered lost first,
    /// exactly as [`connection_lost`](Client::connection_lost) would. In a terminal state
    /// returns [`ClientError::Terminal`].
    #[must_use = "the handshake frame must be sent"]
    pub fn connect(&mut self, now: Millis) -> Result<Vec<u8>, ClientError> {
        if self.state.is_terminal() {
            return Err(ClientError::Terminal(self.state));
        }
        self.connection_lost(now);
        let session_id = if self.seen_rw_server {
            self.session_id
        } else {
            SessionId::NONE
        };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: self.last_zxid_seen,
            timeout_ms: self.config.session_timeout_ms,
            session_id,
            passwd: self.passwd.clone(),
            read_only: Some(self.config.read_only),
        };
        let mut w = JuteWriter::framed();
        req.write(&mut w);
        self.state = ClientState::Connecting;
        self.connect_started = now;
        self.last_send = now;
        self.last_recv = now;
        Ok(w.finish_frame())
    }

    /// Queue a request; its outcome comes out later as a [`ClientEvent::Reply`] with the
    /// returned id. Ping, auth and setWatches use the special xids -2, -4 and -8; every
    /// other request gets the next xid of 1, 2, ... i32::MAX, 1, ...
    ///
    /// While not connected the request is held until the next successful handshake. In a
    /// terminal state it fails at once, as the Java client fails it: SessionExpired after
    /// expiry or close, AuthFailed after an auth failure. Poll `poll_transmit` afterwards.
    pub fn submit(&mut self, now: Millis, req: Request) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        let xid = match &req {
            Request::Ping => op::XID_PING,
            Request::Auth { .. } => op::XID_AUTH,
            Request::SetWatches { .. } => op::XID_SET_WATCHES,
            _ => self.take_xid(),
        };
        if let ClientState::Expired | ClientState::Closed | ClientState::AuthFailed = self.state {
            let code = match self.state {
                ClientState::AuthFailed => ErrorCode::AuthFailed,
                _ => ErrorCode::SessionExpired,
            };
            self.events.push_back(ClientEvent::Reply {
                id,
                op: req.op(),
                xid,
                zxid: None,
                result: Err(code),
            });
            return id;
        }
        if let Request::Auth { scheme, auth, .. } = &req {
            self.auth_info.push((scheme.clone(), auth.clone()));
        }
        let pending = Pending {
            id: Some(id),
            xid,
            op: req.op(),
            watch: WatchEffect::of(&req),
        };
        self.enqueue(now, pending, &req);
        id
    }

    /// Submit closeSession. Its reply (whatever the error code) moves the client to
    /// [`ClientState::Closed`] and queues [`ClientEvent::Closed`].
    pub fn close(&mut self, now: Millis) -> RequestId {
        self.submit(now, Request::CloseSession)
    }

    /// The next frame to write (length prefix included), or `None`. Frames are only
    /// released while Connected; the handshake frame comes from `connect`.
    #[must_use = "frames must be written to the transport"]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if !matches!(self.state, ClientState::Connected { .. }) {
            return None;
        }
        let (pending, frame) = self.unsent.pop_front()?;
        self.in_flight.push_back(pending);
        Some(frame)
    }

    /// The next event for the application, or `None`.
    #[must_use = "events carry request outcomes"]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Feed one frame payload (without its length prefix) received on the current
    /// transport. The first frame after `connect` must be the ConnectResponse, later ones
    /// reply frames. See [`ClientError`] for what an error means for the connection.
    pub fn handle_frame(&mut self, now: Millis, payload: &[u8]) -> Result<(), ClientError> {
        let result = match self.state {
            ClientState::Connecting => self.handle_connect_response(now, payload),
            ClientState::Connected { .. } => self.handle_reply(now, payload),
            state => return Err(ClientError::NotConnected(state)),
        };
        if result.is_err() {
            self.lose(DisconnectReason::ProtocolError);
        }
        result
    }

    /// The transport failed or was closed. Every outstanding request completes with
    /// ConnectionLoss (a write's outcome is unknown), then
    /// [`ClientEvent::Disconnected`] is queued and the state becomes Disconnected. A later
    /// `connect` resumes the session. No-op unless Connecting or Connected.
    pub fn connection_lost(&mut self, _now: Millis) {
        self.lose(DisconnectReason::ConnectionLost);
    }

    /// When [`tick`](Client::tick) must next be called, if ever.
    pub fn next_deadline(&self) -> Option<Millis> {
        match self.state {
            ClientState::Connecting => Some(self.connect_started.plus(self.connect_timeout_ms())),
            ClientState::Connected { .. } => Some(std::cmp::min(
                self.last_recv.plus(self.read_timeout_ms()),
                self.last_send.plus(self.ping_interval_ms()),
            )),
            _ => None,
        }
    }

    /// Run the timers. Connected: after 2/3 of the negotiated timeout with nothing
    /// received, the connection is lost (ReadTimeout); otherwise after 1/3 of it (at most
    /// `max_ping_interval_ms`) with nothing sent, a ping is queued. Connecting: after the
    /// connect timeout the attempt is lost (ConnectTimeout). Poll afterwards.
    pub fn tick(&mut self, now: Millis) {
        let idle = |since: Millis| now.0.saturating_sub(since.0);
        let connected = matches!(self.state, ClientState::Connected { .. });
        if self.state == ClientState::Connecting
            && idle(self.connect_started) >= self.connect_timeout_ms()
        {
            self.lose(DisconnectReason::ConnectTimeout);
        } else if connected && idle(self.last_recv) >= self.read_timeout_ms() {
            self.lose(DisconnectReason::ReadTimeout);
        } else if connected && idle(self.last_send) >= self.ping_interval_ms() {
            let ping = Pending {
                id: None,
                xid: op::XID_PING,
                op: op::PING,
                watch: None,
            };
            self.enqueue(now, ping, &Request::Ping);
        }
    }

    fn connect_timeout_ms(&self) -> i64 {
        self.config.connect_timeout_ms.max(1)
    }

    /// The Java client's readTimeout: 2/3 of the negotiated session timeout.
    fn read_timeout_ms(&self) -> i64 {
        (i64::from(self.negotiated_timeout_ms) * 2 / 3).max(1)
    }

    /// Ping after half the read timeout (1/3 of the session timeout) of send idleness.
    /// The Java client also pings up to 1 s earlier once idle for over 1 s; not copied.
    fn ping_interval_ms(&self) -> i64 {
        (self.read_timeout_ms() / 2)
            .min(self.config.max_ping_interval_ms)
            .max(1)
    }

    fn take_xid(&mut self) -> i32 {
        let xid = self.next_xid;
        self.next_xid = if xid == i32::MAX { 1 } else { xid + 1 };
        xid
    }

    fn enqueue(&mut self, now: Millis, pending: Pending, req: &Request) {
        let frame = encode_request_frame(pending.xid, req);
        if matches!(self.state, ClientState::Connected { .. }) {
            // The driver drains poll_transmit right after this call, so queueing time is
            // sending time for the ping timer.
            self.last_send = now;
        }
        self.unsent.push_back((pending, frame));
    }

    fn handle_connect_response(&mut self, now: Millis, payload: &[u8]) -> Result<(), ClientError> {
        self.check_len(payload)?;
        let resp = ConnectResponse::decode(payload)?;
        self.last_recv = now;
        if resp.timeout_ms <= 0 {
            // Java and kazoo read timeout <= 0 as "session expired or invalid".
            self.state = ClientState::Expired;
            self.fail_all(ErrorCode::SessionExpired);
            self.watches.clear();
            self.events.push_back(ClientEvent::Expired);
            return Ok(());
        }
        let read_only = resp.read_only == Some(true);
        self.session_id = resp.session_id;
        self.passwd = resp.passwd;
        self.negotiated_timeout_ms = resp.timeout_ms;
        self.seen_rw_server |= !read_only;
        self.state = ClientState::Connected { read_only };
        self.events.push_back(ClientEvent::Connected {
            session_id: self.session_id,
            timeout_ms: resp.timeout_ms,
            read_only,
        });
        self.prime_connection(now);
        Ok(())
    }

    /// Put auth replays and watch re-arming ahead of the held user requests.
    fn prime_connection(&mut self, now: Millis) {
        let mut prime: Vec<Request> = self
            .auth_info
            .iter()
            .map(|(scheme, auth)| Request::Auth {
                auth_type: 0,
                scheme: scheme.clone(),
                auth: auth.clone(),
            })
            .collect();
        if self.config.reset_watches {
            prime.extend(self.watches.set_watches_requests(self.last_zxid_seen));
        }
        let held = std::mem::take(&mut self.unsent);
        for req in prime {
            let xid = match req {
                Request::Auth { .. } => op::XID_AUTH,
                _ => op::XID_SET_WATCHES,
            };
            let pending = Pending {
                id: None,
                xid,
                op: req.op(),
                watch: None,
            };
            self.enqueue(now, pending, &req);
        }
        self.unsent.extend(held);
        self.last_send = now;
    }

    fn check_len(&self, payload: &[u8]) -> Result<(), ClientError> {
        if payload.len() > self.config.max_frame_len {
            return Err(ClientError::FrameTooLarge {
                len: payload.len(),
                max: self.config.max_frame_len,
            });
        }
        Ok(())
    }

    fn handle_reply(&mut self, now: Millis, payload: &[u8]) -> Result<(), ClientError> {
        self.check_len(payload)?;
        let mut r = JuteReader::new(payload);
        let hdr = ReplyHeader::read(&mut r)?;
        if hdr.xid == op::XID_NOTIFICATION {
            return self.handle_notification(now, hdr, r);
        }
        let index = self.match_reply(hdr.xid)?;
        let op = self.in_flight[index].op;
        let code = ErrorCode::from_code(hdr.err).ok_or(ClientError::UnknownErrorCode(hdr.err))?;
        let result = if code == ErrorCode::Ok {
            let body = Response::decode(op, &mut r)?;
            r.finish()?;
            Ok(body)
        } else {
            // Rule 5: an error reply is the bare header.
            r.finish()?;
            Err(code)
        };
        // Everything decoded: now commit the effects.
        let pending = self
            .in_flight
            .remove(index)
            .expect("match_reply returned a valid index");
        self.last_recv = now;
        if hdr.xid != op::XID_PING && hdr.zxid > self.last_zxid_seen {
            self.last_zxid_seen = hdr.zxid;
        }
        if let Some(effect) = &pending.watch {
            self.watches.on_reply(effect, code);
        }
        if let Some(id) = pending.id {
            self.events.push_back(ClientEvent::Reply {
                id,
                op,
                xid: pending.xid,
                zxid: Some(hdr.zxid),
                result,
            });
        }
        if pending.op == op::AUTH && code == ErrorCode::AuthFailed {
            self.state = ClientState::AuthFailed;
            self.fail_all(ErrorCode::AuthFailed);
            self.events.push_back(ClientEvent::AuthFailed);
        } else if pending.op == op::CLOSE_SESSION {
            self.state = ClientState::Closed;
            self.fail_all(ErrorCode::SessionExpired);
            self.watches.clear();
            self.events.push_back(ClientEvent::Closed);
        }
        Ok(())
    }

    /// Which in-flight request a reply with `xid` answers. Pings and auths match the
    /// oldest of their kind; anything else must be the oldest other request.
    fn match_reply(&self, xid: i32) -> Result<usize, ClientError> {
        let found = match xid {
            op::XID_PING | op::XID_AUTH => {
                let i = self.in_flight.iter().position(|p| p.xid == xid);
                return i.ok_or(ClientError::UnexpectedXid {
                    expected: None,
                    got: xid,
                });
            }
            _ => self
                .in_flight
                .iter()
                .position(|p| p.xid != op::XID_PING && p.xid != op::XID_AUTH),
        };
        match found {
            Some(i) if self.in_flight[i].xid == xid => Ok(i),
            Some(i) => Err(ClientError::UnexpectedXid {
                expected: Some(self.in_flight[i].xid),
                got: xid,
            }),
            None => Err(ClientError::UnexpectedXid {
                expected: None,
                got: xid,
            }),
        }
    }

    fn handle_notification(
        &mut self,
        now: Millis,
        hdr: ReplyHeader,
        mut r: JuteReader<'_>,
    ) -> Result<(), ClientError> {
        let ev = WatcherEvent::read(&mut r)?;
        r.finish()?;
        let event_type = EventType::from_code(ev.event_type)
            .ok_or(ClientError::UnknownEventType(ev.event_type))?;
        self.last_recv = now;
        if hdr.zxid > self.last_zxid_seen {
            self.last_zxid_seen = hdr.zxid;
        }
        self.watches.on_event(event_type, &ev.path);
        self.events.push_back(ClientEvent::Watch {
            event_type,
            state: ev.state,
            path: ev.path,
            zxid: hdr.zxid,
        });
        Ok(())
    }

    /// Tear the current connection down (no-op without one).
    fn lose(&mut self, reason: DisconnectReason) {
        if !matches!(
            self.state,
            ClientState::Connecting | ClientState::Connected { .. }
        ) {
            return;
        }
        self.state = ClientState::Disconnected;
        self.fail_all(ErrorCode::ConnectionLoss);
        self.events.push_back(ClientEvent::Disconnected { reason });
    }

    /// Complete every outstanding request with `code`, in send order, then held ones.
    fn fail_all(&mut self, code: ErrorCode) {
        let in_flight = std::mem::take(&mut self.in_flight);
        let unsent = std::mem::take(&mut self.unsent);
        let all = in_flight
            .into_iter()
            .chain(unsent.into_iter().map(|(p, _)| p));
        for p in all {
            if let Some(id) = p.id {
                self.events.push_back(ClientEvent::Reply {
                    id,
                    op: p.op,
                    xid: p.xid,
                    zxid: None,
                    result: Err(code),
                });
            }
        }
    }
}
