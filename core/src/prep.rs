//! Request preparation: validate a write against the tree *as it will be* once every
//! in-flight transaction is applied, and turn it into a [`Txn`].
//!
//! This is ZooKeeper's PrepRequestProcessor. Writes are validated before earlier writes are
//! durable (group commit; later, ZAB proposals in flight), so validation reads through an
//! [`Overlay`] of pending node states on top of the applied [`DataTree`]. When a txn is
//! applied, [`Overlay::applied`] drops the records it produced. The validation order of
//! each op, and so the error code a client sees, follows §6.2 of the compatibility
//! reference exactly.

use std::collections::BTreeMap;

use crate::acl::{check_acl, fixup_acl};
use crate::error::ErrorCode;
use crate::path::{is_system_path, validate_path};
use crate::proto::data::{perms, Acl, Id};
use crate::proto::op;
use crate::proto::request::{CreateRequest, Request};
use crate::tree::DataTree;
use crate::txn::{CreateKind, Txn, MAX_TTL};
use crate::types::{SessionId, Zxid};

/// What validation needs to know about a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeState {
    /// Stored (create-counting) cversion: the sequential counter.
    pub cversion: i32,
    pub version: i32,
    pub aversion: i32,
    /// Stored ephemeral owner (session id, container or TTL marker, or 0).
    pub ephemeral_owner: i64,
    pub num_children: i32,
    pub acl: Vec<Acl>,
}

impl NodeState {
    /// A normal ephemeral (not a container or TTL node) may not have children.
    fn is_normal_ephemeral(&self) -> bool {
        matches!(
            CreateKind::from_stored_owner(self.ephemeral_owner),
            CreateKind::Ephemeral(_)
        )
    }
}

/// Pending node states of in-flight (prepared, not yet applied) transactions.
#[derive(Clone, Debug, Default)]
pub struct Overlay {
    /// path → (zxid of the last in-flight txn that touched it, state after it; None = deleted).
    nodes: BTreeMap<String, (Zxid, Option<NodeState>)>,
    /// The paths each in-flight zxid touched, so that `applied` costs what that txn touched
    /// rather than a scan of every pending path.
    by_zxid: BTreeMap<Zxid, Vec<String>>,
}

impl Overlay {
    /// Forget the records of `zxid` once it is applied to the tree (records overwritten by
    /// a later in-flight txn stay: they describe the future).
    pub fn applied(&mut self, zxid: Zxid) {
        while let Some(entry) = self.by_zxid.first_entry() {
            if *entry.key() > zxid {
                break;
            }
            let (z, paths) = entry.remove_entry();
            for p in paths {
                // A later in-flight txn may have overwritten the record: keep that one.
                if self.nodes.get(&p).is_some_and(|(rz, _)| *rz <= z) {
                    self.nodes.remove(&p);
                }
            }
        }
    }

    /// Drop everything (after recovery or a leader change).
    pub fn clear(&mut self) {
        self.nodes.clear();
        self.by_zxid.clear();
    }

    /// Record the state of `path` after the in-flight txn `zxid`.
    fn record(&mut self, zxid: Zxid, path: String, state: Option<NodeState>) {
        self.by_zxid.entry(zxid).or_default().push(path.clone());
        self.nodes.insert(path, (zxid, state));
    }

    /// Number of paths with pending state.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// Who is asking, with which identities, and the server switches that change validation.
#[derive(Clone, Copy, Debug)]
pub struct PrepContext<'a> {
    pub session: SessionId,
    pub ids: &'a [Id],
    pub skip_acl: bool,
    pub extended_types_enabled: bool,
}

/// A read-through view: overlay first, then the applied tree. Writes during a multi go to
/// a private layer that is merged on success and dropped on failure.
struct View<'a> {
    tree: &'a DataTree,
    overlay: &'a Overlay,
    layer: BTreeMap<String, Option<NodeState>>,
}

impl<'a> View<'a> {
    fn get(&self, path: &str) -> Option<NodeState> {
        let path = if path.is_empty() { "/" } else { path };
        if let Some(s) = self.layer.get(path) {
            return s.clone();
        }
        if let Some((_, s)) = self.overlay.nodes.get(path) {
            return s.clone();
        }
        self.tree.node(path).map(|n| NodeState {
            cversion: n.stat.cversion,
            version: n.stat.version,
            aversion: n.stat.aversion,
            ephemeral_owner: n.stat.ephemeral_owner,
            num_children: n.children().len() as i32,
            acl: n.acl().to_vec(),
        })
    }

    fn set(&mut self, path: &str, state: Option<NodeState>) {
        let path = if path.is_empty() { "/" } else { path };
        self.layer.insert(path.to_owned(), state);
    }
}

/// Text before the last '/', "" for top-level paths (ZooKeeper keys the root as ""), or
/// `None` when there is no '/' at all.
fn parent_of(path: &str) -> Option<&str> {
    path.rfind('/').map(|i| &path[..i])
}

fn check_perm(ctx: &PrepContext<'_>, acl: &[Acl], perm: i32) -> Result<(), ErrorCode> {
    if ctx.skip_acl || check_acl(acl, perm, ctx.ids) {
        Ok(())
    } else {
        Err(ErrorCode::NoAuth)
    }
}

fn check_version(expected: i32, current: i32) -> Result<i32, ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(current.wrapping_add(1))
}

/// Turn one write request into a txn. A failed single write becomes `Txn::Error`; a failed
/// multi becomes `Txn::Multi` of error results (0 before, the error, -2 after). Either way
/// it consumes a zxid, as in ZooKeeper.
pub fn prepare(
    tree: &DataTree,
    overlay: &mut Overlay,
    zxid: Zxid,
    ctx: &PrepContext<'_>,
    req: &Request,
) -> Txn {
    let mut view = View {
        tree,
        overlay,
        layer: BTreeMap::new(),
    };
    let txn = match req {
        Request::Multi(ops) => prep_multi(&mut view, ctx, ops),
        other => prep_one(&mut view, ctx, other).unwrap_or_else(|err| Txn::Error { err }),
    };
    let layer = std::mem::take(&mut view.layer);
    for (path, state) in layer {
        overlay.record(zxid, path, state);
    }
    txn
}

/// Prepare the closeSession txn of `session`: every ephemeral it will own once in-flight
/// txns are applied.
pub fn prepare_close_session(
    tree: &DataTree,
    overlay: &mut Overlay,
    zxid: Zxid,
    session: SessionId,
) -> Txn {
    let mut paths: std::collections::BTreeSet<String> =
        tree.ephemerals(session).into_iter().collect();
    for (path, (_, state)) in &overlay.nodes {
        match state {
            Some(s) if s.ephemeral_owner == session.0 => {
                paths.insert(path.clone());
            }
            _ => {
                paths.remove(path);
            }
        }
    }
    let ephemerals: Vec<String> = paths.into_iter().collect();
    let mut view = View {
        tree,
        overlay,
        layer: BTreeMap::new(),
    };
    for p in &ephemerals {
        delete_in_view(&mut view, p);
    }
    let layer = std::mem::take(&mut view.layer);
    for (path, state) in layer {
        overlay.record(zxid, path, state);
    }
    Txn::CloseSession { ephemerals }
}

/// Prepare a server-generated deleteContainer (op 20) of `path`, re-checking that it is
/// still an empty container or TTL node.
pub fn prepare_delete_container(
    tree: &DataTree,
    overlay: &mut Overlay,
    zxid: Zxid,
    path: &str,
) -> Txn {
    let mut view = View {
        tree,
        overlay,
        layer: BTreeMap::new(),
    };
    let txn = match view.get(path) {
        None => Txn::Error {
            err: ErrorCode::NoNode,
        },
        Some(n) if n.num_children > 0 => Txn::Error {
            err: ErrorCode::NotEmpty,
        },
        Some(n) if n.is_normal_ephemeral() => Txn::Error {
            err: ErrorCode::BadVersion,
        },
        Some(_) => {
            delete_in_view(&mut view, path);
            Txn::DeleteContainer {
                path: path.to_owned(),
            }
        }
    };
    let layer = std::mem::take(&mut view.layer);
    for (p, state) in layer {
        overlay.record(zxid, p, state);
    }
    txn
}

fn delete_in_view(view: &mut View<'_>, path: &str) {
    if view.get(path).is_none() {
        return;
    }
    view.set(path, None);
    if let Some(parent) = parent_of(path) {
        if let Some(mut p) = view.get(parent) {
            p.num_children -= 1;
            view.set(parent, Some(p));
        }
    }
}

fn prep_multi(view: &mut View<'_>, ctx: &PrepContext<'_>, ops: &[Request]) -> Txn {
    let mut txns = Vec::with_capacity(ops.len());
    for (i, sub) in ops.iter().enumerate() {
        match prep_one(view, ctx, sub) {
            Ok(t) => txns.push(t),
            Err(err) => {
                // All or nothing: drop every change of this multi, including the sequence
                // counters it advanced, so the next sequential create reuses the number.
                view.layer.clear();
                let results = (0..ops.len())
                    .map(|j| Txn::Error {
                        err: match j.cmp(&i) {
                            std::cmp::Ordering::Less => ErrorCode::Ok,
                            std::cmp::Ordering::Equal => err,
                            std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency,
                        },
                    })
                    .collect();
                return Txn::Multi(results);
            }
        }
    }
    Txn::Multi(txns)
}

fn prep_one(view: &mut View<'_>, ctx: &PrepContext<'_>, req: &Request) -> Result<Txn, ErrorCode> {
    match req {
        Request::Create { op, req } => prep_create(view, ctx, *op, req),
        Request::Delete { path, version } => prep_delete(view, ctx, path, *version),
        Request::SetData {
            path,
            data,
            version,
        } => {
            validate_path(path)?;
            let mut node = view.get(path).ok_or(ErrorCode::NoNode)?;
            check_perm(ctx, &node.acl, perms::WRITE)?;
            let new_version = check_version(*version, node.version)?;
            node.version = new_version;
            view.set(path, Some(node));
            Ok(Txn::SetData {
                path: path.clone(),
                data: data.clone(),
                version: new_version,
            })
        }
        Request::SetAcl { path, acl, version } => {
            validate_path(path)?;
            let acl = fixup_acl(acl.as_deref(), ctx.ids)?;
            let mut node = view.get(path).ok_or(ErrorCode::NoNode)?;
            check_perm(ctx, &node.acl, perms::ADMIN)?;
            let new_version = check_version(*version, node.aversion)?;
            node.aversion = new_version;
            node.acl = acl.clone();
            view.set(path, Some(node));
            Ok(Txn::SetAcl {
                path: path.clone(),
                acl,
                version: new_version,
            })
        }
        Request::Check { path, version } => {
            validate_path(path)?;
            let node = view.get(path).ok_or(ErrorCode::NoNode)?;
            check_perm(ctx, &node.acl, perms::READ)?;
            check_version(*version, node.version)?;
            Ok(Txn::Check {
                path: path.clone(),
                version: *version,
            })
        }
        // deleteContainer is server-internal; a client sending it gets BadArguments.
        Request::DeleteContainer { .. } => Err(ErrorCode::BadArguments),
        // Anything else is not a write sub-op; the decoder already refuses it in a multi.
        _ => Err(ErrorCode::MarshallingError),
    }
}

/// Decide the node kind from opcode, flags and ttl, in ZooKeeper's order of checks.
fn create_kind(
    ctx: &PrepContext<'_>,
    op: i32,
    req: &CreateRequest,
) -> Result<(CreateKind, bool), ErrorCode> {
    if !(0..=6).contains(&req.flags) {
        return Err(ErrorCode::BadArguments);
    }
    let ttl_mode = matches!(req.flags, 5 | 6);
    if ttl_mode && !ctx.extended_types_enabled {
        return Err(ErrorCode::Unimplemented);
    }
    let sequential = matches!(req.flags, 2 | 3 | 6);
    if op == op::CREATE_TTL {
        let ttl = req.ttl.unwrap_or(-1);
        if !ttl_mode || ttl <= 0 || ttl > MAX_TTL {
            return Err(ErrorCode::BadArguments);
        }
        return Ok((CreateKind::Ttl(ttl), sequential));
    }
    if ttl_mode {
        // A TTL mode without a ttl (op 1/15/19).
        return Err(ErrorCode::BadArguments);
    }
    // The opcode decides a container: op 19 with flags 0 still makes one, op 1 with flag 4
    // makes an ordinary node.
    let kind = if op == op::CREATE_CONTAINER {
        CreateKind::Container
    } else if matches!(req.flags, 1 | 3) {
        CreateKind::Ephemeral(ctx.session)
    } else {
        CreateKind::Persistent
    };
    Ok((kind, sequential))
}

fn prep_create(
    view: &mut View<'_>,
    ctx: &PrepContext<'_>,
    op: i32,
    req: &CreateRequest,
) -> Result<Txn, ErrorCode> {
    let (kind, sequential) = create_kind(ctx, op, req)?;
    let path = &req.path;
    if path.contains('\0') {
        return Err(ErrorCode::BadArguments);
    }
    let parent_path = parent_of(path).ok_or(ErrorCode::BadArguments)?;
    let acl = fixup_acl(req.acl.as_deref(), ctx.ids)?;
    let mut parent = view.get(parent_path).ok_or(ErrorCode::NoNode)?;
    check_perm(ctx, &parent.acl, perms::CREATE)?;
    let full_path = if sequential {
        format!("{path}{:010}", parent.cversion)
    } else {
        path.clone()
    };
    validate_path(&full_path)?;
    if view.get(&full_path).is_some() {
        return Err(ErrorCode::NodeExists);
    }
    if parent.is_normal_ephemeral() {
        return Err(ErrorCode::NoChildrenForEphemerals);
    }
    let parent_cversion = parent.cversion.wrapping_add(1);
    parent.cversion = parent_cversion;
    parent.num_children += 1;
    view.set(parent_path, Some(parent));
    view.set(
        &full_path,
        Some(NodeState {
            cversion: 0,
            version: 0,
            aversion: 0,
            ephemeral_owner: kind.stored_owner(),
            num_children: 0,
            acl: acl.clone(),
        }),
    );
    Ok(Txn::Create {
        path: full_path,
        data: req.data.clone(),
        acl,
        kind,
        parent_cversion,
    })
}

fn prep_delete(
    view: &mut View<'_>,
    ctx: &PrepContext<'_>,
    path: &str,
    version: i32,
) -> Result<Txn, ErrorCode> {
    let parent_path = match parent_of(path) {
        Some(p) if !path.contains('\0') && !is_system_path(path) => p,
        _ => return Err(ErrorCode::BadArguments),
    };
    let parent = view.get(parent_path).ok_or(ErrorCode::NoNode)?;
    check_perm(ctx, &parent.acl, perms::DELETE)?;
    let node = view.get(path).ok_or(ErrorCode::NoNode)?;
    check_version(version, node.version)?;
    if node.num_children > 0 {
        return Err(ErrorCode::NotEmpty);
    }
    delete_in_view(view, path);
    Ok(Txn::Delete {
        path: path.to_owned(),
    })
}
