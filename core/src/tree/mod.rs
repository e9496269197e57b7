//! The data tree: every znode with its data, ACL and stat, plus the indices ZooKeeper keeps
//! beside it (ephemerals per session, containers, TTL nodes) and a running digest.
//!
//! The tree changes only through [`DataTree::apply`], one committed [`Txn`] at a time, with
//! exactly ZooKeeper 3.8's `DataTree.processTxn` semantics (reference §4, §5, §13). Apply
//! never panics on a txn that does not fit the tree: replaying the log over a fuzzy
//! snapshot produces such txns, and they become [`OpResult::Error`] with ZooKeeper's
//! partial effects (see `apply.rs`).
//!
//! [`Txn`]: crate::txn::Txn

use std::collections::{BTreeMap, BTreeSet};

use crate::path;
use crate::proto::data::{Acl, Stat};
use crate::txn::CreateKind;
use crate::types::{Millis, SessionId, Zxid};

mod acl_cache;
mod apply;
mod changes;
mod children;
mod digest;
mod index;
mod load;
mod node;
#[cfg(test)]
mod props;
mod store;
#[cfg(test)]
mod tests;
mod verify;

pub use apply::{ApplyResult, OpResult, Trigger};
pub use changes::{NodeChange, NodeState};
pub use load::{TreeLoader, Walk};
pub use node::{Children, Node, StatPersisted};

use acl_cache::AclCache;
use children::ChildList;
use index::PathIndex;
use store::{NodeId, Slab, Slot, NONE};

/// The znode tree. See the module docs.
///
/// Layout (chosen for memory: see docs/performance.md): nodes live in a chunked slab of
/// 32-byte slots addressed by `u32` ids; each slot stores its own name once (with its
/// compactly encoded stat and its data, in one allocation), its parent's id, an
/// interned-ACL index and the id of its child list. The path index maps a path's hash to ids and checks a hit by walking the
/// node's parent chain, so no path string is kept anywhere.
/// Child lists hold ids in name order (getChildren's and the snapshot's order) in bounded
/// blocks, so huge flat directories stay cheap to change. The ephemeral, container and TTL
/// indices hold ids; their outputs are sorted by path.
#[derive(Clone, Debug)]
pub struct DataTree {
    nodes: Slab<Slot>,
    /// Child lists, referenced by `Slot::children`.
    lists: Slab<ChildList>,
    index: PathIndex,
    /// The root's id (`None` only in a tree being loaded).
    root: Option<NodeId>,
    /// The normal ephemerals of each session; sessions without any are absent.
    ephemerals: BTreeMap<SessionId, BTreeSet<NodeId>>,
    /// Container nodes.
    containers: BTreeSet<NodeId>,
    /// TTL nodes.
    ttls: BTreeSet<NodeId>,
    acls: AclCache,
    last_zxid: Zxid,
    /// ZooKeeper's cached `approximateDataSize`.
    data_size: u64,
    /// Wrapping sum of the node digests (see `digest.rs`).
    digest: u64,
    /// Paths changed since tracking (re)started, when tracked (see `changes.rs`).
    changes: Option<changes::ChangedPaths>,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

impl DataTree {
    /// A fresh tree with ZooKeeper's built-in nodes (§4.3): `/`, `/zookeeper` and
    /// `/zookeeper/quota` (empty data, world:anyone ALL) and `/zookeeper/config` (empty
    /// data, world:anyone READ, aversion -1). Every other stat field is 0, so `/zookeeper`
    /// reports cversion -2 and `/` reports numChildren 1, cversion -1.
    pub fn new() -> DataTree {
        Self::with_index(PathIndex::default())
    }

    fn with_index(index: PathIndex) -> DataTree {
        let mut tree = DataTree::bare(index);
        let open = Acl::open_unsafe();
        tree.insert_builtin("/", &open, 0);
        tree.insert_builtin("/zookeeper", &open, 0);
        tree.insert_builtin("/zookeeper/quota", &open, 0);
        tree.insert_builtin("/zookeeper/config", &Acl::read_unsafe(), -1);
        tree
    }

    /// A fresh tree whose path index hashes keep only the bits of `mask`, to test the
    /// index under heavy collisions.
    #[cfg(test)]
    fn with_hash_mask(mask: u32) -> DataTree {
        Self::with_index(PathIndex::with_mask(mask))
    }

    /// A tree without a single node (not even the root); only loading starts from one.
    fn bare(index: PathIndex) -> DataTree {
        DataTree {
            nodes: Slab::default(),
            lists: Slab::default(),
            index,
            root: None,
            ephemerals: BTreeMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            acls: AclCache::default(),
            last_zxid: Zxid::ZERO,
            data_size: 0,
            digest: 0,
            changes: None,
        }
    }

    fn insert_builtin(&mut self, path: &str, acl: &[Acl], aversion: i32) {
        let acl = self.acls.intern(acl);
        let stat = StatPersisted {
            aversion,
            ..StatPersisted::default()
        };
        let parent = if path == "/" {
            None
        } else {
            let parent = self.lookup(path::parent(path));
            Some(parent.expect("built-in parents are inserted first"))
        };
        self.add_node(path, parent, Some(&[]), acl, stat);
    }

    /// Store a new node at `path` under `parent` (`None`: the root) with an already
    /// interned ACL, link it into its parent's child list and account for it (indices,
    /// size, digest). The caller has checked that `path` is new.
    fn add_node(
        &mut self,
        path: &str,
        parent: Option<NodeId>,
        data: Option<&[u8]>,
        acl: u32,
        stat: StatPersisted,
    ) -> NodeId {
        self.mark_changed(path);
        self.data_size += node_size(path, data);
        self.digest = self
            .digest
            .wrapping_add(digest::node(path, data, &stat, self.acls.get(acl)));
        let name = if parent.is_some() {
            path::last_segment(path)
        } else {
            ""
        };
        let slot = Slot::new(name, data, parent.unwrap_or(NONE), acl, stat);
        let id = self.nodes.insert(slot);
        match parent {
            None => {
                assert!(self.root.is_none(), "a second root");
                self.root = Some(id);
            }
            Some(parent) => {
                self.index.insert(id, path);
                self.link_child(parent, id);
            }
        }
        match CreateKind::from_stored_owner(stat.ephemeral_owner) {
            CreateKind::Persistent => {}
            CreateKind::Ephemeral(s) => {
                self.ephemerals.entry(s).or_default().insert(id);
            }
            CreateKind::Container => {
                self.containers.insert(id);
            }
            CreateKind::Ttl(_) => {
                self.ttls.insert(id);
            }
        }
        id
    }

    /// Add `child` (stored, with its name) to `parent`'s child list, in name order.
    fn link_child(&mut self, parent: NodeId, child: NodeId) {
        let list = self.nodes.get(parent).children;
        if list == NONE {
            let list = self.lists.insert(ChildList::new(child));
            self.nodes.get_mut(parent).children = list;
            return;
        }
        let nodes = &self.nodes;
        let name = nodes.get(child).name_bytes();
        let at = self
            .lists
            .get(list)
            .search(name, |c| nodes.get(c).name_bytes());
        let Err(at) = at else {
            panic!("linked a child twice: {name:?}");
        };
        self.lists.get_mut(list).insert(at, child);
    }

    /// Remove `child` from `parent`'s child list (dropping the list if it empties).
    fn unlink_child(&mut self, parent: NodeId, child: NodeId) {
        let list = self.nodes.get(parent).children;
        assert_ne!(list, NONE, "unlinked a child from a childless node");
        let nodes = &self.nodes;
        let name = nodes.get(child).name_bytes();
        let at = self
            .lists
            .get(list)
            .search(name, |c| nodes.get(c).name_bytes());
        let at = at.unwrap_or_else(|_| panic!("unlinked a child not listed: {name:?}"));
        let (removed, empty) = self.lists.get_mut(list).remove(at);
        assert_eq!(removed, child, "child list out of step with names");
        if empty {
            self.lists.remove(list);
            self.nodes.get_mut(parent).children = NONE;
        }
    }

    /// Undo [`add_node`](Self::add_node) for `id` at `path`, whose children are already
    /// gone and which is already unlinked from its parent. Frees its slot.
    fn forget_node(&mut self, path: &str, id: NodeId) {
        self.mark_changed(path);
        let slot = self.nodes.get(id);
        debug_assert_eq!(slot.children, NONE, "forgot a node that has children");
        let stat = slot.stat();
        self.data_size -= node_size(path, slot.data());
        self.digest = self.digest.wrapping_sub(digest::node(
            path,
            slot.data(),
            &stat,
            self.acls.get(slot.acl),
        ));
        self.acls.release(slot.acl);
        if slot.parent != NONE {
            self.index.remove(id, path);
        }
        match CreateKind::from_stored_owner(stat.ephemeral_owner) {
            CreateKind::Persistent => {}
            CreateKind::Ephemeral(s) => {
                if let Some(set) = self.ephemerals.get_mut(&s) {
                    set.remove(&id);
                    if set.is_empty() {
                        self.ephemerals.remove(&s);
                    }
                }
            }
            CreateKind::Container => {
                self.containers.remove(&id);
            }
            CreateKind::Ttl(_) => {
                self.ttls.remove(&id);
            }
        }
        self.nodes.remove(id);
    }

    /// Change the stat of node `id` at `path` in place, keeping the digest in step.
    fn update_stat<R>(
        &mut self,
        id: NodeId,
        path: &str,
        f: impl FnOnce(&mut StatPersisted) -> R,
    ) -> R {
        self.mark_changed(path);
        let slot = self.nodes.get_mut(id);
        let acl = self.acls.get(slot.acl);
        let mut stat = slot.stat();
        let before = digest::meta(path, &stat, acl);
        let old = stat;
        let r = f(&mut stat);
        if stat == old {
            return r;
        }
        slot.set_stat(stat);
        self.digest = self
            .digest
            .wrapping_sub(before)
            .wrapping_add(digest::meta(path, &stat, acl));
        r
    }

    /// The id of the node at exactly `path` (no `""` alias; a malformed path is absent).
    fn lookup(&self, path: &str) -> Option<NodeId> {
        let root = self.root?;
        if path == "/" {
            return Some(root);
        }
        if !path.starts_with('/') {
            return None;
        }
        self.index.find(&self.nodes, root, path)
    }

    /// The full path of node `id`, rebuilt from the parent chain.
    fn path_of(&self, id: NodeId) -> String {
        let mut names = Vec::new();
        let mut at = id;
        loop {
            let slot = self.nodes.get(at);
            if slot.parent == NONE {
                break;
            }
            names.push(slot.name());
            at = slot.parent;
        }
        if names.is_empty() {
            return "/".to_owned();
        }
        let mut path = String::with_capacity(names.iter().map(|n| n.len() + 1).sum());
        for name in names.iter().rev() {
            path.push('/');
            path.push_str(name);
        }
        path
    }

    /// The view of node `id`.
    fn view(&self, id: NodeId) -> Node<'_> {
        let slot = self.nodes.get(id);
        let list = (slot.children != NONE).then(|| self.lists.get(slot.children));
        Node::new(slot, self.acls.get(slot.acl), list, &self.nodes)
    }

    /// Number of children of node `id`.
    fn child_count(&self, id: NodeId) -> usize {
        let list = self.nodes.get(id).children;
        if list == NONE {
            0
        } else {
            self.lists.get(list).len()
        }
    }

    /// Child ids of node `id`, in name order.
    fn child_ids(&self, id: NodeId) -> children::Ids<'_> {
        let list = self.nodes.get(id).children;
        if list == NONE {
            children::Ids::empty()
        } else {
            self.lists.get(list).iter()
        }
    }

    /// The node at `path`. Like ZooKeeper, `""` is an alias of the root (reads do not
    /// validate paths); any other malformed path is simply absent.
    pub fn node(&self, path: &str) -> Option<Node<'_>> {
        let id = self.lookup(if path.is_empty() { "/" } else { path })?;
        Some(self.view(id))
    }

    /// The client [`Stat`] of the node at `path`.
    pub fn stat(&self, path: &str) -> Option<Stat> {
        self.node(path).map(|n| n.client_stat())
    }

    /// Child names of the node at `path`, in byte order (ZooKeeper returns hash order;
    /// clients must not rely on any).
    pub fn children(&self, path: &str) -> Option<Vec<String>> {
        self.node(path)
            .map(|n| n.children().map(str::to_owned).collect())
    }

    /// getAllChildrenNumber: how many nodes lie below `path` (all depths, the node itself
    /// not included). For `/` that is every node but the root, system nodes included.
    /// (`""`, ZooKeeper's root alias, counts the root too, as ZooKeeper's prefix scan does.)
    pub fn count_descendants(&self, path: &str) -> Option<i32> {
        let to_i32 = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        match path {
            "" => return Some(to_i32(self.nodes.len())),
            "/" => return Some(to_i32(self.nodes.len() - 1)),
            _ => {}
        }
        let mut count = 0usize;
        let mut stack = vec![self.lookup(path)?];
        while let Some(id) = stack.pop() {
            count += self.child_count(id);
            stack.extend(self.child_ids(id));
        }
        Some(to_i32(count))
    }

    /// The ephemeral paths owned by `session`, sorted.
    pub fn ephemerals(&self, session: SessionId) -> Vec<String> {
        let Some(ids) = self.ephemerals.get(&session) else {
            return Vec::new();
        };
        let mut paths: Vec<String> = ids.iter().map(|&id| self.path_of(id)).collect();
        paths.sort_unstable();
        paths
    }

    /// Every session's ephemeral paths (sessions without ephemerals are absent).
    pub fn ephemerals_by_session(&self) -> BTreeMap<SessionId, BTreeSet<String>> {
        self.ephemerals
            .iter()
            .map(|(s, ids)| (*s, ids.iter().map(|&id| self.path_of(id)).collect()))
            .collect()
    }

    /// Total number of ephemeral nodes (`zk_ephemerals_count`).
    pub fn ephemerals_count(&self) -> u64 {
        self.ephemerals.values().map(|s| s.len() as u64).sum()
    }

    /// The largest zxid applied so far (error txns included); 0 for a fresh tree.
    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    /// ZooKeeper's node count (`Node count:` in srvr, `zk_znode_count`): the number of
    /// znodes **plus one**, because ZooKeeper's map holds the root twice (`""` and `/`).
    /// A fresh tree reports 5.
    pub fn node_count(&self) -> u64 {
        self.nodes.len() as u64 + 1
    }

    /// ZooKeeper's `approximateDataSize` (`zk_approximate_data_size`): the sum over nodes of
    /// the path length in UTF-16 units plus the data length in bytes. A fresh tree reports
    /// 44 (1 + 10 + 16 + 17).
    pub fn approximate_data_size(&self) -> u64 {
        self.data_size
    }

    /// The tree digest (see `digest.rs` for the exact hash): equal trees have equal digests
    /// whatever history built them. Maintained on every change, O(1) to read.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// Nodes the container manager should delete now (§5.4, §5.5), sorted:
    /// - containers without children whose stored cversion > 0 (they once had a child), or,
    ///   when `max_never_used_ms != 0`, never-used ones with `now - mtime > max_never_used_ms`;
    /// - TTL nodes without children with `now - mtime > ttl`.
    ///
    /// The caller turns each into a deleteContainer txn (and re-checks when preparing it).
    pub fn container_candidates(&self, now: Millis, max_never_used_ms: i64) -> Vec<String> {
        let mut out = BTreeSet::new();
        let elapsed = |s: &StatPersisted| now.0.saturating_sub(s.mtime);
        for &id in &self.containers {
            let slot = self.nodes.get(id);
            if slot.children != NONE {
                continue;
            }
            let s = slot.stat();
            if s.cversion > 0 || (max_never_used_ms != 0 && elapsed(&s) > max_never_used_ms) {
                out.insert(self.path_of(id));
            }
        }
        for &id in &self.ttls {
            let slot = self.nodes.get(id);
            let s = slot.stat();
            if let CreateKind::Ttl(ttl) = CreateKind::from_stored_owner(s.ephemeral_owner) {
                if slot.children == NONE && ttl != 0 && elapsed(&s) > ttl {
                    out.insert(self.path_of(id));
                }
            }
        }
        out.into_iter().collect()
    }

    /// Distinct ACL lists in use (ZooKeeper's `aclCacheSize`).
    pub fn acl_list_count(&self) -> usize {
        self.acls.len()
    }
}

/// ZooKeeper's `getNodeSize`: path length in UTF-16 units plus data bytes.
/// One node's contribution to the tree digest (see `digest.rs`): what a snapshot merge sums
/// to check its result against the live tree's digest.
pub fn node_digest(path: &str, data: Option<&[u8]>, stat: &StatPersisted, acl: &[Acl]) -> u64 {
    digest::node(path, data, stat, acl)
}

fn node_size(path: &str, data: Option<&[u8]>) -> u64 {
    path::java_length(path) + data.map_or(0, |d| d.len() as u64)
}

/// The shell moves trees (images) between threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<DataTree>();
};
