//! What simulated clients ask for: a seeded mix of ZooKeeper operations over a small key
//! space, so that operations collide (version conflicts, NodeExists, NoNode, NotEmpty).
//!
//! Data values are unique per operation (`c<client>.<session gen>.<n>`), so the checkers
//! can tell which write a read saw.

use std::collections::BTreeMap;

use corral_core::proto::data::Acl;
use corral_core::proto::request::CreateRequest;
use corral_core::proto::{op, Request, Response};

use crate::rng::Rng;

/// Persistent nodes clients create, change and delete.
const KEYS: &[&str] = &["/a", "/b", "/c", "/a/x", "/a/y", "/b/x"];
/// Parent of sequential nodes.
pub const SEQ_PARENT: &str = "/s";
/// Parent of ephemeral nodes.
pub const EPH_PARENT: &str = "/e";
const EPH_NAMES: &[&str] = &["/e/1", "/e/2", "/e/3"];
/// Paths reads look at.
const READ_PATHS: &[&str] = &[
    "/", "/a", "/b", "/c", "/a/x", "/a/y", "/b/x", "/s", "/e", "/e/1", "/e/2", "/e/3",
];

/// Create flags (ZooKeeper `CreateMode`).
pub mod flags {
    pub const PERSISTENT: i32 = 0;
    pub const EPHEMERAL: i32 = 1;
    pub const SEQUENTIAL: i32 = 2;
    pub const EPHEMERAL_SEQUENTIAL: i32 = 3;
}

/// One client's operation generator.
#[derive(Debug)]
pub struct Workload {
    client: usize,
    rng: Rng,
    /// Session generation, part of every data value.
    generation: u32,
    n: u64,
    /// Last version this client saw per path, for conditional writes.
    versions: BTreeMap<String, i32>,
}

impl Workload {
    /// The generator of client `client` (0-based).
    pub fn new(client: usize, rng: Rng) -> Workload {
        Workload {
            client,
            rng,
            generation: 1,
            n: 0,
            versions: BTreeMap::new(),
        }
    }

    /// A new session began (after expiry or close).
    pub fn new_session(&mut self) {
        self.generation += 1;
    }

    fn data(&mut self) -> Option<Vec<u8>> {
        self.n += 1;
        Some(format!("c{}.{}.{}", self.client + 1, self.generation, self.n).into_bytes())
    }

    fn version(&mut self, path: &str) -> i32 {
        match self.rng.range(0, 9) {
            0..=4 => -1,
            5..=8 => self.versions.get(path).copied().unwrap_or(0),
            _ => self.rng.range(0, 3) as i32,
        }
    }

    fn create(&mut self, path: &str, flags: i32) -> Request {
        let op = if self.rng.chance(50) {
            op::CREATE
        } else {
            op::CREATE2
        };
        Request::Create {
            op,
            req: CreateRequest {
                path: path.to_owned(),
                data: self.data(),
                acl: Some(Acl::open_unsafe()),
                flags,
                ttl: None,
            },
        }
    }

    fn any_create(&mut self) -> Request {
        match self.rng.range(0, 9) {
            0..=3 => {
                let p = *self.rng.pick(KEYS);
                self.create(p, flags::PERSISTENT)
            }
            4 => {
                let p = *self.rng.pick(&[SEQ_PARENT, EPH_PARENT]);
                self.create(p, flags::PERSISTENT)
            }
            5..=6 => {
                let f = *self
                    .rng
                    .pick(&[flags::SEQUENTIAL, flags::EPHEMERAL_SEQUENTIAL]);
                self.create(&format!("{SEQ_PARENT}/n-"), f)
            }
            _ => {
                let p = *self.rng.pick(EPH_NAMES);
                self.create(p, flags::EPHEMERAL)
            }
        }
    }

    fn set_data(&mut self) -> Request {
        let path = (*self.rng.pick(KEYS)).to_owned();
        let version = self.version(&path);
        Request::SetData {
            data: self.data(),
            path,
            version,
        }
    }

    fn delete(&mut self) -> Request {
        let path = if self.rng.chance(70) {
            *self.rng.pick(KEYS)
        } else {
            *self.rng.pick(EPH_NAMES)
        };
        let version = self.version(path);
        Request::Delete {
            path: path.to_owned(),
            version,
        }
    }

    fn multi(&mut self) -> Request {
        let n = self.rng.range(1, 3);
        let mut ops = Vec::new();
        for _ in 0..n {
            let sub = match self.rng.range(0, 3) {
                // create or create2 (self.create draws the opcode), persistent
                0 => {
                    let p = *self.rng.pick(KEYS);
                    self.create(p, flags::PERSISTENT)
                }
                1 => self.set_data(),
                2 => self.delete(),
                _ => {
                    let path = (*self.rng.pick(KEYS)).to_owned();
                    let version = self.version(&path);
                    Request::Check { path, version }
                }
            };
            ops.push(sub);
        }
        Request::Multi(ops)
    }

    /// The next request. `CloseSession` is drawn rarely; the driver stops submitting
    /// until it is answered.
    pub fn next_request(&mut self) -> Request {
        let watch = self.rng.chance(20);
        let path = (*self.rng.pick(READ_PATHS)).to_owned();
        match self.rng.range(0, 199) {
            0..=39 => self.any_create(),
            40..=69 => self.set_data(),
            70..=85 => self.delete(),
            86..=115 => Request::GetData { path, watch },
            116..=135 => Request::Exists { path, watch },
            136..=150 => Request::GetChildren { path, watch },
            151..=160 => Request::GetChildren2 { path, watch },
            161..=185 => self.multi(),
            186..=196 => Request::Sync { path },
            _ => Request::CloseSession,
        }
    }

    /// Learn versions from a successful reply.
    pub fn observe(&mut self, req: &Request, resp: &Response) {
        let stat = match resp {
            Response::Stat(s) | Response::GetData { stat: s, .. } => Some(s),
            Response::Create2 { stat, .. } | Response::Children2 { stat, .. } => Some(stat),
            _ => None,
        };
        if let (Some(path), Some(stat)) = (req.path(), stat) {
            self.versions.insert(path.to_owned(), stat.version);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_covers_every_kind_and_is_seeded() {
        let mut w = Workload::new(0, Rng::new(5));
        let mut w2 = Workload::new(0, Rng::new(5));
        let mut ops = BTreeMap::new();
        for _ in 0..2000 {
            let r = w.next_request();
            assert_eq!(r, w2.next_request());
            *ops.entry(r.op()).or_insert(0) += 1;
        }
        for code in [
            op::CREATE,
            op::CREATE2,
            op::SET_DATA,
            op::DELETE,
            op::GET_DATA,
            op::EXISTS,
            op::GET_CHILDREN,
            op::GET_CHILDREN2,
            op::MULTI,
            op::SYNC,
            op::CLOSE_SESSION,
        ] {
            assert!(
                ops.get(&code).copied().unwrap_or(0) > 0,
                "op {code} never drawn"
            );
        }
    }
}
