//! Tests of the compact layout itself: the id-only path index under hash collisions, huge
//! flat directories, slot reuse after deletes, and that nothing observable depends on ids.

use super::*;
use crate::snapshot::{self, Image};

fn delete(t: &mut DataTree, path: &str, zxid: i64) -> ApplyResult {
    t.apply(&hdr(zxid, S1), &Txn::Delete { path: path.into() })
}

/// A history with nested creates, deletes of leaves and subtrees, re-creates and setData,
/// over names that share prefixes and are not created in byte order.
fn churn(t: &mut DataTree) {
    let mut z = 0;
    let mut next = || {
        z += 1;
        z
    };
    for top in ["b", "a", "c", "ab", "B", "é", "a0"] {
        create(t, &format!("/{top}"), next(), CreateKind::Persistent);
        for child in ["y", "x", "z", "xx", "x0"] {
            create(
                t,
                &format!("/{top}/{child}"),
                next(),
                CreateKind::Persistent,
            );
            create(
                t,
                &format!("/{top}/{child}/leaf"),
                next(),
                CreateKind::Ephemeral(S2),
            );
        }
    }
    for p in ["/a/x/leaf", "/a/x", "/c/y/leaf", "/é/z/leaf"] {
        assert_eq!(delete(t, p, next()).results, vec![OpResult::Deleted], "{p}");
    }
    // A subtree (possible in replay): /b and its 10 descendants go at once.
    assert_eq!(delete(t, "/b", next()).results, vec![OpResult::Deleted]);
    create(t, "/a/x", next(), CreateKind::Container);
    create(t, "/b", next(), CreateKind::Ttl(5));
    create(t, "/b/x", next(), CreateKind::Persistent);
    let set = Txn::SetData {
        path: "/a/x".into(),
        data: Some(vec![7; 300]),
        version: 1,
    };
    t.apply(&hdr(next(), S1), &set);
}

#[test]
fn path_index_survives_total_hash_collisions() {
    // mask 0: every (parent, name) key hashes to 0; mask 3: four hash values.
    for mask in [0, 3] {
        let mut t = DataTree::with_hash_mask(mask);
        let mut plain = DataTree::new();
        churn(&mut t);
        churn(&mut plain);
        t.verify().unwrap();
        assert_eq!(t.digest(), plain.digest());
        let walk = |t: &DataTree| -> Vec<(String, Stat)> {
            t.walk().map(|(p, n)| (p, n.client_stat())).collect()
        };
        assert_eq!(walk(&t), walk(&plain));
        // The same name under different parents, and names that are prefixes of others.
        for p in [
            "/a/x",
            "/a0/x",
            "/ab/x",
            "/a/xx",
            "/a/x0",
            "/B/y/leaf",
            "/é/z",
        ] {
            assert_eq!(t.stat(p), plain.stat(p), "{p}");
            assert!(t.stat(p).is_some(), "{p}");
        }
        // Misses that collide with hits.
        for p in [
            "/a/x/leaf",
            "/c/y/leaf",
            "/d",
            "/a/w",
            "/b/y",
            "/a//x",
            "/a/x/",
        ] {
            assert_eq!(t.stat(p), None, "{p}");
        }
        assert_eq!(t.ephemerals(S2), plain.ephemerals(S2));
        assert_eq!(t.children("/a").unwrap(), ["x", "x0", "xx", "y", "z"]);
    }
}

#[test]
fn children_come_in_byte_order() {
    let mut t = DataTree::new();
    for (i, name) in ["b", "a", "B", "é", "Z", "a0", "_", "ab", "~"]
        .iter()
        .enumerate()
    {
        create(
            &mut t,
            &format!("/{name}"),
            i as i64 + 1,
            CreateKind::Persistent,
        );
    }
    let mut want: Vec<String> = t.children("/").unwrap();
    want.sort();
    assert_eq!(
        t.children("/").unwrap(),
        ["B", "Z", "_", "a", "a0", "ab", "b", "zookeeper", "~", "é"]
    );
    assert_eq!(t.children("/").unwrap(), want);
    let names: Vec<&str> = t.node("/").unwrap().children().collect();
    assert_eq!(names, want);
    assert_eq!(t.node("/").unwrap().children().len(), 10);
}

#[test]
fn huge_flat_directory_as_a_queue() {
    // 20,000 sequential children (40 blocks): append, consume from the front as a queue
    // does, delete every third of the rest, then re-create some.
    const N: i64 = 20_000;
    let mut t = DataTree::new();
    create(&mut t, "/q", 1, CreateKind::Persistent);
    let name = |i: i64| format!("n{i:010}");
    for i in 0..N {
        let r = create(
            &mut t,
            &format!("/q/{}", name(i)),
            2 + i,
            CreateKind::Persistent,
        );
        assert!(matches!(r.results[0], OpResult::Created { .. }));
    }
    assert_eq!(t.stat("/q").unwrap().num_children, N as i32);
    assert_eq!(t.node("/q").unwrap().stat.cversion, N as i32);
    t.verify().unwrap();
    let mut z = N + 2;
    for i in 0..N / 2 {
        z += 1;
        assert_eq!(
            delete(&mut t, &format!("/q/{}", name(i)), z).results,
            vec![OpResult::Deleted]
        );
    }
    for i in (N / 2..N).step_by(3) {
        z += 1;
        delete(&mut t, &format!("/q/{}", name(i)), z);
    }
    t.verify().unwrap();
    let want: Vec<String> = (N / 2..N)
        .filter(|i| (i - N / 2) % 3 != 0)
        .map(name)
        .collect();
    assert_eq!(t.children("/q").unwrap(), want);
    // Re-create a few deleted ones in the middle and at the front.
    for i in [0, N / 2, N / 2 + 3, N - 1] {
        z += 1;
        create(
            &mut t,
            &format!("/q/{}", name(i)),
            z,
            CreateKind::Persistent,
        );
    }
    let children = t.children("/q").unwrap();
    assert_eq!(children.len(), want.len() + 4);
    assert!(children.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(children[0], name(0));
    assert_eq!(t.count_descendants("/q"), Some(children.len() as i32));
    t.verify().unwrap();
}

#[test]
fn delete_and_recreate_reuses_nothing_but_the_slot() {
    let mut t = DataTree::new();
    create(&mut t, "/p", 1, CreateKind::Persistent);
    create(&mut t, "/p/c", 2, CreateKind::Ephemeral(S1));
    create(&mut t, "/p/c/g", 3, CreateKind::Persistent);
    let acl = vec![Acl {
        perms: perms::READ,
        id: Id::new("digest", "u:h"),
    }];
    t.apply(
        &hdr(4, S1),
        &Txn::SetAcl {
            path: "/p/c".into(),
            acl,
            version: 1,
        },
    );
    assert_eq!(t.acl_list_count(), 3);
    delete(&mut t, "/p", 5);
    assert_eq!((t.acl_list_count(), t.ephemerals_count()), (2, 0));
    // Re-created under the same paths, the nodes are new: no children, data, ACL or owner
    // carried over from the slots they reuse.
    create(&mut t, "/p", 6, CreateKind::Persistent);
    let r = t.apply(
        &hdr(7, S2),
        &Txn::Create {
            path: "/p/c".into(),
            data: None,
            acl: Acl::open_unsafe(),
            kind: CreateKind::Persistent,
            parent_cversion: -1,
        },
    );
    assert!(matches!(r.results[0], OpResult::Created { .. }));
    let c = t.node("/p/c").unwrap();
    assert_eq!(
        (c.data, c.acl(), c.num_children()),
        (None, &Acl::open_unsafe()[..], 0)
    );
    assert_eq!((c.stat.czxid, c.stat.ephemeral_owner), (Zxid(7), 0));
    assert_eq!(t.stat("/p/c/g"), None);
    assert_eq!(t.node("/p").unwrap().stat.cversion, 1);
    assert!(t.ephemerals(S1).is_empty());
    t.verify().unwrap();
}

#[test]
fn malformed_delete_paths_delete_nothing() {
    let mut t = DataTree::new();
    create(&mut t, "/a", 1, CreateKind::Persistent);
    create(&mut t, "/a/b", 2, CreateKind::Persistent);
    for (z, p) in [(3, "//a"), (4, "/a//b"), (5, "/a/b/"), (6, "a"), (7, "")] {
        assert_eq!(
            delete(&mut t, p, z).results,
            vec![OpResult::Error(ErrorCode::NoNode)],
            "{p:?}"
        );
    }
    assert!(t.stat("/a/b").is_some());
    // As in ZooKeeper, an existing parent's pzxid still moved: `/` for `//a`, `/a/b` for
    // `/a/b/`; `/a/` (of `/a//b`) names no node.
    assert_eq!(t.node("/").unwrap().stat.pzxid, Zxid(3));
    assert_eq!(t.node("/a").unwrap().stat.pzxid, Zxid(2));
    assert_eq!(t.node("/a/b").unwrap().stat.pzxid, Zxid(5));
    t.verify().unwrap();
}

#[test]
fn equal_trees_give_equal_snapshots_whatever_their_ids() {
    let mut t = DataTree::new();
    churn(&mut t);
    // Load the same nodes breadth-first with siblings in reverse order: different ids,
    // children inserted in front of each other instead of appended.
    type Stored = (String, Option<Vec<u8>>, Vec<Acl>, StatPersisted);
    let nodes: Vec<Stored> = t
        .walk()
        .map(|(p, n)| (p, n.data.map(<[u8]>::to_vec), n.acl().to_vec(), n.stat))
        .collect();
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    order.sort_by_key(|&i| {
        let depth = nodes[i].0.matches('/').count() - usize::from(nodes[i].0 == "/");
        (depth, std::cmp::Reverse(nodes[i].0.clone()))
    });
    let mut loader = DataTree::loader();
    for i in order {
        let (p, data, acl, stat) = nodes[i].clone();
        loader.insert(p, data, &acl, stat).unwrap();
    }
    let loaded = loader.finish(t.last_zxid()).unwrap();
    loaded.verify().unwrap();
    assert_eq!(loaded.digest(), t.digest());
    assert_eq!(loaded.ephemerals_by_session(), t.ephemerals_by_session());
    assert_eq!(
        loaded.container_candidates(Millis(1 << 40), 1),
        t.container_candidates(Millis(1 << 40), 1)
    );
    let image = |tree: DataTree| Image {
        tree,
        sessions: Default::default(),
    };
    let (a, b) = (
        snapshot::to_bytes(&image(t)),
        snapshot::to_bytes(&image(loaded)),
    );
    assert!(a == b, "equal trees gave different snapshot bytes");
}

#[test]
fn loader_rejects_what_is_not_a_tree() {
    let stat = StatPersisted::default();
    let open = Acl::open_unsafe();
    let mut l = DataTree::loader();
    assert!(l
        .insert("/a".into(), None, &open, stat)
        .unwrap_err()
        .contains("before the root"));
    l.insert("/".into(), None, &open, stat).unwrap();
    assert!(l
        .insert("/".into(), None, &open, stat)
        .unwrap_err()
        .contains("twice"));
    l.insert("/a".into(), None, &open, stat).unwrap();
    l.insert("/a/b".into(), None, &open, stat).unwrap();
    assert!(l
        .insert("/a/b".into(), None, &open, stat)
        .unwrap_err()
        .contains("twice"));
    assert!(l
        .insert("/x/y".into(), None, &open, stat)
        .unwrap_err()
        .contains("before its parent"));
    assert!(l
        .insert("/a//c".into(), None, &open, stat)
        .unwrap_err()
        .contains("invalid"));
    // A parent off the chain of the last node is found by lookup.
    l.insert("/c".into(), None, &open, stat).unwrap();
    l.insert("/a/d".into(), None, &open, stat).unwrap();
    l.insert("/c/e".into(), None, &open, stat).unwrap();
    assert_eq!(l.len(), 6);
    let t = l.finish(Zxid(1)).unwrap();
    assert_eq!(t.children("/a").unwrap(), ["b", "d"]);
    assert_eq!(t.children("/c").unwrap(), ["e"]);
}
