//! A client host: one simulated ZooKeeper client, the core `Client` state machine over a
//! turmoil TCP stream, running a seeded workload and recording every operation.
//!
//! Its connect string is a seeded order of the servers. It connects to one; when the
//! connection fails, is refused or is lost, it moves to the next, round robin, keeping its
//! session id, password and `lastZxidSeen` (the `Client` sends them), as ZooKeeper clients
//! do. The client keeps its session across connection losses (it reconnects and resumes); when
//! the server says the session expired, or after it closed the session itself, it starts a
//! new `Client` (a new incarnation and session). It submits operations until the workload
//! ends, keeping at most `max_outstanding` in flight, then waits up to the drain time for
//! the outstanding ones.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use corral_core::client::{Client, ClientConfig, ClientEvent, RequestId};
use corral_core::error::ErrorCode;
use corral_core::proto::Request;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use turmoil::net::TcpStream;

use crate::history::{describe, History, Outcome};
use crate::rng::Rng;
use crate::scenario::{client_host, server_host, Scenario, CLIENT_PORT};
use crate::server_host::wall_ms;
use crate::trace::{sim_ms, Trace};
use crate::wire::{read_frames, write_frames, Inbound, Outbound};
use crate::workload::Workload;

/// Between the fault controller and the clients: per client, a server to move its session
/// to now (dropping its connection, as a client rebalancing its connections does), and the
/// server its session is connected to now.
#[derive(Clone, Debug, Default)]
pub struct Moves(Rc<std::cell::RefCell<Vec<MoveSlot>>>);

/// One client's (ordered move, connected server).
type MoveSlot = (Option<usize>, Option<usize>);

impl Moves {
    /// For `clients` clients.
    pub fn new(clients: usize) -> Moves {
        Moves(Rc::new(std::cell::RefCell::new(vec![
            (None, None);
            clients
        ])))
    }

    /// Order client `c` to move its session to server `s`.
    pub fn order(&self, c: usize, s: usize) {
        self.0.borrow_mut()[c].0 = Some(s);
    }

    fn take(&self, c: usize) -> Option<usize> {
        self.0.borrow_mut()[c].0.take()
    }

    fn connected(&self, c: usize, s: Option<usize>) {
        self.0.borrow_mut()[c].1 = s;
    }

    /// The clients whose session is connected to server `s` now.
    pub fn clients_of(&self, s: usize) -> Vec<usize> {
        let v = self.0.borrow();
        (0..v.len()).filter(|c| v[*c].1 == Some(s)).collect()
    }
}

/// What a client host needs from the world.
#[derive(Clone)]
pub struct ClientCtx {
    pub index: usize,
    pub scenario: Rc<Scenario>,
    pub trace: Trace,
    pub history: History,
    pub moves: Moves,
}

struct Transport {
    /// Generation of this connection; frames from older ones are ignored.
    gen: u64,
    writer: mpsc::UnboundedSender<Outbound>,
    reader: JoinHandle<()>,
}

struct Driver {
    ctx: ClientCtx,
    name: String,
    rng: Rng,
    workload: Workload,
    config: ClientConfig,
    client: Client,
    incarnation: u32,
    /// xid of the next ordinary request of this incarnation (the state machine hands them
    /// out 1, 2, 3...; pings and setWatches use special xids).
    next_xid: i32,
    /// Submitted and not yet completed: request id -> history index.
    pending: BTreeMap<RequestId, usize>,
    transport: Option<Transport>,
    next_gen: u64,
    /// Waiting for the closeSession reply: submit nothing else.
    closing: bool,
    /// A closeSession went unanswered: like a real client after `close()`, this one uses
    /// the session no more, and starts a new one once everything outstanding completed.
    /// (Carrying on with the session would be a client bug: ZooKeeper honours a close that
    /// arrives late, from any server, after newer requests of the session.)
    abandon: bool,
    /// The next request, drawn ahead (with `Knobs::isolate_syncs`, a sync waits until
    /// nothing else is outstanding).
    next_req: Option<Request>,
    /// A sync is outstanding (counted only with `isolate_syncs`).
    sync_pending: bool,
    reconnect_at: u64,
    next_op_at: u64,
    /// Position in the connect string of the server to try next.
    next_server: usize,
    /// The server of the current (or last) connection, and the server the session last
    /// completed a handshake with.
    server: usize,
    session_server: Option<usize>,
    /// A server the controller ordered a move to, taken by the next `advance`.
    move_to: Option<usize>,
}

impl Driver {
    fn trace(&self, what: impl AsRef<str>) {
        self.ctx.trace.event(sim_ms(), &self.name, what);
    }

    fn think(&mut self) -> u64 {
        let mean = self.ctx.scenario.think_ms[self.ctx.index] as i64;
        self.rng.range(0, 2 * mean) as u64
    }

    fn drop_transport(&mut self) {
        self.ctx.moves.connected(self.ctx.index, None);
        if let Some(t) = self.transport.take() {
            let _ = t.writer.send(Outbound::Close);
            t.reader.abort();
        }
    }

    /// The next server of the connect string, round robin (or the one the controller
    /// ordered a move to).
    fn advance(&mut self) {
        match self.move_to.take() {
            Some(s) => {
                let order = &self.ctx.scenario.connect[self.ctx.index];
                self.next_server = order.iter().position(|x| *x == s).unwrap_or(0);
            }
            None => self.next_server += 1,
        }
    }

    /// A move ordered by the fault controller: drop the connection, go to that server.
    fn take_move(&mut self) {
        let Some(s) = self.ctx.moves.take(self.ctx.index) else {
            return;
        };
        self.trace(format!("moves its session to {}", server_host(s)));
        self.move_to = Some(s);
        if self.transport.is_some() {
            self.client.connection_lost(wall_ms());
            self.pump();
            self.reconnect_at = sim_ms();
        } else {
            self.advance();
        }
    }

    async fn connect(&mut self, tx: &mpsc::UnboundedSender<(u64, Inbound)>) {
        let timeout = Duration::from_millis(self.config.connect_timeout_ms as u64);
        let order = &self.ctx.scenario.connect[self.ctx.index];
        self.server = order[self.next_server % order.len()];
        let target = (server_host(self.server), CLIENT_PORT);
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(target)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                self.trace(format!(
                    "connect to {} failed: {}",
                    server_host(self.server),
                    e.kind()
                ));
                self.advance();
                self.reconnect_at = sim_ms() + self.rng.range(50, 500) as u64;
                return;
            }
            Err(_) => {
                self.trace(format!("connect to {} timed out", server_host(self.server)));
                self.advance();
                self.reconnect_at = sim_ms() + self.rng.range(50, 500) as u64;
                return;
            }
        };
        let hello = self
            .client
            .connect(wall_ms())
            .expect("terminal clients are replaced at once");
        self.next_gen += 1;
        let gen = self.next_gen;
        let (rd, wr) = stream.into_split();
        let (wtx, wrx) = mpsc::unbounded_channel();
        tokio::task::spawn_local(write_frames(wr, wrx));
        let max = self.config.max_frame_len;
        let reader = tokio::task::spawn_local(read_frames(rd, max, gen, tx.clone()));
        let _ = wtx.send(Outbound::Bytes(hello));
        self.transport = Some(Transport {
            gen,
            writer: wtx,
            reader,
        });
        self.trace(format!(
            "tcp connected to {} (conn gen {gen}), handshake for session {} last zxid {}",
            server_host(self.server),
            self.client.session_id(),
            self.client.last_zxid_seen()
        ));
    }

    /// Whether the next request may go now: with `isolate_syncs`, a sync goes only when
    /// nothing is outstanding, and nothing goes while it is.
    fn may_submit(&mut self) -> bool {
        if !self.ctx.scenario.isolate_syncs {
            return true;
        }
        if self.sync_pending {
            return false;
        }
        let next = self
            .next_req
            .get_or_insert_with(|| self.workload.next_request());
        !matches!(next, Request::Sync { .. }) || self.pending.is_empty()
    }

    fn submit(&mut self) {
        let req = self
            .next_req
            .take()
            .unwrap_or_else(|| self.workload.next_request());
        if self.ctx.scenario.isolate_syncs && matches!(req, Request::Sync { .. }) {
            self.sync_pending = true;
        }
        let now = wall_ms();
        let xid = self.next_xid;
        self.next_xid += 1;
        let index = self.ctx.history.invoke(
            self.ctx.index,
            self.incarnation,
            self.client.session_id(),
            xid,
            req.clone(),
            sim_ms(),
        );
        self.trace(format!("invoke op#{index} xid={xid} {}", describe(&req)));
        if matches!(req, Request::CloseSession) {
            self.closing = true;
        }
        let id = self.client.submit(now, req);
        self.pending.insert(id, index);
    }

    /// Hand queued frames to the writer and act on every event.
    fn pump(&mut self) {
        while let Some(frame) = self.client.poll_transmit() {
            if let Some(t) = &self.transport {
                let _ = t.writer.send(Outbound::Bytes(frame));
            }
        }
        while let Some(ev) = self.client.poll_event() {
            self.on_event(ev);
        }
        if self.abandon && self.pending.is_empty() {
            self.trace(format!(
                "abandoning session {} after an unanswered closeSession",
                self.client.session_id()
            ));
            self.drop_transport();
            self.new_incarnation();
        }
    }

    fn on_event(&mut self, ev: ClientEvent) {
        match ev {
            ClientEvent::Connected {
                session_id,
                timeout_ms,
                ..
            } => {
                self.trace(format!(
                    "session {session_id} connected to {}, timeout {timeout_ms}ms",
                    server_host(self.server)
                ));
                self.ctx.history.connected(session_id, sim_ms());
                if self.session_server.is_some_and(|s| s != self.server) {
                    self.ctx.history.session_moved();
                }
                self.session_server = Some(self.server);
                self.ctx.moves.connected(self.ctx.index, Some(self.server));
            }
            ClientEvent::Disconnected { reason } => {
                self.trace(format!("disconnected: {reason:?}"));
                self.drop_transport();
                self.advance();
                self.reconnect_at = sim_ms() + self.rng.range(10, 300) as u64;
            }
            ClientEvent::Expired | ClientEvent::Closed | ClientEvent::AuthFailed => {
                let session = self.client.session_id();
                self.trace(format!("session {session} ended: {ev:?}"));
                self.ctx.history.session_ended(
                    session,
                    sim_ms(),
                    matches!(ev, ClientEvent::Closed),
                );
                self.drop_transport();
                self.new_incarnation();
            }
            ClientEvent::Reply {
                id,
                xid,
                zxid,
                result,
                ..
            } => self.on_reply(id, xid, zxid, result),
            ClientEvent::Watch {
                event_type, path, ..
            } => {
                self.trace(format!("watch {event_type:?} {path}"));
                if event_type != corral_core::proto::event::EventType::None {
                    self.ctx.history.watch_fired(
                        self.ctx.index,
                        self.incarnation,
                        self.client.session_id(),
                        path,
                        event_type as i32,
                        sim_ms(),
                    );
                }
            }
        }
    }

    fn on_reply(
        &mut self,
        id: RequestId,
        xid: i32,
        zxid: Option<corral_core::types::Zxid>,
        result: Result<corral_core::proto::Response, ErrorCode>,
    ) {
        let index = self
            .pending
            .remove(&id)
            .expect("reply to a submitted request");
        let outcome = match (&result, zxid) {
            (Ok(_), Some(_)) => Outcome::Ok,
            (Err(e), Some(_)) => Outcome::Failed(*e),
            (Err(e), None) => Outcome::Unknown(*e),
            (Ok(_), None) => unreachable!("a body always comes from the server"),
        };
        let session = self.client.session_id();
        self.trace(format!(
            "return op#{index} xid={xid} {outcome:?} zxid={}",
            zxid.map_or("-".to_owned(), |z| z.to_string())
        ));
        let req = self.ctx.history.request(index);
        if matches!(req, Request::Sync { .. }) {
            self.sync_pending = false;
        }
        if let Ok(body) = &result {
            self.workload.observe(&req, body);
        }
        if matches!(req, Request::CloseSession) {
            // Answered: a Closed event follows. Lost: give the session up.
            if matches!(outcome, Outcome::Unknown(_)) {
                self.abandon = true;
            } else {
                self.closing = false;
            }
        }
        self.ctx
            .history
            .complete(index, xid, session, sim_ms(), outcome, zxid, result.ok());
    }

    fn new_incarnation(&mut self) {
        self.client = Client::new(self.config.clone());
        self.incarnation += 1;
        self.next_xid = 1;
        self.closing = false;
        self.abandon = false;
        self.workload.new_session();
        self.session_server = None;
        self.reconnect_at = sim_ms() + self.rng.range(10, 300) as u64;
        self.trace(format!("new client incarnation {}", self.incarnation));
    }
}

fn until(now: u64, at: u64) -> Duration {
    Duration::from_millis(at.saturating_sub(now))
}

/// Run the client until the workload and its drain time are over.
pub async fn run(ctx: ClientCtx) -> turmoil::Result {
    let name = client_host(ctx.index);
    let sc = ctx.scenario.clone();
    let timeout = sc.session_timeout_ms[ctx.index];
    let mut config = ClientConfig::new(timeout);
    config.connect_timeout_ms = i64::from(timeout / 2);
    let mut d = Driver {
        rng: Rng::derive(sc.seed, &name),
        workload: Workload::new(ctx.index, Rng::derive(sc.seed, &format!("{name}/ops"))),
        client: Client::new(config.clone()),
        config,
        incarnation: 1,
        next_xid: 1,
        pending: BTreeMap::new(),
        transport: None,
        next_gen: 0,
        closing: false,
        abandon: false,
        next_req: None,
        sync_pending: false,
        reconnect_at: 0,
        next_op_at: 0,
        next_server: 0,
        server: 0,
        session_server: None,
        move_to: None,
        name,
        ctx,
    };
    d.next_op_at = d.think();
    let (tx, mut rx) = mpsc::unbounded_channel::<(u64, Inbound)>();
    let max_outstanding = sc.max_outstanding[d.ctx.index];
    loop {
        let now = sim_ms();
        let working = now < sc.workload_ms;
        if now >= sc.end_ms() || (!working && d.pending.is_empty()) {
            break;
        }
        d.take_move();
        if d.transport.is_none() && now >= d.reconnect_at {
            d.connect(&tx).await;
            d.pump();
            continue;
        }
        let can_submit =
            working && !d.closing && d.pending.len() < max_outstanding && d.may_submit();
        let client_deadline = d
            .client
            .next_deadline()
            .map(|t| Duration::from_millis(t.0.saturating_sub(wall_ms().0).max(0) as u64));
        let reconnect = d.transport.is_none();
        tokio::select! {
            biased;
            Some((gen, msg)) = rx.recv() => {
                if d.transport.as_ref().is_some_and(|t| t.gen == gen) {
                    match msg {
                        Inbound::Frame(payload) => {
                            if let Err(e) = d.client.handle_frame(wall_ms(), &payload) {
                                d.trace(format!("protocol error: {e}"));
                            }
                        }
                        Inbound::Closed(why) => {
                            d.trace(format!("connection closed: {why}"));
                            d.client.connection_lost(wall_ms());
                        }
                    }
                }
            }
            _ = tokio::time::sleep(client_deadline.unwrap_or_default()), if client_deadline.is_some() => {
                d.client.tick(wall_ms());
            }
            _ = tokio::time::sleep(until(now, d.next_op_at)), if can_submit => {
                d.submit();
                d.next_op_at = sim_ms() + d.think();
            }
            _ = tokio::time::sleep(until(now, d.reconnect_at)), if reconnect => {}
            _ = tokio::time::sleep(until(now, if working { sc.workload_ms } else { sc.end_ms() })) => {}
        }
        d.pump();
    }
    // Whatever is still outstanding never returned; record the session it belonged to.
    let session = d.client.session_id();
    for index in d.pending.values() {
        d.ctx.history.abandon(*index, session);
    }
    d.trace(format!("done, {} ops outstanding", d.pending.len()));
    d.drop_transport();
    Ok(())
}
