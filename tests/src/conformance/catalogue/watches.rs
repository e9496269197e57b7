//! Watches (§7): registration, one-shot firing, dedup, persistent and recursive modes,
//! event order against replies, setWatches catch-up, removeWatches/checkWatches.

use serde_json::json;

use super::*;
use crate::conformance::spec::{ReqSpec, Scenario, ZxidRef};

pub fn all() -> Vec<Scenario> {
    vec![
        watch_exists_on_missing_node(),
        watch_getdata_one_shot(),
        watch_nonode_reads_register_nothing(),
        watch_children(),
        watch_dedup(),
        watch_own_event_before_reply(),
        watch_create_event_order(),
        watch_delete_event_order(),
        watch_setacl_fires_nothing(),
        watch_persistent(),
        watch_persistent_recursive(),
        watch_persistent_plus_standard(),
        watch_multi_events(),
        set_watches_catch_up(),
        set_watches_zero_zxid(),
        set_watches2_persistent_no_catch_up(),
        remove_watches_standard(),
        remove_watches_persistent(),
        remove_watches_bad_type(),
        watch_session_close_events(),
        watch_acl_filter(),
        watch_lost_on_reconnect(),
    ]
}

/// A scenario with a second connection `b` (the writer) next to `a` (the watcher).
fn two(name: &str, desc: &str) -> B {
    let mut b = B::new(name, desc);
    b.connect("b");
    b
}

fn watch_exists_on_missing_node() -> Scenario {
    let mut b = two("watch_exists_on_missing_node", "exists with watch on a missing node answers NoNode and still registers: the create fires NodeCreated once");
    let x = b.p("x");
    b.req("a", exists(&x, true))
        .req("b", create(&x, "", 0))
        .events("a")
        .req("b", set(&x, "d", -1))
        .events("a");
    b.build()
}

fn watch_getdata_one_shot() -> Scenario {
    let mut b = two("watch_getdata_one_shot", "a getData watch fires once (NodeDataChanged, even for identical data); re-armed, it reports NodeDeleted");
    let x = b.p("x");
    b.req("b", create(&x, "d", 0))
        .req("a", get(&x, true))
        .req("b", set(&x, "d", -1))
        .req("b", set(&x, "e", -1))
        .events("a")
        .req("a", get(&x, true))
        .req("b", delete(&x, -1))
        .events("a");
    b.build()
}

fn watch_nonode_reads_register_nothing() -> Scenario {
    let mut b = two("watch_nonode_reads_register_nothing", "getData/getChildren with watch on a missing node register nothing; multiRead ignores watch flags");
    let (m, mc, y) = (b.p("m"), b.p("m/c"), b.p("y"));
    b.req("b", create(&y, "", 0))
        .req("a", get(&m, true))
        .req("a", children(&m, true))
        .req("a", children2(&m, true))
        .req("a", multi_read(vec![get(&y, true), children(&y, true)]))
        .req("b", create(&m, "", 0))
        .req("b", create(&mc, "", 0))
        .req("b", set(&y, "d", -1))
        .req("b", create(&format!("{y}/c"), "", 0))
        .events("a");
    b.build()
}

fn watch_children() -> Scenario {
    let mut b = two("watch_children", "child watches: NodeChildrenChanged once per arming on create and delete of a child, nothing for the node's own data change or a grandchild, NodeDeleted when the node goes");
    let (x, c1, c2, g) = (b.p("x"), b.p("x/c1"), b.p("x/c2"), b.p("x/c2/g"));
    b.req("b", create(&x, "", 0))
        .req("a", children(&x, true))
        .req("b", create(&c1, "", 0))
        .req("b", create(&c2, "", 0))
        .events("a")
        .req("a", children2(&x, true))
        .req("b", set(&x, "d", -1))
        .req("b", create(&g, "", 0))
        .events("a")
        .req("b", delete(&c1, -1))
        .events("a")
        .req("b", delete(&g, -1))
        .req("b", delete(&c2, -1))
        .req("a", children(&x, true))
        .req("b", delete(&x, -1))
        .events("a");
    b.build()
}

fn watch_dedup() -> Scenario {
    let mut b = two("watch_dedup", "a connection gets one event per path per trigger however many times and ways it registered (exists + getData; data + child watch on delete)");
    let (x, y) = (b.p("x"), b.p("y"));
    b.req("b", create(&x, "", 0))
        .req("b", create(&y, "", 0))
        .req("a", exists(&x, true))
        .req("a", get(&x, true))
        .req("a", get(&x, true))
        .req("b", set(&x, "d", -1))
        .events("a")
        .req("a", exists(&y, true))
        .req("a", get(&y, true))
        .req("a", children(&y, true))
        .req("b", delete(&y, -1))
        .events("a");
    b.build()
}

fn watch_own_event_before_reply() -> Scenario {
    let mut b = B::new(
        "watch_own_event_before_reply",
        "the writer's own watch events arrive before the reply to its write",
    );
    let (root, x, z) = (b.p(""), b.p("x"), b.p("z"));
    b.req("a", create(&x, "", 0))
        .req("a", get(&x, true))
        .req("a", set(&x, "d", -1))
        .req("a", exists(&z, true))
        .req("a", children(&root, true))
        .req("a", create(&z, "", 0))
        .req("a", exists(&x, true))
        .req("a", delete(&x, -1));
    b.build()
}

fn watch_create_event_order() -> Scenario {
    let mut b = two(
        "watch_create_event_order",
        "one create: NodeCreated for the node first, then NodeChildrenChanged for the parent",
    );
    let (root, z) = (b.p(""), b.p("z"));
    b.req("a", children(&root, true))
        .req("a", exists(&z, true))
        .req("b", create(&z, "", 0))
        .events("a");
    b.build()
}

fn watch_delete_event_order() -> Scenario {
    let mut b = two("watch_delete_event_order", "one delete: NodeDeleted for the node (once despite data + child watch), then NodeChildrenChanged for the parent");
    let (root, x) = (b.p(""), b.p("x"));
    b.req("b", create(&x, "", 0))
        .req("a", children(&root, true))
        .req("a", children(&x, true))
        .req("a", get(&x, true))
        .req("b", delete(&x, -1))
        .events("a");
    b.build()
}

fn watch_setacl_fires_nothing() -> Scenario {
    let mut b = two(
        "watch_setacl_fires_nothing",
        "setACL fires no watch; the armed watches still fire on the next setData",
    );
    let x = b.p("x");
    b.req("b", create(&x, "", 0))
        .req("a", get(&x, true))
        .req("a", children(&x, true))
        .req("b", set_acl(&x, open(), -1))
        .events("a")
        .req("b", set(&x, "d", -1))
        .events("a");
    b.build()
}

fn watch_persistent() -> Scenario {
    let mut b = two("watch_persistent", "addWatch mode 0 on a missing node: NodeCreated, NodeDataChanged, NodeChildrenChanged for direct children only, NodeDeleted, and it survives to see the node re-created");
    let (x, c, d) = (b.p("x"), b.p("x/c"), b.p("x/c/d"));
    b.req("a", add_watch(&x, 0))
        .req("b", create(&x, "", 0))
        .req("b", set(&x, "d", -1))
        .req("b", create(&c, "", 0))
        .req("b", set(&c, "d", -1))
        .req("b", create(&d, "", 0))
        .events("a")
        .req("b", delete(&d, -1))
        .req("b", delete(&c, -1))
        .req("b", delete(&x, -1))
        .req("b", create(&x, "", 0))
        .events("a");
    b.build()
}

fn watch_persistent_recursive() -> Scenario {
    let mut b = two("watch_persistent_recursive", "addWatch mode 1: NodeCreated/NodeDataChanged/NodeDeleted for the node and every descendant, never NodeChildrenChanged");
    let (x, c, d) = (b.p("x"), b.p("x/c"), b.p("x/c/d"));
    b.req("a", add_watch(&x, 1))
        .req("b", create(&x, "", 0))
        .req("b", create(&c, "", 0))
        .req("b", create(&d, "", 0))
        .req("b", set(&d, "d", -1))
        .req("b", set(&x, "d", -1))
        .events("a")
        .req("b", delete(&d, -1))
        .req("b", delete(&c, -1))
        .req("b", delete(&x, -1))
        .events("a")
        .req("a", ReqSpec::Sync { path: x.clone() });
    b.build()
}

fn watch_persistent_plus_standard() -> Scenario {
    let mut b = two("watch_persistent_plus_standard", "a persistent and a standard watch on the same path from one connection yield one event; the standard one is consumed, the persistent one stays");
    let x = b.p("x");
    b.difference("a standard watch added on a path with a persistent watch leaves the persistent watch in place (ZOOKEEPER-4466, fixed in 3.9); 3.8.0 turns it into a one-shot watch");
    b.req("b", create(&x, "", 0))
        .req("a", add_watch(&x, 0))
        .req("a", get(&x, true))
        .req("b", set(&x, "1", -1))
        .events("a")
        .req("b", set(&x, "2", -1))
        .events("a")
        .corral_replace(
            "ZOOKEEPER-4466: the persistent watch survives the one-shot registration",
            vec![
                json!({"event": {"err": 0, "path": x, "state": 3, "type": 3, "zxid": -1}}),
                json!({"reply": {"body": {}, "err": 0, "xid": -2, "zxid": "z+4"}}),
            ],
        )
        .req("a", add_watch(&x, 1))
        .req("b", set(&x, "3", -1))
        .events("a");
    b.build()
}

fn watch_multi_events() -> Scenario {
    let mut b = two(
        "watch_multi_events",
        "a multi fires each sub-op's events in sub-op order; a failed multi fires nothing",
    );
    let (root, x, y, z, w) = (b.p(""), b.p("x"), b.p("y"), b.p("z"), b.p("w"));
    b.req("b", create(&z, "", 0))
        .req("b", create(&w, "", 0))
        .req("a", exists(&x, true))
        .req("a", exists(&y, true))
        .req("a", get(&z, true))
        .req("a", exists(&w, true))
        .req("a", children(&root, true))
        .req(
            "b",
            multi(vec![
                create(&x, "", 0),
                set(&z, "d", -1),
                create(&y, "", 0),
                delete(&w, -1),
            ]),
        )
        .events("a")
        .req("a", get(&z, true))
        .req("b", multi(vec![set(&z, "e", -1), delete(&w, -1)]))
        .events("a");
    b.build()
}

fn set_watches_catch_up() -> Scenario {
    let mut b = two("set_watches_catch_up", "setWatches (101) with relativeZxid: changed data → NodeDataChanged, missing → NodeDeleted, existing exist-watch → NodeCreated, changed children → NodeChildrenChanged, all before the reply; the rest register and fire later");
    let p = |n: &str| b.p(n);
    let (d1, d2, d3, c1, c2, c3, e1, e2) = (
        p("d1"),
        p("d2"),
        p("d3"),
        p("c1"),
        p("c2"),
        p("c3"),
        p("e1"),
        p("e2"),
    );
    for n in [&d1, &d2, &d3, &c1, &c2] {
        b.req("b", create(n, "", 0));
    }
    b.mark("before")
        .req("b", set(&d1, "changed", -1))
        .req("b", delete(&d2, -1))
        .req("b", create(&format!("{c1}/k"), "", 0))
        .req("b", create(&e1, "", 0))
        .connect("w")
        .req_xid(
            "w",
            -8,
            ReqSpec::SetWatches {
                relative_zxid: ZxidRef::Mark("before".into()),
                data: vec![d1.clone(), d2.clone(), d3.clone()],
                exist: vec![e1.clone(), e2.clone()],
                child: vec![c1.clone(), c2.clone(), c3.clone()],
            },
        )
        .req("b", set(&d3, "x", -1))
        .req("b", create(&e2, "", 0))
        .req("b", create(&format!("{c2}/k"), "", 0))
        .req("b", set(&d1, "again", -1))
        .events("w");
    b.build()
}

fn set_watches_zero_zxid() -> Scenario {
    let mut b = two(
        "set_watches_zero_zxid",
        "setWatches with relativeZxid 0 reports every existing data/child watch as changed at once",
    );
    let (x, y) = (b.p("x"), b.p("y"));
    b.req("b", create(&x, "", 0))
        .req("b", create(&y, "", 0))
        .connect("w")
        .req(
            "w",
            ReqSpec::SetWatches {
                relative_zxid: ZxidRef::Literal(0),
                data: vec![x.clone()],
                exist: vec![],
                child: vec![y.clone()],
            },
        )
        .req("b", set(&x, "d", -1))
        .events("w");
    b.build()
}

fn set_watches2_persistent_no_catch_up() -> Scenario {
    let mut b = two("set_watches2_persistent_no_catch_up", "setWatches2 (105): persistent and recursive watches re-register with no catch-up events; they fire on later changes");
    let (p, r, d) = (b.p("p"), b.p("r"), b.p("d"));
    b.req("b", create(&p, "", 0))
        .req("b", create(&r, "", 0))
        .req("b", create(&d, "", 0))
        .mark("before")
        .req("b", set(&p, "changed", -1))
        .req("b", create(&format!("{r}/new"), "", 0))
        .req("b", set(&d, "changed", -1))
        .connect("w")
        .req(
            "w",
            ReqSpec::SetWatches2 {
                relative_zxid: ZxidRef::Mark("before".into()),
                data: vec![d.clone()],
                exist: vec![],
                child: vec![],
                persistent: vec![p.clone()],
                persistent_recursive: vec![r.clone()],
            },
        )
        .events("w")
        .req("b", set(&p, "again", -1))
        .req("b", create(&format!("{r}/new/deeper"), "", 0))
        .req("b", create(&format!("{p}/child"), "", 0))
        .events("w");
    b.build()
}

fn remove_watches_standard() -> Scenario {
    let mut b = two("remove_watches_standard", "removeWatches/checkWatches with Children(1), Data(2), Any(3): NoWatcher (-121) when nothing matches; checkWatches does not remove; removed watches fire nothing");
    let (x, m) = (b.p("x"), b.p("missing"));
    b.req("b", create(&x, "", 0))
        .req("a", check_watches(&x, 2))
        .req("a", get(&x, true))
        .req("a", children(&x, true))
        .req("a", check_watches(&x, 2))
        .req("a", check_watches(&x, 2))
        .req("a", remove_watches(&x, 2))
        .req("a", remove_watches(&x, 2))
        .req("a", check_watches(&x, 1))
        .req("a", check_watches(&x, 3))
        .req("a", remove_watches(&x, 3))
        .req("a", check_watches(&x, 1))
        .req("a", check_watches(&x, 3))
        .req("a", remove_watches(&m, 3))
        .req("a", exists(&m, true))
        .req("a", check_watches(&m, 2))
        .req("a", remove_watches(&m, 1))
        .req("a", remove_watches(&m, 2))
        .req("b", set(&x, "d", -1))
        .req("b", create(&m, "", 0))
        .events("a");
    b.build()
}

fn remove_watches_persistent() -> Scenario {
    let mut b = two("remove_watches_persistent", "checkWatches/removeWatches against persistent (4) and recursive (5) watches, and Data/Any against a persistent watch");
    let (x, y) = (b.p("x"), b.p("y"));
    b.req("b", create(&x, "", 0))
        .req("b", create(&y, "", 0))
        .req("a", add_watch(&x, 0))
        .req("a", add_watch(&y, 1))
        .req("a", check_watches(&x, 4))
        .req("a", check_watches(&x, 2))
        .req("a", check_watches(&x, 1))
        .req("a", check_watches(&y, 5))
        .req("a", check_watches(&y, 2))
        .req("a", remove_watches(&x, 2))
        .req("a", remove_watches(&x, 4))
        .req("a", remove_watches(&y, 5))
        .req("a", remove_watches(&y, 3))
        .req("b", set(&x, "d", -1))
        .req("b", set(&y, "d", -1))
        .events("a");
    b.build()
}

fn remove_watches_bad_type() -> Scenario {
    let mut b = two(
        "remove_watches_bad_type",
        "checkWatches/removeWatches with an undefined watcher type (0, 9)",
    );
    let x = b.p("x");
    b.req("b", create(&x, "", 0))
        .req("a", get(&x, true))
        .req("a", check_watches(&x, 9))
        .req("a", remove_watches(&x, 0))
        .req("a", ReqSpec::Ping);
    b.build()
}

fn watch_session_close_events() -> Scenario {
    // One ephemeral only: ZooKeeper deletes a session's ephemerals in Java HashSet order,
    // which no other implementation can (or should) reproduce.
    let mut b = two("watch_session_close_events", "closing a session deletes its ephemeral and fires NodeDeleted and NodeChildrenChanged to other sessions");
    let (root, e) = (b.p(""), b.p("e"));
    b.req("a", create(&e, "", EPHEMERAL))
        .req("b", get(&e, true))
        .req("b", children(&root, true))
        .req("a", ReqSpec::CloseSession)
        .expect_closed("a")
        .events("b")
        .req("b", children(&root, false));
    b.build()
}

fn watch_acl_filter() -> Scenario {
    let mut b = two("watch_acl_filter", "events about nodes the watcher cannot READ (Debian 3.8.0 carries the CVE-2024-23944 event filter): recursive and standard watches");
    b.difference("exists without READ → NoAuth (-102) with no body, instead of 3.8.0's Stat");
    let (s, secret, open_node) = (b.p("s"), b.p("s/secret"), b.p("s/open"));
    b.req("b", digest("alice:secret"))
        .req("b", create(&s, "", 0))
        .req("a", add_watch(&s, 1))
        .req("a", exists(&secret, true))
        .req("b", create_acl(&secret, vec![acl(31, "digest", ALICE)], 0))
        .req("b", create(&open_node, "", 0))
        .events("a")
        .req("b", set(&secret, "d", -1))
        .req("b", set(&open_node, "d", -1))
        .events("a")
        .req("a", exists(&secret, true))
        .corral_patch(
            "ZOOKEEPER-2590: exists requires READ since 3.8.4/3.9.2; Corral applies the fix",
            &[
                ("/0/reply/err", json!(-102)),
                ("/0/reply/body", json!(null)),
            ],
        )
        .req("b", delete(&secret, -1))
        .events("a");
    b.build()
}

fn watch_lost_on_reconnect() -> Scenario {
    let mut b = two("watch_lost_on_reconnect", "watches belong to the connection: after resuming the session on a new connection, old watches are gone");
    let x = b.p("x");
    let mut resume = conn_spec();
    resume.resume = Some("a".into());
    b.req("b", create(&x, "", 0))
        .req("a", get(&x, true))
        .close("a")
        .connect_with("a2", resume)
        .req("b", set(&x, "d", -1))
        .events("a2")
        .req("a2", exists(&x, false));
    b.build()
}
