//! Checks of writes against the durable log, and of reads against the model.

use corral_core::error::ErrorCode;
use corral_core::proto::{Request, Response};
use corral_core::txn::{CreateKind, Txn};
use corral_core::types::SessionId;

use super::{model, Facts, Verdict};
use crate::history::Outcome;
use crate::workload::flags;

/// The log itself: zxids strictly increasing, and without gaps inside an epoch (a gap is
/// a lost durable entry: zxids are handed out consecutively and only unsynced ones may be
/// reused after a crash).
pub fn log_shape(f: &Facts) -> Verdict {
    let mut v = Verdict::new("log");
    let log = f.input.log;
    v.checked = log.len();
    for w in log.windows(2) {
        let (a, b) = (w[0].hdr.zxid, w[1].hdr.zxid);
        let ok = if a.epoch() == b.epoch() {
            b.counter() == a.counter() + 1
        } else {
            b > a
        };
        if !ok {
            v.fail(format!("zxid {b} follows {a}"));
        }
    }
    v
}

/// (a) Every write the server answered is in the durable log at the zxid of its reply,
/// unless it was refused without a txn (session expired, malformed).
pub fn durability(f: &Facts) -> Verdict {
    let mut v = Verdict::new("durability");
    for op in f.input.ops.iter().filter(|o| o.is_write()) {
        let Some(zxid) = op.reply_zxid() else {
            continue;
        };
        v.checked += 1;
        match f.txn_of[op.index] {
            Some(p) if f.input.log[p].hdr.zxid != zxid => v.fail(format!(
                "{op}: reply names zxid {zxid} but its txn is logged at {}",
                f.input.log[p].hdr.zxid
            )),
            Some(_) => {}
            None if f.pos[op.index].is_some_and(|p| !p.strict) => {}
            None => v.fail(format!(
                "acknowledged write missing from the durable log: {op}"
            )),
        }
    }
    v
}

/// Does `txn` implement `req` of `session`? (Whole, never half: every sub-op present.)
fn txn_matches(req: &Request, txn: &Txn, session: SessionId) -> bool {
    match (req, txn) {
        (Request::CloseSession, Txn::CloseSession { .. }) => true,
        (Request::Multi(rs), Txn::Multi(ts)) => {
            rs.len() == ts.len()
                && rs
                    .iter()
                    .zip(ts)
                    .all(|(r, t)| matches!(t, Txn::Error { .. }) || txn_matches(r, t, session))
        }
        // A request refused as a whole (its session moved or expired, or it did not
        // decode) is logged as one error txn, a multi too.
        (
            Request::Multi(_),
            Txn::Error {
                err:
                    ErrorCode::SessionMoved | ErrorCode::SessionExpired | ErrorCode::MarshallingError,
            },
        ) => true,
        (Request::Multi(_) | Request::CloseSession, _) => false,
        (_, Txn::Error { .. }) => true,
        (
            Request::Create { req: c, .. },
            Txn::Create {
                path,
                data,
                acl,
                kind,
                ..
            },
        ) => {
            let sequential = matches!(c.flags, flags::SEQUENTIAL | flags::EPHEMERAL_SEQUENTIAL);
            let path_ok = if sequential {
                path.len() == c.path.len() + 10
                    && path.starts_with(&c.path)
                    && path[c.path.len()..].bytes().all(|b| b.is_ascii_digit())
            } else {
                *path == c.path
            };
            let kind_ok = match c.flags {
                flags::EPHEMERAL | flags::EPHEMERAL_SEQUENTIAL => {
                    *kind == CreateKind::Ephemeral(session)
                }
                _ => *kind == CreateKind::Persistent,
            };
            path_ok && kind_ok && *data == c.data && Some(acl) == c.acl.as_ref()
        }
        (Request::Delete { path: p, .. }, Txn::Delete { path }) => p == path,
        (
            Request::SetData {
                path: p,
                data: d,
                version: v,
            },
            Txn::SetData {
                path,
                data,
                version,
            },
        ) => p == path && d == data && (*v == -1 || *version == v.wrapping_add(1)),
        (Request::Check { path: p, .. }, Txn::Check { path, .. }) => p == path,
        _ => false,
    }
}

/// (b) Each logged txn is exactly one client request, whole; each answered write's reply
/// is what the sequential model returns for its txn.
pub fn write_replies(f: &Facts) -> Verdict {
    let mut v = Verdict::new("write-replies");
    let log = f.input.log;
    let mut owner = vec![None; log.len()];
    for op in f.input.ops {
        let Some(p) = f.txn_of[op.index] else {
            continue;
        };
        v.checked += 1;
        owner[p] = Some(op.index);
        let e = &log[p];
        if !txn_matches(&op.request, &e.txn, op.session) {
            v.fail(format!(
                "{op}: logged txn {:?} does not implement it",
                e.txn
            ));
            continue;
        }
        let Some(ret) = op.ret.as_ref().filter(|_| op.answered()) else {
            continue;
        };
        let expected = match (&op.request, &e.txn) {
            (Request::Multi(_), Txn::Error { err }) => Err(*err),
            _ => model::write_reply(&op.request, &f.replay.results[p].results),
        };
        let actual = match (&ret.outcome, &ret.body) {
            (Outcome::Ok, Some(b)) => Ok(b.clone()),
            (Outcome::Failed(e), _) => Err(*e),
            _ => Err(ErrorCode::SystemError),
        };
        if actual != expected {
            v.fail(format!(
                "{op}: replied {actual:?}, the model says {expected:?}"
            ));
        }
    }
    for (key, positions) in &f.by_cxid {
        if positions.len() > 1 {
            v.fail(format!(
                "session {} cxid {} logged {} times",
                key.0,
                key.1,
                positions.len()
            ));
        }
        for &p in positions {
            if owner[p].is_none() && positions.len() == 1 {
                v.fail(format!(
                    "phantom txn at zxid {}: no client sent session {} cxid {}: {:?}",
                    log[p].hdr.zxid, key.0, key.1, log[p].txn
                ));
            }
        }
    }
    v
}

fn normalized(r: &Result<Response, ErrorCode>) -> Result<Response, ErrorCode> {
    match r {
        Ok(Response::Children { children }) => {
            let mut c = children.clone();
            c.sort();
            Ok(Response::Children { children: c })
        }
        Ok(Response::Children2 { children, stat }) => {
            let mut c = children.clone();
            c.sort();
            Ok(Response::Children2 {
                children: c,
                stat: *stat,
            })
        }
        other => other.clone(),
    }
}

/// (e, first half) A read returns exactly the model state at the zxid of its reply header,
/// and that zxid is a state the log passed through.
pub fn reads(f: &Facts) -> Verdict {
    let mut v = Verdict::new("reads");
    for (k, &i) in f.read_ops.iter().enumerate() {
        v.checked += 1;
        let op = &f.input.ops[i];
        let ret = op.ret.as_ref().expect("answered");
        let Some(expected) = &f.replay.reads[k] else {
            v.fail(format!(
                "{op}: the log never passed through state {}",
                op.reply_zxid().expect("answered")
            ));
            continue;
        };
        let actual = match (&ret.outcome, &ret.body) {
            (Outcome::Ok, Some(b)) => Ok(b.clone()),
            (Outcome::Failed(e), _) => Err(*e),
            _ => Err(ErrorCode::SystemError),
        };
        if normalized(&actual) != normalized(expected) {
            v.fail(format!(
                "{op}: read {actual:?}, the model at that zxid holds {expected:?}"
            ));
        }
    }
    v
}
