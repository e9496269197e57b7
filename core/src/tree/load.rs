//! Building a tree from stored nodes (a snapshot, an imported ZooKeeper data directory),
//! and walking one in the order snapshots store it.

use super::children::Ids;
use super::store::NodeId;
use super::{DataTree, Node, PathIndex, StatPersisted};
use crate::path;
use crate::proto::data::Acl;
use crate::types::Zxid;

/// Builds a [`DataTree`] from nodes given parents first (the root first of all), checking
/// that they form a tree. Indices, sizes and the digest are maintained as for applied txns,
/// so the finished tree's digest can be compared with a stored one.
#[derive(Debug)]
pub struct TreeLoader {
    tree: DataTree,
    /// The last node inserted and its ancestors, as (end of its path in `last`, id). In a
    /// preorder stream (snapshots) every node's parent is on this chain, so finding it
    /// costs a few string compares instead of a lookup per path segment.
    chain: Vec<(usize, NodeId)>,
    last: String,
}

impl TreeLoader {
    /// Add one node. Its parent must already be loaded and the path must be new and valid.
    pub fn insert(
        &mut self,
        path: String,
        data: Option<Vec<u8>>,
        acl: &[Acl],
        stat: StatPersisted,
    ) -> Result<(), String> {
        let parent = if path == "/" {
            if !self.tree.is_empty() {
                return Err("the root appears twice or after other nodes".into());
            }
            None
        } else {
            if self.tree.is_empty() {
                return Err(format!("{path} comes before the root"));
            }
            if path::validate_path(&path).is_err() {
                return Err(format!("invalid path {path:?}"));
            }
            let Some(parent) = self.find_parent(path::parent(&path)) else {
                return Err(format!("{path} comes before its parent"));
            };
            if self.tree.lookup(&path).is_some() {
                return Err(format!("{path} appears twice"));
            }
            Some(parent)
        };
        let acl = self.tree.acls.intern(acl);
        let id = self
            .tree
            .add_node(&path, parent, data.as_deref(), acl, stat);
        self.last = path;
        self.chain.push((self.last.len(), id));
        Ok(())
    }

    /// The id of `parent_path`, from the chain when it is there (then the chain is cut
    /// back to it), else by lookup (then the chain restarts from it).
    fn find_parent(&mut self, parent_path: &str) -> Option<NodeId> {
        while let Some(&(end, id)) = self.chain.last() {
            if self.last[..end] == *parent_path {
                return Some(id);
            }
            self.chain.pop();
        }
        let id = self.tree.lookup(parent_path)?;
        // Only what the next insert may need: this parent, as a prefix of the new path.
        self.last.clear();
        self.last.push_str(parent_path);
        self.chain.push((self.last.len(), id));
        Some(id)
    }

    /// Make room for `additional` more nodes (a snapshot says how many are coming), so the
    /// path index does not rehash its way up to a million entries.
    pub fn reserve(&mut self, additional: usize) {
        self.tree.index.reserve(additional);
    }

    /// Nodes loaded so far.
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// Whether no node is loaded yet.
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// The finished tree, as of `last_zxid`. Fails if no root was loaded.
    pub fn finish(mut self, last_zxid: Zxid) -> Result<DataTree, String> {
        if self.tree.root.is_none() {
            return Err("no root node".into());
        }
        self.tree.last_zxid = last_zxid;
        Ok(self.tree)
    }
}

impl DataTree {
    /// An empty loader: not even the root or the built-in nodes (snapshots store those).
    pub fn loader() -> TreeLoader {
        TreeLoader {
            tree: DataTree::bare(PathIndex::default()),
            chain: Vec::new(),
            last: String::new(),
        }
    }

    /// Every node, parents before children and siblings in byte order (a preorder walk
    /// from the root): the order snapshots store them in, so equal trees give equal bytes.
    pub fn walk(&self) -> Walk<'_> {
        Walk {
            tree: self,
            root: self.root,
            frames: Vec::new(),
            path: String::new(),
        }
    }

    /// Number of znodes (the real count, unlike [`node_count`](Self::node_count)).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the tree has no node at all (only a tree being loaded can be).
    pub fn is_empty(&self) -> bool {
        self.nodes.len() == 0
    }
}

/// Iterator of [`DataTree::walk`]. Holds one child cursor per level of the current path
/// (not every pending path), so walking a flat directory of a million nodes takes no
/// extra memory.
pub struct Walk<'a> {
    tree: &'a DataTree,
    /// The root, until it has been returned.
    root: Option<NodeId>,
    /// Per level: the remaining children, and the length of their parent's path in `path`.
    frames: Vec<(Ids<'a>, usize)>,
    /// The path of the node returned last.
    path: String,
}

impl<'a> Iterator for Walk<'a> {
    type Item = (String, Node<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(root) = self.root.take() {
            self.path.push('/');
            self.frames.push((self.tree.child_ids(root), 1));
            return Some(("/".to_owned(), self.tree.view(root)));
        }
        loop {
            let (ids, parent_len) = self.frames.last_mut()?;
            let Some(id) = ids.next() else {
                self.frames.pop();
                continue;
            };
            let parent_len = *parent_len;
            self.path.truncate(parent_len);
            if parent_len > 1 {
                self.path.push('/');
            }
            self.path.push_str(self.tree.nodes.get(id).name());
            self.frames.push((self.tree.child_ids(id), self.path.len()));
            return Some((self.path.clone(), self.tree.view(id)));
        }
    }
}
