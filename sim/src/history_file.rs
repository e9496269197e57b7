//! The history file format: JSON lines, one operation per line, so a history recorded
//! elsewhere (another harness, a real ZooKeeper) can be checked with `corral-sim check`,
//! and a simulated run's history can be written out with `corral-sim run --history-out`.
//! docs/simulation.md describes the format.

use std::fmt::Write as _;

use corral_core::error::ErrorCode;
use corral_core::proto::data::{Acl, Stat};
use corral_core::proto::request::CreateRequest;
use corral_core::proto::{op, MultiResult, Request, Response};
use corral_core::types::{SessionId, Zxid};
use serde::{Deserialize, Serialize};

use crate::history::{Op, Outcome, Return};

/// One operation (a line of the file).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Line {
    /// Client (0-based); informational.
    #[serde(default)]
    pub client: usize,
    /// Client incarnation (a new one per session on the same client); informational.
    #[serde(default)]
    pub incarnation: u32,
    /// The session id (0 = the op never reached a server).
    pub session: i64,
    /// The request xid; informational.
    #[serde(default)]
    pub xid: i32,
    #[serde(flatten)]
    pub req: ReqArgs,
    /// Invocation time (any unit, the same for every line).
    pub invoke: u64,
    /// Return time; absent or null if the operation never returned.
    #[serde(rename = "return", default, skip_serializing_if = "Option::is_none")]
    pub ret: Option<u64>,
    /// Optional global event order, to break ties between equal times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoke_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_seq: Option<u64>,
    /// "ok", "failed" (the server answered with `error`) or "unknown" (no answer).
    pub outcome: String,
    /// Error name (`NoNode`) or code (-101), for "failed" and optionally "unknown".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<serde_json::Value>,
    /// The reply header's zxid, for answered operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zxid: Option<i64>,
    /// The reply body of an "ok" operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<Reply>,
}

/// A request: its kind and arguments.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ReqArgs {
    /// create, create2, delete, setData, check, exists, getData, getChildren,
    /// getChildren2, sync, multi, closeSession.
    pub op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// UTF-8 data (null = no data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// Create mode: 0 persistent, 1 ephemeral, 2 sequential, 3 ephemeral sequential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<i32>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub watch: bool,
    /// The sub-requests of a multi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ops: Option<Vec<ReqArgs>>,
}

/// A reply body; which fields are present depends on the op.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat: Option<JStat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<Vec<String>>,
    /// Multi results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<JResult>>,
}

/// A Stat with ZooKeeper's field names.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JStat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: i64,
}

/// One multi result: `type` is create, create2, delete, setData, check or error.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JResult {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat: Option<JStat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err: Option<i32>,
}

impl From<Stat> for JStat {
    fn from(s: Stat) -> JStat {
        JStat {
            czxid: s.czxid.0,
            mzxid: s.mzxid.0,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion,
            aversion: s.aversion,
            ephemeral_owner: s.ephemeral_owner.0,
            data_length: s.data_length,
            num_children: s.num_children,
            pzxid: s.pzxid.0,
        }
    }
}

impl From<JStat> for Stat {
    fn from(s: JStat) -> Stat {
        Stat {
            czxid: Zxid(s.czxid),
            mzxid: Zxid(s.mzxid),
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion,
            aversion: s.aversion,
            ephemeral_owner: SessionId(s.ephemeral_owner),
            data_length: s.data_length,
            num_children: s.num_children,
            pzxid: Zxid(s.pzxid),
        }
    }
}

fn text(d: &Option<Vec<u8>>) -> Option<String> {
    d.as_ref().map(|b| String::from_utf8_lossy(b).into_owned())
}

fn bytes(d: &Option<String>) -> Option<Vec<u8>> {
    d.as_ref().map(|s| s.as_bytes().to_vec())
}

fn req_args(r: &Request) -> ReqArgs {
    let (name, path) = match r {
        Request::Create { op: o, req } => {
            return ReqArgs {
                op: if *o == op::CREATE {
                    "create"
                } else {
                    "create2"
                }
                .to_owned(),
                path: Some(req.path.clone()),
                data: text(&req.data),
                flags: Some(req.flags),
                ..ReqArgs::default()
            }
        }
        Request::Delete { path, version } => {
            return ReqArgs {
                op: "delete".to_owned(),
                path: Some(path.clone()),
                version: Some(*version),
                ..ReqArgs::default()
            }
        }
        Request::SetData {
            path,
            data,
            version,
        } => {
            return ReqArgs {
                op: "setData".to_owned(),
                path: Some(path.clone()),
                data: text(data),
                version: Some(*version),
                ..ReqArgs::default()
            }
        }
        Request::Check { path, version } => {
            return ReqArgs {
                op: "check".to_owned(),
                path: Some(path.clone()),
                version: Some(*version),
                ..ReqArgs::default()
            }
        }
        Request::Multi(ops) => {
            return ReqArgs {
                op: "multi".to_owned(),
                ops: Some(ops.iter().map(req_args).collect()),
                ..ReqArgs::default()
            }
        }
        Request::Exists { path, watch } => ("exists", Some((path, *watch))),
        Request::GetData { path, watch } => ("getData", Some((path, *watch))),
        Request::GetChildren { path, watch } => ("getChildren", Some((path, *watch))),
        Request::GetChildren2 { path, watch } => ("getChildren2", Some((path, *watch))),
        Request::Sync { path } => ("sync", Some((path, false))),
        Request::CloseSession => ("closeSession", None),
        other => {
            return ReqArgs {
                op: format!("op{}", other.op()),
                ..ReqArgs::default()
            }
        }
    };
    ReqArgs {
        op: name.to_owned(),
        path: path.map(|(p, _)| p.clone()),
        watch: path.is_some_and(|(_, w)| w),
        ..ReqArgs::default()
    }
}

fn reply_of(body: &Response) -> Option<Reply> {
    let r = match body {
        Response::Empty => return None,
        Response::Create { path } | Response::Sync { path } => Reply {
            path: Some(path.clone()),
            ..Reply::default()
        },
        Response::Create2 { path, stat } => Reply {
            path: Some(path.clone()),
            stat: Some((*stat).into()),
            ..Reply::default()
        },
        Response::Stat(stat) => Reply {
            stat: Some((*stat).into()),
            ..Reply::default()
        },
        Response::GetData { data, stat } => Reply {
            data: text(data),
            stat: Some((*stat).into()),
            ..Reply::default()
        },
        Response::Children { children } => Reply {
            children: Some(children.clone()),
            ..Reply::default()
        },
        Response::Children2 { children, stat } => Reply {
            children: Some(children.clone()),
            stat: Some((*stat).into()),
            ..Reply::default()
        },
        Response::Multi(results) => Reply {
            results: Some(
                results
                    .iter()
                    .map(|m| {
                        let (kind, path, stat, err) = match m {
                            MultiResult::Create { path } => {
                                ("create", Some(path.clone()), None, None)
                            }
                            MultiResult::Create2 { path, stat } => {
                                ("create2", Some(path.clone()), Some((*stat).into()), None)
                            }
                            MultiResult::Delete => ("delete", None, None, None),
                            MultiResult::SetData { stat } => {
                                ("setData", None, Some((*stat).into()), None)
                            }
                            MultiResult::Check => ("check", None, None, None),
                            MultiResult::Error(e) => ("error", None, None, Some(*e)),
                            // multiRead results never occur in a write multi.
                            MultiResult::GetChildren { .. } | MultiResult::GetData { .. } => {
                                ("unsupported", None, None, None)
                            }
                        };
                        JResult {
                            kind: kind.to_owned(),
                            path,
                            stat,
                            err,
                        }
                    })
                    .collect(),
            ),
            ..Reply::default()
        },
        _ => return None,
    };
    Some(r)
}

fn error_value(e: ErrorCode) -> serde_json::Value {
    serde_json::Value::String(format!("{e:?}"))
}

/// One op as a line.
pub fn to_line(o: &Op) -> Line {
    let (outcome, error) = match o.outcome() {
        Some(Outcome::Ok) => ("ok", None),
        Some(Outcome::Failed(e)) => ("failed", Some(error_value(*e))),
        Some(Outcome::Unknown(e)) => ("unknown", Some(error_value(*e))),
        None => ("unknown", None),
    };
    let ret = o.ret.as_ref();
    Line {
        client: o.client,
        incarnation: o.incarnation,
        session: o.session.0,
        xid: o.xid,
        req: req_args(&o.request),
        invoke: o.invoke_ms,
        ret: ret.map(|r| r.ms),
        invoke_seq: Some(o.invoke_seq),
        return_seq: ret.map(|r| r.seq),
        outcome: outcome.to_owned(),
        error,
        zxid: ret.and_then(|r| r.zxid).map(|z| z.0),
        reply: ret
            .filter(|r| r.outcome == Outcome::Ok)
            .and_then(|r| r.body.as_ref())
            .and_then(reply_of),
    }
}

/// The whole history as JSON lines.
pub fn write(ops: &[Op]) -> String {
    let mut s = String::new();
    for o in ops {
        let line = serde_json::to_string(&to_line(o)).expect("serializable");
        let _ = writeln!(s, "{line}");
    }
    s
}

fn parse_error(v: &serde_json::Value) -> Result<ErrorCode, String> {
    let found = match v {
        serde_json::Value::Number(n) => n
            .as_i64()
            .and_then(|c| i32::try_from(c).ok())
            .and_then(ErrorCode::from_code),
        serde_json::Value::String(s) => (-130..=0)
            .filter_map(ErrorCode::from_code)
            .find(|e| format!("{e:?}") == *s),
        _ => None,
    };
    found.ok_or_else(|| format!("unknown error {v}"))
}

fn need<T: Clone>(v: &Option<T>, what: &str, op: &str) -> Result<T, String> {
    v.clone().ok_or_else(|| format!("{op} needs \"{what}\""))
}

fn parse_req(a: &ReqArgs) -> Result<Request, String> {
    let op_name = a.op.as_str();
    let path = || need(&a.path, "path", op_name);
    let version = || need(&a.version, "version", op_name);
    Ok(match op_name {
        "create" | "create2" => Request::Create {
            op: if op_name == "create" {
                op::CREATE
            } else {
                op::CREATE2
            },
            req: CreateRequest {
                path: path()?,
                data: bytes(&a.data),
                acl: Some(Acl::open_unsafe()),
                flags: a.flags.unwrap_or(0),
                ttl: None,
            },
        },
        "delete" => Request::Delete {
            path: path()?,
            version: version()?,
        },
        "setData" => Request::SetData {
            path: path()?,
            data: bytes(&a.data),
            version: version()?,
        },
        "check" => Request::Check {
            path: path()?,
            version: version()?,
        },
        "exists" => Request::Exists {
            path: path()?,
            watch: a.watch,
        },
        "getData" => Request::GetData {
            path: path()?,
            watch: a.watch,
        },
        "getChildren" => Request::GetChildren {
            path: path()?,
            watch: a.watch,
        },
        "getChildren2" => Request::GetChildren2 {
            path: path()?,
            watch: a.watch,
        },
        "sync" => Request::Sync { path: path()? },
        "closeSession" => Request::CloseSession,
        "multi" => {
            let subs = need(&a.ops, "ops", op_name)?;
            let mut out = Vec::with_capacity(subs.len());
            for (i, s) in subs.iter().enumerate() {
                let r = parse_req(s).map_err(|e| format!("multi op {i}: {e}"))?;
                if !matches!(
                    r,
                    Request::Create { .. }
                        | Request::Delete { .. }
                        | Request::SetData { .. }
                        | Request::Check { .. }
                ) {
                    return Err(format!("multi op {i}: {} is not allowed in a multi", s.op));
                }
                out.push(r);
            }
            Request::Multi(out)
        }
        other => return Err(format!("unknown op \"{other}\"")),
    })
}

fn parse_reply(req: &Request, r: Option<&Reply>) -> Result<Response, String> {
    let empty = Reply::default();
    let r = r.unwrap_or(&empty);
    let stat = || {
        r.stat
            .map(Stat::from)
            .ok_or_else(|| "the reply needs \"stat\"".to_owned())
    };
    let path = || {
        r.path
            .clone()
            .ok_or_else(|| "the reply needs \"path\"".to_owned())
    };
    let children = || {
        r.children
            .clone()
            .ok_or_else(|| "the reply needs \"children\"".to_owned())
    };
    Ok(match req {
        Request::Create { op: o, .. } if *o == op::CREATE => Response::Create { path: path()? },
        Request::Create { .. } => Response::Create2 {
            path: path()?,
            stat: stat()?,
        },
        Request::SetData { .. } | Request::Exists { .. } => Response::Stat(stat()?),
        Request::GetData { .. } => Response::GetData {
            data: bytes(&r.data),
            stat: stat()?,
        },
        Request::GetChildren { .. } => Response::Children {
            children: children()?,
        },
        Request::GetChildren2 { .. } => Response::Children2 {
            children: children()?,
            stat: stat()?,
        },
        Request::Sync { path: p } => Response::Sync {
            path: r.path.clone().unwrap_or_else(|| p.clone()),
        },
        Request::Multi(_) => {
            let results = r
                .results
                .as_ref()
                .ok_or_else(|| "the reply needs \"results\"".to_owned())?;
            let mut out = Vec::new();
            for (i, j) in results.iter().enumerate() {
                let need_path = || {
                    j.path
                        .clone()
                        .ok_or_else(|| format!("result {i} needs \"path\""))
                };
                let need_stat = || {
                    j.stat
                        .map(Stat::from)
                        .ok_or_else(|| format!("result {i} needs \"stat\""))
                };
                out.push(match j.kind.as_str() {
                    "create" => MultiResult::Create { path: need_path()? },
                    "create2" => MultiResult::Create2 {
                        path: need_path()?,
                        stat: need_stat()?,
                    },
                    "delete" => MultiResult::Delete,
                    "setData" => MultiResult::SetData { stat: need_stat()? },
                    "check" => MultiResult::Check,
                    "error" => MultiResult::Error(
                        j.err.ok_or_else(|| format!("result {i} needs \"err\""))?,
                    ),
                    other => return Err(format!("result {i}: unknown type \"{other}\"")),
                });
            }
            Response::Multi(out)
        }
        _ => Response::Empty,
    })
}

fn parse_line(index: usize, l: &Line) -> Result<Op, String> {
    let request = parse_req(&l.req)?;
    let error = l.error.as_ref().map(parse_error).transpose()?;
    let outcome = match (l.outcome.as_str(), error) {
        ("ok", _) => Some(Outcome::Ok),
        ("failed", Some(e)) => Some(Outcome::Failed(e)),
        ("failed", None) => return Err("a failed op needs \"error\"".to_owned()),
        ("unknown", e) => l
            .ret
            .map(|_| Outcome::Unknown(e.unwrap_or(ErrorCode::ConnectionLoss))),
        (other, _) => {
            return Err(format!(
                "unknown outcome \"{other}\" (ok, failed or unknown)"
            ))
        }
    };
    if outcome.is_some() && l.ret.is_none() {
        return Err(format!(
            "an op with outcome \"{}\" needs \"return\"",
            l.outcome
        ));
    }
    if let Some(r) = l.ret {
        if r < l.invoke {
            return Err(format!("returns ({r}) before it is invoked ({})", l.invoke));
        }
    }
    let body = match outcome {
        Some(Outcome::Ok) => Some(parse_reply(&request, l.reply.as_ref())?),
        _ => None,
    };
    let zxid = l.zxid.map(Zxid);
    Ok(Op {
        index,
        client: l.client,
        incarnation: l.incarnation,
        session: SessionId(l.session),
        xid: l.xid,
        request,
        invoke_ms: l.invoke,
        invoke_seq: l.invoke_seq.unwrap_or(0),
        ret: outcome.map(|outcome| Return {
            ms: l.ret.expect("checked"),
            seq: l.return_seq.unwrap_or(0),
            outcome,
            zxid,
            body,
        }),
    })
}

/// Parse a history file. Errors name the line (1-based) and what is wrong with it.
pub fn parse(text: &str) -> Result<Vec<Op>, String> {
    let mut ops = Vec::new();
    let mut all_seq = true;
    for (n, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let l: Line = serde_json::from_str(raw).map_err(|e| format!("line {}: {e}", n + 1))?;
        all_seq &= l.invoke_seq.is_some() && (l.ret.is_none() || l.return_seq.is_some());
        let op = parse_line(ops.len(), &l).map_err(|e| format!("line {}: {e}", n + 1))?;
        ops.push(op);
    }
    if !all_seq {
        derive_seq(&mut ops);
    }
    Ok(ops)
}

/// Give every invoke and return a global order from the times, ties by line.
fn derive_seq(ops: &mut [Op]) {
    let mut events: Vec<(u64, usize, u8)> = Vec::new();
    for o in ops.iter() {
        events.push((o.invoke_ms, o.index, 1));
        if let Some(r) = &o.ret {
            events.push((r.ms, o.index, 0));
        }
    }
    events.sort();
    for (seq, (_, i, kind)) in events.into_iter().enumerate() {
        let seq = seq as u64 + 1;
        if kind == 1 {
            ops[i].invoke_seq = seq;
        } else if let Some(r) = ops[i].ret.as_mut() {
            r.seq = seq;
        }
    }
}
