//! Delta snapshots: the next snapshot written by merging the live states of the nodes that
//! changed since the previous one (a [`Delta`], exported by the server) into the previous
//! snapshot's records, without loading either into a tree.
//!
//! Cost: one pass over the base file that decompresses each block to find its first path
//! and copies the blocks no change falls into as stored; only blocks with changes are
//! decoded and re-encoded. No tree is built and no log is replayed. The result is checked before it may be
//! published: the node count and the digest summed over every record written must equal
//! the live tree's, which the delta carries. A wrong change set (a bug) therefore yields an
//! error, and the caller falls back to a full build, rather than a wrong snapshot.

use std::cmp::Ordering;
use std::io::Write;

use super::{encode_header, write_node, Encoder, Header, Item, SnapshotError, BLOCK_HEADER_LEN};
use crate::jute::JuteReader;
use crate::proto::data::Acl;
use crate::tree::{node_digest, NodeChange, StatPersisted};
use crate::types::{SessionId, Zxid};

/// What the server hands the snapshot thread for a delta snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delta {
    /// The zxid of the snapshot file the changes are relative to.
    pub base: Zxid,
    /// The header of the snapshot to write (live zxid, digest and counts).
    pub header: Header,
    /// Every live session with its timeout, ascending by id.
    pub sessions: Vec<(SessionId, i32)>,
    /// The live state of every path changed since `base` (a superset is fine), any order.
    pub changes: Vec<NodeChange>,
}

/// Why a delta could not be merged.
#[derive(Debug)]
pub enum MergeError {
    /// The base snapshot does not read.
    Base(SnapshotError),
    /// The base is not the snapshot the delta was taken against.
    WrongBase {
        expected: Zxid,
        found: Zxid,
    },
    /// The merged records do not add up to the live tree (a change was missed).
    Mismatch(String),
    Io(std::io::Error),
}

impl std::fmt::Display for MergeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MergeError::Base(e) => write!(f, "base snapshot: {e}"),
            MergeError::WrongBase { expected, found } => {
                write!(
                    f,
                    "base snapshot is at zxid {found}, the delta is against {expected}"
                )
            }
            MergeError::Mismatch(m) => write!(f, "merged snapshot does not match: {m}"),
            MergeError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for MergeError {}

/// The order of nodes in a snapshot (preorder, siblings in byte order) as a comparison of
/// full paths: segment by segment, which is byte order with `/` below every other byte.
pub fn path_order(a: &str, b: &str) -> Ordering {
    let key = |c: u8| if c == b'/' { 0u16 } else { u16::from(c) + 1 };
    a.bytes().map(key).cmp(b.bytes().map(key))
}

/// Write to `out` the snapshot `delta.header` describes: `base` (a snapshot's bytes, at
/// zxid `delta.base`) with `delta`'s sessions and changes. On error, what was written to
/// `out` must be discarded.
///
/// Blocks of the base that no change falls into are copied as they are stored (still
/// compressed, crc and all); only the blocks holding the session table or a change are
/// decoded and re-encoded. A change belongs to the block whose node range it falls into: at
/// or after the block's first node and before the next block's first node. The result is
/// checked: the records written are counted (copied blocks are walked record by record
/// without decoding), and the digest (the base's, minus the nodes replaced or removed, plus
/// the changes' live nodes) and the count must equal the live tree's.
pub fn merge<W: Write + ?Sized>(base: &[u8], delta: &Delta, out: &mut W) -> Result<(), MergeError> {
    let head = super::read_header(base).map_err(MergeError::Base)?;
    if head.zxid != delta.base {
        return Err(MergeError::WrongBase {
            expected: delta.base,
            found: head.zxid,
        });
    }
    if delta.sessions.len() as u64 != delta.header.sessions {
        return Err(MergeError::Mismatch(format!(
            "{} sessions, the header says {}",
            delta.sessions.len(),
            delta.header.sessions
        )));
    }
    let mut changes: Vec<&NodeChange> = delta.changes.iter().collect();
    changes.sort_unstable_by(|a, b| path_order(&a.path, &b.path));
    if let Some(w) = changes.windows(2).find(|w| w[0].path == w[1].path) {
        return Err(MergeError::Mismatch(format!(
            "{} appears twice among the changes",
            w[0].path
        )));
    }
    let blocks = super::blocks(base).map_err(MergeError::Base)?;

    let mut enc = Encoder::new(out);
    enc.out
        .write_all(&encode_header(&delta.header))
        .map_err(MergeError::Io)?;
    for (id, timeout) in &delta.sessions {
        enc.raw.write_i64(id.0);
        enc.raw.write_i32(*timeout);
        enc.record_done().map_err(MergeError::Io)?;
    }
    let mut m = Merger {
        changes: &changes,
        next: 0,
        nodes: 0,
        // Every base node starts counted; replaced and removed ones are taken out again.
        digest: head.digest,
        sessions_left: head.sessions,
        last: String::new(),
    };
    let decompress = |i: usize| -> Result<Vec<u8>, MergeError> {
        let b = &blocks[i];
        lz4_flex::block::decompress(b.stored, b.raw_len)
            .ok()
            .filter(|raw| raw.len() == b.raw_len)
            .ok_or_else(|| MergeError::Base(super::err(b.pos, "block does not decompress")))
    };
    let mut next_raw = if blocks.is_empty() {
        None
    } else {
        Some(decompress(0)?)
    };
    for i in 0..blocks.len() {
        let raw = next_raw.take().expect("decompressed ahead");
        next_raw = if i + 1 < blocks.len() {
            Some(decompress(i + 1)?)
        } else {
            None
        };
        let bad = |e: String| MergeError::Base(super::err(blocks[i].pos, e));
        // Sessions come first and no record spans blocks: this block holds nodes if its
        // bytes go beyond the sessions still to come.
        let has_nodes = usize::try_from(m.sessions_left)
            .ok()
            .and_then(|n| n.checked_mul(SESSION_LEN))
            .is_some_and(|session_bytes| session_bytes < raw.len());
        let owned = if !has_nodes {
            0
        } else if let Some(next) = &next_raw {
            // The next block starts with a node, which bounds this block's changes.
            let bound = first_path(next).map_err(bad)?;
            m.changes[m.next..]
                .iter()
                .take_while(|c| path_order(&c.path, &bound) == Ordering::Less)
                .count()
        } else {
            // The last block takes every change left.
            m.changes.len() - m.next
        };
        if m.sessions_left == 0 && owned == 0 {
            m.nodes += count_nodes(&raw).map_err(bad)?;
            enc.flush_block().map_err(MergeError::Io)?;
            enc.copy_block(&blocks[i]).map_err(MergeError::Io)?;
        } else {
            m.reencode(&raw, owned, &mut enc).map_err(|e| match e {
                Reencode::Io(e) => MergeError::Io(e),
                Reencode::Base(e) => bad(e),
                Reencode::Order(e) => MergeError::Mismatch(e),
            })?;
        }
    }
    // A base without blocks (no node at all) cannot be a tree, but changes left over
    // would be lost silently: refuse.
    if m.next != m.changes.len() {
        return Err(MergeError::Mismatch(format!(
            "{} changes left after the base's last block",
            m.changes.len() - m.next
        )));
    }
    if m.sessions_left != 0 {
        return Err(MergeError::Base(super::err(
            0,
            format!("{} sessions fewer than the header counts", m.sessions_left),
        )));
    }
    if m.nodes != delta.header.nodes || m.digest != delta.header.digest {
        return Err(MergeError::Mismatch(format!(
            "{} nodes with digest {:016x}, the live tree has {} with {:016x}",
            m.nodes, m.digest, delta.header.nodes, delta.header.digest
        )));
    }
    enc.flush_block().map_err(MergeError::Io)?;
    let mut end = [0u8; BLOCK_HEADER_LEN];
    end[8..].copy_from_slice(&crc32c::crc32c(&enc.chain).to_be_bytes());
    enc.out.write_all(&end).map_err(MergeError::Io)
}

/// Bytes of a session record (i64 id, i32 timeout).
const SESSION_LEN: usize = 12;

/// The path of the first record of a block that starts with a node.
fn first_path(raw: &[u8]) -> Result<String, String> {
    JuteReader::with_limit(raw, super::MAX_RAW_BLOCK)
        .read_string("path")
        .map_err(|e| format!("bad record: {e}"))
}

/// Node records in a block of nodes only, walked without decoding them.
fn count_nodes(raw: &[u8]) -> Result<u64, String> {
    let mut r = JuteReader::with_limit(raw, super::MAX_RAW_BLOCK);
    let mut n = 0;
    while r.remaining() > 0 {
        skip_node(&mut r).map_err(|e| format!("bad record: {e}"))?;
        n += 1;
    }
    Ok(n)
}

fn skip_node(r: &mut JuteReader<'_>) -> crate::jute::JuteResult<()> {
    for null_ok in [false, true] {
        // path (never null), then data (-1: null)
        let len = r.read_i32()?;
        match usize::try_from(len) {
            Ok(n) => r.skip(n)?,
            Err(_) if null_ok && len == -1 => {}
            Err(_) => return Err(crate::jute::JuteError::BadLength(i64::from(len))),
        }
    }
    let acl = super::acl_span(r.rest()).ok_or(crate::jute::JuteError::BadValue("ACL vector", 0))?;
    r.skip(acl)?;
    r.skip(super::STAT_LEN)
}

enum Reencode {
    Io(std::io::Error),
    /// The base block is malformed.
    Base(String),
    /// The output would be out of order.
    Order(String),
}

struct Merger<'c> {
    /// Every change, in snapshot order; `next` is the first not yet written.
    changes: &'c [&'c NodeChange],
    next: usize,
    nodes: u64,
    digest: u64,
    sessions_left: u64,
    /// The last path written by `reencode`, to check its order.
    last: String,
}

impl Merger<'_> {
    /// Decode block `raw`, drop its session records (the delta's are written instead),
    /// and write its nodes with the next `owned` changes merged in.
    fn reencode<W: Write + ?Sized>(
        &mut self,
        raw: &[u8],
        owned: usize,
        enc: &mut Encoder<'_, W>,
    ) -> Result<(), Reencode> {
        let end = self.next + owned;
        let mut memo = super::AclMemo::default();
        let mut r = JuteReader::with_limit(raw, super::MAX_RAW_BLOCK);
        while r.remaining() > 0 {
            if self.sessions_left > 0 {
                self.sessions_left -= 1;
                super::read_session(&mut r)
                    .map_err(|e| Reencode::Base(format!("bad record: {e}")))?;
                continue;
            }
            let Item::Node {
                path,
                data,
                acl,
                stat,
            } = super::read_node(&mut r, &mut memo)
                .map_err(|e| Reencode::Base(format!("bad record: {e}")))?
            else {
                unreachable!("read_node reads nodes");
            };
            let mut replaced = false;
            while self.next < end {
                let c = self.changes[self.next];
                match path_order(&c.path, &path) {
                    Ordering::Greater => break,
                    order => {
                        self.next += 1;
                        self.change(c, enc)?;
                        if order == Ordering::Equal {
                            replaced = true;
                            break;
                        }
                    }
                }
            }
            if replaced {
                self.digest =
                    self.digest
                        .wrapping_sub(node_digest(&path, data.as_deref(), &stat, acl));
            } else {
                self.node(&path, data.as_deref(), acl, &stat, enc)?;
            }
        }
        while self.next < end {
            let c = self.changes[self.next];
            self.next += 1;
            self.change(c, enc)?;
        }
        Ok(())
    }

    /// Write a change's live node (if any), counting it into the digest.
    fn change<W: Write + ?Sized>(
        &mut self,
        c: &NodeChange,
        enc: &mut Encoder<'_, W>,
    ) -> Result<(), Reencode> {
        let Some(n) = &c.node else {
            return Ok(());
        };
        self.digest =
            self.digest
                .wrapping_add(node_digest(&c.path, n.data.as_deref(), &n.stat, &n.acl));
        self.node(&c.path, n.data.as_deref(), &n.acl, &n.stat, enc)
    }

    fn node<W: Write + ?Sized>(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        stat: &StatPersisted,
        enc: &mut Encoder<'_, W>,
    ) -> Result<(), Reencode> {
        if !self.last.is_empty() && path_order(&self.last, path) != Ordering::Less {
            return Err(Reencode::Order(format!(
                "{path} written after {}",
                self.last
            )));
        }
        self.last.clear();
        self.last.push_str(path);
        self.nodes += 1;
        write_node(&mut enc.raw, path, data, acl, stat);
        enc.record_done().map_err(Reencode::Io)
    }
}
