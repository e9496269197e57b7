//! Where znodes live: a chunked slab of fixed-size slots addressed by a `u32` id, and the
//! slot itself (name, data, stat, parent, ACL and child-list handles).
//!
//! Memory is the point of this layout (1M znodes must fit in a fraction of ZooKeeper's
//! heap; see docs/performance.md). A slot is 32 bytes and owns exactly one heap allocation,
//! holding its name, its stat (12 bytes for a node never changed) and its data, so a znode of 100 bytes
//! costs one slot plus one ~128-byte allocation. The slab grows one fixed chunk at a time, so growing never copies
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

/// One znode as stored: three `u32` handles and one heap allocation that holds the name,
/// the stat (compactly encoded, see [`encode_stat`]) and the data. 32 bytes plus the
/// allocation; a loose stat would take 60 bytes of the slot for what usually encodes in
/// 12 to 20 (most znodes have small versions, `mzxid = pzxid = czxid`, `mtime = ctime`
/// and no owner).
#[derive(Clone, Debug)]
pub(super) struct Slot {
    /// The parent's id ([`NONE`] for the root).
    pub(super) parent: NodeId,
    /// Index of the interned ACL list (see `acl_cache.rs`).
    pub(super) acl: u32,
    /// Id of this node's child list in the tree's list slab, [`NONE`] when it has no
    /// children (most nodes: leaves cost no list at all).
    pub(super) children: u32,
    /// `header | name | stat_len | stat | data`, where `header` is the LEB128 varint of
    /// `name_len << 1 | has_data` and `stat_len` one byte. The name comes first because
    /// path lookups compare names and should not decode anything else. `has_data = 0` is
    /// ZooKeeper's null data, distinct from empty.
    bytes: Box<[u8]>,
}

// The whole point of the layout; a field added carelessly should fail the build, not
// quietly cost 8 more bytes per znode. (`Option<Slot>` uses the box's niche.)
const _: () = assert!(std::mem::size_of::<Option<Slot>>() == 32);

impl Slot {
    pub(super) fn new(
        name: &str,
        data: Option<&[u8]>,
        parent: NodeId,
        acl: u32,
        stat: StatPersisted,
    ) -> Slot {
        Slot {
            parent,
            acl,
            children: NONE,
            bytes: encode(name.as_bytes(), &stat, data),
        }
    }

    /// The node's name (the last path segment; empty for the root).
    pub(super) fn name(&self) -> &str {
        // Names are copied from `&str`s (see `new`), so this cannot fail.
        std::str::from_utf8(self.name_bytes()).expect("znode names are stored from valid UTF-8")
    }

    /// The name as bytes, for comparisons (no UTF-8 check).
    pub(super) fn name_bytes(&self) -> &[u8] {
        let mut at = 0;
        let name_len = (get_varint(&self.bytes, &mut at) >> 1) as usize;
        &self.bytes[at..at + name_len]
    }

    /// Data and stat with one parse of the layout.
    pub(super) fn data_and_stat(&self) -> (Option<&[u8]>, StatPersisted) {
        let (_, st, d) = decode(&self.bytes);
        (d, decode_stat(st))
    }

    /// The data; `None` is null data.
    pub(super) fn data(&self) -> Option<&[u8]> {
        decode(&self.bytes).2
    }

    pub(super) fn stat(&self) -> StatPersisted {
        decode_stat(decode(&self.bytes).1)
    }

    /// Replace the data and the stat (one new allocation: it holds the name too).
    pub(super) fn set_data_and_stat(&mut self, data: Option<&[u8]>, stat: &StatPersisted) {
        self.bytes = encode(self.name_bytes(), stat, data);
    }

    /// Replace the stat: in place when its encoding keeps its length (a parent's pzxid
    /// and cversion bumped by a child create, usually), else in a new allocation.
    pub(super) fn set_stat(&mut self, stat: StatPersisted) {
        let mut buf = [0u8; MAX_STAT];
        let new = encode_stat(&stat, &mut buf);
        let (name, old, data) = decode(&self.bytes);
        if old.len() == new.len() {
            let at = old.as_ptr() as usize - self.bytes.as_ptr() as usize;
            self.bytes[at..at + new.len()].copy_from_slice(new);
        } else {
            self.bytes = encode_parts(name, new, data);
        }
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

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A LEB128 varint at `b[*at..]`; advances `at`. The bytes are our own encoding, so a
/// malformed one is a bug (it panics on running off the end).
fn get_varint(b: &[u8], at: &mut usize) -> u64 {
    let (mut v, mut shift) = (0u64, 0u32);
    loop {
        let byte = b[*at];
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// A presence byte and nine zigzag varints of at most 10 bytes.
const MAX_STAT: usize = 91;
// `stat_len` is one byte.
const _: () = assert!(MAX_STAT <= u8::MAX as usize);

/// The stat as a presence byte, then zigzag varints: czxid and ctime always, then those of
/// mzxid - czxid, pzxid - czxid, mtime - ctime, version, cversion, aversion and
/// ephemeralOwner that are not zero (bit i of the presence byte for the i-th). A node
/// never changed since its create, without children, takes 12 bytes: that keeps a
/// 100-byte value with a short name within a 128-byte allocation. Differences wrap, so
/// every value round-trips, however odd (a snapshot from elsewhere).
fn encode_stat<'b>(s: &StatPersisted, buf: &'b mut [u8; MAX_STAT]) -> &'b [u8] {
    let optional = [
        s.mzxid.0.wrapping_sub(s.czxid.0),
        s.pzxid.0.wrapping_sub(s.czxid.0),
        s.mtime.wrapping_sub(s.ctime),
        i64::from(s.version),
        i64::from(s.cversion),
        i64::from(s.aversion),
        s.ephemeral_owner,
    ];
    let mut n = 1;
    let mut put = |v: i64, n: &mut usize| {
        let mut v = zigzag(v);
        while v >= 0x80 {
            buf[*n] = (v as u8) | 0x80;
            v >>= 7;
            *n += 1;
        }
        buf[*n] = v as u8;
        *n += 1;
    };
    put(s.czxid.0, &mut n);
    put(s.ctime, &mut n);
    let mut present = 0u8;
    for (i, v) in optional.into_iter().enumerate() {
        if v != 0 {
            present |= 1 << i;
            put(v, &mut n);
        }
    }
    buf[0] = present;
    &buf[..n]
}

fn decode_stat(b: &[u8]) -> StatPersisted {
    let present = b[0];
    let mut at = 1;
    let czxid = unzigzag(get_varint(b, &mut at));
    let ctime = unzigzag(get_varint(b, &mut at));
    let mut optional = [0i64; 7];
    for (i, v) in optional.iter_mut().enumerate() {
        if present & (1 << i) != 0 {
            *v = unzigzag(get_varint(b, &mut at));
        }
    }
    let [dm, dp, dt, version, cversion, aversion, ephemeral_owner] = optional;
    // Versions were i32s when encoded.
    StatPersisted {
        czxid: Zxid(czxid),
        mzxid: Zxid(czxid.wrapping_add(dm)),
        ctime,
        mtime: ctime.wrapping_add(dt),
        version: version as i32,
        cversion: cversion as i32,
        aversion: aversion as i32,
        ephemeral_owner,
        pzxid: Zxid(czxid.wrapping_add(dp)),
    }
}

/// `header | name | stat_len | stat | data` in an allocation of exactly that size.
fn encode(name: &[u8], stat: &StatPersisted, data: Option<&[u8]>) -> Box<[u8]> {
    let mut buf = [0u8; MAX_STAT];
    encode_parts(name, encode_stat(stat, &mut buf), data)
}

fn encode_parts(name: &[u8], stat: &[u8], data: Option<&[u8]>) -> Box<[u8]> {
    let header = (name.len() as u64) << 1 | u64::from(data.is_some());
    let data = data.unwrap_or_default();
    let mut out = Vec::with_capacity(varint_len(header) + name.len() + 1 + stat.len() + data.len());
    put_varint(&mut out, header);
    out.extend_from_slice(name);
    out.push(stat.len() as u8);
    out.extend_from_slice(stat);
    out.extend_from_slice(data);
    debug_assert_eq!(out.len(), out.capacity());
    out.into_boxed_slice()
}

/// Split what [`encode`] made back into name, encoded stat and data.
fn decode(b: &[u8]) -> (&[u8], &[u8], Option<&[u8]>) {
    let mut at = 0;
    let header = get_varint(b, &mut at);
    let name_len = (header >> 1) as usize;
    let name = &b[at..at + name_len];
    at += name_len;
    let stat_len = usize::from(b[at]);
    let stat = &b[at + 1..at + 1 + stat_len];
    let data = &b[at + 1 + stat_len..];
    (name, stat, (header & 1 == 1).then_some(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn odd_stat() -> StatPersisted {
        StatPersisted {
            czxid: Zxid(1),
            mzxid: Zxid(2),
            ctime: 3,
            mtime: 4,
            version: 5,
            cversion: -6,
            aversion: 7,
            ephemeral_owner: i64::MIN,
            pzxid: Zxid(9),
        }
    }

    #[test]
    fn name_stat_and_data_round_trip() {
        let long = "n".repeat(300); // a two-byte header
        let typical = StatPersisted {
            czxid: Zxid(0x1_0000_1234),
            mzxid: Zxid(0x1_0000_1234),
            ctime: 1_765_000_000_000,
            mtime: 1_765_000_000_000,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 0,
            pzxid: Zxid(0x1_0000_1234),
        };
        let extreme = StatPersisted {
            czxid: Zxid(i64::MIN),
            mzxid: Zxid(i64::MAX),
            ctime: i64::MAX,
            mtime: i64::MIN,
            version: i32::MIN,
            cversion: i32::MAX,
            aversion: -1,
            ephemeral_owner: -1,
            pzxid: Zxid(-1),
        };
        for stat in [typical, odd_stat(), extreme, StatPersisted::default()] {
            for name in ["", "a", "n0000000001", long.as_str()] {
                for data in [None, Some(&b""[..]), Some(&b"x"[..]), Some(&[0u8; 200][..])] {
                    let b = encode(name.as_bytes(), &stat, data);
                    let (n, st, d) = decode(&b);
                    assert_eq!((n, d), (name.as_bytes(), data));
                    assert_eq!(decode_stat(st), stat);
                }
            }
        }
        // What the layout is for: a fresh node's stat in 12 bytes, so with an 11-byte
        // sequential name and 100 bytes of data the allocation is 125 bytes.
        let mut buf = [0u8; MAX_STAT];
        assert_eq!(encode_stat(&typical, &mut buf).len(), 12);
        assert_eq!(encode(b"n0000000001", &typical, Some(&[7; 100])).len(), 125);
    }

    #[test]
    fn slot_keeps_stat_and_replaces_data() {
        let stat = odd_stat();
        let mut s = Slot::new("name", None, 3, 4, stat);
        assert_eq!((s.stat(), s.name(), s.data()), (stat, "name", None));
        s.set_data_and_stat(Some(b""), &stat);
        assert_eq!((s.name(), s.data()), ("name", Some(&b""[..])));
        assert_eq!((s.parent, s.acl, s.children), (3, 4, NONE));
        // Same-length and longer stat encodings, data kept.
        s.set_data_and_stat(Some(b"data"), &stat);
        for cversion in [-5, 1000, i32::MAX, 0] {
            let new = StatPersisted { cversion, ..stat };
            s.set_stat(new);
            assert_eq!(
                (s.stat(), s.name(), s.data()),
                (new, "name", Some(&b"data"[..]))
            );
        }
    }

    fn any_stat() -> impl proptest::strategy::Strategy<Value = StatPersisted> {
        use proptest::prelude::*;
        // Small values (the common case, and equalities between fields) as well as any.
        let field = || prop_oneof![-3i64..3, any::<i64>()];
        let version = || prop_oneof![-3i32..3, any::<i32>()];
        (
            (field(), field(), field(), field()),
            (field(), field()),
            (version(), version(), version()),
        )
            .prop_map(
                |((cz, dm, dp, ct), (dt, owner), (v, cv, av))| StatPersisted {
                    czxid: Zxid(cz),
                    mzxid: Zxid(cz.wrapping_add(dm)),
                    ctime: ct,
                    mtime: ct.wrapping_add(dt),
                    version: v,
                    cversion: cv,
                    aversion: av,
                    ephemeral_owner: owner,
                    pzxid: Zxid(cz.wrapping_add(dp)),
                },
            )
    }

    proptest::proptest! {
        /// Any stat round-trips through a slot, and changing it (in place or not) keeps the
        /// name and the data.
        #[test]
        fn any_stat_round_trips_and_keeps_name_and_data(
            a in any_stat(),
            b in any_stat(),
            name in "[a-z0-9]{0,20}",
            data in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)),
        ) {
            let mut s = Slot::new(&name, data.as_deref(), 1, 2, a);
            proptest::prop_assert_eq!(s.stat(), a);
            s.set_stat(b);
            proptest::prop_assert_eq!((s.stat(), s.name(), s.data()), (b, name.as_str(), data.as_deref()));
            s.set_stat(a);
            proptest::prop_assert_eq!((s.stat(), s.name(), s.data()), (a, name.as_str(), data.as_deref()));
        }
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

/// Stats at the edges of every field, and random sequences of changes to one slot.
#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    fn any_i64() -> impl Strategy<Value = i64> {
        prop_oneof![
            Just(0i64),
            Just(i64::MIN),
            Just(i64::MAX),
            Just(-1),
            Just(1),
            -300i64..300,
            any::<i64>(),
            (0u32..64).prop_map(|s| 1i64 << s),
            (0u32..64).prop_map(|s| (1i64 << s).wrapping_sub(1)),
            (0u32..64).prop_map(|s| (1i64 << s).wrapping_neg()),
        ]
    }
    fn any_i32() -> impl Strategy<Value = i32> {
        prop_oneof![
            Just(0),
            Just(i32::MIN),
            Just(i32::MAX),
            Just(-1),
            -300i32..300,
            any::<i32>()
        ]
    }
    prop_compose! {
        fn any_stat()(a in any_i64(), b in any_i64(), c in any_i64(), d in any_i64(),
                      e in any_i32(), f in any_i32(), g in any_i32(), h in any_i64(), i in any_i64())
                      -> StatPersisted {
            StatPersisted { czxid: Zxid(a), mzxid: Zxid(b), ctime: c, mtime: d, version: e,
                cversion: f, aversion: g, ephemeral_owner: h, pzxid: Zxid(i) }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        #[test]
        fn stat_round_trips(s in any_stat()) {
            let mut buf = [0u8; MAX_STAT];
            let e = encode_stat(&s, &mut buf);
            prop_assert!(e.len() <= 76);
            prop_assert_eq!(decode_stat(e), s);
        }

        #[test]
        fn slot_sequence(name in "[a-z\u{e9}\u{1F600}]{0,200}", data in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
                         stats in proptest::collection::vec(any_stat(), 1..20), data2 in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..50))) {
            let mut s = Slot::new(&name, data.as_deref(), 1, 2, stats[0]);
            let mut cur_data = data.clone();
            for (k, st) in stats.iter().enumerate() {
                if k % 5 == 4 { s.set_data_and_stat(data2.as_deref(), st); cur_data = data2.clone(); }
                else { s.set_stat(*st); }
                prop_assert_eq!(s.stat(), *st);
                prop_assert_eq!(s.name(), name.as_str());
                prop_assert_eq!(s.data(), cur_data.as_deref());
                prop_assert_eq!(s.bytes.len(), encode(name.as_bytes(), st, cur_data.as_deref()).len());
            }
        }
    }
}
