//! The tree digest: an order-independent 64-bit fingerprint of every node, kept up to date
//! on each change so replicas can compare trees at equal zxids in O(1).
//!
//! Corral digest v1 (not ZooKeeper's CRC32-based one; peers are all Corral):
//! - word hash: start from `tag * K`; for each 64-bit word `w`: `h = (h ^ w) * K;
//!   h ^= h >> 29` with `K = 0x9E3779B97F4A7C15`; finish with murmur3's `fmix64`. Byte
//!   strings are hashed as their length followed by 8-byte little-endian words (the last
//!   one zero-padded).
//! - node digest = `content(path, data) + meta(path, stat, acl)` (wrapping), where content
//!   covers the path and data (null and empty differ) and meta covers the path, every
//!   `StatPersisted` field (stored cversion, raw owner) and the ACL entries in order.
//!   Splitting lets a parent's stat change re-hash only its small meta part.
//! - tree digest = wrapping sum of all node digests, built-in nodes included.
//!
//! Equal trees therefore have equal digests whatever the order of the changes that built
//! them. Children sets are not hashed: they are implied by the paths of the nodes.

use super::node::StatPersisted;
use crate::proto::data::Acl;

const K: u64 = 0x9E37_79B9_7F4A_7C15;
const TAG_CONTENT: u64 = 1;
const TAG_META: u64 = 2;

struct WordHasher(u64);

impl WordHasher {
    fn new(tag: u64) -> Self {
        WordHasher(tag.wrapping_mul(K))
    }

    fn word(&mut self, w: u64) {
        let h = (self.0 ^ w).wrapping_mul(K);
        self.0 = h ^ (h >> 29);
    }

    fn int(&mut self, v: i64) {
        self.word(v as u64);
    }

    fn bytes(&mut self, b: &[u8]) {
        self.word(b.len() as u64);
        for chunk in b.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.word(u64::from_le_bytes(buf));
        }
    }

    fn finish(self) -> u64 {
        fmix64(self.0)
    }
}

/// murmur3's 64-bit finaliser.
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The part of a node's digest that changes only with its data.
pub(super) fn content(path: &str, data: Option<&[u8]>) -> u64 {
    let mut h = WordHasher::new(TAG_CONTENT);
    h.bytes(path.as_bytes());
    match data {
        None => h.word(0),
        Some(d) => {
            h.word(1);
            h.bytes(d);
        }
    }
    h.finish()
}

/// The part of a node's digest that changes with its stat or ACL.
pub(super) fn meta(path: &str, s: &StatPersisted, acl: &[Acl]) -> u64 {
    let mut h = WordHasher::new(TAG_META);
    h.bytes(path.as_bytes());
    for v in [
        s.czxid.0,
        s.mzxid.0,
        s.ctime,
        s.mtime,
        s.ephemeral_owner,
        s.pzxid.0,
    ] {
        h.int(v);
    }
    for v in [s.version, s.cversion, s.aversion] {
        h.int(v as i64);
    }
    hash_acl(&mut h, acl);
    h.finish()
}

fn hash_acl(h: &mut WordHasher, acl: &[Acl]) {
    h.word(acl.len() as u64);
    for a in acl {
        h.int(a.perms as i64);
        h.bytes(a.id.scheme.as_bytes());
        h.bytes(a.id.id.as_bytes());
    }
}

/// A node's whole contribution to the tree digest.
pub(super) fn node(path: &str, data: Option<&[u8]>, stat: &StatPersisted, acl: &[Acl]) -> u64 {
    content(path, data).wrapping_add(meta(path, stat, acl))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_distinguishes_null_empty_and_boundaries() {
        let a = content("/a", None);
        let b = content("/a", Some(b""));
        let c = content("/a", Some(b"\0"));
        assert!(a != b && b != c && a != c);
        // Path/data boundary and zero padding do not collide.
        assert_ne!(content("/ab", Some(b"c")), content("/a", Some(b"bc")));
        assert_ne!(content("/a", Some(&[1, 0])), content("/a", Some(&[1])));
    }

    #[test]
    fn pinned_values() {
        // Replicas built by different compilers must agree: pin digest v1.
        assert_eq!(content("/", None), 0x7cf6_9328_8de7_00f0);
        assert_eq!(content("/a", Some(b"hello, world")), 0xea51_6919_36d4_a1d4);
        assert_eq!(crate::tree::DataTree::new().digest(), 0x4c7a_6d4e_3584_dbf3);
    }
}
