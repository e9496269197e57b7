//! Tests for txns that do not fit the tree, multis and the digest.

use super::*;

#[test]
fn replay_of_txns_that_do_not_fit() {
    let mut t = DataTree::new();
    create(&mut t, "/a", 1, CreateKind::Persistent);
    create(&mut t, "/a/b", 2, CreateKind::Persistent);
    // Create of an existing node (type 1): NodeExists, parent counters move forward.
    let again = |pc| Txn::Create {
        path: "/a/b".into(),
        data: None,
        acl: vec![],
        kind: CreateKind::Persistent,
        parent_cversion: pc,
    };
    let r = t.apply(&hdr(9, S1), &again(5));
    assert_eq!(r.results, vec![OpResult::Error(ErrorCode::NodeExists)]);
    assert!(r.triggers.is_empty());
    assert_eq!(
        (
            t.node("/a").unwrap().stat.cversion,
            t.node("/a").unwrap().stat.pzxid
        ),
        (5, Zxid(9))
    );
    // ...but not backwards.
    t.apply(&hdr(10, S1), &again(3));
    assert_eq!(
        (
            t.node("/a").unwrap().stat.cversion,
            t.node("/a").unwrap().stat.pzxid
        ),
        (5, Zxid(9))
    );
    // Containers and TTL creates get no fix-up.
    let c = Txn::Create {
        path: "/a/b".into(),
        data: None,
        acl: vec![],
        kind: CreateKind::Container,
        parent_cversion: 50,
    };
    assert_eq!(
        t.apply(&hdr(11, S1), &c).results,
        vec![OpResult::Error(ErrorCode::NodeExists)]
    );
    assert_eq!(t.node("/a").unwrap().stat.cversion, 5);
    // Missing parents.
    let orphan = Txn::Create {
        path: "/x/y".into(),
        data: None,
        acl: vec![],
        kind: CreateKind::Persistent,
        parent_cversion: 1,
    };
    assert_eq!(
        t.apply(&hdr(12, S1), &orphan).results,
        vec![OpResult::Error(ErrorCode::NoNode)]
    );
    let orphan_dup = Txn::Create {
        path: "/x".into(),
        data: None,
        acl: vec![],
        kind: CreateKind::Persistent,
        parent_cversion: 1,
    };
    t.apply(&hdr(13, S1), &orphan_dup);
    assert_eq!(t.node("/x").unwrap().stat.czxid, Zxid(13));
    // Delete of a missing child: NoNode, but the parent's pzxid still moves (as ZooKeeper).
    let r = t.apply(
        &hdr(14, S1),
        &Txn::Delete {
            path: "/a/zz".into(),
        },
    );
    assert_eq!(r.results, vec![OpResult::Error(ErrorCode::NoNode)]);
    assert_eq!(t.node("/a").unwrap().stat.pzxid, Zxid(14));
    assert_eq!(
        t.apply(
            &hdr(15, S1),
            &Txn::Delete {
                path: "/q/zz".into()
            }
        )
        .results,
        vec![OpResult::Error(ErrorCode::NoNode)]
    );
    // setData / setACL of missing nodes.
    let sd = Txn::SetData {
        path: "/nope".into(),
        data: None,
        version: 1,
    };
    assert_eq!(
        t.apply(&hdr(16, S1), &sd).results,
        vec![OpResult::Error(ErrorCode::NoNode)]
    );
    let sa = Txn::SetAcl {
        path: "/nope".into(),
        acl: vec![],
        version: 1,
    };
    assert_eq!(
        t.apply(&hdr(17, S1), &sa).results,
        vec![OpResult::Error(ErrorCode::NoNode)]
    );
    // Bad paths, the root, system nodes.
    for bad in ["", "a", "/a/", "//a", "/a/./b"] {
        let txn = Txn::Create {
            path: bad.into(),
            data: None,
            acl: vec![],
            kind: CreateKind::Persistent,
            parent_cversion: 1,
        };
        assert_eq!(
            t.apply(&hdr(18, S1), &txn).results,
            vec![OpResult::Error(ErrorCode::BadArguments)],
            "{bad:?}"
        );
    }
    let root = Txn::Create {
        path: "/".into(),
        data: None,
        acl: vec![],
        kind: CreateKind::Persistent,
        parent_cversion: 1,
    };
    assert_eq!(
        t.apply(&hdr(19, S1), &root).results,
        vec![OpResult::Error(ErrorCode::NodeExists)]
    );
    for sys in path::SYSTEM_PATHS {
        let r = t.apply(&hdr(20, S1), &Txn::Delete { path: sys.into() });
        assert_eq!(r.results, vec![OpResult::Error(ErrorCode::BadArguments)]);
    }
    assert_eq!(t.last_zxid(), Zxid(20));
    t.verify().unwrap();
}

#[test]
fn delete_of_non_empty_node_removes_subtree() {
    let mut t = DataTree::new();
    create(&mut t, "/a", 1, CreateKind::Persistent);
    create(&mut t, "/a/b", 2, CreateKind::Container);
    create(&mut t, "/a/b/e", 3, CreateKind::Ephemeral(S1));
    let r = t.apply(&hdr(4, S1), &Txn::Delete { path: "/a".into() });
    assert_eq!(r.results, vec![OpResult::Deleted]);
    assert_eq!(
        r.triggers,
        vec![
            trig("/a", EventType::NodeDeleted),
            trig("/", EventType::NodeChildrenChanged)
        ]
    );
    assert!(t.node("/a/b").is_none() && t.node("/a/b/e").is_none());
    assert!(t.ephemerals(S1).is_empty());
    assert!(t.container_candidates(Millis(0), 0).is_empty());
    assert_eq!((t.node_count(), t.approximate_data_size()), (5, 44));
    t.verify().unwrap();
}

#[test]
fn multi_applies_in_order() {
    let mut t = DataTree::new();
    let subs = vec![
        Txn::Create {
            path: "/m".into(),
            data: None,
            acl: Acl::open_unsafe(),
            kind: CreateKind::Persistent,
            parent_cversion: 1,
        },
        Txn::Create {
            path: "/m/x".into(),
            data: None,
            acl: Acl::open_unsafe(),
            kind: CreateKind::Ephemeral(S1),
            parent_cversion: 1,
        },
        Txn::SetData {
            path: "/m".into(),
            data: Some(b"v".to_vec()),
            version: 1,
        },
        Txn::Check {
            path: "/m".into(),
            version: 1,
        },
        Txn::Delete {
            path: "/m/x".into(),
        },
    ];
    let r = t.apply(&hdr(7, S1), &Txn::Multi(subs));
    assert_eq!(r.results.len(), 5);
    assert!(matches!(&r.results[0], OpResult::Created { path, .. } if path == "/m"));
    assert!(matches!(&r.results[1], OpResult::Created { stat, .. } if stat.ephemeral_owner == S1));
    assert!(
        matches!(&r.results[2], OpResult::DataSet { stat } if stat.version == 1 && stat.mzxid == Zxid(7))
    );
    assert_eq!(r.results[3..], [OpResult::Checked, OpResult::Deleted]);
    let events: Vec<_> = r
        .triggers
        .iter()
        .map(|t| (t.path.as_str(), t.event))
        .collect();
    assert_eq!(
        events,
        vec![
            ("/m", EventType::NodeCreated),
            ("/", EventType::NodeChildrenChanged),
            ("/m/x", EventType::NodeCreated),
            ("/m", EventType::NodeChildrenChanged),
            ("/m", EventType::NodeDataChanged),
            ("/m/x", EventType::NodeDeleted),
            ("/m", EventType::NodeChildrenChanged),
        ]
    );
    let m = t.stat("/m").unwrap();
    assert_eq!(
        (m.czxid, m.pzxid, m.cversion, m.num_children),
        (Zxid(7), Zxid(7), 2, 0)
    );
    assert!(t.ephemerals(S1).is_empty());
    t.verify().unwrap();
}

#[test]
fn failed_multi_changes_nothing() {
    let mut t = DataTree::new();
    let before = t.digest();
    let subs = vec![
        Txn::Error { err: ErrorCode::Ok },
        Txn::Error {
            err: ErrorCode::BadVersion,
        },
        Txn::Error {
            err: ErrorCode::RuntimeInconsistency,
        },
    ];
    let r = t.apply(&hdr(3, S1), &Txn::Multi(subs));
    assert_eq!(
        r.results,
        vec![
            OpResult::Error(ErrorCode::Ok),
            OpResult::Error(ErrorCode::BadVersion),
            OpResult::Error(ErrorCode::RuntimeInconsistency)
        ]
    );
    // Real sub-txns next to an error are rewritten, as ZooKeeper does.
    let mixed = vec![
        create_txn(&t, "/a", CreateKind::Persistent),
        Txn::Error {
            err: ErrorCode::NoNode,
        },
        Txn::Delete {
            path: "/zookeeper/quota".into(),
        },
        Txn::SetAcl {
            path: "/".into(),
            acl: vec![],
            version: 1,
        },
    ];
    let r = t.apply(&hdr(4, S1), &Txn::Multi(mixed));
    assert_eq!(
        r.results,
        vec![
            OpResult::Error(ErrorCode::Ok),
            OpResult::Error(ErrorCode::NoNode),
            OpResult::Error(ErrorCode::RuntimeInconsistency),
            OpResult::Error(ErrorCode::RuntimeInconsistency)
        ]
    );
    assert!(r.triggers.is_empty());
    // Sub-txns that cannot appear in a multi are refused without effect.
    let odd = vec![
        Txn::SetAcl {
            path: "/".into(),
            acl: vec![],
            version: 9,
        },
        Txn::Multi(vec![]),
        Txn::CloseSession { ephemerals: vec![] },
    ];
    let r = t.apply(&hdr(5, S1), &Txn::Multi(odd));
    assert_eq!(
        r.results,
        vec![OpResult::Error(ErrorCode::MarshallingError); 3]
    );
    // An error txn only moves last_zxid.
    let r = t.apply(
        &hdr(6, S1),
        &Txn::Error {
            err: ErrorCode::NodeExists,
        },
    );
    assert_eq!(r.results, vec![OpResult::Error(ErrorCode::NodeExists)]);
    assert_eq!(t.digest(), before);
    assert_eq!(t.last_zxid(), Zxid(6));
    // Session txns change nothing in the tree.
    let r = t.apply(&hdr(7, S2), &Txn::CreateSession { timeout_ms: 4000 });
    assert_eq!(r.results, vec![OpResult::SessionCreated]);
    assert_eq!(t.digest(), before);
    t.verify().unwrap();
}

#[test]
fn digest_tracks_every_change() {
    let mut t = DataTree::new();
    let mut seen = vec![t.digest()];
    create(&mut t, "/a", 1, CreateKind::Persistent);
    seen.push(t.digest());
    t.apply(
        &hdr(2, S1),
        &Txn::SetData {
            path: "/a".into(),
            data: Some(b"d".to_vec()),
            version: 1,
        },
    );
    seen.push(t.digest());
    t.apply(
        &hdr(3, S1),
        &Txn::SetAcl {
            path: "/a".into(),
            acl: Acl::read_unsafe(),
            version: 1,
        },
    );
    seen.push(t.digest());
    t.apply(&hdr(4, S1), &Txn::Delete { path: "/a".into() });
    seen.push(t.digest());
    let distinct: BTreeSet<_> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "{seen:x?}");
    t.verify().unwrap();
    // Two independent creates in either order give the same tree and digest.
    let (mut x, mut y) = (DataTree::new(), DataTree::new());
    let t1 = Txn::Create {
        path: "/p".into(),
        data: None,
        acl: vec![],
        kind: CreateKind::Persistent,
        parent_cversion: 1,
    };
    let t2 = Txn::Create {
        path: "/zookeeper/q".into(),
        data: None,
        acl: vec![],
        kind: CreateKind::Persistent,
        parent_cversion: 1,
    };
    x.apply(&hdr(1, S1), &t1);
    x.apply(&hdr(2, S1), &t2);
    y.apply(&hdr(2, S1), &t2);
    y.apply(&hdr(1, S1), &t1);
    assert_eq!(x.digest(), y.digest());
    assert_ne!(x.digest(), DataTree::new().digest());
}
