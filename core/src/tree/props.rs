//! Property tests: random valid txn sequences checked against a tiny reference model, plus
//! invariants, order independence of the digest, and robustness on arbitrary txns.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::proto::data::{Id, Stat};
use crate::proto::event::EventType;
use crate::txn::{arb, Txn, TxnHeader};

/// A znode as the model keeps it: the stored fields, nothing derived.
#[derive(Clone, Debug)]
struct MNode {
    data: Option<Vec<u8>>,
    acl: Vec<Acl>,
    owner: i64,
    czxid: i64,
    mzxid: i64,
    ctime: i64,
    mtime: i64,
    version: i32,
    aversion: i32,
    creates: i32,
    pzxid: i64,
}

/// The reference model: a flat map of paths, children found by scanning.
#[derive(Clone, Debug)]
struct Model {
    nodes: BTreeMap<String, MNode>,
    /// (parent path, zxid) of every child create and delete, for the pzxid invariant.
    child_events: Vec<(String, i64)>,
}

fn builtin(acl: Vec<Acl>, aversion: i32) -> MNode {
    MNode {
        data: Some(vec![]),
        acl,
        owner: 0,
        czxid: 0,
        mzxid: 0,
        ctime: 0,
        mtime: 0,
        version: 0,
        aversion,
        creates: 0,
        pzxid: 0,
    }
}

impl Model {
    fn new() -> Model {
        let mut nodes = BTreeMap::new();
        for p in ["/", "/zookeeper", "/zookeeper/quota"] {
            nodes.insert(p.to_owned(), builtin(Acl::open_unsafe(), 0));
        }
        nodes.insert(
            "/zookeeper/config".to_owned(),
            builtin(Acl::read_unsafe(), -1),
        );
        Model {
            nodes,
            child_events: Vec::new(),
        }
    }

    fn children(&self, p: &str) -> Vec<String> {
        let names = self
            .nodes
            .keys()
            .filter(|k| k.as_str() != "/" && path::parent(k) == p);
        names.map(|k| path::last_segment(k).to_owned()).collect()
    }

    fn stat(&self, p: &str) -> Stat {
        let n = &self.nodes[p];
        let num = self.children(p).len() as i32;
        let owner = match CreateKind::from_stored_owner(n.owner) {
            CreateKind::Ephemeral(s) => s,
            _ => SessionId(0),
        };
        Stat {
            czxid: Zxid(n.czxid),
            mzxid: Zxid(n.mzxid),
            ctime: n.ctime,
            mtime: n.mtime,
            version: n.version,
            cversion: n.creates.wrapping_mul(2).wrapping_sub(num),
            aversion: n.aversion,
            ephemeral_owner: owner,
            data_length: n.data.as_ref().map_or(0, |d| d.len() as i32),
            num_children: num,
            pzxid: Zxid(n.pzxid),
        }
    }

    fn ephemerals(&self, s: SessionId) -> Vec<String> {
        let mine = self
            .nodes
            .iter()
            .filter(|(_, n)| n.owner != 0 && n.owner == s.0);
        mine.map(|(p, _)| p.clone()).collect()
    }

    fn data_size(&self) -> u64 {
        self.nodes
            .iter()
            .map(|(p, n)| path::java_length(p) + n.data.as_ref().map_or(0, |d| d.len() as u64))
            .sum()
    }

    fn candidates(&self, now: i64, max_never_used: i64) -> Vec<String> {
        let empty = |p: &str| self.children(p).is_empty();
        let hits = self.nodes.iter().filter(|(p, n)| {
            empty(p)
                && match CreateKind::from_stored_owner(n.owner) {
                    CreateKind::Container => {
                        n.creates > 0 || (max_never_used != 0 && now - n.mtime > max_never_used)
                    }
                    CreateKind::Ttl(ttl) => now - n.mtime > ttl,
                    _ => false,
                }
        });
        hits.map(|(p, _)| p.clone()).collect()
    }

    fn create(&mut self, p: &str, kind: CreateKind, data: Option<Vec<u8>>, zxid: i64) -> i32 {
        let parent = self.nodes.get_mut(path::parent(p)).expect("model parent");
        parent.creates = parent.creates.wrapping_add(1);
        parent.pzxid = zxid;
        let pc = parent.creates;
        let t = 1000 + zxid;
        let node = MNode {
            data,
            acl: Acl::open_unsafe(),
            owner: kind.stored_owner(),
            czxid: zxid,
            mzxid: zxid,
            ctime: t,
            mtime: t,
            version: 0,
            aversion: 0,
            creates: 0,
            pzxid: zxid,
        };
        self.nodes.insert(p.to_owned(), node);
        self.child_events.push((path::parent(p).to_owned(), zxid));
        pc
    }

    fn delete(&mut self, p: &str, zxid: i64) {
        self.nodes.remove(p);
        let parent = self.nodes.get_mut(path::parent(p)).expect("model parent");
        parent.pzxid = parent.pzxid.max(zxid);
        self.child_events.push((path::parent(p).to_owned(), zxid));
    }
}

/// One generated step, resolved against the model when it runs.
#[derive(Clone, Debug)]
enum Spec {
    Create {
        parent: prop::sample::Index,
        name: usize,
        kind: usize,
        session: i64,
        data: Option<Vec<u8>>,
    },
    Delete {
        node: prop::sample::Index,
    },
    SetData {
        node: prop::sample::Index,
        data: Option<Vec<u8>>,
    },
    SetAcl {
        node: prop::sample::Index,
        acl: usize,
    },
    Close {
        session: i64,
        mode: usize,
    },
    Multi(Vec<Spec>),
}

/// Steps allowed inside a multi: create, delete, setData.
fn multi_spec() -> impl Strategy<Value = Spec> {
    let idx = any::<prop::sample::Index>;
    prop_oneof![
        4 => (idx(), 0..4usize, 0..4usize, 1..4i64, arb::data())
            .prop_map(|(parent, name, kind, session, data)| Spec::Create { parent, name, kind, session, data }),
        2 => idx().prop_map(|node| Spec::Delete { node }),
        2 => (idx(), arb::data()).prop_map(|(node, data)| Spec::SetData { node, data }),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        8 => multi_spec(),
        1 => (any::<prop::sample::Index>(), 0..3usize).prop_map(|(node, acl)| Spec::SetAcl { node, acl }),
        1 => (1..4i64, 0..3usize).prop_map(|(session, mode)| Spec::Close { session, mode }),
        1 => prop::collection::vec(multi_spec(), 1..5).prop_map(Spec::Multi),
    ]
}

const SESSION_BASE: i64 = 0x1000;

fn acl_choice(i: usize) -> Vec<Acl> {
    match i {
        0 => Acl::open_unsafe(),
        1 => Acl::read_unsafe(),
        _ => vec![Acl {
            perms: 31,
            id: Id::new("digest", "u:h"),
        }],
    }
}

fn trig(path: &str, event: EventType) -> Trigger {
    Trigger {
        path: path.to_owned(),
        event,
    }
}

/// Resolve a (non-close, non-multi) spec against the model, update the model, and return
/// the txn plus the expected result and triggers. `None` when the spec has no valid target.
fn resolve(m: &mut Model, spec: &Spec, zxid: i64) -> Option<(Txn, OpResult, Vec<Trigger>)> {
    let keys: Vec<String> = m.nodes.keys().cloned().collect();
    match spec {
        Spec::Create {
            parent,
            name,
            kind,
            session,
            data,
        } => {
            let parents: Vec<&String> = keys
                .iter()
                .filter(|k| {
                    !matches!(
                        CreateKind::from_stored_owner(m.nodes[*k].owner),
                        CreateKind::Ephemeral(_)
                    )
                })
                .collect();
            let par = parents[parent.index(parents.len())].clone();
            let p = path::join(&par, ["a", "b", "c", "d"][*name]);
            if m.nodes.contains_key(&p) {
                return None;
            }
            let kind = [
                CreateKind::Persistent,
                CreateKind::Ephemeral(SessionId(SESSION_BASE + session)),
                CreateKind::Container,
                CreateKind::Ttl(50),
            ][*kind];
            let pc = m.create(&p, kind, data.clone(), zxid);
            let txn = Txn::Create {
                path: p.clone(),
                data: data.clone(),
                acl: Acl::open_unsafe(),
                kind,
                parent_cversion: pc,
            };
            let r = OpResult::Created {
                path: p.clone(),
                stat: m.stat(&p),
            };
            Some((
                txn,
                r,
                vec![
                    trig(&p, EventType::NodeCreated),
                    trig(&par, EventType::NodeChildrenChanged),
                ],
            ))
        }
        Spec::Delete { node } => {
            let leaves: Vec<&String> = keys
                .iter()
                .filter(|k| !path::is_system_path(k) && m.children(k).is_empty())
                .collect();
            if leaves.is_empty() {
                return None;
            }
            let p = leaves[node.index(leaves.len())].clone();
            m.delete(&p, zxid);
            let t = vec![
                trig(&p, EventType::NodeDeleted),
                trig(path::parent(&p), EventType::NodeChildrenChanged),
            ];
            Some((Txn::Delete { path: p }, OpResult::Deleted, t))
        }
        Spec::SetData { node, data } => {
            let p = keys[node.index(keys.len())].clone();
            let n = m.nodes.get_mut(&p)?;
            n.version = n.version.wrapping_add(1);
            (n.data, n.mzxid, n.mtime) = (data.clone(), zxid, 1000 + zxid);
            let txn = Txn::SetData {
                path: p.clone(),
                data: data.clone(),
                version: n.version,
            };
            Some((
                txn,
                OpResult::DataSet { stat: m.stat(&p) },
                vec![trig(&p, EventType::NodeDataChanged)],
            ))
        }
        Spec::SetAcl { node, acl } => {
            let p = keys[node.index(keys.len())].clone();
            let n = m.nodes.get_mut(&p)?;
            n.aversion = n.aversion.wrapping_add(1);
            n.acl = acl_choice(*acl);
            let txn = Txn::SetAcl {
                path: p.clone(),
                acl: n.acl.clone(),
                version: n.aversion,
            };
            Some((txn, OpResult::AclSet { stat: m.stat(&p) }, vec![]))
        }
        Spec::Close { .. } | Spec::Multi(_) => None,
    }
}

/// Run one spec on both tree and model, checking the results and triggers.
fn step(t: &mut DataTree, m: &mut Model, spec: &Spec, zxid: i64) -> Result<(), TestCaseError> {
    let mut session = SessionId(0);
    let (txn, want_results, want_triggers) = match spec {
        Spec::Close { session: s, mode } => {
            session = SessionId(SESSION_BASE + s);
            let mine = m.ephemerals(session);
            let listed = match mode {
                0 => mine.clone(),
                1 => vec![],
                _ => mine
                    .iter()
                    .rev()
                    .cloned()
                    .chain(["/gone/x".to_owned()])
                    .collect(),
            };
            // Listed ones in list order, then the rest in path order.
            let mut order: Vec<String> = listed
                .iter()
                .filter(|p| mine.contains(p))
                .cloned()
                .collect();
            order.extend(mine.iter().filter(|p| !listed.contains(p)).cloned());
            let mut trig_want = vec![];
            for p in &order {
                m.delete(p, zxid);
                trig_want.push(trig(p, EventType::NodeDeleted));
                trig_want.push(trig(path::parent(p), EventType::NodeChildrenChanged));
            }
            (
                Txn::CloseSession { ephemerals: listed },
                vec![OpResult::SessionClosed],
                trig_want,
            )
        }
        Spec::Multi(subs) => {
            let saved = m.clone();
            let (mut txns, mut rs, mut ts) = (vec![], vec![], vec![]);
            for sub in subs {
                if let Some((txn, r, t)) = resolve(m, sub, zxid) {
                    // Ephemeral creates in a multi belong to the multi's session.
                    if let Txn::Create {
                        kind: CreateKind::Ephemeral(s),
                        ..
                    } = txn
                    {
                        if session != SessionId(0) && session != s {
                            // Two sessions' ephemerals in one multi cannot happen; skip.
                            *m = saved;
                            return Ok(());
                        }
                        session = s;
                    }
                    txns.push(txn);
                    rs.push(r);
                    ts.extend(t);
                }
            }
            (Txn::Multi(txns), rs, ts)
        }
        _ => match resolve(m, spec, zxid) {
            None => return Ok(()),
            Some((txn, r, t)) => {
                if let Txn::Create {
                    kind: CreateKind::Ephemeral(s),
                    ..
                } = txn
                {
                    session = s;
                }
                (txn, vec![r], t)
            }
        },
    };
    let hdr = TxnHeader {
        session,
        cxid: 0,
        zxid: Zxid(zxid),
        time: 1000 + zxid,
        op: txn.op(),
    };
    let got = t.apply(&hdr, &txn);
    prop_assert_eq!(&got.results, &want_results, "txn {:?}", txn);
    prop_assert_eq!(&got.triggers, &want_triggers, "txn {:?}", txn);
    if let Spec::Close { .. } = spec {
        prop_assert!(t.ephemerals(session).is_empty());
    }
    Ok(())
}

fn check_against_model(t: &DataTree, m: &Model, zxid: i64) -> Result<(), TestCaseError> {
    prop_assert_eq!(t.verify(), Ok(()));
    prop_assert_eq!(t.node_count(), m.nodes.len() as u64 + 1);
    prop_assert_eq!(t.count_descendants("/"), Some(m.nodes.len() as i32 - 1));
    prop_assert_eq!(t.approximate_data_size(), m.data_size());
    prop_assert_eq!(t.last_zxid(), Zxid(zxid));
    for (p, mn) in &m.nodes {
        let n = t
            .node(p)
            .ok_or_else(|| TestCaseError::fail(format!("{p} missing")))?;
        prop_assert_eq!(n.client_stat(), m.stat(p), "stat of {}", p);
        prop_assert_eq!(n.data, mn.data.as_deref());
        prop_assert_eq!(n.acl(), &mn.acl[..]);
        prop_assert_eq!(t.children(p).unwrap(), m.children(p));
        // Invariants that do not depend on the model's own bookkeeping.
        let s = n.client_stat();
        prop_assert_eq!(s.num_children as usize, n.children().len());
        prop_assert_eq!(
            s.cversion,
            n.stat.cversion.wrapping_mul(2).wrapping_sub(s.num_children)
        );
        let last_child_event = m
            .child_events
            .iter()
            .filter(|(par, z)| par == p && *z >= mn.czxid)
            .map(|(_, z)| *z)
            .max();
        prop_assert_eq!(
            n.stat.pzxid.0,
            last_child_event.unwrap_or(mn.czxid).max(mn.czxid),
            "pzxid of {}",
            p
        );
    }
    for s in 1..4 {
        let session = SessionId(SESSION_BASE + s);
        prop_assert_eq!(t.ephemerals(session), m.ephemerals(session));
    }
    for (now, max) in [
        (1000 + zxid, 0),
        (1000 + zxid + 60, 0),
        (1000 + zxid + 60, 30),
    ] {
        prop_assert_eq!(
            t.container_candidates(Millis(now), max),
            m.candidates(now, max)
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn valid_sequences_match_the_model(specs in prop::collection::vec(spec(), 1..60)) {
        let (mut t, mut m) = (DataTree::new(), Model::new());
        for (i, spec) in specs.iter().enumerate() {
            let zxid = i as i64 + 1;
            step(&mut t, &mut m, spec, zxid)?;
            // A skipped spec still counts: log it as an error txn so the zxid is used.
            if t.last_zxid() != Zxid(zxid) {
                let hdr = TxnHeader { session: SessionId(0), cxid: 0, zxid: Zxid(zxid), time: 0, op: -1 };
                t.apply(&hdr, &Txn::Error { err: crate::error::ErrorCode::NodeExists });
            }
            check_against_model(&t, &m, zxid)?;
        }
    }

    #[test]
    fn colliding_path_index_matches_the_model(specs in prop::collection::vec(spec(), 1..60)) {
        // The path index with only 2 bits of hash: every lookup walks long probe chains.
        let (mut t, mut m) = (DataTree::with_hash_mask(3), Model::new());
        for (i, spec) in specs.iter().enumerate() {
            let zxid = i as i64 + 1;
            step(&mut t, &mut m, spec, zxid)?;
            if t.last_zxid() != Zxid(zxid) {
                let hdr = TxnHeader { session: SessionId(0), cxid: 0, zxid: Zxid(zxid), time: 0, op: -1 };
                t.apply(&hdr, &Txn::Error { err: crate::error::ErrorCode::NodeExists });
            }
        }
        check_against_model(&t, &m, specs.len() as i64)?;
    }

    #[test]
    fn digest_ignores_the_order_of_independent_creates(
        picks in prop::collection::btree_set((0..3usize, 0..6usize), 1..12),
        seed in any::<u64>(),
    ) {
        // Creates of distinct children under parents that exist from the start; each
        // parent's cversions rise with the zxids, as prep assigns them.
        let setup = |t: &mut DataTree| {
            for (z, p) in ["/a", "/b"].into_iter().enumerate() {
                let txn = Txn::Create { path: p.into(), data: None, acl: Acl::open_unsafe(), kind: CreateKind::Persistent, parent_cversion: z as i32 + 1 };
                t.apply(&TxnHeader { session: SessionId(0), cxid: 0, zxid: Zxid(z as i64 + 1), time: 1, op: 1 }, &txn);
            }
        };
        let mut per_parent = [2, 0, 0];
        let txns: Vec<(TxnHeader, Txn)> = picks.iter().enumerate().map(|(i, (par, name))| {
            let parent = ["/", "/a", "/b"][*par];
            per_parent[*par] += 1;
            let txn = Txn::Create {
                path: path::join(parent, &format!("n{name}")),
                data: Some(vec![*name as u8]),
                acl: acl_choice(*name % 3),
                kind: CreateKind::Persistent,
                parent_cversion: per_parent[*par],
            };
            (TxnHeader { session: SessionId(0), cxid: 0, zxid: Zxid(10 + i as i64), time: 5 + i as i64, op: 1 }, txn)
        }).collect();
        let mut shuffled = txns.clone();
        // Deterministic Fisher-Yates from the seed.
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let (mut t1, mut t2) = (DataTree::new(), DataTree::new());
        setup(&mut t1);
        setup(&mut t2);
        for (h, txn) in &txns { t1.apply(h, txn); }
        for (h, txn) in &shuffled { t2.apply(h, txn); }
        prop_assert_eq!(t1.digest(), t2.digest());
        prop_assert_eq!(t1.verify(), Ok(()));
        for p in ["/", "/a", "/b"] {
            prop_assert_eq!(t1.stat(p), t2.stat(p));
            for c in t1.children(p).unwrap() {
                let cp = path::join(p, &c);
                prop_assert_eq!(t1.node(&cp), t2.node(&cp));
            }
        }
    }

    #[test]
    fn arbitrary_txns_never_panic_or_corrupt(
        setup in prop::collection::vec(spec(), 0..20),
        txns in prop::collection::vec((1..4i64, arb::txn(SessionId(SESSION_BASE + 1))), 1..40),
    ) {
        let (mut t, mut m) = (DataTree::new(), Model::new());
        for (i, spec) in setup.iter().enumerate() {
            step(&mut t, &mut m, spec, i as i64 + 1)?;
        }
        for (i, (s, txn)) in txns.iter().enumerate() {
            let session = SessionId(SESSION_BASE + s);
            let hdr = TxnHeader { session, cxid: 0, zxid: Zxid(100 + i as i64), time: i as i64, op: txn.op() };
            let r = t.apply(&hdr, txn);
            let expected = if let Txn::Multi(subs) = txn { subs.len() } else { 1 };
            prop_assert_eq!(r.results.len(), expected);
            prop_assert_eq!(t.verify(), Ok(()));
            if let Txn::CloseSession { .. } = txn {
                prop_assert!(t.ephemerals(session).is_empty(), "ephemerals of a closed session remain");
            }
        }
    }

    #[test]
    fn delta_snapshots_equal_full_snapshots(
        specs in prop::collection::vec((spec(), 0..4u8), 1..60),
        txns in prop::collection::vec((1..4i64, arb::txn(SessionId(SESSION_BASE + 1)), 0..4u8), 0..30),
        block in prop_oneof![Just(1usize << 20), 1..400usize],
        sessions in 0..40i64,
    ) {
        // Snapshots at random points (cut 0), some of them failed (cut 1: the changes go
        // back); each merged from the previous one and the tracked changes must hold what
        // the snapshot of the whole tree holds (compared decoded: copied blocks keep their
        // boundaries, so the bytes may differ), with blocks of the normal size and tiny.
        use crate::snapshot::{self, Delta, Image};
        crate::snapshot::TEST_BLOCK_TARGET.with(|t| t.set(block));
        let (mut t, mut m) = (DataTree::new(), Model::new());
        t.track_changes();
        // Enough sessions to fill several tiny blocks before the first node; the table
        // changes from one snapshot to the next (none at the fresh base, then a window of
        // ids that moves with the zxid), so base and delta disagree on it.
        let table = |t: &DataTree| -> std::collections::BTreeMap<SessionId, i32> {
            if t.last_zxid() == Zxid::ZERO {
                return Default::default();
            }
            let from = t.last_zxid().0 % 7;
            (from..from + sessions).map(|i| (SessionId(SESSION_BASE + 100 + i), 4000 + i as i32)).collect()
        };
        let image = |t: &DataTree| Image { tree: t.clone(), sessions: table(t) };
        let mut base = snapshot::to_bytes(&image(&t));
        let mut base_zxid = Zxid::ZERO;
        let mut cut = |t: &mut DataTree, kind: u8| -> Result<(), TestCaseError> {
            if kind > 1 || t.last_zxid() == base_zxid {
                return Ok(());
            }
            let paths = t.take_changes().expect("tracking");
            let delta = Delta {
                base: base_zxid,
                header: image(t).header(),
                sessions: table(t).into_iter().collect(),
                changes: t.export_changes(&paths),
            };
            let mut merged = Vec::new();
            snapshot::merge(&base, &delta, &mut merged).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let full = snapshot::to_bytes(&image(t));
            let loaded = snapshot::read(&merged).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(snapshot::to_bytes(&loaded), full);
            if kind == 0 {
                base = merged;
                base_zxid = t.last_zxid();
            } else {
                t.restore_changes(paths);
            }
            Ok(())
        };
        for (i, (spec, kind)) in specs.iter().enumerate() {
            let zxid = i as i64 + 1;
            step(&mut t, &mut m, spec, zxid)?;
            if t.last_zxid() != Zxid(zxid) {
                let hdr = TxnHeader { session: SessionId(0), cxid: 0, zxid: Zxid(zxid), time: 0, op: -1 };
                t.apply(&hdr, &Txn::Error { err: crate::error::ErrorCode::NodeExists });
            }
            cut(&mut t, *kind)?;
        }
        for (i, (s, txn, kind)) in txns.iter().enumerate() {
            let session = SessionId(SESSION_BASE + s);
            let hdr = TxnHeader { session, cxid: 0, zxid: Zxid(1000 + i as i64), time: i as i64, op: txn.op() };
            t.apply(&hdr, txn);
            cut(&mut t, *kind)?;
        }
        cut(&mut t, 0)?;
        crate::snapshot::TEST_BLOCK_TARGET.with(|t| t.set(1 << 20));
    }
}
