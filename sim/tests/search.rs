//! The search checker against the zxid-based checkers on generated histories.
//!
//! A history is generated from a sequential execution: each operation runs, one at a time,
//! against core's own prep and tree (so the log and the replies are what a correct server
//! produces), at linearization point `10 * i`. Its interval is then widened at random
//! around that point, which keeps the history linearizable by construction. Both checkers
//! must accept it. Then a deliberate fault is planted at the end (a stale read, a lost
//! acknowledged write, two non-overlapping writes reordered, a multi of unknown outcome
//! applied by half) and both must reject it.

use std::collections::BTreeMap;

use corral_core::error::ErrorCode;
use corral_core::prep::{self, Overlay, PrepContext};
use corral_core::proto::data::Acl;
use corral_core::proto::request::CreateRequest;
use corral_core::proto::{op, Request, Response};
use corral_core::server::LogEntry;
use corral_core::tree::DataTree;
use corral_core::txn::{Txn, TxnHeader};
use corral_core::types::{SessionId, Zxid};
use corral_sim::check::model::{answer, write_reply};
use corral_sim::check::search::{self, Found};
use corral_sim::check::{check_all, check_history, Input, Verdict};
use corral_sim::history::{Op, Outcome, Return};
use proptest::prelude::*;

const SESSIONS: usize = 3;

fn session(k: usize) -> SessionId {
    SessionId(0x100 + k as i64)
}

/// One generated operation: who, what, how wide its window is, and whether its reply is
/// lost (an unknown outcome; `applied` says whether it took effect anyway).
#[derive(Clone, Debug)]
struct Step {
    session: usize,
    req: Request,
    before: u64,
    after: u64,
    lost: Option<bool>,
}

/// A sequential execution being recorded.
struct Exec {
    tree: DataTree,
    overlay: Overlay,
    zxid: i64,
    log: Vec<LogEntry>,
    ops: Vec<Op>,
    xids: [i32; SESSIONS],
    /// Per session: last invoke and return time, to keep submission and reply order.
    last: [(u64, u64); SESSIONS],
    /// Linearization point of the next op.
    t: u64,
}

/// What to record for an op: its outcome, reply zxid and body.
type Result3 = (Outcome, Option<Zxid>, Option<Response>);

impl Exec {
    fn new() -> Exec {
        Exec {
            tree: DataTree::new(),
            overlay: Overlay::default(),
            zxid: 0,
            log: Vec::new(),
            ops: Vec::new(),
            xids: [0; SESSIONS],
            last: [(0, 0); SESSIONS],
            t: 100,
        }
    }

    /// Prepare and apply a write as the server would; returns its reply and zxid.
    fn write(&mut self, s: usize, xid: i32, req: &Request) -> (Result<Response, ErrorCode>, Zxid) {
        self.zxid += 1;
        let zxid = Zxid(self.zxid);
        let ctx = PrepContext {
            session: session(s),
            ids: &[],
            skip_acl: true,
            extended_types_enabled: false,
        };
        let txn = prep::prepare(&self.tree, &mut self.overlay, zxid, &ctx, req);
        let hdr = TxnHeader {
            session: session(s),
            cxid: xid,
            zxid,
            time: self.zxid,
            op: match &txn {
                Txn::Error { .. } => -1,
                t => t.op(),
            },
        };
        let r = self.tree.apply(&hdr, &txn);
        self.overlay.applied(zxid);
        self.log.push(LogEntry { hdr, txn });
        (write_reply(req, &r.results), zxid)
    }

    /// Run `req` now (at the next linearization point) and record it with the window
    /// `[t - before, t + after]`. `lost`: the reply is lost; `Some(true)` if it applied.
    fn run(
        &mut self,
        s: usize,
        req: Request,
        before: u64,
        after: u64,
        lost: Option<bool>,
    ) -> usize {
        self.xids[s] += 1;
        let xid = self.xids[s];
        let result: Result3 = if req.is_write() {
            if lost == Some(false) {
                (Outcome::Unknown(ErrorCode::ConnectionLoss), None, None)
            } else {
                let (r, z) = self.write(s, xid, &req);
                match (lost, r) {
                    (Some(_), _) => (Outcome::Unknown(ErrorCode::ConnectionLoss), None, None),
                    (None, Ok(b)) => (Outcome::Ok, Some(z), Some(b)),
                    (None, Err(e)) => (Outcome::Failed(e), Some(z), None),
                }
            }
        } else {
            let z = Some(self.tree.last_zxid());
            match answer(&self.tree, &req).expect("modelled read") {
                Ok(b) => (Outcome::Ok, z, Some(b)),
                Err(e) => (Outcome::Failed(e), z, None),
            }
        };
        self.record(s, xid, req, before, after, result)
    }

    fn record(
        &mut self,
        s: usize,
        xid: i32,
        req: Request,
        before: u64,
        after: u64,
        (outcome, zxid, body): Result3,
    ) -> usize {
        let t = self.t;
        self.t += 10;
        let invoke = t.saturating_sub(before).max(self.last[s].0);
        let ret = (t + after).max(self.last[s].1);
        self.last[s] = (invoke, ret);
        let index = self.ops.len();
        self.ops.push(Op {
            index,
            client: s,
            incarnation: 1,
            session: session(s),
            xid,
            request: req,
            invoke_ms: invoke,
            invoke_seq: 0,
            ret: Some(Return {
                ms: ret,
                seq: 0,
                outcome,
                zxid,
                body,
            }),
        });
        index
    }

    /// Number events by time (ties by op index), as a recorder would.
    fn finish(mut self) -> History {
        number(&mut self.ops);
        History {
            ops: self.ops,
            log: self.log,
        }
    }
}

fn number(ops: &mut [Op]) {
    let mut events: Vec<(u64, usize, u8)> = Vec::new();
    for o in ops.iter() {
        events.push((o.invoke_ms, o.index, 0));
        events.push((o.ret.as_ref().unwrap().ms, o.index, 1));
    }
    events.sort();
    for (n, (_, i, kind)) in events.into_iter().enumerate() {
        if kind == 0 {
            ops[i].invoke_seq = n as u64 + 1;
        } else {
            ops[i].ret.as_mut().unwrap().seq = n as u64 + 1;
        }
    }
}

struct History {
    ops: Vec<Op>,
    log: Vec<LogEntry>,
}

impl History {
    fn fast(&self) -> Vec<&'static str> {
        let input = Input {
            ops: &self.ops,
            session_ends: &[],
            watches: &[],
            connects: &[],
            log: &self.log,
            heal_ms: 0,
            clients: 0,
            ensemble: false,
        };
        check_all(input)
            .into_iter()
            .filter(|v| !v.passed() && v.name != "linearizable")
            .map(|v| v.name)
            .collect()
    }

    fn search(&self) -> Found {
        search::search(&search::Input {
            sequential_reads: false,
            ops: &self.ops,
            hints: &[],
            expiry_hints: &BTreeMap::new(),
            max_steps: 2_000_000,
        })
        .found
    }
}

fn create(path: &str, data: String, flags: i32, two: bool) -> Request {
    Request::Create {
        op: if two { op::CREATE2 } else { op::CREATE },
        req: CreateRequest {
            path: path.to_owned(),
            data: Some(data.into_bytes()),
            acl: Some(Acl::open_unsafe()),
            flags,
            ttl: None,
        },
    }
}

fn set(path: &str, data: &str, version: i32) -> Request {
    Request::SetData {
        path: path.to_owned(),
        data: Some(data.as_bytes().to_vec()),
        version,
    }
}

fn get(path: &str) -> Request {
    Request::GetData {
        path: path.to_owned(),
        watch: false,
    }
}

const PATHS: &[&str] = &["/a", "/b", "/a/x", "/s"];

fn arb_path() -> impl Strategy<Value = &'static str> {
    prop::sample::select(PATHS)
}

fn arb_sub(n: u32) -> impl Strategy<Value = Request> {
    prop_oneof![
        (arb_path(), any::<bool>()).prop_map(move |(p, two)| create(p, format!("m{n}"), 0, two)),
        (arb_path(), -1..2i32).prop_map(move |(p, v)| set(p, &format!("m{n}"), v)),
        (arb_path(), -1..2i32).prop_map(|(p, v)| Request::Delete {
            path: p.to_owned(),
            version: v
        }),
        (arb_path(), -1..2i32).prop_map(|(p, v)| Request::Check {
            path: p.to_owned(),
            version: v
        }),
    ]
}

/// A request; `n` makes data unique.
fn arb_request(n: u32) -> impl Strategy<Value = Request> {
    let read_path = || prop::sample::select(&["/", "/a", "/b", "/a/x", "/s"][..]);
    prop_oneof![
        3 => (arb_path(), 0..2i32, any::<bool>()).prop_map(move |(p, f, two)| create(p, format!("v{n}"), f, two)),
        2 => (any::<bool>(), any::<bool>()).prop_map(move |(eph, two)| create("/s/n-", format!("v{n}"), if eph { 3 } else { 2 }, two)),
        3 => (arb_path(), -1..2i32).prop_map(move |(p, v)| set(p, &format!("v{n}"), v)),
        2 => (arb_path(), -1..2i32).prop_map(|(p, v)| Request::Delete { path: p.to_owned(), version: v }),
        2 => prop::collection::vec(arb_sub(n), 1..3).prop_map(Request::Multi),
        2 => read_path().prop_map(get),
        1 => read_path().prop_map(|p| Request::Exists { path: p.to_owned(), watch: false }),
        1 => read_path().prop_map(|p| Request::GetChildren { path: p.to_owned(), watch: false }),
        1 => read_path().prop_map(|p| Request::GetChildren2 { path: p.to_owned(), watch: false }),
    ]
}

fn arb_steps() -> impl Strategy<Value = Vec<Step>> {
    (4usize..24).prop_flat_map(|len| {
        (0..len as u32)
            .map(|n| {
                (
                    0..SESSIONS,
                    arb_request(n),
                    0u64..30,
                    0u64..30,
                    prop_oneof![8 => Just(None), 1 => Just(Some(true)), 1 => Just(Some(false))],
                )
                    .prop_map(|(session, req, before, after, lost)| Step {
                        session,
                        lost: lost.filter(|_| req.is_write()),
                        req,
                        before,
                        after,
                    })
            })
            .collect::<Vec<_>>()
    })
}

fn execute(steps: &[Step]) -> Exec {
    let mut x = Exec::new();
    for s in steps {
        x.run(s.session, s.req.clone(), s.before, s.after, s.lost);
    }
    x
}

/// The fault to plant after the generated prefix.
#[derive(Clone, Copy, Debug)]
enum Fault {
    StaleRead,
    LostAckedWrite,
    ReorderedWrites,
    HalfAppliedMulti,
}

/// Append ops on fresh paths /m and /n that contain `fault`. Every op of the pattern is
/// strictly after the one before it in real time.
fn plant(x: &mut Exec, fault: Fault) {
    x.t += 100;
    x.run(0, create("/m", "m0".into(), 0, false), 0, 1, None);
    x.run(1, create("/n", "n0".into(), 0, false), 0, 1, None);
    match fault {
        Fault::StaleRead => {
            let stale = answer(&x.tree, &get("/m")).unwrap().unwrap();
            x.run(1, set("/m", "m1", -1), 0, 1, None);
            x.xids[2] += 1;
            let (xid, z) = (x.xids[2], x.tree.last_zxid());
            x.record(2, xid, get("/m"), 0, 1, (Outcome::Ok, Some(z), Some(stale)));
        }
        Fault::LostAckedWrite => {
            let (tree, overlay, log) = (x.tree.clone(), x.overlay.clone(), x.log.clone());
            x.run(1, set("/m", "m1", -1), 0, 1, None);
            x.tree = tree;
            x.overlay = overlay;
            x.log = log;
            x.run(2, get("/m"), 0, 1, None);
        }
        Fault::ReorderedWrites => {
            let a = x.run(1, set("/m", "m1", -1), 0, 1, None);
            let b = x.run(2, set("/m", "m2", -1), 0, 1, None);
            x.run(0, get("/m"), 0, 1, None);
            // Swap the windows: b now returns before a is invoked.
            let (ia, ra) = (x.ops[a].invoke_ms, x.ops[a].ret.as_ref().unwrap().ms);
            let (ib, rb) = (x.ops[b].invoke_ms, x.ops[b].ret.as_ref().unwrap().ms);
            x.ops[a].invoke_ms = ib;
            x.ops[a].ret.as_mut().unwrap().ms = rb;
            x.ops[b].invoke_ms = ia;
            x.ops[b].ret.as_mut().unwrap().ms = ra;
        }
        Fault::HalfAppliedMulti => {
            let whole = Request::Multi(vec![set("/m", "h1", -1), set("/n", "h2", -1)]);
            x.xids[1] += 1;
            let xid = x.xids[1];
            let _ = x.write(1, xid, &Request::Multi(vec![set("/m", "h1", -1)]));
            let lost = (Outcome::Unknown(ErrorCode::ConnectionLoss), None, None);
            x.record(1, xid, whole, 0, 1, lost);
            x.run(2, get("/m"), 0, 1, None);
            x.run(2, get("/n"), 0, 1, None);
        }
    }
}

fn no_log_verdicts(h: &History) -> Vec<Verdict> {
    check_history(&h.ops, 2_000_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn generated_linearizable_histories_pass_both_checkers(steps in arb_steps()) {
        let h = execute(&steps).finish();
        prop_assert_eq!(h.fast(), Vec::<&str>::new());
        prop_assert_eq!(h.search(), Found::Linearizable);
        let v = no_log_verdicts(&h);
        prop_assert!(v.iter().all(|v| v.passed() && v.note.is_none()), "{:?}", v);
    }

    #[test]
    fn planted_faults_fail_both_checkers(
        steps in arb_steps(),
        fault in prop::sample::select(&[
            Fault::StaleRead,
            Fault::LostAckedWrite,
            Fault::ReorderedWrites,
            Fault::HalfAppliedMulti,
        ][..]),
    ) {
        let mut x = execute(&steps);
        plant(&mut x, fault);
        let h = x.finish();
        let fast = h.fast();
        prop_assert!(!fast.is_empty(), "{:?}: the zxid checkers passed", fault);
        let found = h.search();
        prop_assert!(matches!(found, Found::Violation(_)), "{:?}: search says {:?}", fault, found);
    }
}

#[test]
fn each_planted_fault_fails_the_checker_meant_for_it() {
    let expect = [
        (Fault::StaleRead, "reads"),
        (Fault::LostAckedWrite, "durability"),
        (Fault::ReorderedWrites, "real-time"),
        (Fault::HalfAppliedMulti, "write-replies"),
    ];
    for (fault, checker) in expect {
        let mut x = Exec::new();
        plant(&mut x, fault);
        let h = x.finish();
        assert!(h.fast().contains(&checker), "{fault:?}: {:?}", h.fast());
        assert!(matches!(h.search(), Found::Violation(_)), "{fault:?}");
    }
}
