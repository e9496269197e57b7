//! The path index: (parent id, child name) → child id, in a hash table of bare `u32` ids.
//!
//! No key is stored: an entry is 4 bytes plus hashbrown's control byte, and the hash is
//! recomputed from the slot it names (its parent id and its own name) whenever the table
//! needs it (probing compares, resizing rehashes). A full path is resolved one segment at a
//! time from the root, so the index never holds a path, and renaming-free ZooKeeper trees
//! need nothing else. The hasher is foldhash with fixed seeds: no OS randomness in core, and
//! the table is never iterated to produce output (ordered views come from child lists).

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::store::{NodeId, Slab, Slot};

/// Hashes (parent id, name) keys. Cloned into resize callbacks, which cannot borrow the
/// index while its table is borrowed mutably.
#[derive(Clone, Debug)]
struct Keyer {
    hasher: foldhash::fast::FixedState,
    /// Test hook: hashes are ANDed with this, so tests can force every entry into a handful
    /// of hash values and exercise the collision paths. Always all ones outside tests.
    #[cfg(test)]
    mask: u64,
}

// Derivable only outside tests: under `cfg(test)` the mask must default to all ones.
#[allow(clippy::derivable_impls)]
impl Default for Keyer {
    fn default() -> Self {
        Keyer {
            hasher: foldhash::fast::FixedState::default(),
            #[cfg(test)]
            mask: !0,
        }
    }
}

impl Keyer {
    fn hash(&self, parent: NodeId, name: &[u8]) -> u64 {
        let h = self.hasher.hash_one((parent, name));
        #[cfg(test)]
        let h = h & self.mask;
        h
    }

    /// The key hash of the stored node `id`.
    fn hash_of(&self, nodes: &Slab<Slot>, id: NodeId) -> u64 {
        let slot = nodes.get(id);
        self.hash(slot.parent, slot.name_bytes())
    }
}

#[derive(Clone, Debug, Default)]
pub(super) struct PathIndex {
    table: HashTable<NodeId>,
    keyer: Keyer,
}

impl PathIndex {
    /// An index whose hashes keep only the bits of `mask` (0: everything collides).
    #[cfg(test)]
    pub(super) fn with_mask(mask: u64) -> PathIndex {
        PathIndex {
            table: HashTable::new(),
            keyer: Keyer {
                mask,
                hasher: foldhash::fast::FixedState::default(),
            },
        }
    }

    /// The child of `parent` called `name`.
    pub(super) fn find(&self, nodes: &Slab<Slot>, parent: NodeId, name: &[u8]) -> Option<NodeId> {
        let hash = self.keyer.hash(parent, name);
        self.table
            .find(hash, |&id| {
                let slot = nodes.get(id);
                slot.parent == parent && slot.name_bytes() == name
            })
            .copied()
    }

    /// Index the node `id` (already in `nodes`, with its parent and name set). The caller
    /// has checked that its parent has no other child of that name.
    pub(super) fn insert(&mut self, nodes: &Slab<Slot>, id: NodeId) {
        let keyer = self.keyer.clone();
        let hash = keyer.hash_of(nodes, id);
        self.table
            .insert_unique(hash, id, |&other| keyer.hash_of(nodes, other));
    }

    /// Forget the node `id` (still in `nodes`: its parent and name give its hash).
    pub(super) fn remove(&mut self, nodes: &Slab<Slot>, id: NodeId) {
        let hash = self.keyer.hash_of(nodes, id);
        let entry = self.table.find_entry(hash, |&other| other == id);
        let entry = entry.unwrap_or_else(|_| panic!("node {id} missing from the path index"));
        entry.remove();
    }

    /// Room for `additional` more entries without resizing.
    pub(super) fn reserve(&mut self, nodes: &Slab<Slot>, additional: usize) {
        let keyer = self.keyer.clone();
        self.table
            .reserve(additional, |&other| keyer.hash_of(nodes, other));
    }

    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    /// Every indexed id (order meaningless; for `verify`).
    pub(super) fn ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.table.iter().copied()
    }
}
