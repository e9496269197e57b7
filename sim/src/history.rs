//! The client history: every operation a simulated client submitted, with invoke and return
//! times, the session it ran in, and its outcome.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use corral_core::error::ErrorCode;
use corral_core::proto::{Request, Response};
use corral_core::types::{SessionId, Zxid};

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server answered with error code 0.
    Ok,
    /// The server answered with this error code.
    Failed(ErrorCode),
    /// No answer from the server: the client gave up (connection loss, timeout, the
    /// session ended before the request went out). A write may or may not have happened.
    Unknown(ErrorCode),
}

/// The end of an operation.
#[derive(Clone, Debug)]
pub struct Return {
    /// Simulated ms since the start of the run.
    pub ms: u64,
    /// Global order of history events (invokes and returns), for same-millisecond ties.
    pub seq: u64,
    pub outcome: Outcome,
    /// The reply header's zxid; `None` when the client completed the request itself.
    pub zxid: Option<Zxid>,
    /// The reply body (only for `Outcome::Ok`).
    pub body: Option<Response>,
}

/// One operation.
#[derive(Clone, Debug)]
pub struct Op {
    /// Index in the history.
    pub index: usize,
    /// Which client host (0-based).
    pub client: usize,
    /// Which `Client` state machine of that host (a new one after expiry or close).
    pub incarnation: u32,
    /// The session it ran in; `SessionId::NONE` if no handshake had completed when it
    /// ended (then it never reached a server).
    pub session: SessionId,
    /// The request's xid (the txn header's cxid if it became a txn).
    pub xid: i32,
    pub request: Request,
    pub invoke_ms: u64,
    pub invoke_seq: u64,
    /// `None` if the run ended first.
    pub ret: Option<Return>,
}

impl Op {
    /// True when the server answered (Ok or an error code), so the reply zxid is known.
    pub fn answered(&self) -> bool {
        matches!(
            self.ret,
            Some(Return {
                outcome: Outcome::Ok | Outcome::Failed(_),
                ..
            })
        )
    }

    /// The reply header zxid of an answered op.
    pub fn reply_zxid(&self) -> Option<Zxid> {
        self.ret.as_ref().filter(|_| self.answered())?.zxid
    }

    /// True for requests that become transactions.
    pub fn is_write(&self) -> bool {
        self.request.is_write()
    }

    /// Outcome or `None` if it never returned.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.ret.as_ref().map(|r| &r.outcome)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "op#{} client{} s={} xid={} {} ",
            self.index,
            self.client + 1,
            self.session,
            self.xid,
            describe(&self.request)
        )?;
        match &self.ret {
            None => write!(f, "[{}ms, never returned]", self.invoke_ms),
            Some(r) => {
                write!(f, "[{}ms..{}ms] {:?}", self.invoke_ms, r.ms, r.outcome)?;
                if let Some(z) = r.zxid {
                    write!(f, " zxid={z}")?;
                }
                Ok(())
            }
        }
    }
}

/// A short description of a request for traces and reports.
pub fn describe(r: &Request) -> String {
    match r {
        Request::Create { op, req } => format!(
            "create{} {} flags={} data={}",
            if *op == corral_core::proto::op::CREATE2 {
                "2"
            } else {
                ""
            },
            req.path,
            req.flags,
            show_data(req.data.as_deref())
        ),
        Request::Delete { path, version } => format!("delete {path} v={version}"),
        Request::SetData {
            path,
            data,
            version,
        } => format!(
            "setData {path} v={version} data={}",
            show_data(data.as_deref())
        ),
        Request::Check { path, version } => format!("check {path} v={version}"),
        Request::GetData { path, watch } => format!("getData {path} w={watch}"),
        Request::Exists { path, watch } => format!("exists {path} w={watch}"),
        Request::GetChildren { path, watch } => format!("getChildren {path} w={watch}"),
        Request::GetChildren2 { path, watch } => format!("getChildren2 {path} w={watch}"),
        Request::Sync { path } => format!("sync {path}"),
        Request::Multi(ops) => {
            let parts: Vec<String> = ops.iter().map(describe).collect();
            format!("multi[{}]", parts.join("; "))
        }
        Request::CloseSession => "closeSession".to_owned(),
        other => format!("op{}", other.op()),
    }
}

fn show_data(d: Option<&[u8]>) -> String {
    match d {
        None => "null".to_owned(),
        Some(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// A watch notification a client received (event types other than None).
#[derive(Clone, Debug)]
pub struct WatchEvent {
    pub client: usize,
    pub incarnation: u32,
    pub session: SessionId,
    pub path: String,
    /// The event type's wire code (1 created, 2 deleted, 3 data changed, 4 children changed).
    pub event_type: i32,
    pub ms: u64,
    /// Place in the global order of history events (with invokes and returns).
    pub seq: u64,
}

/// A client's handshake completed: a new connection of `session` (the first, or a resume
/// after a disconnect, to the same server or another). The server re-arms the client's
/// watches from its setWatches on that connection.
#[derive(Clone, Debug)]
pub struct Connect {
    pub session: SessionId,
    pub ms: u64,
    pub seq: u64,
}

/// A client observed the end of a session.
#[derive(Clone, Debug)]
pub struct SessionEnd {
    pub session: SessionId,
    pub ms: u64,
    pub seq: u64,
    /// Closed by the client (else: reported expired).
    pub closed: bool,
}

#[derive(Debug, Default)]
struct Inner {
    ops: Vec<Op>,
    ended: Vec<SessionEnd>,
    seq: u64,
    watch_events: u64,
    watches: Vec<WatchEvent>,
    connects: Vec<Connect>,
    session_moves: u64,
    /// Invoked and not returned.
    outstanding: usize,
}

/// The shared, append-only history of a run.
#[derive(Clone, Debug, Default)]
pub struct History(Rc<RefCell<Inner>>);

impl History {
    /// Record an invocation; returns the op's index.
    #[allow(clippy::too_many_arguments)]
    pub fn invoke(
        &self,
        client: usize,
        incarnation: u32,
        session: SessionId,
        xid: i32,
        request: Request,
        ms: u64,
    ) -> usize {
        let mut h = self.0.borrow_mut();
        h.seq += 1;
        let index = h.ops.len();
        let invoke_seq = h.seq;
        h.outstanding += 1;
        h.ops.push(Op {
            index,
            client,
            incarnation,
            session,
            xid,
            request,
            invoke_ms: ms,
            invoke_seq,
            ret: None,
        });
        index
    }

    /// Record the end of op `index`, which ran in `session` with `xid`.
    ///
    /// # Panics
    /// If `xid` is not the one predicted at invoke time (the driver's xid bookkeeping and
    /// the client state machine disagree), or the op already completed.
    #[allow(clippy::too_many_arguments)]
    pub fn complete(
        &self,
        index: usize,
        xid: i32,
        session: SessionId,
        ms: u64,
        outcome: Outcome,
        zxid: Option<Zxid>,
        body: Option<Response>,
    ) {
        let mut h = self.0.borrow_mut();
        h.seq += 1;
        h.outstanding -= 1;
        let seq = h.seq;
        let op = &mut h.ops[index];
        assert!(op.ret.is_none(), "op {index} completed twice");
        assert_eq!(op.xid, xid, "xid of op {index} mispredicted");
        op.session = session;
        op.ret = Some(Return {
            ms,
            seq,
            outcome,
            zxid,
            body,
        });
    }

    /// The run ended before op `index` returned; it belonged to `session`.
    pub fn abandon(&self, index: usize, session: SessionId) {
        let mut h = self.0.borrow_mut();
        let op = &mut h.ops[index];
        assert!(op.ret.is_none(), "op {index} abandoned after completing");
        op.session = session;
    }

    /// A client learned that `session` ended at `ms`: it closed it (`closed`) or the
    /// server reported it expired.
    pub fn session_ended(&self, session: SessionId, ms: u64, closed: bool) {
        let mut h = self.0.borrow_mut();
        h.seq += 1;
        let seq = h.seq;
        h.ended.push(SessionEnd {
            session,
            ms,
            seq,
            closed,
        });
    }

    /// A client received a watch notification (not a None-type state event).
    pub fn watch_fired(
        &self,
        client: usize,
        incarnation: u32,
        session: SessionId,
        path: String,
        event_type: i32,
        ms: u64,
    ) {
        let mut h = self.0.borrow_mut();
        h.seq += 1;
        h.watch_events += 1;
        let seq = h.seq;
        h.watches.push(WatchEvent {
            client,
            incarnation,
            session,
            path,
            event_type,
            ms,
            seq,
        });
    }

    /// Every watch notification clients received, in order.
    pub fn watches(&self) -> Vec<WatchEvent> {
        self.0.borrow().watches.clone()
    }

    /// A client's connection of `session` completed its handshake.
    pub fn connected(&self, session: SessionId, ms: u64) {
        let mut h = self.0.borrow_mut();
        h.seq += 1;
        let seq = h.seq;
        h.connects.push(Connect { session, ms, seq });
    }

    /// Every completed handshake, in order.
    pub fn connects(&self) -> Vec<Connect> {
        self.0.borrow().connects.clone()
    }

    /// A client resumed its session on another server than before.
    pub fn session_moved(&self) {
        self.0.borrow_mut().session_moves += 1;
    }

    /// Sessions resumed on another server.
    pub fn session_moves(&self) -> u64 {
        self.0.borrow().session_moves
    }

    /// Operations invoked and not returned yet.
    pub fn outstanding(&self) -> usize {
        self.0.borrow().outstanding
    }

    /// Watch notifications clients received.
    pub fn watch_events(&self) -> u64 {
        self.0.borrow().watch_events
    }

    /// The request of op `index`.
    pub fn request(&self, index: usize) -> Request {
        self.0.borrow().ops[index].request.clone()
    }

    /// Every session end clients observed.
    pub fn session_ends(&self) -> Vec<SessionEnd> {
        self.0.borrow().ended.clone()
    }

    /// A copy of every op so far.
    pub fn ops(&self) -> Vec<Op> {
        self.0.borrow().ops.clone()
    }
}
