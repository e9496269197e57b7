//! Validation order per op (§6.2): each request is built so that two or more checks fail
//! at once, and the recorded code shows which check runs first.

use super::*;
use crate::conformance::spec::{CreateSpec, Data, ReqSpec, Scenario};

pub fn all() -> Vec<Scenario> {
    vec![
        create_validation_order(),
        create_acl_before_parent(),
        create_ttl_validation(),
        delete_validation_order(),
        setdata_validation_order(),
        setacl_validation_order(),
        reads_not_validated(),
    ]
}

fn raw_create(
    op: i32,
    path: &str,
    acl: Option<Vec<AclSpec>>,
    flags: i32,
    ttl: Option<i64>,
) -> ReqSpec {
    let s = CreateSpec {
        path: path.to_owned(),
        data: Some(Data::Text(String::new())),
        acl,
        flags,
        ttl,
    };
    match op {
        1 => ReqSpec::Create(s),
        15 => ReqSpec::Create2(s),
        19 => ReqSpec::CreateContainer(s),
        _ => ReqSpec::CreateTtl(s),
    }
}

fn create_validation_order() -> Scenario {
    let mut b = B::new("create_validation_order", "create: flags (-8) before path (-8) before parent (-101) before parent ACL (-102) before full-path validation (-8) before NodeExists (-110) before ephemeral parent (-108)");
    let r = b.p("");
    let (locked, lx, e, x) = (b.p("locked"), b.p("locked/x"), b.p("e"), b.p("x"));
    b.req("a", create(&x, "", 0))
        .req("a", create(&e, "", EPHEMERAL))
        .req("a", create_acl(&locked, vec![acl(1, "world", "anyone")], 0))
        // bad flag + path without a slash
        .req("a", create("noslash", "", 7))
        // no slash at all, empty path
        .req("a", create("noslash", "", 0))
        .req("a", create("", "", 0))
        // relative path with a slash: the parent lookup fails first
        .req("a", create("a/b", "", 0))
        .req("a", create(&format!("{r}/nope/x/"), "", 0))
        .req("a", create(&format!("{r}/nope/."), "", 0))
        // parent without CREATE, and the name is bad / exists
        .req("a", create(&format!("{lx}/"), "", 0))
        .req("a", create(&lx, "", 0))
        .req("a", create(&format!("{locked}/."), "", 0))
        // full path validated after the parent: "//x" has parent "/"
        .req("a", create(&format!("{r}//x"), "", 0))
        .req("a", create(&format!("{x}/.."), "", 0))
        // exists vs bad name, exists vs ephemeral parent
        .req("a", create(&x, "", 0))
        .req("a", create(&format!("{e}/c"), "", 0))
        .req("a", create(&e, "", 0));
    b.build()
}

fn create_acl_before_parent() -> Scenario {
    let mut b = B::new("create_acl_before_parent", "create: an invalid ACL (-114) is reported before a missing parent (-101) and before a parent without CREATE (-102); null and empty ACL lists");
    let (locked, m) = (b.p("locked"), b.p("missing/x"));
    b.req("a", create_acl(&locked, vec![acl(1, "world", "anyone")], 0))
        .req("a", create_acl(&m, vec![], 0))
        .req("a", raw_create(1, &m, None, 0, None))
        .req("a", create_acl(&m, vec![acl(31, "nosuchscheme", "x")], 0))
        .req(
            "a",
            create_acl(&format!("{locked}/x"), vec![acl(31, "auth", "")], 0),
        )
        .req("a", create_acl(&format!("{locked}/x"), open(), 0))
        .req("a", create_acl("noslash", vec![], 0))
        .req("a", create_acl(&m, vec![acl(31, "world", "anyone")], 99));
    b.build()
}

fn create_ttl_validation() -> Scenario {
    let mut b = B::new("create_ttl_validation", "TTL rules: 0 < ttl <= 2^40-1; op 21 needs flag 5 or 6; op 1/15 with a TTL flag is BadArguments; ttl checks come before the path and ACL checks");
    let t = b.p("t");
    for (op, flags, ttl) in [
        (21, TTL, 0),
        (21, TTL, -5),
        (21, TTL, 1 << 40),
        (21, PERSISTENT, 1000),
        (21, EPHEMERAL, 1000),
        (21, CONTAINER, 1000),
        (21, 7, 1000),
        (1, TTL, 1000),
        (15, TTL_SEQUENTIAL, 1000),
        (19, TTL, 1000),
    ] {
        b.req("a", raw_create(op, &t, Some(open()), flags, Some(ttl)));
    }
    // op 1 and 15 with a TTL flag and no ttl field at all
    b.req("a", raw_create(1, &t, Some(open()), TTL, None))
        .req("a", raw_create(15, &t, Some(open()), TTL, None))
        // bad ttl beats bad path and bad ACL
        .req("a", raw_create(21, "noslash", Some(vec![]), TTL, Some(0)))
        .req(
            "a",
            raw_create(21, "noslash", Some(open()), TTL, Some(1000)),
        )
        .req("a", raw_create(21, &t, Some(vec![]), TTL, Some(1000)))
        .req("a", exists(&t, false));
    b.build()
}

fn delete_validation_order() -> Scenario {
    let mut b = B::new("delete_validation_order", "delete: system paths and bad paths (-8) before parent (-101) before parent DELETE permission (-102, even for a missing node) before NoNode before BadVersion (-103) before NotEmpty (-111)");
    let r = b.p("");
    let (locked, lc, p, pc) = (b.p("locked"), b.p("locked/c"), b.p("p"), b.p("p/c"));
    b.req("a", create(&locked, "", 0))
        .req("a", create(&lc, "", 0))
        .req(
            "a",
            set_acl(&locked, vec![acl(31 & !8, "world", "anyone")], -1),
        )
        .req("a", create(&p, "", 0))
        .req("a", create(&pc, "", 0));
    for sys in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
        b.req("a", delete(sys, -1));
    }
    b.req("a", delete("noslash", -1))
        .req("a", delete("", -1))
        .req("a", delete(&format!("{p}/"), -1))
        .req("a", delete(&format!("{r}//x"), -1))
        .req("a", delete(&format!("{r}/missing/x"), -1))
        .req("a", delete(&format!("{locked}/missing"), -1))
        .req("a", delete(&lc, -1))
        .req("a", delete(&format!("{p}/missing"), -1))
        .req("a", delete(&p, 7))
        .req("a", delete(&p, 0))
        .req("a", delete(&p, -1))
        .req("a", set_acl(&locked, open(), -1));
    b.build()
}

fn setdata_validation_order() -> Scenario {
    let mut b = B::new(
        "setdata_validation_order",
        "setData: path (-8) before NoNode (-101) before WRITE (-102) before BadVersion (-103)",
    );
    let r = b.p("");
    let (ro, x) = (b.p("ro"), b.p("x"));
    b.req(
        "a",
        create_acl(&ro, vec![acl(31 & !2, "world", "anyone")], 0),
    )
    .req("a", create(&x, "", 0))
    .req("a", set("noslash", "d", -1))
    .req("a", set(&format!("{x}/"), "d", -1))
    .req("a", set(&format!("{r}/missing/"), "d", -1))
    .req("a", set(&format!("{r}/missing"), "d", 3))
    .req("a", set(&ro, "d", 3))
    .req("a", set(&ro, "d", -1))
    .req("a", set(&x, "d", 3))
    .req("a", set("/", "d", 3));
    b.build()
}

fn setacl_validation_order() -> Scenario {
    let mut b = B::new("setacl_validation_order", "setACL: path (-8) before ACL (-114) before NoNode (-101) before ADMIN (-102) before aversion (-103)");
    let (na, x, m) = (b.p("noadmin"), b.p("x"), b.p("missing"));
    b.req(
        "a",
        create_acl(&na, vec![acl(31 & !16, "world", "anyone")], 0),
    )
    .req("a", create(&x, "", 0))
    .req(
        "a",
        ReqSpec::SetAcl {
            path: format!("{x}/"),
            acl: Some(vec![]),
            version: 9,
        },
    )
    .req(
        "a",
        ReqSpec::SetAcl {
            path: m.clone(),
            acl: Some(vec![]),
            version: 9,
        },
    )
    .req(
        "a",
        ReqSpec::SetAcl {
            path: m.clone(),
            acl: None,
            version: 9,
        },
    )
    .req("a", set_acl(&m, vec![acl(31, "world", "someone")], 9))
    .req("a", set_acl(&m, open(), 9))
    .req("a", set_acl(&na, open(), 9))
    .req("a", set_acl(&x, open(), 9))
    .req("a", set_acl(&x, vec![acl(31, "auth", "")], -1));
    b.build()
}

fn reads_not_validated() -> Scenario {
    let mut b = B::new("reads_not_validated", "reads do not validate paths: malformed paths are simply NoNode; exists with a NUL is BadArguments");
    let r = b.p("");
    let x = b.p("x");
    b.req("a", create(&x, "", 0));
    let bad = [
        "noslash".to_owned(),
        format!("{x}/"),
        format!("{r}//x"),
        format!("{x}/."),
        format!("{x}\u{1}"),
    ];
    for p in &bad {
        b.req("a", get(p, false))
            .req("a", exists(p, false))
            .req("a", children(p, false))
            .req("a", get_acl(p))
            .req("a", all_children(p));
    }
    let nul = format!("{x}\u{0}y");
    b.req("a", exists(&nul, false))
        .req("a", get(&nul, false))
        .req("a", children2(&nul, false));
    b.build()
}
