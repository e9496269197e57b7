//! Building a tree from stored nodes (a snapshot, an imported ZooKeeper data directory),
//! and walking one in the order snapshots store it.

use std::collections::BTreeSet;

use super::{DataTree, Node, StatPersisted};
use crate::path;
use crate::proto::data::Acl;
use crate::types::Zxid;

/// Builds a [`DataTree`] from nodes given parents first (the root first of all), checking
/// that they form a tree. Indices, sizes and the digest are maintained as for applied txns,
/// so the finished tree's digest can be compared with a stored one.
#[derive(Debug)]
pub struct TreeLoader {
    tree: DataTree,
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
        let tree = &mut self.tree;
        if path == "/" {
            if !tree.nodes.is_empty() {
                return Err("the root appears twice or after other nodes".into());
            }
        } else {
            if tree.nodes.is_empty() {
                return Err(format!("{path} comes before the root"));
            }
            if path::validate_path(&path).is_err() {
                return Err(format!("invalid path {path:?}"));
            }
            if tree.nodes.contains_key(&path) {
                return Err(format!("{path} appears twice"));
            }
            let Some(parent) = tree.nodes.get_mut(path::parent(&path)) else {
                return Err(format!("{path} comes before its parent"));
            };
            parent.children.insert(path::last_segment(&path).to_owned());
        }
        let acl = tree.acls.intern(acl);
        tree.add_node(path, Node::new(data, acl, stat));
        Ok(())
    }

    /// Make room for `additional` more nodes (a snapshot says how many are coming), so the
    /// map does not rehash its way up to a million entries.
    pub fn reserve(&mut self, additional: usize) {
        self.tree.nodes.reserve(additional);
    }

    /// Nodes loaded so far.
    pub fn len(&self) -> usize {
        self.tree.nodes.len()
    }

    /// Whether no node is loaded yet.
    pub fn is_empty(&self) -> bool {
        self.tree.nodes.is_empty()
    }

    /// The finished tree, as of `last_zxid`. Fails if no root was loaded.
    pub fn finish(mut self, last_zxid: Zxid) -> Result<DataTree, String> {
        if !self.tree.nodes.contains_key("/") {
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
            tree: DataTree::bare(),
        }
    }

    /// Every node, parents before children and siblings in byte order (a preorder walk
    /// from the root): the order snapshots store them in, so equal trees give equal bytes.
    pub fn walk(&self) -> Walk<'_> {
        let mut stack = Vec::new();
        if self.nodes.contains_key("/") {
            stack.push("/".to_owned());
        }
        Walk { tree: self, stack }
    }

    /// Number of znodes (the real count, unlike [`node_count`](Self::node_count)).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the tree has no node at all (only a tree being loaded can be).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// Iterator of [`DataTree::walk`].
pub struct Walk<'a> {
    tree: &'a DataTree,
    stack: Vec<String>,
}

impl<'a> Iterator for Walk<'a> {
    type Item = (String, &'a Node);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let path = self.stack.pop()?;
            // Every path on the stack came from a child set, so it is present.
            let Some(node) = self.tree.nodes.get(&path) else {
                continue;
            };
            push_children(&mut self.stack, &path, &node.children);
            return Some((path, node));
        }
    }
}

/// Push the children's paths so that the smallest name is popped first.
fn push_children(stack: &mut Vec<String>, parent: &str, children: &BTreeSet<String>) {
    stack.extend(children.iter().rev().map(|c| path::join(parent, c)));
}
