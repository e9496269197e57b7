//! One server's ZAB engine: election, discovery, synchronization and broadcast.
//!
//! A [`Replica`] owns what replication needs: the [`Election`], the in-memory log tail
//! ([`History`]), the durable epochs, and the state of the current role (leading: the
//! learners and what they acknowledged; following: the leader and how far sync got). It
//! knows nothing of clients, the tree or sessions: those live in a [`Host`] (the
//! client-facing `server::State`), which the replica calls back synchronously: to apply a
//! committed entry, to take or install a snapshot, to hear that the role changed, and to
//! handle the client side channels (forwarded writes, session revalidation and touches,
//! sync).
//!
//! Outputs for the driver ([`ReplicaOutput`]) are queued: messages to peers (best effort)
//! and storage operations (in order, acknowledged by token through
//! [`Replica::persisted`]). Nothing that depends on durability leaves before its
//! acknowledgement:
//!
//! - a follower sends ACKEPOCH only once its new `acceptedEpoch` is durable;
//! - it acknowledges NEWLEADER only once every entry, truncation or snapshot of the
//!   synchronization and then its new `currentEpoch` are durable (one ordered queue makes
//!   "log, then epoch, then ACK" a matter of waiting for the last token);
//! - it acknowledges proposals (cumulatively) only as far as its log is durable;
//! - a leader counts itself towards NEWLEADER only with its history and `currentEpoch`
//!   durable, and towards a proposal only once its own log holds it durably.
//!
//! A standalone server runs the same engine with itself as the only voter and no epoch
//! change: a write is committed when it is durable.

mod follower;
mod leader;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, VecDeque};

use crate::server::PersistToken;
use crate::snapshot::Image;
use crate::txn::LogEntry;
use crate::types::{Epoch, Millis, ServerId, SessionId, Zxid};
use crate::zab::election::{self, Election, ElectionTiming, PeerState};
use crate::zab::history::{HistEntry, History};
use crate::zab::message::{Forward, LearnerSession, PeerMessage, ReqTag, ZabMessage};
use crate::zab::quorum::Majority;

use follower::Follower;
use leader::Leader;

/// Settings of the ZAB engine (zoo.cfg `tickTime`, `initLimit`, `syncLimit`, the
/// `server.N` lines, and Corral's own knobs).
#[derive(Clone, Debug)]
pub struct ReplicaConfig {
    /// This server (`myid`).
    pub my_id: ServerId,
    /// The voting members, this server included.
    pub voters: BTreeSet<ServerId>,
    /// `tickTime` in ms.
    pub tick_ms: i64,
    /// `initLimit`: ticks a leader may take to establish, and a follower to synchronize.
    pub init_limit: u32,
    /// `syncLimit`: ticks of silence after which a leader drops a follower and a follower
    /// gives up on its leader.
    pub sync_limit: u32,
    /// Fast Leader Election timing.
    pub election: ElectionTiming,
    /// Applied entries kept in memory for DIFF (ZooKeeper's `commitLogCount`, 500; Corral
    /// keeps more because it has no on-disk DIFF source).
    pub diff_window: usize,
    /// The last zxid counter a leader proposes before it steps down to force a new epoch
    /// (ZooKeeper: just below 2^32, ZOOKEEPER-1277). Lower in tests.
    pub max_counter: u32,
    /// Entries per PROPOSAL message during synchronization.
    pub sync_batch: usize,
}

impl ReplicaConfig {
    /// ZooKeeper's defaults around `my_id` and `voters`.
    pub fn new(my_id: ServerId, voters: impl IntoIterator<Item = ServerId>) -> ReplicaConfig {
        ReplicaConfig {
            my_id,
            voters: voters.into_iter().collect(),
            tick_ms: 2000,
            init_limit: 10,
            sync_limit: 5,
            election: ElectionTiming::default(),
            diff_window: 10_000,
            max_counter: u32::MAX - 1,
            sync_batch: 512,
        }
    }

    fn init_ms(&self) -> i64 {
        self.tick_ms * i64::from(self.init_limit.max(1))
    }

    fn sync_ms(&self) -> i64 {
        self.tick_ms * i64::from(self.sync_limit.max(1))
    }

    /// Half a tick: how often a leader pings and checks its quorum (ZooKeeper's lead loop).
    fn half_tick_ms(&self) -> i64 {
        (self.tick_ms / 2).max(1)
    }

    /// How often a follower repeats FOLLOWERINFO until the leader answers: the leader may
    /// decide a little after the follower, and a whole tick (2 s by default) would add
    /// that much to every failover.
    fn info_resend_ms(&self) -> i64 {
        self.election.finalize_wait_ms.clamp(1, self.tick_ms.max(1))
    }
}

/// The `acceptedEpoch`, and from which leader it was accepted.
///
/// ZooKeeper stores only the number; Corral also stores the leader. A follower accepts a
/// LEADERINFO for an epoch above its accepted one, or for the same epoch from the same
/// leader (re-joining the leader it already promised to). Two leaders can therefore never
/// both gather a quorum for one epoch, which is what makes a zxid name one transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AcceptedEpoch {
    pub epoch: Epoch,
    /// `None` for epochs accepted before Corral recorded it (imported data): such an epoch
    /// is only ever superseded by a higher one.
    pub leader: Option<ServerId>,
}

/// The durable epochs a server starts with (zero on a fresh data directory).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct StoredEpochs {
    pub accepted: AcceptedEpoch,
    pub current: Epoch,
}

/// A storage operation. The driver carries them out in the order issued and reports each
/// durable with [`Replica::persisted`] (a token acknowledges every earlier one too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageOp {
    /// Append these entries to the log (they follow its last entry).
    Append(Vec<LogEntry>),
    /// Remove every log entry after `after` (it is in the log, or is the snapshot the log
    /// starts from).
    Truncate { after: Zxid },
    /// Make this snapshot (core snapshot format, state as of `zxid`) the state to recover
    /// from, with an empty log after it: every older log entry and snapshot is discarded
    /// (they may hold an uncommitted tail the leader does not have). After a crash at any
    /// point, recovery finds either the old state or this one, never a mix.
    InstallSnapshot { zxid: Zxid, bytes: Vec<u8> },
    /// Replace `acceptedEpoch` and/or `currentEpoch` atomically.
    SaveEpochs {
        accepted: Option<AcceptedEpoch>,
        current: Option<Epoch>,
    },
}

/// What the replica asks of the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub enum ReplicaOutput {
    /// Send to a peer, best effort (dropped if the link is down).
    Send { to: ServerId, msg: PeerMessage },
    /// Carry out a storage operation, then call [`Replica::persisted`] with `token`.
    Storage { token: PersistToken, op: StorageOp },
}

/// The role, as the client-facing side needs to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A single server: serves, commits what is durable.
    Standalone,
    /// Electing, or synchronizing with a leader: serves no client.
    Looking,
    /// Established leader of `epoch`: serves, prepares every write.
    Leading { epoch: Epoch },
    /// Synchronized follower: serves reads, forwards writes to `leader`.
    Following { leader: ServerId, epoch: Epoch },
}

impl Role {
    /// Whether clients are served in this role.
    pub fn serving(self) -> bool {
        !matches!(self, Role::Looking)
    }
}

/// What happened, for traces, determinism digests and coverage counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZabEvent {
    /// Back to LOOKING, and why.
    Looking { reason: String },
    /// The election decided.
    Decided { leader: ServerId, role: PeerState },
    /// As leader, the new epoch was chosen from a quorum of FOLLOWERINFO.
    EpochChosen { epoch: Epoch },
    /// As leader, a quorum acknowledged NEWLEADER: serving.
    Established { epoch: Epoch, last: Zxid },
    /// As leader, a learner's synchronization was sent.
    SyncSent {
        learner: ServerId,
        kind: SyncKind,
        from: Zxid,
        to: Zxid,
    },
    /// As follower, synchronization finished (UPTODATE): serving.
    FollowerServing { leader: ServerId, epoch: Epoch },
    /// As follower, this server applied a TRUNC, SNAP or DIFF.
    SyncReceived { kind: SyncKind, zxid: Zxid },
}

/// The kind of a synchronization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SyncKind {
    Diff,
    Trunc,
    Snap,
}

/// What the replica calls back on the client-facing side. All calls happen inside a call
/// to the replica, in protocol order.
pub trait Host {
    /// A committed entry, in zxid order: apply it and answer whoever waits for it.
    fn apply(&mut self, now: Millis, entry: HistEntry);
    /// The applied state as a snapshot (core snapshot format) and its zxid, for SNAP.
    fn snapshot(&mut self) -> (Zxid, Vec<u8>);
    /// Replace the state with `image` (SNAP from the leader). No client is served now.
    fn install(&mut self, now: Millis, image: Image);
    /// The role changed. `last_zxid` is the zxid the next proposal follows (as leader:
    /// counter 0 of the new epoch; standalone: the last in the log).
    fn role_changed(&mut self, now: Millis, role: Role, last_zxid: Zxid);
    /// As leader: a follower forwarded a client request.
    fn forwarded(&mut self, now: Millis, from: ServerId, req: u64, forward: Forward);
    /// As leader: a client moved its session to `from`; is it alive? (Touch it if so.)
    fn revalidate(
        &mut self,
        now: Millis,
        from: ServerId,
        session: SessionId,
        timeout_ms: i32,
    ) -> bool;
    /// As leader: sessions with traffic on a follower.
    fn touched(&mut self, now: Millis, from: ServerId, touches: Vec<(SessionId, i32)>);
    /// As follower: the sessions with traffic here since the last call (for PING).
    fn take_touches(&mut self) -> Vec<(SessionId, i32)>;
    /// As follower: the leader finished the sync `req`.
    fn sync_done(&mut self, now: Millis, req: u64);
    /// As follower: the answer to revalidation `req`.
    fn revalidated(&mut self, now: Millis, req: u64, valid: bool);
}

/// A request the client side sends to the leader through a follower's link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToLeader {
    /// A write or a session creation.
    Forward { req: u64, forward: Forward },
    /// Session revalidation.
    Revalidate {
        req: u64,
        session: SessionId,
        timeout_ms: i32,
    },
    /// A client sync.
    Sync { req: u64 },
}

/// Why a request could not be sent to the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotFollowing;

/// Something to do once a storage operation is durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    FollowerAckEpoch(LearnerSession),
    FollowerAckNewLeader(LearnerSession),
    LeaderAcceptedSaved(Epoch),
    LeaderCurrentSaved(Epoch),
}

/// An issued storage operation, waiting for its acknowledgement.
#[derive(Clone, Debug)]
struct Pending {
    token: PersistToken,
    /// The log's last zxid once this operation is durable, if it changes the log.
    tail: Option<Zxid>,
    accepted: Option<AcceptedEpoch>,
    current: Option<Epoch>,
    then: Option<Then>,
}

/// The current role's state.
#[derive(Debug)]
enum RoleState {
    /// Before `start` (recovery).
    Recovering,
    Standalone,
    Looking,
    Leading(Box<Leader>),
    Following(Box<Follower>),
}

/// One server's ZAB engine. See the module docs.
#[derive(Debug)]
pub struct Replica {
    cfg: ReplicaConfig,
    quorum: Majority,
    /// `None` for a standalone server.
    election: Option<Election<Majority>>,
    /// Durable epochs.
    accepted: AcceptedEpoch,
    current: Epoch,
    /// The latest `acceptedEpoch` issued for storage (durable or not): promises are
    /// judged against it, so that a promise never goes back even before it is durable.
    accepted_promised: AcceptedEpoch,
    /// The highest epoch a learner told this server it promised elsewhere: the next epoch
    /// this server chooses as leader is above it.
    epoch_floor: Epoch,
    history: History,
    /// The log's last zxid as far as it is durable.
    durable: Zxid,
    pending: VecDeque<Pending>,
    next_token: u64,
    role: RoleState,
    outputs: VecDeque<ReplicaOutput>,
    events: VecDeque<ZabEvent>,
    /// Follow attempts started, for fresh [`LearnerSession`]s.
    attempts: u64,
    /// Seeds learner sessions so that they differ across restarts.
    nonce_seed: u64,
}

/// Trace events kept when nobody drains them.
const MAX_EVENTS: usize = 10_000;

/// Epochs from here on are refused: a zxid is a signed 64-bit number whose top half is the
/// epoch, and it must stay positive. A peer that offers such an epoch is confused or
/// hostile; accepting it would make this server unable ever to lead (or crash it).
pub(crate) const MAX_EPOCH: Epoch = Epoch(i32::MAX as u32);

impl Replica {
    /// The engine of a standalone server whose recovered log ends at `last_zxid` (all of
    /// it applied by the caller during recovery).
    pub fn standalone(my_id: ServerId, last_zxid: Zxid) -> Replica {
        let mut cfg = ReplicaConfig::new(my_id, [my_id]);
        cfg.diff_window = 0;
        Replica::build(cfg, None, StoredEpochs::default(), last_zxid)
    }

    /// The engine of an ensemble member, with its durable epochs and the zxid of the
    /// snapshot it recovered (zero without one). Feed the log entries after it with
    /// [`Replica::replay`], then call [`Replica::start`].
    ///
    /// # Panics
    /// When `cfg.voters` does not contain `cfg.my_id` (observers are not supported yet):
    /// the configuration layer must refuse that first.
    pub fn quorum(
        cfg: ReplicaConfig,
        epochs: StoredEpochs,
        snapshot_zxid: Zxid,
        now: Millis,
    ) -> Replica {
        assert!(
            cfg.voters.contains(&cfg.my_id),
            "server {} is not among the voters {:?}",
            cfg.my_id,
            cfg.voters
        );
        let quorum = Majority::new(cfg.voters.iter().copied());
        let election = Election::with_timing(
            cfg.my_id,
            quorum,
            snapshot_zxid,
            epochs.current,
            cfg.election,
        );
        let _ = now;
        Replica::build(cfg, Some(election), epochs, snapshot_zxid)
    }

    fn build(
        cfg: ReplicaConfig,
        election: Option<Election<Majority>>,
        epochs: StoredEpochs,
        base: Zxid,
    ) -> Replica {
        Replica {
            quorum: Majority::new(cfg.voters.iter().copied()),
            history: History::new(base, cfg.diff_window),
            nonce_seed: cfg.my_id.0.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            cfg,
            election,
            accepted: epochs.accepted,
            accepted_promised: epochs.accepted,
            epoch_floor: Epoch(0),
            current: epochs.current,
            durable: base,
            pending: VecDeque::new(),
            next_token: 1,
            role: RoleState::Recovering,
            outputs: VecDeque::new(),
            events: VecDeque::new(),
            attempts: 0,
        }
    }

    /// Recovery: the durable epochs, when they are read after construction (before
    /// `start`).
    pub fn restore_epochs(&mut self, epochs: StoredEpochs) {
        assert!(
            matches!(self.role, RoleState::Recovering),
            "restore_epochs after start"
        );
        self.accepted = epochs.accepted;
        self.accepted_promised = epochs.accepted;
        self.current = epochs.current;
    }

    /// Recovery: the state starts from a snapshot at `zxid` (before any `replay`).
    pub fn restore_base(&mut self, zxid: Zxid) {
        assert!(
            matches!(self.role, RoleState::Recovering) && self.history.is_empty(),
            "restore_base after replay or start"
        );
        self.history = History::new(zxid, self.cfg.diff_window);
        self.durable = zxid;
    }

    /// Recovery: one durable log entry after the snapshot, in order. Not applied: in an
    /// ensemble, whether the log's tail is committed is only known after synchronizing
    /// with a leader (a standalone server applies during recovery itself and calls
    /// [`Replica::standalone`] with the result instead).
    ///
    /// # Panics
    /// When the entry does not follow the previous one (recovery checks this first).
    pub fn replay(&mut self, entry: LogEntry) {
        assert!(
            matches!(self.role, RoleState::Recovering),
            "replay after start"
        );
        let zxid = entry.hdr.zxid;
        if let Err(gap) = self.history.append(entry, None) {
            panic!("recovered log has a gap: {gap:?}");
        }
        self.durable = zxid;
    }

    /// Recovery is over: a standalone server starts serving, an ensemble member starts
    /// its first election. `nonce_seed` varies learner sessions across restarts (the
    /// driver passes something that differs per process, such as the start time).
    pub fn start(&mut self, now: Millis, nonce_seed: u64, host: &mut impl Host) {
        assert!(matches!(self.role, RoleState::Recovering), "start twice");
        self.nonce_seed ^= nonce_seed;
        match &mut self.election {
            None => {
                self.role = RoleState::Standalone;
                host.role_changed(now, Role::Standalone, self.history.last());
            }
            Some(e) => {
                e.set_log_position(self.history.last(), self.current)
                    .expect("not started yet");
                self.role = RoleState::Looking;
                e.start(now);
                self.pump_election(now, host);
            }
        }
    }

    // ---- queries -------------------------------------------------------------------

    /// The role as the client side sees it.
    pub fn role(&self) -> Role {
        match &self.role {
            RoleState::Standalone => Role::Standalone,
            RoleState::Recovering | RoleState::Looking => Role::Looking,
            RoleState::Leading(l) => l.role(),
            RoleState::Following(f) => f.role(),
        }
    }

    /// This server's id.
    pub fn my_id(&self) -> ServerId {
        self.cfg.my_id
    }

    /// The in-memory log tail.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The last zxid in the log (durable or not).
    pub fn last_logged(&self) -> Zxid {
        self.history.last()
    }

    /// The log's last zxid as far as it is durable.
    pub fn durable(&self) -> Zxid {
        self.durable
    }

    /// Durable `acceptedEpoch`.
    pub fn accepted_epoch(&self) -> AcceptedEpoch {
        self.accepted
    }

    /// Durable `currentEpoch`.
    pub fn current_epoch(&self) -> Epoch {
        self.current
    }

    /// The election's state word for this server (what `srvr` calls the mode).
    pub fn peer_state(&self) -> PeerState {
        match &self.role {
            RoleState::Leading(_) => PeerState::Leading,
            RoleState::Following(_) => PeerState::Following,
            _ => PeerState::Looking,
        }
    }

    /// The synchronized learners a leader has (for `mntr`'s `zk_synced_followers`).
    pub fn synced_learners(&self) -> Vec<ServerId> {
        match &self.role {
            RoleState::Leading(l) => l.synced(),
            _ => Vec::new(),
        }
    }

    /// The next output for the driver.
    pub fn poll_output(&mut self) -> Option<ReplicaOutput> {
        self.outputs.pop_front()
    }

    /// The next trace event.
    pub fn poll_event(&mut self) -> Option<ZabEvent> {
        self.events.pop_front()
    }

    /// When [`Replica::tick`] has work next.
    pub fn next_deadline(&self) -> Option<Millis> {
        let e = self.election.as_ref().and_then(|e| e.next_deadline());
        let r = match &self.role {
            RoleState::Leading(l) => Some(l.next_deadline()),
            RoleState::Following(f) => Some(f.next_deadline(&self.cfg)),
            _ => None,
        };
        match (e, r) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ---- inputs --------------------------------------------------------------------

    /// A message from peer `from` (the link's authenticated id). Poll outputs afterwards.
    pub fn on_message(
        &mut self,
        now: Millis,
        from: ServerId,
        msg: PeerMessage,
        host: &mut impl Host,
    ) {
        if from == self.cfg.my_id || !self.cfg.voters.contains(&from) {
            return;
        }
        match msg {
            PeerMessage::Vote(n) => {
                let Some(e) = &mut self.election else { return };
                // A notification that does not name its link's sender is dropped (the
                // election reports it as an error; nothing else to do with it).
                let _ = e.on_notification(now, from, n);
                self.pump_election(now, host);
            }
            PeerMessage::Zab(m) => self.on_zab(now, from, m, host),
        }
    }

    /// The link to `peer` broke: a follower gives up on that leader at once, a leader
    /// forgets that learner (it will register again).
    pub fn peer_disconnected(&mut self, now: Millis, peer: ServerId, host: &mut impl Host) {
        match &mut self.role {
            RoleState::Following(f) if f.leader == peer => {
                self.go_looking(now, host, format!("link to leader {peer} broke"));
            }
            RoleState::Leading(l) => {
                l.forget(peer);
                self.leader_check_quorum(now, host);
            }
            _ => {}
        }
    }

    /// Time passed. Poll outputs afterwards.
    pub fn tick(&mut self, now: Millis, host: &mut impl Host) {
        if let Some(e) = &mut self.election {
            e.tick(now);
        }
        self.pump_election(now, host);
        match &self.role {
            RoleState::Leading(_) => self.leader_tick(now, host),
            RoleState::Following(_) => self.follower_tick(now, host),
            _ => {}
        }
    }

    /// Every storage operation up to `token` is durable. Poll outputs afterwards.
    pub fn persisted(&mut self, now: Millis, token: PersistToken, host: &mut impl Host) {
        let mut thens = Vec::new();
        while let Some(p) = self.pending.front() {
            if p.token > token {
                break;
            }
            let p = self.pending.pop_front().expect("front exists");
            if let Some(tail) = p.tail {
                self.durable = tail;
            }
            if let Some(a) = p.accepted {
                assert!(
                    a.epoch >= self.accepted.epoch,
                    "acceptedEpoch going back from {:?} to {:?}",
                    self.accepted,
                    a
                );
                self.accepted = a;
            }
            if let Some(c) = p.current {
                assert!(
                    c >= self.current,
                    "currentEpoch going back from {:?} to {c:?}",
                    self.current
                );
                self.current = c;
            }
            thens.extend(p.then);
        }
        for then in thens {
            match then {
                Then::FollowerAckEpoch(s) => self.follower_epoch_saved(now, s),
                Then::FollowerAckNewLeader(s) => self.follower_current_saved(now, s),
                Then::LeaderAcceptedSaved(e) => self.leader_accepted_saved(now, e, host),
                Then::LeaderCurrentSaved(e) => self.leader_current_saved(now, e, host),
            }
        }
        match &self.role {
            RoleState::Standalone => {
                self.history.commit_to(self.durable);
                self.apply_committed(now, host);
            }
            RoleState::Following(_) => self.follower_durable(now),
            RoleState::Leading(_) => self.leader_durable(now, host),
            _ => {}
        }
    }

    /// As leader (or standalone): append prepared entries and replicate them. Each entry's
    /// zxid must follow the previous one. An entry past `max_counter` makes the leader
    /// step down instead (a new epoch restarts the counter); the entries are dropped, and
    /// so are their clients' connections with the role change.
    ///
    /// # Panics
    /// When not leading or standalone, or when an entry does not follow the log: the
    /// client side prepares writes only while it has been told it leads.
    pub fn propose(
        &mut self,
        now: Millis,
        entries: Vec<(LogEntry, Option<ReqTag>)>,
        host: &mut impl Host,
    ) {
        if entries.is_empty() {
            return;
        }
        match &self.role {
            RoleState::Standalone => {
                let log: Vec<LogEntry> = entries.iter().map(|(e, _)| e.clone()).collect();
                for (e, tag) in entries {
                    let z = e.hdr.zxid;
                    if let Err(gap) = self.history.append(e, tag) {
                        panic!("standalone proposal {z} does not follow the log: {gap:?}");
                    }
                }
                self.store(StorageOp::Append(log), None);
            }
            RoleState::Leading(_) => self.leader_propose(now, entries, host),
            _ => panic!("propose while {:?}", self.role()),
        }
    }

    /// As follower: send a client-side request to the leader.
    pub fn to_leader(&mut self, msg: ToLeader) -> Result<(), NotFollowing> {
        match &self.role {
            RoleState::Following(f) if f.serving() => {
                let (leader, session) = (f.leader, f.session);
                let body = match msg {
                    ToLeader::Forward { req, forward } => {
                        crate::zab::message::ZabBody::Request { req, forward }
                    }
                    ToLeader::Revalidate {
                        req,
                        session,
                        timeout_ms,
                    } => crate::zab::message::ZabBody::Revalidate {
                        req,
                        session,
                        timeout_ms,
                    },
                    ToLeader::Sync { req } => crate::zab::message::ZabBody::Sync { req },
                };
                self.send_zab(leader, session, body);
                Ok(())
            }
            _ => Err(NotFollowing),
        }
    }

    /// As leader: forget being leader (the client side ran out of zxids or found the
    /// state inconsistent) and elect again.
    pub fn step_down(&mut self, now: Millis, reason: &str, host: &mut impl Host) {
        if matches!(self.role, RoleState::Leading(_) | RoleState::Following(_)) {
            self.go_looking(now, host, reason.to_owned());
        }
    }

    // ---- shared machinery ----------------------------------------------------------

    fn event(&mut self, e: ZabEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }

    fn send(&mut self, to: ServerId, msg: PeerMessage) {
        self.outputs.push_back(ReplicaOutput::Send { to, msg });
    }

    fn send_zab(
        &mut self,
        to: ServerId,
        session: LearnerSession,
        body: crate::zab::message::ZabBody,
    ) {
        self.send(to, PeerMessage::Zab(ZabMessage { session, body }));
    }

    /// Issue a storage operation; `then` runs once it is durable.
    fn store(&mut self, op: StorageOp, then: Option<Then>) -> PersistToken {
        let token = PersistToken(self.next_token);
        self.next_token += 1;
        let (tail, accepted, current) = match &op {
            StorageOp::Append(entries) => (entries.last().map(|e| e.hdr.zxid), None, None),
            StorageOp::Truncate { after } => (Some(*after), None, None),
            StorageOp::InstallSnapshot { zxid, .. } => (Some(*zxid), None, None),
            StorageOp::SaveEpochs { accepted, current } => (None, *accepted, *current),
        };
        self.pending.push_back(Pending {
            token,
            tail,
            accepted,
            current,
            then,
        });
        self.outputs.push_back(ReplicaOutput::Storage { token, op });
        token
    }

    /// Hand every committed, unapplied entry to the host.
    fn apply_committed(&mut self, now: Millis, host: &mut impl Host) {
        for e in self.history.take_appliable() {
            host.apply(now, e);
        }
    }

    fn pump_election(&mut self, now: Millis, host: &mut impl Host) {
        loop {
            let Some(out) = self.election.as_mut().and_then(|e| e.poll_output()) else {
                return;
            };
            match out {
                election::Output::Send { to, notification } => {
                    self.send(to, PeerMessage::Vote(notification));
                }
                election::Output::Decided(d) => {
                    self.event(ZabEvent::Decided {
                        leader: d.leader,
                        role: d.role,
                    });
                    if !matches!(self.role, RoleState::Looking) {
                        continue;
                    }
                    match d.role {
                        PeerState::Leading => self.become_leader(now),
                        PeerState::Following => self.become_follower(now, d.leader),
                        // No observers are configured; an impossible decision is retried.
                        _ => self.go_looking(now, host, "decided an unsupported role".into()),
                    }
                }
            }
        }
    }

    /// Leave the current role and start a new election round.
    fn go_looking(&mut self, now: Millis, host: &mut impl Host, reason: String) {
        let was_serving = self.role().serving();
        // What is known committed is committed: apply it before the state freezes.
        self.apply_committed(now, host);
        self.role = RoleState::Looking;
        if was_serving {
            host.role_changed(now, Role::Looking, self.history.last());
        }
        self.event(ZabEvent::Looking { reason });
        let last = self.history.last();
        let current = self.current;
        if let Some(e) = &mut self.election {
            e.set_log_position(last, current)
                .expect("a decided round can be left, epochs never go back");
            e.start(now);
        }
        self.pump_election(now, host);
    }

    fn on_zab(&mut self, now: Millis, from: ServerId, m: ZabMessage, host: &mut impl Host) {
        use crate::zab::message::ZabBody as B;
        let learner_side = matches!(
            m.body,
            B::FollowerInfo { .. }
                | B::AckEpoch { .. }
                | B::Ack { .. }
                | B::Request { .. }
                | B::Revalidate { .. }
                | B::Sync { .. }
                | B::PingReply { .. }
        );
        if learner_side {
            match &self.role {
                RoleState::Leading(_) => self.leader_on_message(now, from, m, host),
                // Following someone else: the would-be follower decided differently and
                // should look again now rather than after initLimit. While still LOOKING,
                // say nothing: this server may be about to decide to lead (the follower's
                // election finished first), and the follower re-sends FOLLOWERINFO until
                // it does. Rejecting here sent it back to LOOKING just as this server
                // decided, and the two then missed each other for whole initLimits.
                RoleState::Following(_) => {
                    if matches!(m.body, B::FollowerInfo { .. }) {
                        self.send_zab(
                            from,
                            m.session,
                            B::Reject {
                                reason: crate::zab::message::RejectReason::NotLeading,
                            },
                        );
                    }
                }
                _ => {}
            }
        } else if let RoleState::Following(f) = &self.role {
            if f.leader == from && f.session == m.session {
                self.follower_on_message(now, m.body, host);
            }
        }
    }

    fn next_session(&mut self) -> LearnerSession {
        self.attempts += 1;
        LearnerSession(
            self.nonce_seed
                .wrapping_add(self.attempts.wrapping_mul(0x2545_F491_4F6C_DD1D)),
        )
    }
}
