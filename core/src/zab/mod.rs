//! ZAB, ZooKeeper's atomic broadcast, as pure message handlers.
//!
//! - [`quorum`]: the quorum rule ([`quorum::QuorumVerifier`], [`quorum::Majority`]).
//! - [`election`]: Fast Leader Election (ZooKeeper's `electionAlg=3`).
//! - [`message`]: what servers say to each other, and its bincode encoding.
//! - [`history`]: the in-memory log tail with its applied and committed marks.
//! - [`sync`]: how a leader brings a follower up to date (DIFF, TRUNC or SNAP).
//! - [`replica`]: one server's ZAB engine: election, discovery, synchronization and
//!   broadcast, driven by the client-facing `server::Server`.
//!
//! See `docs/replication.md` for the protocol as implemented.

pub mod election;
pub mod history;
pub mod message;
pub mod quorum;
pub mod replica;
pub mod sync;
