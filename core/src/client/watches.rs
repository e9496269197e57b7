//! Client-side watch bookkeeping, path level, as the Java client's `ZKWatchManager` keeps it.
//!
//! The server's watcher is the connection, so a client only needs to know *which paths* it
//! watches in which table to re-arm them on a new connection (setWatches, compat §7.5).
//! Individual watcher callbacks are the application's business, not this table's.

use std::collections::BTreeSet;

use crate::error::ErrorCode;
use crate::proto::event::{AddWatchMode, EventType, WatcherType};
use crate::proto::{Request, SetWatches};
use crate::types::Zxid;

/// The Java client's `SET_WATCHES_MAX_LENGTH`: a setWatches batch stops growing once its
/// paths add up to this many bytes (it may exceed it by the last path).
pub const SET_WATCHES_MAX_LENGTH: usize = 128 * 1024;

/// The watches a client believes the server holds for it, by table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchTable {
    /// Registered by a successful getData or exists.
    pub data: BTreeSet<String>,
    /// Registered by exists on a missing node.
    pub exist: BTreeSet<String>,
    /// Registered by a successful getChildren / getChildren2.
    pub child: BTreeSet<String>,
    /// addWatch mode 0 (PERSISTENT).
    pub persistent: BTreeSet<String>,
    /// addWatch mode 1 (PERSISTENT_RECURSIVE).
    pub persistent_recursive: BTreeSet<String>,
}

/// What a pending request will do to the table once its reply arrives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WatchEffect {
    /// exists with watch=true.
    Exists(String),
    /// getData with watch=true.
    Data(String),
    /// getChildren / getChildren2 with watch=true.
    Child(String),
    /// addWatch with the raw mode.
    Add(String, i32),
    /// removeWatches with the raw watcher type.
    Remove(String, i32),
}

impl WatchEffect {
    /// The effect `req` has on the table, if any. multiRead sub-ops register nothing
    /// (the server ignores their watch flags).
    pub(crate) fn of(req: &Request) -> Option<WatchEffect> {
        Some(match req {
            Request::Exists { path, watch: true } => WatchEffect::Exists(path.clone()),
            Request::GetData { path, watch: true } => WatchEffect::Data(path.clone()),
            Request::GetChildren { path, watch: true }
            | Request::GetChildren2 { path, watch: true } => WatchEffect::Child(path.clone()),
            Request::AddWatch { path, mode } => WatchEffect::Add(path.clone(), *mode),
            Request::RemoveWatches { path, watcher_type } => {
                WatchEffect::Remove(path.clone(), *watcher_type)
            }
            _ => return None,
        })
    }
}

impl WatchTable {
    /// True when no path is watched.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.exist.is_empty()
            && self.child.is_empty()
            && self.persistent.is_empty()
            && self.persistent_recursive.is_empty()
    }

    /// Forget everything (session expired or closed).
    pub fn clear(&mut self) {
        *self = WatchTable::default();
    }

    /// Apply a reply with result `err` to the request that had `effect`. Registration
    /// follows the Java client's `WatchRegistration`: on success only, except exists which
    /// also registers (as an exist watch) on NoNode.
    pub(crate) fn on_reply(&mut self, effect: &WatchEffect, err: ErrorCode) {
        match (effect, err) {
            (WatchEffect::Exists(p), ErrorCode::Ok) | (WatchEffect::Data(p), ErrorCode::Ok) => {
                self.data.insert(p.clone());
            }
            (WatchEffect::Exists(p), ErrorCode::NoNode) => {
                self.exist.insert(p.clone());
            }
            (WatchEffect::Child(p), ErrorCode::Ok) => {
                self.child.insert(p.clone());
            }
            (WatchEffect::Add(p, mode), ErrorCode::Ok) => match AddWatchMode::from_code(*mode) {
                Some(AddWatchMode::Persistent) => {
                    self.persistent.insert(p.clone());
                }
                Some(AddWatchMode::PersistentRecursive) => {
                    self.persistent_recursive.insert(p.clone());
                }
                None => {}
            },
            (WatchEffect::Remove(p, t), ErrorCode::Ok) => self.remove(p, *t),
            _ => {}
        }
    }

    fn remove(&mut self, path: &str, watcher_type: i32) {
        let Some(t) = WatcherType::from_code(watcher_type) else {
            return;
        };
        if matches!(t, WatcherType::Data | WatcherType::Any) {
            self.data.remove(path);
            self.exist.remove(path);
        }
        if matches!(t, WatcherType::Children | WatcherType::Any) {
            self.child.remove(path);
        }
        if matches!(t, WatcherType::Persistent | WatcherType::Any) {
            self.persistent.remove(path);
        }
        if matches!(t, WatcherType::PersistentRecursive | WatcherType::Any) {
            self.persistent_recursive.remove(path);
        }
    }

    /// A notification fired: standard watches are one-shot and go, persistent ones stay
    /// (the Java client's `materialize`).
    pub(crate) fn on_event(&mut self, event_type: EventType, path: &str) {
        match event_type {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                self.data.remove(path);
                self.exist.remove(path);
            }
            EventType::NodeChildrenChanged => {
                self.child.remove(path);
            }
            EventType::NodeDeleted => {
                self.data.remove(path);
                self.exist.remove(path);
                self.child.remove(path);
            }
            _ => {}
        }
    }

    /// The setWatches requests that re-arm this table on a new connection, batched as the
    /// Java client batches them: each batch holds paths (data, then exist, child,
    /// persistent, persistent-recursive) until their lengths reach
    /// [`SET_WATCHES_MAX_LENGTH`]; a batch uses setWatches (101) unless it holds persistent
    /// watches, then setWatches2 (105). Empty table: no requests.
    pub fn set_watches_requests(&self, relative_zxid: Zxid) -> Vec<Request> {
        let mut lists = [
            self.data.iter(),
            self.exist.iter(),
            self.child.iter(),
            self.persistent.iter(),
            self.persistent_recursive.iter(),
        ];
        let mut out = Vec::new();
        loop {
            let mut batch = SetWatches {
                relative_zxid,
                ..SetWatches::default()
            };
            let mut batch_len = 0usize;
            let mut any = false;
            'fill: while batch_len < SET_WATCHES_MAX_LENGTH {
                for (i, it) in lists.iter_mut().enumerate() {
                    if let Some(p) = it.next() {
                        let dest = match i {
                            0 => &mut batch.data,
                            1 => &mut batch.exist,
                            2 => &mut batch.child,
                            3 => &mut batch.persistent,
                            _ => &mut batch.persistent_recursive,
                        };
                        dest.push(p.clone());
                        batch_len += p.len();
                        any = true;
                        continue 'fill;
                    }
                }
                break;
            }
            if !any {
                return out;
            }
            let v2 = !batch.persistent.is_empty() || !batch.persistent_recursive.is_empty();
            out.push(Request::SetWatches { v2, watches: batch });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_follows_reply_code() {
        let mut t = WatchTable::default();
        t.on_reply(&WatchEffect::Exists("/a".into()), ErrorCode::NoNode);
        t.on_reply(&WatchEffect::Exists("/b".into()), ErrorCode::Ok);
        t.on_reply(&WatchEffect::Data("/c".into()), ErrorCode::NoNode);
        t.on_reply(&WatchEffect::Child("/d".into()), ErrorCode::Ok);
        t.on_reply(&WatchEffect::Add("/e".into(), 1), ErrorCode::Ok);
        assert_eq!(t.exist, BTreeSet::from(["/a".to_string()]));
        assert_eq!(t.data, BTreeSet::from(["/b".to_string()]));
        assert_eq!(t.child, BTreeSet::from(["/d".to_string()]));
        assert_eq!(t.persistent_recursive, BTreeSet::from(["/e".to_string()]));
        assert!(t.persistent.is_empty());

        // A created node fires the exist watch; children-changed leaves data watches alone.
        t.on_event(EventType::NodeCreated, "/a");
        t.on_event(EventType::NodeChildrenChanged, "/b");
        assert!(t.exist.is_empty());
        assert!(t.data.contains("/b"));
        t.on_event(EventType::NodeDeleted, "/d");
        t.on_event(EventType::NodeDeleted, "/e");
        assert!(t.child.is_empty());
        assert!(
            t.persistent_recursive.contains("/e"),
            "persistent watches stay"
        );

        t.on_reply(&WatchEffect::Remove("/e".into(), 3), ErrorCode::Ok);
        t.on_reply(&WatchEffect::Remove("/b".into(), 1), ErrorCode::Ok);
        assert!(
            t.data.contains("/b"),
            "removing child watches keeps data watches"
        );
        t.on_reply(&WatchEffect::Remove("/b".into(), 2), ErrorCode::Ok);
        assert!(t.is_empty());
    }

    #[test]
    fn set_watches_batches_by_length_and_version() {
        let mut t = WatchTable::default();
        assert!(t.set_watches_requests(Zxid(5)).is_empty());
        // 300 paths of 1000 bytes: 132 fit in the first batch (131 * 1000 < 128 Ki).
        for i in 0..300 {
            t.data.insert(format!("/{i:03}{}", "x".repeat(996)));
        }
        t.persistent.insert("/p".into());
        let reqs = t.set_watches_requests(Zxid(5));
        assert_eq!(reqs.len(), 3);
        let sizes: Vec<(bool, usize, usize)> = reqs
            .iter()
            .map(|r| match r {
                Request::SetWatches { v2, watches } => {
                    assert_eq!(watches.relative_zxid, Zxid(5));
                    (*v2, watches.data.len(), watches.persistent.len())
                }
                other => panic!("not a setWatches: {other:?}"),
            })
            .collect();
        assert_eq!(sizes, vec![(false, 132, 0), (false, 132, 0), (true, 36, 1)]);
    }
}
