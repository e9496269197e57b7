//! Tests of the watch manager: one per rule of reference §7.3/§7.4/§7.6, then a property
//! test against a naive model.

use super::*;
use proptest::prelude::*;

const A: ConnId = ConnId(1);
const B: ConnId = ConnId(2);
const C: ConnId = ConnId(3);

fn fired(wm: &mut WatchManager, path: &str, ev: EventType) -> Vec<ConnId> {
    let out = wm.trigger(path, ev);
    wm.assert_invariants();
    out
}

#[test]
fn ancestors_walk_up_to_root() {
    let v: Vec<&str> = self_and_ancestors("/a/b/c").collect();
    assert_eq!(v, ["/a/b/c", "/a/b", "/a", "/"]);
    assert_eq!(self_and_ancestors("/").collect::<Vec<_>>(), ["/"]);
    assert_eq!(self_and_ancestors("/x").collect::<Vec<_>>(), ["/x", "/"]);
    assert_eq!(self_and_ancestors("rel").collect::<Vec<_>>(), ["rel"]);
}

#[test]
fn exists_and_get_data_on_same_path_give_one_event_then_nothing() {
    let mut wm = WatchManager::new();
    wm.add_data_watch("/n", A); // exists
    wm.add_data_watch("/n", A); // getData
    assert_eq!(wm.total_watches(), 1);
    assert_eq!(fired(&mut wm, "/n", EventType::NodeDataChanged), [A]);
    assert!(fired(&mut wm, "/n", EventType::NodeDataChanged).is_empty());
    assert_eq!(wm.total_watches(), 0);
}

#[test]
fn created_and_data_changed_fire_data_table_only() {
    let mut wm = WatchManager::new();
    wm.add_data_watch("/n", A);
    wm.add_child_watch("/n", B);
    assert_eq!(fired(&mut wm, "/n", EventType::NodeCreated), [A]);
    wm.add_data_watch("/n", A);
    assert_eq!(fired(&mut wm, "/n", EventType::NodeDataChanged), [A]);
    // B's child watch is untouched by data events.
    assert!(wm.check_watches("/n", B, WatcherType::Children));
}

#[test]
fn children_changed_fires_child_table_only() {
    let mut wm = WatchManager::new();
    wm.add_data_watch("/p", A);
    wm.add_child_watch("/p", B);
    assert_eq!(fired(&mut wm, "/p", EventType::NodeChildrenChanged), [B]);
    assert!(fired(&mut wm, "/p", EventType::NodeChildrenChanged).is_empty());
    assert!(wm.check_watches("/p", A, WatcherType::Data));
}

#[test]
fn delete_notifies_once_across_both_tables_and_consumes_both() {
    let mut wm = WatchManager::new();
    wm.add_data_watch("/n", A);
    wm.add_child_watch("/n", A);
    wm.add_child_watch("/n", B);
    wm.add_data_watch("/n", C);
    assert_eq!(fired(&mut wm, "/n", EventType::NodeDeleted), [A, B, C]);
    assert!(!wm.check_watches("/n", A, WatcherType::Any));
    assert_eq!(wm.total_watches(), 0);
    assert_eq!(wm.watching_connections(), 0);
}

#[test]
fn delete_of_child_then_parent_children_changed() {
    let mut wm = WatchManager::new();
    wm.add_data_watch("/p/c", A);
    wm.add_child_watch("/p", B);
    wm.add_child_watch("/p/c", B);
    // The server fires the node first, then the parent's NodeChildrenChanged.
    assert_eq!(fired(&mut wm, "/p/c", EventType::NodeDeleted), [A, B]);
    assert_eq!(fired(&mut wm, "/p", EventType::NodeChildrenChanged), [B]);
}

#[test]
fn persistent_survives_every_event_including_delete() {
    let mut wm = WatchManager::new();
    wm.add_persistent("/n", A, AddWatchMode::Persistent);
    assert_eq!(wm.total_watches(), 2); // one entry in each table
    for ev in [
        EventType::NodeCreated,
        EventType::NodeDataChanged,
        EventType::NodeChildrenChanged,
        EventType::NodeDeleted,
        EventType::NodeCreated,
    ] {
        assert_eq!(fired(&mut wm, "/n", ev), [A], "{ev:?}");
    }
    assert!(wm.check_watches("/n", A, WatcherType::Persistent));
    assert_eq!(wm.total_watches(), 2);
}

#[test]
fn persistent_ignores_deeper_changes() {
    let mut wm = WatchManager::new();
    wm.add_persistent("/a", A, AddWatchMode::Persistent);
    assert!(fired(&mut wm, "/a/b", EventType::NodeCreated).is_empty());
    assert!(fired(&mut wm, "/a/b", EventType::NodeDataChanged).is_empty());
    assert!(fired(&mut wm, "/a/b", EventType::NodeDeleted).is_empty());
    assert!(fired(&mut wm, "/a/b", EventType::NodeChildrenChanged).is_empty());
    // ...but the parent's own NodeChildrenChanged reaches it.
    assert_eq!(fired(&mut wm, "/a", EventType::NodeChildrenChanged), [A]);
}

#[test]
fn recursive_covers_self_and_descendants_but_never_children_changed() {
    let mut wm = WatchManager::new();
    wm.add_persistent("/a", A, AddWatchMode::PersistentRecursive);
    assert_eq!(wm.recursive_watches(), 1);
    for path in ["/a", "/a/b", "/a/b/c"] {
        for ev in [
            EventType::NodeCreated,
            EventType::NodeDataChanged,
            EventType::NodeDeleted,
        ] {
            assert_eq!(fired(&mut wm, path, ev), [A], "{path} {ev:?}");
        }
        assert!(fired(&mut wm, path, EventType::NodeChildrenChanged).is_empty());
    }
    // A sibling that merely shares the prefix is not a descendant; neither is the parent.
    assert!(fired(&mut wm, "/ab", EventType::NodeCreated).is_empty());
    assert!(fired(&mut wm, "/", EventType::NodeDataChanged).is_empty());
    assert!(wm.check_watches("/a", A, WatcherType::PersistentRecursive));
}

#[test]
fn recursive_on_root_sees_everything() {
    let mut wm = WatchManager::new();
    wm.add_persistent("/", B, AddWatchMode::PersistentRecursive);
    assert_eq!(fired(&mut wm, "/", EventType::NodeDataChanged), [B]);
    assert_eq!(fired(&mut wm, "/x/y", EventType::NodeCreated), [B]);
    assert!(fired(&mut wm, "/x", EventType::NodeChildrenChanged).is_empty());
}

#[test]
fn recursive_and_standard_on_same_conn_dedup_and_standard_is_consumed() {
    let mut wm = WatchManager::new();
    wm.add_persistent("/", A, AddWatchMode::PersistentRecursive);
    wm.add_persistent("/a", A, AddWatchMode::PersistentRecursive);
    wm.add_data_watch("/a/b", A);
    wm.add_data_watch("/a/b", B);
    assert_eq!(fired(&mut wm, "/a/b", EventType::NodeDataChanged), [A, B]);
    assert!(!wm.check_watches("/a/b", A, WatcherType::Data));
    assert_eq!(fired(&mut wm, "/a/b", EventType::NodeDataChanged), [A]);
}

#[test]
fn standard_and_persistent_modes_coexist_on_one_path() {
    let mut wm = WatchManager::new();
    wm.add_persistent("/n", A, AddWatchMode::Persistent);
    wm.add_data_watch("/n", A);
    wm.add_child_watch("/n", A);
    assert_eq!(wm.total_watches(), 2); // still one entry per table
    assert_eq!(fired(&mut wm, "/n", EventType::NodeDeleted), [A]);
    // The persistent entries stay in both tables (Data/Children select them, as in 3.8.0).
    assert!(wm.check_watches("/n", A, WatcherType::Data));
    assert!(wm.check_watches("/n", A, WatcherType::Children));
    assert!(wm.check_watches("/n", A, WatcherType::Persistent));
    // A later one-shot registration does not downgrade the persistent one (ZOOKEEPER-4466).
    wm.add_data_watch("/n", A);
    assert_eq!(fired(&mut wm, "/n", EventType::NodeDataChanged), [A]);
    assert_eq!(fired(&mut wm, "/n", EventType::NodeDataChanged), [A]);
}

#[test]
fn trigger_output_is_ascending() {
    let mut wm = WatchManager::new();
    for c in [9, 3, 7, 1] {
        wm.add_data_watch("/n", ConnId(c));
    }
    wm.add_persistent("/", ConnId(5), AddWatchMode::PersistentRecursive);
    let out = fired(&mut wm, "/n", EventType::NodeCreated);
    assert_eq!(out, [1, 3, 5, 7, 9].map(ConnId));
}

#[test]
fn client_side_event_types_fire_nothing() {
    let mut wm = WatchManager::new();
    wm.add_data_watch("/n", A);
    wm.add_child_watch("/n", A);
    for ev in [
        EventType::None,
        EventType::DataWatchRemoved,
        EventType::ChildWatchRemoved,
        EventType::PersistentWatchRemoved,
    ] {
        assert!(fired(&mut wm, "/n", ev).is_empty());
    }
    assert_eq!(wm.total_watches(), 2);
}

/// A connection holding every kind of watch on `/n`.
fn everything_on_n() -> WatchManager {
    let mut wm = WatchManager::new();
    wm.add_data_watch("/n", A);
    wm.add_child_watch("/n", A);
    wm.add_persistent("/n", A, AddWatchMode::Persistent);
    wm.add_persistent("/n", A, AddWatchMode::PersistentRecursive);
    wm
}

#[test]
fn remove_data_and_children_clear_their_whole_table() {
    // 3.8.0 semantics: Data removes every data-table entry (standard, persistent and
    // recursive), Children every child-table entry.
    let mut wm = everything_on_n();
    assert!(wm.remove_watches("/n", A, WatcherType::Data));
    assert!(!wm.remove_watches("/n", A, WatcherType::Data));
    assert!(!wm.check_watches("/n", A, WatcherType::PersistentRecursive));
    assert!(wm.check_watches("/n", A, WatcherType::Children));
    assert!(wm.check_watches("/n", A, WatcherType::Persistent));
    assert!(wm.remove_watches("/n", A, WatcherType::Children));
    assert!(!wm.check_watches("/n", A, WatcherType::Children));
    assert!(!wm.check_watches("/n", A, WatcherType::Persistent));
    wm.assert_invariants();
}

#[test]
fn remove_persistent_clears_both_tables_but_not_recursive() {
    let mut wm = everything_on_n();
    assert!(wm.remove_watches("/n", A, WatcherType::Persistent));
    assert!(!wm.check_watches("/n", A, WatcherType::Persistent));
    assert!(wm.check_watches("/n", A, WatcherType::Data));
    assert!(wm.check_watches("/n", A, WatcherType::Children));
    assert!(wm.check_watches("/n", A, WatcherType::PersistentRecursive));
    // Only the recursive entry is left in the data table after the standard one fires.
    assert_eq!(fired(&mut wm, "/n", EventType::NodeChildrenChanged), [A]);
    assert!(fired(&mut wm, "/n", EventType::NodeChildrenChanged).is_empty());
}

#[test]
fn remove_recursive_updates_the_count_and_stops_descendant_events() {
    let mut wm = everything_on_n();
    assert!(wm.remove_watches("/n", A, WatcherType::PersistentRecursive));
    assert!(!wm.remove_watches("/n", A, WatcherType::PersistentRecursive));
    assert_eq!(wm.recursive_watches(), 0);
    assert!(fired(&mut wm, "/n/x", EventType::NodeCreated).is_empty());
    wm.assert_invariants();
}

#[test]
fn remove_any_clears_everything_and_reports_no_watcher_after() {
    let mut wm = everything_on_n();
    wm.add_data_watch("/n", B);
    assert!(wm.remove_watches("/n", A, WatcherType::Any));
    assert!(!wm.remove_watches("/n", A, WatcherType::Any));
    assert!(!wm.check_watches("/n", A, WatcherType::Any));
    assert_eq!(wm.recursive_watches(), 0);
    assert_eq!(wm.watches_by_path(), [("/n".to_owned(), vec![B])]);
    wm.assert_invariants();
}

#[test]
fn remove_and_check_are_exact_path_and_per_connection() {
    let mut wm = WatchManager::new();
    wm.add_persistent("/", A, AddWatchMode::PersistentRecursive);
    wm.add_data_watch("/n", B);
    // An ancestor's recursive watch is not "a watch on /n".
    assert!(!wm.check_watches("/n", A, WatcherType::Any));
    assert!(!wm.remove_watches("/n", A, WatcherType::Any));
    assert!(!wm.remove_watches("/n", C, WatcherType::Data));
    assert!(wm.check_watches("/n", B, WatcherType::Any));
    assert!(!wm.check_watches("/n", B, WatcherType::Children));
    assert!(!wm.check_watches("/n", B, WatcherType::Persistent));
}

#[test]
fn check_does_not_remove() {
    let mut wm = WatchManager::new();
    wm.add_data_watch("/n", A);
    assert!(wm.check_watches("/n", A, WatcherType::Data));
    assert!(wm.check_watches("/n", A, WatcherType::Data));
    assert_eq!(fired(&mut wm, "/n", EventType::NodeDataChanged), [A]);
}

#[test]
fn remove_connection_drops_all_and_only_its_watches() {
    let mut wm = everything_on_n();
    wm.add_data_watch("/m", A);
    wm.add_data_watch("/m", B);
    wm.remove_connection(A);
    wm.assert_invariants();
    assert_eq!(wm.recursive_watches(), 0);
    assert_eq!(wm.watches_by_conn(), [(B, vec!["/m".to_owned()])]);
    assert!(fired(&mut wm, "/n", EventType::NodeDeleted).is_empty());
    wm.remove_connection(A); // idempotent
    assert_eq!(wm.total_watches(), 1);
}

#[test]
fn stats_count_both_tables_and_data_summary_only_data() {
    let mut wm = WatchManager::new();
    wm.add_data_watch("/a", A);
    wm.add_child_watch("/a", A);
    wm.add_child_watch("/b", B);
    wm.add_persistent("/c", C, AddWatchMode::PersistentRecursive);
    assert_eq!(wm.total_watches(), 4);
    assert_eq!(wm.watched_paths(), 3);
    assert_eq!(wm.watching_connections(), 3);
    assert_eq!(
        wm.watches_by_path(),
        [
            ("/a".to_owned(), vec![A]),
            ("/b".to_owned(), vec![B]),
            ("/c".to_owned(), vec![C]),
        ]
    );
    assert_eq!(wm.watches_by_conn()[0], (A, vec!["/a".to_owned()]));
    assert_eq!(
        wm.data_watch_summary(),
        WatchSummary {
            connections: 2,
            paths: 2,
            watches: 2
        }
    );
    assert_eq!(
        wm.data_watches_by_path(),
        [("/a".to_owned(), vec![A]), ("/c".to_owned(), vec![C])]
    );
    assert_eq!(wm.data_watches_by_conn().len(), 2);
}

// ---- property test against a naive model --------------------------------------------------

/// Which table and mode one naive registration is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Reg {
    DataStd,
    ChildStd,
    DataPers,
    ChildPers,
    Recursive,
}

/// The model: a plain set of (path, conn, reg).
type Model = BTreeSet<(String, ConnId, Reg)>;

fn is_self_or_ancestor(anc: &str, path: &str) -> bool {
    anc == path || anc == "/" || path.starts_with(&format!("{anc}/"))
}

fn model_trigger(m: &mut Model, path: &str, ev: EventType) -> Vec<ConnId> {
    let (exact, recursive): (&[Reg], bool) = match ev {
        EventType::NodeCreated | EventType::NodeDataChanged => {
            (&[Reg::DataStd, Reg::DataPers], true)
        }
        EventType::NodeDeleted => (
            &[Reg::DataStd, Reg::DataPers, Reg::ChildStd, Reg::ChildPers],
            true,
        ),
        EventType::NodeChildrenChanged => (&[Reg::ChildStd, Reg::ChildPers], false),
        _ => (&[], false),
    };
    let out: BTreeSet<ConnId> = m
        .iter()
        .filter(|(p, _, r)| {
            (p == path && exact.contains(r))
                || (recursive && *r == Reg::Recursive && is_self_or_ancestor(p, path))
        })
        .map(|(_, c, _)| *c)
        .collect();
    m.retain(|(p, _, r)| {
        !(p == path && matches!(r, Reg::DataStd | Reg::ChildStd) && exact.contains(r))
    });
    out.into_iter().collect()
}

fn regs_of(kind: WatcherType) -> &'static [Reg] {
    match kind {
        // 3.8.0: Data and Children select their whole table.
        WatcherType::Data => &[Reg::DataStd, Reg::DataPers, Reg::Recursive],
        WatcherType::Children => &[Reg::ChildStd, Reg::ChildPers],
        WatcherType::Persistent => &[Reg::DataPers, Reg::ChildPers],
        WatcherType::PersistentRecursive => &[Reg::Recursive],
        WatcherType::Any => &[
            Reg::DataStd,
            Reg::ChildStd,
            Reg::DataPers,
            Reg::ChildPers,
            Reg::Recursive,
        ],
    }
}

#[derive(Clone, Debug)]
enum Op {
    Data(usize, u64),
    Child(usize, u64),
    Persistent(usize, u64, bool),
    Trigger(usize, usize),
    Remove(usize, u64, usize),
    Check(usize, u64, usize),
    Close(u64),
}

const PATHS: [&str; 7] = ["/", "/a", "/a/b", "/a/b/c", "/ab", "/b", "/a/bc"];
const EVENTS: [EventType; 5] = [
    EventType::NodeCreated,
    EventType::NodeDeleted,
    EventType::NodeDataChanged,
    EventType::NodeChildrenChanged,
    EventType::None,
];
const KINDS: [WatcherType; 5] = [
    WatcherType::Children,
    WatcherType::Data,
    WatcherType::Any,
    WatcherType::Persistent,
    WatcherType::PersistentRecursive,
];

fn op() -> impl Strategy<Value = Op> {
    let p = 0..PATHS.len();
    let c = 0u64..4;
    prop_oneof![
        (p.clone(), c.clone()).prop_map(|(p, c)| Op::Data(p, c)),
        (p.clone(), c.clone()).prop_map(|(p, c)| Op::Child(p, c)),
        (p.clone(), c.clone(), any::<bool>()).prop_map(|(p, c, r)| Op::Persistent(p, c, r)),
        (p.clone(), 0..EVENTS.len()).prop_map(|(p, e)| Op::Trigger(p, e)),
        (p.clone(), c.clone(), 0..KINDS.len()).prop_map(|(p, c, k)| Op::Remove(p, c, k)),
        (p, c.clone(), 0..KINDS.len()).prop_map(|(p, c, k)| Op::Check(p, c, k)),
        c.prop_map(Op::Close),
    ]
}

fn add(m: &mut Model, p: &str, c: ConnId, r: Reg) {
    m.insert((p.to_owned(), c, r));
}

proptest! {
    #[test]
    fn matches_naive_model(ops in prop::collection::vec(op(), 1..80)) {
        let mut wm = WatchManager::new();
        let mut m = Model::new();
        for op in ops {
            match op {
                Op::Data(p, c) => {
                    wm.add_data_watch(PATHS[p], ConnId(c));
                    add(&mut m, PATHS[p], ConnId(c), Reg::DataStd);
                }
                Op::Child(p, c) => {
                    wm.add_child_watch(PATHS[p], ConnId(c));
                    add(&mut m, PATHS[p], ConnId(c), Reg::ChildStd);
                }
                Op::Persistent(p, c, recursive) => {
                    let mode = if recursive {
                        add(&mut m, PATHS[p], ConnId(c), Reg::Recursive);
                        AddWatchMode::PersistentRecursive
                    } else {
                        add(&mut m, PATHS[p], ConnId(c), Reg::DataPers);
                        add(&mut m, PATHS[p], ConnId(c), Reg::ChildPers);
                        AddWatchMode::Persistent
                    };
                    wm.add_persistent(PATHS[p], ConnId(c), mode);
                }
                Op::Trigger(p, e) => {
                    let got = wm.trigger(PATHS[p], EVENTS[e]);
                    prop_assert_eq!(got, model_trigger(&mut m, PATHS[p], EVENTS[e]));
                }
                Op::Remove(p, c, k) => {
                    let regs = regs_of(KINDS[k]);
                    let before = m.len();
                    m.retain(|(mp, mc, r)| !(mp == PATHS[p] && *mc == ConnId(c) && regs.contains(r)));
                    let got = wm.remove_watches(PATHS[p], ConnId(c), KINDS[k]);
                    prop_assert_eq!(got, m.len() != before);
                }
                Op::Check(p, c, k) => {
                    let regs = regs_of(KINDS[k]);
                    let want = m.iter().any(|(mp, mc, r)| mp == PATHS[p] && *mc == ConnId(c) && regs.contains(r));
                    prop_assert_eq!(wm.check_watches(PATHS[p], ConnId(c), KINDS[k]), want);
                }
                Op::Close(c) => {
                    wm.remove_connection(ConnId(c));
                    m.retain(|(_, mc, _)| *mc != ConnId(c));
                }
            }
            wm.assert_invariants();
            // Stats: one entry per (table, path, conn), whatever the modes.
            let entries: BTreeSet<(bool, &str, ConnId)> = m
                .iter()
                .map(|(p, c, r)| (matches!(r, Reg::ChildStd | Reg::ChildPers), p.as_str(), *c))
                .collect();
            prop_assert_eq!(wm.total_watches(), entries.len() as u64);
            let mut by_path: BTreeMap<String, BTreeSet<ConnId>> = BTreeMap::new();
            for (p, c, _) in &m {
                by_path.entry(p.clone()).or_default().insert(*c);
            }
            let want: Vec<(String, Vec<ConnId>)> = by_path
                .into_iter()
                .map(|(p, c)| (p, c.into_iter().collect()))
                .collect();
            prop_assert_eq!(wm.watched_paths(), want.len() as u64);
            prop_assert_eq!(wm.watches_by_path(), want);
            let conns: BTreeSet<ConnId> = m.iter().map(|(_, c, _)| *c).collect();
            prop_assert_eq!(wm.watching_connections(), conns.len() as u64);
        }
    }
}
