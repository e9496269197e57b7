//! What a session sends next and what the reply must say.
//!
//! Each session owns its keys (`<run>/s<i>/k<j>`), so it knows the value and version every
//! one of them must have: a ZooKeeper server executes one session's requests in order, so a
//! read sees every write the session sent before it, pipelined or not. Values name their
//! writer (session, key, sequence number), which also lets the watch workload check data it
//! reads from another session's keys.

use std::collections::HashSet;

use corral_core::error::ErrorCode;
use corral_core::jute::{JuteReader, Record};
use corral_core::proto::event::WatcherEvent;
use corral_core::proto::{op, Acl, CreateRequest, MultiResult, Request, Response};

use super::options::{BenchArgs, Workload};

/// Create flags (`CreateMode`).
const PERSISTENT: i32 = 0;
const EPHEMERAL: i32 = 1;
const SEQUENTIAL: i32 = 2;
/// `EventType.NodeDataChanged`.
const NODE_DATA_CHANGED: i32 = 3;

/// A small xorshift64* generator: the bench needs cheap, reproducible choices, not
/// cryptographic ones.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
}

/// The value `session` writes to `key` the `seq`-th time: a 16-byte header naming the
/// writer, then a pattern that depends on `seq`, truncated or padded to `size`.
pub fn value(session: u32, key: u32, seq: u64, size: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(size.max(16));
    v.extend_from_slice(&session.to_be_bytes());
    v.extend_from_slice(&key.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    let mut i = 0u64;
    while v.len() < size {
        v.push((seq.wrapping_add(i) % 251) as u8);
        i += 1;
    }
    v.truncate(size);
    v
}

/// The writer a value names: (session, key, seq), if it is a well-formed bench value.
pub fn writer_of(data: &[u8], size: usize) -> Option<(u32, u32, u64)> {
    if data.len() != size || size < 16 {
        return None;
    }
    let s = u32::from_be_bytes(data[0..4].try_into().ok()?);
    let k = u32::from_be_bytes(data[4..8].try_into().ok()?);
    let q = u64::from_be_bytes(data[8..16].try_into().ok()?);
    (value(s, k, q, size) == data).then_some((s, k, q))
}

/// The directory of session `i` under the run root.
pub fn session_dir(run_root: &str, i: usize) -> String {
    format!("{run_root}/s{i}")
}

/// What a reply must contain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// A plain create of exactly this path.
    Created { path: String },
    /// A sequential create: `prefix` plus 10 digits, never seen before.
    CreatedSeq { prefix: String },
    /// getData of an own key: the value of write `seq` and that version.
    Data { key: u32, seq: u64, version: i32 },
    /// exists or setData of an own key: a Stat with this version and the value size.
    Stat { version: i32 },
    /// A multi of setData sub-ops; their new versions, in order.
    Multi { versions: Vec<i32> },
    /// getData with a watch on another session's key: a value written by `owner` to `key`;
    /// the watch is then armed on `path`.
    Foreign { owner: u32, key: u32, path: String },
    /// The node must not exist (error NoNode).
    NoNode,
    /// Success without a body (closeSession, delete).
    Empty,
}

/// What one session knows and expects.
#[derive(Debug)]
pub struct SessionModel {
    index: u32,
    workload: Workload,
    value_size: usize,
    read_pct: u8,
    multi_size: usize,
    dir: String,
    /// Own keys: path, sequence number of the last write sent, expected version.
    keys: Vec<(String, u64, i32)>,
    /// The next session's key paths (watch workload).
    neighbor: Vec<String>,
    neighbor_index: u32,
    rng: Rng,
    ops: u64,
    created: HashSet<String>,
    watched: HashSet<String>,
    /// The last ephemeral created (ephemeral-churn), which must be gone afterwards.
    last_ephemeral: Option<String>,
    /// Watch notifications verified.
    pub notifications: u64,
}

impl SessionModel {
    /// The model of session `index` out of `sessions`, working under `run_root`.
    pub fn new(args: &BenchArgs, run_root: &str, index: usize, sessions: usize) -> SessionModel {
        let dir = session_dir(run_root, index);
        let keys_of = |d: &str| -> Vec<String> {
            if args.workload.needs_keys() {
                (0..args.keys).map(|j| format!("{d}/k{j}")).collect()
            } else {
                Vec::new()
            }
        };
        let neighbor_index = (index + 1) % sessions;
        let neighbor = if args.workload == Workload::Watch {
            keys_of(&session_dir(run_root, neighbor_index))
        } else {
            Vec::new()
        };
        SessionModel {
            index: index as u32,
            workload: args.workload,
            value_size: args.value_size,
            read_pct: args.read_pct,
            multi_size: args.multi_size,
            keys: keys_of(&dir).into_iter().map(|p| (p, 0, 0)).collect(),
            dir,
            neighbor,
            neighbor_index: neighbor_index as u32,
            rng: Rng::new(index as u64 + 1),
            ops: 0,
            created: HashSet::new(),
            watched: HashSet::new(),
            last_ephemeral: None,
            notifications: 0,
        }
    }

    /// The session's directory.
    pub fn dir(&self) -> &str {
        &self.dir
    }

    fn create(path: String, data: Vec<u8>, flags: i32) -> Request {
        Request::Create {
            op: op::CREATE,
            req: CreateRequest {
                path,
                data: Some(data),
                acl: Some(Acl::open_unsafe()),
                flags,
                ttl: None,
            },
        }
    }

    /// The creates of the session's keys, each holding write 0.
    pub fn setup_requests(&self) -> Vec<(Request, Expect)> {
        self.keys
            .iter()
            .enumerate()
            .map(|(j, (path, _, _))| {
                let data = value(self.index, j as u32, 0, self.value_size);
                (
                    Self::create(path.clone(), data, PERSISTENT),
                    Expect::Created { path: path.clone() },
                )
            })
            .collect()
    }

    fn set_key(&mut self, j: usize, conditional: bool) -> (Request, i32) {
        let (path, seq, version) = &mut self.keys[j];
        *seq += 1;
        let sent_version = if conditional { *version } else { -1 };
        *version += 1;
        let req = Request::SetData {
            path: path.clone(),
            data: Some(value(self.index, j as u32, *seq, self.value_size)),
            version: sent_version,
        };
        (req, *version)
    }

    fn get_key(&self, j: usize) -> (Request, Expect) {
        let (path, seq, version) = &self.keys[j];
        (
            Request::GetData {
                path: path.clone(),
                watch: false,
            },
            Expect::Data {
                key: j as u32,
                seq: *seq,
                version: *version,
            },
        )
    }

    /// The next request of the workload (every workload but ephemeral-churn) and what its
    /// reply must be.
    pub fn next_op(&mut self) -> (Request, Expect) {
        self.ops += 1;
        let nkeys = self.keys.len();
        match self.workload {
            Workload::Create => {
                let prefix = format!("{}/c", self.dir);
                let data = value(self.index, u32::MAX, self.ops, self.value_size);
                (
                    Self::create(prefix.clone(), data, PERSISTENT | SEQUENTIAL),
                    Expect::CreatedSeq { prefix },
                )
            }
            Workload::Set => {
                let j = self.rng.below(nkeys);
                let (req, version) = self.set_key(j, false);
                (req, Expect::Stat { version })
            }
            Workload::Get => {
                let j = self.rng.below(nkeys);
                self.get_key(j)
            }
            Workload::Exists => {
                let j = self.rng.below(nkeys);
                let (path, _, version) = &self.keys[j];
                (
                    Request::Exists {
                        path: path.clone(),
                        watch: false,
                    },
                    Expect::Stat { version: *version },
                )
            }
            Workload::Mixed => {
                let j = self.rng.below(nkeys);
                if self.rng.below(100) < self.read_pct as usize {
                    self.get_key(j)
                } else {
                    let (req, version) = self.set_key(j, false);
                    (req, Expect::Stat { version })
                }
            }
            Workload::Multi => {
                // Distinct keys: a run of consecutive ones from a random start.
                let start = self.rng.below(nkeys);
                let mut subs = Vec::with_capacity(self.multi_size);
                let mut versions = Vec::with_capacity(self.multi_size);
                for n in 0..self.multi_size {
                    let (req, version) = self.set_key((start + n) % nkeys, true);
                    subs.push(req);
                    versions.push(version);
                }
                (Request::Multi(subs), Expect::Multi { versions })
            }
            Workload::Watch => {
                if self.ops.is_multiple_of(2) {
                    let j = self.rng.below(nkeys);
                    let (req, version) = self.set_key(j, false);
                    (req, Expect::Stat { version })
                } else {
                    let j = self.rng.below(self.neighbor.len());
                    let path = self.neighbor[j].clone();
                    (
                        Request::GetData {
                            path: path.clone(),
                            watch: true,
                        },
                        Expect::Foreign {
                            owner: self.neighbor_index,
                            key: j as u32,
                            path,
                        },
                    )
                }
            }
            Workload::EphemeralChurn => {
                unreachable!("ephemeral-churn sends churn_requests, one session each")
            }
        }
    }

    /// One ephemeral-churn round, all sent pipelined on a fresh session: check that the
    /// previous round's ephemeral went away with its session, create a new one, close.
    pub fn churn_requests(&mut self) -> Vec<(Request, Expect)> {
        self.ops += 1;
        let mut out = Vec::with_capacity(3);
        if let Some(prev) = self.last_ephemeral.take() {
            out.push((
                Request::Exists {
                    path: prev,
                    watch: false,
                },
                Expect::NoNode,
            ));
        }
        let path = format!("{}/e{}", self.dir, self.ops);
        let data = value(self.index, u32::MAX, self.ops, self.value_size);
        out.push((
            Self::create(path.clone(), data, EPHEMERAL),
            Expect::Created { path: path.clone() },
        ));
        out.push((Request::CloseSession, Expect::Empty));
        self.last_ephemeral = Some(path);
        out
    }

    /// Check the reply to a request with opcode `op`: header error `err`, then `body`.
    pub fn verify(&mut self, op: i32, expect: Expect, err: i32, body: &[u8]) -> Result<(), String> {
        if expect == Expect::NoNode {
            return match err {
                e if e == ErrorCode::NoNode.code() => Ok(()),
                0 => Err("node exists that should be gone".into()),
                e => Err(format!("expected NoNode, got error {e}")),
            };
        }
        if err != 0 {
            let name = ErrorCode::from_code(err)
                .map(|c| format!("{c:?}"))
                .unwrap_or_else(|| "unknown".into());
            return Err(format!("{}: error {err} ({name})", op::short_name(op)));
        }
        let resp = Response::decode(op, &mut JuteReader::new(body))
            .map_err(|e| format!("{}: undecodable reply: {e}", op::short_name(op)))?;
        let size = self.value_size;
        match (expect, resp) {
            (Expect::Created { path }, Response::Create { path: got }) if got == path => Ok(()),
            (Expect::CreatedSeq { prefix }, Response::Create { path: got }) => {
                let digits = got.strip_prefix(&prefix).unwrap_or("");
                if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    Err(format!("sequential create under {prefix} returned {got}"))
                } else if !self.created.insert(got.clone()) {
                    Err(format!("created name {got} returned twice"))
                } else {
                    Ok(())
                }
            }
            (Expect::Data { key, seq, version }, Response::GetData { data, stat }) => {
                let want = value(self.index, key, seq, size);
                if data.as_deref() != Some(&want[..]) {
                    let got = data.as_deref().and_then(|d| writer_of(d, size));
                    Err(format!(
                        "get of key {key}: expected write {seq}, got {}",
                        match got {
                            Some((s, k, q)) => format!("session {s} key {k} write {q}"),
                            None => "a value the bench did not write".into(),
                        }
                    ))
                } else if stat.version != version {
                    Err(format!(
                        "get of key {key}: version {} instead of {version}",
                        stat.version
                    ))
                } else {
                    Ok(())
                }
            }
            (Expect::Stat { version }, Response::Stat(stat)) => {
                if stat.version != version || stat.data_length as usize != size {
                    Err(format!(
                        "{}: stat version {} length {}, expected {version} and {size}",
                        op::short_name(op),
                        stat.version,
                        stat.data_length
                    ))
                } else {
                    Ok(())
                }
            }
            (Expect::Multi { versions }, Response::Multi(results)) => {
                let got: Vec<Option<i32>> = results
                    .iter()
                    .map(|r| match r {
                        MultiResult::SetData { stat } => Some(stat.version),
                        _ => None,
                    })
                    .collect();
                let want: Vec<Option<i32>> = versions.into_iter().map(Some).collect();
                if got == want {
                    Ok(())
                } else {
                    Err(format!(
                        "multi: results {results:?}, expected versions {want:?}"
                    ))
                }
            }
            (Expect::Foreign { owner, key, path }, Response::GetData { data, .. }) => {
                match data.as_deref().and_then(|d| writer_of(d, size)) {
                    Some((s, k, _)) if s == owner && k == key => {
                        self.watched.insert(path);
                        Ok(())
                    }
                    _ => Err(format!("get of {path}: not a value written by its owner")),
                }
            }
            (Expect::Empty, Response::Empty) => Ok(()),
            (expect, resp) => Err(format!(
                "{}: reply {resp:?} does not match {expect:?}",
                op::short_name(op)
            )),
        }
    }

    /// Check a watch notification (body after the xid -1 header).
    pub fn on_notification(&mut self, body: &[u8]) -> Result<(), String> {
        let ev = WatcherEvent::read(&mut JuteReader::new(body))
            .map_err(|e| format!("undecodable notification: {e}"))?;
        if ev.event_type != NODE_DATA_CHANGED {
            return Err(format!("unexpected notification {ev:?}"));
        }
        if !self.watched.remove(&ev.path) {
            return Err(format!("notification for {} without a watch", ev.path));
        }
        self.notifications += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_core::jute::JuteWriter;
    use corral_core::proto::Stat;

    fn args(workload: Workload) -> BenchArgs {
        let mut a = BenchArgs::new(vec!["127.0.0.1:2181".parse().unwrap()], workload);
        a.keys = 4;
        a
    }

    fn body(resp: &Response) -> Vec<u8> {
        let mut w = JuteWriter::new();
        resp.write_body(&mut w);
        w.into_inner()
    }

    fn stat(version: i32) -> Stat {
        Stat {
            version,
            data_length: 100,
            ..Stat::default()
        }
    }

    #[test]
    fn values_name_their_writer() {
        let v = value(3, 7, 42, 100);
        assert_eq!(v.len(), 100);
        assert_eq!(writer_of(&v, 100), Some((3, 7, 42)));
        let mut bad = v.clone();
        bad[50] ^= 1;
        assert_eq!(writer_of(&bad, 100), None);
        assert_ne!(value(3, 7, 43, 100), v);
    }

    #[test]
    fn get_after_set_expects_the_new_value_and_a_wrong_one_is_caught() {
        let mut m = SessionModel::new(&args(Workload::Mixed), "/b/r", 0, 1);
        m.read_pct = 0;
        let (set, exp) = m.next_op();
        let Request::SetData { path, .. } = &set else {
            panic!("{set:?}")
        };
        assert_eq!(exp, Expect::Stat { version: 1 });
        let j: usize = path.rsplit('k').next().unwrap().parse().unwrap();
        m.read_pct = 100;
        // Read the same key until the generator picks it.
        let (get, exp) = loop {
            let (g, e) = m.next_op();
            if matches!(&g, Request::GetData { path: p, .. } if p == path) {
                break (g, e);
            }
        };
        assert!(matches!(get, Request::GetData { .. }));
        let good = Response::GetData {
            data: Some(value(0, j as u32, 1, 100)),
            stat: stat(1),
        };
        assert_eq!(m.verify(op::GET_DATA, exp.clone(), 0, &body(&good)), Ok(()));
        // The value before the set: the verifier must notice.
        let stale = Response::GetData {
            data: Some(value(0, j as u32, 0, 100)),
            stat: stat(1),
        };
        let e = m.verify(op::GET_DATA, exp.clone(), 0, &body(&stale));
        assert!(e.unwrap_err().contains("expected write 1"));
        // Right value, wrong version.
        let wrong_version = Response::GetData {
            data: Some(value(0, j as u32, 1, 100)),
            stat: stat(0),
        };
        assert!(m
            .verify(op::GET_DATA, exp.clone(), 0, &body(&wrong_version))
            .is_err());
        // An error code where none is expected.
        assert!(m
            .verify(op::GET_DATA, exp, ErrorCode::NoNode.code(), &[])
            .is_err());
    }

    #[test]
    fn sequential_names_must_be_unique() {
        let mut m = SessionModel::new(&args(Workload::Create), "/b/r", 2, 3);
        let (_, exp) = m.next_op();
        let reply = body(&Response::Create {
            path: "/b/r/s2/c0000000007".into(),
        });
        assert_eq!(m.verify(op::CREATE, exp.clone(), 0, &reply), Ok(()));
        assert!(m.verify(op::CREATE, exp.clone(), 0, &reply).is_err());
        let off = body(&Response::Create {
            path: "/b/r/s1/c0000000008".into(),
        });
        assert!(m.verify(op::CREATE, exp, 0, &off).is_err());
    }

    #[test]
    fn notifications_need_an_armed_watch() {
        let mut m = SessionModel::new(&args(Workload::Watch), "/b/r", 0, 2);
        let (req, exp) = m.next_op();
        let Request::GetData { path, watch: true } = req else {
            panic!("{req:?}")
        };
        let mut w = JuteWriter::new();
        WatcherEvent {
            event_type: NODE_DATA_CHANGED,
            state: 3,
            path: path.clone(),
        }
        .write(&mut w);
        let event = w.into_inner();
        assert!(m.on_notification(&event).is_err(), "no watch armed yet");
        let Expect::Foreign { key, .. } = exp else {
            panic!("{exp:?}")
        };
        let reply = body(&Response::GetData {
            data: Some(value(1, key, 5, 100)),
            stat: stat(5),
        });
        assert_eq!(m.verify(op::GET_DATA, exp, 0, &reply), Ok(()));
        assert_eq!(m.on_notification(&event), Ok(()));
        assert_eq!(m.notifications, 1);
        assert!(m.on_notification(&event).is_err(), "fired twice");
    }

    #[test]
    fn churn_checks_the_previous_ephemeral() {
        let mut m = SessionModel::new(&args(Workload::EphemeralChurn), "/b/r", 0, 1);
        let first = m.churn_requests();
        assert_eq!(first.len(), 2);
        let second = m.churn_requests();
        assert_eq!(second.len(), 3);
        assert_eq!(
            second[0].0,
            Request::Exists {
                path: "/b/r/s0/e1".into(),
                watch: false
            }
        );
        assert_eq!(
            m.verify(op::EXISTS, Expect::NoNode, ErrorCode::NoNode.code(), &[]),
            Ok(())
        );
        let found = body(&Response::Stat(stat(0)));
        assert!(m.verify(op::EXISTS, Expect::NoNode, 0, &found).is_err());
    }
}
