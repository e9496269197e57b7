//! The path index: full path → node id, in a hash table of 8-byte entries (the id and a
//! 32-bit hash of the path). No path is stored: a probe that hits an entry with the right
//! hash checks it by walking the node's parent chain against the path's segments, from the
//! last one up (the leaf's slot and name, then its ancestors', which are shared and hot).
//! One hash and one probe per lookup, whatever the depth.
//!
//! The hash is kept in the entry so that growing the table never has to rebuild paths
//! (that would be a walk up every node's chain, a long pause at a million nodes). The
//! hasher is foldhash with fixed seeds: no OS randomness in core, and the table is never
//! iterated to produce output (ordered views come from child lists).

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::store::{NodeId, Slab, Slot, NONE};

/// An index entry: the node and the hash of its path.
#[derive(Clone, Copy, Debug)]
struct Entry {
    id: NodeId,
    hash: u32,
}

/// The 64-bit hash hashbrown wants, from the stored 32 bits: the low half picks the bucket,
/// the top 7 bits are the control byte (independent of the bucket below 2^25 buckets;
/// beyond that only more false candidates, each rejected by the chain check).
fn widen(hash: u32) -> u64 {
    (u64::from(hash) << 32) | u64::from(hash)
}

#[derive(Clone, Debug)]
pub(super) struct PathIndex {
    table: HashTable<Entry>,
    hasher: foldhash::fast::FixedState,
    /// Test hook: hashes are ANDed with this, so tests can force every entry into a handful
    /// of hash values and exercise the collision paths. All ones outside tests.
    mask: u32,
}

impl Default for PathIndex {
    fn default() -> Self {
        PathIndex {
            table: HashTable::new(),
            hasher: foldhash::fast::FixedState::default(),
            mask: !0,
        }
    }
}

impl PathIndex {
    /// An index whose hashes keep only the bits of `mask` (0: everything collides).
    #[cfg(test)]
    pub(super) fn with_mask(mask: u32) -> PathIndex {
        PathIndex {
            mask,
            ..PathIndex::default()
        }
    }

    fn hash(&self, path: &str) -> u32 {
        (self.hasher.hash_one(path.as_bytes()) >> 32) as u32 & self.mask
    }

    /// The node at `path`, which starts with `/` and is not `/` itself (the root is not
    /// indexed; its id is `root`).
    pub(super) fn find(&self, nodes: &Slab<Slot>, root: NodeId, path: &str) -> Option<NodeId> {
        let hash = self.hash(path);
        let hit = self.table.find(widen(hash), |e| {
            e.hash == hash && chain_matches(nodes, root, e.id, path)
        });
        hit.map(|e| e.id)
    }

    /// Index node `id` under `path` (not yet indexed; the caller checked).
    pub(super) fn insert(&mut self, id: NodeId, path: &str) {
        let hash = self.hash(path);
        self.table
            .insert_unique(widen(hash), Entry { id, hash }, |e| widen(e.hash));
    }

    /// Forget node `id`, indexed under `path`.
    pub(super) fn remove(&mut self, id: NodeId, path: &str) {
        let hash = self.hash(path);
        let entry = self.table.find_entry(widen(hash), |e| e.id == id);
        let entry =
            entry.unwrap_or_else(|_| panic!("{path} (node {id}) missing from the path index"));
        entry.remove();
    }

    /// Room for `additional` more entries without resizing.
    pub(super) fn reserve(&mut self, additional: usize) {
        self.table.reserve(additional, |e| widen(e.hash));
    }

    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the entry for `id` carries the hash of `path` (for `verify`).
    pub(super) fn holds(&self, id: NodeId, path: &str) -> bool {
        let hash = self.hash(path);
        self.table
            .find(widen(hash), |e| e.id == id && e.hash == hash)
            .is_some()
    }
}

/// Whether node `id` is at `path` (`/`-prefixed, not `/`): its name is the last segment,
/// its parent's the one before, and so on up to exactly the root.
fn chain_matches(nodes: &Slab<Slot>, root: NodeId, mut id: NodeId, path: &str) -> bool {
    // The segments still to match: `path` without its leading `/`, shortened from the end.
    let mut rest = &path.as_bytes()[1..];
    loop {
        let slot = nodes.get(id);
        if slot.parent == NONE {
            return false; // the root, with segments left
        }
        // `rest` must end with `/name`, or be exactly `name` at the top.
        let name = slot.name_bytes();
        let Some(head) = rest.strip_suffix(name) else {
            return false;
        };
        id = slot.parent;
        match head {
            [] => return id == root,
            [head @ .., b'/'] => rest = head,
            _ => return false, // `name` was only the tail of a longer segment
        }
    }
}
