//! Snapshots: the whole replicated state (tree and session table) as of one zxid, in
//! Corral's own file format, and the [`Image`] they capture.
//!
//! An image is what replaying the log produces; a snapshot is an image in bytes. The core
//! never serialises its live tree for a snapshot: it hands out the live states of the nodes
//! changed since the previous snapshot, which the shell merges into that file ([`merge`]),
//! or the shell loads the previous snapshot and replays the log up to the zxid on a second
//! image; both off the request path (see docs/storage.md). That keeps writes flowing during
//! a snapshot and makes every snapshot exactly consistent (no fuzzy snapshot to repair by
//! replay). (A leader's SNAP to a learner is the exception: it serialises its live tree.)
//!
//! # Format (`CRSN`, version 1; all integers big-endian)
//!
//! ```text
//! file   := header block* end
//! header := "CRSN" | u32 version | i64 zxid | u64 digest | u64 nodes | u64 sessions
//!           | u32 crc32c(the 40 bytes before)                                  44 bytes
//! block  := u32 raw_len (> 0) | u32 stored_len | u32 crc32c(stored) | stored[stored_len]
//!           stored = LZ4 block compression of raw_len bytes of records
//! end    := u32 0 | u32 0 | u32 crc32c(every block's crc, as 4-byte words, in order)
//! records: `sessions` × (i64 session id, i32 timeout ms), then `nodes` × (jute string
//!          path, jute buffer data, jute ACL vector, StatPersisted), nodes in preorder
//!          (parents first, siblings in byte order). No record spans two blocks.
//! ```
//!
//! The header crc guards the counts and the digest; each block crc guards its bytes; the end
//! record's chained crc catches lost, repeated or reordered blocks, and its presence catches
//! a file cut at a block boundary. After loading, the rebuilt tree's digest must equal the
//! stored one.

use std::collections::BTreeMap;
use std::io::Write;

use crate::jute::{JuteReader, JuteWriter, Record};
use crate::proto::data::{read_acls, write_acls, Acl};
use crate::tree::{DataTree, StatPersisted};
use crate::txn::{LogEntry, Txn};
use crate::types::{SessionId, Zxid};

/// File magic.
pub const MAGIC: [u8; 4] = *b"CRSN";
/// Format version written and read.
pub const VERSION: u32 = 1;
/// Bytes of the header.
pub const HEADER_LEN: usize = 44;
/// Bytes before each block's stored bytes (and the whole end record).
pub const BLOCK_HEADER_LEN: usize = 12;
/// Raw bytes gathered before a block is compressed and written.
const BLOCK_TARGET: usize = 1 << 20;
/// Bytes of a `StatPersisted` record.
const STAT_LEN: usize = 60;
/// Largest raw block accepted when reading: a damaged length must not allocate gigabytes.
/// A block holds whole records, so this also bounds one node (path + data + ACL).
pub const MAX_RAW_BLOCK: usize = 256 << 20;

/// The replicated state as of one zxid: the tree and the live sessions with their timeouts.
#[derive(Clone, Debug, Default)]
pub struct Image {
    pub tree: DataTree,
    /// Sessions created and not yet closed, with their negotiated timeouts.
    pub sessions: BTreeMap<SessionId, i32>,
}

impl Image {
    /// The state before the first txn: built-in nodes only, no sessions.
    pub fn new() -> Image {
        Image::default()
    }

    /// Apply one committed entry (entries must come in zxid order).
    pub fn apply(&mut self, entry: &LogEntry) {
        self.tree.apply(&entry.hdr, &entry.txn);
        match &entry.txn {
            Txn::CreateSession { timeout_ms } => {
                self.sessions.insert(entry.hdr.session, *timeout_ms);
            }
            Txn::CloseSession { .. } => {
                self.sessions.remove(&entry.hdr.session);
            }
            _ => {}
        }
    }

    /// The last zxid applied.
    pub fn zxid(&self) -> Zxid {
        self.tree.last_zxid()
    }

    /// The header a snapshot of this image carries.
    pub fn header(&self) -> Header {
        Header {
            zxid: self.zxid(),
            digest: self.tree.digest(),
            nodes: self.tree.len() as u64,
            sessions: self.sessions.len() as u64,
        }
    }
}

/// What a snapshot's header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The last zxid the snapshot includes.
    pub zxid: Zxid,
    /// The tree digest at that zxid.
    pub digest: u64,
    pub nodes: u64,
    pub sessions: u64,
}

/// Why a snapshot cannot be read. `offset` is a byte offset in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotError {
    pub offset: u64,
    pub reason: String,
}

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at offset {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for SnapshotError {}

fn err(offset: usize, reason: impl Into<String>) -> SnapshotError {
    SnapshotError {
        offset: offset as u64,
        reason: reason.into(),
    }
}

/// Write `image` as a snapshot to `out`. Equal images give equal bytes.
pub fn write<W: Write + ?Sized>(image: &Image, out: &mut W) -> std::io::Result<()> {
    let mut enc = Encoder::new(out);
    enc.out.write_all(&encode_header(&image.header()))?;
    for (id, timeout) in &image.sessions {
        enc.raw.write_i64(id.0);
        enc.raw.write_i32(*timeout);
        enc.record_done()?;
    }
    for (path, node) in image.tree.walk() {
        write_node(&mut enc.raw, &path, node.data, node.acl(), &node.stat);
        enc.record_done()?;
    }
    enc.flush_block()?;
    let mut end = [0u8; BLOCK_HEADER_LEN];
    end[8..].copy_from_slice(&crc32c::crc32c(&enc.chain).to_be_bytes());
    enc.out.write_all(&end)
}

/// A snapshot of `image` in memory.
pub fn to_bytes(image: &Image) -> Vec<u8> {
    let mut out = Vec::new();
    write(image, &mut out).expect("writing to a Vec cannot fail");
    out
}

struct Encoder<'a, W: Write + ?Sized> {
    out: &'a mut W,
    raw: JuteWriter,
    /// Every block crc so far, big-endian, for the end record.
    chain: Vec<u8>,
}

#[cfg(not(test))]
fn block_target() -> usize {
    BLOCK_TARGET
}

#[cfg(test)]
thread_local! {
    /// Tests shrink blocks to a few records, to have many blocks in small trees.
    pub(crate) static TEST_BLOCK_TARGET: std::cell::Cell<usize> =
        const { std::cell::Cell::new(BLOCK_TARGET) };
}

#[cfg(test)]
fn block_target() -> usize {
    TEST_BLOCK_TARGET.with(|t| t.get())
}

/// One node record.
fn write_node(
    raw: &mut JuteWriter,
    path: &str,
    data: Option<&[u8]>,
    acl: &[Acl],
    stat: &StatPersisted,
) {
    raw.write_string(path);
    raw.write_buffer(data);
    write_acls(raw, acl);
    stat.write(raw);
}

impl<'a, W: Write + ?Sized> Encoder<'a, W> {
    fn new(out: &'a mut W) -> Self {
        Encoder {
            out,
            raw: JuteWriter::new(),
            chain: Vec::new(),
        }
    }

    fn record_done(&mut self) -> std::io::Result<()> {
        if self.raw.len() >= block_target() {
            self.flush_block()?;
        }
        Ok(())
    }

    /// Write a block of another snapshot as it is stored (anything gathered must have been
    /// flushed first).
    fn copy_block(&mut self, b: &BlockRef<'_>) -> std::io::Result<()> {
        debug_assert!(self.raw.is_empty());
        let mut head = [0u8; BLOCK_HEADER_LEN];
        head[..4].copy_from_slice(&(b.raw_len as u32).to_be_bytes());
        head[4..8].copy_from_slice(&(b.stored.len() as u32).to_be_bytes());
        head[8..].copy_from_slice(&b.crc.to_be_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(b.stored)?;
        self.chain.extend_from_slice(&b.crc.to_be_bytes());
        Ok(())
    }

    fn flush_block(&mut self) -> std::io::Result<()> {
        if self.raw.is_empty() {
            return Ok(());
        }
        let raw = std::mem::take(&mut self.raw).into_inner();
        let stored = lz4_flex::block::compress(&raw);
        let crc = crc32c::crc32c(&stored);
        let mut head = [0u8; BLOCK_HEADER_LEN];
        head[..4].copy_from_slice(&(raw.len() as u32).to_be_bytes());
        head[4..8].copy_from_slice(&(stored.len() as u32).to_be_bytes());
        head[8..].copy_from_slice(&crc.to_be_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(&stored)?;
        self.chain.extend_from_slice(&crc.to_be_bytes());
        Ok(())
    }
}

fn encode_header(h: &Header) -> [u8; HEADER_LEN] {
    let mut b = [0u8; HEADER_LEN];
    b[..4].copy_from_slice(&MAGIC);
    b[4..8].copy_from_slice(&VERSION.to_be_bytes());
    b[8..16].copy_from_slice(&h.zxid.0.to_be_bytes());
    b[16..24].copy_from_slice(&h.digest.to_be_bytes());
    b[24..32].copy_from_slice(&h.nodes.to_be_bytes());
    b[32..40].copy_from_slice(&h.sessions.to_be_bytes());
    let crc = crc32c::crc32c(&b[..40]);
    b[40..].copy_from_slice(&crc.to_be_bytes());
    b
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be_u64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(w)
}

/// Read and check a snapshot's header.
pub fn read_header(bytes: &[u8]) -> Result<Header, SnapshotError> {
    if bytes.len() < HEADER_LEN {
        return Err(err(0, format!("header cut short ({} bytes)", bytes.len())));
    }
    if bytes[..4] != MAGIC {
        return Err(err(
            0,
            format!("bad magic {:02x?}, expected \"CRSN\"", &bytes[..4]),
        ));
    }
    let version = be_u32(bytes, 4);
    if version != VERSION {
        return Err(err(4, format!("unsupported snapshot version {version}")));
    }
    let (stored, actual) = (be_u32(bytes, 40), crc32c::crc32c(&bytes[..40]));
    if stored != actual {
        return Err(err(
            40,
            format!("header crc mismatch (stored {stored:08x}, computed {actual:08x})"),
        ));
    }
    Ok(Header {
        zxid: Zxid(be_u64(bytes, 8) as i64),
        digest: be_u64(bytes, 16),
        nodes: be_u64(bytes, 24),
        sessions: be_u64(bytes, 32),
    })
}

/// One record of a snapshot, as [`visit`] hands it out. The ACL is borrowed: consecutive
/// nodes nearly always share one list, which is then decoded once, not once per node.
#[derive(Debug)]
pub enum Item<'a> {
    Session {
        id: SessionId,
        timeout_ms: i32,
    },
    Node {
        path: String,
        data: Option<Vec<u8>>,
        acl: &'a [Acl],
        stat: StatPersisted,
    },
}

/// The last ACL list decoded, with its encoded bytes.
#[derive(Default)]
struct AclMemo {
    raw: Vec<u8>,
    acl: Vec<Acl>,
}

/// Bytes of the jute ACL vector at the start of `b` (without decoding it), if well-formed.
fn acl_span(b: &[u8]) -> Option<usize> {
    let int = |at: usize| -> Option<i32> {
        Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    let count = int(0)?;
    let mut at = 4usize;
    for _ in 0..count.max(0) {
        at += 4; // perms
        for _ in 0..2 {
            let len = usize::try_from(int(at)?.max(0)).ok()?;
            at = at.checked_add(4 + len)?;
        }
    }
    (at <= b.len()).then_some(at)
}

/// One block of a snapshot file, its crc checked, not decompressed.
pub(crate) struct BlockRef<'a> {
    /// Offset of the block header in the file.
    pos: usize,
    raw_len: usize,
    stored: &'a [u8],
    crc: u32,
}

/// The blocks of a snapshot file, with every block crc, the end record and the header
/// checked.
fn blocks(bytes: &[u8]) -> Result<Vec<BlockRef<'_>>, SnapshotError> {
    read_header(bytes)?;
    let mut out = Vec::new();
    let mut chain = Vec::new();
    let mut pos = HEADER_LEN;
    loop {
        if bytes.len() - pos < BLOCK_HEADER_LEN {
            return Err(err(
                pos,
                "file ends without the end record (cut short or truncated)",
            ));
        }
        let (raw_len, stored_len, crc) = (
            be_u32(bytes, pos) as usize,
            be_u32(bytes, pos + 4) as usize,
            be_u32(bytes, pos + 8),
        );
        if raw_len == 0 {
            let expected = crc32c::crc32c(&chain);
            if stored_len != 0 || crc != expected {
                return Err(err(
                    pos,
                    "bad end record (blocks missing, repeated or reordered)",
                ));
            }
            if pos + BLOCK_HEADER_LEN != bytes.len() {
                return Err(err(
                    pos + BLOCK_HEADER_LEN,
                    format!(
                        "{} bytes after the end record",
                        bytes.len() - pos - BLOCK_HEADER_LEN
                    ),
                ));
            }
            return Ok(out);
        }
        if raw_len > MAX_RAW_BLOCK {
            return Err(err(pos, format!("impossible block length {raw_len}")));
        }
        let start = pos + BLOCK_HEADER_LEN;
        if bytes.len() - start < stored_len {
            return Err(err(
                pos,
                format!(
                    "block cut short ({} of {stored_len} bytes)",
                    bytes.len() - start
                ),
            ));
        }
        let stored = &bytes[start..start + stored_len];
        let actual = crc32c::crc32c(stored);
        if actual != crc {
            return Err(err(
                pos,
                format!("block crc mismatch (stored {crc:08x}, computed {actual:08x})"),
            ));
        }
        chain.extend_from_slice(&crc.to_be_bytes());
        out.push(BlockRef {
            pos,
            raw_len,
            stored,
            crc,
        });
        pos = start + stored_len;
    }
}

/// Check a snapshot's header, every block crc and the end record, without decompressing
/// anything: that the file holds the bytes that were written.
pub fn check_crcs(bytes: &[u8]) -> Result<Header, SnapshotError> {
    blocks(bytes)?;
    read_header(bytes)
}

/// Check every crc and hand each record to `f` in file order, returning the header. An error
/// from `f` stops the walk and is reported at the offset of the block holding the record.
pub fn visit(
    bytes: &[u8],
    f: &mut dyn FnMut(Item<'_>) -> Result<(), String>,
) -> Result<Header, SnapshotError> {
    let header = read_header(bytes)?;
    let mut memo = AclMemo::default();
    let (mut sessions_left, mut nodes_left) = (header.sessions, header.nodes);
    for b in blocks(bytes)? {
        let pos = b.pos;
        let raw = lz4_flex::block::decompress(b.stored, b.raw_len)
            .map_err(|e| err(pos, format!("block does not decompress: {e}")))?;
        if raw.len() != b.raw_len {
            return Err(err(pos, "block decompresses to the wrong length"));
        }
        let mut r = JuteReader::with_limit(&raw, MAX_RAW_BLOCK);
        while r.remaining() > 0 {
            let item = if sessions_left > 0 {
                sessions_left -= 1;
                read_session(&mut r)
            } else if nodes_left > 0 {
                nodes_left -= 1;
                read_node(&mut r, &mut memo)
            } else {
                return Err(err(pos, "more records than the header counts"));
            };
            let item = item.map_err(|e| err(pos, format!("bad record: {e}")))?;
            f(item).map_err(|e| err(pos, e))?;
        }
    }
    if sessions_left > 0 || nodes_left > 0 {
        return Err(err(
            bytes.len().saturating_sub(BLOCK_HEADER_LEN),
            format!("{sessions_left} sessions and {nodes_left} nodes fewer than the header counts"),
        ));
    }
    Ok(header)
}

fn read_session<'m>(r: &mut JuteReader<'_>) -> crate::jute::JuteResult<Item<'m>> {
    Ok(Item::Session {
        id: SessionId(r.read_i64()?),
        timeout_ms: r.read_i32()?,
    })
}

fn read_node<'m>(
    r: &mut JuteReader<'_>,
    memo: &'m mut AclMemo,
) -> crate::jute::JuteResult<Item<'m>> {
    let path = r.read_string("path")?;
    let data = r.read_buffer()?;
    let rest = r.rest();
    match acl_span(rest) {
        Some(n) if rest[..n] == memo.raw[..] => r.skip(n)?,
        _ => {
            let before = r.remaining();
            memo.acl = read_acls(r)?.unwrap_or_default();
            let used = before - r.remaining();
            memo.raw.clear();
            memo.raw.extend_from_slice(&rest[..used]);
        }
    }
    Ok(Item::Node {
        path,
        data,
        acl: &memo.acl,
        stat: StatPersisted::read(r)?,
    })
}

/// Load a snapshot into an image, checking every crc, that the nodes form a tree, and that
/// the rebuilt tree has the digest the header records.
pub fn read(bytes: &[u8]) -> Result<Image, SnapshotError> {
    let mut loader = DataTree::loader();
    if let Ok(h) = read_header(bytes) {
        // Trust the count only as a hint: a damaged one must not reserve gigabytes.
        loader.reserve(h.nodes.min(bytes.len() as u64 / 16) as usize);
    }
    let mut sessions = BTreeMap::new();
    let header = visit(bytes, &mut |item| match item {
        Item::Session { id, timeout_ms } => {
            if sessions.insert(id, timeout_ms).is_some() {
                return Err(format!("session {id} appears twice"));
            }
            Ok(())
        }
        Item::Node {
            path,
            data,
            acl,
            stat,
        } => loader.insert(path, data, acl, stat),
    })?;
    let tree = loader.finish(header.zxid).map_err(|e| err(HEADER_LEN, e))?;
    if tree.digest() != header.digest {
        return Err(err(
            16,
            format!(
                "tree digest {:016x} differs from the recorded {:016x}",
                tree.digest(),
                header.digest
            ),
        ));
    }
    Ok(Image { tree, sessions })
}

mod delta;
pub use delta::{merge, path_order, Delta, MergeError};

#[cfg(test)]
mod tests;
