//! One scenario per opcode family of reference §3.3: the success shape and the plain
//! error replies.

use serde_json::json;

use super::*;
use crate::conformance::spec::{CreateSpec, Data, ReqSpec, Scenario};

pub fn all() -> Vec<Scenario> {
    vec![
        create_basic(),
        create_data_forms(),
        create_flags(),
        delete_basic(),
        exists_getdata_basic(),
        setdata_basic(),
        getchildren_basic(),
        sync_any_path(),
        ping_xids(),
        check_outside_multi(),
        all_children_number(),
        get_ephemerals(),
        reconfig_disabled(),
        sasl_without_sasl(),
    ]
}

fn create_basic() -> Scenario {
    let mut b = B::new("create_basic", "create (op 1) returns the path; create2 (op 15) the path and Stat; NodeExists; create of / itself");
    let (x, y) = (b.p("x"), b.p("y"));
    b.req("a", create(&x, "hello", PERSISTENT))
        .req("a", create2(&y, "world", PERSISTENT))
        .req("a", get(&x, false))
        .req("a", exists(&y, false))
        .req("a", create(&x, "again", PERSISTENT))
        .req("a", create2(&y, "again", PERSISTENT))
        .req("a", create("/", "", PERSISTENT))
        .req("a", get(&x, false));
    b.build()
}

fn create_data_forms() -> Scenario {
    let mut b = B::new("create_data_forms", "null data vs empty data vs binary data: getData keeps null distinct (length -1, dataLength 0)");
    let (n, e, bin) = (b.p("null"), b.p("empty"), b.p("bin"));
    let mk = |path: &str, data: Option<Data>| {
        ReqSpec::Create2(CreateSpec {
            path: path.to_owned(),
            data,
            acl: Some(open()),
            flags: 0,
            ttl: None,
        })
    };
    b.req("a", mk(&n, None))
        .req("a", mk(&e, Some(Data::Text(String::new()))))
        .req(
            "a",
            mk(
                &bin,
                Some(Data::Hex {
                    hex: "00ff10fe".into(),
                }),
            ),
        )
        .req("a", get(&n, false))
        .req("a", get(&e, false))
        .req("a", get(&bin, false))
        .req(
            "a",
            ReqSpec::SetData {
                path: e.clone(),
                data: None,
                version: -1,
            },
        )
        .req("a", get(&e, false));
    b.build()
}

fn create_flags() -> Scenario {
    let mut b = B::new("create_flags", "create/create2 with every flag value 0..6, plus 7, -1 and 256 (BadArguments); op 1 with flag 4 makes an ordinary node; op 1/15 with TTL flags is BadArguments");
    for f in 0..=7 {
        let p = b.p(&format!("c{f}-"));
        b.req("a", create(&p, "", f));
    }
    for f in [-1, 256] {
        let p = b.p(&format!("bad{f}"));
        b.req("a", create(&p, "", f));
    }
    for f in 0..=6 {
        let p = b.p(&format!("d{f}-"));
        b.req("a", create2(&p, "", f));
    }
    let p4 = b.p("c4-");
    b.req("a", exists(&p4, false));
    b.build()
}

fn delete_basic() -> Scenario {
    let mut b = B::new("delete_basic", "delete: success with -1 and exact version, NoNode, BadVersion, NotEmpty, and the root's stat after each");
    let (x, y, yc, root) = (b.p("x"), b.p("y"), b.p("y/c"), b.p(""));
    b.req("a", create(&x, "", 0))
        .req("a", set(&x, "v1", -1))
        .req("a", delete(&x, 0))
        .req("a", delete(&x, 5))
        .req("a", delete(&x, 1))
        .req("a", delete(&x, -1))
        .req("a", create(&y, "", 0))
        .req("a", create(&yc, "", 0))
        .req("a", delete(&y, -1))
        .req("a", delete(&y, 3))
        .req("a", delete(&yc, -1))
        .req("a", delete(&y, -1))
        .req("a", exists(&root, false));
    b.build()
}

fn exists_getdata_basic() -> Scenario {
    let mut b = B::new(
        "exists_getdata_basic",
        "exists and getData on present and missing nodes: NoNode replies carry no body",
    );
    let (x, m) = (b.p("x"), b.p("missing"));
    b.req("a", create(&x, "data", 0))
        .req("a", exists(&x, false))
        .req("a", exists(&m, false))
        .req("a", get(&x, false))
        .req("a", get(&m, false))
        .req("a", children(&m, false))
        .req("a", children2(&m, false))
        .req("a", get_acl(&m));
    b.build()
}

fn setdata_basic() -> Scenario {
    let mut b = B::new("setdata_basic", "setData: version and mzxid/mtime move, identical data still bumps version, BadVersion, NoNode, parent untouched");
    let (x, root, m) = (b.p("x"), b.p(""), b.p("missing"));
    b.req("a", create(&x, "one", 0))
        .req("a", set(&x, "two", 0))
        .req("a", set(&x, "two", 1))
        .req("a", set(&x, "three", 1))
        .req("a", set(&x, "three", -1))
        .req("a", set(&m, "x", -1))
        .req("a", get(&x, false))
        .req("a", exists(&root, false));
    b.build()
}

fn getchildren_basic() -> Scenario {
    let mut b = B::new("getchildren_basic", "getChildren returns names only (sorted here); getChildren2 adds the parent's Stat; a leaf has an empty list");
    let root = b.p("");
    for c in ["b", "a", "c"] {
        let p = b.p(c);
        b.req("a", create(&p, "", 0));
    }
    let leaf = b.p("a");
    b.req("a", children(&root, false))
        .req("a", children2(&root, false))
        .req("a", children(&leaf, false))
        .req("a", children2(&leaf, false));
    b.build()
}

fn sync_any_path() -> Scenario {
    let mut b = B::new(
        "sync_any_path",
        "sync echoes any path string, existing or not, valid or not",
    );
    let root = b.p("");
    b.req("a", sync(&root))
        .req("a", sync("/"))
        .req("a", sync("/does/not/exist"))
        .req("a", sync("no-slash"))
        .req("a", sync("/bad//path/"))
        .req("a", sync(""));
    b.build()
}

fn ping_xids() -> Scenario {
    let mut b = B::bare(
        "ping_xids",
        "ping replies always use xid -2 whatever the request xid; err 0, no body",
    );
    b.connect("a")
        .req("a", ReqSpec::Ping)
        .req_xid("a", 77, ReqSpec::Ping)
        .req_xid("a", 0, ReqSpec::Ping)
        .req("a", ReqSpec::CloseSession)
        .expect_closed("a");
    b.build()
}

fn check_outside_multi() -> Scenario {
    let mut b = B::new("check_outside_multi", "op 13 check outside a multi: Corral answers Unimplemented and closes (ZooKeeper HEAD); 3.8.0 writes an unreadable txn, so it is never sent to ZooKeeper");
    let x = b.p("x");
    b.difference("op 13 outside multi is rejected with Unimplemented (-6) and the connection closed, as in ZooKeeper HEAD (ZOOKEEPER-2623); 3.8.0 corrupts its log. The expected reply is written by hand, with header zxid -1 as for any unknown opcode.");
    b.req("a", create(&x, "", 0))
        .req("a", check(&x, 0))
        .corral_only(
            "ZOOKEEPER-2623: check outside multi → Unimplemented, zxid -1, then close",
            vec![json!({ "reply": { "xid": 3, "zxid": -1, "err": -6, "body": null } })],
        )
        .expect_closed("a")
        .corral_only(
            "connection closed after Unimplemented",
            vec![json!("closed")],
        );
    b.build()
}

fn all_children_number() -> Scenario {
    let mut b = B::new("all_children_number", "getAllChildrenNumber counts every descendant (not the node itself); NoNode when missing; /zookeeper counts its system children");
    let root = b.p("");
    for c in ["a", "a/b", "a/b/c", "d"] {
        let p = b.p(c);
        b.req("a", create(&p, "", 0));
    }
    let (a, leaf, m) = (b.p("a"), b.p("a/b/c"), b.p("missing"));
    b.req("a", all_children(&root))
        .req("a", all_children(&a))
        .req("a", all_children(&leaf))
        .req("a", all_children(&m))
        .req("a", all_children("/zookeeper"));
    b.build()
}

fn get_ephemerals() -> Scenario {
    let mut b = B::new("get_ephemerals", "getEphemerals lists only the caller's ephemerals, filtered by plain string prefix; / and empty prefix list all");
    let root = b.p("");
    b.connect("b");
    for c in ["e1", "e2", "ex", "sub"] {
        let p = b.p(c);
        let flags = if c == "sub" { 0 } else { EPHEMERAL };
        b.req("a", create(&p, "", flags));
    }
    let (s1, bo) = (b.p("sub/e3"), b.p("bee"));
    b.req("a", create(&s1, "", EPHEMERAL))
        .req("b", create(&bo, "", EPHEMERAL))
        .req("a", ephemerals("/"))
        .req("a", ephemerals(""))
        .req("a", ephemerals(&format!("{root}/e")))
        .req("a", ephemerals(&format!("{root}/sub")))
        .req("a", ephemerals("/nothing-here"))
        .req("b", ephemerals("/"));
    b.build()
}

fn reconfig_disabled() -> Scenario {
    let mut b = B::bare(
        "reconfig_disabled",
        "reconfig on a server without reconfigEnabled: ReconfigDisabled (-123)",
    );
    b.connect("a")
        .req(
            "a",
            ReqSpec::Reconfig {
                joining: Some("server.2=127.0.0.1:2888:3888".into()),
                leaving: None,
                new_members: None,
                config_id: -1,
            },
        )
        .req("a", ReqSpec::Ping)
        .req("a", ReqSpec::CloseSession)
        .expect_closed("a");
    b.build()
}

fn sasl_without_sasl() -> Scenario {
    let mut b = B::bare(
        "sasl_without_sasl",
        "op 102 (sasl) with an empty token on a server without SASL configured",
    );
    b.connect("a")
        .raw("a", &frame_hex(1, 102, &0i32.to_be_bytes()), Some((1, 102)))
        .req("a", ReqSpec::Ping);
    b.build()
}
