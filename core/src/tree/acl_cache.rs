//! Interned ACL lists. Nearly every node shares one of a handful of lists, so a node holds
//! a `u32` index into this cache (4 bytes, against 16 for an `Arc<[Acl]>` handle) and a
//! reference count per list lets the cache forget lists no node uses any more. This is
//! ZooKeeper's `ReferenceCountedACLCache`. Indices depend on history (a forgotten list's
//! index is reused), so nothing observable may depend on them.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::proto::data::Acl;

#[derive(Clone, Debug, Default)]
pub(super) struct AclCache {
    /// Index → (list, users); `None` for a free index.
    lists: Vec<Option<(Arc<[Acl]>, u64)>>,
    /// List → index, to intern.
    by_list: BTreeMap<Arc<[Acl]>, u32>,
    free: Vec<u32>,
}

impl AclCache {
    /// The index of the list equal to `acl`, counting one more user.
    pub(super) fn intern(&mut self, acl: &[Acl]) -> u32 {
        if let Some(&i) = self.by_list.get(acl) {
            let entry = self.lists[i as usize].as_mut();
            let (_, users) = entry.expect("interned index is live");
            *users += 1;
            return i;
        }
        let shared: Arc<[Acl]> = Arc::from(acl);
        let i = match self.free.pop() {
            Some(i) => {
                self.lists[i as usize] = Some((Arc::clone(&shared), 1));
                i
            }
            None => {
                let i = u32::try_from(self.lists.len()).expect("fewer than 2^32 ACL lists");
                self.lists.push(Some((Arc::clone(&shared), 1)));
                i
            }
        };
        self.by_list.insert(shared, i);
        i
    }

    /// One user of list `i` is gone.
    pub(super) fn release(&mut self, i: u32) {
        let entry = self.lists.get_mut(i as usize).and_then(Option::as_mut);
        let (list, users) = entry.unwrap_or_else(|| panic!("released free ACL index {i}"));
        *users -= 1;
        if *users == 0 {
            let list = Arc::clone(list);
            self.by_list.remove(&list);
            self.lists[i as usize] = None;
            self.free.push(i);
        }
    }

    /// The list at index `i`.
    pub(super) fn get(&self, i: u32) -> &[Acl] {
        match self.lists.get(i as usize) {
            Some(Some((list, _))) => list,
            _ => panic!("dangling ACL index {i}"),
        }
    }

    /// Distinct lists in use.
    pub(super) fn len(&self) -> usize {
        self.by_list.len()
    }

    /// Users of list `i` (0 when free or unknown).
    pub(super) fn count(&self, i: u32) -> u64 {
        match self.lists.get(i as usize) {
            Some(Some((_, users))) => *users,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_counts_and_reuses_indices() {
        let mut c = AclCache::default();
        let (open, read) = (Acl::open_unsafe(), Acl::read_unsafe());
        let a = c.intern(&open);
        assert_eq!(c.intern(&open), a);
        let b = c.intern(&read);
        assert_ne!(a, b);
        assert_eq!((c.len(), c.count(a), c.count(b)), (2, 2, 1));
        c.release(b);
        assert_eq!((c.len(), c.count(b)), (1, 0));
        assert_eq!(c.get(a), &open[..]);
        // The freed index is reused for the next new list.
        assert_eq!(c.intern(&[]), b);
        assert_eq!(c.get(b), &[][..]);
    }
}
