//! Change tracking for delta snapshots: the paths of every node created, deleted or changed
//! (data, stat, ACL) since tracking (re)started.
//!
//! Building a snapshot by loading the previous one and replaying the log costs a whole
//! tree's worth of CPU and memory per snapshot, which on a big tree eats the machine. With
//! the set of changed paths, the server exports only those nodes' live states (a
//! [`NodeChange`] each) and the snapshot thread merges them into the previous snapshot's
//! stream (`snapshot::delta`). The set only has to be a superset of what really changed
//! since the base snapshot: an unchanged path exports the state the base already holds.
//! Every change goes through one of the places that keep the digest in step, and each of
//! them marks its path, so nothing can change unseen.

use std::collections::HashSet;

use super::{DataTree, StatPersisted};
use crate::proto::data::Acl;

/// Changed paths. Fixed hash seeds: no OS randomness in core (its iteration order must not
/// differ between runs; exports are sorted anyway).
pub(super) type ChangedPaths = HashSet<Box<str>, foldhash::fast::FixedState>;

/// The live state of one changed path: `None` if no node is there now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeChange {
    pub path: Box<str>,
    pub node: Option<NodeState>,
}

/// A node's whole persisted state (what a snapshot record holds besides the path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeState {
    pub data: Option<Vec<u8>>,
    pub acl: Vec<Acl>,
    pub stat: StatPersisted,
}

impl DataTree {
    /// Start tracking changed paths from now on, with an empty set (replacing any set).
    pub fn track_changes(&mut self) {
        self.changes = Some(ChangedPaths::default());
    }

    /// Stop tracking and forget the set.
    pub fn untrack_changes(&mut self) {
        self.changes = None;
    }

    /// Whether changes are tracked.
    pub fn tracks_changes(&self) -> bool {
        self.changes.is_some()
    }

    /// How many distinct paths changed since tracking (re)started (0 when not tracking).
    pub fn changed_count(&self) -> usize {
        self.changes.as_ref().map_or(0, |c| c.len())
    }

    /// Hand out the changed paths and go on tracking with an empty set. `None` when not
    /// tracking.
    pub fn take_changes(&mut self) -> Option<Vec<Box<str>>> {
        let set = self.changes.as_mut()?;
        Some(std::mem::take(set).into_iter().collect())
    }

    /// Put back paths handed out by [`take_changes`](Self::take_changes) (their snapshot
    /// was not written, so the next one must cover them too). Ignored when not tracking.
    pub fn restore_changes(&mut self, paths: Vec<Box<str>>) {
        if let Some(set) = self.changes.as_mut() {
            set.extend(paths);
        }
    }

    /// The live state of each of `paths`, in the order given.
    pub fn export_changes(&self, paths: &[Box<str>]) -> Vec<NodeChange> {
        paths
            .iter()
            .map(|path| NodeChange {
                path: path.clone(),
                node: self.lookup(path).map(|id| {
                    let n = self.view(id);
                    NodeState {
                        data: n.data.map(<[u8]>::to_vec),
                        acl: n.acl().to_vec(),
                        stat: n.stat,
                    }
                }),
            })
            .collect()
    }

    /// Note that the node at `path` changed (called wherever the digest changes).
    pub(super) fn mark_changed(&mut self, path: &str) {
        if let Some(set) = self.changes.as_mut() {
            if !set.contains(path) {
                set.insert(path.into());
            }
        }
    }
}
