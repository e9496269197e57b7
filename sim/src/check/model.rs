//! The sequential model: the final durable log replayed, in zxid order, into a fresh
//! `DataTree`, answering each write with what it should have replied and each read with
//! what the tree held at the zxid its reply header names.

use std::collections::BTreeSet;

use corral_core::error::ErrorCode;
use corral_core::proto::{op, MultiResult, Request, Response};
use corral_core::server::LogEntry;
use corral_core::tree::{ApplyResult, DataTree, OpResult};
use corral_core::txn::{CreateKind, Txn};
use corral_core::types::{SessionId, Zxid};

/// What replaying the log found.
#[derive(Debug, Default)]
pub struct Replay {
    /// Per log entry, what applying it did.
    pub results: Vec<ApplyResult>,
    /// Per requested read (same order as asked): the model's answer, or `None` when the
    /// log holds no state with that zxid.
    pub reads: Vec<Option<Result<Response, ErrorCode>>>,
    /// Model-level violations found while replaying (ephemeral rules).
    pub violations: Vec<String>,
}

/// True for the reads [`answer`] models.
pub fn modelled(req: &Request) -> bool {
    matches!(
        req,
        Request::Exists { .. }
            | Request::GetData { .. }
            | Request::GetChildren { .. }
            | Request::GetChildren2 { .. }
            | Request::Sync { .. }
    )
}

/// The model's answer to a read against `tree`; `None` for requests it does not model.
pub fn answer(tree: &DataTree, req: &Request) -> Option<Result<Response, ErrorCode>> {
    let node = |p: &str| tree.node(p).ok_or(ErrorCode::NoNode);
    Some(match req {
        Request::Exists { path, .. } => node(path).map(|n| Response::Stat(n.client_stat())),
        Request::GetData { path, .. } => node(path).map(|n| Response::GetData {
            data: n.data.map(<[u8]>::to_vec),
            stat: n.client_stat(),
        }),
        Request::GetChildren { path, .. } => node(path).map(|n| Response::Children {
            children: n.children().map(str::to_owned).collect(),
        }),
        Request::GetChildren2 { path, .. } => node(path).map(|n| Response::Children2 {
            children: n.children().map(str::to_owned).collect(),
            stat: n.client_stat(),
        }),
        Request::Sync { path } => Ok(Response::Sync { path: path.clone() }),
        _ => return None,
    })
}

/// The reply Corral owes for the write `request` whose txn applied with `results`. (A
/// failed multi is a success reply holding per-op errors. Inside a multi, an op-1 create
/// answers with a path-only result and create2/createContainer/createTTL with the path
/// and Stat: 3.8.4+ behaviour, a documented deliberate difference from 3.8.0.)
pub fn write_reply(request: &Request, results: &[OpResult]) -> Result<Response, ErrorCode> {
    let op_code = request.op();
    if let Request::Multi(sub_requests) = request {
        let subs = results
            .iter()
            .enumerate()
            .map(|(i, r)| match r {
                OpResult::Created { path, stat } => match sub_requests.get(i).map(Request::op) {
                    Some(op::CREATE) | None => MultiResult::Create { path: path.clone() },
                    Some(_) => MultiResult::Create2 {
                        path: path.clone(),
                        stat: *stat,
                    },
                },
                OpResult::Deleted => MultiResult::Delete,
                OpResult::DataSet { stat } | OpResult::AclSet { stat } => {
                    MultiResult::SetData { stat: *stat }
                }
                OpResult::Checked => MultiResult::Check,
                OpResult::Error(e) => MultiResult::Error(e.code()),
                OpResult::SessionCreated | OpResult::SessionClosed => {
                    MultiResult::Error(ErrorCode::MarshallingError.code())
                }
            })
            .collect();
        return Ok(Response::Multi(subs));
    }
    match results.first() {
        None | Some(OpResult::Deleted | OpResult::SessionClosed | OpResult::Checked) => {
            Ok(Response::Empty)
        }
        Some(OpResult::SessionCreated) => Ok(Response::Empty),
        Some(OpResult::Error(e)) => Err(*e),
        Some(OpResult::Created { path, stat }) => Ok(if op_code == op::CREATE {
            Response::Create { path: path.clone() }
        } else {
            Response::Create2 {
                path: path.clone(),
                stat: *stat,
            }
        }),
        Some(OpResult::DataSet { stat } | OpResult::AclSet { stat }) => Ok(Response::Stat(*stat)),
    }
}

/// Replay `log` and answer `reads` (request, reply zxid) along the way.
pub fn replay(log: &[LogEntry], reads: &[(&Request, Zxid)]) -> Replay {
    let mut order: Vec<usize> = (0..reads.len()).collect();
    order.sort_by_key(|&i| reads[i].1);
    let mut out = Replay {
        reads: vec![None; reads.len()],
        ..Replay::default()
    };
    let mut tree = DataTree::new();
    let mut closed: BTreeSet<SessionId> = BTreeSet::new();
    let mut next = 0;
    for i in order {
        let (req, zxid) = reads[i];
        while next < log.len() && log[next].hdr.zxid <= zxid {
            apply(&mut tree, &log[next], &mut closed, &mut out);
            next += 1;
        }
        if tree.last_zxid() == zxid {
            out.reads[i] = answer(&tree, req);
        }
    }
    while next < log.len() {
        apply(&mut tree, &log[next], &mut closed, &mut out);
        next += 1;
    }
    out
}

fn apply(tree: &mut DataTree, e: &LogEntry, closed: &mut BTreeSet<SessionId>, out: &mut Replay) {
    let creates_ephemeral_of = |t: &Txn| match t {
        Txn::Create {
            kind: CreateKind::Ephemeral(s),
            path,
            ..
        } => Some((*s, path.clone())),
        _ => None,
    };
    let subs: Vec<&Txn> = match &e.txn {
        Txn::Multi(v) => v.iter().collect(),
        t => vec![t],
    };
    for t in subs {
        if let Some((s, path)) = creates_ephemeral_of(t) {
            if closed.contains(&s) {
                out.violations.push(format!(
                    "zxid {}: creates ephemeral {path} for session {s}, closed earlier",
                    e.hdr.zxid
                ));
            }
        }
    }
    let r = tree.apply(&e.hdr, &e.txn);
    if let Txn::CloseSession { .. } = e.txn {
        let s = e.hdr.session;
        closed.insert(s);
        let left = tree.ephemerals(s);
        if !left.is_empty() {
            out.violations.push(format!(
                "zxid {}: session {s} closed but its ephemerals {left:?} remain",
                e.hdr.zxid
            ));
        }
    }
    out.results.push(r);
}
