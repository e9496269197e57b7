use super::*;
use crate::error::ErrorCode;
use crate::proto::data::{perms, Id};
use crate::proto::event::EventType;
use crate::txn::{Txn, TxnHeader, CONTAINER_EPHEMERAL_OWNER};

mod layout;
mod replay;

const S1: SessionId = SessionId(0x100);
const S2: SessionId = SessionId(0x200);

fn hdr(zxid: i64, session: SessionId) -> TxnHeader {
    TxnHeader {
        session,
        cxid: 1,
        zxid: Zxid(zxid),
        time: 1000 + zxid,
        op: 0,
    }
}

/// A create txn with the parent cversion prep would compute.
fn create_txn(t: &DataTree, path: &str, kind: CreateKind) -> Txn {
    let pc = t
        .node(path::parent(path))
        .map_or(1, |p| p.stat.cversion.wrapping_add(1));
    Txn::Create {
        path: path.into(),
        data: Some(b"d".to_vec()),
        acl: Acl::open_unsafe(),
        kind,
        parent_cversion: pc,
    }
}

fn create(t: &mut DataTree, path: &str, zxid: i64, kind: CreateKind) -> ApplyResult {
    let session = match kind {
        CreateKind::Ephemeral(s) => s,
        _ => SessionId(0),
    };
    let txn = create_txn(t, path, kind);
    t.apply(&hdr(zxid, session), &txn)
}

fn trig(path: &str, event: EventType) -> Trigger {
    Trigger {
        path: path.into(),
        event,
    }
}

#[test]
fn fresh_tree_matches_zookeeper() {
    let t = DataTree::new();
    let root = t.stat("/").unwrap();
    assert_eq!(
        (root.num_children, root.cversion, root.czxid, root.pzxid),
        (1, -1, Zxid(0), Zxid(0))
    );
    assert_eq!(
        (root.version, root.aversion, root.data_length, root.ctime),
        (0, 0, 0, 0)
    );
    let zk = t.stat("/zookeeper").unwrap();
    assert_eq!((zk.num_children, zk.cversion), (2, -2));
    assert_eq!(t.stat("/zookeeper/quota").unwrap().cversion, 0);
    let cfg = t.node("/zookeeper/config").unwrap();
    assert_eq!(cfg.acl(), &Acl::read_unsafe()[..]);
    assert_eq!(cfg.client_stat().aversion, -1);
    assert_eq!(t.node("/zookeeper").unwrap().acl(), &Acl::open_unsafe()[..]);
    assert_eq!(t.node("/").unwrap().data, Some(&b""[..]));
    assert_eq!(t.children("/").unwrap(), vec!["zookeeper"]);
    assert_eq!(t.children("/zookeeper").unwrap(), vec!["config", "quota"]);
    assert_eq!(t.count_descendants("/"), Some(3));
    assert_eq!(t.count_descendants("/zookeeper"), Some(2));
    assert_eq!(t.count_descendants("/nope"), None);
    assert_eq!((t.node_count(), t.approximate_data_size()), (5, 44));
    assert_eq!(t.last_zxid(), Zxid(0));
    assert_eq!(t.acl_list_count(), 2);
    // "" aliases the root for reads; malformed paths are just missing.
    assert_eq!(t.stat(""), Some(root));
    assert!(t.node("/zookeeper/").is_none());
    t.verify().unwrap();
}

#[test]
fn create_sets_stats_and_triggers() {
    let mut t = DataTree::new();
    let r = create(&mut t, "/a", 5, CreateKind::Persistent);
    let stat = t.stat("/a").unwrap();
    assert_eq!(
        r.results,
        vec![OpResult::Created {
            path: "/a".into(),
            stat
        }]
    );
    assert_eq!(
        r.triggers,
        vec![
            trig("/a", EventType::NodeCreated),
            trig("/", EventType::NodeChildrenChanged)
        ]
    );
    assert_eq!(
        (stat.czxid, stat.mzxid, stat.pzxid),
        (Zxid(5), Zxid(5), Zxid(5))
    );
    assert_eq!((stat.ctime, stat.mtime), (1005, 1005));
    assert_eq!(
        (stat.version, stat.cversion, stat.aversion, stat.data_length),
        (0, 0, 0, 1)
    );
    assert_eq!(stat.ephemeral_owner, SessionId(0));
    // Root: one create, two children → reports 0 (§4.2).
    let root = t.stat("/").unwrap();
    assert_eq!(
        (root.cversion, root.num_children, root.pzxid),
        (0, 2, Zxid(5))
    );
    assert_eq!(t.node("/").unwrap().stat.cversion, 1);
    assert_eq!(t.last_zxid(), Zxid(5));
    assert_eq!(t.approximate_data_size(), 44 + 2 + 1);
    assert_eq!(t.node_count(), 6);
    t.verify().unwrap();
}

#[test]
fn cversion_stored_and_reported() {
    // The reference's probe: /a, /a/b, three more children, delete /a/b.
    let mut t = DataTree::new();
    create(&mut t, "/a", 1, CreateKind::Persistent);
    create(&mut t, "/a/b", 2, CreateKind::Persistent);
    for (i, z) in [3, 4, 5].into_iter().enumerate() {
        create(&mut t, &format!("/a/seq-{i}"), z, CreateKind::Persistent);
    }
    assert_eq!(t.node("/a").unwrap().stat.cversion, 4);
    let r = t.apply(
        &hdr(6, S1),
        &Txn::Delete {
            path: "/a/b".into(),
        },
    );
    assert_eq!(r.results, vec![OpResult::Deleted]);
    assert_eq!(
        r.triggers,
        vec![
            trig("/a/b", EventType::NodeDeleted),
            trig("/a", EventType::NodeChildrenChanged)
        ]
    );
    let a = t.node("/a").unwrap();
    assert_eq!(a.stat.cversion, 4, "deletes leave the stored counter alone");
    let s = a.client_stat();
    assert_eq!((s.num_children, s.cversion, s.pzxid), (3, 5, Zxid(6)));
    // Reported arithmetic wraps like Java's int.
    let mut n = a;
    n.stat.cversion = i32::MAX;
    assert_eq!(
        n.client_stat().cversion,
        i32::MAX.wrapping_mul(2).wrapping_sub(3)
    );
    t.verify().unwrap();
}

#[test]
fn parent_cversion_rules() {
    let mut t = DataTree::new();
    create(&mut t, "/p", 1, CreateKind::Persistent);
    // -1 means "current + 1".
    let txn = Txn::Create {
        path: "/p/x".into(),
        data: None,
        acl: vec![],
        kind: CreateKind::Persistent,
        parent_cversion: -1,
    };
    t.apply(&hdr(2, S1), &txn);
    assert_eq!(t.node("/p").unwrap().stat.cversion, 1);
    // A txn carrying a smaller cversion creates the node but leaves cversion and pzxid.
    let txn = Txn::Create {
        path: "/p/y".into(),
        data: None,
        acl: vec![],
        kind: CreateKind::Persistent,
        parent_cversion: 1,
    };
    t.apply(&hdr(3, S1), &txn);
    let p = t.node("/p").unwrap();
    assert_eq!(
        (p.stat.cversion, p.stat.pzxid, p.children().len()),
        (1, Zxid(2), 2)
    );
    // Wrap-around: MAX + 1 is not larger, so the stored value sticks at MAX (as in Java).
    let mut t = DataTree::new();
    create(&mut t, "/w", 1, CreateKind::Persistent);
    let w = t.lookup("/w").unwrap();
    t.update_stat(w, "/w", |s| s.cversion = i32::MAX);
    let txn = Txn::Create {
        path: "/w/z".into(),
        data: None,
        acl: vec![],
        kind: CreateKind::Persistent,
        parent_cversion: i32::MIN,
    };
    let r = t.apply(&hdr(2, S1), &txn);
    assert!(matches!(r.results[0], OpResult::Created { .. }));
    assert_eq!(
        (
            t.node("/w").unwrap().stat.cversion,
            t.node("/w").unwrap().stat.pzxid
        ),
        (i32::MAX, Zxid(1))
    );
    t.verify().unwrap();
}

#[test]
fn set_data_and_set_acl() {
    let mut t = DataTree::new();
    create(&mut t, "/a", 1, CreateKind::Persistent);
    let root_before = t.stat("/").unwrap();
    let r = t.apply(
        &hdr(2, S1),
        &Txn::SetData {
            path: "/a".into(),
            data: None,
            version: 7,
        },
    );
    let s = t.stat("/a").unwrap();
    assert_eq!(r.results, vec![OpResult::DataSet { stat: s }]);
    assert_eq!(r.triggers, vec![trig("/a", EventType::NodeDataChanged)]);
    assert_eq!(
        (s.version, s.mzxid, s.mtime, s.czxid, s.data_length),
        (7, Zxid(2), 1002, Zxid(1), 0)
    );
    assert_eq!(t.node("/a").unwrap().data, None);
    assert_eq!(
        t.stat("/").unwrap(),
        root_before,
        "setData never touches the parent"
    );
    assert_eq!(t.approximate_data_size(), 44 + 2);

    let acl = vec![Acl {
        perms: perms::READ,
        id: Id::new("digest", "u:h"),
    }];
    let r = t.apply(
        &hdr(3, S1),
        &Txn::SetAcl {
            path: "/a".into(),
            acl: acl.clone(),
            version: 4,
        },
    );
    let s2 = t.stat("/a").unwrap();
    assert_eq!(r.results, vec![OpResult::AclSet { stat: s2 }]);
    assert!(r.triggers.is_empty());
    assert_eq!((s2.aversion, s2.mzxid, s2.version), (4, Zxid(2), 7));
    assert_eq!(t.node("/a").unwrap().acl(), &acl[..]);
    assert_eq!(t.acl_list_count(), 3);
    assert_eq!(t.last_zxid(), Zxid(3));
    // Back to an existing list: the private list is forgotten.
    t.apply(
        &hdr(4, S1),
        &Txn::SetAcl {
            path: "/a".into(),
            acl: Acl::open_unsafe(),
            version: 5,
        },
    );
    assert_eq!(t.acl_list_count(), 2);
    t.verify().unwrap();
}

#[test]
fn ephemerals_and_close_session() {
    let mut t = DataTree::new();
    create(&mut t, "/app", 1, CreateKind::Persistent);
    create(&mut t, "/app/e1", 2, CreateKind::Ephemeral(S1));
    create(&mut t, "/app/e2", 3, CreateKind::Ephemeral(S1));
    create(&mut t, "/e3", 4, CreateKind::Ephemeral(S1));
    create(&mut t, "/other", 5, CreateKind::Ephemeral(S2));
    assert_eq!(t.stat("/app/e1").unwrap().ephemeral_owner, S1);
    assert_eq!(t.ephemerals(S1), vec!["/app/e1", "/app/e2", "/e3"]);
    assert_eq!(t.ephemerals_count(), 4);
    // The txn lists e2 and a stale path; e1 and /e3 are leftovers deleted in path order.
    let close = Txn::CloseSession {
        ephemerals: vec!["/app/e2".into(), "/app/gone".into()],
    };
    let r = t.apply(&hdr(6, S1), &close);
    assert_eq!(r.results, vec![OpResult::SessionClosed]);
    assert_eq!(
        r.triggers,
        vec![
            trig("/app/e2", EventType::NodeDeleted),
            trig("/app", EventType::NodeChildrenChanged),
            trig("/app/e1", EventType::NodeDeleted),
            trig("/app", EventType::NodeChildrenChanged),
            trig("/e3", EventType::NodeDeleted),
            trig("/", EventType::NodeChildrenChanged),
        ]
    );
    assert!(t.ephemerals(S1).is_empty());
    assert!(!t.ephemerals_by_session().contains_key(&S1));
    assert_eq!(t.ephemerals(S2), vec!["/other"]);
    assert_eq!(t.node("/app").unwrap().stat.pzxid, Zxid(6));
    t.verify().unwrap();
}

#[test]
fn containers_and_ttls() {
    let mut t = DataTree::new();
    create(&mut t, "/c", 1, CreateKind::Container);
    create(&mut t, "/t", 2, CreateKind::Ttl(100));
    assert_eq!(
        t.node("/c").unwrap().stat.ephemeral_owner,
        CONTAINER_EPHEMERAL_OWNER
    );
    assert_eq!(t.stat("/c").unwrap().ephemeral_owner, SessionId(0));
    assert_eq!(t.stat("/t").unwrap().ephemeral_owner, SessionId(0));
    assert_eq!(t.node("/t").unwrap().kind(), CreateKind::Ttl(100));
    // mtime of /c is 1001, of /t 1002.
    assert_eq!(t.container_candidates(Millis(1_000_000), 0), vec!["/t"]);
    assert_eq!(
        t.container_candidates(Millis(1102), 0),
        Vec::<String>::new(),
        "TTL needs now - mtime > ttl"
    );
    assert_eq!(t.container_candidates(Millis(1103), 0), vec!["/t"]);
    // Never-used containers only with a max age.
    assert_eq!(t.container_candidates(Millis(1103), 200), vec!["/t"]);
    assert_eq!(t.container_candidates(Millis(1202), 200), vec!["/c", "/t"]);
    // A child protects both; once the container's child is gone it is a candidate at once.
    create(&mut t, "/c/x", 3, CreateKind::Persistent);
    create(&mut t, "/t/x", 4, CreateKind::Persistent);
    assert!(t.container_candidates(Millis(9999), 1).is_empty());
    t.apply(
        &hdr(5, S1),
        &Txn::Delete {
            path: "/c/x".into(),
        },
    );
    assert_eq!(t.container_candidates(Millis(0), 0), vec!["/c"]);
    // setData refreshes a TTL node's mtime.
    t.apply(
        &hdr(6, S1),
        &Txn::Delete {
            path: "/t/x".into(),
        },
    );
    t.apply(
        &hdr(7, S1),
        &Txn::SetData {
            path: "/t".into(),
            data: None,
            version: 1,
        },
    );
    assert_eq!(t.container_candidates(Millis(1107), 0), vec!["/c"]);
    assert_eq!(t.container_candidates(Millis(1108), 0), vec!["/c", "/t"]);
    let r = t.apply(
        &hdr(8, SessionId(0)),
        &Txn::DeleteContainer { path: "/c".into() },
    );
    assert_eq!(r.results, vec![OpResult::Deleted]);
    assert_eq!(r.triggers.len(), 2);
    assert_eq!(t.container_candidates(Millis(1108), 0), vec!["/t"]);
    t.verify().unwrap();
}

#[test]
fn count_descendants_of_subtrees() {
    let mut t = DataTree::new();
    create(&mut t, "/a", 1, CreateKind::Persistent);
    create(&mut t, "/a/b", 2, CreateKind::Persistent);
    create(&mut t, "/a/b/c", 3, CreateKind::Persistent);
    create(&mut t, "/a/d", 4, CreateKind::Persistent);
    assert_eq!(t.count_descendants("/a"), Some(3));
    assert_eq!(t.count_descendants("/a/b"), Some(1));
    assert_eq!(t.count_descendants("/a/d"), Some(0));
    assert_eq!(t.count_descendants("/"), Some(7));
    assert_eq!(t.count_descendants(""), Some(8));
}
