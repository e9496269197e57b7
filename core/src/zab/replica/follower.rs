//! The follower's side: register with the elected leader, accept its epoch, take the
//! synchronization (TRUNC, SNAP, DIFF), acknowledge NEWLEADER once everything is durable,
//! then follow the broadcast: append and acknowledge proposals, apply commits.

use super::{
    AcceptedEpoch, Host, Replica, ReplicaConfig, Role, RoleState, StorageOp, SyncKind, Then,
    ZabEvent,
};
use crate::snapshot;
use crate::txn::LogEntry;
use crate::types::{Epoch, Millis, ServerId, Zxid};
use crate::zab::message::{LearnerSession, ZabBody};

/// Where synchronization stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// FOLLOWERINFO sent (and re-sent every finalize wait) until LEADERINFO arrives.
    Discovery,
    /// The new `acceptedEpoch` is being made durable before ACKEPOCH.
    SavingAccepted,
    /// ACKEPOCH sent; taking TRUNC/SNAP/DIFF until NEWLEADER.
    EpochAcked,
    /// NEWLEADER received; the log and then `currentEpoch` are being made durable.
    SavingCurrent,
    /// NEWLEADER acknowledged; waiting for UPTODATE.
    AwaitUpToDate,
    /// Serving clients.
    Broadcast,
}

/// The follower's state.
#[derive(Debug)]
pub(super) struct Follower {
    pub(super) leader: ServerId,
    pub(super) session: LearnerSession,
    phase: Phase,
    /// Synchronized by then (initLimit) or elect again.
    deadline: Millis,
    last_heard: Millis,
    next_info: Millis,
    /// The leader's epoch, from LEADERINFO.
    epoch: Option<Epoch>,
    /// The last cumulative ACK sent.
    acked: Zxid,
    /// How this synchronization went (for the trace).
    kind: SyncKind,
}

impl Follower {
    pub(super) fn role(&self) -> Role {
        match (self.phase, self.epoch) {
            (Phase::Broadcast, Some(epoch)) => Role::Following {
                leader: self.leader,
                epoch,
            },
            _ => Role::Looking,
        }
    }

    pub(super) fn serving(&self) -> bool {
        self.phase == Phase::Broadcast
    }

    pub(super) fn next_deadline(&self, cfg: &ReplicaConfig) -> Millis {
        match self.phase {
            Phase::Discovery => self.next_info.min(self.deadline),
            Phase::Broadcast => self.last_heard.plus(cfg.sync_ms()),
            _ => self.deadline,
        }
    }
}

impl Replica {
    fn follower(&mut self) -> &mut Follower {
        match &mut self.role {
            RoleState::Following(f) => f,
            _ => unreachable!("not following"),
        }
    }

    /// The election chose `leader`: register with it.
    pub(super) fn become_follower(&mut self, now: Millis, leader: ServerId) {
        let session = self.next_session();
        self.role = RoleState::Following(Box::new(Follower {
            leader,
            session,
            phase: Phase::Discovery,
            deadline: now.plus(self.cfg.init_ms()),
            last_heard: now,
            next_info: now.plus(self.cfg.info_resend_ms()),
            epoch: None,
            acked: Zxid::ZERO,
            kind: SyncKind::Diff,
        }));
        self.send_follower_info();
    }

    fn send_follower_info(&mut self) {
        let body = ZabBody::FollowerInfo {
            accepted_epoch: self.accepted_promised.epoch,
            accepted_leader: self.accepted_promised.leader,
            current_epoch: self.current,
            last_zxid: self.history.last(),
        };
        let f = self.follower();
        let (leader, session) = (f.leader, f.session);
        self.send_zab(leader, session, body);
    }

    fn send_ack_epoch(&mut self) {
        let f = self.follower();
        f.phase = Phase::EpochAcked;
        let (leader, session, epoch) = (f.leader, f.session, f.epoch.expect("epoch known"));
        let body = ZabBody::AckEpoch {
            epoch,
            current_epoch: self.current,
            last_zxid: self.history.last(),
            applied_zxid: self.history.applied(),
        };
        self.send_zab(leader, session, body);
    }

    /// A message of the current follow attempt from our leader.
    pub(super) fn follower_on_message(&mut self, now: Millis, body: ZabBody, host: &mut impl Host) {
        let f = self.follower();
        f.last_heard = now;
        let (phase, leader) = (f.phase, f.leader);
        match body {
            ZabBody::LeaderInfo { epoch } if phase == Phase::Discovery => {
                if epoch >= super::MAX_EPOCH {
                    self.go_looking(
                        now,
                        host,
                        format!("LEADERINFO epoch {} is out of range", epoch.0),
                    );
                    return;
                }
                let promised = self.accepted_promised;
                self.follower().epoch = Some(epoch);
                if epoch > promised.epoch {
                    self.follower().phase = Phase::SavingAccepted;
                    let accepted = AcceptedEpoch {
                        epoch,
                        leader: Some(leader),
                    };
                    self.accepted_promised = accepted;
                    let session = self.follower().session;
                    self.store(
                        StorageOp::SaveEpochs {
                            accepted: Some(accepted),
                            current: None,
                        },
                        Some(Then::FollowerAckEpoch(session)),
                    );
                } else if epoch == promised.epoch && promised.leader == Some(leader) {
                    // Re-joining the leader this epoch was promised to.
                    self.send_ack_epoch();
                } else {
                    self.go_looking(
                        now,
                        host,
                        format!(
                            "leader {leader} offers epoch {} but {:?} was accepted",
                            epoch.0, promised
                        ),
                    );
                }
            }
            ZabBody::Trunc { zxid } if phase == Phase::EpochAcked => {
                if !self.history.contains(zxid) || zxid < self.history.applied() {
                    self.go_looking(
                        now,
                        host,
                        format!("TRUNC to {zxid}, which is not in this log past what was applied"),
                    );
                    return;
                }
                self.history.truncate_after(zxid);
                self.follower().kind = SyncKind::Trunc;
                self.event(ZabEvent::SyncReceived {
                    kind: SyncKind::Trunc,
                    zxid,
                });
                self.store(StorageOp::Truncate { after: zxid }, None);
            }
            ZabBody::Snap { zxid, bytes } if phase == Phase::EpochAcked => {
                if zxid < self.history.applied() {
                    // Clients may have seen the newer state: never roll it back.
                    let applied = self.history.applied();
                    self.go_looking(
                        now,
                        host,
                        format!("SNAP at {zxid} is older than the applied {applied}"),
                    );
                    return;
                }
                let image = match snapshot::read(&bytes) {
                    Ok(i) if i.zxid() == zxid => i,
                    Ok(i) => {
                        let got = i.zxid();
                        self.go_looking(now, host, format!("SNAP says {zxid} but holds {got}"));
                        return;
                    }
                    Err(e) => {
                        self.go_looking(now, host, format!("SNAP does not decode: {e}"));
                        return;
                    }
                };
                host.install(now, image);
                self.history.reset(zxid);
                self.follower().kind = SyncKind::Snap;
                self.event(ZabEvent::SyncReceived {
                    kind: SyncKind::Snap,
                    zxid,
                });
                self.store(StorageOp::InstallSnapshot { zxid, bytes }, None);
            }
            ZabBody::Propose { prev, entries }
                if matches!(
                    phase,
                    Phase::EpochAcked
                        | Phase::SavingCurrent
                        | Phase::AwaitUpToDate
                        | Phase::Broadcast
                ) =>
            {
                self.follower_append(now, prev, entries, host);
            }
            ZabBody::NewLeader { epoch, last_zxid } if phase == Phase::EpochAcked => {
                let f = self.follower();
                if f.epoch != Some(epoch) || last_zxid != self.history.last() {
                    let have = self.history.last();
                    self.go_looking(
                        now,
                        host,
                        format!(
                            "NEWLEADER {} up to {last_zxid}, but the log ends at {have}",
                            epoch.0
                        ),
                    );
                    return;
                }
                let f = self.follower();
                f.phase = Phase::SavingCurrent;
                let (session, kind) = (f.session, f.kind);
                if kind == SyncKind::Diff {
                    self.event(ZabEvent::SyncReceived {
                        kind,
                        zxid: last_zxid,
                    });
                }
                // Ordered after every entry, truncation and snapshot of this
                // synchronization: its completion means all of them are durable.
                self.store(
                    StorageOp::SaveEpochs {
                        accepted: None,
                        current: Some(epoch),
                    },
                    Some(Then::FollowerAckNewLeader(session)),
                );
            }
            ZabBody::UpToDate { committed } if phase == Phase::AwaitUpToDate => {
                if self.beyond_log(now, committed, "UPTODATE", host) {
                    return;
                }
                let f = self.follower();
                f.phase = Phase::Broadcast;
                let epoch = f.epoch.expect("known since LEADERINFO");
                self.history.commit_to(committed);
                self.apply_committed(now, host);
                self.event(ZabEvent::FollowerServing { leader, epoch });
                host.role_changed(now, Role::Following { leader, epoch }, self.history.last());
            }
            ZabBody::Commit { zxid }
                if matches!(
                    phase,
                    Phase::SavingCurrent | Phase::AwaitUpToDate | Phase::Broadcast
                ) =>
            {
                if self.beyond_log(now, zxid, "COMMIT", host) {
                    return;
                }
                self.history.commit_to(zxid);
                if phase == Phase::Broadcast {
                    self.apply_committed(now, host);
                }
            }
            ZabBody::Ping { committed } => {
                let acked_newleader = matches!(phase, Phase::AwaitUpToDate | Phase::Broadcast);
                if acked_newleader {
                    if self.beyond_log(now, committed, "PING", host) {
                        return;
                    }
                    self.history.commit_to(committed);
                    if phase == Phase::Broadcast {
                        self.apply_committed(now, host);
                    }
                }
                let touches = if phase == Phase::Broadcast {
                    host.take_touches()
                } else {
                    Vec::new()
                };
                let f = self.follower();
                let acked = acked_newleader.then_some(f.acked);
                let session = f.session;
                self.send_zab(leader, session, ZabBody::PingReply { acked, touches });
            }
            ZabBody::SyncDone { req, committed } if phase == Phase::Broadcast => {
                if self.beyond_log(now, committed, "SYNC answer", host) {
                    return;
                }
                self.history.commit_to(committed);
                self.apply_committed(now, host);
                host.sync_done(now, req);
            }
            ZabBody::Revalidated { req, valid } if phase == Phase::Broadcast => {
                host.revalidated(now, req, valid)
            }
            ZabBody::Reject { reason } => {
                self.go_looking(
                    now,
                    host,
                    format!("leader {leader} rejected us: {reason:?}"),
                );
            }
            // Repeats (LEADERINFO) and messages for a later phase than ours are ignored;
            // the deadlines catch a leader that stops making sense.
            _ => {}
        }
    }

    /// A leader says `zxid` is committed but our log ends before it: a PROPOSAL was lost
    /// (the link broke and came back). Acting on it would answer clients from a state
    /// that lacks a committed write, so look again (and get a DIFF).
    fn beyond_log(&mut self, now: Millis, zxid: Zxid, what: &str, host: &mut impl Host) -> bool {
        let last = self.history.last();
        if zxid <= last {
            return false;
        }
        self.go_looking(
            now,
            host,
            format!(
                "{what} says {zxid} is committed, but the log ends at {last}: a proposal was lost"
            ),
        );
        true
    }

    /// PROPOSAL: the entries must continue our log exactly where it ends.
    fn follower_append(
        &mut self,
        now: Millis,
        prev: Zxid,
        entries: Vec<crate::zab::message::WireEntry>,
        host: &mut impl Host,
    ) {
        let last = self.history.last();
        if prev != last {
            self.go_looking(
                now,
                host,
                format!("proposals after {prev}, but the log ends at {last}: a message was lost"),
            );
            return;
        }
        let mut log = Vec::with_capacity(entries.len());
        for w in entries {
            match LogEntry::from_bytes(&w.bytes) {
                Ok(e) => {
                    if let Err(gap) = self.history.append(e.clone(), w.tag) {
                        self.go_looking(now, host, format!("proposal out of order: {gap:?}"));
                        return;
                    }
                    log.push(e);
                }
                Err(e) => {
                    self.go_looking(now, host, format!("proposal does not decode: {e}"));
                    return;
                }
            }
        }
        if !log.is_empty() {
            self.store(StorageOp::Append(log), None);
        }
    }

    /// ACKEPOCH may go: `acceptedEpoch` is durable.
    pub(super) fn follower_epoch_saved(&mut self, _now: Millis, session: LearnerSession) {
        if let RoleState::Following(f) = &self.role {
            if f.session == session && f.phase == Phase::SavingAccepted {
                self.send_ack_epoch();
            }
        }
    }

    /// NEWLEADER may be acknowledged: the synchronized log and `currentEpoch` are durable.
    pub(super) fn follower_current_saved(&mut self, _now: Millis, session: LearnerSession) {
        let durable = self.durable;
        let RoleState::Following(f) = &mut self.role else {
            return;
        };
        if f.session != session || f.phase != Phase::SavingCurrent {
            return;
        }
        f.phase = Phase::AwaitUpToDate;
        f.acked = durable;
        let leader = f.leader;
        self.send_zab(leader, session, ZabBody::Ack { zxid: durable });
    }

    /// Our log became more durable: acknowledge (cumulatively) once NEWLEADER was.
    pub(super) fn follower_durable(&mut self, _now: Millis) {
        let durable = self.durable;
        let RoleState::Following(f) = &mut self.role else {
            return;
        };
        if matches!(f.phase, Phase::AwaitUpToDate | Phase::Broadcast) && durable > f.acked {
            f.acked = durable;
            let (leader, session) = (f.leader, f.session);
            self.send_zab(leader, session, ZabBody::Ack { zxid: durable });
        }
    }

    /// Re-send FOLLOWERINFO; give up on a leader that does not synchronize us in time or
    /// falls silent.
    pub(super) fn follower_tick(&mut self, now: Millis, host: &mut impl Host) {
        let (resend, sync_ms) = (self.cfg.info_resend_ms(), self.cfg.sync_ms());
        let f = self.follower();
        match f.phase {
            Phase::Broadcast => {
                if now >= f.last_heard.plus(sync_ms) {
                    let leader = f.leader;
                    self.go_looking(now, host, format!("leader {leader} silent for syncLimit"));
                }
                return;
            }
            Phase::Discovery if now >= f.next_info => {
                f.next_info = now.plus(resend);
                self.send_follower_info();
            }
            _ => {}
        }
        let f = self.follower();
        if now >= f.deadline {
            let leader = f.leader;
            self.go_looking(
                now,
                host,
                format!("not synchronized with leader {leader} within initLimit"),
            );
        }
    }
}
