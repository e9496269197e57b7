//! Where znodes live: a chunked slab of fixed-size slots addressed by a `u32` id, and the
//! slot itself (name, data, stat, parent, ACL and child-list handles).
//!
//! Memory is the point of this layout (1M znodes must fit in a fraction of ZooKeeper's
//! heap; see docs/performance.md). A slot is 88 bytes and owns exactly one heap allocation,
//! holding its name followed by its data, so a znode of 100 bytes costs one slot plus one
//! ~128-byte allocation. The slab grows one fixed chunk at a time, so growing never copies
//! (or transiently doubles) the whole table the way a growing `Vec` or hash map would.

use crate::types::Zxid;

use super::node::StatPersisted;

/// A slot (or child list) number in its [`Slab`].
pub(super) type NodeId = u32;

/// "None" for the `u32` handles in a slot (the root's parent, a childless node's list).
pub(super) const NONE: u32 = u32::MAX;

/// Slots per chunk: a few hundred KiB, so a chunk is one mmap'd allocation and the last,
/// partly used chunk wastes little.
const CHUNK: usize = 4096;

/// A growable table of `T` with stable `u32` ids. Freed ids are reused, last freed first.
/// Ids depend on the history of inserts and removes, so nothing observable may depend on
/// them (outputs are ordered by path or name instead).
#[derive(Clone, Debug)]
pub(super) struct Slab<T> {
    chunks: Vec<Vec<Option<T>>>,
    free: Vec<NodeId>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            chunks: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Store `value`, returning its id.
    pub(super) fn insert(&mut self, value: T) -> NodeId {
        self.len += 1;
        if let Some(id) = self.free.pop() {
            let slot = self.slot_mut(id);
            assert!(slot.is_none(), "free list holds a live id {id}");
            *slot = Some(value);
            return id;
        }
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let n = self.chunks.len() - 1;
        let chunk = &mut self.chunks[n];
        let id = n * CHUNK + chunk.len();
        assert!(id < NONE as usize, "slab full (2^32 - 1 entries)");
        chunk.push(Some(value));
        id as NodeId
    }

    /// Take the value out and free its id. Panics if `id` is not live.
    pub(super) fn remove(&mut self, id: NodeId) -> T {
        let value = self.slot_mut(id).take();
        let value = value.unwrap_or_else(|| panic!("removed a free slab id {id}"));
        self.free.push(id);
        self.len -= 1;
        value
    }

    /// The value at a live `id` (a dangling id is a broken invariant: panic).
    pub(super) fn get(&self, id: NodeId) -> &T {
        self.try_get(id)
            .unwrap_or_else(|| panic!("dangling slab id {id}"))
    }

    /// The value at `id`, if live.
    pub(super) fn try_get(&self, id: NodeId) -> Option<&T> {
        let (c, i) = (id as usize / CHUNK, id as usize % CHUNK);
        self.chunks.get(c)?.get(i)?.as_ref()
    }

    pub(super) fn get_mut(&mut self, id: NodeId) -> &mut T {
        self.slot_mut(id)
            .as_mut()
            .unwrap_or_else(|| panic!("dangling slab id {id}"))
    }

    fn slot_mut(&mut self, id: NodeId) -> &mut Option<T> {
        &mut self.chunks[id as usize / CHUNK][id as usize % CHUNK]
    }

    /// Live entries.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Every live entry with its id, in id order (for order-independent checks only).
    pub(super) fn iter(&self) -> impl Iterator<Item = (NodeId, &T)> {
        self.chunks
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, v)| Some((i as NodeId, v.as_ref()?)))
    }
}

/// One znode as stored. The stat is kept as loose fields rather than a [`StatPersisted`]
/// because that struct carries 4 bytes of padding, which would round the slot up to 96.
#[derive(Clone, Debug)]
pub(super) struct Slot {
    czxid: i64,
    mzxid: i64,
    ctime: i64,
    mtime: i64,
    ephemeral_owner: i64,
    pzxid: i64,
    version: i32,
    cversion: i32,
    aversion: i32,
    /// The parent's id ([`NONE`] for the root).
    pub(super) parent: NodeId,
    /// Index of the interned ACL list (see `acl_cache.rs`).
    pub(super) acl: u32,
    /// Id of this node's child list in the tree's list slab, [`NONE`] when it has no
    /// children (most nodes: leaves cost no list at all).
    pub(super) children: u32,
    /// `header | name | data`, where `header` is the LEB128 varint of
    /// `name_len << 1 | has_data`. One allocation instead of two, and no separate length
    /// fields in the slot. `has_data = 0` is ZooKeeper's null data, distinct from empty.
    bytes: Box<[u8]>,
}

// The whole point of the layout; a field added carelessly should fail the build, not
// quietly cost 8 more bytes per znode. (`Option<Slot>` uses the box's niche.)
const _: () = assert!(std::mem::size_of::<Option<Slot>>() == 88);

impl Slot {
    pub(super) fn new(
        name: &str,
        data: Option<&[u8]>,
        parent: NodeId,
        acl: u32,
        stat: StatPersisted,
    ) -> Slot {
        let mut slot = Slot {
            czxid: 0,
            mzxid: 0,
            ctime: 0,
            mtime: 0,
            ephemeral_owner: 0,
            pzxid: 0,
            version: 0,
            cversion: 0,
            aversion: 0,
            parent,
            acl,
            children: NONE,
            bytes: encode(name.as_bytes(), data),
        };
        slot.set_stat(stat);
        slot
    }

    /// The node's name (the last path segment; empty for the root).
    pub(super) fn name(&self) -> &str {
        let (name, _) = decode(&self.bytes);
        // Names are copied from `&str`s (see `new`), so this cannot fail.
        std::str::from_utf8(name).expect("znode names are stored from valid UTF-8")
    }

    /// The name as bytes, for comparisons (no UTF-8 check).
    pub(super) fn name_bytes(&self) -> &[u8] {
        decode(&self.bytes).0
    }

    /// The data; `None` is null data.
    pub(super) fn data(&self) -> Option<&[u8]> {
        decode(&self.bytes).1
    }

    /// Replace the data (a new allocation: it holds the name too).
    pub(super) fn set_data(&mut self, data: Option<&[u8]>) {
        self.bytes = encode(self.name_bytes(), data);
    }

    pub(super) fn stat(&self) -> StatPersisted {
        StatPersisted {
            czxid: Zxid(self.czxid),
            mzxid: Zxid(self.mzxid),
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion,
            aversion: self.aversion,
            ephemeral_owner: self.ephemeral_owner,
            pzxid: Zxid(self.pzxid),
        }
    }

    pub(super) fn set_stat(&mut self, s: StatPersisted) {
        self.czxid = s.czxid.0;
        self.mzxid = s.mzxid.0;
        self.ctime = s.ctime;
        self.mtime = s.mtime;
        self.version = s.version;
        self.cversion = s.cversion;
        self.aversion = s.aversion;
        self.ephemeral_owner = s.ephemeral_owner;
        self.pzxid = s.pzxid.0;
    }

    pub(super) fn cversion(&self) -> i32 {
        self.cversion
    }
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// `header | name | data` in an allocation of exactly that size.
fn encode(name: &[u8], data: Option<&[u8]>) -> Box<[u8]> {
    let mut header = (name.len() as u64) << 1 | u64::from(data.is_some());
    let data = data.unwrap_or_default();
    let mut out = Vec::with_capacity(varint_len(header) + name.len() + data.len());
    while header >= 0x80 {
        out.push((header as u8) | 0x80);
        header >>= 7;
    }
    out.push(header as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(data);
    debug_assert_eq!(out.len(), out.capacity());
    out.into_boxed_slice()
}

/// Split what [`encode`] made back into name and data.
fn decode(b: &[u8]) -> (&[u8], Option<&[u8]>) {
    let (mut header, mut shift, mut at) = (0u64, 0u32, 0usize);
    loop {
        let byte = b[at];
        header |= u64::from(byte & 0x7f) << shift;
        at += 1;
        if byte < 0x80 {
            break;
        }
        shift += 7;
    }
    let name_len = (header >> 1) as usize;
    let (name, data) = b[at..].split_at(name_len);
    (name, (header & 1 == 1).then_some(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_and_data_round_trip() {
        let long = "n".repeat(300); // a two-byte header
        for name in ["", "a", "n0000000001", long.as_str()] {
            for data in [None, Some(&b""[..]), Some(&b"x"[..]), Some(&[0u8; 200][..])] {
                let b = encode(name.as_bytes(), data);
                assert_eq!(decode(&b), (name.as_bytes(), data));
                assert_eq!(
                    b.len(),
                    varint_len((name.len() as u64) << 1) + name.len() + data.map_or(0, <[u8]>::len)
                );
            }
        }
    }

    #[test]
    fn slot_keeps_stat_and_replaces_data() {
        let stat = StatPersisted {
            czxid: Zxid(1),
            mzxid: Zxid(2),
            ctime: 3,
            mtime: 4,
            version: 5,
            cversion: -6,
            aversion: 7,
            ephemeral_owner: i64::MIN,
            pzxid: Zxid(9),
        };
        let mut s = Slot::new("name", None, 3, 4, stat);
        assert_eq!((s.stat(), s.name(), s.data()), (stat, "name", None));
        s.set_data(Some(b""));
        assert_eq!((s.name(), s.data()), ("name", Some(&b""[..])));
        assert_eq!((s.parent, s.acl, s.children), (3, 4, NONE));
    }

    #[test]
    fn slab_reuses_ids_and_spans_chunks() {
        let mut slab = Slab::default();
        let ids: Vec<NodeId> = (0..CHUNK as u32 + 10).map(|i| slab.insert(i)).collect();
        assert_eq!(ids, (0..CHUNK as u32 + 10).collect::<Vec<_>>());
        assert_eq!(slab.chunks.len(), 2);
        assert_eq!(slab.remove(5), 5);
        assert_eq!(slab.remove(CHUNK as u32 + 1), CHUNK as u32 + 1);
        assert_eq!(slab.try_get(5), None);
        assert_eq!(slab.len(), CHUNK + 8);
        // Last freed, first reused.
        assert_eq!(slab.insert(100), CHUNK as u32 + 1);
        assert_eq!(slab.insert(200), 5);
        assert_eq!(*slab.get(5), 200);
        assert_eq!(slab.iter().count(), CHUNK + 10);
    }
}
