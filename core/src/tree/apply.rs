//! Applying committed txns: ZooKeeper 3.8's `DataTree.processTxn`, `createNode`,
//! `deleteNode`, `setData`, `setACL` and `killSession`, including their behaviour on txns
//! that do not fit the tree (log replay over a fuzzy snapshot).

use super::store::NodeId;
use super::{DataTree, StatPersisted};
use crate::error::ErrorCode;
use crate::path;
use crate::proto::data::{Acl, Stat};
use crate::proto::event::EventType;
use crate::txn::{CreateKind, Txn, TxnHeader};
use crate::types::{SessionId, Zxid};

/// What applying one txn did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyResult {
    /// One entry for a plain txn; one per sub-txn, in order, for a multi.
    pub results: Vec<OpResult>,
    /// Watch triggers, in firing order.
    pub triggers: Vec<Trigger>,
}

/// The outcome of one (sub-)txn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpResult {
    /// A node was created; `stat` is its client stat right after the create.
    Created {
        path: String,
        stat: Stat,
    },
    Deleted,
    /// The node's client stat after the setData.
    DataSet {
        stat: Stat,
    },
    /// The node's client stat after the setACL.
    AclSet {
        stat: Stat,
    },
    Checked,
    SessionCreated,
    SessionClosed,
    /// An error txn (its code), a sub-txn of a failed multi (0 before the failing one, -2
    /// after it), or a txn that did not fit the tree.
    Error(ErrorCode),
}

/// A change that fires watches: `event` on `path` (the data watches of `path`; for
/// `NodeChildrenChanged` the child watches of `path`; for `NodeDeleted` both).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub path: String,
    pub event: EventType,
}

impl Trigger {
    fn new(path: &str, event: EventType) -> Trigger {
        Trigger {
            path: path.to_owned(),
            event,
        }
    }
}

impl DataTree {
    /// Apply one committed txn with its header (`hdr.zxid`, `hdr.time`, and `hdr.session`
    /// for closeSession), returning per-op results and the watch triggers in firing order:
    /// create P → (P, NodeCreated), (parent, NodeChildrenChanged); delete P → (P,
    /// NodeDeleted), (parent, NodeChildrenChanged); setData P → (P, NodeDataChanged);
    /// setACL, check, sessions and errors → none; closeSession → the delete triggers of
    /// each ephemeral it removes.
    ///
    /// A multi applies its sub-txns in order at one zxid. If any sub-txn is an error txn,
    /// nothing is applied: sub-txns before the first error report `Error(Ok)`, those after
    /// it `Error(RuntimeInconsistency)`, error sub-txns their own code (ZooKeeper's
    /// rewriting of failed multis).
    ///
    /// Never panics on a txn that does not fit the tree; see the individual cases in
    /// [`create`](Self::create) and friends. `last_zxid` becomes `max(last_zxid, hdr.zxid)`.
    pub fn apply(&mut self, hdr: &TxnHeader, txn: &Txn) -> ApplyResult {
        let mut out = ApplyResult::default();
        match txn {
            Txn::Multi(subs) => {
                let failed = subs.iter().any(|t| matches!(t, Txn::Error { .. }));
                let mut seen_error = false;
                for sub in subs {
                    let r = match sub {
                        Txn::Error { err } => {
                            seen_error = true;
                            OpResult::Error(*err)
                        }
                        _ if failed && seen_error => {
                            OpResult::Error(ErrorCode::RuntimeInconsistency)
                        }
                        _ if failed => OpResult::Error(ErrorCode::Ok),
                        Txn::Create { .. }
                        | Txn::Delete { .. }
                        | Txn::DeleteContainer { .. }
                        | Txn::SetData { .. }
                        | Txn::Check { .. } => self.apply_one(hdr, sub, &mut out.triggers),
                        // Not allowed inside a multi (ZooKeeper fails to decode them).
                        _ => OpResult::Error(ErrorCode::MarshallingError),
                    };
                    out.results.push(r);
                }
            }
            _ => {
                let r = self.apply_one(hdr, txn, &mut out.triggers);
                out.results.push(r);
            }
        }
        self.last_zxid = self.last_zxid.max(hdr.zxid);
        out
    }

    fn apply_one(&mut self, hdr: &TxnHeader, txn: &Txn, triggers: &mut Vec<Trigger>) -> OpResult {
        let (zxid, time) = (hdr.zxid, hdr.time);
        match txn {
            Txn::Create {
                path,
                data,
                acl,
                kind,
                parent_cversion,
            } => {
                let owner = kind.stored_owner();
                match self.create(
                    path,
                    data.as_deref(),
                    acl,
                    owner,
                    *parent_cversion,
                    zxid,
                    time,
                ) {
                    Ok(stat) => {
                        triggers.push(Trigger::new(path, EventType::NodeCreated));
                        triggers.push(Trigger::new(
                            path::parent(path),
                            EventType::NodeChildrenChanged,
                        ));
                        OpResult::Created {
                            path: path.clone(),
                            stat,
                        }
                    }
                    // processTxn: a plain create (type 1) of an existing node still moves
                    // the parent's cversion and pzxid forward, so that replaying over a
                    // fuzzy snapshot converges.
                    // (The root has no parent to fix.)
                    Err(ErrorCode::NodeExists)
                        if path != "/"
                            && matches!(
                                kind,
                                CreateKind::Persistent | CreateKind::Ephemeral(_)
                            ) =>
                    {
                        match self.set_cversion_pzxid(path::parent(path), *parent_cversion, zxid) {
                            Ok(()) => OpResult::Error(ErrorCode::NodeExists),
                            Err(e) => OpResult::Error(e),
                        }
                    }
                    Err(e) => OpResult::Error(e),
                }
            }
            Txn::Delete { path } | Txn::DeleteContainer { path } => match self.delete(path, zxid) {
                Ok(()) => {
                    push_delete_triggers(triggers, path);
                    OpResult::Deleted
                }
                Err(e) => OpResult::Error(e),
            },
            Txn::SetData {
                path,
                data,
                version,
            } => match self.set_data(path, data.as_deref(), *version, zxid, time) {
                Ok(stat) => {
                    triggers.push(Trigger::new(path, EventType::NodeDataChanged));
                    OpResult::DataSet { stat }
                }
                Err(e) => OpResult::Error(e),
            },
            Txn::SetAcl { path, acl, version } => match self.set_acl(path, acl, *version) {
                Ok(stat) => OpResult::AclSet { stat },
                Err(e) => OpResult::Error(e),
            },
            // Version checks happened when the txn was prepared.
            Txn::Check { .. } => OpResult::Checked,
            Txn::CreateSession { .. } => OpResult::SessionCreated,
            Txn::CloseSession { ephemerals } => {
                self.close_session(hdr.session, ephemerals, zxid, triggers);
                OpResult::SessionClosed
            }
            Txn::Error { err } => OpResult::Error(*err),
            Txn::Multi(_) => OpResult::Error(ErrorCode::MarshallingError),
        }
    }

    /// `DataTree.createNode`. Errors, with no change: BadArguments for an invalid path;
    /// NodeExists for `/`; NoNode when the parent is missing; NodeExists when the child
    /// exists. Otherwise the parent's stored cversion becomes `parent_cversion` (-1 means
    /// "current + 1") and its pzxid `zxid` — **only if** `parent_cversion` is larger than
    /// the stored value (signed compare, as Java; so a wrapped counter stops moving) — and
    /// the node is created with czxid = mzxid = pzxid = zxid, ctime = mtime = time,
    /// versions 0 and the given raw owner.
    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        owner: i64,
        parent_cversion: i32,
        zxid: Zxid,
        time: i64,
    ) -> Result<Stat, ErrorCode> {
        path::validate_path(path)?;
        if path == "/" {
            return Err(ErrorCode::NodeExists);
        }
        let parent_path = path::parent(path);
        let parent = self.lookup(parent_path).ok_or(ErrorCode::NoNode)?;
        if self.lookup(path).is_some() {
            return Err(ErrorCode::NodeExists);
        }
        self.update_stat(parent, parent_path, |p| {
            let new_cversion = if parent_cversion == -1 {
                p.cversion.wrapping_add(1)
            } else {
                parent_cversion
            };
            if new_cversion > p.cversion {
                p.cversion = new_cversion;
                p.pzxid = zxid;
            }
        });
        let stat = StatPersisted {
            czxid: zxid,
            mzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: owner,
            pzxid: zxid,
        };
        let acl = self.acls.intern(acl);
        self.add_node(path, Some(parent), data, acl, stat);
        Ok(super::node::client_stat(&stat, data, 0))
    }

    /// `DataTree.setCversionPzxid`: move the parent's counters forward after a create found
    /// its node already there.
    fn set_cversion_pzxid(
        &mut self,
        path: &str,
        cversion: i32,
        zxid: Zxid,
    ) -> Result<(), ErrorCode> {
        let id = self.lookup(path).ok_or(ErrorCode::NoNode)?;
        self.update_stat(id, path, |s| {
            let new = if cversion == -1 {
                s.cversion.wrapping_add(1)
            } else {
                cversion
            };
            if new > s.cversion {
                s.cversion = new;
                s.pzxid = zxid;
            }
        });
        Ok(())
    }

    /// `DataTree.deleteNode`. A system path (`/`, `/zookeeper`, ...) is BadArguments with no
    /// change (ZooKeeper relies on prep for this). A missing parent is NoNode. Otherwise,
    /// as ZooKeeper, the parent's pzxid becomes `max(pzxid, zxid)` **before** the node is
    /// looked up, so a delete of a missing child still moves it, then NoNode. A node that
    /// still has children (possible only in replay) is removed with its whole subtree, so
    /// that no orphan remains.
    ///
    /// The node is looked up by its exact path, so a malformed path whose parent and last
    /// segment name a real node (`//a` → `/`, `a`) deletes nothing. (ZooKeeper would
    /// unlink `a` from `/` there and leave `/a` orphaned in its map; such a txn cannot come
    /// from prep, which validates paths.)
    fn delete(&mut self, path: &str, zxid: Zxid) -> Result<(), ErrorCode> {
        if path::is_system_path(path) {
            return Err(ErrorCode::BadArguments);
        }
        let parent_path = path::parent(path);
        let parent = self.lookup(parent_path).ok_or(ErrorCode::NoNode)?;
        let node = self.lookup(path);
        if let Some(node) = node {
            self.unlink_child(parent, node);
        }
        self.update_stat(parent, parent_path, |p| {
            if zxid > p.pzxid {
                p.pzxid = zxid;
            }
        });
        let node = node.ok_or(ErrorCode::NoNode)?;
        self.remove_subtree(node, path.to_owned());
        Ok(())
    }

    /// Remove node `id` at `path` and everything below it from the slab and the indices.
    /// The caller has already unlinked `id` from its parent.
    fn remove_subtree(&mut self, id: NodeId, path: String) {
        let mut stack = vec![(id, path)];
        while let Some((id, p)) = stack.pop() {
            let list = self.nodes.get(id).children;
            if list != super::store::NONE {
                let list = self.lists.remove(list);
                self.nodes.get_mut(id).children = super::store::NONE;
                let nodes = &self.nodes;
                stack.extend(
                    list.iter()
                        .map(|c| (c, path::join(&p, nodes.get(c).name()))),
                );
            }
            self.forget_node(&p, id);
        }
    }

    /// `DataTree.setData`: data, version = `version` (the new version from the txn), mzxid,
    /// mtime. NoNode when missing.
    fn set_data(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        version: i32,
        zxid: Zxid,
        time: i64,
    ) -> Result<Stat, ErrorCode> {
        let id = self.lookup(path).ok_or(ErrorCode::NoNode)?;
        self.mark_changed(path);
        let slot = self.nodes.get_mut(id);
        let acl = self.acls.get(slot.acl);
        let mut stat = slot.stat();
        let before = super::digest::node(path, slot.data(), &stat, acl);
        let old_size = super::node_size(path, slot.data());
        stat.version = version;
        stat.mzxid = zxid;
        stat.mtime = time;
        slot.set_data_and_stat(data, &stat);
        let after = super::digest::node(path, data, &stat, acl);
        let new_size = super::node_size(path, data);
        self.digest = self.digest.wrapping_sub(before).wrapping_add(after);
        self.data_size = self.data_size - old_size + new_size;
        let n = i32::try_from(self.child_count(id)).unwrap_or(i32::MAX);
        Ok(super::node::client_stat(&stat, data, n))
    }

    /// `DataTree.setACL`: acl, aversion = `version` (the new aversion). NoNode when missing.
    fn set_acl(&mut self, path: &str, acl: &[Acl], version: i32) -> Result<Stat, ErrorCode> {
        let id = self.lookup(path).ok_or(ErrorCode::NoNode)?;
        self.mark_changed(path);
        let new = self.acls.intern(acl);
        let slot = self.nodes.get_mut(id);
        let mut stat = slot.stat();
        let before = super::digest::meta(path, &stat, self.acls.get(slot.acl));
        stat.aversion = version;
        slot.set_stat(stat);
        let old = std::mem::replace(&mut slot.acl, new);
        let after = super::digest::meta(path, &stat, self.acls.get(new));
        self.digest = self.digest.wrapping_sub(before).wrapping_add(after);
        self.acls.release(old);
        Ok(self.view(id).client_stat())
    }

    /// `DataTree.killSession`: delete every path listed in the txn (whoever owns it now, as
    /// ZooKeeper does; missing ones are skipped, though their parent's pzxid still moves),
    /// then any ephemerals of `session` the list missed, in path order.
    fn close_session(
        &mut self,
        session: SessionId,
        listed: &[String],
        zxid: Zxid,
        triggers: &mut Vec<Trigger>,
    ) {
        for p in listed {
            if self.delete(p, zxid).is_ok() {
                push_delete_triggers(triggers, p);
            }
        }
        for p in &self.ephemerals(session) {
            if self.delete(p, zxid).is_ok() {
                push_delete_triggers(triggers, p);
            }
        }
    }
}

fn push_delete_triggers(triggers: &mut Vec<Trigger>, path: &str) {
    triggers.push(Trigger::new(path, EventType::NodeDeleted));
    triggers.push(Trigger::new(
        path::parent(path),
        EventType::NodeChildrenChanged,
    ));
}
