//! How replication drives the client-facing state: `State` is the replica's `Host`.
//!
//! Committed entries are applied here, role changes open and close the door to clients,
//! and as leader this is where a follower's forwarded request is prepared, exactly as a
//! local one would be (same validation, same error txns), carrying the follower's tag so
//! that the follower answers its client once the txn is applied there.

use super::machine::State;
use crate::error::ErrorCode;
use crate::jute::{JuteReader, Record};
use crate::prep::{self, PrepContext};
use crate::proto::data::Id;
use crate::proto::header::RequestHeader;
use crate::proto::request::Request;
use crate::snapshot::{self, Image};
use crate::txn::Txn;
use crate::types::{Millis, ServerId, SessionId, Zxid};
use crate::zab::history::HistEntry;
use crate::zab::message::{Forward, ReqTag};
use crate::zab::replica::{Host, Role};

impl Host for State {
    fn apply(&mut self, now: Millis, entry: HistEntry) {
        State::apply(self, now, entry.entry, entry.tag);
    }

    fn snapshot(&mut self) -> (Zxid, Vec<u8>) {
        // Borrow the live tree into an image for the encoder rather than cloning it: a
        // million nodes cost hundreds of milliseconds to copy.
        let image = Image {
            tree: std::mem::take(&mut self.tree),
            sessions: self
                .sessions
                .recorded()
                .into_iter()
                .map(|(id, t)| (id, t as i32))
                .collect(),
        };
        let out = (image.zxid(), snapshot::to_bytes(&image));
        self.tree = image.tree;
        out
    }

    fn install(&mut self, now: Millis, image: Image) {
        let zxid = image.zxid();
        self.tree = image.tree;
        if self.config.snapshot_deltas && self.config.snap_count > 0 {
            // The installed snapshot is the base of the next delta.
            self.tree.track_changes();
        }
        self.tracking_restarted = false;
        self.sessions.clear();
        for (id, timeout) in image.sessions {
            self.sessions.add(id, i64::from(timeout), now);
        }
        self.overlay.clear();
        self.owners.clear();
        self.touched.clear();
        self.last_snapshot = zxid;
        self.since_snapshot = 0;
        self.last_prepared = zxid;
        self.last_proposed = zxid;
    }

    fn role_changed(&mut self, now: Millis, role: Role, last_zxid: Zxid) {
        self.role = role;
        self.last_proposed = self.tree.last_zxid();
        self.proposed_sessions.clear();
        if role != Role::Standalone {
            // Closes begun under the old role (an expiry this server started as leader,
            // or a close a client asked for) are forgotten; the leader decides anew.
            self.sessions.retrack_all(now);
        }
        match role {
            Role::Looking => {
                // No quorum behind us: every client goes (ZooKeeper shuts its
                // ZooKeeperServer down and closes the connections); they reconnect to a
                // server that serves. What was in flight is unknown to them.
                let conns: Vec<_> = self.conns.keys().copied().collect();
                for conn in conns {
                    self.close_conn(conn);
                }
                self.session_conn.clear();
                self.origins.clear();
                self.waiters.clear();
                self.revalidating.clear();
                self.syncs.clear();
                self.touched.clear();
                self.owners.clear();
                self.batch.clear();
                self.to_leader.clear();
                self.overlay.clear();
                self.last_prepared = self.tree.last_zxid();
            }
            Role::Leading { .. } => {
                // Every session got a fresh deadline above: under the new leader, as in
                // ZooKeeper, their clients could not reach anyone during the election.
                self.overlay.clear();
                self.owners.clear();
                self.last_prepared = last_zxid;
                self.next_container_check = now.plus(self.config.container_check_interval_ms);
            }
            Role::Following { .. } => {
                self.touched.clear();
            }
            Role::Standalone => {
                self.last_prepared = last_zxid;
            }
        }
    }

    fn forwarded(&mut self, now: Millis, from: ServerId, req: u64, forward: Forward) {
        let tag = Some(ReqTag { server: from, req });
        match forward {
            Forward::CreateSession {
                session,
                timeout_ms,
            } => {
                self.owners.insert(session, from);
                self.proposed_sessions.insert(session);
                self.propose(now, session, 0, Txn::CreateSession { timeout_ms }, tag);
            }
            Forward::Error { session, cxid, err } => {
                let err = ErrorCode::from_code(err).unwrap_or(ErrorCode::MarshallingError);
                self.propose(now, session, cxid, Txn::Error { err }, tag);
            }
            Forward::Request {
                session,
                payload,
                ids,
            } => {
                let ids: Vec<Id> = ids.iter().map(|(s, i)| Id::new(s, i)).collect();
                let (cxid, txn) = self.prepare_forwarded(from, session, &payload, &ids);
                self.propose(now, session, cxid, txn, tag);
            }
        }
    }

    fn revalidate(
        &mut self,
        now: Millis,
        from: ServerId,
        session: SessionId,
        timeout_ms: i32,
    ) -> bool {
        let valid = self.sessions.contains(session) && !self.sessions.is_closing(session);
        if valid {
            self.sessions.set_timeout(session, i64::from(timeout_ms));
            self.sessions.touch(session, now);
            self.owners.insert(session, from);
        }
        valid
    }

    fn touched(&mut self, now: Millis, _from: ServerId, touches: Vec<(SessionId, i32)>) {
        for (session, _) in touches {
            self.sessions.touch(session, now);
        }
    }

    fn take_touches(&mut self) -> Vec<(SessionId, i32)> {
        std::mem::take(&mut self.touched).into_iter().collect()
    }

    fn sync_done(&mut self, now: Millis, req: u64) {
        State::sync_done(self, now, req);
    }

    fn revalidated(&mut self, now: Millis, req: u64, valid: bool) {
        State::revalidated(self, now, req, valid);
    }
}

impl State {
    /// As leader: the txn for a write a follower received, judged as if it had arrived
    /// here (the follower already answered what it could itself). Returns the cxid and txn.
    fn prepare_forwarded(
        &mut self,
        from: ServerId,
        session: SessionId,
        payload: &[u8],
        ids: &[Id],
    ) -> (i32, Txn) {
        let error = |err| Txn::Error { err };
        let mut r = JuteReader::with_limit(payload, 2 * self.config.max_buffer);
        let Ok(hdr) = RequestHeader::read(&mut r) else {
            return (0, error(ErrorCode::MarshallingError));
        };
        let zxid = self.last_prepared.successor();
        let alive = (self.sessions.contains(session) && !self.sessions.is_closing(session))
            || self.proposed_sessions.contains(&session);
        let txn = match Request::decode(hdr.op, &mut r) {
            Err(_) => error(ErrorCode::MarshallingError),
            Ok(Request::CloseSession) => {
                self.sessions.set_closing(session);
                prep::prepare_close_session(&self.tree, &mut self.overlay, zxid, session)
            }
            Ok(_) if !alive => error(ErrorCode::SessionExpired),
            Ok(_) if self.owner_mismatch(session, from) => error(ErrorCode::SessionMoved),
            // Only writes are forwarded; anything else is a confused peer.
            Ok(req) if !req.is_write() => error(ErrorCode::MarshallingError),
            Ok(req) => {
                let ctx = PrepContext {
                    session,
                    ids,
                    skip_acl: self.config.skip_acl,
                    extended_types_enabled: self.config.extended_types_enabled,
                };
                prep::prepare(&self.tree, &mut self.overlay, zxid, &ctx, &req)
            }
        };
        (hdr.xid, txn)
    }
}
