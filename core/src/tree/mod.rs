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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::path;
use crate::proto::data::{Acl, Stat};
use crate::txn::CreateKind;
use crate::types::{Millis, SessionId, Zxid};

mod acl_cache;
mod apply;
mod digest;
mod load;
mod node;
#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
mod verify;

pub use apply::{ApplyResult, OpResult, Trigger};
pub use load::{TreeLoader, Walk};
pub use node::{Node, StatPersisted};

use acl_cache::AclCache;

/// Path → node. A hash map because lookups by full path dominate (every read and write),
/// and a hash lookup costs one hash plus one compare where a `BTreeMap` costs dozens of
/// string compares on long shared prefixes. The hasher is foldhash with fixed seeds: no OS
/// randomness in core, and several times faster than SipHash on short paths (it was the top
/// item of the restart profile). The map is never iterated to produce output: ordered views
/// come from each node's `BTreeSet` of children and from the `BTree` indices below.
/// (Iteration happens only in order-independent sums, in `verify`.)
type NodeMap = HashMap<String, Node, foldhash::fast::FixedState>;

/// The znode tree. See the module docs.
#[derive(Clone, Debug)]
pub struct DataTree {
    nodes: NodeMap,
    /// Paths of the normal ephemerals of each session; sessions without any are absent.
    ephemerals: BTreeMap<SessionId, BTreeSet<String>>,
    /// Paths of container nodes.
    containers: BTreeSet<String>,
    /// Paths of TTL nodes.
    ttls: BTreeSet<String>,
    acls: AclCache,
    last_zxid: Zxid,
    /// ZooKeeper's cached `approximateDataSize`.
    data_size: u64,
    /// Wrapping sum of the node digests (see `digest.rs`).
    digest: u64,
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
        let mut tree = DataTree::bare();
        let open = Acl::open_unsafe();
        tree.insert_builtin("/", &open, 0);
        tree.insert_builtin("/zookeeper", &open, 0);
        tree.insert_builtin("/zookeeper/quota", &open, 0);
        tree.insert_builtin("/zookeeper/config", &Acl::read_unsafe(), -1);
        tree
    }

    /// A tree without a single node (not even the root); only loading starts from one.
    fn bare() -> DataTree {
        DataTree {
            nodes: NodeMap::default(),
            ephemerals: BTreeMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            acls: AclCache::default(),
            last_zxid: Zxid::ZERO,
            data_size: 0,
            digest: 0,
        }
    }

    fn insert_builtin(&mut self, path: &str, acl: &[Acl], aversion: i32) {
        let acl = self.acls.intern(acl);
        let stat = StatPersisted {
            aversion,
            ..StatPersisted::default()
        };
        let node = Node::new(Some(Vec::new()), acl, stat);
        if path != "/" {
            let parent = self.nodes.get_mut(path::parent(path));
            let parent = parent.expect("built-in parents are inserted first");
            parent.children.insert(path::last_segment(path).to_owned());
        }
        self.add_node(path.to_owned(), node);
    }

    /// Account for and store a new node (indices, size, digest). The caller links it to
    /// its parent.
    fn add_node(&mut self, path: String, node: Node) {
        self.data_size += node_size(&path, node.data.as_deref());
        self.digest = self.digest.wrapping_add(digest::node(&path, &node));
        match node.kind() {
            CreateKind::Persistent => {}
            CreateKind::Ephemeral(s) => {
                self.ephemerals.entry(s).or_default().insert(path.clone());
            }
            CreateKind::Container => {
                self.containers.insert(path.clone());
            }
            CreateKind::Ttl(_) => {
                self.ttls.insert(path.clone());
            }
        }
        let old = self.nodes.insert(path, node);
        assert!(old.is_none(), "add_node over an existing node");
    }

    /// Undo [`add_node`](Self::add_node) for a node already taken out of the map.
    fn forget_node(&mut self, path: &str, node: Node) {
        self.data_size -= node_size(path, node.data.as_deref());
        self.digest = self.digest.wrapping_sub(digest::node(path, &node));
        self.acls.release(&node.acl);
        match node.kind() {
            CreateKind::Persistent => {}
            CreateKind::Ephemeral(s) => {
                if let Some(set) = self.ephemerals.get_mut(&s) {
                    set.remove(path);
                    if set.is_empty() {
                        self.ephemerals.remove(&s);
                    }
                }
            }
            CreateKind::Container => {
                self.containers.remove(path);
            }
            CreateKind::Ttl(_) => {
                self.ttls.remove(path);
            }
        }
    }

    /// Change a node's stat or ACL in place, keeping the digest in step. `f` must not touch
    /// the data (that is `content`, see [`set_data`](Self::set_data)).
    fn update_meta<R>(&mut self, path: &str, f: impl FnOnce(&mut Node) -> R) -> Option<R> {
        let node = self.nodes.get_mut(path)?;
        let before = digest::meta(path, node);
        let r = f(node);
        self.digest = self
            .digest
            .wrapping_sub(before)
            .wrapping_add(digest::meta(path, node));
        Some(r)
    }

    /// The node at `path`. Like ZooKeeper, `""` is an alias of the root (reads do not
    /// validate paths); any other malformed path is simply absent.
    pub fn node(&self, path: &str) -> Option<&Node> {
        self.nodes.get(if path.is_empty() { "/" } else { path })
    }

    /// The client [`Stat`] of the node at `path`.
    pub fn stat(&self, path: &str) -> Option<Stat> {
        self.node(path).map(Node::client_stat)
    }

    /// Child names of the node at `path`, in byte order (ZooKeeper returns hash order;
    /// clients must not rely on any).
    pub fn children(&self, path: &str) -> Option<Vec<String>> {
        self.node(path)
            .map(|n| n.children.iter().cloned().collect())
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
        let mut stack = vec![path.to_owned()];
        while let Some(p) = stack.pop() {
            let Some(node) = self.nodes.get(&p) else {
                if p == path {
                    return None;
                }
                continue;
            };
            count += node.children.len();
            stack.extend(node.children.iter().map(|c| path::join(&p, c)));
        }
        Some(to_i32(count))
    }

    /// The ephemeral paths owned by `session`, sorted.
    pub fn ephemerals(&self, session: SessionId) -> Vec<String> {
        self.ephemerals
            .get(&session)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every session's ephemeral paths (sessions without ephemerals are absent).
    pub fn ephemerals_by_session(&self) -> BTreeMap<SessionId, BTreeSet<String>> {
        self.ephemerals.clone()
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
        let elapsed = |n: &Node| now.0.saturating_sub(n.stat.mtime);
        for p in &self.containers {
            let Some(n) = self.nodes.get(p) else { continue };
            if !n.children.is_empty() {
                continue;
            }
            if n.stat.cversion > 0 || (max_never_used_ms != 0 && elapsed(n) > max_never_used_ms) {
                out.insert(p.clone());
            }
        }
        for p in &self.ttls {
            let Some(n) = self.nodes.get(p) else { continue };
            if let CreateKind::Ttl(ttl) = n.kind() {
                if n.children.is_empty() && ttl != 0 && elapsed(n) > ttl {
                    out.insert(p.clone());
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
fn node_size(path: &str, data: Option<&[u8]>) -> u64 {
    path::java_length(path) + data.map_or(0, |d| d.len() as u64)
}

/// Shared ACL handles are an implementation detail; make sure `Arc` stays `Send + Sync` so
/// the tree can move between threads in the shell.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<DataTree>();
    assert_send_sync::<Arc<[Acl]>>();
};
