//! An ensemble member under arbitrary peer traffic.
//!
//! Server 1 of a three-server ensemble receives a script of inputs: election
//! notifications, ZAB messages of every kind built from the script's bytes (well formed, so
//! that they reach deep into the protocol, but with arbitrary zxids, epochs, sessions and
//! payloads, including the session server 1 itself chose, so that they are taken
//! seriously), raw frames, ticks, storage completions, link breaks, and client traffic.
//! Whatever a peer says, the server must not panic, its log history must keep its marks in
//! order and its successor rule, and its tree must stay consistent.

use std::collections::VecDeque;
use std::net::SocketAddr;

use corral_core::proto::{encode_request_frame, Acl, CreateRequest, Request};
use corral_core::server::{Output, PersistToken, ReplicaConfig, Server, ServerConfig};
use corral_core::snapshot::{self, Image};
use corral_core::txn::{CreateKind, LogEntry, Txn, TxnHeader};
use corral_core::types::{ConnId, Epoch, Millis, ServerId, SessionId, Zxid};
use corral_core::zab::election::{ElectionEpoch, Notification, PeerState, Vote};
use corral_core::zab::message::{
    decode, Forward, LearnerSession, PeerMessage, RejectReason, ReqTag, WireEntry, ZabBody,
    ZabMessage,
};

struct Script<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Script<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
    fn small(&mut self) -> u32 {
        u32::from(self.byte() % 8)
    }
}

struct World {
    server: Server,
    now: Millis,
    pending: VecDeque<PersistToken>,
    /// The last learner session server 1 used with each peer (index 0 = server 2).
    sessions: [LearnerSession; 2],
    next_conn: u64,
    payload: u64,
}

fn peer(b: u8) -> ServerId {
    ServerId(2 + u64::from(b & 1))
}

fn entry(zxid: Zxid, n: u64) -> LogEntry {
    LogEntry {
        hdr: TxnHeader {
            session: SessionId(0),
            cxid: 0,
            zxid,
            time: 1,
            op: corral_core::txn::txn_op::CREATE,
        },
        txn: Txn::Create {
            path: format!("/fz{n}"),
            data: Some(vec![n as u8]),
            acl: Acl::open_unsafe(),
            kind: CreateKind::Persistent,
            parent_cversion: 0,
        },
    }
}

impl World {
    fn pump(&mut self) {
        while let Some(out) = self.server.poll_output() {
            match out {
                Output::Persist { token, .. }
                | Output::Truncate { token, .. }
                | Output::InstallSnapshot { token, .. }
                | Output::SaveEpochs { token, .. } => self.pending.push_back(token),
                Output::Peer { to, msg } => {
                    if let PeerMessage::Zab(m) = msg {
                        if to == ServerId(2) || to == ServerId(3) {
                            self.sessions[(to.0 - 2) as usize] = m.session;
                        }
                    }
                }
                Output::Snapshot { token, zxid, .. } => self.server.snapshotted(token, zxid, true),
                Output::Close { conn } => self.server.connection_closed(self.now, conn),
                Output::Send { .. } => {}
            }
        }
        self.server.replica().history().assert_invariants();
        self.server.tree().verify().expect("tree stays consistent");
    }

    fn zxid(&mut self, s: &mut Script) -> Zxid {
        let last = self.server.replica().last_logged();
        match s.byte() % 4 {
            0 => last,
            1 => Zxid(last.0.saturating_add(i64::from(s.small()))),
            2 => Zxid::new(Epoch(s.small()), s.small()),
            _ => Zxid(last.0.saturating_sub(i64::from(s.small())).max(0)),
        }
    }

    fn body(&mut self, s: &mut Script) -> ZabBody {
        let e = |s: &mut Script| Epoch(s.small());
        match s.byte() % 17 {
            0 => ZabBody::FollowerInfo {
                accepted_epoch: e(s),
                accepted_leader: (s.byte() & 1 == 1).then_some(ServerId(1)),
                current_epoch: e(s),
                last_zxid: self.zxid(s),
            },
            1 => ZabBody::AckEpoch {
                epoch: e(s),
                current_epoch: e(s),
                last_zxid: self.zxid(s),
                applied_zxid: self.zxid(s),
            },
            2 => ZabBody::Ack { zxid: self.zxid(s) },
            3 => {
                let req = Request::Create {
                    op: 1,
                    req: CreateRequest {
                        path: ["/a", "/a/b", "/zookeeper", "/"][s.byte() as usize % 4].into(),
                        data: Some(vec![1]),
                        acl: Some(Acl::open_unsafe()),
                        flags: i32::from(s.byte() % 4),
                        ttl: None,
                    },
                };
                let mut payload = encode_request_frame(i32::from(s.byte()), &req)[4..].to_vec();
                if s.byte().is_multiple_of(4) {
                    payload.truncate(usize::from(s.byte()) % payload.len().max(1));
                }
                let session = SessionId(i64::from(s.byte()));
                let forward = match s.byte() % 3 {
                    0 => Forward::Request {
                        session,
                        payload,
                        ids: vec![("ip".into(), "127.0.0.1".into())],
                    },
                    1 => Forward::CreateSession {
                        session,
                        timeout_ms: i32::from(s.byte()) * 100,
                    },
                    _ => Forward::Error {
                        session,
                        cxid: 1,
                        err: -i32::from(s.byte()),
                    },
                };
                ZabBody::Request {
                    req: u64::from(s.byte()),
                    forward,
                }
            }
            4 => ZabBody::Revalidate {
                req: u64::from(s.byte()),
                session: SessionId(i64::from(s.byte())),
                timeout_ms: i32::from(s.byte()) * 100,
            },
            5 => ZabBody::Sync {
                req: u64::from(s.byte()),
            },
            6 => ZabBody::PingReply {
                acked: (s.byte() & 1 == 1).then(|| self.zxid(s)),
                touches: vec![(SessionId(i64::from(s.byte())), 4000)],
            },
            7 => ZabBody::LeaderInfo { epoch: e(s) },
            8 => ZabBody::Trunc { zxid: self.zxid(s) },
            9 => {
                let epoch = Epoch(s.small());
                let mut image = Image::new();
                for n in 0..s.small() {
                    image.apply(&entry(Zxid::new(epoch, n + 1), 1000 + u64::from(n)));
                }
                let mut bytes = snapshot::to_bytes(&image);
                if s.byte().is_multiple_of(3) && !bytes.is_empty() {
                    let i = usize::from(s.byte()) % bytes.len();
                    bytes[i] ^= 0x40;
                }
                ZabBody::Snap {
                    zxid: image.zxid(),
                    bytes,
                }
            }
            10 => {
                let prev = if s.byte().is_multiple_of(4) {
                    self.zxid(s)
                } else {
                    self.server.replica().last_logged()
                };
                let mut z = prev;
                let mut entries = Vec::new();
                for _ in 0..s.small() {
                    z = if s.byte().is_multiple_of(5) {
                        Zxid::new(Epoch(z.epoch().0.saturating_add(1)), 1)
                    } else {
                        Zxid(z.0.saturating_add(1))
                    };
                    self.payload += 1;
                    let mut bytes = entry(z, self.payload).to_bytes();
                    if s.byte().is_multiple_of(7) {
                        bytes.truncate(bytes.len() / 2);
                    }
                    entries.push(WireEntry {
                        bytes,
                        tag: (s.byte() & 1 == 1).then_some(ReqTag {
                            server: ServerId(1),
                            req: u64::from(s.byte()),
                        }),
                    });
                }
                ZabBody::Propose { prev, entries }
            }
            11 => ZabBody::NewLeader {
                epoch: e(s),
                last_zxid: self.zxid(s),
            },
            12 => ZabBody::UpToDate {
                committed: self.zxid(s),
            },
            13 => ZabBody::Commit { zxid: self.zxid(s) },
            14 => ZabBody::Ping {
                committed: self.zxid(s),
            },
            15 => ZabBody::SyncDone {
                req: u64::from(s.byte()),
                committed: self.zxid(s),
            },
            _ => match s.byte() % 2 {
                0 => ZabBody::Revalidated {
                    req: u64::from(s.byte()),
                    valid: s.byte() & 1 == 1,
                },
                _ => ZabBody::Reject {
                    reason: RejectReason::NotLeading,
                },
            },
        }
    }

    fn step(&mut self, s: &mut Script) {
        match s.byte() % 9 {
            0 => {
                let from = peer(s.byte());
                let n = Notification {
                    vote: Vote {
                        leader: ServerId(1 + u64::from(s.byte() % 3)),
                        zxid: self.zxid(s),
                        peer_epoch: Epoch(s.small()),
                    },
                    election_epoch: ElectionEpoch(u64::from(s.small())),
                    state: PeerState::from_wire(i32::from(s.byte() % 4)).expect("0..3"),
                    sender: from,
                };
                self.server
                    .peer_message(self.now, from, PeerMessage::Vote(n));
            }
            1 | 2 => {
                let from = peer(s.byte());
                let session = if s.byte().is_multiple_of(5) {
                    LearnerSession(u64::from(s.byte()))
                } else {
                    self.sessions[(from.0 - 2) as usize]
                };
                let body = self.body(s);
                let msg = PeerMessage::Zab(ZabMessage { session, body });
                self.server.peer_message(self.now, from, msg);
            }
            3 => {
                self.now = self.now.plus(i64::from(s.byte()) * 20);
                if self.server.next_deadline().is_some_and(|d| d <= self.now) {
                    self.server.tick(self.now);
                }
            }
            4 => {
                if let Some(&last) = self.pending.back() {
                    self.pending.clear();
                    self.server.persisted(self.now, last);
                }
            }
            5 => {
                if let Some(t) = self.pending.pop_front() {
                    self.server.persisted(self.now, t);
                }
            }
            6 => self.server.peer_disconnected(self.now, peer(s.byte())),
            7 => {
                let len = usize::from(s.byte());
                let raw: Vec<u8> = (0..len).map(|_| s.byte()).collect();
                if let Ok(msg) = decode::<PeerMessage>(&raw) {
                    self.server.peer_message(self.now, peer(s.byte()), msg);
                }
            }
            _ => {
                let conn = ConnId(self.next_conn);
                self.next_conn += 1;
                let addr: SocketAddr = "127.0.0.1:4000".parse().expect("literal");
                self.server.connection_opened(self.now, conn, addr);
                let req = corral_core::proto::ConnectRequest {
                    protocol_version: 0,
                    last_zxid_seen: Zxid::ZERO,
                    timeout_ms: 4000,
                    session_id: SessionId(0),
                    passwd: vec![0; 16],
                    read_only: None,
                };
                let mut w = corral_core::jute::JuteWriter::new();
                req.write(&mut w);
                self.server.frame_received(self.now, conn, &w.into_inner());
                let frame = encode_request_frame(1, &Request::Sync { path: "/".into() });
                self.server.frame_received(self.now, conn, &frame[4..]);
            }
        }
        self.pump();
    }
}

/// Run a script against server 1 of a three-server ensemble. Panics only on a bug.
pub fn fuzz_replica(data: &[u8]) {
    let now = Millis(1_700_000_000_000);
    let mut rc = ReplicaConfig::new(ServerId(1), [ServerId(1), ServerId(2), ServerId(3)]);
    rc.tick_ms = 100;
    rc.diff_window = 4;
    let config = ServerConfig {
        tick_time_ms: 100,
        snap_count: 8,
        ..ServerConfig::default()
    };
    let mut server = Server::new_ensemble(config, rc, Default::default(), now);
    server.start(now);
    let mut w = World {
        server,
        now,
        pending: VecDeque::new(),
        sessions: [LearnerSession(0); 2],
        next_conn: 1,
        payload: 0,
    };
    w.pump();
    let mut s = Script { data, pos: 0 };
    let mut steps = 0;
    while !s.done() && steps < 2_000 {
        w.step(&mut s);
        steps += 1;
    }
}

/// Peer frames: whatever decodes re-encodes to a message that decodes to itself.
pub fn fuzz_peer(data: &[u8]) {
    use corral_core::zab::message::{encode, Hello};
    if let Ok(msg) = decode::<PeerMessage>(data) {
        let again = decode::<PeerMessage>(&encode(&msg)).expect("re-encoded message decodes");
        assert_eq!(again, msg);
    }
    if let Ok(h) = decode::<Hello>(data) {
        assert_eq!(decode::<Hello>(&encode(&h)).expect("hello decodes"), h);
    }
}

/// Seed scripts for `fuzz_replica` (see `seeds.rs`).
pub fn replica_seeds() -> Vec<(&'static str, Vec<u8>)> {
    // Step encodings (see `World::step`): 0 vote [peer, leader, zxid-sel, epoch, round,
    // state]; 1 zab [peer, session-sel, body...]; 3 tick [n*20ms]; 4 persist all;
    // 5 persist one; 6 link down [peer]; 7 raw [len, bytes.., peer]; 8 client.
    let elect = |leader: u8| vec![0, 0, leader, 0, 0, 1, 0, 0, 1, leader, 0, 0, 1, 0, 3, 13];
    let mut follow = elect(2); // both peers vote for server 3
    follow.extend([1, 1, 1, 7, 1, 4]); // LEADERINFO epoch 1, persist
    follow.extend([1, 1, 1, 10, 1, 3, 1, 1, 0, 1, 1, 0, 1, 1, 0]); // DIFF of 3 entries
    follow.extend([1, 1, 1, 11, 1, 0, 4]); // NEWLEADER, persist
    follow.extend([1, 1, 1, 12, 0, 1, 1, 1, 13, 0, 8, 1, 1, 1, 14, 4]); // UPTODATE, COMMIT, client, PING
    let mut lead = elect(0); // both peers vote for server 1
    lead.extend([1, 0, 1, 0, 0, 0, 0, 0, 4]); // FOLLOWERINFO from 2, persist accepted
    lead.extend([1, 0, 1, 1, 1, 0, 0, 0, 0, 4]); // ACKEPOCH, persist current
    lead.extend([1, 0, 1, 2, 0, 4]); // ACK of NEWLEADER: established
    lead.extend([8, 4, 1, 0, 1, 3, 0, 0, 1, 0, 0, 5, 4, 3, 10]); // clients, forwarded write
    let mut trunc = follow.clone();
    trunc.extend([6, 1, 3, 200, 3, 200]); // the leader link breaks; time passes
    trunc.extend(elect(2));
    trunc.extend([1, 1, 1, 7, 2, 4, 1, 1, 1, 8, 3, 1, 4]); // LEADERINFO 2, TRUNC
    let mut snap = follow.clone();
    snap.extend([6, 1, 3, 200]);
    snap.extend(elect(2));
    snap.extend([
        1, 1, 1, 7, 2, 4, 1, 1, 1, 9, 2, 3, 1, 4, 1, 1, 1, 11, 2, 0, 4,
    ]);
    let mut out = vec![
        ("empty", vec![]),
        ("elect_follow_sync", follow.clone()),
        ("elect_lead_establish", lead.clone()),
        ("trunc_after_leader_change", trunc),
        ("snap_after_leader_change", snap),
        ("gap_in_proposals", {
            let mut v = follow.clone();
            v.extend([1, 1, 1, 10, 0, 0, 2, 1, 1, 0, 1, 1, 0]);
            v
        }),
        ("raw_frame", vec![7, 3, 0, 1, 2, 1]),
        ("stale_session", {
            let mut v = follow.clone();
            v.extend([1, 1, 5, 9, 13, 0]);
            v
        }),
    ];
    // Deterministic noise grafted onto the two long scripts.
    let mut x: u32 = 0x1234_5678;
    let names = [
        "noise_00", "noise_01", "noise_02", "noise_03", "noise_04", "noise_05", "noise_06",
        "noise_07", "noise_08", "noise_09", "noise_10", "noise_11", "noise_12", "noise_13",
    ];
    for (i, name) in names.into_iter().enumerate() {
        let mut v = if i % 2 == 0 {
            follow.clone()
        } else {
            lead.clone()
        };
        for _ in 0..48 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            v.push((x >> 24) as u8);
        }
        out.push((name, v));
    }
    out
}
