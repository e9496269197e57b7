//! What servers of an ensemble say to each other, and its encoding on peer links.
//!
//! Corral's peer protocol is its own (ZooKeeper's quorum and election ports speak jute
//! `QuorumPacket`s and 40-byte notifications; only client compatibility is a goal). One
//! link per pair of servers carries both election notifications and ZAB messages as
//! bincode 2 frames; the transport (the tokio shell, or the simulator) prefixes each
//! frame with its length and opens every link with a [`Hello`].
//!
//! Delivery is best effort. A link may lose any suffix of what was sent when it breaks, a
//! new link may start mid-stream, and a stale message from an earlier follow attempt may
//! still arrive. The ZAB messages are built so that none of this can do harm, only delay:
//! every message names the follow attempt ([`LearnerSession`]) it belongs to and is
//! dropped otherwise; ACK and COMMIT are cumulative; a follower that sees a gap in the
//! proposals it receives gives up on the leader and looks again.

use bincode::{Decode, Encode};

use crate::types::{Epoch, ServerId, SessionId, Zxid};
use crate::zab::election::Notification;

/// Version of the peer protocol, checked in the link handshake.
pub const PEER_PROTOCOL_VERSION: u32 = 1;

/// Largest peer frame accepted (a SNAP carries a whole snapshot; everything else is small).
pub const MAX_PEER_FRAME: usize = 1 << 30;

/// Identifies one attempt of a follower to follow a leader. Chosen by the follower when
/// it decides to follow, echoed by the leader in every message of that attempt, so that
/// messages of an older attempt (or to an older process) are recognised and dropped.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Encode, Decode)]
pub struct LearnerSession(pub u64);

/// Which server holds the client connection waiting for a transaction, and which of its
/// requests it was. Travels with a proposal (not in the log) so the server that received
/// the request can answer its client once the transaction is applied.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Encode, Decode)]
pub struct ReqTag {
    /// The server the client is connected to.
    pub server: ServerId,
    /// That server's request number.
    pub req: u64,
}

/// A log entry on the wire: the jute bytes of `TxnHeader ++ txn` (as in the log file) and
/// the origin of the request, if a client waits for it.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct WireEntry {
    /// `LogEntry::to_bytes`.
    pub bytes: Vec<u8>,
    /// Who waits for the result.
    pub tag: Option<ReqTag>,
}

/// A client request that a follower hands to the leader, which alone prepares
/// transactions (ZooKeeper's REQUEST packet).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Forward {
    /// A write request frame as the client sent it (`RequestHeader` and body, the length
    /// prefix stripped), for the given session, with the connection's identities
    /// (`(scheme, id)` pairs, for ACL checks).
    Request {
        session: SessionId,
        payload: Vec<u8>,
        ids: Vec<(String, String)>,
    },
    /// A new session the follower assigned an id to (createSession).
    CreateSession { session: SessionId, timeout_ms: i32 },
    /// A write the follower already knows fails (it does not decode, or its session had
    /// expired when it arrived): as in ZooKeeper it still consumes a zxid as an error txn.
    Error {
        session: SessionId,
        cxid: i32,
        /// The ZooKeeper error code.
        err: i32,
    },
}

/// A ZAB message (discovery, synchronization, broadcast, and the client-facing side
/// channels) within one follow attempt.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ZabMessage {
    /// The follow attempt this belongs to.
    pub session: LearnerSession,
    pub body: ZabBody,
}

/// The messages of ZAB. Learner → leader first, then leader → learner.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum ZabBody {
    // ---- learner → leader ----------------------------------------------------------
    /// FOLLOWERINFO: "I follow you". Sent until LEADERINFO arrives.
    FollowerInfo {
        accepted_epoch: Epoch,
        /// The leader the epoch was accepted from, if known.
        accepted_leader: Option<ServerId>,
        current_epoch: Epoch,
        last_zxid: Zxid,
    },
    /// ACKEPOCH: the learner has made `epoch` its accepted epoch durably, and reports its
    /// position: its `currentEpoch`, last logged zxid and last applied (committed) zxid.
    AckEpoch {
        epoch: Epoch,
        current_epoch: Epoch,
        last_zxid: Zxid,
        applied_zxid: Zxid,
    },
    /// ACK, cumulative: the learner's log durably holds the leader's history through
    /// `zxid`. The first one after NEWLEADER acknowledges NEWLEADER (it is sent only once
    /// `currentEpoch` is durable).
    Ack { zxid: Zxid },
    /// REQUEST: a client write (or session creation) for the leader to prepare.
    Request { req: u64, forward: Forward },
    /// A client moved its session here: is it alive? (ZooKeeper's REVALIDATE.)
    Revalidate {
        req: u64,
        session: SessionId,
        timeout_ms: i32,
    },
    /// A client asked this learner for `sync`.
    Sync { req: u64 },
    /// Answer to PING: the learner's cumulative ACK (`None` until it acknowledged
    /// NEWLEADER), repeated so that a lost ACK is repaired, and the sessions with traffic
    /// on this learner since the last answer.
    PingReply {
        acked: Option<Zxid>,
        touches: Vec<(SessionId, i32)>,
    },

    // ---- leader → learner ----------------------------------------------------------
    /// LEADERINFO: the new epoch.
    LeaderInfo { epoch: Epoch },
    /// TRUNC: drop every log entry after `zxid` (then the DIFF follows).
    Trunc { zxid: Zxid },
    /// SNAP: the whole state as of `zxid`, a snapshot in `core::snapshot` format (then
    /// the DIFF after it follows).
    Snap { zxid: Zxid, bytes: Vec<u8> },
    /// PROPOSAL, several at once: entries to append, in order, right after `prev` (the
    /// zxid the receiver's log must end with, or a message was lost). During
    /// synchronization they are the DIFF; afterwards, new proposals.
    Propose { prev: Zxid, entries: Vec<WireEntry> },
    /// NEWLEADER: everything of the leader's history up to `last_zxid` has been sent;
    /// make it durable, make `epoch` the current epoch, then ACK.
    NewLeader { epoch: Epoch, last_zxid: Zxid },
    /// UPTODATE: the leader is established; apply through `committed` and serve clients.
    UpToDate { committed: Zxid },
    /// COMMIT, cumulative: everything through `zxid` is committed.
    Commit { zxid: Zxid },
    /// PING: the leader is alive, and has committed through `committed` (repeated so
    /// that a lost COMMIT is repaired); answer with the session touches.
    Ping { committed: Zxid },
    /// The leader handled `Sync { req }`: everything through `committed` is committed, and
    /// the learner must have it all before it answers its client.
    SyncDone { req: u64, committed: Zxid },
    /// Answer to `Revalidate`.
    Revalidated { req: u64, valid: bool },
    /// The leader will not lead this learner (it is not leading, the epoch does not fit,
    /// or the learner is ahead): look for a leader again.
    Reject { reason: RejectReason },
}

/// Why a leader turned a learner away.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum RejectReason {
    /// This server is not (or no longer) leading.
    NotLeading,
    /// The learner's accepted epoch is not below the epoch this leader established.
    EpochTooOld,
    /// The learner's log is ahead of the leader's.
    LearnerAhead,
    /// A message of an unknown follow attempt.
    UnknownSession,
}

/// Everything that travels on a peer link after the handshake.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum PeerMessage {
    /// A Fast Leader Election notification.
    Vote(Notification),
    /// A ZAB message.
    Zab(ZabMessage),
}

/// The first frame on every peer link, sent by both ends.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Hello {
    /// [`PEER_PROTOCOL_VERSION`].
    pub version: u32,
    /// The sender's id.
    pub from: ServerId,
    /// The id the sender believes the receiver has (a misconfigured ensemble is caught
    /// here rather than by a confused election).
    pub to: ServerId,
}

/// A peer frame that does not decode.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PeerDecodeError(pub String);

impl std::fmt::Display for PeerDecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "undecodable peer frame: {}", self.0)
    }
}

impl std::error::Error for PeerDecodeError {}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_PEER_FRAME>()
}

/// Encode a message as one frame body (no length prefix).
pub fn encode<T: Encode>(msg: &T) -> Vec<u8> {
    bincode::encode_to_vec(msg, config()).expect("encoding to a Vec cannot fail")
}

/// Decode one frame body. Trailing bytes are an error: a frame holds exactly one message.
pub fn decode<T: Decode<()>>(bytes: &[u8]) -> Result<T, PeerDecodeError> {
    let (msg, used) = bincode::decode_from_slice::<T, _>(bytes, config())
        .map_err(|e| PeerDecodeError(e.to_string()))?;
    if used != bytes.len() {
        return Err(PeerDecodeError(format!(
            "{} trailing bytes after the message",
            bytes.len() - used
        )));
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zab::election::{ElectionEpoch, PeerState, Vote};

    fn samples() -> Vec<PeerMessage> {
        let s = LearnerSession(7);
        let z = |b: ZabBody| {
            PeerMessage::Zab(ZabMessage {
                session: s,
                body: b,
            })
        };
        vec![
            PeerMessage::Vote(Notification {
                vote: Vote {
                    leader: ServerId(3),
                    zxid: Zxid(0x1_0000_0005),
                    peer_epoch: Epoch(1),
                },
                election_epoch: ElectionEpoch(4),
                state: PeerState::Looking,
                sender: ServerId(2),
            }),
            z(ZabBody::FollowerInfo {
                accepted_epoch: Epoch(1),
                accepted_leader: Some(ServerId(3)),
                current_epoch: Epoch(1),
                last_zxid: Zxid(9),
            }),
            z(ZabBody::Propose {
                prev: Zxid(4),
                entries: vec![WireEntry {
                    bytes: vec![1, 2, 3],
                    tag: Some(ReqTag {
                        server: ServerId(1),
                        req: 99,
                    }),
                }],
            }),
            z(ZabBody::Request {
                req: 5,
                forward: Forward::Request {
                    session: SessionId(0x100),
                    payload: vec![0, 0, 0, 1],
                    ids: vec![("ip".into(), "127.0.0.1".into())],
                },
            }),
            z(ZabBody::Snap {
                zxid: Zxid(3),
                bytes: vec![9; 100],
            }),
            z(ZabBody::Reject {
                reason: RejectReason::LearnerAhead,
            }),
        ]
    }

    #[test]
    fn messages_round_trip() {
        for m in samples() {
            let bytes = encode(&m);
            assert_eq!(decode::<PeerMessage>(&bytes).unwrap(), m);
        }
        let h = Hello {
            version: PEER_PROTOCOL_VERSION,
            from: ServerId(1),
            to: ServerId(2),
        };
        assert_eq!(decode::<Hello>(&encode(&h)).unwrap(), h);
    }

    #[test]
    fn truncated_or_padded_frames_are_errors() {
        for m in samples() {
            let bytes = encode(&m);
            for cut in 0..bytes.len() {
                assert!(
                    decode::<PeerMessage>(&bytes[..cut]).is_err(),
                    "cut at {cut}"
                );
            }
            let mut padded = bytes.clone();
            padded.push(0);
            assert!(decode::<PeerMessage>(&padded).is_err());
        }
    }

    #[test]
    fn a_huge_claimed_length_is_refused_without_allocating() {
        // Variant Zab, session 0, body Propose, prev 0, then a vector length of 2^62.
        let mut bytes = vec![1, 0, 10, 0];
        bytes.push(253);
        bytes.extend_from_slice(&(1u64 << 62).to_le_bytes());
        assert!(decode::<PeerMessage>(&bytes).is_err());
    }
}
