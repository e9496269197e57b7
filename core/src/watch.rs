//! Watch registrations and who gets notified by a write (reference §7.3, §7.4, §7.6).
//!
//! Like ZooKeeper's `WatchManager`, there are two tables, *data* and *child*, each mapping a
//! path to the connections watching it. The watcher is the connection, not a client-side
//! callback, so a connection gets at most one notification per trigger however many times
//! (or through however many calls) it registered.
//!
//! A connection may hold several modes on one path in one table at once (for example a
//! one-shot getData watch and a persistent addWatch). This is the model of ZOOKEEPER-4466
//! (3.9): plain 3.8.0 kept a single mode per (connection, path) and a later registration
//! silently replaced an earlier one, which broke persistent watches; the reference (§7.3,
//! §7.6) describes the per-mode model, so that is what we keep.
//!
//! Cost of a trigger: the exact-path lookups are `O(log P)` map probes (P watched paths) plus
//! the watchers found. Recursive watches need a walk over every ancestor of the path (depth
//! `d`, so `d + 1` probes of the data table). The manager counts recursive registrations and
//! skips that walk entirely when the count is zero, as ZooKeeper does.

use std::collections::{BTreeMap, BTreeSet};

use crate::proto::event::{AddWatchMode, EventType, WatcherType};
use crate::types::ConnId;

/// Mode bits of one (path, connection) entry in one table.
const STANDARD: u8 = 1;
const PERSISTENT: u8 = 2;
/// Only ever set in the data table.
const RECURSIVE: u8 = 4;
const ALL: u8 = STANDARD | PERSISTENT | RECURSIVE;

/// One table (data or child): path → connection → mode bits, plus the reverse index so a
/// closing connection can be dropped without scanning every path.
///
/// Invariant: `by_path[p][c]` exists (and is non-zero) iff `p ∈ by_conn[c]`; no empty inner
/// maps or sets are kept.
#[derive(Clone, Debug, Default)]
struct Table {
    by_path: BTreeMap<String, BTreeMap<ConnId, u8>>,
    by_conn: BTreeMap<ConnId, BTreeSet<String>>,
}

impl Table {
    fn bits(&self, path: &str, conn: ConnId) -> u8 {
        self.by_path
            .get(path)
            .and_then(|m| m.get(&conn))
            .copied()
            .unwrap_or(0)
    }

    /// Sets `bits`; returns the bits that were not set before.
    fn add(&mut self, path: &str, conn: ConnId, bits: u8) -> u8 {
        debug_assert!(bits != 0 && bits & !ALL == 0);
        let entry = self
            .by_path
            .entry(path.to_owned())
            .or_default()
            .entry(conn)
            .or_insert(0);
        let new = bits & !*entry;
        if *entry == 0 {
            self.by_conn
                .entry(conn)
                .or_default()
                .insert(path.to_owned());
        }
        *entry |= bits;
        new
    }

    /// Clears `bits`; returns the bits that were actually set (and are now cleared).
    fn clear(&mut self, path: &str, conn: ConnId, bits: u8) -> u8 {
        let Some(conns) = self.by_path.get_mut(path) else {
            return 0;
        };
        let Some(entry) = conns.get_mut(&conn) else {
            return 0;
        };
        let cleared = *entry & bits;
        *entry &= !bits;
        if *entry == 0 {
            conns.remove(&conn);
            if conns.is_empty() {
                self.by_path.remove(path);
            }
            Self::unindex(&mut self.by_conn, conn, path);
        }
        cleared
    }

    fn unindex(by_conn: &mut BTreeMap<ConnId, BTreeSet<String>>, conn: ConnId, path: &str) {
        if let Some(paths) = by_conn.get_mut(&conn) {
            paths.remove(path);
            if paths.is_empty() {
                by_conn.remove(&conn);
            }
        }
    }

    /// Fires the standard and persistent entries registered exactly on `path`: every such
    /// connection goes into `out`, standard bits are consumed, persistent bits stay.
    /// Recursive bits are left to [`WatchManager::fire_recursive`].
    fn fire_exact(&mut self, path: &str, out: &mut BTreeSet<ConnId>) {
        let Some(conns) = self.by_path.get_mut(path) else {
            return;
        };
        let mut emptied = Vec::new();
        for (&conn, bits) in conns.iter_mut() {
            if *bits & (STANDARD | PERSISTENT) != 0 {
                out.insert(conn);
                *bits &= !STANDARD;
                if *bits == 0 {
                    emptied.push(conn);
                }
            }
        }
        for conn in emptied {
            conns.remove(&conn);
            Self::unindex(&mut self.by_conn, conn, path);
        }
        if conns.is_empty() {
            self.by_path.remove(path);
        }
    }

    /// Drops every entry of `conn`; returns how many of them carried the recursive bit.
    fn remove_conn(&mut self, conn: ConnId) -> u64 {
        let Some(paths) = self.by_conn.remove(&conn) else {
            return 0;
        };
        let mut recursive = 0;
        for path in paths {
            if let Some(conns) = self.by_path.get_mut(&path) {
                if let Some(bits) = conns.remove(&conn) {
                    recursive += u64::from(bits & RECURSIVE != 0);
                }
                if conns.is_empty() {
                    self.by_path.remove(&path);
                }
            }
        }
        recursive
    }

    /// Number of (path, connection) entries: ZooKeeper's `WatchManager.size()`.
    fn len(&self) -> u64 {
        self.by_path.values().map(|m| m.len() as u64).sum()
    }
}

/// Counts reported by the `wchs` four-letter word.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchSummary {
    /// Connections holding at least one watch.
    pub connections: u64,
    /// Paths with at least one watch.
    pub paths: u64,
    /// (path, connection) pairs.
    pub watches: u64,
}

/// All watch registrations of one server. Deterministic: ordered maps only, and every list
/// it returns is sorted.
#[derive(Clone, Debug, Default)]
pub struct WatchManager {
    data: Table,
    child: Table,
    /// Number of data-table entries with the recursive bit; 0 lets `trigger` skip the
    /// ancestor walk.
    recursive_count: u64,
}

/// `path` itself, then each ancestor up to and including `/` (ZooKeeper's
/// `PathParentIterator`). A path without a leading `/` yields only itself.
fn self_and_ancestors(path: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(path), |p| match p.rfind('/') {
        _ if *p == "/" => None,
        Some(0) => Some("/"),
        Some(i) => Some(&p[..i]),
        None => None,
    })
}

impl WatchManager {
    /// An empty manager.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a one-shot data watch (exists, getData, setWatches data/exist lists).
    pub fn add_data_watch(&mut self, path: &str, conn: ConnId) {
        self.data.add(path, conn, STANDARD);
    }

    /// Registers a one-shot child watch (getChildren, setWatches child list).
    pub fn add_child_watch(&mut self, path: &str, conn: ConnId) {
        self.child.add(path, conn, STANDARD);
    }

    /// Registers an addWatch watch (§7.3): `Persistent` goes into both tables,
    /// `PersistentRecursive` into the data table only.
    pub fn add_persistent(&mut self, path: &str, conn: ConnId, mode: AddWatchMode) {
        match mode {
            AddWatchMode::Persistent => {
                self.data.add(path, conn, PERSISTENT);
                self.child.add(path, conn, PERSISTENT);
            }
            AddWatchMode::PersistentRecursive => {
                if self.data.add(path, conn, RECURSIVE) != 0 {
                    self.recursive_count += 1;
                }
            }
        }
    }

    /// The connections to notify of `event` on `path` for one trigger, ascending and without
    /// duplicates; consumes the one-shot watches that fired (§7.4).
    ///
    /// - NodeCreated, NodeDataChanged: data watchers of `path`, plus recursive watchers of
    ///   `path` or any ancestor.
    /// - NodeDeleted: data and child watchers of `path` (one notification per connection),
    ///   plus recursive watchers of `path` or any ancestor. Persistent entries on the deleted
    ///   path stay registered, as in ZooKeeper.
    /// - NodeChildrenChanged: child watchers of `path` only; recursive watchers never get it.
    /// - Client-side types (None, *WatchRemoved): nobody.
    ///
    /// The caller fires each affected path separately, the node's own event before the
    /// parent's NodeChildrenChanged.
    pub fn trigger(&mut self, path: &str, event: EventType) -> Vec<ConnId> {
        let mut out = BTreeSet::new();
        match event {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                self.data.fire_exact(path, &mut out);
                self.fire_recursive(path, &mut out);
            }
            EventType::NodeDeleted => {
                self.data.fire_exact(path, &mut out);
                self.child.fire_exact(path, &mut out);
                self.fire_recursive(path, &mut out);
            }
            EventType::NodeChildrenChanged => self.child.fire_exact(path, &mut out),
            EventType::None
            | EventType::DataWatchRemoved
            | EventType::ChildWatchRemoved
            | EventType::PersistentWatchRemoved => {}
        }
        out.into_iter().collect()
    }

    /// Adds the recursive watchers of `path` and its ancestors. `O(depth)` probes, skipped
    /// when no recursive watch exists.
    fn fire_recursive(&self, path: &str, out: &mut BTreeSet<ConnId>) {
        if self.recursive_count == 0 {
            return;
        }
        for p in self_and_ancestors(path) {
            if let Some(conns) = self.data.by_path.get(p) {
                out.extend(
                    conns
                        .iter()
                        .filter(|(_, &bits)| bits & RECURSIVE != 0)
                        .map(|(&c, _)| c),
                );
            }
        }
    }

    /// Drops every watch of a closed connection.
    pub fn remove_connection(&mut self, conn: ConnId) {
        let dropped = self.data.remove_conn(conn);
        self.child.remove_conn(conn);
        self.recursive_count -= dropped;
    }

    /// The mode bits (data table, child table) that a `WatcherType` selects (§7.6). As in
    /// 3.8.0, Data and Children select every entry of their table, persistent and
    /// recursive ones included (3.9 narrowed them to standard watches).
    fn selected(kind: WatcherType) -> (u8, u8) {
        match kind {
            WatcherType::Children => (0, ALL),
            WatcherType::Data => (ALL, 0),
            WatcherType::Persistent => (PERSISTENT, PERSISTENT),
            WatcherType::PersistentRecursive => (RECURSIVE, 0),
            WatcherType::Any => (ALL, ALL),
        }
    }

    /// removeWatches (§7.6): removes `conn`'s watches of `kind` on exactly `path`. Returns
    /// false when nothing matched (the server then answers NoWatcher).
    pub fn remove_watches(&mut self, path: &str, conn: ConnId, kind: WatcherType) -> bool {
        let (data_bits, child_bits) = Self::selected(kind);
        let from_data = if data_bits != 0 {
            self.data.clear(path, conn, data_bits)
        } else {
            0
        };
        let from_child = if child_bits != 0 {
            self.child.clear(path, conn, child_bits)
        } else {
            0
        };
        if from_data & RECURSIVE != 0 {
            self.recursive_count -= 1;
        }
        from_data | from_child != 0
    }

    /// checkWatches (§7.6): whether `conn` holds a watch of `kind` on exactly `path`.
    pub fn check_watches(&self, path: &str, conn: ConnId, kind: WatcherType) -> bool {
        let (data_bits, child_bits) = Self::selected(kind);
        self.data.bits(path, conn) & data_bits != 0 || self.child.bits(path, conn) & child_bits != 0
    }

    /// Number of (path, connection) entries over both tables: ZooKeeper's
    /// `zk_watch_count` (data table size + child table size).
    pub fn total_watches(&self) -> u64 {
        self.data.len() + self.child.len()
    }

    /// Distinct paths watched in either table.
    pub fn watched_paths(&self) -> u64 {
        let child_only = self
            .child
            .by_path
            .keys()
            .filter(|p| !self.data.by_path.contains_key(*p))
            .count();
        (self.data.by_path.len() + child_only) as u64
    }

    /// Distinct connections holding a watch in either table.
    pub fn watching_connections(&self) -> u64 {
        let child_only = self
            .child
            .by_conn
            .keys()
            .filter(|c| !self.data.by_conn.contains_key(*c))
            .count();
        (self.data.by_conn.len() + child_only) as u64
    }

    /// Every watched path (either table) with its watching connections, all sorted.
    pub fn watches_by_path(&self) -> Vec<(String, Vec<ConnId>)> {
        let mut merged: BTreeMap<&str, BTreeSet<ConnId>> = BTreeMap::new();
        for table in [&self.data, &self.child] {
            for (path, conns) in &table.by_path {
                merged.entry(path).or_default().extend(conns.keys());
            }
        }
        merged
            .into_iter()
            .map(|(p, c)| (p.to_owned(), c.into_iter().collect()))
            .collect()
    }

    /// Every watching connection (either table) with its watched paths, all sorted.
    pub fn watches_by_conn(&self) -> Vec<(ConnId, Vec<String>)> {
        let mut merged: BTreeMap<ConnId, BTreeSet<&str>> = BTreeMap::new();
        for table in [&self.data, &self.child] {
            for (conn, paths) in &table.by_conn {
                merged
                    .entry(*conn)
                    .or_default()
                    .extend(paths.iter().map(String::as_str));
            }
        }
        merged
            .into_iter()
            .map(|(c, p)| (c, p.into_iter().map(str::to_owned).collect()))
            .collect()
    }

    /// What ZooKeeper's `wchs` reports: it summarises the **data table only**
    /// (`DataTree.getWatchesSummary` delegates to `dataWatches`).
    pub fn data_watch_summary(&self) -> WatchSummary {
        WatchSummary {
            connections: self.data.by_conn.len() as u64,
            paths: self.data.by_path.len() as u64,
            watches: self.data.len(),
        }
    }

    /// What ZooKeeper's `wchp` lists: data-table watches by path, sorted.
    pub fn data_watches_by_path(&self) -> Vec<(String, Vec<ConnId>)> {
        self.data
            .by_path
            .iter()
            .map(|(p, c)| (p.clone(), c.keys().copied().collect()))
            .collect()
    }

    /// What ZooKeeper's `wchc` lists: data-table watches by connection, sorted.
    pub fn data_watches_by_conn(&self) -> Vec<(ConnId, Vec<String>)> {
        self.data
            .by_conn
            .iter()
            .map(|(c, p)| (*c, p.iter().cloned().collect()))
            .collect()
    }

    /// Number of persistent-recursive registrations.
    pub fn recursive_watches(&self) -> u64 {
        self.recursive_count
    }

    /// Checks the internal invariants (index consistency, recursive count); panics with
    /// context when broken. Meant for tests and simulation.
    pub fn assert_invariants(&self) {
        for (name, table) in [("data", &self.data), ("child", &self.child)] {
            let mut pairs = 0usize;
            for (path, conns) in &table.by_path {
                assert!(!conns.is_empty(), "{name}: empty conn map at {path}");
                for (conn, bits) in conns {
                    assert!(
                        *bits != 0 && *bits & !ALL == 0,
                        "{name}: bits {bits} at {path}"
                    );
                    assert!(
                        table.by_conn.get(conn).is_some_and(|ps| ps.contains(path)),
                        "{name}: {path} {conn:?} missing from reverse index"
                    );
                    pairs += 1;
                }
            }
            let indexed: usize = table.by_conn.values().map(BTreeSet::len).sum();
            assert_eq!(pairs, indexed, "{name}: reverse index size");
            assert!(table.by_conn.values().all(|ps| !ps.is_empty()));
        }
        assert!(
            self.child
                .by_path
                .values()
                .flatten()
                .all(|(_, b)| b & RECURSIVE == 0),
            "recursive bit in child table"
        );
        let recursive = self
            .data
            .by_path
            .values()
            .flatten()
            .filter(|(_, b)| *b & RECURSIVE != 0)
            .count() as u64;
        assert_eq!(recursive, self.recursive_count, "recursive count");
    }
}

#[cfg(test)]
mod tests;
