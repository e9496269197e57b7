//! multi (14) and multiRead (22), §9.

use serde_json::{json, Value};

use super::*;
use crate::conformance::spec::{ReqSpec, Scenario};

const CREATE2_WHY: &str = "create2 sub-ops answer type 15 with the Stat (ZOOKEEPER-4026, 3.8.4/3.9); Debian 3.8.0 answers type 1 with the path only";
const CREATE2_NOTE: &str = "create2 (op 15) inside multi → result type 15 Create2Response{path, Stat}, instead of 3.8.0's type 1 path-only result";

/// Corral's expected create2 sub-result for a fresh, childless, non-ephemeral node created
/// by the multi whose normalised zxid is `zxid`.
fn create2_result(path: &str, zxid: &str, data_length: i32) -> Value {
    json!({
        "type": 15,
        "path": path,
        "stat": {
            "czxid": zxid, "mzxid": zxid, "ctime": "T", "mtime": "T", "version": 0,
            "cversion": 0, "aversion": 0, "ephemeral_owner": 0, "data_length": data_length,
            "num_children": 0, "pzxid": zxid,
        },
    })
}

pub fn all() -> Vec<Scenario> {
    vec![
        multi_success_each_type(),
        multi_create_result_types(),
        multi_failure_results(),
        multi_sub_op_errors(),
        multi_check_validation(),
        multi_mixed_read_write(),
        multi_empty(),
        multi_read_basic(),
        multi_create_delete_create(),
        multi_shared_zxid(),
        sequential_multi_rollback(),
        multi_ephemeral(),
    ]
}

fn multi_success_each_type() -> Scenario {
    let mut b = B::new("multi_success_each_type", "one successful multi with create, create2, createContainer, createTTL, setData, check and delete: result types and bodies");
    b.difference(CREATE2_NOTE);
    let (x, y, c, t, d) = (b.p("x"), b.p("y"), b.p("c"), b.p("t"), b.p("d"));
    b.req("a", create(&d, "", 0))
        .req(
            "a",
            multi(vec![
                create(&x, "1", 0),
                create2(&y, "2", 0),
                container(&c, CONTAINER),
                ttl(&t, TTL, 3_600_000),
                set(&x, "3", 0),
                check(&x, 1),
                delete(&d, 0),
            ]),
        )
        .corral_patch(
            CREATE2_WHY,
            &[("/0/reply/body/results/1", create2_result(&y, "z+2", 1))],
        )
        .req("a", get(&x, false))
        .req("a", exists(&y, false))
        .req("a", exists(&c, false))
        .req("a", exists(&t, false))
        .req("a", exists(&d, false));
    b.build()
}

fn multi_create_result_types() -> Scenario {
    let mut b = B::new("multi_create_result_types", "the result type of create (1), create2 (15), createContainer (19) and createTTL (21) sub-ops, each alone and sequential");
    let (x, y, c, t, s) = (b.p("x"), b.p("y"), b.p("c"), b.p("t"), b.p("s-"));
    let s5 = format!("{s}0000000005");
    b.difference(CREATE2_NOTE)
        .req("a", multi(vec![create(&x, "", 0)]))
        .req("a", multi(vec![create2(&y, "", 0)]))
        .corral_patch(
            CREATE2_WHY,
            &[("/0/reply/body/results/0", create2_result(&y, "z+2", 0))],
        )
        .req("a", multi(vec![container(&c, CONTAINER)]))
        .req("a", multi(vec![ttl(&t, TTL, 3_600_000)]))
        .req(
            "a",
            multi(vec![
                create(&s, "", SEQUENTIAL),
                create2(&s, "", SEQUENTIAL),
            ]),
        )
        .corral_patch(
            CREATE2_WHY,
            &[("/0/reply/body/results/1", create2_result(&s5, "z+5", 0))],
        )
        .req("a", exists(&y, false));
    b.build()
}

fn multi_failure_results() -> Scenario {
    let mut b = B::new("multi_failure_results", "a failing multi: earlier sub-ops ErrorResult(0), the failing one its code, later ones -2; header err 0; nothing applied; the failed multi still uses a zxid");
    let (a, bb, m, x) = (b.p("a"), b.p("b"), b.p("missing"), b.p("x"));
    b.req("a", create(&x, "", 0))
        .req(
            "a",
            multi(vec![
                create(&a, "", 0),
                check(&x, 5),
                create(&bb, "", 0),
                set(&m, "", -1),
            ]),
        )
        .req("a", exists(&a, false))
        .req("a", multi(vec![delete(&m, -1), create(&a, "", 0)]))
        .req(
            "a",
            multi(vec![create(&a, "", 0), create(&bb, "", 0), set(&x, "", 3)]),
        )
        .req("a", create2(&a, "", 0));
    b.build()
}

fn multi_sub_op_errors() -> Scenario {
    let mut b = B::new("multi_sub_op_errors", "validation errors inside a multi: bad flags, bad path, system node delete, ephemeral parent, bad TTL, invalid ACL, NotEmpty");
    let r = b.p("");
    let (e, p, pc) = (b.p("e"), b.p("p"), b.p("p/c"));
    b.req("a", create(&e, "", EPHEMERAL))
        .req("a", create(&p, "", 0))
        .req("a", create(&pc, "", 0))
        .req("a", multi(vec![create(&format!("{r}/f"), "", 9)]))
        .req("a", multi(vec![create(&format!("{p}/"), "", 0)]))
        .req("a", multi(vec![delete("/zookeeper", -1)]))
        .req("a", multi(vec![create(&format!("{e}/c"), "", 0)]))
        .req("a", multi(vec![ttl(&format!("{r}/t"), TTL, 0)]))
        .req("a", multi(vec![create_acl(&format!("{r}/acl"), vec![], 0)]))
        .req("a", multi(vec![delete(&p, -1)]))
        .req("a", multi(vec![create("noslash", "", 0)]));
    b.build()
}

fn multi_check_validation() -> Scenario {
    let mut b = B::new("multi_check_validation", "check (13) inside multi: path (-8) before NoNode (-101) before READ (-102) before version (-103); success with -1 and the exact version");
    let r = b.p("");
    let (x, nr) = (b.p("x"), b.p("nr"));
    b.req("a", create(&x, "", 0))
        .req(
            "a",
            create_acl(&nr, vec![acl(31 & !1, "world", "anyone")], 0),
        )
        .req("a", multi(vec![check(&format!("{x}/"), 0)]))
        .req("a", multi(vec![check(&format!("{r}/missing"), 0)]))
        .req("a", multi(vec![check(&format!("{r}/missing/"), 0)]))
        .req("a", multi(vec![check(&nr, 7)]))
        .req("a", multi(vec![check(&x, 7)]))
        .req("a", multi(vec![check(&x, 0), check(&x, -1)]));
    b.build()
}

fn multi_mixed_read_write() -> Scenario {
    let mut b = B::new("multi_mixed_read_write", "reads inside multi, writes inside multiRead, or any other sub-op: MarshallingError (-5), connection stays open, nothing applied");
    let (x, y) = (b.p("x"), b.p("y"));
    b.req("a", create(&x, "", 0))
        .req("a", multi(vec![create(&y, "", 0), get(&x, false)]))
        .req("a", multi(vec![get(&x, false)]))
        .req("a", multi(vec![exists(&x, false)]))
        .req("a", multi(vec![children(&x, false)]))
        .req("a", multi_read(vec![get(&x, false), set(&x, "", -1)]))
        .req("a", multi_read(vec![create(&y, "", 0)]))
        .req("a", multi_read(vec![exists(&x, false)]))
        .req("a", multi_read(vec![children2(&x, false)]))
        .req("a", multi_read(vec![check(&x, -1)]))
        .req("a", multi(vec![ReqSpec::Sync { path: x.clone() }]))
        .req("a", exists(&y, false));
    b.build()
}

fn multi_empty() -> Scenario {
    let mut b = B::new(
        "multi_empty",
        "an empty multi and an empty multiRead answer OK with only the end marker",
    );
    b.req("a", multi(vec![]))
        .req("a", multi_read(vec![]))
        .req("a", ReqSpec::Ping);
    b.build()
}

fn multi_read_basic() -> Scenario {
    let mut b = B::new("multi_read_basic", "multiRead: getData and getChildren results (type 4 and 8); a failing read only fills its own slot (NoNode, NoAuth); header err 0");
    let (root, x, m, nr) = (b.p(""), b.p("x"), b.p("missing"), b.p("nr"));
    b.req("a", create(&x, "data", 0))
        .req("a", create(&format!("{x}/k"), "", 0))
        .req(
            "a",
            create_acl(&nr, vec![acl(31 & !1, "world", "anyone")], 0),
        )
        .req(
            "a",
            multi_read(vec![
                get(&x, false),
                children(&root, false),
                get(&m, false),
                children(&m, false),
                get(&nr, false),
                children(&x, false),
                get(&format!("{x}/"), false),
            ]),
        );
    b.build()
}

fn multi_create_delete_create() -> Scenario {
    let mut b = B::new("multi_create_delete_create", "sub-ops see the effects of earlier sub-ops: create, delete, create of one path succeeds; create twice fails with NodeExists at the second");
    let (x, y, z) = (b.p("x"), b.p("y"), b.p("z"));
    b.req(
        "a",
        multi(vec![create(&x, "1", 0), delete(&x, 0), create(&x, "2", 0)]),
    )
    .req("a", get(&x, false))
    .req("a", multi(vec![create(&y, "", 0), create(&y, "", 0)]))
    .req(
        "a",
        multi(vec![
            create(&z, "", 0),
            create(&format!("{z}/c"), "", 0),
            set(&z, "d", 0),
            delete(&format!("{z}/c"), -1),
        ]),
    )
    .req("a", children2(&z, false));
    b.build()
}

fn multi_shared_zxid() -> Scenario {
    let mut b = B::new(
        "multi_shared_zxid",
        "all sub-ops share one zxid and time; the parent's pzxid and cversion reflect every create",
    );
    let (root, x, y) = (b.p(""), b.p("x"), b.p("y"));
    b.req(
        "a",
        multi(vec![create(&x, "", 0), create(&y, "", 0), set(&x, "d", -1)]),
    )
    .req("a", exists(&x, false))
    .req("a", exists(&y, false))
    .req("a", exists(&root, false))
    .req("a", multi(vec![delete(&x, -1), create(&x, "", 0)]))
    .req("a", exists(&root, false));
    b.build()
}

fn sequential_multi_rollback() -> Scenario {
    let mut b = B::new("sequential_multi_rollback", "a failed multi rolls back the sequence counter its sequential creates advanced; a successful one keeps it");
    let r = b.p("");
    let (p, s) = (b.p("p"), b.p("p/s-"));
    b.req("a", create(&p, "", 0))
        .req(
            "a",
            multi(vec![
                create(&s, "", SEQUENTIAL),
                create(&s, "", SEQUENTIAL),
                check(&format!("{r}/missing"), -1),
            ]),
        )
        .req("a", create(&s, "", SEQUENTIAL))
        .req(
            "a",
            multi(vec![
                create(&s, "", SEQUENTIAL),
                create(&s, "", EPHEMERAL_SEQUENTIAL),
            ]),
        )
        .req("a", create(&s, "", SEQUENTIAL))
        .req("a", children2(&p, false));
    b.build()
}

fn multi_ephemeral() -> Scenario {
    let mut b = B::new(
        "multi_ephemeral",
        "ephemeral creates inside a multi are owned by the session and listed by getEphemerals",
    );
    let r = b.p("");
    let (e, s) = (b.p("e"), b.p("s-"));
    b.req(
        "a",
        multi(vec![
            create(&e, "", EPHEMERAL),
            create(&s, "", EPHEMERAL_SEQUENTIAL),
        ]),
    )
    .req("a", exists(&e, false))
    .req("a", ephemerals(&r));
    b.build()
}
