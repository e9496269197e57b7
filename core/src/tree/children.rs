//! A node's children: ids kept in name (byte) order, in blocks of at most [`BLOCK_MAX`].
//!
//! The order is observable (getChildren answers in byte order, snapshots store siblings in
//! byte order), and directories can be huge and flat (100k+ sequential nodes under one
//! parent: queues, leader election), so one sorted `Vec` would make every create or delete
//! at the front an O(n) shift. Blocks bound that shift: finding a position is a binary
//! search over the blocks' last names and then within one block (O(log n) name
//! comparisons), inserting or removing moves at most `BLOCK_MAX` ids, and only splitting
//! or dropping a block shifts the (n / BLOCK_MAX)-long block vector, once per
//! `BLOCK_MAX / 2` changes at the least. The list stores ids only (4 bytes per child); names
//! live in the children's own slots, so comparisons look them up there.

use super::store::NodeId;

/// Most ids in one block: a 2 KiB allocation, shifted in well under a microsecond.
pub(super) const BLOCK_MAX: usize = 512;

/// Where a child is (or would go): block number and index in that block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pos {
    block: usize,
    index: usize,
}

/// Child ids in name order. Never empty: a node whose last child goes drops its list.
#[derive(Clone, Debug)]
pub(super) struct ChildList {
    len: u32,
    /// Non-empty blocks of at most `BLOCK_MAX` ids, names ascending across all of them.
    blocks: Vec<Vec<NodeId>>,
}

impl ChildList {
    /// A list holding one child.
    pub(super) fn new(first: NodeId) -> ChildList {
        ChildList {
            len: 1,
            blocks: vec![vec![first]],
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len as usize
    }

    /// The position of the child called `name`: `Ok` if there is one, else `Err` with
    /// where it would be inserted. `name_of` gives a child's name.
    pub(super) fn search<'a>(
        &self,
        name: &[u8],
        name_of: impl Fn(NodeId) -> &'a [u8],
    ) -> Result<Pos, Pos> {
        let last_block = self.blocks.len() - 1;
        let last = &self.blocks[last_block];
        // Appending (sequential names, loading a snapshot) is the common case: one compare.
        match name.cmp(name_of(last[last.len() - 1])) {
            std::cmp::Ordering::Greater => {
                return Err(Pos {
                    block: last_block,
                    index: last.len(),
                })
            }
            std::cmp::Ordering::Equal => {
                return Ok(Pos {
                    block: last_block,
                    index: last.len() - 1,
                })
            }
            std::cmp::Ordering::Less => {}
        }
        // The first block whose last name is >= name (exists: the last block's is).
        let block = self
            .blocks
            .partition_point(|b| name_of(b[b.len() - 1]) < name);
        self.blocks[block]
            .binary_search_by(|&c| name_of(c).cmp(name))
            .map(|index| Pos { block, index })
            .map_err(|index| Pos { block, index })
    }

    /// Insert `id` at `at` (from [`search`](Self::search)'s `Err`).
    pub(super) fn insert(&mut self, at: Pos, id: NodeId) {
        let Pos {
            mut block,
            mut index,
        } = at;
        if self.blocks[block].len() == BLOCK_MAX {
            let is_last = block == self.blocks.len() - 1;
            if is_last && index == BLOCK_MAX {
                // Appending past a full last block: start a new one and keep this one full,
                // so sequential creates pack blocks completely.
                let mut fresh = Vec::with_capacity(BLOCK_MAX);
                fresh.push(id);
                self.blocks.push(fresh);
                self.len += 1;
                return;
            }
            // Split in halves; capacity for a full block so the halves never reallocate.
            let half = BLOCK_MAX / 2;
            let mut upper = Vec::with_capacity(BLOCK_MAX);
            upper.extend_from_slice(&self.blocks[block][half..]);
            self.blocks[block].truncate(half);
            self.blocks.insert(block + 1, upper);
            if index > half {
                block += 1;
                index -= half;
            }
        }
        self.blocks[block].insert(index, id);
        self.len += 1;
    }

    /// Remove and return the id at `at` (from [`search`](Self::search)'s `Ok`). Returns
    /// `true` in the second place when the list is now empty (the caller drops it).
    pub(super) fn remove(&mut self, at: Pos) -> (NodeId, bool) {
        let Pos { block, index } = at;
        let id = self.blocks[block].remove(index);
        self.len -= 1;
        if self.blocks[block].is_empty() {
            // The neighbours now meet; they summed to more than BLOCK_MAX / 2 with this
            // block's last id between them, and each alone is larger than that id's 1.
            self.blocks.remove(block);
        } else {
            // Keep blocks from thinning out under scattered deletes: merge neighbours whose
            // sum fits in half a block. That keeps every adjacent pair above BLOCK_MAX / 2
            // ids (inserts only grow blocks, and a split leaves two halves), so the list
            // costs at most ~16 bytes per child however it was thinned.
            let fits = |a: &Vec<NodeId>, b: &Vec<NodeId>| a.len() + b.len() <= BLOCK_MAX / 2;
            if block + 1 < self.blocks.len() && fits(&self.blocks[block], &self.blocks[block + 1]) {
                let next = self.blocks.remove(block + 1);
                self.blocks[block].extend_from_slice(&next);
            }
            if block > 0 && fits(&self.blocks[block - 1], &self.blocks[block]) {
                let this = self.blocks.remove(block);
                self.blocks[block - 1].extend_from_slice(&this);
            }
        }
        (id, self.len == 0)
    }

    /// The ids in name order.
    pub(super) fn iter(&self) -> Ids<'_> {
        Ids {
            blocks: self.blocks.iter(),
            current: [].iter(),
            left: self.len(),
        }
    }

    /// Check the structural invariants (for `verify`).
    pub(super) fn check(&self) -> Result<(), String> {
        let total: usize = self.blocks.iter().map(Vec::len).sum();
        if total != self.len() || total == 0 {
            return Err(format!("child list counts {} but holds {total}", self.len));
        }
        if let Some(b) = self
            .blocks
            .iter()
            .find(|b| b.is_empty() || b.len() > BLOCK_MAX)
        {
            return Err(format!("child block of {} ids", b.len()));
        }
        if let Some(w) = self
            .blocks
            .windows(2)
            .find(|w| w[0].len() + w[1].len() <= BLOCK_MAX / 2)
        {
            return Err(format!(
                "adjacent child blocks of only {} + {} ids",
                w[0].len(),
                w[1].len()
            ));
        }
        Ok(())
    }
}

/// Iterator over a [`ChildList`]'s ids, in name order.
#[derive(Clone, Debug)]
pub(super) struct Ids<'a> {
    blocks: std::slice::Iter<'a, Vec<NodeId>>,
    current: std::slice::Iter<'a, NodeId>,
    left: usize,
}

impl Iterator for Ids<'_> {
    type Item = NodeId;

    fn next(&mut self) -> Option<NodeId> {
        loop {
            if let Some(&id) = self.current.next() {
                self.left -= 1;
                return Some(id);
            }
            self.current = self.blocks.next()?.iter();
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Ids<'_> {}

impl Ids<'_> {
    /// An iterator over no ids (a childless node).
    pub(super) fn empty() -> Self {
        Ids {
            blocks: [].iter(),
            current: [].iter(),
            left: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids are indices into `names`.
    fn name_of<'a>(names: &'a [String]) -> impl Fn(NodeId) -> &'a [u8] + 'a {
        move |id| names[id as usize].as_bytes()
    }

    fn add(list: &mut Option<ChildList>, names: &[String], id: NodeId) {
        match list {
            None => *list = Some(ChildList::new(id)),
            Some(l) => {
                let at = l.search(names[id as usize].as_bytes(), name_of(names));
                l.insert(at.expect_err("new name"), id);
            }
        }
    }

    fn del(list: &mut Option<ChildList>, names: &[String], id: NodeId) {
        let l = list.as_mut().unwrap();
        let at = l.search(names[id as usize].as_bytes(), name_of(names));
        let (got, empty) = l.remove(at.expect("present"));
        assert_eq!(got, id);
        if empty {
            *list = None;
        }
    }

    fn order(list: &Option<ChildList>, names: &[String]) -> Vec<String> {
        list.iter()
            .flat_map(|l| l.iter())
            .map(|id| names[id as usize].clone())
            .collect()
    }

    #[test]
    fn keeps_byte_order_through_splits_and_merges() {
        // A pseudo-random insertion order over 5,000 names, then deletes of most of them.
        let names: Vec<String> = (0..5000)
            .map(|i| format!("k{}", (i * 7919) % 5000))
            .collect();
        let mut list = None;
        for id in 0..names.len() as NodeId {
            add(&mut list, &names, id);
        }
        let mut want: Vec<String> = names.clone();
        want.sort();
        assert_eq!(order(&list, &names), want);
        let l = list.as_ref().unwrap();
        l.check().unwrap();
        assert!(l.blocks.len() > 5000 / BLOCK_MAX);
        for id in (0..names.len() as NodeId).filter(|i| i % 10 != 3) {
            del(&mut list, &names, id);
            list.as_ref().unwrap().check().unwrap();
        }
        let mut want: Vec<String> = (0..names.len())
            .filter(|i| i % 10 == 3)
            .map(|i| names[i].clone())
            .collect();
        want.sort();
        assert_eq!(order(&list, &names), want);
        // Merging kept the blocks from thinning out: 500 ids in a handful of blocks.
        assert!(list.as_ref().unwrap().blocks.len() <= 3);
        for id in (0..names.len() as NodeId).filter(|i| i % 10 == 3) {
            del(&mut list, &names, id);
        }
        assert!(list.is_none());
    }

    #[test]
    fn sequential_appends_fill_blocks_completely() {
        let names: Vec<String> = (0..3 * BLOCK_MAX + 1)
            .map(|i| format!("n{i:010}"))
            .collect();
        let mut list = None;
        for id in 0..names.len() as NodeId {
            add(&mut list, &names, id);
        }
        let l = list.as_ref().unwrap();
        let sizes: Vec<usize> = l.blocks.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![BLOCK_MAX, BLOCK_MAX, BLOCK_MAX, 1]);
        assert_eq!(l.iter().len(), names.len());
        // A queue: delete from the front, the emptied blocks go.
        for id in 0..BLOCK_MAX as NodeId + 1 {
            del(&mut list, &names, id);
        }
        let l = list.as_ref().unwrap();
        let sizes: Vec<usize> = l.blocks.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![BLOCK_MAX - 1, BLOCK_MAX, 1]);
        assert_eq!(order(&list, &names), names[BLOCK_MAX + 1..].to_vec());
    }

    #[test]
    fn search_finds_every_name_and_gap() {
        let names: Vec<String> = (0..2000).map(|i| format!("c{:05}", i * 2)).collect();
        let mut list = None;
        for id in (0..names.len() as NodeId).rev() {
            add(&mut list, &names, id);
        }
        let l = list.as_ref().unwrap();
        l.check().unwrap();
        let ids: Vec<NodeId> = l.iter().collect();
        assert_eq!(ids, (0..2000).collect::<Vec<_>>());
        for i in 0..2000u32 {
            let hit = l.search(format!("c{:05}", i * 2).as_bytes(), name_of(&names));
            let hit = hit.unwrap();
            assert_eq!(l.blocks[hit.block][hit.index], i);
            let gap = l.search(format!("c{:05}", i * 2 + 1).as_bytes(), name_of(&names));
            assert!(gap.is_err());
        }
        assert!(l.search(b"a", name_of(&names)).is_err());
        assert!(l.search(b"d", name_of(&names)).is_err());
    }
}
