//! A full consistency check of the tree against its own indices, for tests and the
//! simulator's checkers. O(nodes); never call it on a hot path.

use std::collections::{BTreeMap, BTreeSet};

use super::store::{NodeId, NONE};
use super::{digest, node_size, DataTree};
use crate::path;
use crate::txn::CreateKind;
use crate::types::SessionId;

impl DataTree {
    /// Recompute everything derived and compare: the built-in nodes exist; walking the
    /// child lists from the root reaches every stored node exactly once, each listed child
    /// names its lister as parent, siblings are in strictly ascending byte order, and the
    /// path index resolves every node (and holds nothing else); the ephemeral, container
    /// and TTL indices match the stored owners; the ACL reference counts, data size and
    /// digest match a recomputation. `Err` names the first mismatch.
    pub fn verify(&self) -> Result<(), String> {
        for p in path::SYSTEM_PATHS {
            if self.lookup(p).is_none() {
                return Err(format!("built-in node {p} is missing"));
            }
        }
        let mut ephemerals: BTreeMap<SessionId, BTreeSet<NodeId>> = BTreeMap::new();
        let mut containers = BTreeSet::new();
        let mut ttls = BTreeSet::new();
        let mut acl_users: BTreeMap<u32, u64> = BTreeMap::new();
        let (mut size, mut dig, mut seen, mut lists) = (0u64, 0u64, 0usize, 0usize);
        for (p, n) in self.walk() {
            seen += 1;
            let id = self
                .lookup(&p)
                .ok_or_else(|| format!("{p}: not in the path index"))?;
            if p != "/" && !self.index.holds(id, &p) {
                return Err(format!("{p}: indexed under another hash"));
            }
            let slot = self.nodes.get(id);
            if slot.children != NONE {
                lists += 1;
                self.lists
                    .try_get(slot.children)
                    .ok_or_else(|| format!("{p}: dangling child list"))?
                    .check()
                    .map_err(|e| format!("{p}: {e}"))?;
            }
            let mut prev: Option<&str> = None;
            for c in self.child_ids(id) {
                let child = self.nodes.get(c);
                if child.parent != id {
                    return Err(format!(
                        "{p}: lists {:?}, whose parent is another",
                        child.name()
                    ));
                }
                if prev.is_some_and(|prev| prev.as_bytes() >= child.name_bytes()) {
                    return Err(format!("{p}: children out of order at {:?}", child.name()));
                }
                prev = Some(child.name());
            }
            match n.kind() {
                CreateKind::Persistent => {}
                CreateKind::Ephemeral(s) => {
                    ephemerals.entry(s).or_default().insert(id);
                }
                CreateKind::Container => {
                    containers.insert(id);
                }
                CreateKind::Ttl(_) => {
                    ttls.insert(id);
                }
            }
            *acl_users.entry(slot.acl).or_default() += 1;
            size += node_size(&p, n.data);
            dig = dig.wrapping_add(digest::node(&p, n.data, &n.stat, n.acl()));
        }
        if seen != self.nodes.len() || self.nodes.iter().count() != seen {
            return Err(format!(
                "{} nodes stored, {seen} reachable from the root",
                self.nodes.len()
            ));
        }
        if lists != self.lists.len() {
            return Err(format!(
                "{} child lists stored, {lists} in use",
                self.lists.len()
            ));
        }
        if self.index.len() + 1 != seen {
            return Err(format!(
                "path index holds {} entries for {seen} nodes",
                self.index.len()
            ));
        }
        if ephemerals != self.ephemerals {
            return Err(format!(
                "ephemeral index {:?} != {:?}",
                self.ephemerals, ephemerals
            ));
        }
        if containers != self.containers || ttls != self.ttls {
            return Err("container/TTL index mismatch".to_owned());
        }
        if acl_users.len() != self.acls.len() {
            return Err(format!(
                "ACL cache holds {} lists, nodes use {}",
                self.acls.len(),
                acl_users.len()
            ));
        }
        for (acl, users) in acl_users {
            if self.acls.count(acl) != users {
                return Err(format!(
                    "ACL {:?}: {users} users, cache counts {}",
                    self.acls.get(acl),
                    self.acls.count(acl)
                ));
            }
        }
        if size != self.data_size {
            return Err(format!("data size {} != recomputed {size}", self.data_size));
        }
        if dig != self.digest {
            return Err(format!("digest {:#x} != recomputed {dig:#x}", self.digest));
        }
        Ok(())
    }
}
