//! Reading an Apache ZooKeeper 3.8 data directory (reference §13): the newest valid
//! snapshot plus every logged txn after it, for `corral data import-zookeeper`.
//!
//! Pure reading: nothing here writes, and nothing panics on any input. Every failure names
//! the file and the byte offset where it was found.
//!
//! What is read, as ZooKeeper 3.8.0 writes it (checked against the 3.8.0 jar and source):
//! - `version-2/snapshot.<hex zxid>`: `FileHeader{ZKSN, 2, dbid}`, the sessions, the ACL
//!   cache (`aclRef → acl list`; aclRef -1 means `OPEN_ACL_UNSAFE` and is never stored),
//!   the nodes depth-first from the root `""` up to a `"/"` marker, then a seal (Adler32 of
//!   every byte before it, and `"/"`), then optionally a `ZxidDigest` with its own seal
//!   (and, from 3.9, a last-processed zxid with a seal). Like ZooKeeper, a snapshot that
//!   does not end in a seal is skipped, and one that fails to load makes the next older one
//!   be tried. With `zookeeper.snapshot.compression.method` set, the file is named
//!   `snapshot.<zxid>.gz` (gzip) or `.snappy` (snappy-java's stream format) and the seals
//!   cover the uncompressed bytes.
//! - `version-2/log.<hex zxid>`: `FileHeader{ZKLG, 2, dbid}` and records `{long adler32;
//!   int len; txn bytes; byte 'B'}` up to the preallocated zeros (`len == 0`). A record cut
//!   short or missing its `'B'` ends the file with a warning (a torn last write); a complete
//!   record with a bad checksum is corruption.

use std::fmt;
use std::path::{Path, PathBuf};

use corral_core::jute::{JuteError, JuteReader, Record};
use corral_core::proto::data::{read_acls, Acl};
use corral_core::tree::StatPersisted;
use corral_core::txn::LogEntry;
use corral_core::types::{SessionId, Zxid};

#[cfg(test)]
mod tests;

/// Name of the directory ZooKeeper keeps its files in, under dataDir and dataLogDir.
pub const VERSION_DIR: &str = "version-2";
/// `FileSnap.SNAP_MAGIC`: "ZKSN".
const SNAP_MAGIC: i32 = 0x5A4B_534E;
/// `FileTxnLog.TXNLOG_MAGIC`: "ZKLG".
const LOG_MAGIC: i32 = 0x5A4B_4C47;
/// The only on-disk format version ZooKeeper has written.
const FORMAT_VERSION: i32 = 2;
/// `FileHeader`: magic, version, dbid.
const FILE_HEADER_LEN: usize = 16;
/// End-of-record marker of a log record.
const END_OF_RECORD: u8 = b'B';
/// The `DigestCalculator` version of ZooKeeper 3.6 - 3.9; other versions are ignored, as
/// ZooKeeper does.
const DIGEST_VERSION: i32 = 2;
/// aclRef of `OPEN_ACL_UNSAFE` (`ReferenceCountedACLCache.OPEN_UNSAFE_ACL_ID`).
const OPEN_UNSAFE_ACL_REF: i64 = -1;

/// One znode of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZkNode {
    /// Full path; the root is `/`.
    pub path: String,
    /// `None` for null data (a create or setData with a null buffer).
    pub data: Option<Vec<u8>>,
    pub acl: Vec<Acl>,
    pub stat: StatPersisted,
}

/// Everything needed to rebuild a ZooKeeper server's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZkImage {
    /// The snapshot file used (the newest valid one), if there is any.
    pub snapshot: Option<PathBuf>,
    /// The zxid in the snapshot's name: the last zxid applied when it began. The snapshot
    /// is fuzzy: it may also hold effects of later txns, which `entries` replays again.
    /// `Zxid::ZERO` without a snapshot.
    pub snapshot_zxid: Zxid,
    /// Nodes in the order stored (parents before children), the root first.
    pub nodes: Vec<ZkNode>,
    /// Session id and timeout (ms) of every session open in the snapshot.
    pub sessions: Vec<(SessionId, i32)>,
    /// The snapshot's tree digest, if it has one with the supported digest version (not
    /// the placeholder ZooKeeper writes before its first txn).
    pub digest: Option<u64>,
    /// The zxid `digest` belongs to: the last txn applied when the snapshot finished, which
    /// can be later than `snapshot_zxid`.
    pub digest_zxid: Option<Zxid>,
    /// Every logged txn with zxid > `snapshot_zxid`, in order, without gaps.
    pub entries: Vec<LogEntry>,
    /// Things tolerated on the way (a torn last log record, a skipped snapshot...).
    pub warnings: Vec<ZkWarning>,
}

/// Something odd but harmless found while reading; ZooKeeper tolerates it too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZkWarning {
    pub file: PathBuf,
    pub offset: u64,
    pub message: String,
}

impl fmt::Display for ZkWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at offset {}: {}",
            self.file.display(),
            self.offset,
            self.message
        )
    }
}

/// Why a ZooKeeper data directory cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum ZkImportError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a ZooKeeper data directory (it has no {VERSION_DIR} directory)")]
    NotADataDir { path: PathBuf },
    #[error("corrupt ZooKeeper snapshot {file} at offset {offset}: {reason}")]
    Snapshot {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("corrupt ZooKeeper transaction log {file} at offset {offset}: {reason}")]
    Log {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("no valid snapshot in {dir}: {}", join(.rejected))]
    NoValidSnapshot {
        dir: PathBuf,
        rejected: Vec<ZkWarning>,
    },
    #[error(
        "transaction log gap: expected zxid {expected} (or the first of a later epoch), but \
         {file} at offset {offset} holds zxid {found}"
    )]
    Gap {
        file: PathBuf,
        offset: u64,
        expected: Zxid,
        found: Zxid,
    },
    #[error(
        "the transaction logs in {log_dir} end at zxid {last}, but the snapshot {snapshot} \
         holds changes up to zxid {needed} (are the logs in another dataLogDir?)"
    )]
    LogsEndEarly {
        log_dir: PathBuf,
        snapshot: PathBuf,
        last: Zxid,
        needed: Zxid,
    },
}

fn join(w: &[ZkWarning]) -> String {
    let parts: Vec<String> = w.iter().map(ToString::to_string).collect();
    parts.join("; ")
}

impl ZkImportError {
    fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_owned();
        move |source| ZkImportError::Io { op, path, source }
    }

    fn snapshot(file: &Path, offset: usize, reason: impl Into<String>) -> Self {
        ZkImportError::Snapshot {
            file: file.to_owned(),
            offset: offset as u64,
            reason: reason.into(),
        }
    }

    fn log(file: &Path, offset: usize, reason: impl Into<String>) -> Self {
        ZkImportError::Log {
            file: file.to_owned(),
            offset: offset as u64,
            reason: reason.into(),
        }
    }

    /// The error as a warning about a rejected snapshot (file and offset kept).
    fn into_warning(self, fallback_file: &Path) -> ZkWarning {
        match self {
            ZkImportError::Snapshot {
                file,
                offset,
                reason,
            } => ZkWarning {
                file,
                offset,
                message: reason,
            },
            other => ZkWarning {
                file: fallback_file.to_owned(),
                offset: 0,
                message: other.to_string(),
            },
        }
    }
}

/// Read a ZooKeeper dataDir whose logs live in it too (the default dataLogDir). `dir` is
/// the dataDir (holding `version-2/`) or `version-2` itself.
pub fn read_zookeeper_dir(dir: &Path) -> Result<ZkImage, ZkImportError> {
    read_zookeeper_dirs(dir, dir)
}

/// Read a ZooKeeper dataDir (snapshots) and a separate dataLogDir (transaction logs). Each
/// may be given as the directory holding `version-2/` or as `version-2` itself.
pub fn read_zookeeper_dirs(data_dir: &Path, data_log_dir: &Path) -> Result<ZkImage, ZkImportError> {
    let snap_dir = version_dir(data_dir)?;
    let log_dir = version_dir(data_log_dir)?;
    let mut warnings = Vec::new();
    let snap_files = list_files(&snap_dir, "snapshot", &mut warnings)?;
    let mut log_files = list_files(&log_dir, "log", &mut warnings)?;
    log_files.retain(|f| {
        // A log file's name has no extension; anything else is not ZooKeeper's.
        let plain = f.ext.is_none();
        if !plain {
            warnings.push(ZkWarning {
                file: f.path.clone(),
                offset: 0,
                message: "ignored: not a transaction log name".into(),
            });
        }
        plain
    });

    let snap = load_newest_snapshot(&snap_dir, &snap_files, &mut warnings)?;
    if log_files.is_empty() && snap.is_some() {
        warnings.push(ZkWarning {
            file: log_dir.clone(),
            offset: 0,
            message: "no transaction logs: only the snapshot is imported".into(),
        });
    }
    let snapshot_zxid = snap.as_ref().map_or(Zxid::ZERO, |s| s.zxid);

    // Like ZooKeeper (`FileTxnLog.getLogFiles`): the newest log starting at or before the
    // snapshot zxid holds the first txn after it; every later log follows.
    let first = log_files
        .iter()
        .rposition(|f| f.zxid <= snapshot_zxid)
        .unwrap_or(0);
    let mut entries = Vec::new();
    let mut last = snapshot_zxid;
    for f in &log_files[first..] {
        let bytes = std::fs::read(&f.path).map_err(ZkImportError::io("read", &f.path))?;
        for (offset, entry) in read_log(&f.path, &bytes, &mut warnings)? {
            let zxid = entry.hdr.zxid;
            if zxid <= snapshot_zxid && entries.is_empty() {
                continue; // already in the snapshot
            }
            if !follows(last, zxid) {
                return Err(ZkImportError::Gap {
                    file: f.path.clone(),
                    offset,
                    expected: Zxid(last.0.wrapping_add(1)),
                    found: zxid,
                });
            }
            last = zxid;
            entries.push(entry);
        }
    }

    // A fuzzy snapshot may hold changes of txns after the zxid in its name; its digest
    // names the last of them. They were logged before being applied, so a log ending
    // earlier has lost them (or lives elsewhere).
    if let Some(s) = &snap {
        if let Some((needed, _)) = s.digest {
            if needed > last {
                return Err(ZkImportError::LogsEndEarly {
                    log_dir: log_dir.clone(),
                    snapshot: s.path.clone(),
                    last,
                    needed,
                });
            }
        }
    }

    let (snapshot, nodes, sessions, digest) = match snap {
        Some(s) => (Some(s.path), s.nodes, s.sessions, s.digest),
        None => (None, Vec::new(), Vec::new(), None),
    };
    Ok(ZkImage {
        snapshot,
        snapshot_zxid,
        nodes,
        sessions,
        digest: digest.map(|(_, d)| d),
        digest_zxid: digest.map(|(z, _)| z),
        entries,
        warnings,
    })
}

/// Whether `next` may directly follow `prev` in the log: the next counter of the same
/// epoch, or the first txn (counter 1) of a later epoch, as a new leader proposes.
fn follows(prev: Zxid, next: Zxid) -> bool {
    Some(next.0) == prev.0.checked_add(1) || (next.epoch() > prev.epoch() && next.counter() == 1)
}

/// `dir/version-2` if it exists, else `dir` itself when it is named `version-2`.
fn version_dir(dir: &Path) -> Result<PathBuf, ZkImportError> {
    let sub = dir.join(VERSION_DIR);
    if sub.is_dir() {
        return Ok(sub);
    }
    if dir.is_dir() && dir.file_name().is_some_and(|n| n == VERSION_DIR) {
        return Ok(dir.to_owned());
    }
    Err(ZkImportError::NotADataDir {
        path: dir.to_owned(),
    })
}

/// A `<prefix>.<hex zxid>[.<ext>]` file.
#[derive(Clone, Debug)]
struct NamedFile {
    path: PathBuf,
    zxid: Zxid,
    ext: Option<String>,
}

/// The `<prefix>.*` files of `dir` sorted by zxid (`Util.getZxidFromName`: the second
/// dot-separated part, in hex). Unparsable names are skipped with a warning.
fn list_files(
    dir: &Path,
    prefix: &str,
    warnings: &mut Vec<ZkWarning>,
) -> Result<Vec<NamedFile>, ZkImportError> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(ZkImportError::io("list", dir))?;
    for e in rd {
        let e = e.map_err(ZkImportError::io("list", dir))?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let mut parts = name.split('.');
        if parts.next() != Some(prefix) {
            continue;
        }
        let zxid = parts.next().and_then(|z| i64::from_str_radix(z, 16).ok());
        let ext = parts.next_back().map(str::to_owned);
        let path = e.path();
        match zxid {
            Some(z) if z >= 0 && path.is_file() => out.push(NamedFile {
                path,
                zxid: Zxid(z),
                ext,
            }),
            _ => warnings.push(ZkWarning {
                file: path,
                offset: 0,
                message: format!("ignored: not a {prefix}.<hex zxid> file"),
            }),
        }
    }
    out.sort_by(|a, b| a.zxid.cmp(&b.zxid).then_with(|| a.path.cmp(&b.path)));
    Ok(out)
}

/// A loaded snapshot.
struct Snapshot {
    path: PathBuf,
    zxid: Zxid,
    nodes: Vec<ZkNode>,
    sessions: Vec<(SessionId, i32)>,
    /// (zxid, digest) of a digest with the supported version.
    digest: Option<(Zxid, u64)>,
}

/// The newest snapshot that loads, trying older ones after a failure (`FileSnap`).
fn load_newest_snapshot(
    dir: &Path,
    files: &[NamedFile],
    warnings: &mut Vec<ZkWarning>,
) -> Result<Option<Snapshot>, ZkImportError> {
    let mut rejected = Vec::new();
    for f in files.iter().rev() {
        let bytes = std::fs::read(&f.path).map_err(ZkImportError::io("read", &f.path))?;
        // `SnapStream.getStreamMode`: the last dot-separated part of the name; anything but
        // gz and snappy is a plain (CHECKED) snapshot.
        let bytes = match f.ext.as_deref() {
            Some("gz") => gunzip(&f.path, &bytes),
            Some("snappy") => unsnappy(&f.path, &bytes),
            _ => Ok(bytes),
        };
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                rejected.push(e.into_warning(&f.path));
                continue;
            }
        };
        match read_snapshot(&f.path, &bytes, warnings) {
            Ok((nodes, sessions, digest)) => {
                warnings.append(&mut rejected);
                return Ok(Some(Snapshot {
                    path: f.path.clone(),
                    zxid: f.zxid,
                    nodes,
                    sessions,
                    digest,
                }));
            }
            Err(e) => rejected.push(e.into_warning(&f.path)),
        }
    }
    if rejected.is_empty() {
        Ok(None)
    } else {
        Err(ZkImportError::NoValidSnapshot {
            dir: dir.to_owned(),
            rejected,
        })
    }
}

type SnapshotParts = (Vec<ZkNode>, Vec<(SessionId, i32)>, Option<(Zxid, u64)>);

/// A gzip snapshot (`GZIPOutputStream`, possibly several members) uncompressed.
fn gunzip(file: &Path, b: &[u8]) -> Result<Vec<u8>, ZkImportError> {
    use std::io::Read as _;
    let mut out = Vec::new();
    let mut d = flate2::read::MultiGzDecoder::new(b);
    d.read_to_end(&mut out).map_err(|e| {
        ZkImportError::snapshot(file, 0, format!("cannot uncompress gzip snapshot: {e}"))
    })?;
    Ok(out)
}

/// Header of snappy-java's `SnappyOutputStream`: magic, version 1, compatible version 1.
const SNAPPY_MAGIC: &[u8; 8] = b"\x82SNAPPY\0";

/// A snappy snapshot uncompressed: snappy-java's stream format, the 16-byte header then
/// blocks of `{int compressedLength; raw snappy block}`.
fn unsnappy(file: &Path, b: &[u8]) -> Result<Vec<u8>, ZkImportError> {
    if b.len() < 16 || &b[..8] != SNAPPY_MAGIC {
        return Err(ZkImportError::snapshot(
            file,
            0,
            "not a snappy-java stream (bad header)",
        ));
    }
    let mut out = Vec::new();
    let mut dec = snap::raw::Decoder::new();
    let mut pos = 16;
    while pos < b.len() {
        let Some(len) = b.get(pos..pos + 4).map(be_i32) else {
            return Err(ZkImportError::snapshot(
                file,
                pos,
                "snappy block length cut short",
            ));
        };
        let block = usize::try_from(len)
            .ok()
            .and_then(|n| b.get(pos + 4..(pos + 4).checked_add(n)?));
        let Some(block) = block else {
            return Err(ZkImportError::snapshot(
                file,
                pos,
                format!("snappy block of {len} bytes does not fit the file"),
            ));
        };
        let n = snap::raw::decompress_len(block).map_err(|e| {
            ZkImportError::snapshot(file, pos + 4, format!("bad snappy block: {e}"))
        })?;
        // A snappy element of k bytes expands to at most 64 bytes (copies) or k - 1 bytes
        // (literals), so a larger claim is corruption, not a reason to allocate.
        if n > block.len().saturating_mul(32) {
            return Err(ZkImportError::snapshot(
                file,
                pos + 4,
                format!("snappy block claims an implausible {n} bytes"),
            ));
        }
        let start = out.len();
        out.resize(start + n, 0);
        dec.decompress(block, &mut out[start..]).map_err(|e| {
            ZkImportError::snapshot(file, pos + 4, format!("bad snappy block: {e}"))
        })?;
        pos += 4 + block.len();
    }
    Ok(out)
}

/// Parse one uncompressed snapshot held in `b` (for a compressed file, offsets count in
/// the uncompressed stream).
fn read_snapshot(
    file: &Path,
    b: &[u8],
    warnings: &mut Vec<ZkWarning>,
) -> Result<SnapshotParts, ZkImportError> {
    // `SnapStream.isValidCheckedStream`: at least 10 bytes, ending in the seal's "/".
    if b.len() < 10 || b[b.len() - 5..] != [0, 0, 0, 1, b'/'] {
        return Err(ZkImportError::snapshot(
            file,
            b.len(),
            "does not end with a seal (incomplete snapshot)",
        ));
    }
    let mut r = SnapReader {
        file,
        b,
        // Lengths are bounded by the input; ZooKeeper's jute.maxbuffer is configurable.
        r: JuteReader::with_limit(b, b.len()),
    };
    let magic = r.i32("magic")?;
    if magic != SNAP_MAGIC {
        return Err(ZkImportError::snapshot(
            file,
            0,
            format!("bad magic {magic:#x} (not a ZooKeeper snapshot)"),
        ));
    }
    let version = r.i32("version")?;
    if version != FORMAT_VERSION {
        return Err(ZkImportError::snapshot(
            file,
            4,
            format!("unsupported format version {version}"),
        ));
    }
    r.i64("dbid")?;

    let count = r.count("session count", 12)?;
    let mut sessions = Vec::with_capacity(count);
    for _ in 0..count {
        let id = r.i64("session id")?;
        let timeout = r.i32("session timeout")?;
        sessions.push((SessionId(id), timeout));
    }

    // ReferenceCountedACLCache.deserialize: a map of aclRef → non-null ACL list.
    let count = r.count("ACL cache size", 12)?;
    let mut acls = std::collections::BTreeMap::new();
    for _ in 0..count {
        let at = r.pos();
        let aref = r.i64("ACL reference")?;
        let list = r.read(read_acls)?;
        let Some(list) = list else {
            return Err(ZkImportError::snapshot(
                file,
                at,
                "null ACL list in ACL cache",
            ));
        };
        if acls.insert(aref, list).is_some() {
            return Err(ZkImportError::snapshot(
                file,
                at,
                format!("ACL reference {aref} stored twice"),
            ));
        }
    }

    // DataTree.deserialize: nodes until the "/" marker, each after its parent.
    let mut nodes: Vec<ZkNode> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let at = r.pos();
        let path = r.string("node path")?;
        if path == "/" {
            break;
        }
        let data = r.read(|r| r.read_buffer())?;
        let aref = r.i64("ACL reference")?;
        let stat = r.read(StatPersisted::read)?;
        let full = if path.is_empty() {
            if !nodes.is_empty() {
                return Err(ZkImportError::snapshot(file, at, "root stored twice"));
            }
            "/".to_owned()
        } else {
            if nodes.is_empty() {
                return Err(ZkImportError::snapshot(
                    file,
                    at,
                    format!("node {path:?} before the root"),
                ));
            }
            let parent = match path.rfind('/') {
                Some(0) => "/",
                Some(i) => &path[..i],
                None => {
                    return Err(ZkImportError::snapshot(
                        file,
                        at,
                        format!("node path {path:?} is not absolute"),
                    ))
                }
            };
            if !seen.contains(parent) {
                return Err(ZkImportError::snapshot(
                    file,
                    at,
                    format!("node {path:?} comes before its parent"),
                ));
            }
            path
        };
        if !seen.insert(full.clone()) {
            return Err(ZkImportError::snapshot(
                file,
                at,
                format!("node {full:?} stored twice"),
            ));
        }
        let acl = if aref == OPEN_UNSAFE_ACL_REF {
            Acl::open_unsafe()
        } else {
            match acls.get(&aref) {
                Some(l) => Vec::clone(l),
                None => {
                    return Err(ZkImportError::snapshot(
                        file,
                        at,
                        format!("node {full:?} refers to ACL {aref}, which is not in the cache"),
                    ))
                }
            }
        };
        nodes.push(ZkNode {
            path: full,
            data,
            acl,
            stat,
        });
    }
    if nodes.is_empty() {
        return Err(ZkImportError::snapshot(file, r.pos(), "no root node"));
    }
    r.seal()?;

    // Optional sections, each followed by its own seal. Told apart by their sizes: a
    // ZxidDigest {long zxid; int version; long digest} (20 bytes) and, from ZooKeeper 3.9,
    // a last processed zxid (8 bytes); a seal is a long and "/" (13 bytes).
    let mut digest = None;
    if r.r.remaining() >= 20 + 13 && r.r.remaining() != 8 + 13 {
        let at = r.pos();
        let zxid = Zxid(r.i64("digest zxid")?);
        let version = r.i32("digest version")?;
        let value = r.i64("digest")?;
        r.seal()?;
        if zxid == Zxid::ZERO {
            // `DataTree.serializeZxidDigest` writes a placeholder {0, version, 0} when no
            // txn has been processed yet: it is not the digest of anything.
        } else if version == DIGEST_VERSION {
            digest = Some((zxid, value as u64));
        } else {
            warnings.push(ZkWarning {
                file: file.to_owned(),
                offset: at as u64,
                message: format!("digest version {version} is not supported; digest ignored"),
            });
        }
    }
    if r.r.remaining() == 8 + 13 {
        r.i64("last processed zxid")?;
        r.seal()?;
    }
    if r.r.remaining() != 0 {
        return Err(ZkImportError::snapshot(
            file,
            r.pos(),
            format!("{} unexpected bytes after the last seal", r.r.remaining()),
        ));
    }
    Ok((nodes, sessions, digest))
}

/// A jute reader over a snapshot that reports errors with the file and offset.
struct SnapReader<'a> {
    file: &'a Path,
    b: &'a [u8],
    r: JuteReader<'a>,
}

impl<'a> SnapReader<'a> {
    fn pos(&self) -> usize {
        self.b.len() - self.r.remaining()
    }

    fn read<T>(
        &mut self,
        f: impl FnOnce(&mut JuteReader<'a>) -> Result<T, JuteError>,
    ) -> Result<T, ZkImportError> {
        let at = self.pos();
        f(&mut self.r).map_err(|e| ZkImportError::snapshot(self.file, at, e.to_string()))
    }

    fn i32(&mut self, what: &str) -> Result<i32, ZkImportError> {
        let at = self.pos();
        self.r
            .read_i32()
            .map_err(|e| ZkImportError::snapshot(self.file, at, format!("{what}: {e}")))
    }

    fn i64(&mut self, what: &str) -> Result<i64, ZkImportError> {
        let at = self.pos();
        self.r
            .read_i64()
            .map_err(|e| ZkImportError::snapshot(self.file, at, format!("{what}: {e}")))
    }

    fn string(&mut self, what: &'static str) -> Result<String, ZkImportError> {
        let at = self.pos();
        self.r
            .read_string(what)
            .map_err(|e| ZkImportError::snapshot(self.file, at, format!("{what}: {e}")))
    }

    /// A non-negative count of items of at least `min_size` bytes each.
    fn count(&mut self, what: &str, min_size: usize) -> Result<usize, ZkImportError> {
        let at = self.pos();
        let n = self.i32(what)?;
        match usize::try_from(n) {
            Ok(n) if n.saturating_mul(min_size) <= self.r.remaining() => Ok(n),
            _ => Err(ZkImportError::snapshot(
                self.file,
                at,
                format!("{what} {n} does not fit the file"),
            )),
        }
    }

    /// `SnapStream.checkSealIntegrity`: the Adler32 of every byte so far, then "/".
    fn seal(&mut self) -> Result<(), ZkImportError> {
        let at = self.pos();
        let expected = adler32(&self.b[..at]);
        let stored = self.i64("checksum")?;
        if stored != i64::from(expected) {
            return Err(ZkImportError::snapshot(
                self.file,
                at,
                format!("checksum mismatch: stored {stored:#x}, computed {expected:#x}"),
            ));
        }
        let slash_at = self.pos();
        let slash = self.string("seal")?;
        if slash != "/" {
            return Err(ZkImportError::snapshot(
                self.file,
                slash_at,
                format!("seal is {slash:?}, not \"/\""),
            ));
        }
        Ok(())
    }
}

/// The records of one log file, each with its offset. Stops at the preallocated zeros or
/// at a torn last record (with a warning).
fn read_log(
    file: &Path,
    b: &[u8],
    warnings: &mut Vec<ZkWarning>,
) -> Result<Vec<(u64, LogEntry)>, ZkImportError> {
    let mut warn = |offset: usize, message: String| {
        warnings.push(ZkWarning {
            file: file.to_owned(),
            offset: offset as u64,
            message,
        })
    };
    if b.len() < FILE_HEADER_LEN {
        // Created but never written (a crash right after the roll): ZooKeeper sees EOF.
        warn(0, "shorter than a log header; no records".into());
        return Ok(Vec::new());
    }
    let magic = be_i32(&b[0..4]);
    if magic != LOG_MAGIC {
        return Err(ZkImportError::log(
            file,
            0,
            format!("bad magic {magic:#x} (not a ZooKeeper transaction log)"),
        ));
    }
    let version = be_i32(&b[4..8]);
    if version != FORMAT_VERSION {
        return Err(ZkImportError::log(
            file,
            4,
            format!("unsupported format version {version}"),
        ));
    }
    let mut out = Vec::new();
    let mut pos = FILE_HEADER_LEN;
    while pos < b.len() {
        let rest = &b[pos..];
        if rest.len() < 12 {
            if rest.iter().any(|&x| x != 0) {
                warn(pos, "torn last record (header cut short); stopped".into());
            }
            break;
        }
        let crc = be_i64(&rest[0..8]);
        let len = be_i32(&rest[8..12]);
        if len == 0 {
            // Util.readTxnBytes: an empty record is the preallocated end of the log.
            if let Some(i) = rest.iter().position(|&x| x != 0) {
                warn(
                    pos + i,
                    "non-zero bytes after the end of the log ignored (as ZooKeeper does)".into(),
                );
            }
            break;
        }
        let Ok(len) = usize::try_from(len) else {
            return Err(ZkImportError::log(
                file,
                pos + 8,
                format!("negative record length {len}"),
            ));
        };
        let Some(txn) = rest.get(12..12 + len) else {
            warn(
                pos,
                format!("torn last record ({len} bytes announced, file ends first); stopped"),
            );
            break;
        };
        match rest.get(12 + len) {
            Some(&END_OF_RECORD) => {}
            Some(&other) => {
                warn(
                    pos,
                    format!(
                        "record without its end marker (byte {other:#04x}): partial last write; \
                         stopped"
                    ),
                );
                break;
            }
            None => {
                warn(pos, "torn last record (no end marker); stopped".into());
                break;
            }
        }
        let computed = adler32(txn);
        if crc != i64::from(computed) {
            return Err(ZkImportError::log(
                file,
                pos,
                format!("checksum mismatch: stored {crc:#x}, computed {computed:#x}"),
            ));
        }
        let entry = LogEntry::from_bytes(txn)
            .map_err(|e| ZkImportError::log(file, pos + 12, format!("bad txn record: {e}")))?;
        out.push((pos as u64, entry));
        pos += 12 + len + 1;
    }
    Ok(out)
}

fn be_i32(b: &[u8]) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    i32::from_be_bytes(a)
}

fn be_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_be_bytes(a)
}

/// `java.util.zip.Adler32` (RFC 1950) of `b`.
fn adler32(b: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    // The largest n with 255 n (n + 1) / 2 + (n + 1) (MOD - 1) < 2^32 (zlib's NMAX).
    const NMAX: usize = 5552;
    let (mut a, mut s) = (1u32, 0u32);
    for chunk in b.chunks(NMAX) {
        for &x in chunk {
            a += u32::from(x);
            s += a;
        }
        a %= MOD;
        s %= MOD;
    }
    (s << 16) | a
}
