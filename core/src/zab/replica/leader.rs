//! The leader's side: discovery (a new epoch from a quorum), synchronization of each
//! learner, establishment (a quorum acknowledged NEWLEADER), and broadcast (proposals,
//! cumulative acknowledgements, commits in zxid order, pings and the quorum check).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{AcceptedEpoch, Host, Replica, Role, RoleState, StorageOp, SyncKind, Then, ZabEvent};
use crate::txn::LogEntry;
use crate::types::{Epoch, Millis, ServerId, Zxid};
use crate::zab::message::{LearnerSession, RejectReason, ReqTag, WireEntry, ZabBody, ZabMessage};
use crate::zab::quorum::QuorumVerifier;
use crate::zab::sync::{self, SyncPlan};

/// Where establishment stands. Every phase after `Discovery` carries the new epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Gathering FOLLOWERINFO from a quorum.
    Discovery,
    /// The epoch is chosen; `acceptedEpoch` is being made durable before LEADERINFO.
    SavingAccepted(Epoch),
    /// LEADERINFO sent; gathering ACKEPOCH from a quorum.
    AwaitEpochAcks(Epoch),
    /// A quorum acknowledged the epoch; `currentEpoch` is being made durable.
    SavingCurrent(Epoch),
    /// Learners are being synchronized; gathering NEWLEADER acknowledgements.
    AwaitNewLeaderAcks(Epoch),
    /// Serving.
    Established(Epoch),
}

impl Phase {
    fn epoch(self) -> Option<Epoch> {
        match self {
            Phase::Discovery => None,
            Phase::SavingAccepted(e)
            | Phase::AwaitEpochAcks(e)
            | Phase::SavingCurrent(e)
            | Phase::AwaitNewLeaderAcks(e)
            | Phase::Established(e) => Some(e),
        }
    }
}

/// Where one learner stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LState {
    /// FOLLOWERINFO received.
    Registered,
    /// ACKEPOCH received, with the learner's position.
    EpochAcked {
        current: Epoch,
        last: Zxid,
        applied: Zxid,
    },
    /// Synchronization and NEWLEADER (up to `last`) sent.
    Syncing { last: Zxid },
    /// NEWLEADER acknowledged: counts towards quorums.
    Synced,
}

#[derive(Clone, Debug)]
struct Learner {
    session: LearnerSession,
    accepted: AcceptedEpoch,
    state: LState,
    /// Cumulative ACK: the learner's log durably holds our history through this.
    acked: Zxid,
    last_heard: Millis,
}

impl Learner {
    /// Receives proposals and commits (its synchronization has been sent).
    fn forwarding(&self) -> bool {
        matches!(self.state, LState::Syncing { .. } | LState::Synced)
    }
}

/// The leader's state.
#[derive(Debug)]
pub(super) struct Leader {
    phase: Phase,
    /// Establish by then (initLimit) or elect again.
    deadline: Millis,
    learners: BTreeMap<ServerId, Learner>,
    next_ping: Millis,
    /// Learner syncs waiting for a commit: (zxid to reach, learner, session, request).
    syncs: VecDeque<(Zxid, ServerId, LearnerSession, u64)>,
}

impl Leader {
    pub(super) fn role(&self) -> Role {
        match self.phase {
            Phase::Established(epoch) => Role::Leading { epoch },
            _ => Role::Looking,
        }
    }

    pub(super) fn next_deadline(&self) -> Millis {
        match self.phase {
            Phase::Established(_) => self.next_ping,
            _ => self.deadline,
        }
    }

    pub(super) fn forget(&mut self, peer: ServerId) {
        self.learners.remove(&peer);
    }

    pub(super) fn synced(&self) -> Vec<ServerId> {
        self.learners
            .iter()
            .filter(|(_, l)| l.state == LState::Synced)
            .map(|(id, _)| *id)
            .collect()
    }

    fn forwarding(&self) -> Vec<(ServerId, LearnerSession)> {
        self.learners
            .iter()
            .filter(|(_, l)| l.forwarding())
            .map(|(id, l)| (*id, l.session))
            .collect()
    }
}

impl Replica {
    fn leader(&mut self) -> &mut Leader {
        match &mut self.role {
            RoleState::Leading(l) => l,
            _ => unreachable!("not leading"),
        }
    }

    fn leader_ref(&self) -> &Leader {
        match &self.role {
            RoleState::Leading(l) => l,
            _ => unreachable!("not leading"),
        }
    }

    /// The election chose this server.
    pub(super) fn become_leader(&mut self, now: Millis) {
        self.role = RoleState::Leading(Box::new(Leader {
            phase: Phase::Discovery,
            deadline: now.plus(self.cfg.init_ms()),
            learners: BTreeMap::new(),
            next_ping: now,
            syncs: VecDeque::new(),
        }));
        self.leader_try_choose_epoch();
    }

    /// Discovery: with FOLLOWERINFO from a quorum (this server included), the new epoch is
    /// one above every accepted epoch among them.
    fn leader_try_choose_epoch(&mut self) {
        let me = self.cfg.my_id;
        let promised = self.accepted_promised;
        let l = self.leader_ref();
        if l.phase != Phase::Discovery {
            return;
        }
        let mut ids: BTreeSet<ServerId> = l.learners.keys().copied().collect();
        ids.insert(me);
        if !self.quorum.contains_quorum(&ids) {
            return;
        }
        let highest = l
            .learners
            .values()
            .map(|x| x.accepted.epoch)
            .chain([promised.epoch, self.epoch_floor])
            .max()
            .expect("this server counts");
        let epoch = Epoch(highest.0.saturating_add(1));
        if epoch >= super::MAX_EPOCH {
            // Never reached by counting elections (2^31 of them); refuse rather than wrap.
            self.leader().learners.clear();
            return;
        }
        self.leader().phase = Phase::SavingAccepted(epoch);
        self.event(ZabEvent::EpochChosen { epoch });
        let accepted = AcceptedEpoch {
            epoch,
            leader: Some(me),
        };
        self.accepted_promised = accepted;
        self.store(
            StorageOp::SaveEpochs {
                accepted: Some(accepted),
                current: None,
            },
            Some(Then::LeaderAcceptedSaved(epoch)),
        );
    }

    /// `acceptedEpoch` is durable: announce the epoch.
    pub(super) fn leader_accepted_saved(
        &mut self,
        now: Millis,
        epoch: Epoch,
        host: &mut impl Host,
    ) {
        let RoleState::Leading(l) = &mut self.role else {
            return;
        };
        if l.phase != Phase::SavingAccepted(epoch) {
            return;
        }
        l.phase = Phase::AwaitEpochAcks(epoch);
        let registered: Vec<ServerId> = l
            .learners
            .iter()
            .filter(|(_, x)| x.state == LState::Registered)
            .map(|(id, _)| *id)
            .collect();
        for id in registered {
            self.leader_offer_epoch(now, id, epoch, host);
        }
        self.leader_try_save_current();
    }

    /// Send LEADERINFO, unless the learner promised this or a later epoch elsewhere.
    ///
    /// Such a learner can never follow this epoch. An established leader then steps down
    /// so that a new round picks an epoch above that promise (remembered as a floor):
    /// otherwise a server that accepted a failed candidate's epoch would stay out until
    /// the leader changes for some other reason.
    fn leader_offer_epoch(
        &mut self,
        now: Millis,
        id: ServerId,
        epoch: Epoch,
        host: &mut impl Host,
    ) {
        let me = self.cfg.my_id;
        let l = self.leader();
        let x = l.learners[&id].clone();
        let usable = x.accepted.epoch < epoch
            || (x.accepted.epoch == epoch && x.accepted.leader == Some(me));
        if usable {
            self.send_zab(id, x.session, ZabBody::LeaderInfo { epoch });
            return;
        }
        let established = matches!(l.phase, Phase::Established(_));
        l.learners.remove(&id);
        self.epoch_floor = self.epoch_floor.max(x.accepted.epoch);
        self.send_zab(
            id,
            x.session,
            ZabBody::Reject {
                reason: RejectReason::EpochTooOld,
            },
        );
        if established {
            self.go_looking(
                now,
                host,
                format!(
                    "server {id} promised epoch {} elsewhere: a higher epoch is needed",
                    x.accepted.epoch.0
                ),
            );
        }
    }

    /// With ACKEPOCH from a quorum, make the new epoch current.
    fn leader_try_save_current(&mut self) {
        let me = self.cfg.my_id;
        let l = self.leader_ref();
        let Phase::AwaitEpochAcks(epoch) = l.phase else {
            return;
        };
        let mut ids: BTreeSet<ServerId> = l
            .learners
            .iter()
            .filter(|(_, x)| !matches!(x.state, LState::Registered))
            .map(|(id, _)| *id)
            .collect();
        ids.insert(me);
        if !self.quorum.contains_quorum(&ids) {
            return;
        }
        self.leader().phase = Phase::SavingCurrent(epoch);
        self.store(
            StorageOp::SaveEpochs {
                accepted: None,
                current: Some(epoch),
            },
            Some(Then::LeaderCurrentSaved(epoch)),
        );
    }

    /// `currentEpoch` is durable: synchronize every learner that acknowledged the epoch.
    pub(super) fn leader_current_saved(&mut self, now: Millis, epoch: Epoch, host: &mut impl Host) {
        let RoleState::Leading(l) = &mut self.role else {
            return;
        };
        if l.phase != Phase::SavingCurrent(epoch) {
            return;
        }
        l.phase = Phase::AwaitNewLeaderAcks(epoch);
        let acked: Vec<ServerId> = l
            .learners
            .iter()
            .filter(|(_, x)| matches!(x.state, LState::EpochAcked { .. }))
            .map(|(id, _)| *id)
            .collect();
        for id in acked {
            self.leader_sync(id, host);
        }
        self.leader_check_established(now, host);
    }

    /// Send a learner what it needs: TRUNC or SNAP if required, the DIFF, then NEWLEADER.
    /// From here on it receives every proposal and commit too, so nothing falls between.
    fn leader_sync(&mut self, id: ServerId, host: &mut impl Host) {
        let epoch = self.leader_ref().phase.epoch().expect("past discovery");
        let x = self.leader_ref().learners[&id].clone();
        let LState::EpochAcked { last, applied, .. } = x.state else {
            unreachable!("sync before ACKEPOCH");
        };
        let plan = sync::plan(&self.history, last, applied);
        let from = plan.diff_from(self.history.applied());
        let kind = match plan {
            SyncPlan::Diff { .. } => SyncKind::Diff,
            SyncPlan::Trunc { to } => {
                self.send_zab(id, x.session, ZabBody::Trunc { zxid: to });
                SyncKind::Trunc
            }
            SyncPlan::Snap => {
                let (zxid, bytes) = host.snapshot();
                assert_eq!(
                    zxid,
                    self.history.applied(),
                    "the host's state is not at the applied zxid"
                );
                self.send_zab(id, x.session, ZabBody::Snap { zxid, bytes });
                SyncKind::Snap
            }
        };
        let entries: Vec<(Zxid, WireEntry)> = self
            .history
            .after(from)
            .map(|e| {
                (
                    e.zxid(),
                    WireEntry {
                        bytes: e.entry.to_bytes(),
                        tag: e.tag,
                    },
                )
            })
            .collect();
        let mut prev = from;
        for chunk in entries.chunks(self.cfg.sync_batch.max(1)) {
            let next_prev = chunk.last().expect("chunks are not empty").0;
            let batch = chunk.iter().map(|(_, w)| w.clone()).collect();
            self.send_zab(
                id,
                x.session,
                ZabBody::Propose {
                    prev,
                    entries: batch,
                },
            );
            prev = next_prev;
        }
        let last = self.history.last();
        self.send_zab(
            id,
            x.session,
            ZabBody::NewLeader {
                epoch,
                last_zxid: last,
            },
        );
        if let Some(x) = self.leader().learners.get_mut(&id) {
            x.state = LState::Syncing { last };
        }
        self.event(ZabEvent::SyncSent {
            learner: id,
            kind,
            from,
            to: last,
        });
    }

    /// With NEWLEADER acknowledged by a quorum (this server counting once its history and
    /// `currentEpoch` are durable), the whole history is committed: apply it and serve.
    fn leader_check_established(&mut self, now: Millis, host: &mut impl Host) {
        let me = self.cfg.my_id;
        let l = self.leader_ref();
        let Phase::AwaitNewLeaderAcks(epoch) = l.phase else {
            return;
        };
        let mut ids: BTreeSet<ServerId> = l
            .learners
            .iter()
            .filter(|(_, x)| x.state == LState::Synced)
            .map(|(id, _)| *id)
            .collect();
        if self.current == epoch && self.durable >= self.history.last() {
            ids.insert(me);
        }
        if !self.quorum.contains_quorum(&ids) {
            return;
        }
        let last = self.history.last();
        self.history.commit_to(last);
        let l = self.leader();
        l.phase = Phase::Established(epoch);
        l.next_ping = now;
        let synced: Vec<(ServerId, LearnerSession)> = l
            .learners
            .iter()
            .filter(|(_, x)| x.state == LState::Synced)
            .map(|(id, x)| (*id, x.session))
            .collect();
        for (id, session) in synced {
            self.send_zab(id, session, ZabBody::UpToDate { committed: last });
        }
        self.event(ZabEvent::Established { epoch, last });
        self.apply_committed(now, host);
        host.role_changed(now, Role::Leading { epoch }, Zxid::new(epoch, 0));
    }

    /// A learner-side message.
    pub(super) fn leader_on_message(
        &mut self,
        now: Millis,
        from: ServerId,
        m: ZabMessage,
        host: &mut impl Host,
    ) {
        if let ZabBody::FollowerInfo {
            accepted_epoch,
            accepted_leader,
            ..
        } = m.body
        {
            if accepted_epoch >= super::MAX_EPOCH {
                self.send_zab(
                    from,
                    m.session,
                    ZabBody::Reject {
                        reason: RejectReason::EpochTooOld,
                    },
                );
                return;
            }
            let l = self.leader();
            let known = l
                .learners
                .get(&from)
                .is_some_and(|x| x.session == m.session);
            if known {
                let x = l.learners.get_mut(&from).expect("known");
                x.last_heard = now;
                // A repeat: LEADERINFO may have been lost while the link came up.
                if let (LState::Registered, Some(epoch)) = (x.state, l.phase.epoch()) {
                    if !matches!(l.phase, Phase::SavingAccepted(_)) {
                        self.leader_offer_epoch(now, from, epoch, host);
                    }
                }
                return;
            }
            l.learners.insert(
                from,
                Learner {
                    session: m.session,
                    accepted: AcceptedEpoch {
                        epoch: accepted_epoch,
                        leader: accepted_leader,
                    },
                    state: LState::Registered,
                    acked: Zxid::ZERO,
                    last_heard: now,
                },
            );
            match l.phase {
                Phase::Discovery => self.leader_try_choose_epoch(),
                Phase::SavingAccepted(_) => {}
                p => self.leader_offer_epoch(now, from, p.epoch().expect("past discovery"), host),
            }
            return;
        }
        let (my_current, my_last) = (self.current, self.history.last());
        let l = self.leader();
        let Some(x) = l.learners.get_mut(&from).filter(|x| x.session == m.session) else {
            self.send_zab(
                from,
                m.session,
                ZabBody::Reject {
                    reason: RejectReason::UnknownSession,
                },
            );
            return;
        };
        x.last_heard = now;
        let phase = l.phase;
        // Client traffic only flows through synchronized learners of an established leader.
        let serving_learner = matches!(phase, Phase::Established(_)) && x.state == LState::Synced;
        match m.body {
            ZabBody::AckEpoch {
                epoch,
                current_epoch,
                last_zxid,
                applied_zxid,
            } => {
                if x.state != LState::Registered || Some(epoch) != phase.epoch() {
                    return;
                }
                if (current_epoch, last_zxid) > (my_current, my_last) {
                    // ZooKeeper: "Follower is ahead of the leader". It cannot be led.
                    let session = x.session;
                    self.leader().learners.remove(&from);
                    self.send_zab(
                        from,
                        session,
                        ZabBody::Reject {
                            reason: RejectReason::LearnerAhead,
                        },
                    );
                    return;
                }
                x.state = LState::EpochAcked {
                    current: current_epoch,
                    last: last_zxid,
                    applied: applied_zxid,
                };
                match phase {
                    Phase::AwaitEpochAcks(_) => self.leader_try_save_current(),
                    Phase::AwaitNewLeaderAcks(_) | Phase::Established(_) => {
                        self.leader_sync(from, host)
                    }
                    _ => {}
                }
            }
            ZabBody::Ack { zxid } => match x.state {
                LState::Syncing { last } if zxid >= last => {
                    x.state = LState::Synced;
                    x.acked = zxid;
                    let session = x.session;
                    if matches!(phase, Phase::Established(_)) {
                        let committed = self.history.committed();
                        self.send_zab(from, session, ZabBody::UpToDate { committed });
                        self.leader_try_commit(now, host);
                    } else {
                        self.leader_check_established(now, host);
                    }
                }
                LState::Synced if zxid > my_last => {
                    // It claims entries we never proposed: it is not following our history.
                    let session = x.session;
                    self.leader().learners.remove(&from);
                    self.send_zab(
                        from,
                        session,
                        ZabBody::Reject {
                            reason: RejectReason::LearnerAhead,
                        },
                    );
                }
                LState::Synced => {
                    x.acked = x.acked.max(zxid);
                    self.leader_try_commit(now, host);
                }
                _ => {}
            },
            ZabBody::Request { req, forward } if serving_learner => {
                host.forwarded(now, from, req, forward);
            }
            ZabBody::Revalidate {
                req,
                session,
                timeout_ms,
            } if serving_learner => {
                let s = x.session;
                let valid = host.revalidate(now, from, session, timeout_ms);
                self.send_zab(from, s, ZabBody::Revalidated { req, valid });
            }
            ZabBody::Sync { req } if serving_learner => {
                let s = x.session;
                let last = self.history.last();
                if self.history.committed() >= last {
                    let committed = self.history.committed();
                    self.send_zab(from, s, ZabBody::SyncDone { req, committed });
                } else {
                    self.leader().syncs.push_back((last, from, s, req));
                }
            }
            ZabBody::PingReply { acked, touches } => {
                if matches!(phase, Phase::Established(_)) {
                    host.touched(now, from, touches);
                }
                // The cumulative ACK again: repairs a lost ACK (or NEWLEADER ACK).
                if let Some(zxid) = acked {
                    let ack = ZabMessage {
                        session: m.session,
                        body: ZabBody::Ack { zxid },
                    };
                    self.leader_on_message(now, from, ack, host);
                }
            }
            // FollowerInfo handled above; leader-side bodies are not sent to leaders.
            _ => {}
        }
    }

    /// Append prepared entries, make them durable here and send them to every learner.
    pub(super) fn leader_propose(
        &mut self,
        now: Millis,
        entries: Vec<(LogEntry, Option<ReqTag>)>,
        host: &mut impl Host,
    ) {
        let Phase::Established(epoch) = self.leader_ref().phase else {
            panic!("propose before the leader is established");
        };
        if entries.iter().any(|(e, _)| {
            e.hdr.zxid.epoch() != epoch || e.hdr.zxid.counter() > self.cfg.max_counter
        }) {
            self.go_looking(
                now,
                host,
                "zxid counter exhausted: a new epoch is needed".into(),
            );
            return;
        }
        let prev = self.history.last();
        let mut log = Vec::with_capacity(entries.len());
        let mut wire = Vec::with_capacity(entries.len());
        for (e, tag) in entries {
            wire.push(WireEntry {
                bytes: e.to_bytes(),
                tag,
            });
            log.push(e.clone());
            let z = e.hdr.zxid;
            if let Err(gap) = self.history.append(e, tag) {
                panic!("proposal {z} does not follow the log: {gap:?}");
            }
        }
        self.store(StorageOp::Append(log), None);
        for (id, session) in self.leader_ref().forwarding() {
            self.send_zab(
                id,
                session,
                ZabBody::Propose {
                    prev,
                    entries: wire.clone(),
                },
            );
        }
    }

    /// Our own log became more durable.
    pub(super) fn leader_durable(&mut self, now: Millis, host: &mut impl Host) {
        match self.leader_ref().phase {
            Phase::Established(_) => self.leader_try_commit(now, host),
            Phase::AwaitNewLeaderAcks(_) => self.leader_check_established(now, host),
            _ => {}
        }
    }

    /// Commit the longest prefix a quorum holds durably; tell the learners; apply it.
    fn leader_try_commit(&mut self, now: Millis, host: &mut impl Host) {
        let me = self.cfg.my_id;
        let mut acks: Vec<(Zxid, ServerId)> = self
            .leader_ref()
            .learners
            .iter()
            .filter(|(_, x)| x.state == LState::Synced)
            .map(|(id, x)| (x.acked, *id))
            .collect();
        acks.push((self.durable, me));
        acks.sort_unstable_by(|a, b| b.cmp(a));
        let mut ids = BTreeSet::new();
        let mut reached = None;
        for (z, id) in acks {
            ids.insert(id);
            if self.quorum.contains_quorum(&ids) {
                reached = Some(z);
                break;
            }
        }
        let before = self.history.committed();
        if let Some(z) = reached {
            self.history.commit_to(z);
        }
        let committed = self.history.committed();
        if committed == before {
            return;
        }
        let forwarding = self.leader_ref().forwarding();
        // A learner's SYNC goes out right after the COMMIT of the point it waited for and
        // before any later COMMIT (as ZooKeeper queues it): the learner then answers its
        // client, and runs what that session sent after the sync, before applying that
        // session's later writes. One cumulative COMMIT past the point would have let
        // them in first (found by the simulator: a FIFO violation).
        let mut sent = before;
        while let Some(&(z, id, session, req)) = self.leader_ref().syncs.front() {
            if z > committed {
                break;
            }
            self.leader().syncs.pop_front();
            if z > sent {
                for &(to, s) in &forwarding {
                    self.send_zab(to, s, ZabBody::Commit { zxid: z });
                }
                sent = z;
            }
            self.send_zab(id, session, ZabBody::SyncDone { req, committed: z });
        }
        if committed > sent {
            for &(to, s) in &forwarding {
                self.send_zab(to, s, ZabBody::Commit { zxid: committed });
            }
        }
        self.apply_committed(now, host);
    }

    /// Establishment deadline; once established, pings and the quorum check every half
    /// tick (ZooKeeper's lead loop).
    pub(super) fn leader_tick(&mut self, now: Millis, host: &mut impl Host) {
        let (init_ms, sync_ms, half) = (
            self.cfg.init_ms(),
            self.cfg.sync_ms(),
            self.cfg.half_tick_ms(),
        );
        let l = self.leader();
        if !matches!(l.phase, Phase::Established(_)) {
            if now >= l.deadline {
                self.go_looking(now, host, "no quorum established within initLimit".into());
            }
            return;
        }
        if now < l.next_ping {
            return;
        }
        l.next_ping = now.plus(half);
        // A synced learner may be silent for syncLimit; one still synchronizing (writing a
        // snapshot, say) for initLimit.
        l.learners.retain(|_, x| {
            let limit = if x.state == LState::Synced {
                sync_ms
            } else {
                init_ms
            };
            now.0 - x.last_heard.0 <= limit
        });
        let committed = self.history.committed();
        for (id, session) in self.leader_ref().forwarding() {
            self.send_zab(id, session, ZabBody::Ping { committed });
        }
        self.leader_check_quorum(now, host);
    }

    /// Step down when the synced learners and this server no longer form a quorum.
    pub(super) fn leader_check_quorum(&mut self, now: Millis, host: &mut impl Host) {
        let me = self.cfg.my_id;
        let l = self.leader_ref();
        if !matches!(l.phase, Phase::Established(_)) {
            return;
        }
        let mut ids: BTreeSet<ServerId> = l.synced().into_iter().collect();
        ids.insert(me);
        if !self.quorum.contains_quorum(&ids) {
            let synced: Vec<ServerId> = ids.into_iter().collect();
            self.go_looking(
                now,
                host,
                format!("lost the quorum: only synced with {synced:?}"),
            );
        }
    }
}
