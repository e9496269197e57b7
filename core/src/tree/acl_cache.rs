//! Interned ACL lists. Nearly every node shares one of a handful of lists, so nodes hold a
//! shared `Arc<[Acl]>` (16 bytes) instead of their own copy; a reference count per list
//! lets the cache forget lists no node uses any more. This is ZooKeeper's
//! `ReferenceCountedACLCache` without the numeric ids.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::proto::data::Acl;

#[derive(Clone, Debug, Default)]
pub(super) struct AclCache {
    lists: BTreeMap<Arc<[Acl]>, u64>,
}

impl AclCache {
    /// The shared list equal to `acl`, counting one more user.
    pub(super) fn intern(&mut self, acl: &[Acl]) -> Arc<[Acl]> {
        if let Some((shared, _)) = self.lists.get_key_value(acl) {
            let shared = Arc::clone(shared);
            if let Some(count) = self.lists.get_mut(acl) {
                *count += 1;
            }
            return shared;
        }
        let shared: Arc<[Acl]> = Arc::from(acl);
        self.lists.insert(Arc::clone(&shared), 1);
        shared
    }

    /// One user of `acl` is gone.
    pub(super) fn release(&mut self, acl: &[Acl]) {
        let count = self.lists.get_mut(acl);
        assert!(
            count.is_some(),
            "released an ACL list the cache does not hold: {acl:?}"
        );
        if let Some(count) = count {
            *count -= 1;
            if *count == 0 {
                self.lists.remove(acl);
            }
        }
    }

    /// Distinct lists in use.
    pub(super) fn len(&self) -> usize {
        self.lists.len()
    }

    /// Users of the list equal to `acl` (0 when unknown).
    pub(super) fn count(&self, acl: &[Acl]) -> u64 {
        self.lists.get(acl).copied().unwrap_or(0)
    }
}
