//! Fast Leader Election (ZooKeeper's `electionAlg=3`) as a sans-IO state machine.
//!
//! One [`Election`] lives as long as the server process. It follows ZooKeeper's
//! `FastLeaderElection`:
//!
//! - **Votes** are `(leader, zxid, peer_epoch)` and are ordered by [`Vote::beats`]
//!   (`totalOrderPredicate`): higher peer epoch, then higher zxid, then higher server id. A
//!   candidate of weight 0 (not a voter) never wins.
//! - **Rounds**: every call to [`Election::start`] increments the logical clock (the
//!   election epoch) and proposes the server itself with its last logged zxid and its
//!   persisted `currentEpoch`. A LOOKING notification from a higher election epoch makes the
//!   receiver adopt that epoch, forget its tally, and propose the better of the sender's vote
//!   and its own initial vote. One from a lower epoch is not tallied, but the sender gets
//!   this server's current vote back so it can catch up.
//! - **Deciding**: once a quorum of the latest notifications of this round agree with this
//!   server's proposal, it waits `finalize_wait` (200 ms) for a better vote. Every notification
//!   that is not better is dropped and restarts that wait (as ZooKeeper's `poll` loop does);
//!   a better one ends the wait and is processed normally. When the wait expires the server
//!   decides: LEADING if it is the proposed leader, else FOLLOWING (OBSERVING for an
//!   observer).
//! - **Joining an established leader**: FOLLOWING/LEADING notifications of this round count
//!   in the tally; those of any round go into the out-of-election set. A quorum there
//!   agreeing on a leader (same leader and peer epoch) that itself claims LEADING makes this
//!   server join it at once (no finalize wait), adopting that round's election epoch.
//! - **Timeouts**: when nothing arrives for the notification timeout (200 ms at first), the
//!   server re-sends its vote to every voter and doubles the timeout, up to 60 s.
//!
//! One deliberate difference: a LOOKING server answers a LOOKING peer of the *same* round
//! whose vote is worse than its own proposal with that proposal (ZooKeeper answers only peers
//! of older rounds). Without it, a peer that joins a round late with a worse vote is never
//! told the better one: every notification it sends restarts the others' timeouts, so they
//! never re-send, and with equal capped intervals that can last forever (found by the
//! harness's property test). The extra message changes no decision rule.
//!
//! After deciding, the machine stays alive: a LOOKING peer that writes to it gets back the
//! decided vote, its election epoch and this server's state (FOLLOWING/LEADING/OBSERVING),
//! as ZooKeeper's `WorkerReceiver` does. That is how a restarting server finds the running
//! leader. When the leader is lost later (ZAB's job to notice), call [`Election::start`] again
//! for a new round.
//!
//! Deciding is not establishing. FLE alone can leave two servers of one round disagreeing
//! (a vote delayed beyond `finalize_wait`, a server that starts late); ZooKeeper relies on
//! discovery (a quorum of FOLLOWERINFO/ACKEPOCH within initLimit) to refuse a leader that has
//! no quorum and to send its would-be followers back to LOOKING. Safety lives there.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::types::{Epoch, Millis, ServerId, Zxid};
use crate::zab::quorum::QuorumVerifier;

/// An election round number: ZooKeeper's `logicalclock`, the notification's `electionEpoch`.
/// Not the same thing as the leader epoch ([`Epoch`]).
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Debug,
    bincode::Encode,
    bincode::Decode,
)]
pub struct ElectionEpoch(pub u64);

/// A server's role as carried in notifications (ZooKeeper's `ServerState`, wire values 0..3).
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, bincode::Encode, bincode::Decode,
)]
pub enum PeerState {
    /// Electing (0).
    Looking,
    /// Decided for another server as leader (1).
    Following,
    /// Decided for itself (2).
    Leading,
    /// An observer that found the leader (3).
    Observing,
}

impl PeerState {
    /// The wire value in a notification.
    pub fn wire(self) -> i32 {
        match self {
            PeerState::Looking => 0,
            PeerState::Following => 1,
            PeerState::Leading => 2,
            PeerState::Observing => 3,
        }
    }

    /// Parse the wire value; unknown values are `None` (ZooKeeper skips such messages).
    pub fn from_wire(v: i32) -> Option<PeerState> {
        match v {
            0 => Some(PeerState::Looking),
            1 => Some(PeerState::Following),
            2 => Some(PeerState::Leading),
            3 => Some(PeerState::Observing),
            _ => None,
        }
    }
}

/// A vote for a leader: the candidate, its last logged zxid and its current epoch.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, bincode::Encode, bincode::Decode)]
pub struct Vote {
    /// The proposed leader.
    pub leader: ServerId,
    /// The proposed leader's last logged zxid.
    pub zxid: Zxid,
    /// The proposed leader's `currentEpoch` (the last epoch it accepted NEWLEADER for).
    pub peer_epoch: Epoch,
}

impl Vote {
    /// ZooKeeper's `totalOrderPredicate`: true when `self` is strictly better than `other`
    /// (higher peer epoch, then higher zxid, then higher server id). A candidate that `quorum`
    /// gives weight 0 is never better.
    pub fn beats(&self, other: &Vote, quorum: &impl QuorumVerifier) -> bool {
        if quorum.weight(self.leader) == 0 {
            return false;
        }
        (self.peer_epoch, self.zxid, self.leader) > (other.peer_epoch, other.zxid, other.leader)
    }
}

/// One election message (what travels on the election port, minus the config bytes).
#[derive(Clone, Copy, PartialEq, Eq, Debug, bincode::Encode, bincode::Decode)]
pub struct Notification {
    /// The vote the sender proposes (LOOKING) or has settled on (otherwise).
    pub vote: Vote,
    /// The sender's round: its logical clock, or the round it decided in.
    pub election_epoch: ElectionEpoch,
    /// The sender's state.
    pub state: PeerState,
    /// The sender. The transport knows it from the connection handshake; it must match the
    /// `from` given to [`Election::on_notification`].
    pub sender: ServerId,
}

/// The outcome of a round.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Decision {
    /// The elected leader.
    pub leader: ServerId,
    /// The vote decided on (ZooKeeper's `endVote`).
    pub vote: Vote,
    /// The round it was decided in; this server's logical clock from now on.
    pub election_epoch: ElectionEpoch,
    /// This server's role: LEADING, FOLLOWING or OBSERVING.
    pub role: PeerState,
    /// The servers whose latest notifications agreed with the decided vote: a quorum. A
    /// leader hands this to discovery (ZooKeeper's `leadingVoteSet`).
    pub supporters: BTreeSet<ServerId>,
}

/// What the driver must do. Drain with [`Election::poll_output`] after every call.
#[must_use]
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Output {
    /// Send a notification to a peer (best effort: a lost one is covered by re-sends).
    Send {
        /// The recipient.
        to: ServerId,
        /// The message.
        notification: Notification,
    },
    /// The round is over; start discovery as `role`.
    Decided(Decision),
}

/// Operating errors: bad input from the driver, never a reason to panic.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ElectionError {
    /// The notification names a sender other than the link it came from.
    SenderMismatch {
        /// The link's peer.
        from: ServerId,
        /// What the notification claimed.
        claimed: ServerId,
    },
    /// A notification from this server itself; the machine tallies its own vote directly.
    FromSelf,
    /// `set_log_position` would move `currentEpoch` backwards.
    EpochWentBack {
        /// The epoch held.
        held: Epoch,
        /// The epoch offered.
        offered: Epoch,
    },
    /// `set_log_position` during a round: the initial vote must not change under it.
    RoundInProgress,
}

impl std::fmt::Display for ElectionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for ElectionError {}

/// Election timing, in milliseconds. Defaults are ZooKeeper's.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ElectionTiming {
    /// How long a quorum must stand without a better vote before deciding (`finalizeWait`).
    pub finalize_wait_ms: i64,
    /// The first notification timeout (`minNotificationInterval`, = `finalizeWait`).
    pub min_notification_interval_ms: i64,
    /// The cap of the doubling timeout (`maxNotificationInterval`).
    pub max_notification_interval_ms: i64,
}

impl Default for ElectionTiming {
    fn default() -> Self {
        ElectionTiming {
            finalize_wait_ms: 200,
            min_notification_interval_ms: 200,
            max_notification_interval_ms: 60_000,
        }
    }
}

/// A vote as recorded from one sender, with the round and state it came with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Ballot {
    vote: Vote,
    election_epoch: ElectionEpoch,
    state: PeerState,
}

impl Ballot {
    /// ZooKeeper's `Vote.equals`: when either side is LOOKING, the whole vote and round must
    /// match; between FOLLOWING/LEADING votes, the leader and its epoch are enough (servers
    /// that joined at different times report different zxids and rounds for one leader).
    fn agrees(&self, other: &Ballot) -> bool {
        if self.state == PeerState::Looking || other.state == PeerState::Looking {
            self.vote == other.vote && self.election_epoch == other.election_epoch
        } else {
            self.vote.leader == other.vote.leader && self.vote.peer_epoch == other.vote.peer_epoch
        }
    }
}

/// Where the machine is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// Constructed, `start` not called yet.
    Idle,
    /// Exchanging notifications; re-send at `deadline`.
    Looking { deadline: Millis, timeout_ms: i64 },
    /// A quorum agrees with the proposal; decide at `deadline` unless a better vote arrives.
    Finalizing {
        deadline: Millis,
        timeout_ms: i64,
        supporters: BTreeSet<ServerId>,
    },
    /// Decided; answer LOOKING peers with `Decision::vote`.
    Decided(Decision),
}

/// The Fast Leader Election state machine of one server. See the module docs.
#[derive(Debug)]
pub struct Election<Q: QuorumVerifier> {
    my_id: ServerId,
    quorum: Q,
    timing: ElectionTiming,
    last_zxid: Zxid,
    current_epoch: Epoch,
    logical_clock: ElectionEpoch,
    /// `None` for an observer until it adopts a voter's vote (ZooKeeper uses
    /// `Long.MIN_VALUE` fields, which every real vote beats).
    proposal: Option<Vote>,
    /// Votes of this round (ZooKeeper's `recvset`), including this server's own.
    recv_set: BTreeMap<ServerId, Ballot>,
    /// FOLLOWING/LEADING votes of any round (ZooKeeper's `outofelection`).
    out_of_election: BTreeMap<ServerId, Ballot>,
    phase: Phase,
    outputs: VecDeque<Output>,
}

impl<Q: QuorumVerifier> Election<Q> {
    /// A machine for server `my_id` with its last logged zxid and persisted `currentEpoch`.
    /// Nothing happens until [`Election::start`]. `_now` is taken for symmetry with the other
    /// calls; construction itself sets no timer.
    pub fn new(
        my_id: ServerId,
        quorum: Q,
        last_zxid: Zxid,
        current_epoch: Epoch,
        _now: Millis,
    ) -> Election<Q> {
        Election::with_timing(
            my_id,
            quorum,
            last_zxid,
            current_epoch,
            ElectionTiming::default(),
        )
    }

    /// As [`Election::new`], with explicit timing.
    pub fn with_timing(
        my_id: ServerId,
        quorum: Q,
        last_zxid: Zxid,
        current_epoch: Epoch,
        timing: ElectionTiming,
    ) -> Election<Q> {
        assert!(timing.finalize_wait_ms > 0 && timing.min_notification_interval_ms > 0);
        assert!(timing.max_notification_interval_ms >= timing.min_notification_interval_ms);
        // Every notification restarts a finalizing server's wait: if peers re-send faster
        // than that wait, it can never decide (the simulator livelocked with a 116 ms cap
        // under a 180 ms wait). ZooKeeper's defaults (60 s over 200 ms) are far from it; a
        // configuration that comes close is raised to five waits.
        let mut timing = timing;
        timing.max_notification_interval_ms = timing
            .max_notification_interval_ms
            .max(timing.finalize_wait_ms.saturating_mul(5));
        Election {
            my_id,
            quorum,
            timing,
            last_zxid,
            current_epoch,
            logical_clock: ElectionEpoch(0),
            proposal: None,
            recv_set: BTreeMap::new(),
            out_of_election: BTreeMap::new(),
            phase: Phase::Idle,
            outputs: VecDeque::new(),
        }
    }

    /// Begin a new round (ZooKeeper's `lookForLeader`): bump the logical clock, propose
    /// this server (an observer proposes nobody), send the vote to every voter. Also the way
    /// back to LOOKING after a decided leader is lost. Poll outputs afterwards.
    pub fn start(&mut self, now: Millis) {
        self.logical_clock = ElectionEpoch(self.logical_clock.0 + 1);
        self.recv_set.clear();
        self.out_of_election.clear();
        self.proposal = self.initial_vote();
        let timeout_ms = self.timing.min_notification_interval_ms;
        self.phase = Phase::Looking {
            deadline: now.plus(timeout_ms),
            timeout_ms,
        };
        self.send_notifications();
        self.record_own_vote();
        self.check_looking_quorum(now);
    }

    /// Update the vote this server will propose for itself in its next round: after a
    /// restart of the ZAB layer, a TRUNC (the zxid may go down) or a new `currentEpoch`.
    /// Only between rounds; `currentEpoch` never goes back.
    pub fn set_log_position(
        &mut self,
        last_zxid: Zxid,
        current_epoch: Epoch,
    ) -> Result<(), ElectionError> {
        if matches!(self.phase, Phase::Looking { .. } | Phase::Finalizing { .. }) {
            return Err(ElectionError::RoundInProgress);
        }
        if current_epoch < self.current_epoch {
            return Err(ElectionError::EpochWentBack {
                held: self.current_epoch,
                offered: current_epoch,
            });
        }
        self.last_zxid = last_zxid;
        self.current_epoch = current_epoch;
        Ok(())
    }

    /// Handle a notification that arrived from peer `from`. Poll outputs afterwards.
    /// Before the first [`Election::start`] it is dropped (the sender re-sends).
    pub fn on_notification(
        &mut self,
        now: Millis,
        from: ServerId,
        n: Notification,
    ) -> Result<(), ElectionError> {
        if n.sender != from {
            return Err(ElectionError::SenderMismatch {
                from,
                claimed: n.sender,
            });
        }
        if from == self.my_id {
            return Err(ElectionError::FromSelf);
        }
        if self.phase == Phase::Idle {
            return Ok(());
        }
        if !self.quorum.is_voter(from) {
            // An observer (or a server outside the configuration) learns from our answer;
            // its vote never counts.
            let vote = self.current_vote();
            self.send(from, vote, self.logical_clock, self.state());
            return Ok(());
        }
        if let Phase::Decided(d) = &self.phase {
            if n.state == PeerState::Looking {
                let (vote, epoch, role) = (d.vote, d.election_epoch, d.role);
                self.send(from, vote, epoch, role);
            }
            return Ok(());
        }
        if n.state == PeerState::Looking && self.lags(&n) {
            let vote = self.current_vote();
            self.send(from, vote, self.logical_clock, PeerState::Looking);
        }
        if let Phase::Finalizing {
            timeout_ms,
            supporters,
            ..
        } = &self.phase
        {
            let better = self
                .proposal
                .is_some_and(|p| n.vote.beats(&p, &self.quorum));
            if !better {
                // ZooKeeper's finalize loop consumes and drops it, and waits afresh.
                self.phase = Phase::Finalizing {
                    deadline: now.plus(self.timing.finalize_wait_ms),
                    timeout_ms: *timeout_ms,
                    supporters: supporters.clone(),
                };
                return Ok(());
            }
            let timeout_ms = *timeout_ms;
            self.phase = Phase::Looking {
                deadline: now,
                timeout_ms,
            };
        }
        self.process(now, from, n);
        Ok(())
    }

    /// Advance timers: decide when the finalize wait has passed, re-send the vote when no
    /// notification came within the notification timeout (then double it, up to the cap).
    /// Call at or after [`Election::next_deadline`]; poll outputs afterwards.
    pub fn tick(&mut self, now: Millis) {
        match &self.phase {
            Phase::Looking {
                deadline,
                timeout_ms,
            } if now >= *deadline => {
                let timeout_ms = (*timeout_ms * 2).min(self.timing.max_notification_interval_ms);
                self.phase = Phase::Looking {
                    deadline: now.plus(timeout_ms),
                    timeout_ms,
                };
                self.send_notifications();
            }
            Phase::Finalizing {
                deadline,
                supporters,
                ..
            } if now >= *deadline => {
                let vote = self.proposal.expect("finalizing without a proposal");
                let supporters = supporters.clone();
                self.decide(vote, self.logical_clock, supporters);
            }
            _ => {}
        }
    }

    /// The next output to act on, or `None` when drained.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Election::tick`] wants to run next; `None` when no timer is armed (idle or
    /// decided).
    pub fn next_deadline(&self) -> Option<Millis> {
        match &self.phase {
            Phase::Looking { deadline, .. } | Phase::Finalizing { deadline, .. } => Some(*deadline),
            Phase::Idle | Phase::Decided(_) => None,
        }
    }

    /// This server's state as it would put it in a notification.
    pub fn state(&self) -> PeerState {
        match &self.phase {
            Phase::Decided(d) => d.role,
            _ => PeerState::Looking,
        }
    }

    /// The decision of the last round, while it stands.
    pub fn decision(&self) -> Option<&Decision> {
        match &self.phase {
            Phase::Decided(d) => Some(d),
            _ => None,
        }
    }

    /// The vote currently proposed in this round (`None` for an observer that has not
    /// adopted one yet, and before `start`).
    pub fn proposal(&self) -> Option<Vote> {
        self.proposal
    }

    /// The logical clock (current or last round).
    pub fn logical_clock(&self) -> ElectionEpoch {
        self.logical_clock
    }

    /// This server's id.
    pub fn my_id(&self) -> ServerId {
        self.my_id
    }

    /// The quorum rule in use.
    pub fn quorum(&self) -> &Q {
        &self.quorum
    }

    /// True while a quorum backs the proposal and the finalize wait runs.
    pub fn is_finalizing(&self) -> bool {
        matches!(self.phase, Phase::Finalizing { .. })
    }

    // ---- internals -------------------------------------------------------------------

    /// Whether a LOOKING sender should get this server's vote back. ZooKeeper answers a
    /// sender from an older round. Corral also answers a sender of this round whose vote is
    /// worse than its proposal (a deviation, see the module docs): ZooKeeper stays silent
    /// there, and since every notification restarts the receiver's timeout, a peer that
    /// keeps re-sending a stale vote can keep the others from ever re-sending theirs.
    fn lags(&self, n: &Notification) -> bool {
        if n.election_epoch != self.logical_clock {
            return n.election_epoch < self.logical_clock;
        }
        self.proposal
            .is_some_and(|p| p.beats(&n.vote, &self.quorum) && self.quorum.is_voter(n.vote.leader))
    }

    fn is_participant(&self) -> bool {
        self.quorum.is_voter(self.my_id)
    }

    fn initial_vote(&self) -> Option<Vote> {
        self.is_participant().then_some(Vote {
            leader: self.my_id,
            zxid: self.last_zxid,
            peer_epoch: self.current_epoch,
        })
    }

    /// The vote to tell others: the decided one, else the proposal, else (an observer with
    /// nothing adopted) a placeholder naming itself, which no voter ever tallies because
    /// the sender is not a voter.
    fn current_vote(&self) -> Vote {
        if let Phase::Decided(d) = &self.phase {
            return d.vote;
        }
        self.proposal.unwrap_or(Vote {
            leader: self.my_id,
            zxid: self.last_zxid,
            peer_epoch: self.current_epoch,
        })
    }

    fn send(&mut self, to: ServerId, vote: Vote, election_epoch: ElectionEpoch, state: PeerState) {
        self.outputs.push_back(Output::Send {
            to,
            notification: Notification {
                vote,
                election_epoch,
                state,
                sender: self.my_id,
            },
        });
    }

    /// `sendNotifications`: the proposal to every voter but this server (its own vote is
    /// recorded directly, which stands for ZooKeeper's loopback delivery).
    fn send_notifications(&mut self) {
        let vote = self.current_vote();
        let me = self.my_id;
        let voters: Vec<ServerId> = self.quorum.voters().iter().copied().collect();
        for to in voters.into_iter().filter(|&id| id != me) {
            self.send(to, vote, self.logical_clock, PeerState::Looking);
        }
    }

    fn record_own_vote(&mut self) {
        if let (true, Some(vote)) = (self.is_participant(), self.proposal) {
            let ballot = Ballot {
                vote,
                election_epoch: self.logical_clock,
                state: PeerState::Looking,
            };
            self.recv_set.insert(self.my_id, ballot);
        }
    }

    fn adopt(&mut self, vote: Option<Vote>) {
        self.proposal = vote;
        self.send_notifications();
        self.record_own_vote();
    }

    /// The body of ZooKeeper's `lookForLeader` loop for one notification from a voter.
    fn process(&mut self, now: Millis, from: ServerId, n: Notification) {
        let Phase::Looking { timeout_ms, .. } = self.phase else {
            unreachable!("process outside LOOKING: {:?}", self.phase);
        };
        // Any notification handed to the loop restarts its poll timeout.
        self.phase = Phase::Looking {
            deadline: now.plus(timeout_ms),
            timeout_ms,
        };
        if !self.quorum.is_voter(n.vote.leader) {
            return;
        }
        match n.state {
            PeerState::Looking => self.on_looking(now, from, n),
            PeerState::Following | PeerState::Leading => self.on_settled(from, n),
            PeerState::Observing => {}
        }
    }

    fn on_looking(&mut self, now: Millis, from: ServerId, n: Notification) {
        if n.election_epoch > self.logical_clock {
            self.logical_clock = n.election_epoch;
            self.recv_set.clear();
            let init = self.initial_vote();
            let better = init.is_none_or(|i| n.vote.beats(&i, &self.quorum));
            self.adopt(if better { Some(n.vote) } else { init });
        } else if n.election_epoch < self.logical_clock {
            return;
        } else if self.proposal.is_none_or(|p| n.vote.beats(&p, &self.quorum)) {
            self.adopt(Some(n.vote));
        }
        let ballot = Ballot {
            vote: n.vote,
            election_epoch: n.election_epoch,
            state: PeerState::Looking,
        };
        self.recv_set.insert(from, ballot);
        self.check_looking_quorum(now);
    }

    /// Enter the finalize wait when a quorum of this round agrees with the proposal.
    fn check_looking_quorum(&mut self, now: Millis) {
        let Some(vote) = self.proposal else { return };
        let Phase::Looking { timeout_ms, .. } = self.phase else {
            return;
        };
        let mine = Ballot {
            vote,
            election_epoch: self.logical_clock,
            state: PeerState::Looking,
        };
        let supporters = tally(&self.recv_set, &mine);
        if self.quorum.contains_quorum(&supporters) {
            self.phase = Phase::Finalizing {
                deadline: now.plus(self.timing.finalize_wait_ms),
                timeout_ms,
                supporters,
            };
        }
    }

    /// A FOLLOWING or LEADING notification: count it in this round if it belongs to it,
    /// and in the out-of-election set in any case; join when a quorum follows a leader that
    /// says it leads.
    fn on_settled(&mut self, from: ServerId, n: Notification) {
        let ballot = Ballot {
            vote: n.vote,
            election_epoch: n.election_epoch,
            state: n.state,
        };
        if n.election_epoch == self.logical_clock {
            self.recv_set.insert(from, ballot);
            let supporters = tally(&self.recv_set, &ballot);
            if self.quorum.contains_quorum(&supporters)
                && self.check_leader(&self.recv_set, n.vote.leader, n.election_epoch)
            {
                self.decide(n.vote, n.election_epoch, supporters);
                return;
            }
        }
        self.out_of_election.insert(from, ballot);
        let supporters = tally(&self.out_of_election, &ballot);
        if self.quorum.contains_quorum(&supporters)
            && self.check_leader(&self.out_of_election, n.vote.leader, n.election_epoch)
        {
            self.logical_clock = n.election_epoch;
            self.decide(n.vote, n.election_epoch, supporters);
        }
    }

    /// ZooKeeper's `checkLeader`: another server as leader only if it told us it is
    /// LEADING; ourselves only if the round is ours (everyone else thinks we lead).
    fn check_leader(
        &self,
        votes: &BTreeMap<ServerId, Ballot>,
        leader: ServerId,
        election_epoch: ElectionEpoch,
    ) -> bool {
        if leader == self.my_id {
            self.logical_clock == election_epoch
        } else {
            votes
                .get(&leader)
                .is_some_and(|b| b.state == PeerState::Leading)
        }
    }

    fn decide(
        &mut self,
        vote: Vote,
        election_epoch: ElectionEpoch,
        supporters: BTreeSet<ServerId>,
    ) {
        assert!(
            self.quorum.contains_quorum(&supporters),
            "deciding {vote:?} without a quorum: {supporters:?}"
        );
        assert!(
            self.quorum.is_voter(vote.leader),
            "non-voter elected: {vote:?}"
        );
        let role = if vote.leader == self.my_id {
            PeerState::Leading
        } else if self.is_participant() {
            PeerState::Following
        } else {
            PeerState::Observing
        };
        let decision = Decision {
            leader: vote.leader,
            vote,
            election_epoch,
            role,
            supporters,
        };
        self.phase = Phase::Decided(decision.clone());
        self.outputs.push_back(Output::Decided(decision));
    }
}

/// The servers whose recorded ballots agree with `with` (ZooKeeper's `getVoteTracker`).
fn tally(votes: &BTreeMap<ServerId, Ballot>, with: &Ballot) -> BTreeSet<ServerId> {
    votes
        .iter()
        .filter(|(_, b)| with.agrees(b))
        .map(|(id, _)| *id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zab::quorum::Majority;

    fn v(leader: u64, zxid: i64, epoch: u32) -> Vote {
        Vote {
            leader: ServerId(leader),
            zxid: Zxid(zxid),
            peer_epoch: Epoch(epoch),
        }
    }

    #[test]
    fn total_order_epoch_then_zxid_then_id() {
        let q = Majority::new([1, 2, 3].map(ServerId));
        assert!(v(1, 0, 2).beats(&v(3, 100, 1), &q), "peer epoch first");
        assert!(v(1, 7, 1).beats(&v(3, 6, 1), &q), "then zxid");
        assert!(v(3, 7, 1).beats(&v(2, 7, 1), &q), "then id");
        assert!(!v(2, 7, 1).beats(&v(2, 7, 1), &q), "strict");
        assert!(!v(9, 99, 9).beats(&v(1, 0, 0), &q), "weight 0 never wins");
    }

    #[test]
    fn peer_state_wire_values() {
        for s in [
            PeerState::Looking,
            PeerState::Following,
            PeerState::Leading,
            PeerState::Observing,
        ] {
            assert_eq!(PeerState::from_wire(s.wire()), Some(s));
        }
        assert_eq!(PeerState::Leading.wire(), 2);
        assert_eq!(PeerState::from_wire(4), None);
    }

    #[test]
    fn a_single_voter_decides_alone_after_finalize_wait() {
        let mut e = Election::new(
            ServerId(1),
            Majority::new([ServerId(1)]),
            Zxid(3),
            Epoch(1),
            Millis(0),
        );
        e.start(Millis(0));
        assert!(e.poll_output().is_none(), "nobody to send to");
        assert_eq!(e.next_deadline(), Some(Millis(200)));
        e.tick(Millis(200));
        let Some(Output::Decided(d)) = e.poll_output() else {
            panic!()
        };
        assert_eq!((d.leader, d.role), (ServerId(1), PeerState::Leading));
        assert_eq!(e.next_deadline(), None);
        assert_eq!(
            e.set_log_position(Zxid(2), Epoch(0)),
            Err(ElectionError::EpochWentBack {
                held: Epoch(1),
                offered: Epoch(0)
            })
        );
        e.set_log_position(Zxid(2), Epoch(2)).unwrap();
        e.start(Millis(500));
        assert_eq!(e.logical_clock(), ElectionEpoch(2));
        assert_eq!(e.proposal(), Some(v(1, 2, 2)));
    }
}
