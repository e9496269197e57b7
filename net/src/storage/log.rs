//! The transaction log: format, recovery and the synchronous segment writer.
//!
//! # Format (Corral's own; ZooKeeper's `ZKLG` files are recognised and refused)
//!
//! The log lives in `<dataLogDir>/version-2/` as segments named `log.<hex zxid>`, the zxid
//! (lower-case hex, no padding, as ZooKeeper names its logs) of the segment's first record.
//!
//! ```text
//! segment := header record*
//! header  := "CRLG" | u32 version (= 1) | i64 first zxid (= the name)      16 bytes, BE
//! record  := u32 len | u32 crc32c(payload) | payload[len]                   BE
//! payload := LogEntry::to_bytes(): jute TxnHeader ++ txn; the zxid is payload[12..20]
//! ```
//!
//! Records are never rewritten; a truncation (a TRUNC from the leader, `truncate`) only
//! removes a tail. Zxids increase by exactly one within an epoch; a new epoch
//! may start at any counter. A segment is only created when its first record is written,
//! and it is fsynced (with its directory) before anything is appended to it; the previous
//! segment is fsynced before the roll, so every segment but the last is complete.
//!
//! # Recovery
//!
//! Segments are read in zxid order and every record's length, crc and zxid is checked.
//! At the end of the **last** segment, a short record, a zero length, or a record whose crc
//! fails and that is not followed by a valid record is a torn write from a crash: it is
//! truncated with a warning naming file and offset. Anything else (a bad record followed by
//! a valid one, any bad record in an earlier segment, a zxid gap or reordering, a segment
//! whose name does not match its first record) is corruption: a fatal error naming file and
//! offset. A last segment left with no record (crash right after creating it) is removed.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use corral_core::types::Zxid;

use super::StorageError;

/// Segment magic.
pub const MAGIC: [u8; 4] = *b"CRLG";
/// ZooKeeper's log magic, recognised only to give a clear error.
const ZK_MAGIC: [u8; 4] = *b"ZKLG";
/// Format version.
pub const VERSION: u32 = 1;
/// Bytes of the segment header.
pub const HEADER_LEN: usize = 16;
/// Bytes before each payload (len + crc).
pub const RECORD_HEADER_LEN: usize = 8;
/// Smallest payload: one jute TxnHeader (8 + 4 + 8 + 8 + 4 bytes).
pub const MIN_PAYLOAD_LEN: usize = 32;
/// Largest payload accepted; anything bigger is treated as a damaged length.
pub const MAX_PAYLOAD_LEN: usize = 256 << 20;
/// Segment size after which the next write starts a new segment.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
/// Subdirectory of dataLogDir holding the segments (ZooKeeper's layout).
pub const LOG_SUBDIR: &str = "version-2";
/// fsyncs slower than this are logged (ZooKeeper's `fsync.warningthresholdms`).
const FSYNC_WARN_MS: u128 = 1000;

/// The directory holding the segments for `data_log_dir`.
pub fn log_dir(data_log_dir: &Path) -> PathBuf {
    data_log_dir.join(LOG_SUBDIR)
}

/// The zxid inside a payload (the jute TxnHeader's third field).
pub fn payload_zxid(payload: &[u8]) -> Option<Zxid> {
    let b: [u8; 8] = payload.get(12..20)?.try_into().ok()?;
    Some(Zxid(i64::from_be_bytes(b)))
}

/// File name of the segment whose first record has `zxid`.
pub fn segment_name(zxid: Zxid) -> String {
    format!("log.{:x}", zxid.0)
}

fn parse_segment_name(name: &str) -> Option<Zxid> {
    let hex = name.strip_prefix("log.")?;
    u64::from_str_radix(hex, 16).ok().map(|z| Zxid(z as i64))
}

/// The ordering rule between consecutive records.
///
/// Within an epoch the counter goes up by exactly one. A new epoch starts at counter 1 (a
/// ZAB leader's first proposal) or 0 (a standalone server carrying its counter over), so a
/// lost segment or snapshot cannot hide behind an epoch change.
pub fn check_successor(prev: Zxid, next: Zxid) -> Result<(), String> {
    if next <= prev {
        return Err(format!("zxid {next} does not follow {prev}"));
    }
    if next.epoch() == prev.epoch() && next.0 != prev.0 + 1 {
        return Err(format!("zxid gap: {next} follows {prev}"));
    }
    if next.epoch() != prev.epoch() && next.counter() > 1 {
        return Err(format!(
            "zxid gap: {next} follows {prev} (a new epoch starts at counter 0 or 1)"
        ));
    }
    Ok(())
}

/// Append the framed record for `payload` to `out`.
pub fn encode_record(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_be_bytes());
    out.extend_from_slice(payload);
}

fn encode_header(first: Zxid) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&MAGIC);
    h[4..8].copy_from_slice(&VERSION.to_be_bytes());
    h[8..].copy_from_slice(&first.0.to_be_bytes());
    h
}

/// Called by `recover` with each valid record; an error stops recovery as corruption.
pub type Visitor<'a> = dyn FnMut(Zxid, &[u8]) -> Result<(), String> + 'a;

/// What recovery found.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Records handed to the visitor.
    pub records: u64,
    /// Zxid of the last valid record.
    pub last_zxid: Option<Zxid>,
    /// The last segment, to append to (None: start a new one on the first write).
    pub tail: Option<PathBuf>,
    /// What was repaired (also logged as warnings).
    pub repairs: Vec<String>,
}

/// A bad record at some offset.
struct Bad {
    offset: usize,
    reason: String,
    /// The record itself is complete and passes its crc (so it cannot be a torn write).
    intact: bool,
}

/// Whether anything valid lies after a damaged record.
enum Later {
    None,
    Found(usize),
    /// Too much non-zero data to search: refuse to guess.
    Undecided,
}

/// Most crc work spent looking for a valid record after a damaged one.
const SEARCH_BUDGET_BYTES: usize = 256 << 20;

/// Read and verify every segment under `dir` in order, calling `visit(zxid, payload)` for
/// each valid record, and repair a torn tail. A `visit` error is reported as corruption at
/// that record.
pub fn recover(dir: &Path, visit: &mut Visitor<'_>) -> Result<Recovery, StorageError> {
    scan(dir, Zxid::ZERO, visit, true)
}

/// [`recover`], but segments holding only records at or before `after` (a snapshot's zxid)
/// are not read at all: recovery does not need them, and purge removes them in time.
pub fn recover_after(
    dir: &Path,
    after: Zxid,
    visit: &mut Visitor<'_>,
) -> Result<Recovery, StorageError> {
    scan(dir, after, visit, true)
}

/// [`recover`] without changing anything: a torn tail is only reported (in `repairs`, as
/// what recovery would do). For the inspection tools, which may run beside a live server.
pub fn scan_read_only(dir: &Path, visit: &mut Visitor<'_>) -> Result<Recovery, StorageError> {
    scan(dir, Zxid::ZERO, visit, false)
}

/// [`scan_read_only`] with [`recover_after`]'s view: segments wholly at or before `after`
/// are not read.
pub fn scan_read_only_after(
    dir: &Path,
    after: Zxid,
    visit: &mut Visitor<'_>,
) -> Result<Recovery, StorageError> {
    scan(dir, after, visit, false)
}

fn scan(
    dir: &Path,
    after: Zxid,
    visit: &mut Visitor<'_>,
    repair: bool,
) -> Result<Recovery, StorageError> {
    let mut segments = list_segments(dir)?;
    segments.sort();
    // Segment i holds zxids [name_i, name_{i+1}): skip it when name_{i+1} <= after + 1.
    let skip = segments
        .windows(2)
        .take_while(|w| w[1].0 .0 <= after.0.saturating_add(1))
        .count();
    segments.drain(..skip);
    let mut rec = Recovery::default();
    let count = segments.len();
    for (i, (name_zxid, path)) in segments.into_iter().enumerate() {
        let is_last = i + 1 == count;
        let bytes = std::fs::read(&path).map_err(StorageError::io("read", &path))?;
        let corrupt = |offset: usize, reason: String| StorageError::Corrupt {
            path: path.clone(),
            offset: offset as u64,
            reason,
        };
        let before = rec.records;
        let end = match check_header(&bytes, name_zxid) {
            // Torn while the segment was being created: removed below.
            Err(_) if is_last && header_is_torn(&bytes) => 0,
            Err(bad) => return Err(corrupt(bad.offset, bad.reason)),
            Ok(()) => match scan_records(&bytes, name_zxid, &mut rec, visit) {
                Ok(()) => bytes.len(),
                Err(bad) if is_last && !bad.intact => {
                    match find_record_after(&bytes, bad.offset, rec.last_zxid) {
                        Later::None => {}
                        Later::Found(at) => {
                            let reason =
                                format!("{}; a valid record follows at offset {at}", bad.reason);
                            return Err(corrupt(bad.offset, reason));
                        }
                        Later::Undecided => {
                            let reason = format!(
                                "{}; cannot tell a torn tail from corruption (the {} bytes \
                                 after it are not zeros)",
                                bad.reason,
                                bytes.len() - bad.offset
                            );
                            return Err(corrupt(bad.offset, reason));
                        }
                    }
                    let msg = format!(
                        "truncating torn tail of {} at offset {} ({} bytes dropped): {}",
                        path.display(),
                        bad.offset,
                        bytes.len() - bad.offset,
                        bad.reason
                    );
                    if repair {
                        tracing::warn!("{msg}");
                        truncate(&path, bad.offset as u64)?;
                    }
                    rec.repairs.push(msg);
                    bad.offset
                }
                Err(bad) => return Err(corrupt(bad.offset, bad.reason)),
            },
        };
        if is_last {
            if rec.records == before {
                // No record survived: the segment was being created when the process died.
                let msg = format!(
                    "removing log segment {} with no complete record",
                    path.display()
                );
                rec.repairs.push(msg);
                if repair {
                    tracing::warn!("{}", rec.repairs.last().map_or("", String::as_str));
                    std::fs::remove_file(&path).map_err(StorageError::io("remove", &path))?;
                    sync_dir(dir)?;
                }
            } else {
                debug_assert!(end >= HEADER_LEN);
                rec.tail = Some(path);
            }
        }
    }
    Ok(rec)
}

/// Read, without changing anything, the records with zxids in `(after, upto]`, handing each
/// to `visit` in order. Used to build snapshots and by the inspection tools while a server
/// may be appending: records after `upto` are never looked at, so a record being written
/// is never mistaken for damage. Fails if any wanted record is missing or damaged.
pub fn read_records(
    dir: &Path,
    after: Zxid,
    upto: Zxid,
    visit: &mut Visitor<'_>,
) -> Result<u64, StorageError> {
    let mut segments = list_segments(dir)?;
    segments.sort();
    if upto <= after {
        return Ok(0);
    }
    // The segment holding `after`'s successor: the last one named at or before it.
    let start = segments.iter().rposition(|(z, _)| *z <= after).unwrap_or(0);
    let mut last: Option<Zxid> = None;
    let mut count = 0;
    for (name_zxid, path) in &segments[start..] {
        let bytes = std::fs::read(path).map_err(StorageError::io("read", path))?;
        let corrupt = |offset: usize, reason: String| StorageError::Corrupt {
            path: path.clone(),
            offset: offset as u64,
            reason,
        };
        check_header(&bytes, *name_zxid).map_err(|b| corrupt(b.offset, b.reason))?;
        let mut pos = HEADER_LEN;
        while pos < bytes.len() {
            let range = valid_record_at(&bytes, pos).map_err(|r| corrupt(pos, r))?;
            let payload = &bytes[range.clone()];
            let zxid =
                payload_zxid(payload).ok_or_else(|| corrupt(pos, "payload too short".into()))?;
            if zxid > after {
                match last {
                    None => check_successor(after, zxid).map_err(|e| {
                        corrupt(pos, format!("log does not continue zxid {after}: {e}"))
                    })?,
                    Some(prev) => check_successor(prev, zxid).map_err(|e| corrupt(pos, e))?,
                }
                visit(zxid, payload).map_err(|e| corrupt(pos, format!("entry {zxid}: {e}")))?;
                count += 1;
                last = Some(zxid);
                if zxid >= upto {
                    return Ok(count);
                }
            }
            pos = range.end;
        }
    }
    Err(StorageError::Corrupt {
        path: dir.to_owned(),
        offset: 0,
        reason: format!(
            "the log ends at {} before zxid {upto}",
            last.map_or_else(|| after.to_string(), |z| z.to_string())
        ),
    })
}

/// The log segments under `dir`, oldest first, with the zxid each one's name gives.
pub fn segments(dir: &Path) -> Result<Vec<(Zxid, PathBuf)>, StorageError> {
    let mut s = list_segments(dir)?;
    s.sort();
    Ok(s)
}

fn list_segments(dir: &Path) -> Result<Vec<(Zxid, PathBuf)>, StorageError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StorageError::io("list", dir)(e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(StorageError::io("list", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with("log.") {
            continue;
        }
        match parse_segment_name(name) {
            Some(z) => out.push((z, entry.path())),
            None => tracing::warn!(
                "ignoring {}: not a log segment name",
                entry.path().display()
            ),
        }
    }
    Ok(out)
}

/// A header that a crash during segment creation could have left: short or all zeros,
/// with nothing but zeros after it.
fn header_is_torn(bytes: &[u8]) -> bool {
    bytes.len() < HEADER_LEN || bytes.iter().all(|&b| b == 0)
}

fn check_header(bytes: &[u8], name_zxid: Zxid) -> Result<(), Bad> {
    let bad = |reason: String| Bad {
        offset: 0,
        reason,
        intact: true,
    };
    if bytes.len() < HEADER_LEN {
        return Err(bad(format!("header cut short ({} bytes)", bytes.len())));
    }
    if bytes[..4] == ZK_MAGIC {
        return Err(bad(
            "this is a ZooKeeper transaction log (ZKLG); Corral cannot read it \
                        (use an empty dataLogDir)"
                .into(),
        ));
    }
    if bytes[..4] != MAGIC {
        return Err(bad(format!(
            "bad magic {:02x?}, expected \"CRLG\"",
            &bytes[..4]
        )));
    }
    let version = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    if version != VERSION {
        return Err(bad(format!("unsupported log format version {version}")));
    }
    let mut z = [0u8; 8];
    z.copy_from_slice(&bytes[8..16]);
    let first = Zxid(i64::from_be_bytes(z));
    if first != name_zxid {
        return Err(bad(format!(
            "header says first zxid {first}, file name says {name_zxid}"
        )));
    }
    Ok(())
}

/// A record starting at `pos` that is complete and passes its crc: its payload range.
fn valid_record_at(bytes: &[u8], pos: usize) -> Result<std::ops::Range<usize>, String> {
    let rest = bytes.len() - pos;
    if rest < RECORD_HEADER_LEN {
        return Err(format!(
            "record header cut short ({rest} of {RECORD_HEADER_LEN} bytes)"
        ));
    }
    let len =
        u32::from_be_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]]) as usize;
    let crc = u32::from_be_bytes([
        bytes[pos + 4],
        bytes[pos + 5],
        bytes[pos + 6],
        bytes[pos + 7],
    ]);
    if len == 0 {
        return Err("zero record length".into());
    }
    if !(MIN_PAYLOAD_LEN..=MAX_PAYLOAD_LEN).contains(&len) {
        return Err(format!("impossible record length {len}"));
    }
    if rest - RECORD_HEADER_LEN < len {
        return Err(format!(
            "record cut short ({} of {len} bytes)",
            rest - RECORD_HEADER_LEN
        ));
    }
    let payload = pos + RECORD_HEADER_LEN..pos + RECORD_HEADER_LEN + len;
    let actual = crc32c::crc32c(&bytes[payload.clone()]);
    if actual != crc {
        return Err(format!(
            "crc mismatch (stored {crc:08x}, computed {actual:08x})"
        ));
    }
    Ok(payload)
}

/// Search the bytes after a damaged record at `pos` for any valid record. A torn append
/// leaves zeros or a partial record; a valid record after the damage means the damage is in
/// the middle of the log. Candidates must carry a zxid after `last` (cheap filter) before
/// their crc is computed.
fn find_record_after(bytes: &[u8], pos: usize, last: Option<Zxid>) -> Later {
    if bytes[pos..].iter().all(|&b| b == 0) {
        return Later::None;
    }
    let last = last.unwrap_or(Zxid::ZERO);
    let mut budget = SEARCH_BUDGET_BYTES;
    let mut at = pos + 1;
    while at + RECORD_HEADER_LEN + MIN_PAYLOAD_LEN <= bytes.len() {
        let len =
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        let fits = (MIN_PAYLOAD_LEN..=bytes.len() - at - RECORD_HEADER_LEN).contains(&len);
        let plausible = fits
            && payload_zxid(&bytes[at + RECORD_HEADER_LEN..])
                .is_some_and(|z| z > last && z.epoch().0.saturating_sub(last.epoch().0) <= 16);
        if plausible {
            if budget < len {
                return Later::Undecided;
            }
            budget -= len;
            if valid_record_at(bytes, at).is_ok() {
                return Later::Found(at);
            }
        }
        at += 1;
    }
    Later::None
}

fn scan_records(
    bytes: &[u8],
    name_zxid: Zxid,
    rec: &mut Recovery,
    visit: &mut Visitor<'_>,
) -> Result<(), Bad> {
    let mut pos = HEADER_LEN;
    let mut first = true;
    while pos < bytes.len() {
        let range = valid_record_at(bytes, pos).map_err(|reason| Bad {
            offset: pos,
            reason,
            intact: false,
        })?;
        let payload = &bytes[range.clone()];
        // Past this point the record is intact, so every failure is corruption.
        let fatal = |reason: String| Bad {
            offset: pos,
            reason,
            intact: true,
        };
        let zxid = payload_zxid(payload).ok_or_else(|| fatal("payload too short".into()))?;
        if first && zxid != name_zxid {
            return Err(fatal(format!(
                "first record has zxid {zxid}, file is named {name_zxid}"
            )));
        }
        if let Some(prev) = rec.last_zxid {
            check_successor(prev, zxid).map_err(fatal)?;
        }
        visit(zxid, payload).map_err(|e| fatal(format!("cannot apply entry {zxid}: {e}")))?;
        rec.last_zxid = Some(zxid);
        rec.records += 1;
        first = false;
        pos = range.end;
    }
    Ok(())
}

fn truncate(path: &Path, len: u64) -> Result<(), StorageError> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(StorageError::io("open", path))?;
    f.set_len(len).map_err(StorageError::io("truncate", path))?;
    f.sync_all().map_err(StorageError::io("fsync", path))
}

fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StorageError::io("fsync directory", dir))
}

struct OpenSegment {
    file: File,
    path: PathBuf,
    len: u64,
}

/// Appends records to the log. Synchronous; `writer::LogThread` runs it off the async path.
pub struct LogWriter {
    dir: PathBuf,
    segment: Option<OpenSegment>,
    roll_bytes: u64,
    force_sync: bool,
    last_zxid: Option<Zxid>,
    pending: Vec<u8>,
}

impl LogWriter {
    /// Continue the log that `recovery` describes (creating `dir` if needed).
    pub fn open(
        dir: &Path,
        recovery: &Recovery,
        roll_bytes: u64,
        force_sync: bool,
    ) -> Result<LogWriter, StorageError> {
        let existed = dir.is_dir();
        std::fs::create_dir_all(dir).map_err(StorageError::io("create directory", dir))?;
        if !existed {
            // Make the new directory's own entry durable, or a power loss right after the
            // first fsynced write could lose the whole directory.
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        let segment = match &recovery.tail {
            None => None,
            Some(path) => {
                let file = OpenOptions::new()
                    .append(true)
                    .open(path)
                    .map_err(StorageError::io("open", path))?;
                let len = file
                    .metadata()
                    .map_err(StorageError::io("stat", path))?
                    .len();
                Some(OpenSegment {
                    file,
                    path: path.clone(),
                    len,
                })
            }
        };
        Ok(LogWriter {
            dir: dir.to_owned(),
            segment,
            roll_bytes: roll_bytes.max(HEADER_LEN as u64 + 1),
            force_sync,
            last_zxid: recovery.last_zxid,
            pending: Vec::new(),
        })
    }

    /// Zxid of the last appended record.
    pub fn last_zxid(&self) -> Option<Zxid> {
        self.last_zxid
    }

    /// The directory holding the segments.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Continue with an empty log after `zxid`, once an installed snapshot as of `zxid` has
    /// replaced every segment (`storage::install`): the next record starts a new segment.
    pub fn restart_after(&mut self, zxid: Zxid) -> Result<(), StorageError> {
        if !self.pending.is_empty() {
            return Err(StorageError::BadEntry(
                "records queued across a snapshot install".into(),
            ));
        }
        self.segment = None;
        self.last_zxid = (zxid > Zxid::ZERO).then_some(zxid);
        Ok(())
    }

    /// Queue one record; it reaches the file on `commit`. Rejects payloads that would make
    /// the log unreadable (bad size, zxid out of order).
    pub fn append(&mut self, payload: &[u8]) -> Result<(), StorageError> {
        if !(MIN_PAYLOAD_LEN..=MAX_PAYLOAD_LEN).contains(&payload.len()) {
            return Err(StorageError::BadEntry(format!(
                "payload of {} bytes",
                payload.len()
            )));
        }
        let zxid = payload_zxid(payload).ok_or_else(|| StorageError::BadEntry("no zxid".into()))?;
        if let Some(prev) = self.last_zxid {
            check_successor(prev, zxid).map_err(StorageError::BadEntry)?;
        }
        let full = match &self.segment {
            None => true,
            Some(s) => s.len + self.pending.len() as u64 >= self.roll_bytes,
        };
        if full {
            self.roll(zxid)?;
        }
        encode_record(payload, &mut self.pending);
        self.last_zxid = Some(zxid);
        Ok(())
    }

    /// Write everything queued and (with forceSync) fsync it: afterwards it is durable.
    pub fn commit(&mut self) -> Result<(), StorageError> {
        self.flush()?;
        if self.force_sync {
            if let Some(s) = &self.segment {
                let t = Instant::now();
                s.file
                    .sync_data()
                    .map_err(StorageError::io("fsync", &s.path))?;
                let ms = t.elapsed().as_millis();
                if ms > FSYNC_WARN_MS {
                    tracing::warn!("fsync of {} took {ms} ms", s.path.display());
                }
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StorageError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let Some(s) = &mut self.segment else {
            return Err(StorageError::BadEntry(
                "records queued without a segment".into(),
            ));
        };
        s.file
            .write_all(&self.pending)
            .map_err(StorageError::io("write", &s.path))?;
        s.len += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    /// Finish the current segment (durably) and start `log.<zxid>`.
    fn roll(&mut self, first: Zxid) -> Result<(), StorageError> {
        self.commit()?;
        let path = self.dir.join(segment_name(first));
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(StorageError::io("create", &path))?;
        file.write_all(&encode_header(first))
            .map_err(StorageError::io("write", &path))?;
        // The header and the new directory entry must be durable before any record that
        // depends on them is acknowledged.
        if self.force_sync {
            file.sync_all().map_err(StorageError::io("fsync", &path))?;
            sync_dir(&self.dir)?;
        }
        tracing::debug!("started log segment {}", path.display());
        self.segment = Some(OpenSegment {
            file,
            path,
            len: HEADER_LEN as u64,
        });
        Ok(())
    }
}

mod truncate;
pub use truncate::TruncatePlan;

#[cfg(test)]
mod tests;
