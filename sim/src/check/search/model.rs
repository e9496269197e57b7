//! The search checker's own sequential model of ZooKeeper 3.8 semantics, written from the
//! compatibility reference (§4.1-4.3, §5.2, §6.2) and not from `corral_core`'s tree or
//! prep code, so that a bug shared by those is not mirrored here.
//!
//! It models the data, version, stored cversion, aversion, ephemeral owner and children of
//! each node, sequential naming, multi atomicity, and session close. It does not model
//! zxids, times, ACLs or quotas: replies are compared on everything but `czxid`, `mzxid`,
//! `pzxid`, `ctime` and `mtime`, and ACL or quota errors are never predicted (the caller
//! leaves operations that failed with such errors out).

use std::collections::{BTreeMap, BTreeSet};

use corral_core::error::ErrorCode;
use corral_core::proto::data::Stat;
use corral_core::proto::{op, MultiResult, Request, Response};
use corral_core::types::SessionId;

/// One node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Node {
    pub data: Option<Vec<u8>>,
    pub version: i32,
    /// Stored cversion: counts child creations (the sequential counter).
    pub cversion: i32,
    pub aversion: i32,
    /// Session id of a normal ephemeral, else 0.
    pub owner: i64,
    pub children: BTreeSet<String>,
}

impl Node {
    fn new(data: Option<Vec<u8>>, owner: i64) -> Node {
        Node {
            data,
            version: 0,
            cversion: 0,
            aversion: 0,
            owner,
            children: BTreeSet::new(),
        }
    }

    /// The fields of the client `Stat` the model knows (zxids and times are left 0).
    pub fn stat(&self) -> Stat {
        let num_children = self.children.len() as i32;
        Stat {
            version: self.version,
            cversion: self.cversion.wrapping_mul(2).wrapping_sub(num_children),
            aversion: self.aversion,
            ephemeral_owner: SessionId(self.owner),
            data_length: self.data.as_ref().map_or(0, |d| d.len() as i32),
            num_children,
            ..Stat::default()
        }
    }
}

/// The whole tree, plus the sessions known to be closed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    pub nodes: BTreeMap<String, Node>,
    pub closed: BTreeSet<i64>,
}

impl State {
    /// A fresh server (§4.3): `/`, `/zookeeper`, `/zookeeper/quota`, `/zookeeper/config`
    /// (aversion -1), all with empty data.
    pub fn fresh() -> State {
        let mut nodes = BTreeMap::new();
        let empty = || Node::new(Some(Vec::new()), 0);
        let mut root = empty();
        root.children.insert("zookeeper".to_owned());
        let mut zk = empty();
        zk.children.insert("quota".to_owned());
        zk.children.insert("config".to_owned());
        let mut config = empty();
        config.aversion = -1;
        nodes.insert("/".to_owned(), root);
        nodes.insert("/zookeeper".to_owned(), zk);
        nodes.insert("/zookeeper/quota".to_owned(), empty());
        nodes.insert("/zookeeper/config".to_owned(), config);
        State {
            nodes,
            closed: BTreeSet::new(),
        }
    }
}

/// The parent of an absolute path ("/" for top-level paths and for "/" itself).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

fn name(path: &str) -> &str {
    path.rfind('/').map_or(path, |i| &path[i + 1..])
}

/// §6.3 path validation (for writes).
fn valid_path(path: &str) -> bool {
    if !path.starts_with('/') {
        return false;
    }
    if path == "/" {
        return true;
    }
    !path.ends_with('/')
        && path[1..]
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
        && !path.chars().any(|c| {
            let u = c as u32;
            u == 0
                || (0x1..=0x1f).contains(&u)
                || (0x7f..=0x9f).contains(&u)
                || (0xd800..=0xf8ff).contains(&u)
                || (0xfff0..=0xffff).contains(&u)
                || u > 0xffff
        })
}

const SYSTEM_PATHS: &[&str] = &["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"];

/// Errors the model predicts. Operations that failed with any other code are left out of
/// the search (they did not apply, and the model cannot say when they happen).
pub const MODELLED_ERRORS: &[ErrorCode] = &[
    ErrorCode::NoNode,
    ErrorCode::NodeExists,
    ErrorCode::BadVersion,
    ErrorCode::NotEmpty,
    ErrorCode::NoChildrenForEphemerals,
    ErrorCode::BadArguments,
];

/// True for requests the model executes: reads it answers and writes it applies.
pub fn supported(req: &Request) -> bool {
    match req {
        Request::Create { op: o, req } => {
            (*o == op::CREATE || *o == op::CREATE2) && (0..=3).contains(&req.flags)
        }
        Request::Delete { .. }
        | Request::SetData { .. }
        | Request::Check { .. }
        | Request::Exists { .. }
        | Request::GetData { .. }
        | Request::GetChildren { .. }
        | Request::GetChildren2 { .. }
        | Request::CloseSession => true,
        Request::Multi(ops) => ops.iter().all(|o| {
            matches!(
                o,
                Request::Create { .. }
                    | Request::Delete { .. }
                    | Request::SetData { .. }
                    | Request::Check { .. }
            ) && supported(o)
        }),
        _ => false,
    }
}

fn check_version(expected: i32, current: i32) -> Result<(), ErrorCode> {
    if expected != -1 && expected != current {
        Err(ErrorCode::BadVersion)
    } else {
        Ok(())
    }
}

/// Close `session`: drop its ephemerals (their parents lose a child; stored cversion is
/// unchanged) and remember it closed.
pub fn close_session(st: &mut State, session: i64) {
    let owned: Vec<String> = st
        .nodes
        .iter()
        .filter(|(_, n)| n.owner == session)
        .map(|(p, _)| p.clone())
        .collect();
    for p in owned {
        st.nodes.remove(&p);
        if let Some(par) = st.nodes.get_mut(parent(&p)) {
            par.children.remove(name(&p));
        }
    }
    st.closed.insert(session);
}

/// Execute `req` of `session` against `st`. Writes change `st` only when they succeed
/// (a failed multi leaves it untouched). The caller checks `supported` first.
pub fn exec(st: &mut State, session: i64, req: &Request) -> Result<Response, ErrorCode> {
    match req {
        Request::Multi(ops) => {
            let mut scratch = st.clone();
            let mut results = Vec::with_capacity(ops.len());
            for (i, sub) in ops.iter().enumerate() {
                match exec(&mut scratch, session, sub) {
                    Ok(r) => results.push(match r {
                        Response::Create { path } => MultiResult::Create { path },
                        Response::Create2 { path, stat } => MultiResult::Create2 { path, stat },
                        Response::Stat(stat) => MultiResult::SetData { stat },
                        _ if matches!(sub, Request::Check { .. }) => MultiResult::Check,
                        _ => MultiResult::Delete,
                    }),
                    Err(e) => {
                        // 0 before the failing op, its code, -2 after (ZooKeeper's
                        // processTxn for a failed multi).
                        let mut out = vec![MultiResult::Error(0); i];
                        out.push(MultiResult::Error(e.code()));
                        out.extend(
                            (i + 1..ops.len()).map(|_| {
                                MultiResult::Error(ErrorCode::RuntimeInconsistency.code())
                            }),
                        );
                        return Ok(Response::Multi(out));
                    }
                }
            }
            *st = scratch;
            Ok(Response::Multi(results))
        }
        Request::Create { op: o, req: c } => {
            // §6.2 create: only "no '/'" and NUL are refused before the parent lookup.
            if !c.path.contains('/') || c.path.contains('\0') {
                return Err(ErrorCode::BadArguments);
            }
            let parent_path = parent(&c.path);
            let sequential = c.flags == 2 || c.flags == 3;
            let par = st.nodes.get(parent_path).ok_or(ErrorCode::NoNode)?;
            let path = if sequential {
                format!("{}{:010}", c.path, par.cversion)
            } else {
                c.path.clone()
            };
            if !valid_path(&path) {
                return Err(ErrorCode::BadArguments);
            }
            if st.nodes.contains_key(&path) {
                return Err(ErrorCode::NodeExists);
            }
            if par.owner != 0 {
                return Err(ErrorCode::NoChildrenForEphemerals);
            }
            let owner = if c.flags == 1 || c.flags == 3 {
                session
            } else {
                0
            };
            let node = Node::new(c.data.clone(), owner);
            let stat = node.stat();
            let par = st.nodes.get_mut(parent_path).expect("checked");
            par.cversion = par.cversion.wrapping_add(1);
            par.children.insert(name(&path).to_owned());
            st.nodes.insert(path.clone(), node);
            Ok(if *o == op::CREATE {
                Response::Create { path }
            } else {
                Response::Create2 { path, stat }
            })
        }
        Request::Delete { path, version } => {
            if !path.contains('/') || path.contains('\0') || SYSTEM_PATHS.contains(&path.as_str()) {
                return Err(ErrorCode::BadArguments);
            }
            if !st.nodes.contains_key(parent(path)) {
                return Err(ErrorCode::NoNode);
            }
            let n = st.nodes.get(path).ok_or(ErrorCode::NoNode)?;
            check_version(*version, n.version)?;
            if !n.children.is_empty() {
                return Err(ErrorCode::NotEmpty);
            }
            st.nodes.remove(path);
            if let Some(par) = st.nodes.get_mut(parent(path)) {
                par.children.remove(name(path));
            }
            Ok(Response::Empty)
        }
        Request::SetData {
            path,
            data,
            version,
        } => {
            if !valid_path(path) {
                return Err(ErrorCode::BadArguments);
            }
            let n = st.nodes.get_mut(path).ok_or(ErrorCode::NoNode)?;
            check_version(*version, n.version)?;
            n.data = data.clone();
            n.version = n.version.wrapping_add(1);
            Ok(Response::Stat(n.stat()))
        }
        Request::Check { path, version } => {
            if !valid_path(path) {
                return Err(ErrorCode::BadArguments);
            }
            let n = st.nodes.get(path).ok_or(ErrorCode::NoNode)?;
            check_version(*version, n.version)?;
            Ok(Response::Empty)
        }
        Request::CloseSession => {
            close_session(st, session);
            Ok(Response::Empty)
        }
        Request::Exists { path, .. } => Ok(Response::Stat(node(st, path)?.stat())),
        Request::GetData { path, .. } => {
            let n = node(st, path)?;
            Ok(Response::GetData {
                data: n.data.clone(),
                stat: n.stat(),
            })
        }
        Request::GetChildren { path, .. } => Ok(Response::Children {
            children: node(st, path)?.children.iter().cloned().collect(),
        }),
        Request::GetChildren2 { path, .. } => {
            let n = node(st, path)?;
            Ok(Response::Children2 {
                children: n.children.iter().cloned().collect(),
                stat: n.stat(),
            })
        }
        _ => Err(ErrorCode::Unimplemented),
    }
}

fn node<'a>(st: &'a State, path: &str) -> Result<&'a Node, ErrorCode> {
    st.nodes.get(path).ok_or(ErrorCode::NoNode)
}

/// Stat equality on the fields the model knows.
fn same_stat(a: &Stat, b: &Stat) -> bool {
    (
        a.version,
        a.cversion,
        a.aversion,
        a.ephemeral_owner,
        a.data_length,
        a.num_children,
    ) == (
        b.version,
        b.cversion,
        b.aversion,
        b.ephemeral_owner,
        b.data_length,
        b.num_children,
    )
}

fn sorted(v: &[String]) -> Vec<&String> {
    let mut s: Vec<&String> = v.iter().collect();
    s.sort();
    s
}

fn same_multi(a: &MultiResult, b: &MultiResult) -> bool {
    match (a, b) {
        (MultiResult::Create2 { path: p, stat: s }, MultiResult::Create2 { path: q, stat: t }) => {
            p == q && same_stat(s, t)
        }
        (MultiResult::SetData { stat: s }, MultiResult::SetData { stat: t }) => same_stat(s, t),
        _ => a == b,
    }
}

/// Does the recorded reply `got` agree with the model's `want`, ignoring zxids, times and
/// the order of child lists?
pub fn same_reply(got: &Response, want: &Response) -> bool {
    match (got, want) {
        (Response::Stat(s), Response::Stat(t)) => same_stat(s, t),
        (Response::Create2 { path: p, stat: s }, Response::Create2 { path: q, stat: t }) => {
            p == q && same_stat(s, t)
        }
        (Response::GetData { data: d, stat: s }, Response::GetData { data: e, stat: t }) => {
            d == e && same_stat(s, t)
        }
        (Response::Children { children: c }, Response::Children { children: d }) => {
            sorted(c) == sorted(d)
        }
        (
            Response::Children2 {
                children: c,
                stat: s,
            },
            Response::Children2 {
                children: d,
                stat: t,
            },
        ) => sorted(c) == sorted(d) && same_stat(s, t),
        (Response::Multi(a), Response::Multi(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_multi(x, y))
        }
        _ => got == want,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_core::proto::request::CreateRequest;

    fn create(path: &str, flags: i32) -> Request {
        Request::Create {
            op: op::CREATE,
            req: CreateRequest {
                path: path.to_owned(),
                data: Some(b"d".to_vec()),
                acl: None,
                flags,
                ttl: None,
            },
        }
    }

    #[test]
    fn sequential_names_follow_the_stored_cversion_and_deletes_do_not_move_it() {
        // The probed example of §5.2.
        let mut st = State::fresh();
        exec(&mut st, 1, &create("/a", 0)).unwrap();
        exec(&mut st, 1, &create("/a/b", 0)).unwrap();
        for n in 1..=3 {
            let r = exec(&mut st, 1, &create("/a/seq-", 2)).unwrap();
            assert_eq!(
                r,
                Response::Create {
                    path: format!("/a/seq-{n:010}")
                }
            );
        }
        let del = Request::Delete {
            path: "/a/b".into(),
            version: -1,
        };
        exec(&mut st, 1, &del).unwrap();
        let r = exec(&mut st, 1, &create("/a/seq-", 2)).unwrap();
        assert_eq!(
            r,
            Response::Create {
                path: "/a/seq-0000000004".into()
            }
        );
        // Reported cversion: creates plus deletes.
        assert_eq!(st.nodes["/a"].stat().cversion, 6);
        // The fresh root reports cversion -1 and /zookeeper -2 (§4.2).
        let fresh = State::fresh();
        assert_eq!(fresh.nodes["/"].stat().cversion, -1);
        assert_eq!(fresh.nodes["/zookeeper"].stat().cversion, -2);
    }

    #[test]
    fn a_failed_multi_changes_nothing_and_reports_0_code_minus_2() {
        let mut st = State::fresh();
        let before = st.clone();
        let m = Request::Multi(vec![
            create("/a", 0),
            Request::SetData {
                path: "/nope".into(),
                data: None,
                version: -1,
            },
            create("/b", 0),
        ]);
        let r = exec(&mut st, 1, &m).unwrap();
        assert_eq!(
            r,
            Response::Multi(vec![
                MultiResult::Error(0),
                MultiResult::Error(-101),
                MultiResult::Error(-2)
            ])
        );
        assert_eq!(st, before);
    }

    #[test]
    fn delete_checks_version_before_children_and_close_drops_ephemerals() {
        let mut st = State::fresh();
        exec(&mut st, 7, &create("/e", 0)).unwrap();
        exec(&mut st, 7, &create("/e/1", 1)).unwrap();
        let del = |v| Request::Delete {
            path: "/e".into(),
            version: v,
        };
        assert_eq!(exec(&mut st, 7, &del(5)), Err(ErrorCode::BadVersion));
        assert_eq!(exec(&mut st, 7, &del(0)), Err(ErrorCode::NotEmpty));
        assert_eq!(
            exec(&mut st, 7, &create("/e/1/x", 0)),
            Err(ErrorCode::NoChildrenForEphemerals)
        );
        close_session(&mut st, 7);
        assert!(!st.nodes.contains_key("/e/1"));
        assert_eq!(exec(&mut st, 7, &del(0)), Ok(Response::Empty));
    }
}
