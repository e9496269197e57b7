//! A full consistency check of the tree against its own indices, for tests and the
//! simulator's checkers. O(nodes); never call it on a hot path.

use std::collections::{BTreeMap, BTreeSet};

use super::{digest, node_size, DataTree};
use crate::path;
use crate::txn::CreateKind;
use crate::types::SessionId;

impl DataTree {
    /// Recompute everything derived and compare: the built-in nodes exist; every node but
    /// the root is listed by its existing parent and every listed child exists; the
    /// ephemeral, container and TTL indices match the stored owners; the ACL reference
    /// counts, data size and digest match a recomputation. `Err` names the first mismatch.
    pub fn verify(&self) -> Result<(), String> {
        for p in path::SYSTEM_PATHS {
            if !self.nodes.contains_key(p) {
                return Err(format!("built-in node {p} is missing"));
            }
        }
        let mut ephemerals: BTreeMap<SessionId, BTreeSet<String>> = BTreeMap::new();
        let mut containers = BTreeSet::new();
        let mut ttls = BTreeSet::new();
        let mut acl_users: BTreeMap<&[crate::proto::data::Acl], u64> = BTreeMap::new();
        let (mut size, mut dig) = (0u64, 0u64);
        for (p, n) in &self.nodes {
            if p != "/" {
                let parent = self
                    .nodes
                    .get(path::parent(p))
                    .ok_or_else(|| format!("{p}: parent missing"))?;
                if !parent.children.contains(path::last_segment(p)) {
                    return Err(format!("{p}: not listed by its parent"));
                }
            }
            for c in &n.children {
                if !self.nodes.contains_key(&path::join(p, c)) {
                    return Err(format!("{p}: lists missing child {c:?}"));
                }
            }
            match n.kind() {
                CreateKind::Persistent => {}
                CreateKind::Ephemeral(s) => {
                    ephemerals.entry(s).or_default().insert(p.clone());
                }
                CreateKind::Container => {
                    containers.insert(p.clone());
                }
                CreateKind::Ttl(_) => {
                    ttls.insert(p.clone());
                }
            }
            *acl_users.entry(&n.acl).or_default() += 1;
            size += node_size(p, n.data.as_deref());
            dig = dig.wrapping_add(digest::node(p, n));
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
                    "ACL {acl:?}: {users} users, cache counts {}",
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
