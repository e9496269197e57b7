//! ZAB, ZooKeeper's atomic broadcast, as pure message handlers.
//!
//! What exists:
//! - [`quorum`]: the quorum rule ([`quorum::QuorumVerifier`], [`quorum::Majority`]).
//! - [`election`]: Fast Leader Election (ZooKeeper's `electionAlg=3`), a sans-IO state
//!   machine that turns notifications and timer ticks into notifications to send and, at the
//!   end of a round, a decision (LEADING, FOLLOWING or OBSERVING with the elected vote).
//!
//! What does not exist yet: discovery (FOLLOWERINFO, LEADERINFO, ACKEPOCH, acceptedEpoch),
//! synchronization (DIFF, TRUNC, SNAP, NEWLEADER, currentEpoch, UPTODATE), broadcast
//! (PROPOSAL, ACK, COMMIT), heartbeats and the initLimit/syncLimit timeouts, the wire codec of
//! notifications and quorum packets, and observers beyond the election. An election decision
//! is therefore only a candidate leader: nothing here establishes it (see
//! `docs/replication.md`).

pub mod election;
pub mod quorum;
