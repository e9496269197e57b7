//! An independent linearizability checker: a Wing-Gong / Lowe (Porcupine-style) search
//! over linearization orders of the client history alone, against the sequential model in
//! [`model`]. It reads no server log, so it cross-checks the zxid-based checkers, which
//! take the server's durable log as the truth.
//!
//! **Operations.** Each operation is an interval `[invoke, return]` with an outcome:
//! - *ok* or *failed with an error the model predicts* (NoNode, NodeExists, BadVersion,
//!   NotEmpty, NoChildrenForEphemerals, BadArguments): it must be linearized, and the model
//!   must give exactly the recorded reply at that point (a failure is an observation too);
//! - *unknown* (no answer: connection loss, timeout, run over): a write that may or may not
//!   have taken effect, at any time after its invocation. It is either applied at some point
//!   or dropped. Unknown reads are left out;
//! - failed with any other code (SessionExpired, NoAuth...): did not apply, left out.
//!   Syncs and ops that never reached a server (no session) are left out too.
//!
//! **Order.** A must come before B if A returned before B was invoked (`A.ret < B.invoke`),
//! or if both belong to one session and A was submitted first (ZooKeeper's FIFO client
//! order, which covers unknown writes that did land). For an ensemble
//! (`sequential_reads`), the real-time rule binds only when B is a write: a read may be
//! answered by a server that lags, so it only follows its own session's operations; and
//! an unknown-outcome write is not held to its session's order (it may still be in flight
//! from the server the session left while another answers the session's later requests). A session's closeSession (or a
//! server-side expiry, modelled as an unknown pseudo-op for every session that created
//! ephemerals) removes its ephemerals; no write of that session linearizes after it.
//!
//! **Partitions (P-compositionality).** Operations on unrelated paths are independent, so
//! the history is split with union-find over the paths each operation touches and every
//! part is searched on its own:
//! - setData, check and reads touch their path;
//! - create and delete also touch the parent (they change its children and cversion, and
//!   depend on its existence), unless no operation of the history targets the parent, in
//!   which case the parent is never observed and never changes existence (typically `/`);
//! - a sequential create touches its parent (its name comes from the parent's cversion),
//!   and then any operation on a path under that parent touches the parent too, since the
//!   name it looks at may be one a sequential create made;
//! - a multi touches the union of its sub-operations; closeSession and expiry touch every
//!   path their session created ephemerally (with those creates' parents).
//!
//! Operations that are not partitionable, such as a multi across paths or creates under an
//! observed parent, simply merge parts. Session order and the closed-session rule are
//! enforced within a part only, so splitting can miss a cycle through several parts, but
//! never reports a violation that is not one.
//!
//! **Search.** A depth-first search. Within a part, under session order the set of
//! linearized operations is a prefix of each session's queue, so the search state is one
//! counter per queue plus the model state; states seen before (a 128-bit hash of both) are
//! not searched again. At each step the candidates are the queue heads not preceded by an
//! operation still outstanding. Candidates are tried in the order of an optional hint (the
//! zxid the operation got, when known), which makes a correct history linear to check; the
//! hint never changes the verdict, only how fast it is reached. A step budget bounds the
//! work: past it, the answer is "unknown", never a hang.

pub mod model;

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use corral_core::proto::{Request, Response};
use corral_core::types::{SessionId, Zxid};

use crate::history::{Op, Outcome};
use model::State;

/// The answer of one search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// Every part has a linearization.
    Linearizable,
    /// Some part has none: the explanation.
    Violation(String),
    /// The budget ran out, or the history holds operations the model cannot execute.
    Unknown(String),
}

/// What the search did.
#[derive(Clone, Debug)]
pub struct Report {
    pub found: Found,
    /// Operations searched (including unknown-outcome writes and expiry pseudo-ops).
    pub entries: usize,
    /// Operations left out (unknown reads, syncs, unmodelled failures).
    pub left_out: usize,
    pub partitions: usize,
    /// Model steps taken, over all parts.
    pub steps: u64,
}

/// What to search.
pub struct Input<'a> {
    pub ops: &'a [Op],
    /// Per op (same index), an ordering hint: the zxid it took effect at, when known.
    /// May be empty.
    pub hints: &'a [Option<Zxid>],
    /// Sessions whose expiry is known to have happened at a zxid (ordering hint only).
    pub expiry_hints: &'a BTreeMap<SessionId, Zxid>,
    /// Model steps allowed in total.
    pub max_steps: u64,
    /// Reads are sequentially consistent, not linearizable (an ensemble: a server answers
    /// from its own state, which may lag): a read need not follow what returned before it
    /// was invoked in other sessions. Writes still follow every operation that returned
    /// before they were invoked, reads included.
    pub sequential_reads: bool,
}

/// What an entry does in the model.
#[derive(Clone, Debug)]
enum Action {
    Op(Request),
    /// Server-side expiry of the session (pseudo-op).
    Expire,
}

#[derive(Clone, Debug)]
enum Expect {
    Reply(Response),
    Error(corral_core::error::ErrorCode),
    /// May have taken effect or not.
    Unknown,
}

type Key = (i64, u8, u64);

#[derive(Clone, Debug)]
struct Entry {
    /// Index of the op in the history, `None` for an expiry pseudo-op.
    op: Option<usize>,
    session: i64,
    action: Action,
    expect: Expect,
    invoke: u64,
    /// `u64::MAX` when it never returned.
    ret: u64,
    /// Submission order within the session.
    seq: u64,
    hint: Option<i64>,
}

impl Entry {
    fn must(&self) -> bool {
        !matches!(self.expect, Expect::Unknown)
    }

    fn is_write(&self) -> bool {
        match &self.action {
            Action::Op(r) => r.is_write(),
            Action::Expire => true,
        }
    }

    /// The search order of applying it.
    fn key(&self) -> Key {
        match self.hint {
            Some(z) => (z, u8::from(!self.is_write()), self.invoke),
            None => (i64::MAX, 0, self.invoke),
        }
    }

    /// The search order of dropping it (unknown entries only): early when nothing says it
    /// took effect, last when a hint says it did.
    fn drop_key(&self) -> Key {
        match self.hint {
            Some(_) => (i64::MAX, 2, self.invoke),
            None => (i64::MIN, 0, self.invoke),
        }
    }

    fn describe(&self, ops: &[Op]) -> String {
        match self.op {
            Some(i) => ops[i].to_string(),
            None => format!("expiry of session 0x{:x}", self.session),
        }
    }
}

/// Turn the history into entries; `Err` for an operation the model cannot execute.
fn entries(input: &Input<'_>) -> Result<(Vec<Entry>, usize), String> {
    use corral_core::proto::op;
    let mut out = Vec::new();
    let mut left_out = 0;
    let mut first_invoke: BTreeMap<i64, u64> = BTreeMap::new();
    let mut ephemeral_sessions = BTreeSet::new();
    for o in input.ops {
        if o.session == SessionId::NONE {
            left_out += 1;
            continue;
        }
        let write = o.request.is_write();
        let expect = match (o.outcome(), &o.ret) {
            (Some(Outcome::Ok), Some(r)) => match &r.body {
                Some(b) => Expect::Reply(b.clone()),
                None => Expect::Reply(Response::Empty),
            },
            (Some(Outcome::Failed(e)), _) if model::MODELLED_ERRORS.contains(e) => {
                Expect::Error(*e)
            }
            (Some(Outcome::Failed(_)), _) => {
                left_out += 1;
                continue;
            }
            _ if write => Expect::Unknown,
            _ => {
                left_out += 1;
                continue;
            }
        };
        if matches!(o.request, Request::Sync { .. }) {
            left_out += 1;
            continue;
        }
        if !model::supported(&o.request) {
            if write {
                return Err(format!("the model cannot execute {o}"));
            }
            left_out += 1;
            continue;
        }
        let creates_ephemeral = |r: &Request| matches!(r, Request::Create { op: c, req } if (*c == op::CREATE || *c == op::CREATE2) && (req.flags == 1 || req.flags == 3));
        if creates_ephemeral(&o.request) {
            ephemeral_sessions.insert(o.session.0);
        }
        first_invoke.entry(o.session.0).or_insert(o.invoke_ms);
        out.push(Entry {
            op: Some(o.index),
            session: o.session.0,
            action: Action::Op(o.request.clone()),
            expect,
            invoke: o.invoke_ms,
            ret: o
                .ret
                .as_ref()
                .filter(|_| o.answered())
                .map_or(u64::MAX, |r| r.ms),
            seq: o.invoke_seq,
            hint: input.hints.get(o.index).copied().flatten().map(|z| z.0),
        });
    }
    for s in ephemeral_sessions {
        out.push(Entry {
            op: None,
            session: s,
            action: Action::Expire,
            expect: Expect::Unknown,
            invoke: first_invoke[&s],
            ret: u64::MAX,
            seq: 0,
            hint: input.expiry_hints.get(&SessionId(s)).map(|z| z.0),
        });
    }
    Ok((out, left_out))
}

/// The paths an entry touches (see the module comment); `observed` holds every path some
/// operation targets, `seq_parents` every parent of a sequential create.
fn touched(
    e: &Entry,
    observed: &BTreeSet<String>,
    seq_parents: &BTreeSet<String>,
    ephemeral_paths: &BTreeMap<i64, BTreeSet<String>>,
) -> BTreeSet<String> {
    fn one(
        r: &Request,
        observed: &BTreeSet<String>,
        seq_parents: &BTreeSet<String>,
        out: &mut BTreeSet<String>,
    ) {
        match r {
            Request::Multi(ops) => {
                for o in ops {
                    one(o, observed, seq_parents, out);
                }
            }
            Request::Create { req, .. } if req.flags == 2 || req.flags == 3 => {
                out.insert(model::parent(&req.path).to_owned());
            }
            Request::Create { req, .. } => {
                out.insert(req.path.clone());
                let p = model::parent(&req.path);
                if observed.contains(p) || seq_parents.contains(p) {
                    out.insert(p.to_owned());
                }
            }
            Request::Delete { path, .. } => {
                out.insert(path.clone());
                let p = model::parent(path);
                if observed.contains(p) || seq_parents.contains(p) {
                    out.insert(p.to_owned());
                }
            }
            other => {
                if let Some(path) = other.path() {
                    out.insert(path.to_owned());
                    let p = model::parent(path);
                    if seq_parents.contains(p) {
                        out.insert(p.to_owned());
                    }
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    match &e.action {
        Action::Op(Request::CloseSession) | Action::Expire => {
            if let Some(paths) = ephemeral_paths.get(&e.session) {
                out.extend(paths.iter().cloned());
            }
        }
        Action::Op(r) => one(r, observed, seq_parents, &mut out),
    }
    out
}

/// Split entries into independent parts (lists of entry indices, in entry order).
fn partition(entries: &[Entry]) -> Vec<Vec<usize>> {
    let mut observed = BTreeSet::new();
    let mut seq_parents = BTreeSet::new();
    let mut ephemeral_paths: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for e in entries {
        let Action::Op(r) = &e.action else {
            continue;
        };
        let subs: Vec<&Request> = match r {
            Request::Multi(v) => v.iter().collect(),
            r => vec![r],
        };
        for s in subs {
            if let Some(p) = s.path() {
                observed.insert(p.to_owned());
            }
            if let Request::Create { req, .. } = s {
                if req.flags == 2 || req.flags == 3 {
                    seq_parents.insert(model::parent(&req.path).to_owned());
                }
            }
        }
    }
    // A sequential create's parent is its target, not the prefix it names.
    for e in entries {
        if let Action::Op(Request::Create { req, .. }) = &e.action {
            if req.flags == 2 || req.flags == 3 {
                observed.remove(&req.path);
            }
        }
    }
    for e in entries {
        if let Action::Op(r @ Request::Create { req, .. }) = &e.action {
            if req.flags == 1 || req.flags == 3 {
                let mut t = BTreeSet::new();
                let fake = Entry {
                    action: Action::Op(r.clone()),
                    ..e.clone()
                };
                t.extend(touched(&fake, &observed, &seq_parents, &BTreeMap::new()));
                ephemeral_paths.entry(e.session).or_default().extend(t);
            }
        }
    }
    let mut uf = UnionFind::default();
    let mut first_path: Vec<Option<usize>> = Vec::with_capacity(entries.len());
    for e in entries {
        let t = touched(e, &observed, &seq_parents, &ephemeral_paths);
        let ids: Vec<usize> = t.iter().map(|p| uf.id(p)).collect();
        for w in ids.windows(2) {
            uf.union(w[0], w[1]);
        }
        first_path.push(ids.first().copied());
    }
    let mut parts: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut loners = Vec::new();
    for (i, fp) in first_path.into_iter().enumerate() {
        match fp {
            Some(id) => parts.entry(uf.find(id)).or_default().push(i),
            None => loners.push(vec![i]),
        }
    }
    let mut out: Vec<Vec<usize>> = parts.into_values().collect();
    out.extend(loners);
    out
}

#[derive(Default)]
struct UnionFind {
    ids: BTreeMap<String, usize>,
    parent: Vec<usize>,
}

impl UnionFind {
    fn id(&mut self, p: &str) -> usize {
        if let Some(&i) = self.ids.get(p) {
            return i;
        }
        let i = self.parent.len();
        self.parent.push(i);
        self.ids.insert(p.to_owned(), i);
        i
    }

    fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.parent[a.max(b)] = a.min(b);
        }
    }
}

/// Search the whole history.
pub fn search(input: &Input<'_>) -> Report {
    let (entries, left_out) = match entries(input) {
        Ok(x) => x,
        Err(why) => {
            return Report {
                found: Found::Unknown(why),
                entries: 0,
                left_out: 0,
                partitions: 0,
                steps: 0,
            }
        }
    };
    let parts = partition(&entries);
    let mut report = Report {
        found: Found::Linearizable,
        entries: entries.len(),
        left_out,
        partitions: parts.len(),
        steps: 0,
    };
    let mut budget = input.max_steps;
    let mut gave_up = None;
    for part in &parts {
        let before = budget;
        let found = search_part(
            &entries,
            part,
            input.ops,
            input.sequential_reads,
            &mut budget,
        );
        report.steps += before - budget;
        match found {
            Found::Linearizable => {}
            Found::Violation(v) => {
                report.found = Found::Violation(v);
                return report;
            }
            Found::Unknown(u) => {
                gave_up.get_or_insert(u);
            }
        }
    }
    if let Some(u) = gave_up {
        report.found = Found::Unknown(u);
    }
    report
}

/// One model step: `Ok(None)` when the entry applies without changing the state,
/// `Ok(Some(state))` when it changes it, `Err(why)` when it cannot be linearized here.
fn step(st: &State, e: &Entry) -> Result<Option<State>, String> {
    let mut next = st.clone();
    let result = match &e.action {
        Action::Expire => {
            model::close_session(&mut next, e.session);
            return Ok(Some(next));
        }
        Action::Op(r) => {
            if r.is_write() && st.closed.contains(&e.session) {
                return Err("its session is already closed".to_owned());
            }
            model::exec(&mut next, e.session, r)
        }
    };
    let changed = next != *st;
    let ok = match (&e.expect, &result) {
        (Expect::Reply(got), Ok(want)) => model::same_reply(got, want),
        (Expect::Error(got), Err(want)) => got == want,
        (Expect::Unknown, _) => true,
        _ => false,
    };
    if !ok {
        let want = match &result {
            Ok(r) => format!("{r:?}"),
            Err(e) => format!("{e:?}"),
        };
        return Err(format!("the model answers {want}"));
    }
    Ok(changed.then_some(next))
}

fn state_key(heads: &[u32], st: &State) -> u128 {
    let mut a = DefaultHasher::new();
    let mut b = DefaultHasher::new();
    0xa5u8.hash(&mut b);
    heads.hash(&mut a);
    st.hash(&mut a);
    heads.hash(&mut b);
    st.hash(&mut b);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

struct Frame {
    heads: Vec<u32>,
    state: Rc<State>,
    done_must: usize,
    /// Candidate moves: (key, queue, apply?)
    moves: Vec<(Key, usize, bool)>,
    next: usize,
}

fn search_part(
    all: &[Entry],
    part: &[usize],
    ops: &[Op],
    sequential_reads: bool,
    budget: &mut u64,
) -> Found {
    // Queues: one per session (submission order), one per expiry pseudo-op.
    let mut by_session: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    let mut queues: Vec<Vec<usize>> = Vec::new();
    for &i in part {
        let e = &all[i];
        // With sequential reads (an ensemble), an unknown write is not ordered within its
        // session: it may land after the session's later reads were answered elsewhere.
        if e.op.is_none() || (sequential_reads && !e.must() && e.is_write()) {
            queues.push(vec![i]);
        } else {
            by_session.entry(e.session).or_default().push(i);
        }
    }
    for (_, mut q) in by_session {
        q.sort_by_key(|&i| all[i].seq);
        queues.push(q);
    }
    // Suffix minima of return times of entries that must linearize.
    let sufmin: Vec<Vec<u64>> = queues
        .iter()
        .map(|q| {
            let mut v = vec![u64::MAX; q.len() + 1];
            for k in (0..q.len()).rev() {
                let e = &all[q[k]];
                let r = if e.must() { e.ret } else { u64::MAX };
                v[k] = v[k + 1].min(r);
            }
            v
        })
        .collect();
    let must_total = part.iter().filter(|&&i| all[i].must()).count();
    let moves_at = |heads: &[u32]| -> Vec<(Key, usize, bool)> {
        let min_ret = (0..queues.len())
            .map(|q| sufmin[q][heads[q] as usize])
            .min()
            .unwrap_or(u64::MAX);
        let mut m = Vec::new();
        for (q, queue) in queues.iter().enumerate() {
            let Some(&i) = queue.get(heads[q] as usize) else {
                continue;
            };
            let e = &all[i];
            let bound_by_real_time = e.is_write() || !sequential_reads;
            if bound_by_real_time && e.invoke > min_ret {
                continue;
            }
            m.push((e.key(), q, true));
            if !e.must() {
                m.push((e.drop_key(), q, false));
            }
        }
        m.sort();
        m
    };
    let heads = vec![0u32; queues.len()];
    let mut seen: HashSet<u128> = HashSet::new();
    let root = Rc::new(State::fresh());
    seen.insert(state_key(&heads, &root));
    let mut stack = vec![Frame {
        moves: moves_at(&heads),
        heads,
        state: root,
        done_must: 0,
        next: 0,
    }];
    // The deepest point reached and why nothing could follow it.
    let mut deepest = 0usize;
    let mut stuck: Vec<String> = Vec::new();
    while let Some(top) = stack.last_mut() {
        if top.done_must == must_total {
            return Found::Linearizable;
        }
        if top.next == top.moves.len() {
            stack.pop();
            continue;
        }
        let (_, q, apply) = top.moves[top.next];
        top.next += 1;
        let i = queues[q][top.heads[q] as usize];
        let e = &all[i];
        let new_state = if apply {
            if *budget == 0 {
                let mut msg = format!(
                    "step budget exhausted after linearizing {deepest} of {must_total} ops in a part of {} entries",
                    part.len()
                );
                explain(&mut msg, &stuck);
                return Found::Unknown(msg);
            }
            *budget -= 1;
            match step(&top.state, e) {
                Ok(Some(s)) => Rc::new(s),
                // Also an unknown write the model fails here: it took effect as a failure
                // (a logged error txn, say), the same as dropping it at this point.
                Ok(None) => top.state.clone(),
                Err(why) => {
                    let line = format!("{}: {why}", e.describe(ops));
                    if top.done_must == deepest
                        && stuck.len() < 6
                        && e.must()
                        && !stuck.contains(&line)
                    {
                        stuck.push(line);
                    }
                    continue;
                }
            }
        } else {
            top.state.clone()
        };
        let mut heads = top.heads.clone();
        heads[q] += 1;
        let done_must = top.done_must + usize::from(e.must());
        if !seen.insert(state_key(&heads, &new_state)) {
            continue;
        }
        if done_must > deepest {
            deepest = done_must;
            stuck.clear();
        }
        let moves = moves_at(&heads);
        stack.push(Frame {
            heads,
            state: new_state,
            done_must,
            moves,
            next: 0,
        });
    }
    let mut msg = format!(
        "no linearization: at most {deepest} of the {must_total} definite ops of a part ({} entries) linearize",
        part.len()
    );
    explain(&mut msg, &stuck);
    Found::Violation(msg)
}

fn explain(msg: &mut String, stuck: &[String]) {
    if !stuck.is_empty() {
        msg.push_str("; at the deepest point, candidates fail:");
        for s in stuck {
            msg.push_str("\n        ");
            msg.push_str(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Return;
    use corral_core::proto::data::Acl;
    use corral_core::proto::op;
    use corral_core::proto::request::CreateRequest;

    fn op(index: usize, s: i64, request: Request, t: (u64, u64), body: Response) -> Op {
        Op {
            index,
            client: 0,
            incarnation: 1,
            session: SessionId(s),
            xid: index as i32 + 1,
            request,
            invoke_ms: t.0,
            invoke_seq: t.0,
            ret: Some(Return {
                ms: t.1,
                seq: t.1,
                outcome: Outcome::Ok,
                zxid: None,
                body: Some(body),
            }),
        }
    }

    fn create(path: &str) -> Request {
        Request::Create {
            op: op::CREATE,
            req: CreateRequest {
                path: path.to_owned(),
                data: Some(b"d".to_vec()),
                acl: Some(Acl::open_unsafe()),
                flags: 0,
                ttl: None,
            },
        }
    }

    fn run(ops: &[Op], max_steps: u64) -> Report {
        search(&Input {
            sequential_reads: false,
            ops,
            hints: &[],
            expiry_hints: &BTreeMap::new(),
            max_steps,
        })
    }

    fn created(p: &str) -> Response {
        Response::Create { path: p.to_owned() }
    }

    #[test]
    fn unrelated_paths_are_searched_apart_until_their_parent_is_read() {
        let mut ops = vec![
            op(0, 1, create("/k1"), (0, 5), created("/k1")),
            op(1, 2, create("/k2"), (0, 5), created("/k2")),
            op(2, 3, create("/k3"), (0, 5), created("/k3")),
        ];
        let r = run(&ops, 1000);
        assert_eq!((r.found.clone(), r.partitions), (Found::Linearizable, 3));
        // Reading / makes every create depend on the others (children, cversion).
        let children = Response::Children {
            children: vec!["k1".into(), "k2".into(), "k3".into(), "zookeeper".into()],
        };
        let ls = Request::GetChildren {
            path: "/".into(),
            watch: false,
        };
        ops.push(op(3, 4, ls, (6, 7), children));
        let r = run(&ops, 1000);
        assert_eq!((r.found, r.partitions), (Found::Linearizable, 1));
    }

    #[test]
    fn the_budget_gives_unknown_and_a_bigger_one_the_violation() {
        // Two creates of /k both claim success, concurrently: no linearization, but the
        // search has to try both orders to know.
        let ops = vec![
            op(0, 1, create("/k"), (0, 5), created("/k")),
            op(1, 2, create("/k"), (0, 5), created("/k")),
        ];
        assert!(matches!(run(&ops, 2).found, Found::Unknown(_)));
        let found = run(&ops, 100).found;
        assert!(
            matches!(&found, Found::Violation(v) if v.contains("NodeExists")),
            "{found:?}"
        );
    }
}
