//! Delta snapshots: the next snapshot written by merging the live states of the nodes that
//! changed since the previous one (a [`Delta`], exported by the server) into the previous
//! snapshot's records, without loading either into a tree.
//!
//! Cost: one pass over the base file (decompress, copy records, compress), plus sorting the
//! changes; no tree is built and no log is replayed. The result is checked before it may be
//! published: the node count and the digest summed over every record written must equal
//! the live tree's, which the delta carries. A wrong change set (a bug) therefore yields an
//! error, and the caller falls back to a full build, rather than a wrong snapshot.

use std::cmp::Ordering;
use std::io::Write;

use super::{
    encode_header, visit, write_node, Encoder, Header, Item, SnapshotError, BLOCK_HEADER_LEN,
};
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
pub fn merge<W: Write + ?Sized>(base: &[u8], delta: &Delta, out: &mut W) -> Result<(), MergeError> {
    let found = super::read_header(base).map_err(MergeError::Base)?.zxid;
    if found != delta.base {
        return Err(MergeError::WrongBase {
            expected: delta.base,
            found,
        });
    }
    let mut changes: Vec<&NodeChange> = delta.changes.iter().collect();
    changes.sort_unstable_by(|a, b| path_order(&a.path, &b.path));
    if let Some(w) = changes.windows(2).find(|w| w[0].path == w[1].path) {
        return Err(MergeError::Mismatch(format!(
            "{} appears twice among the changes",
            w[0].path
        )));
    }

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
        enc,
        changes: changes.into_iter().peekable(),
        nodes: 0,
        digest: 0,
        last: String::new(),
        io: None,
    };
    let visited = visit(base, &mut |item| {
        let Item::Node {
            path,
            data,
            acl,
            stat,
        } = item
        else {
            return Ok(());
        };
        m.base_node(&path, data.as_deref(), acl, &stat)
    });
    if let Some(e) = m.io.take() {
        return Err(MergeError::Io(e));
    }
    visited.map_err(MergeError::Base)?;
    m.rest().map_err(MergeError::Io)?;
    let Merger {
        mut enc,
        nodes,
        digest,
        ..
    } = m;
    if nodes != delta.header.nodes || digest != delta.header.digest {
        return Err(MergeError::Mismatch(format!(
            "{nodes} nodes with digest {digest:016x}, the live tree has {} with {:016x}",
            delta.header.nodes, delta.header.digest
        )));
    }
    if delta.sessions.len() as u64 != delta.header.sessions {
        return Err(MergeError::Mismatch(format!(
            "{} sessions, the header says {}",
            delta.sessions.len(),
            delta.header.sessions
        )));
    }
    enc.flush_block().map_err(MergeError::Io)?;
    let mut end = [0u8; BLOCK_HEADER_LEN];
    end[8..].copy_from_slice(&crc32c::crc32c(&enc.chain).to_be_bytes());
    enc.out.write_all(&end).map_err(MergeError::Io)
}

struct Merger<'c, 'w, W: Write + ?Sized, I: Iterator<Item = &'c NodeChange>> {
    enc: Encoder<'w, W>,
    changes: std::iter::Peekable<I>,
    nodes: u64,
    digest: u64,
    /// The last path written, to check the output's order.
    last: String,
    /// A write error (the visitor's own errors are strings).
    io: Option<std::io::Error>,
}

impl<'c, W: Write + ?Sized, I: Iterator<Item = &'c NodeChange>> Merger<'c, '_, W, I> {
    /// One node of the base: changes sorting before it are written first; a change of the
    /// same path replaces it (or deletes it).
    fn base_node(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        stat: &StatPersisted,
    ) -> Result<(), String> {
        while let Some(c) = self.changes.peek() {
            match path_order(&c.path, path) {
                Ordering::Less => {
                    let c = self.changes.next().expect("peeked");
                    self.change(c)?;
                }
                Ordering::Equal => {
                    let c = self.changes.next().expect("peeked");
                    return self.change(c);
                }
                Ordering::Greater => break,
            }
        }
        self.node(path, data, acl, stat)
    }

    fn change(&mut self, c: &NodeChange) -> Result<(), String> {
        match &c.node {
            Some(n) => self.node(&c.path, n.data.as_deref(), &n.acl, &n.stat),
            None => Ok(()),
        }
    }

    fn node(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        stat: &StatPersisted,
    ) -> Result<(), String> {
        if self.nodes > 0 && path_order(&self.last, path) != Ordering::Less {
            return Err(format!("{path} written after {}", self.last));
        }
        self.last.clear();
        self.last.push_str(path);
        self.nodes += 1;
        self.digest = self.digest.wrapping_add(node_digest(path, data, stat, acl));
        write_node(&mut self.enc.raw, path, data, acl, stat);
        self.enc.record_done().map_err(|e| {
            let msg = e.to_string();
            self.io = Some(e);
            msg
        })
    }

    /// The changes after the base's last node.
    fn rest(&mut self) -> std::io::Result<()> {
        while let Some(c) = self.changes.next() {
            if let Err(e) = self.change(c) {
                return Err(self.io.take().unwrap_or_else(|| std::io::Error::other(e)));
            }
        }
        Ok(())
    }
}
