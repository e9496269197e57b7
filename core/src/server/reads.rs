//! Requests answered from the applied tree without a transaction: reads, watches, auth,
//! pings, and the watch notifications that applied transactions trigger.

use std::collections::BTreeMap;

use super::machine::State;
use crate::acl::{add_auth, check_acl, client_infos, mask_digest_ids};
use crate::error::ErrorCode;
use crate::jute::{JuteWriter, Record};
use crate::proto::data::{perms, Acl};
use crate::proto::event::{keeper_state, AddWatchMode, EventType, WatcherEvent, WatcherType};
use crate::proto::header::{ReplyHeader, RequestHeader};
use crate::proto::op;
use crate::proto::request::{Request, SetWatches};
use crate::proto::response::{MultiResult, Response};
use crate::tree::Trigger;
use crate::txn::Txn;
use crate::types::{ConnId, Millis, Zxid};

impl State {
    fn allowed(&self, conn: ConnId, acl: &[Acl], perm: i32) -> bool {
        self.config.skip_acl
            || self
                .conns
                .get(&conn)
                .is_some_and(|c| check_acl(acl, perm, &c.ids))
    }

    /// Answer a non-transactional request. Returns the frames to send, in order (watch
    /// catch-up events before the reply), and whether to close afterwards.
    pub(crate) fn handle_read(
        &mut self,
        _now: Millis,
        conn: ConnId,
        hdr: RequestHeader,
        req: Request,
    ) -> (Vec<Vec<u8>>, bool) {
        let xid = hdr.xid;
        let result: Result<Response, ErrorCode> = match req {
            Request::Ping => {
                let h = ReplyHeader {
                    xid: op::XID_PING,
                    zxid: self.tree.last_zxid(),
                    err: 0,
                };
                return (vec![crate::proto::encode_reply_frame(h, None)], false);
            }
            Request::Auth { scheme, auth, .. } => {
                match add_auth(&scheme, &auth, self.config.super_digest.as_deref()) {
                    Ok(ids) => {
                        let c = self.conns.get_mut(&conn).expect("known connection");
                        for id in ids {
                            if !c.ids.contains(&id) {
                                c.ids.push(id);
                            }
                        }
                        let h = ReplyHeader {
                            xid,
                            zxid: Zxid(0),
                            err: 0,
                        };
                        return (vec![crate::proto::encode_reply_frame(h, None)], false);
                    }
                    Err(e) => {
                        let h = ReplyHeader {
                            xid,
                            zxid: Zxid(0),
                            err: e.code(),
                        };
                        return (vec![crate::proto::encode_reply_frame(h, None)], true);
                    }
                }
            }
            Request::SetWatches { watches, .. } => {
                let mut frames = self.set_watches(conn, &watches);
                frames.push(self.frame(xid, Ok(Response::Empty)));
                return (frames, false);
            }
            Request::Exists { path, watch } => {
                if path.contains('\0') {
                    Err(ErrorCode::BadArguments)
                } else {
                    match self.tree.node(&path) {
                        Some(n) if !self.allowed(conn, n.acl(), perms::READ) => {
                            Err(ErrorCode::NoAuth)
                        }
                        node => {
                            let stat = node.map(|n| n.client_stat());
                            if watch {
                                self.watches.add_data_watch(&path, conn);
                            }
                            stat.map(Response::Stat).ok_or(ErrorCode::NoNode)
                        }
                    }
                }
            }
            Request::GetData { path, watch } => {
                let r = self.get_data(conn, &path);
                if r.is_ok() && watch {
                    self.watches.add_data_watch(&path, conn);
                }
                r.map(|(data, stat)| Response::GetData { data, stat })
            }
            Request::GetChildren { path, watch } | Request::GetChildren2 { path, watch } => {
                let two = hdr.op == op::GET_CHILDREN2;
                let r = self.get_children(conn, &path);
                if r.is_ok() && watch {
                    self.watches.add_child_watch(&path, conn);
                }
                r.map(|(children, stat)| {
                    if two {
                        Response::Children2 { children, stat }
                    } else {
                        Response::Children { children }
                    }
                })
            }
            Request::GetAcl { path } => match self.tree.node(&path) {
                None => Err(ErrorCode::NoNode),
                Some(n) => {
                    let admin = self.allowed(conn, n.acl(), perms::ADMIN);
                    if !admin && !self.allowed(conn, n.acl(), perms::READ) {
                        Err(ErrorCode::NoAuth)
                    } else {
                        let acl = if admin {
                            n.acl().to_vec()
                        } else {
                            mask_digest_ids(n.acl())
                        };
                        Ok(Response::GetAcl {
                            acl,
                            stat: n.client_stat(),
                        })
                    }
                }
            },
            Request::GetAllChildrenNumber { path } => match self.tree.node(&path) {
                None => Err(ErrorCode::NoNode),
                Some(n) if !self.allowed(conn, n.acl(), perms::READ) => Err(ErrorCode::NoAuth),
                Some(_) => Ok(Response::AllChildrenNumber(
                    self.tree.count_descendants(&path).unwrap_or(0),
                )),
            },
            Request::GetEphemerals { prefix } => {
                let session = self.conns[&conn].session;
                let all = prefix.trim().is_empty() || prefix == "/";
                let list = self
                    .tree
                    .ephemerals(session)
                    .into_iter()
                    .filter(|p| all || p.starts_with(&prefix))
                    .collect();
                Ok(Response::Ephemerals(list))
            }
            Request::Sync { path } => Ok(Response::Sync { path }),
            // Reconfig is off (ZooKeeper's default): no txn, no zxid.
            Request::Reconfig { .. } => Err(ErrorCode::ReconfigDisabled),
            Request::Sasl { .. } => {
                // No SASL configured: ZooKeeper answers with a null token and zxid 0.
                let h = ReplyHeader {
                    xid,
                    zxid: Zxid(0),
                    err: 0,
                };
                let body = Response::Sasl { token: None };
                return (
                    vec![crate::proto::encode_reply_frame(h, Some(&body))],
                    false,
                );
            }
            Request::AddWatch { path, mode } => match AddWatchMode::from_code(mode) {
                Some(m) => {
                    self.watches.add_persistent(&path, conn, m);
                    Ok(Response::ErrorResponse(0))
                }
                // ZooKeeper fails to map the mode and answers MarshallingError.
                None => Err(ErrorCode::MarshallingError),
            },
            Request::CheckWatches { path, watcher_type }
            | Request::RemoveWatches { path, watcher_type } => {
                let remove = hdr.op == op::REMOVE_WATCHES;
                // 3.8.0 knows types 1-3 only; anything else fails to decode.
                match WatcherType::from_code(watcher_type).filter(|t| {
                    matches!(
                        t,
                        WatcherType::Children | WatcherType::Data | WatcherType::Any
                    )
                }) {
                    None => Err(ErrorCode::MarshallingError),
                    Some(t) => {
                        let found = if remove {
                            self.watches.remove_watches(&path, conn, t)
                        } else {
                            self.watches.check_watches(&path, conn, t)
                        };
                        if found {
                            Ok(Response::Empty)
                        } else {
                            Err(ErrorCode::NoWatcher)
                        }
                    }
                }
            }
            Request::WhoAmI => Ok(Response::WhoAmI(client_infos(&self.conns[&conn].ids))),
            Request::MultiRead(ops) => {
                let results = ops
                    .iter()
                    .map(|sub| match sub {
                        Request::GetData { path, .. } => match self.get_data(conn, path) {
                            Ok((data, stat)) => MultiResult::GetData { data, stat },
                            Err(e) => MultiResult::Error(e.code()),
                        },
                        Request::GetChildren { path, .. } => match self.get_children(conn, path) {
                            Ok((children, _)) => MultiResult::GetChildren { children },
                            Err(e) => MultiResult::Error(e.code()),
                        },
                        _ => MultiResult::Error(ErrorCode::MarshallingError.code()),
                    })
                    .collect();
                Ok(Response::Multi(results))
            }
            // Writes never reach here.
            _ => Err(ErrorCode::MarshallingError),
        };
        (vec![self.frame(xid, result)], false)
    }

    fn get_data(
        &self,
        conn: ConnId,
        path: &str,
    ) -> Result<(Option<Vec<u8>>, crate::proto::data::Stat), ErrorCode> {
        let n = self.tree.node(path).ok_or(ErrorCode::NoNode)?;
        if !self.allowed(conn, n.acl(), perms::READ) {
            return Err(ErrorCode::NoAuth);
        }
        Ok((n.data.map(<[u8]>::to_vec), n.client_stat()))
    }

    fn get_children(
        &self,
        conn: ConnId,
        path: &str,
    ) -> Result<(Vec<String>, crate::proto::data::Stat), ErrorCode> {
        let n = self.tree.node(path).ok_or(ErrorCode::NoNode)?;
        if !self.allowed(conn, n.acl(), perms::READ) {
            return Err(ErrorCode::NoAuth);
        }
        Ok((n.children().map(str::to_owned).collect(), n.client_stat()))
    }

    /// setWatches catch-up (§7.5): events for changes since `relative_zxid` now, the rest
    /// registered. Persistent watches get no catch-up.
    fn set_watches(&mut self, conn: ConnId, w: &SetWatches) -> Vec<Vec<u8>> {
        let mut events = Vec::new();
        for p in &w.data {
            match self.tree.node(p) {
                None => events.push((p.clone(), EventType::NodeDeleted)),
                Some(n) if n.stat.mzxid > w.relative_zxid => {
                    events.push((p.clone(), EventType::NodeDataChanged))
                }
                Some(_) => self.watches.add_data_watch(p, conn),
            }
        }
        for p in &w.exist {
            match self.tree.node(p) {
                Some(_) => events.push((p.clone(), EventType::NodeCreated)),
                None => self.watches.add_data_watch(p, conn),
            }
        }
        for p in &w.child {
            match self.tree.node(p) {
                None => events.push((p.clone(), EventType::NodeDeleted)),
                Some(n) if n.stat.pzxid > w.relative_zxid => {
                    events.push((p.clone(), EventType::NodeChildrenChanged))
                }
                Some(_) => self.watches.add_child_watch(p, conn),
            }
        }
        for p in &w.persistent {
            self.watches
                .add_persistent(p, conn, AddWatchMode::Persistent);
        }
        for p in &w.persistent_recursive {
            self.watches
                .add_persistent(p, conn, AddWatchMode::PersistentRecursive);
        }
        events
            .into_iter()
            .map(|(path, t)| notification_frame(&path, t))
            .collect()
    }

    /// ACLs of the nodes a txn deletes, captured before it applies, so that delete events
    /// can still be filtered by the READ permission the watcher had on the node.
    pub(crate) fn acls_of_deleted(&self, txn: &Txn) -> BTreeMap<String, Vec<Acl>> {
        let mut out = BTreeMap::new();
        let mut add = |p: &str| {
            if let Some(n) = self.tree.node(p) {
                out.insert(p.to_owned(), n.acl().to_vec());
            }
        };
        match txn {
            Txn::Delete { path } | Txn::DeleteContainer { path } => add(path),
            Txn::CloseSession { ephemerals } => ephemerals.iter().for_each(|p| add(p)),
            Txn::Multi(subs) => {
                for s in subs {
                    if let Txn::Delete { path } = s {
                        add(path);
                    }
                }
            }
            _ => {}
        }
        out
    }

    /// Send the notifications of one applied txn, dropping those for nodes the watcher
    /// cannot READ (the CVE-2024-23944 filter, also in Debian's 3.8.0 build).
    pub(crate) fn deliver_events(
        &mut self,
        triggers: &[Trigger],
        deleted: &BTreeMap<String, Vec<Acl>>,
    ) {
        for t in triggers {
            let conns = self.watches.trigger(&t.path, t.event);
            if conns.is_empty() {
                continue;
            }
            let acl: Option<Vec<Acl>> = match deleted.get(&t.path) {
                Some(a) if t.event == EventType::NodeDeleted => Some(a.clone()),
                _ => self.tree.node(&t.path).map(|n| n.acl().to_vec()),
            };
            let frame = notification_frame(&t.path, t.event);
            for conn in conns {
                if let Some(acl) = &acl {
                    if !self.allowed(conn, acl, perms::READ) {
                        continue;
                    }
                }
                self.send(conn, frame.clone());
            }
        }
    }
}

/// A watch notification: `ReplyHeader{xid=-1, zxid=-1 (as 3.8), err=0}` + `WatcherEvent`.
pub(crate) fn notification_frame(path: &str, event: EventType) -> Vec<u8> {
    let mut w = JuteWriter::framed();
    ReplyHeader {
        xid: op::XID_NOTIFICATION,
        zxid: Zxid(-1),
        err: 0,
    }
    .write(&mut w);
    WatcherEvent {
        event_type: event.code(),
        state: keeper_state::SYNC_CONNECTED,
        path: path.to_owned(),
    }
    .write(&mut w);
    w.finish_frame()
}
