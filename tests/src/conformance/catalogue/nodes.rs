//! Node kinds and Stat bookkeeping: built-in nodes, cversion/pzxid/aversion (§4),
//! sequential naming (§5.2), ephemerals (§5.3), containers (§5.4), TTL nodes (§5.5).

use super::*;
use crate::conformance::spec::{Data, ReqSpec, Scenario};

/// Scenarios that look at the root znode's counters: they must run first, on a fresh
/// server, in this order.
pub fn order_dependent() -> Vec<Scenario> {
    vec![
        builtin_nodes(),
        root_cversion_quirk(),
        empty_path_reads_root(),
    ]
}

pub fn all() -> Vec<Scenario> {
    vec![
        stat_parent_bookkeeping(),
        stat_version_counters(),
        stat_cversion_formula(),
        sequential_naming(),
        sequential_trailing_slash(),
        ephemeral_basic(),
        ephemeral_delete_by_other_session(),
        container_stats(),
        container_reaped_after_last_child(),
        container_never_used_kept(),
        ttl_create_stats(),
        ttl_reaped(),
        ttl_with_child_kept(),
    ]
}

fn builtin_nodes() -> Scenario {
    let mut b = B::bare("builtin_nodes", "a fresh server's /, /zookeeper, /zookeeper/config and /zookeeper/quota: data, ACLs (config is world:READ, aversion -1), Stats (/zookeeper cversion -2), children, counts; /zookeeper/config is not writable");
    b.order_dependent().connect("a");
    for p in ["/", "/zookeeper", "/zookeeper/config", "/zookeeper/quota"] {
        b.req("a", exists(p, false))
            .req("a", get(p, false))
            .req("a", get_acl(p))
            .req("a", children2(p, false))
            .req("a", all_children(p));
    }
    b.req("a", set("/zookeeper/config", "x", -1))
        .req("a", ReqSpec::CloseSession)
        .expect_closed("a");
    b.build()
}

fn root_cversion_quirk() -> Scenario {
    let mut b = B::new("root_cversion_quirk", "after the first user create under / the root reports cversion 0 (2*creates - numChildren, /zookeeper was never created)");
    b.order_dependent()
        .req("a", exists("/", false))
        .req("a", children("/", false));
    b.build()
}

fn empty_path_reads_root() -> Scenario {
    let mut b = B::new("empty_path_reads_root", "reads of the empty path \"\" see the root znode (the tree stores / under \"\" too); getAllChildrenNumber(\"\") counts every node plus one");
    b.order_dependent();
    for p in ["", "/"] {
        b.req("a", get(p, false))
            .req("a", exists(p, false))
            .req("a", get_acl(p))
            .req("a", children2(p, false))
            .req("a", all_children(p));
    }
    b.req("a", sync(""));
    b.build()
}

fn stat_parent_bookkeeping() -> Scenario {
    let mut b = B::new("stat_parent_bookkeeping", "create/delete move the parent's numChildren, cversion and pzxid; setData and setACL on a child leave the parent alone; a fresh node has czxid=mzxid=pzxid");
    let (root, c1, c2) = (b.p(""), b.p("c1"), b.p("c2"));
    b.req("a", exists(&root, false))
        .req("a", create2(&c1, "", 0))
        .req("a", exists(&root, false))
        .req("a", create2(&c2, "", 0))
        .req("a", exists(&root, false))
        .req("a", set(&c1, "x", -1))
        .req("a", set_acl(&c1, open(), -1))
        .req("a", exists(&root, false))
        .req("a", delete(&c1, -1))
        .req("a", exists(&root, false))
        .req("a", exists(&c2, false));
    b.build()
}

fn stat_version_counters() -> Scenario {
    let mut b = B::new("stat_version_counters", "setACL bumps aversion only (mzxid/mtime/version unchanged); setACL BadVersion checks aversion; setData bumps version and mzxid");
    let x = b.p("x");
    b.req("a", create2(&x, "d", 0))
        .req("a", set_acl(&x, open(), 0))
        .req("a", set_acl(&x, open(), 0))
        .req("a", set_acl(&x, open(), 1))
        .req("a", exists(&x, false))
        .req("a", set(&x, "d", 0))
        .req("a", set(&x, "d", 1))
        .req("a", get_acl(&x));
    b.build()
}

fn stat_cversion_formula() -> Scenario {
    let mut b = B::new(
        "stat_cversion_formula",
        "reported cversion = 2*creates - numChildren: three creates, two deletes, one re-create",
    );
    let root = b.p("");
    let kids: Vec<String> = ["k1", "k2", "k3"].iter().map(|k| b.p(k)).collect();
    for k in &kids {
        b.req("a", create(k, "", 0))
            .req("a", children2(&root, false));
    }
    b.req("a", delete(&kids[0], -1))
        .req("a", children2(&root, false))
        .req("a", delete(&kids[1], -1))
        .req("a", children2(&root, false))
        .req("a", create(&kids[0], "", 0))
        .req("a", children2(&root, false));
    b.build()
}

fn sequential_naming() -> Scenario {
    let mut b = B::new("sequential_naming", "sequential suffix = %010d of the parent's create counter before the create; non-sequential creates advance it, deletes do not; ephemeral and create2 sequential variants");
    let (s, sb) = (b.p("s"), b.p("s/b"));
    let seq = b.p("s/seq-");
    b.req("a", create(&s, "", 0))
        .req("a", create(&sb, "", 0))
        .req("a", create(&seq, "", SEQUENTIAL))
        .req("a", create(&seq, "", SEQUENTIAL))
        .req("a", create(&seq, "", EPHEMERAL_SEQUENTIAL))
        .req("a", delete(&sb, -1))
        .req("a", create2(&seq, "x", SEQUENTIAL))
        .req("a", create(&sb, "", 0))
        .req("a", create(&seq, "", SEQUENTIAL))
        .req("a", children2(&s, false));
    let fresh = b.p("fresh");
    let first = b.p("fresh/n");
    b.req("a", create(&fresh, "", 0))
        .req("a", create(&first, "", SEQUENTIAL));
    b.build()
}

fn sequential_trailing_slash() -> Scenario {
    let mut b = B::new("sequential_trailing_slash", "a sequential create of \"/p/\" names the child by the number alone; non-sequential \"/p/\" is BadArguments");
    let (p, ps) = (b.p("p"), format!("{}/", b.p("p")));
    b.req("a", create(&p, "", 0))
        .req("a", create(&ps, "", SEQUENTIAL))
        .req("a", create(&ps, "", PERSISTENT))
        .req("a", create(&ps, "", EPHEMERAL_SEQUENTIAL))
        .req("a", children(&p, false));
    b.build()
}

fn ephemeral_basic() -> Scenario {
    let mut b = B::new("ephemeral_basic", "ephemeralOwner is the session; no children of any kind under an ephemeral (-108); the node goes when its session closes");
    let (e, ec, ecs) = (b.p("e"), b.p("e/c"), b.p("e/s-"));
    b.connect("b")
        .req("a", create2(&e, "", EPHEMERAL))
        .req("b", exists(&e, false))
        .req("a", create(&ec, "", PERSISTENT))
        .req("a", create(&ecs, "", SEQUENTIAL))
        .req("a", create(&ec, "", EPHEMERAL))
        .req("a", container(&ec, CONTAINER))
        .req("a", ttl(&ec, TTL, 60_000))
        .req("a", ephemerals("/"))
        .req("a", ReqSpec::CloseSession)
        .expect_closed("a")
        .req("b", exists(&e, false));
    b.build()
}

fn ephemeral_delete_by_other_session() -> Scenario {
    let mut b = B::new(
        "ephemeral_delete_by_other_session",
        "another session may delete an ephemeral; the owner's getEphemerals no longer lists it",
    );
    let e = b.p("e");
    b.connect("b")
        .req("a", create(&e, "", EPHEMERAL))
        .req("b", delete(&e, -1))
        .req("a", ephemerals("/"))
        .req("a", exists(&e, false));
    b.build()
}

fn container_stats() -> Scenario {
    let mut b = B::new("container_stats", "createContainer (op 19) answers Create2Response with ephemeralOwner 0; op 19 with flags 0 still makes a container; op 1 with flag 4 an ordinary node; containers accept children");
    let (c, c0, plain, child) = (b.p("c"), b.p("c0"), b.p("plain"), b.p("c/child"));
    b.req("a", container(&c, CONTAINER))
        .req("a", container(&c0, PERSISTENT))
        .req("a", create(&plain, "", CONTAINER))
        .req("a", create2(&child, "", 0))
        .req("a", exists(&c, false))
        .req("a", exists(&c0, false))
        .req("a", exists(&plain, false))
        .req("a", container(&c, CONTAINER));
    b.build()
}

fn container_reaped_after_last_child() -> Scenario {
    let mut b = B::new("container_reaped_after_last_child", "a container whose last child is deleted is reaped (deleteContainer txn): NodeDeleted to its exists watcher, NodeChildrenChanged to the parent's child watcher");
    let (root, c, child) = (b.p(""), b.p("c"), b.p("c/child"));
    b.req("a", container(&c, CONTAINER))
        .req("a", create(&child, "", 0))
        .req("a", exists(&c, true))
        .req("a", children(&root, true))
        .req("a", delete(&child, -1))
        .events_wait("a", 8000, 2)
        .req("a", exists(&c, false))
        .req("a", exists(&root, false));
    b.build()
}

fn container_never_used_kept() -> Scenario {
    let mut b = B::new("container_never_used_kept", "a container that never had a child is not reaped (maxNeverUsedIntervalMs defaults to 0 = never)");
    let c = b.p("c");
    b.req("a", container(&c, CONTAINER))
        .req("a", exists(&c, true))
        .events_wait("a", 2500, 1)
        .req("a", exists(&c, false));
    b.build()
}

fn ttl_create_stats() -> Scenario {
    let mut b = B::new("ttl_create_stats", "createTTL (op 21) with flags 5 and 6: Create2Response, ephemeralOwner 0, sequential suffix; TTL nodes accept children; the largest ttl 2^40-1 is accepted");
    let (t, ts, tc, tmax) = (b.p("t"), b.p("ts-"), b.p("t/child"), b.p("tmax"));
    b.req("a", ttl(&t, TTL, 3_600_000))
        .req("a", ttl(&ts, TTL_SEQUENTIAL, 3_600_000))
        .req("a", create(&tc, "", 0))
        .req("a", ttl(&tmax, TTL, (1 << 40) - 1))
        .req("a", exists(&t, false))
        .req("a", get(&t, false));
    b.build()
}

fn ttl_reaped() -> Scenario {
    let mut b = B::new("ttl_reaped", "a childless TTL node older than its ttl is reaped by the container manager: NodeDeleted to its exists watcher");
    let t = b.p("t");
    b.req("a", ttl(&t, TTL, 200))
        .req("a", exists(&t, true))
        .events_wait("a", 8000, 1)
        .req("a", exists(&t, false));
    b.build()
}

fn ttl_with_child_kept() -> Scenario {
    let mut b = B::new(
        "ttl_with_child_kept",
        "a TTL node with a child is not reaped even after its ttl",
    );
    let (t, c) = (b.p("t"), b.p("t/c"));
    b.req("a", ttl(&t, TTL, 200))
        .req("a", create(&c, "", 0))
        .req("a", exists(&t, true))
        .events_wait("a", 2500, 1)
        .req("a", exists(&t, false))
        .req(
            "a",
            ReqSpec::SetData {
                path: c.clone(),
                data: Some(Data::Text("keep".into())),
                version: -1,
            },
        );
    b.build()
}
