//! Checkers over one run's client history and the server's final durable log.
//!
//! The log is the ground truth for the order of writes: every acknowledged write must be in
//! it at the zxid its reply named, and replaying it into a fresh tree (`model`) must
//! reproduce every reply. Reads carry the zxid of the state they saw in their reply header
//! (exactly `lastProcessedZxid` of the standalone server), so each read is checked against
//! the model state at that zxid. Ordering checks place every operation at a zxid and ask
//! that this placement respects real time (`order`) and session order.
//!
//! A second, independent checker ([`search`]) looks for a linearization of the history
//! alone against its own model, and must agree.
//!
//! Each checker returns a [`Verdict`]; a run passes when no verdict has violations.

mod ephemeral;
pub mod model;
mod order;
pub mod plant;
pub mod search;
mod sessions;
mod sync;
mod watch;
mod writes;

use std::collections::BTreeMap;

use corral_core::error::ErrorCode;
use corral_core::proto::Request;
use corral_core::server::LogEntry;
use corral_core::types::{SessionId, Zxid};

use crate::history::{Connect, Op, Outcome, SessionEnd, WatchEvent};

/// Most violations listed per checker (the count is always exact).
const MAX_LISTED: usize = 12;

/// The outcome of one checker.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub name: &'static str,
    /// How many things it looked at.
    pub checked: usize,
    /// Total violations found.
    pub count: usize,
    /// The first few, described.
    pub violations: Vec<String>,
    /// Something to say that is not a violation (a search that gave up, a skipped check).
    pub note: Option<String>,
}

impl Verdict {
    pub fn new(name: &'static str) -> Verdict {
        Verdict {
            name,
            checked: 0,
            count: 0,
            violations: Vec::new(),
            note: None,
        }
    }

    pub fn fail(&mut self, what: String) {
        self.count += 1;
        if self.violations.len() < MAX_LISTED {
            self.violations.push(what);
        }
    }

    /// No violations.
    pub fn passed(&self) -> bool {
        self.count == 0
    }
}

/// What the checkers look at.
#[derive(Clone, Copy)]
pub struct Input<'a> {
    pub ops: &'a [Op],
    pub session_ends: &'a [SessionEnd],
    /// Watch notifications clients received.
    pub watches: &'a [WatchEvent],
    /// Completed handshakes (each re-arms the session's watches with setWatches).
    pub connects: &'a [Connect],
    /// The final server's durable log, in zxid order.
    pub log: &'a [LogEntry],
    /// Simulated ms from which no fault is active.
    pub heal_ms: u64,
    pub clients: usize,
    /// The history comes from an ensemble: reads are sequentially consistent (a server
    /// answers from its own, possibly lagging, state), so the real-time rules bind writes
    /// only.
    pub ensemble: bool,
}

/// Errors a server returns for a write without logging a txn for it.
pub const UNLOGGED_ERRORS: &[ErrorCode] = &[
    ErrorCode::SessionExpired,
    ErrorCode::MarshallingError,
    ErrorCode::Unimplemented,
];

/// Where an operation sits in the zxid order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    pub zxid: Zxid,
    /// A txn of its own (a logged write): strictly after everything before it. Otherwise
    /// (reads, unlogged rejections) it observed the state at `zxid`.
    pub strict: bool,
}

/// Facts derived once and shared by the checkers.
pub struct Facts<'a> {
    pub input: Input<'a>,
    /// (session, cxid) of client txns → log positions (more than one is a violation).
    pub by_cxid: BTreeMap<(SessionId, i32), Vec<usize>>,
    /// Per op: its log position, for writes found in the log.
    pub txn_of: Vec<Option<usize>>,
    /// Per op: its place in the zxid order, when known.
    pub pos: Vec<Option<Pos>>,
    /// Ops checked against the model as reads, and the model's answers.
    pub read_ops: Vec<usize>,
    pub replay: model::Replay,
}

impl<'a> Facts<'a> {
    /// Derive the facts (this replays the log once).
    pub fn new(input: Input<'a>) -> Facts<'a> {
        let mut by_cxid: BTreeMap<(SessionId, i32), Vec<usize>> = BTreeMap::new();
        for (i, e) in input.log.iter().enumerate() {
            if e.hdr.cxid != 0 && e.hdr.session != SessionId::NONE {
                by_cxid
                    .entry((e.hdr.session, e.hdr.cxid))
                    .or_default()
                    .push(i);
            }
        }
        let mut txn_of = vec![None; input.ops.len()];
        let mut pos = vec![None; input.ops.len()];
        let mut read_ops = Vec::new();
        for op in input.ops {
            let in_log = by_cxid
                .get(&(op.session, op.xid))
                .map(|v| v[0])
                .filter(|_| op.is_write() && op.session != SessionId::NONE);
            let reply = op.reply_zxid();
            match (op.is_write(), reply) {
                (true, Some(z)) => {
                    txn_of[op.index] = in_log;
                    let unlogged = in_log.is_none()
                        && matches!(op.outcome(), Some(Outcome::Failed(e)) if UNLOGGED_ERRORS.contains(e));
                    pos[op.index] = Some(Pos {
                        zxid: z,
                        strict: !unlogged,
                    });
                }
                (true, None) => {
                    txn_of[op.index] = in_log;
                    // An unanswered write that landed as an error txn had no effect (for
                    // example SessionMoved: the request reached the leader after its
                    // session had moved on): it has no place in the order.
                    pos[op.index] = in_log
                        .filter(|p| {
                            !matches!(input.log[*p].txn, corral_core::txn::Txn::Error { .. })
                        })
                        .map(|p| Pos {
                            zxid: input.log[p].hdr.zxid,
                            strict: true,
                        });
                }
                (false, Some(z)) => {
                    pos[op.index] = Some(Pos {
                        zxid: z,
                        strict: false,
                    });
                    let modelled = matches!(
                        op.outcome(),
                        Some(Outcome::Ok | Outcome::Failed(ErrorCode::NoNode))
                    );
                    if modelled && model::modelled(&op.request) {
                        read_ops.push(op.index);
                    }
                }
                (false, None) => {}
            }
        }
        let reads: Vec<(&Request, Zxid)> = read_ops
            .iter()
            .map(|&i| {
                (
                    &input.ops[i].request,
                    input.ops[i].reply_zxid().expect("answered"),
                )
            })
            .collect();
        let replay = model::replay(input.log, &reads);
        Facts {
            input,
            by_cxid,
            txn_of,
            pos,
            read_ops,
            replay,
        }
    }
}

/// Run every checker.
pub fn check_all(input: Input<'_>) -> Vec<Verdict> {
    let f = Facts::new(input);
    vec![
        writes::log_shape(&f),
        writes::durability(&f),
        writes::write_replies(&f),
        writes::reads(&f),
        order::real_time(&f),
        order::session_order(&f),
        ephemeral::ephemerals(&f),
        ephemeral::sequential(&f),
        sync::sync(&f),
        watch::watches(&f),
        watch::watch_order(&f),
        sessions::expiry(&f),
        liveness(&f),
        linearizable(&f),
    ]
}

/// Histories longer than this are not searched at the end of a run (the search would
/// mostly spend its budget); `corral-sim check` has no such limit.
pub const SEARCH_MAX_OPS: usize = 20_000;

/// Model steps the end-of-run search may take per operation of the history (a correct
/// history with good hints takes about one).
pub const SEARCH_STEPS_PER_OP: u64 = 50;

/// The search checker ([`search`]) on the history alone, with the log used only to order
/// the search (each op is tried first at the zxid it took effect at). It must agree with
/// the zxid-based checkers: a history they accept must have a linearization, so a
/// violation here when they pass is a disagreement between the two, and is reported.
fn linearizable(f: &Facts) -> Verdict {
    let mut v = Verdict::new("linearizable");
    let ops = f.input.ops;
    if ops.len() > SEARCH_MAX_OPS {
        v.note = Some(format!(
            "not searched: {} ops > {SEARCH_MAX_OPS}",
            ops.len()
        ));
        return v;
    }
    let (hints, expiry_hints) = search_hints(f);
    let r = search::search(&search::Input {
        ops,
        hints: &hints,
        expiry_hints: &expiry_hints,
        max_steps: SEARCH_STEPS_PER_OP * ops.len() as u64 + 10_000,
        sequential_reads: f.input.ensemble,
    });
    search_verdict(v, r)
}

fn search_verdict(mut v: Verdict, r: search::Report) -> Verdict {
    v.checked = r.entries;
    match r.found {
        search::Found::Linearizable => {}
        search::Found::Violation(why) => v.fail(why),
        search::Found::Unknown(why) => v.note = Some(format!("inconclusive: {why}")),
    }
    v
}

/// Ordering hints for the search: every op's zxid (reply zxid, or the log position of an
/// unanswered write that landed), and the zxid of each server-side session close.
pub fn search_hints(f: &Facts) -> (Vec<Option<Zxid>>, BTreeMap<SessionId, Zxid>) {
    let hints = f
        .input
        .ops
        .iter()
        .map(|o| {
            o.reply_zxid()
                .or_else(|| f.txn_of[o.index].map(|p| f.input.log[p].hdr.zxid))
        })
        .collect();
    let client_closes: std::collections::BTreeSet<usize> = f
        .input
        .ops
        .iter()
        .filter(|o| matches!(o.request, Request::CloseSession))
        .filter_map(|o| f.txn_of[o.index])
        .collect();
    let mut expiry = BTreeMap::new();
    for (p, e) in f.input.log.iter().enumerate() {
        if matches!(e.txn, corral_core::txn::Txn::CloseSession { .. })
            && !client_closes.contains(&p)
        {
            expiry.entry(e.hdr.session).or_insert(e.hdr.zxid);
        }
    }
    (hints, expiry)
}

/// The checkers that need no server log, for a history recorded elsewhere: `real-time`
/// and `session-order` over the reply zxids (answered ops only; without zxids they check
/// nothing), and the search checker with at most `max_steps` model steps.
pub fn check_history(ops: &[Op], max_steps: u64) -> Vec<Verdict> {
    let input = Input {
        ops,
        session_ends: &[],
        watches: &[],
        connects: &[],
        log: &[],
        heal_ms: 0,
        clients: 0,
        ensemble: false,
    };
    let f = Facts::new(input);
    let hints: Vec<Option<Zxid>> = ops.iter().map(Op::reply_zxid).collect();
    let r = search::search(&search::Input {
        ops,
        hints: &hints,
        expiry_hints: &BTreeMap::new(),
        max_steps,
        sequential_reads: false,
    });
    vec![
        order::real_time(&f),
        order::session_order(&f),
        search_verdict(Verdict::new("linearizable"), r),
    ]
}

/// After the last fault heals, every client gets something done, and no operation is
/// left without an answer when the run ends.
fn liveness(f: &Facts) -> Verdict {
    let mut v = Verdict::new("liveness");
    let ops = f.input.ops;
    for c in 0..f.input.clients {
        v.checked += 1;
        let progressed = ops.iter().any(|o| {
            o.client == c
                && o.ret
                    .as_ref()
                    .is_some_and(|r| r.outcome == Outcome::Ok && r.ms >= f.input.heal_ms)
        });
        if !progressed {
            v.fail(format!(
                "client{} completed nothing after the faults healed at {}ms",
                c + 1,
                f.input.heal_ms
            ));
        }
    }
    for o in ops.iter().filter(|o| o.ret.is_none()) {
        v.fail(format!("never answered: {o}"));
    }
    v
}
