//! What the client state machine reports to its driver: events to deliver and errors that
//! ended a connection.

use std::fmt;

use super::{ClientState, RequestId};
use crate::error::ErrorCode;
use crate::jute::JuteError;
use crate::proto::event::EventType;
use crate::proto::Response;
use crate::types::{SessionId, Zxid};

/// Something the application should learn about, drained with
/// [`Client::poll_event`](super::Client::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// The handshake succeeded. `session_id` differs from the previous one when the server
    /// started a new session (first connect, or after read-only mode, see
    /// [`Client::connect`](super::Client::connect)).
    Connected {
        session_id: SessionId,
        /// The negotiated session timeout.
        timeout_ms: i32,
        /// The server is in read-only mode (`ConnectedReadOnly`).
        read_only: bool,
    },
    /// The connection is gone; outstanding requests were completed with ConnectionLoss just
    /// before this event. The session may still be alive: call `connect` on a new transport.
    Disconnected { reason: DisconnectReason },
    /// The server answered the handshake with timeout 0: the session is gone for good.
    /// Terminal state.
    Expired,
    /// The server rejected an auth packet (AuthFailed, -115). Terminal state.
    AuthFailed,
    /// The reply to closeSession arrived. Terminal state.
    Closed,
    /// The outcome of one submitted request.
    Reply {
        id: RequestId,
        op: i32,
        xid: i32,
        /// The reply header's zxid; `None` when the client completed the request itself
        /// (ConnectionLoss, SessionExpired, AuthFailed) and the server's verdict is unknown.
        zxid: Option<Zxid>,
        /// A failed multi is `Ok(Response::Multi(..))` with per-op errors, as on the wire.
        result: Result<Response, ErrorCode>,
    },
    /// A watch notification (xid -1).
    Watch {
        event_type: EventType,
        /// The KeeperState field as sent (always 3, SyncConnected, from real servers).
        state: i32,
        path: String,
        /// -1 from 3.8 servers, the triggering txn's zxid from 3.9+.
        zxid: Zxid,
    },
}

/// Why the client considers a connection lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The driver reported it ([`Client::connection_lost`](super::Client::connection_lost)),
    /// or `connect` was called on a live connection.
    ConnectionLost,
    /// Nothing was received for 2/3 of the negotiated session timeout.
    ReadTimeout,
    /// No ConnectResponse within the connect timeout.
    ConnectTimeout,
    /// The server sent something the protocol does not allow (see [`ClientError`]).
    ProtocolError,
}

/// An error returned by a client call.
///
/// Apart from [`ClientError::NotConnected`] and [`ClientError::Terminal`], an error from
/// [`Client::handle_frame`](super::Client::handle_frame) means the connection has already
/// been torn down (state Disconnected, outstanding requests failed, a
/// `Disconnected { reason: ProtocolError }` event queued): the driver closes the transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// A frame arrived while the client has no connection (state given). Nothing changed.
    NotConnected(ClientState),
    /// `connect` in a terminal state (Expired, Closed, AuthFailed): create a new client.
    Terminal(ClientState),
    /// A frame larger than the configured maximum. The connection was torn down.
    FrameTooLarge { len: usize, max: usize },
    /// A frame did not decode, or had bytes left over. The connection was torn down.
    Decode(JuteError),
    /// A reply's xid is not the one expected (`None`: nothing of that kind outstanding).
    /// The connection was torn down.
    UnexpectedXid { expected: Option<i32>, got: i32 },
    /// A reply carried an error code ZooKeeper does not define. The connection was torn down.
    UnknownErrorCode(i32),
    /// A notification carried an undefined event type. The connection was torn down.
    UnknownEventType(i32),
}

impl From<JuteError> for ClientError {
    fn from(e: JuteError) -> Self {
        ClientError::Decode(e)
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::NotConnected(s) => write!(f, "frame received while {s:?}"),
            ClientError::Terminal(s) => write!(f, "client is {s:?}; create a new one"),
            ClientError::FrameTooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the {max}-byte limit")
            }
            ClientError::Decode(e) => write!(f, "malformed frame: {e}"),
            ClientError::UnexpectedXid {
                expected: Some(x),
                got,
            } => write!(f, "reply xid {got}, expected {x}"),
            ClientError::UnexpectedXid {
                expected: None,
                got,
            } => write!(f, "reply xid {got} with nothing of that kind outstanding"),
            ClientError::UnknownErrorCode(c) => write!(f, "undefined error code {c}"),
            ClientError::UnknownEventType(t) => write!(f, "undefined watch event type {t}"),
        }
    }
}

impl std::error::Error for ClientError {}
