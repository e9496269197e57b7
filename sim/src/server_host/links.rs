//! Peer links of an ensemble member over turmoil TCP.
//!
//! One connection per pair of servers: the server with the higher id dials the lower one
//! on the peer port, and both ends open with a [`Hello`] (protocol version, sender, the
//! receiver it expects). Frames are length-prefixed (4-byte big-endian) bincode
//! [`PeerMessage`]s; an empty frame is a keepalive that never reaches the core.
//!
//! turmoil drops the segments of a partitioned link without telling anyone, and the stream
//! then stalls for good (a hole in its sequence), so every link has a liveness timeout:
//! nothing received for `timeout` closes it, and the dialing side dials again with a
//! seeded exponential backoff. A link with nothing to send for `keepalive` sends an empty
//! frame. When a link that was up goes away the driver tells the core
//! (`peer_disconnected`). A new link from a peer replaces the old one.

use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use corral_core::types::ServerId;
use corral_core::zab::message::{self, Hello, PeerMessage, PEER_PROTOCOL_VERSION};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use turmoil::net::TcpStream;

use crate::rng::Rng;
use crate::scenario::{server_host, PEER_PORT};
use crate::wire::{read_frames, write_frames, Inbound, Outbound};

/// Largest peer frame read (a SNAP carries a whole snapshot).
const MAX_FRAME: usize = 64 << 20;

/// A dial attempt's result: (peer, link generation, the stream or the error).
pub type Dialed = (ServerId, u64, io::Result<TcpStream>);

/// What the driver must tell the core (or trace).
#[derive(Debug)]
pub enum LinkEvent {
    /// The link to this peer completed its handshake.
    Up(ServerId),
    /// A message from a peer.
    Message(ServerId, PeerMessage),
    /// The link to this peer, which was up, went away (and why).
    Down(ServerId, String),
    /// Something worth a trace line (refused handshakes, failed dials).
    Note(String),
}

/// Link timing.
#[derive(Clone, Copy, Debug)]
pub struct LinkTiming {
    pub timeout: Duration,
    pub keepalive: Duration,
    pub backoff_min_ms: u64,
    pub backoff_max_ms: u64,
}

struct Conn {
    peer: Option<ServerId>,
    dialed: bool,
    up: bool,
    writer: mpsc::UnboundedSender<Outbound>,
    reader: JoinHandle<()>,
    last_recv: Instant,
    last_sent: Instant,
}

#[derive(Default)]
struct Slot {
    /// The generation of the link that is up.
    up: Option<u64>,
    /// A dial in flight, or a dialed link waiting for the peer's Hello.
    dialing: Option<u64>,
    redial_at: Option<Instant>,
    backoff_ms: u64,
}

/// Every link of one server. See the module docs.
pub struct Links {
    me: ServerId,
    timing: LinkTiming,
    rng: Rng,
    conns: BTreeMap<u64, Conn>,
    slots: BTreeMap<ServerId, Slot>,
    next_gen: u64,
    frames: mpsc::UnboundedSender<(u64, Inbound)>,
    dials: mpsc::UnboundedSender<Dialed>,
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(payload.len() + 4);
    b.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    b.extend_from_slice(payload);
    b
}

impl Links {
    /// Links to every other voter of `voters`; dials the lower ids at once.
    pub fn new(
        me: ServerId,
        voters: impl IntoIterator<Item = ServerId>,
        timing: LinkTiming,
        rng: Rng,
    ) -> (
        Links,
        mpsc::UnboundedReceiver<(u64, Inbound)>,
        mpsc::UnboundedReceiver<Dialed>,
    ) {
        let (ftx, frx) = mpsc::unbounded_channel();
        let (dtx, drx) = mpsc::unbounded_channel();
        let now = Instant::now();
        let slots = voters
            .into_iter()
            .filter(|p| *p != me)
            .map(|p| {
                (
                    p,
                    Slot {
                        redial_at: (p < me).then_some(now),
                        backoff_ms: timing.backoff_min_ms,
                        ..Slot::default()
                    },
                )
            })
            .collect();
        let links = Links {
            me,
            timing,
            rng,
            conns: BTreeMap::new(),
            slots,
            next_gen: 1,
            frames: ftx,
            dials: dtx,
        };
        (links, frx, drx)
    }

    fn gen(&mut self) -> u64 {
        let g = self.next_gen;
        self.next_gen += 1;
        g
    }

    fn open(&mut self, gen: u64, stream: TcpStream, peer: Option<ServerId>, dialed: bool) {
        let (rd, wr) = stream.into_split();
        let (wtx, wrx) = mpsc::unbounded_channel();
        tokio::task::spawn_local(write_frames(wr, wrx));
        let reader = tokio::task::spawn_local(read_frames(rd, MAX_FRAME, gen, self.frames.clone()));
        let now = Instant::now();
        self.conns.insert(
            gen,
            Conn {
                peer,
                dialed,
                up: false,
                writer: wtx,
                reader,
                last_recv: now,
                last_sent: now,
            },
        );
    }

    fn hello_to(&self, peer: ServerId) -> Vec<u8> {
        frame(&message::encode(&Hello {
            version: PEER_PROTOCOL_VERSION,
            from: self.me,
            to: peer,
        }))
    }

    /// A connection arrived on the peer port.
    pub fn accept(&mut self, stream: TcpStream) {
        let gen = self.gen();
        self.open(gen, stream, None, false);
    }

    /// A dial finished.
    pub fn on_dialed(&mut self, (peer, gen, result): Dialed) -> Vec<LinkEvent> {
        let mut out = Vec::new();
        let Some(slot) = self.slots.get_mut(&peer) else {
            return out;
        };
        if slot.dialing != Some(gen) {
            return out;
        }
        match result {
            Ok(stream) => {
                self.open(gen, stream, Some(peer), true);
                let hello = self.hello_to(peer);
                let c = self.conns.get_mut(&gen).expect("just opened");
                let _ = c.writer.send(Outbound::Bytes(hello));
            }
            Err(e) => {
                slot.dialing = None;
                out.push(LinkEvent::Note(format!(
                    "dial server{} failed: {}",
                    peer.0,
                    e.kind()
                )));
                self.schedule_redial(peer);
            }
        }
        out
    }

    fn schedule_redial(&mut self, peer: ServerId) {
        if peer > self.me {
            return;
        }
        let jitter = self.rng.range(0, 50) as u64;
        let slot = self.slots.get_mut(&peer).expect("a peer");
        slot.redial_at = Some(Instant::now() + Duration::from_millis(slot.backoff_ms + jitter));
        slot.backoff_ms = (slot.backoff_ms * 2).min(self.timing.backoff_max_ms);
    }

    /// Close connection `gen`; a link that was up reports `Down`.
    fn close(&mut self, gen: u64, why: &str, out: &mut Vec<LinkEvent>) {
        let Some(c) = self.conns.remove(&gen) else {
            return;
        };
        let _ = c.writer.send(Outbound::Close);
        c.reader.abort();
        let Some(peer) = c.peer else {
            return;
        };
        let slot = self.slots.get_mut(&peer).expect("a peer");
        if slot.dialing == Some(gen) {
            slot.dialing = None;
            self.schedule_redial(peer);
        }
        let slot = self.slots.get_mut(&peer).expect("a peer");
        if slot.up == Some(gen) {
            slot.up = None;
            out.push(LinkEvent::Down(peer, why.to_owned()));
            self.schedule_redial(peer);
        }
    }

    /// A frame (or the end) of connection `gen`.
    pub fn on_frame(&mut self, gen: u64, inbound: Inbound) -> Vec<LinkEvent> {
        let mut out = Vec::new();
        let Some(c) = self.conns.get_mut(&gen) else {
            return out;
        };
        let payload = match inbound {
            Inbound::Closed(why) => {
                self.close(gen, why, &mut out);
                return out;
            }
            Inbound::Frame(p) => p,
        };
        c.last_recv = Instant::now();
        if c.up {
            if payload.is_empty() {
                return out;
            }
            let peer = c.peer.expect("an up link knows its peer");
            match message::decode::<PeerMessage>(&payload) {
                Ok(m) => out.push(LinkEvent::Message(peer, m)),
                Err(e) => {
                    out.push(LinkEvent::Note(format!("from server{}: {e}", peer.0)));
                    self.close(gen, "undecodable frame", &mut out);
                }
            }
            return out;
        }
        // The first frame must be the peer's Hello.
        let hello = message::decode::<Hello>(&payload);
        let me = self.me;
        let expected = c.peer;
        let dialed = c.dialed;
        let ok = match &hello {
            Ok(h) => {
                h.version == PEER_PROTOCOL_VERSION
                    && h.to == me
                    && self.slots.contains_key(&h.from)
                    && match expected {
                        Some(p) => h.from == p,
                        None => h.from > me,
                    }
            }
            Err(_) => false,
        };
        if !ok {
            out.push(LinkEvent::Note(format!(
                "link gen {gen}: handshake refused: {hello:?}"
            )));
            self.close(gen, "bad hello", &mut out);
            return out;
        }
        let peer = hello.expect("checked").from;
        if !dialed {
            let reply = self.hello_to(peer);
            let c = self.conns.get_mut(&gen).expect("present");
            c.peer = Some(peer);
            let _ = c.writer.send(Outbound::Bytes(reply));
        }
        // A new link replaces the old one (whose tail may be lost).
        if let Some(old) = self.slots.get(&peer).and_then(|s| s.up) {
            self.close(old, "replaced by a new link", &mut out);
        }
        let c = self.conns.get_mut(&gen).expect("present");
        c.up = true;
        c.last_sent = Instant::now();
        let backoff = self.timing.backoff_min_ms;
        let slot = self.slots.get_mut(&peer).expect("a peer");
        slot.up = Some(gen);
        slot.dialing = None;
        slot.redial_at = None;
        slot.backoff_ms = backoff;
        out.push(LinkEvent::Up(peer));
        out
    }

    /// Send to `peer` if its link is up (best effort). Returns whether it went out.
    pub fn send(&mut self, peer: ServerId, msg: &PeerMessage) -> bool {
        let Some(gen) = self.slots.get(&peer).and_then(|s| s.up) else {
            return false;
        };
        let c = self.conns.get_mut(&gen).expect("an up link");
        c.last_sent = Instant::now();
        c.writer
            .send(Outbound::Bytes(frame(&message::encode(msg))))
            .is_ok()
    }

    /// The next time `poll` has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        let conns = self.conns.values().flat_map(|c| {
            let ka = c.up.then(|| c.last_sent + self.timing.keepalive);
            [Some(c.last_recv + self.timing.timeout), ka]
        });
        let redials = self.slots.values().map(|s| {
            s.redial_at
                .filter(|_| s.up.is_none() && s.dialing.is_none())
        });
        conns.chain(redials).flatten().min()
    }

    /// Run the timers: close silent links, send keepalives, dial.
    pub fn poll(&mut self) -> Vec<LinkEvent> {
        let now = Instant::now();
        let mut out = Vec::new();
        let silent: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| now >= c.last_recv + self.timing.timeout)
            .map(|(g, _)| *g)
            .collect();
        for gen in silent {
            self.close(gen, "silent for the link timeout", &mut out);
        }
        for c in self.conns.values_mut() {
            if c.up && now >= c.last_sent + self.timing.keepalive {
                c.last_sent = now;
                let _ = c.writer.send(Outbound::Bytes(frame(&[])));
            }
        }
        let due: Vec<ServerId> = self
            .slots
            .iter()
            .filter(|(_, s)| {
                s.up.is_none() && s.dialing.is_none() && s.redial_at.is_some_and(|t| now >= t)
            })
            .map(|(p, _)| *p)
            .collect();
        for peer in due {
            let gen = self.gen();
            let slot = self.slots.get_mut(&peer).expect("a peer");
            slot.dialing = Some(gen);
            slot.redial_at = None;
            let tx = self.dials.clone();
            let timeout = self.timing.timeout;
            let host = server_host(peer.0 as usize - 1);
            tokio::task::spawn_local(async move {
                let r = match tokio::time::timeout(timeout, TcpStream::connect((host, PEER_PORT)))
                    .await
                {
                    Ok(r) => r,
                    Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
                };
                let _ = tx.send((peer, gen, r));
            });
        }
        out
    }
}
