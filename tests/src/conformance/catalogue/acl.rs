//! ACLs and authentication (§8).

use serde_json::json;

use super::*;
use crate::conformance::spec::{ReqSpec, Scenario};

pub fn all() -> Vec<Scenario> {
    vec![
        acl_digest_basic(),
        acl_auth_scheme(),
        acl_ip_scheme(),
        acl_invalid_lists(),
        acl_dedup(),
        acl_noauth_each_op(),
        exists_without_read(),
        acl_getacl_masking(),
        auth_failures(),
        whoami_ids(),
    ]
}

const ALL: i32 = 31;
const READ: i32 = 1;
const WRITE: i32 = 2;
const CREATE: i32 = 4;
const DELETE: i32 = 8;
const ADMIN: i32 = 16;

fn acl_digest_basic() -> Scenario {
    let mut b = B::new("acl_digest_basic", "digest ACL: NoAuth until addAuth with the right password (auth reply xid -4, zxid 0); a wrong password authenticates a different id");
    let x = b.p("x");
    b.connect("b")
        .connect("c")
        .req("a", create_acl(&x, vec![acl(ALL, "digest", ALICE)], 0))
        .req("b", get(&x, false))
        .req("b", digest("alice:secret"))
        .req("b", get(&x, false))
        .req("b", set(&x, "d", -1))
        .req("b", get_acl(&x))
        .req("c", digest("alice:wrong"))
        .req("c", get(&x, false))
        .req("c", set(&x, "d", -1));
    b.build()
}

fn acl_auth_scheme() -> Scenario {
    let mut b = B::new("acl_auth_scheme", "the auth scheme expands to one entry per authenticated (non-ip) id; InvalidACL when only the ip id is held; the id text of an auth entry is ignored");
    let (x, y, z) = (b.p("x"), b.p("y"), b.p("z"));
    b.req("a", create_acl(&x, vec![acl(ALL, "auth", "")], 0))
        .req("a", digest("alice:secret"))
        .req("a", create_acl(&x, vec![acl(ALL, "auth", "")], 0))
        .req("a", get_acl(&x))
        .req("a", digest("bob:hunter2"))
        .req("a", create_acl(&y, vec![acl(READ | WRITE, "auth", "")], 0))
        .req("a", get_acl(&y))
        .req(
            "a",
            create_acl(
                &z,
                vec![acl(ALL, "auth", "whatever"), acl(READ, "world", "anyone")],
                0,
            ),
        )
        .req("a", get_acl(&z))
        .req("a", set_acl(&z, vec![acl(ADMIN | READ, "auth", "")], -1))
        .req("a", get_acl(&z));
    b.build()
}

fn acl_ip_scheme() -> Scenario {
    let mut b = B::new("acl_ip_scheme", "ip ACLs match the connection address under the prefix mask; malformed addresses are InvalidACL");
    let root = b.p("");
    let ids = [
        "127.0.0.1",
        "127.0.0.0/8",
        "10.0.0.0/8",
        "10.1.2.3",
        "::1",
        "127.0.0.1/32",
        "127.0.0.1/33",
        "1.2.3",
        "not-an-ip",
        "127.0.0.1/x",
    ];
    for (i, id) in ids.iter().enumerate() {
        let p = format!("{root}/n{i}");
        b.req(
            "a",
            create_acl(&p, vec![acl(READ | ADMIN | DELETE, "ip", id)], 0),
        )
        .req("a", get(&p, false));
    }
    b.build()
}

fn acl_invalid_lists() -> Scenario {
    let mut b = B::new("acl_invalid_lists", "which ACL entries are InvalidACL: unknown schemes, world with another id, digest ids without exactly one colon, super; odd permission bits");
    let root = b.p("");
    let cases: Vec<Vec<AclSpec>> = vec![
        vec![acl(ALL, "world", "someone")],
        vec![acl(ALL, "digest", "nocolon")],
        vec![acl(ALL, "digest", "a:b:c")],
        vec![acl(ALL, "digest", "user:")],
        vec![acl(ALL, "super", "")],
        vec![acl(ALL, "sasl", "someone")],
        vec![acl(ALL, "x509", "CN=a")],
        vec![acl(ALL, "", "")],
        vec![acl(ALL, "world", "anyone"), acl(ALL, "bogus", "x")],
        vec![acl(0, "world", "anyone")],
        vec![acl(32 | READ, "world", "anyone")],
        vec![acl(-1, "world", "anyone")],
    ];
    for (i, c) in cases.into_iter().enumerate() {
        let p = format!("{root}/n{i}");
        b.req("a", create_acl(&p, c, 0)).req("a", get_acl(&p));
    }
    b.build()
}

fn acl_dedup() -> Scenario {
    let mut b = B::new("acl_dedup", "duplicate ACL entries are removed on create and setACL; entries differing only in perms stay");
    let x = b.p("x");
    let dup = vec![acl(ALL, "world", "anyone"), acl(ALL, "world", "anyone")];
    b.req("a", create_acl(&x, dup.clone(), 0))
        .req("a", get_acl(&x))
        .req(
            "a",
            set_acl(
                &x,
                vec![
                    acl(READ, "world", "anyone"),
                    acl(ALL, "world", "anyone"),
                    acl(READ, "world", "anyone"),
                ],
                -1,
            ),
        )
        .req("a", get_acl(&x))
        .req(
            "a",
            set_acl(
                &x,
                vec![
                    acl(ALL, "digest", ALICE),
                    acl(ALL, "digest", ALICE),
                    acl(READ, "world", "anyone"),
                ],
                -1,
            ),
        )
        .req("a", get_acl(&x));
    b.build()
}

fn acl_noauth_each_op() -> Scenario {
    let mut b = B::new("acl_noauth_each_op", "NoAuth for each op lacking exactly its permission: create (CREATE on parent, before NodeExists), delete (DELETE on parent), setData (WRITE), setACL (ADMIN), getData/getChildren/getChildren2/getAllChildrenNumber (READ), getACL (READ or ADMIN), check in multi (READ), multiRead slots; sync and addWatch need nothing");
    let n = |s: &str| b.p(s);
    let (nc, nd, nw, na, nr, nra) = (n("nc"), n("nd"), n("nw"), n("na"), n("nr"), n("nra"));
    let all_but = |p: i32| vec![acl(ALL & !p, "world", "anyone")];
    b.req("a", create(&nc, "", 0))
        .req("a", create(&format!("{nc}/c"), "", 0))
        .req("a", set_acl(&nc, all_but(CREATE), -1))
        .req("a", create(&nd, "", 0))
        .req("a", create(&format!("{nd}/c"), "", 0))
        .req("a", set_acl(&nd, all_but(DELETE), -1))
        .req("a", create_acl(&nw, all_but(WRITE), 0))
        .req("a", create_acl(&na, all_but(ADMIN), 0))
        .req("a", create(&nr, "", 0))
        .req("a", create(&format!("{nr}/c"), "", 0))
        .req("a", set_acl(&nr, all_but(READ), -1))
        .req(
            "a",
            create_acl(&nra, vec![acl(WRITE, "world", "anyone")], 0),
        )
        // create
        .req("a", create(&format!("{nc}/new"), "", 0))
        .req("a", create(&format!("{nc}/c"), "", 0))
        .req("a", container(&format!("{nc}/k"), CONTAINER))
        // delete
        .req("a", delete(&format!("{nd}/c"), -1))
        .req("a", delete(&format!("{nd}/missing"), -1))
        // setData / setACL
        .req("a", set(&nw, "d", -1))
        .req("a", set_acl(&na, open(), -1))
        .req("a", get_acl(&na))
        // reads
        .req("a", get(&nr, false))
        .req("a", children(&nr, false))
        .req("a", children2(&nr, false))
        .req("a", all_children(&nr))
        .req("a", get_acl(&nr))
        .req("a", get_acl(&nra))
        .req("a", get(&nra, false))
        // multi and multiRead
        .req("a", multi(vec![check(&nr, -1)]))
        .req("a", multi(vec![check(&nw, -1), set(&nw, "d", -1)]))
        .req(
            "a",
            multi_read(vec![get(&nr, false), children(&nr, false), get(&nw, false)]),
        )
        // no permission needed
        .req("a", sync(&nr))
        .req("a", add_watch(&nr, 0))
        .req("a", get(&format!("{nr}/c"), false));
    b.build()
}

fn exists_without_read() -> Scenario {
    let mut b = B::new("exists_without_read", "exists on a node the caller cannot READ: 3.8.0 returns the Stat; Corral answers NoAuth (ZOOKEEPER-2590 / CVE fix of 3.8.4 and 3.9.2)");
    let (x, y) = (b.p("x"), b.p("y"));
    let why = "ZOOKEEPER-2590: exists requires READ since 3.8.4/3.9.2; Corral applies the fix";
    b.difference("exists without READ → NoAuth (-102) with no body, instead of 3.8.0's Stat")
        .req(
            "a",
            create_acl(&x, vec![acl(ALL & !READ, "world", "anyone")], 0),
        )
        .req("a", create_acl(&y, vec![acl(ALL, "digest", ALICE)], 0))
        .req("a", exists(&x, false))
        .corral_patch(
            why,
            &[
                ("/0/reply/err", json!(-102)),
                ("/0/reply/body", json!(null)),
            ],
        )
        .req("a", exists(&y, false))
        .corral_patch(
            why,
            &[
                ("/0/reply/err", json!(-102)),
                ("/0/reply/body", json!(null)),
            ],
        )
        .req("a", digest("alice:secret"))
        .req("a", exists(&y, false))
        .req("a", exists(&format!("{x}/missing"), false));
    b.build()
}

fn acl_getacl_masking() -> Scenario {
    let mut b = B::new("acl_getacl_masking", "getACL by a reader without ADMIN: how digest ids are shown; with ADMIN they are shown in full");
    let x = b.p("x");
    b.connect("b")
        .req("a", digest("alice:secret"))
        .req(
            "a",
            create_acl(
                &x,
                vec![
                    acl(READ, "world", "anyone"),
                    acl(ALL, "digest", ALICE),
                    acl(READ, "digest", BOB),
                ],
                0,
            ),
        )
        .req("b", get_acl(&x))
        .req("a", get_acl(&x))
        .req("b", digest("bob:hunter2"))
        .req("b", get_acl(&x));
    b.build()
}

fn auth_failures() -> Scenario {
    let mut b = B::bare("auth_failures", "addAuth with an unknown scheme or unusable credentials: AuthFailed (-115) then the connection is closed; the session survives");
    let cases = [
        ("nosuch", "x"),
        ("digest", "nocolon"),
        ("digest", ""),
        ("ip", "127.0.0.1"),
        ("world", "anyone"),
        ("super", "x"),
        ("sasl", "x"),
    ];
    for (i, (scheme, cred)) in cases.iter().enumerate() {
        let c = format!("c{i}");
        b.connect(&c)
            .req(&c, auth(scheme, cred))
            .req(&c, ReqSpec::WhoAmI)
            .expect_closed(&c);
    }
    let mut resume = conn_spec();
    resume.resume = Some("c0".into());
    b.connect_with("again", resume).req("again", ReqSpec::Ping);
    b.build()
}

fn whoami_ids() -> Scenario {
    let mut b = B::bare("whoami_ids", "whoAmI lists the connection's ids: ip first-class, then each digest user (the part before the colon); repeated addAuth of the same id");
    b.connect("a")
        .req("a", ReqSpec::WhoAmI)
        .req("a", digest("alice:secret"))
        .req("a", ReqSpec::WhoAmI)
        .req("a", digest("bob:hunter2"))
        .req("a", digest("alice:secret"))
        .req("a", digest("alice:other"))
        .req("a", ReqSpec::WhoAmI);
    b.build()
}
