//! `Server`: the public face of one server, standalone or an ensemble member.
//!
//! It pairs the client-facing [`State`] with the ZAB engine
//! ([`Replica`](crate::zab::replica::Replica)). Every input goes to whichever of the two
//! handles it; afterwards the writes the state prepared (leading or standalone) or must
//! forward (following) are handed to the replica, and the replica's outputs join the
//! state's in one queue for the driver.

use std::net::SocketAddr;

use super::machine::State;
use super::{LogEntry, Output, PersistToken, ServerConfig, StatsSnapshot};
use crate::snapshot::Image;
use crate::tree::DataTree;
use crate::types::{ConnId, Millis, ServerId, Zxid};
use crate::zab::message::PeerMessage;
use crate::zab::replica::{
    Replica, ReplicaConfig, ReplicaOutput, Role, StorageOp, StoredEpochs, ZabEvent,
};

/// One server. See the module docs of `server` for how to drive it.
pub struct Server {
    st: State,
    replica: Replica,
    ensemble: bool,
}

impl Server {
    /// A standalone server with an empty tree. Feed recovered state with
    /// [`restore`](Self::restore) and [`replay`](Self::replay), then call
    /// [`start`](Self::start).
    pub fn new(config: ServerConfig, now: Millis) -> Server {
        let me = ServerId(config.server_id.unsigned_abs());
        Server {
            st: State::new(config, me, now),
            replica: Replica::standalone(me, Zxid::ZERO),
            ensemble: false,
        }
    }

    /// An ensemble member (`replica.my_id` becomes the server id), with the epochs its
    /// data directory holds. Recover as for [`new`](Self::new): `restore`, `replay` (the
    /// log is not applied yet: whether its tail is committed is settled with the leader),
    /// `start` (which begins the first election).
    pub fn new_ensemble(
        mut config: ServerConfig,
        replica: ReplicaConfig,
        epochs: StoredEpochs,
        now: Millis,
    ) -> Server {
        let me = replica.my_id;
        config.server_id = me.0 as i64;
        Server {
            st: State::new(config, me, now),
            replica: Replica::quorum(replica, epochs, Zxid::ZERO, now),
            ensemble: true,
        }
    }

    /// Start from a snapshot's image (recovery, before any `replay`).
    pub fn restore(&mut self, image: Image) {
        self.st.restore(image);
        self.replica.restore_base(self.st.tree.last_zxid());
    }

    /// The durable epochs, when the driver reads them only after constructing the server
    /// (recovery, before `start`; ensemble members only).
    pub fn restore_epochs(&mut self, epochs: StoredEpochs) {
        if self.ensemble {
            self.replica.restore_epochs(epochs);
        }
    }

    /// One durable log entry after the snapshot, in zxid order (recovery).
    pub fn replay(&mut self, entry: LogEntry) {
        if self.ensemble {
            self.replica.replay(entry);
        } else {
            self.st.replay(entry);
        }
    }

    /// Finish recovery and begin: a standalone server serves, an ensemble member elects.
    pub fn start(&mut self, now: Millis) {
        self.st.start(now, now.0 as u64);
        if !self.ensemble {
            self.replica = Replica::standalone(self.st.me, self.st.tree.last_zxid());
        }
        self.replica.start(now, now.0 as u64, &mut self.st);
        self.flush(now);
    }

    // ---- inputs --------------------------------------------------------------------

    /// A client connected from `remote`.
    pub fn connection_opened(&mut self, now: Millis, conn: ConnId, remote: SocketAddr) {
        self.st.connection_opened(now, conn, remote);
    }

    /// One frame from a client (length prefix stripped, size already checked).
    pub fn frame_received(&mut self, now: Millis, conn: ConnId, payload: &[u8]) {
        self.st.frame_received(now, conn, payload);
        self.flush(now);
    }

    /// The connection is gone (peer closed, error, or after our own `Close`). Its session
    /// lives on until it expires or is resumed elsewhere.
    pub fn connection_closed(&mut self, now: Millis, conn: ConnId) {
        self.st.connection_closed(now, conn);
    }

    /// Time passed (call at or after [`next_deadline`](Self::next_deadline)).
    pub fn tick(&mut self, now: Millis) {
        self.replica.tick(now, &mut self.st);
        self.st.tick(now);
        self.flush(now);
    }

    /// Every storage output (`Persist`, `Truncate`, `InstallSnapshot`, `SaveEpochs`) up to
    /// `token` is durable.
    pub fn persisted(&mut self, now: Millis, token: PersistToken) {
        self.replica.persisted(now, token, &mut self.st);
        self.flush(now);
    }

    /// The driver wrote the snapshot requested with `token` (or gave up on it: `written`
    /// false; a failed snapshot loses nothing, the log still holds every txn).
    pub fn snapshotted(&mut self, token: PersistToken, zxid: Zxid, written: bool) {
        self.st.snapshotted(token, zxid, written);
    }

    /// A message from peer `from` (the id the link's handshake established).
    pub fn peer_message(&mut self, now: Millis, from: ServerId, msg: PeerMessage) {
        self.replica.on_message(now, from, msg, &mut self.st);
        self.flush(now);
    }

    /// The link to `peer` broke (a hint: a follower gives up on that leader at once).
    pub fn peer_disconnected(&mut self, now: Millis, peer: ServerId) {
        self.replica.peer_disconnected(now, peer, &mut self.st);
        self.flush(now);
    }

    // ---- outputs and queries -------------------------------------------------------

    /// Next output for the driver, or `None` when everything is drained.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.st.outputs.pop_front()
    }

    /// The next replication trace event (elections, establishment, syncs).
    pub fn poll_zab_event(&mut self) -> Option<ZabEvent> {
        self.replica.poll_event()
    }

    /// The earliest time at which `tick` has work to do.
    pub fn next_deadline(&self) -> Option<Millis> {
        match (self.st.next_deadline(), self.replica.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The last zxid applied to the tree (`lastProcessedZxid`).
    pub fn last_zxid(&self) -> Zxid {
        self.st.tree.last_zxid()
    }

    /// The applied tree, for inspection (tests, digests, snapshots).
    pub fn tree(&self) -> &DataTree {
        &self.st.tree
    }

    /// The ZAB engine, for inspection (log position, epochs, role).
    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// The role: standalone, leading, following, or looking (not serving).
    pub fn role(&self) -> Role {
        self.replica.role()
    }

    /// Whether clients are served (a member without a leader serves nobody).
    pub fn is_serving(&self) -> bool {
        self.replica.role().serving()
    }

    /// Requests parked in the core exceed `globalOutstandingLimit`: stop reading frames.
    pub fn throttled(&self) -> bool {
        self.st.throttled()
    }

    /// Zxid of the newest snapshot restored or written.
    pub fn last_snapshot_zxid(&self) -> Zxid {
        self.st.last_snapshot
    }

    /// Everything the `srvr`, `stat`, `mntr`, `cons`, `wchs` and `dump` words print.
    pub fn stats(&self, now: Millis) -> StatsSnapshot {
        let mut s = self.st.stats(now);
        s.mode = match self.replica.role() {
            Role::Standalone => "standalone",
            Role::Leading { .. } => "leader",
            Role::Following { .. } => "follower",
            Role::Looking => "looking",
        };
        s.synced_followers = self.replica.synced_learners().len() as u64;
        s
    }

    // ---- the seam between the two halves -------------------------------------------

    /// Hand prepared writes and requests for the leader to the replica, then move its
    /// outputs into the driver's queue.
    fn flush(&mut self, now: Millis) {
        loop {
            let batch = std::mem::take(&mut self.st.batch);
            let to_leader = std::mem::take(&mut self.st.to_leader);
            if batch.is_empty() && to_leader.is_empty() {
                break;
            }
            if !batch.is_empty() && self.st.prepares() {
                self.replica.propose(now, batch, &mut self.st);
            }
            for msg in to_leader {
                // Not following any more: the role change closed the client connections
                // that were waiting for it.
                let _ = self.replica.to_leader(msg);
            }
        }
        while let Some(out) = self.replica.poll_output() {
            self.st.outputs.push_back(match out {
                ReplicaOutput::Send { to, msg } => Output::Peer { to, msg },
                ReplicaOutput::Storage { token, op } => match op {
                    StorageOp::Append(entries) => Output::Persist { token, entries },
                    StorageOp::Truncate { after } => Output::Truncate { token, after },
                    StorageOp::InstallSnapshot { zxid, bytes } => {
                        Output::InstallSnapshot { token, zxid, bytes }
                    }
                    StorageOp::SaveEpochs { accepted, current } => Output::SaveEpochs {
                        token,
                        accepted,
                        current,
                    },
                },
            });
        }
        self.st.maybe_snapshot(self.replica.durable());
    }
}
