//! Tests against real ZooKeeper 3.8.0 data directories recorded by
//! scripts/make-zk-fixture.sh. tests/fixtures/zk-3.8.0: snapshot.0, log.1, snapshot.28
//! (fuzzy: its digest is at zxid 0x29) and log.2a, with one session still open; the -gz
//! and -snappy variants were recorded with compressed snapshots.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use corral_core::proto::data::{Acl, Id};
use corral_core::tree::DataTree;
use corral_core::types::{SessionId, Zxid};
use proptest::prelude::*;

use super::*;

const PLAIN: &str = "zk-3.8.0";
const COMPRESSED: [&str; 2] = ["zk-3.8.0-gz", "zk-3.8.0-snappy"];

fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
}

fn fixture() -> PathBuf {
    fixture_dir(PLAIN)
}

fn fixture_file(name: &str) -> Vec<u8> {
    std::fs::read(fixture().join("data").join(VERSION_DIR).join(name)).unwrap()
}

/// A scratch copy of the fixture's dataDir; returns (tempdir guard, dataDir, version-2).
fn scratch() -> (tempfile::TempDir, PathBuf, PathBuf) {
    scratch_of(PLAIN)
}

fn scratch_of(name: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let v2 = data.join(VERSION_DIR);
    std::fs::create_dir_all(&v2).unwrap();
    for e in std::fs::read_dir(fixture_dir(name).join("data").join(VERSION_DIR)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), v2.join(e.file_name())).unwrap();
    }
    (tmp, data, v2)
}

/// One node as kazoo saw it just before the server stopped.
#[derive(Debug, PartialEq)]
struct Expected {
    data: Option<Vec<u8>>,
    stat: BTreeMap<String, i64>,
    acl: Vec<Acl>,
}

fn expected() -> (BTreeMap<String, Expected>, SessionId) {
    expected_of(PLAIN)
}

fn expected_of(name: &str) -> (BTreeMap<String, Expected>, SessionId) {
    let text = std::fs::read_to_string(fixture_dir(name).join("expected.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out = BTreeMap::new();
    for (path, n) in v["nodes"].as_object().unwrap() {
        let data = n["data"]
            .as_str()
            .map(|s| base64::engine::general_purpose::STANDARD.decode(s).unwrap());
        let stat = n["stat"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_i64().unwrap()))
            .collect();
        let acl = n["acl"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| Acl {
                perms: a["perms"].as_i64().unwrap() as i32,
                id: Id::new(a["scheme"].as_str().unwrap(), a["id"].as_str().unwrap()),
            })
            .collect();
        out.insert(path.clone(), Expected { data, stat, acl });
    }
    let live = SessionId(v["sessions"]["live"].as_i64().unwrap());
    (out, live)
}

/// The tree as a client sees it, in the shape of `expected()`.
fn observe(tree: &DataTree) -> BTreeMap<String, Expected> {
    let mut out = BTreeMap::new();
    let mut todo = vec!["/".to_owned()];
    while let Some(path) = todo.pop() {
        let node = tree.node(&path).unwrap();
        let s = node.client_stat();
        let stat = [
            ("czxid", s.czxid.0),
            ("mzxid", s.mzxid.0),
            ("ctime", s.ctime),
            ("mtime", s.mtime),
            ("version", s.version.into()),
            ("cversion", s.cversion.into()),
            ("aversion", s.aversion.into()),
            ("ephemeralOwner", s.ephemeral_owner.0),
            ("dataLength", s.data_length.into()),
            ("numChildren", s.num_children.into()),
            ("pzxid", s.pzxid.0),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for c in node.children() {
            todo.push(format!("{}/{c}", path.trim_end_matches('/')));
        }
        out.insert(
            path,
            Expected {
                data: node.data.map(<[u8]>::to_vec),
                stat,
                acl: node.acl().to_vec(),
            },
        );
    }
    out
}

fn assert_same(got: &BTreeMap<String, Expected>, want: &BTreeMap<String, Expected>) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "paths"
    );
    for (path, w) in want {
        assert_eq!(&got[path], w, "node {path}");
    }
}

fn replay(tree: &mut DataTree, entries: &[LogEntry], upto: Option<Zxid>) {
    for e in entries {
        if upto.is_some_and(|z| e.hdr.zxid > z) {
            break;
        }
        tree.apply(&e.hdr, &e.txn);
    }
}

/// CRC-32 (IEEE, `java.util.zip.CRC32`), bitwise: only the tests need it.
fn crc32(mut crc: u32, b: &[u8]) -> u32 {
    crc = !crc;
    for &x in b {
        crc ^= u32::from(x);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// ZooKeeper's tree digest (`DigestCalculator` version 2), an independent check of what
/// was parsed: the sum over nodes of CRC32(path, data, czxid, mzxid, pzxid, ctime, mtime,
/// version, cversion, aversion, ephemeralOwner), the root hashed as "" and the nodes under
/// /zookeeper/ left out.
fn zk_digest(tree: &DataTree) -> u64 {
    let mut sum = 0u64;
    let mut todo = vec!["/".to_owned()];
    while let Some(path) = todo.pop() {
        let node = tree.node(&path).unwrap();
        for c in node.children() {
            todo.push(format!("{}/{c}", path.trim_end_matches('/')));
        }
        if path.starts_with("/zookeeper/") {
            continue;
        }
        let s = &node.stat;
        let mut b = Vec::with_capacity(60);
        for v in [s.czxid.0, s.mzxid.0, s.pzxid.0, s.ctime, s.mtime] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        for v in [s.version, s.cversion, s.aversion] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b.extend_from_slice(&s.ephemeral_owner.to_be_bytes());
        let name = if path == "/" { "" } else { path.as_str() };
        let mut crc = crc32(0, name.as_bytes());
        crc = crc32(crc, node.data.unwrap_or_default());
        crc = crc32(crc, &b);
        sum = sum.wrapping_add(u64::from(crc));
    }
    sum
}

fn name_of(p: &Path) -> &str {
    p.file_name().unwrap().to_str().unwrap()
}

#[test]
fn adler32_matches_known_values() {
    assert_eq!(adler32(b""), 1);
    assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    // Longer than zlib's NMAX, so the deferred modulo is exercised.
    let long: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + 3) as u8).collect();
    let (mut a, mut b) = (1u64, 0u64);
    for &x in &long {
        a = (a + u64::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    assert_eq!(u64::from(adler32(&long)), (b << 16) | a);
}

#[test]
fn reads_the_real_zookeeper_dir() {
    let img = read_zookeeper_dir(&fixture().join("data")).unwrap();
    assert_eq!(
        img.warnings,
        vec![],
        "a clean shutdown leaves nothing to warn about"
    );
    assert_eq!(name_of(img.snapshot.as_deref().unwrap()), "snapshot.28");
    assert_eq!(img.snapshot_zxid, Zxid(0x28));
    // The snapshot is fuzzy: it finished after txn 0x29 had been applied.
    assert_eq!(img.digest_zxid, Some(Zxid(0x29)));
    assert!(img.digest.is_some());
    let paths: Vec<&str> = img.nodes.iter().map(|n| n.path.as_str()).collect();
    assert_eq!(paths[0], "/");
    for (i, p) in paths.iter().enumerate().skip(1) {
        let parent = &p[..p.rfind('/').unwrap().max(1)];
        assert!(paths[..i].contains(&parent), "{p} before its parent");
    }
    for p in [
        "/app/a/b/c/d",
        "/secret",
        "/box/item",
        "/live/other",
        "/zookeeper/config",
    ] {
        assert!(paths.contains(&p), "{p} missing from the snapshot");
    }
    let secret = img.nodes.iter().find(|n| n.path == "/secret").unwrap();
    assert_eq!(secret.acl[0].id.scheme, "digest");
    let null = img.nodes.iter().find(|n| n.path == "/app/null").unwrap();
    assert_eq!(null.data, None);
    let root = &img.nodes[0];
    assert_eq!(root.acl, Acl::open_unsafe(), "aclRef -1 is OPEN_ACL_UNSAFE");
    let (_, live) = expected();
    assert!(img.sessions.iter().any(|&(s, _)| s == live));
    assert_eq!(
        img.sessions.len(),
        2,
        "both sessions were open at the snapshot"
    );

    let zxids: Vec<i64> = img.entries.iter().map(|e| e.hdr.zxid.0).collect();
    assert_eq!(zxids[0], 0x29);
    assert!(zxids.windows(2).all(|w| w[1] == w[0] + 1), "{zxids:?}");
    // The last txn is the final setData of /app.
    let (want, _) = expected();
    assert_eq!(*zxids.last().unwrap(), want["/app"].stat["mzxid"]);
}

#[test]
fn separate_log_dir_and_version_dir_are_accepted() {
    let whole = read_zookeeper_dir(&fixture().join("data")).unwrap();
    let v2 = fixture().join("data").join(VERSION_DIR);
    assert_eq!(read_zookeeper_dir(&v2).unwrap(), whole);

    let tmp = tempfile::tempdir().unwrap();
    let (snaps, logs) = (tmp.path().join("snaps"), tmp.path().join("logs"));
    for d in [&snaps, &logs] {
        std::fs::create_dir_all(d.join(VERSION_DIR)).unwrap();
    }
    for e in std::fs::read_dir(&v2).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        let to = if name.to_str().unwrap().starts_with("log") {
            &logs
        } else {
            &snaps
        };
        std::fs::copy(e.path(), to.join(VERSION_DIR).join(name)).unwrap();
    }
    let split = read_zookeeper_dirs(&snaps, &logs).unwrap();
    assert_eq!(split.entries, whole.entries);
    assert_eq!(split.nodes, whole.nodes);
    // The snapshot's digest is at zxid 0x29, so the log must reach at least that far.
    match read_zookeeper_dir(&snaps).unwrap_err() {
        ZkImportError::LogsEndEarly { last, needed, .. } => {
            assert_eq!((last, needed), (Zxid(0x28), Zxid(0x29)));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        read_zookeeper_dir(tmp.path()),
        Err(ZkImportError::NotADataDir { .. })
    ));
}

/// Replaying every log from snapshot.0 through Corral's DataTree reproduces what kazoo
/// read from ZooKeeper, node for node (data, client stat, ACL).
#[test]
fn full_replay_matches_what_zookeeper_served() {
    let (_tmp, data, v2) = scratch();
    std::fs::remove_file(v2.join("snapshot.28")).unwrap();
    let img = read_zookeeper_dir(&data).unwrap();
    assert_eq!(name_of(img.snapshot.as_deref().unwrap()), "snapshot.0");
    assert_eq!(img.entries[0].hdr.zxid, Zxid(1));
    let mut tree = DataTree::new();
    // snapshot.0 holds exactly the built-in nodes of a fresh tree.
    let fresh: Vec<&str> = img.nodes.iter().map(|n| n.path.as_str()).collect();
    assert_eq!(
        fresh.len() as u64 + 1,
        tree.node_count(),
        "node_count counts the root twice"
    );
    for n in &img.nodes {
        let t = tree.node(&n.path).unwrap();
        assert_eq!(
            (&t.data, t.acl(), &t.stat),
            (&n.data.as_deref(), &n.acl[..], &n.stat),
            "{}",
            n.path
        );
    }
    assert_eq!(
        img.digest, None,
        "snapshot.0 holds only the placeholder digest"
    );
    replay(&mut tree, &img.entries, None);
    let (want, _) = expected();
    assert_same(&observe(&tree), &want);
}

/// The nodes of the fuzzy snapshot.28 equal the tree replayed up to the zxid in its name,
/// its digest equals ZooKeeper's digest of the tree at the digest's zxid, and the image's
/// entries take the tree to the final state.
#[test]
fn snapshot_matches_replay_and_entries_finish_it() {
    let img = read_zookeeper_dir(&fixture().join("data")).unwrap();
    let fuzzy = check_snapshot_against_replay(PLAIN, &img);
    // In this recording every node was written before txn 0x29 (setData /filler) was
    // applied, but the digest was taken after it.
    assert_eq!(fuzzy, Vec::<String>::new());
}

/// Compare `img` (read from fixture `name`) with a replay of the fixture's whole log;
/// return the nodes the snapshot caught after the zxid in its name.
fn check_snapshot_against_replay(name: &str, img: &ZkImage) -> Vec<String> {
    let (_tmp, data, v2) = scratch_of(name);
    std::fs::remove_file(v2.join(name_of(img.snapshot.as_deref().unwrap()))).unwrap();
    let all = read_zookeeper_dir(&data).unwrap().entries;
    assert_eq!(all[0].hdr.zxid, Zxid(1));

    // Fuzzy: each node was written either before or after the txns up to the digest's.
    let mut at_name = DataTree::new();
    replay(&mut at_name, &all, Some(img.snapshot_zxid));
    let mut at_digest = DataTree::new();
    replay(&mut at_digest, &all, img.digest_zxid);
    assert_eq!(img.nodes.len() as u64 + 1, at_name.node_count());
    let mut fuzzy = Vec::new();
    for n in &img.nodes {
        let got = (&n.data.as_deref(), &n.acl[..], &n.stat);
        let a = at_name.node(&n.path).unwrap();
        let b = at_digest.node(&n.path).unwrap();
        if got != (&a.data, a.acl(), &a.stat) {
            assert_eq!(got, (&b.data, b.acl(), &b.stat), "{}", n.path);
            fuzzy.push(n.path.clone());
        }
    }
    assert_eq!(img.digest, Some(zk_digest(&at_digest)), "{name}");

    let mut tree = at_name;
    replay(&mut tree, &img.entries, None);
    assert_same(&observe(&tree), &expected_of(name).0);
    fuzzy
}

/// Recordings with `zookeeper.snapshot.compression.method` gz and snappy.
#[test]
fn compressed_snapshots_are_read() {
    for (name, ext) in COMPRESSED.into_iter().zip(["gz", "snappy"]) {
        let img = read_zookeeper_dir(&fixture_dir(name).join("data")).unwrap();
        assert_eq!(img.warnings, vec![], "{name}");
        let file = name_of(img.snapshot.as_deref().unwrap()).to_owned();
        assert!(
            file.ends_with(ext) && img.snapshot_zxid > Zxid::ZERO,
            "{file}"
        );
        assert!(!img.entries.is_empty(), "{name}");
        check_snapshot_against_replay(name, &img);

        // A damaged compressed snapshot is skipped like a plain one.
        let (_tmp, data, v2) = scratch_of(name);
        let path = v2.join(&file);
        let mut b = std::fs::read(&path).unwrap();
        let n = b.len();
        b[n / 2] ^= 0x55;
        b.truncate(n - 3);
        std::fs::write(&path, &b).unwrap();
        let img = read_zookeeper_dir(&data).unwrap();
        assert!(name_of(img.snapshot.as_deref().unwrap()).starts_with("snapshot.0."));
        assert_eq!(name_of(&img.warnings[0].file), file);
    }
}

#[test]
fn flipped_byte_in_a_log_record_is_corruption_at_that_record() {
    let (_tmp, data, v2) = scratch();
    let mut log = fixture_file("log.2a");
    let mut w = Vec::new();
    let records = read_log(Path::new("log.2a"), &log, &mut w).unwrap();
    let (offset, _) = records[3];
    log[offset as usize + 12 + 20] ^= 0x40; // inside the txn header
    std::fs::write(v2.join("log.2a"), &log).unwrap();
    match read_zookeeper_dir(&data) {
        Err(e @ ZkImportError::Log { .. }) => {
            let ZkImportError::Log {
                file, offset: at, ..
            } = &e
            else {
                unreachable!()
            };
            assert_eq!(name_of(file), "log.2a");
            assert_eq!(*at, offset);
            assert!(e.to_string().contains("checksum mismatch"), "{e}");
        }
        other => panic!("expected a log error, got {other:?}"),
    }
}

#[test]
fn torn_last_record_stops_with_a_warning() {
    let (_tmp, data, v2) = scratch();
    let log = fixture_file("log.2a");
    let mut w = Vec::new();
    let records = read_log(Path::new("log.2a"), &log, &mut w).unwrap();
    let (last, _) = *records.last().unwrap();
    let whole = read_zookeeper_dir(&data).unwrap();
    for cut in [last as usize + 5, last as usize + 30] {
        std::fs::write(v2.join("log.2a"), &log[..cut]).unwrap();
        let img = read_zookeeper_dir(&data).unwrap();
        assert_eq!(img.entries.len(), whole.entries.len() - 1);
        assert_eq!(img.entries[..], whole.entries[..whole.entries.len() - 1]);
        assert_eq!(img.warnings.len(), 1, "{:?}", img.warnings);
        assert_eq!(name_of(&img.warnings[0].file), "log.2a");
        assert_eq!(img.warnings[0].offset, last);
    }
    // A missing end marker is a partial write too.
    let mut bad = log.clone();
    let end = records.last().map(|&(o, _)| o as usize).unwrap();
    let len = be_i32(&bad[end + 8..end + 12]) as usize;
    bad[end + 12 + len] = 0;
    std::fs::write(v2.join("log.2a"), &bad).unwrap();
    let img = read_zookeeper_dir(&data).unwrap();
    assert_eq!(img.entries.len(), whole.entries.len() - 1);
    assert!(img.warnings[0].message.contains("end marker"));
}

#[test]
fn truncated_snapshot_falls_back_or_fails() {
    // With snapshot.0 and every log present, ZooKeeper (and the import) use the older one.
    let (_tmp, data, v2) = scratch();
    let snap = fixture_file("snapshot.28");
    std::fs::write(v2.join("snapshot.28"), &snap[..snap.len() / 2]).unwrap();
    let img = read_zookeeper_dir(&data).unwrap();
    assert_eq!(name_of(img.snapshot.as_deref().unwrap()), "snapshot.0");
    assert_eq!(img.warnings.len(), 1);
    assert_eq!(name_of(&img.warnings[0].file), "snapshot.28");
    let mut tree = DataTree::new();
    replay(&mut tree, &img.entries, None);
    assert_same(&observe(&tree), &expected().0);

    // Without them there is nothing to fall back to.
    std::fs::remove_file(v2.join("snapshot.0")).unwrap();
    std::fs::remove_file(v2.join("log.1")).unwrap();
    let e = read_zookeeper_dir(&data).unwrap_err();
    assert!(matches!(e, ZkImportError::NoValidSnapshot { .. }), "{e:?}");
    assert!(e.to_string().contains("snapshot.28"), "{e}");

    // A flipped byte in a node's data fails the checksum of the first seal, which sits
    // before the digest section (20 bytes) and its own seal (13 bytes).
    let at = snap.windows(8).position(|w| w == b"hello v2").unwrap();
    let mut flipped = snap.clone();
    flipped[at] ^= 1;
    match read_snapshot(Path::new("snapshot.28"), &flipped, &mut Vec::new()) {
        Err(ZkImportError::Snapshot { reason, offset, .. }) => {
            assert!(reason.contains("checksum mismatch"), "{reason}");
            assert_eq!(offset as usize, snap.len() - 13 - 20 - 13);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn garbage_snapshot_files_are_skipped_with_warnings() {
    let (_tmp, data, v2) = scratch();
    let pristine = read_zookeeper_dir(&data).unwrap();
    std::fs::write(v2.join("snapshot.100"), b"this is not a snapshot at all").unwrap();
    std::fs::write(v2.join("snapshot.nothex"), b"junk").unwrap();
    // Ends like a seal, so it is parsed, and fails on the magic.
    std::fs::write(v2.join("snapshot.200"), b"garbage garbage\0\0\0\x01/").unwrap();
    let img = read_zookeeper_dir(&data).unwrap();
    assert_eq!(img.snapshot, pristine.snapshot);
    assert_eq!(img.entries, pristine.entries);
    let mut warned: Vec<&str> = img.warnings.iter().map(|w| name_of(&w.file)).collect();
    warned.sort();
    assert_eq!(warned, ["snapshot.100", "snapshot.200", "snapshot.nothex"]);
    let magic = img
        .warnings
        .iter()
        .find(|w| name_of(&w.file) == "snapshot.200");
    assert!(magic.unwrap().message.contains("magic"));
}

#[test]
fn gaps_after_the_snapshot_are_errors() {
    let (_tmp, data, v2) = scratch();
    std::fs::remove_file(v2.join("snapshot.28")).unwrap();
    std::fs::remove_file(v2.join("log.1")).unwrap();
    match read_zookeeper_dir(&data).unwrap_err() {
        ZkImportError::Gap {
            file,
            offset,
            expected,
            found,
        } => {
            assert_eq!(name_of(&file), "log.2a");
            assert_eq!(offset, FILE_HEADER_LEN as u64);
            assert_eq!((expected, found), (Zxid(1), Zxid(0x2a)));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_snapshot_means_the_whole_log() {
    let (_tmp, data, v2) = scratch();
    std::fs::remove_file(v2.join("snapshot.28")).unwrap();
    std::fs::remove_file(v2.join("snapshot.0")).unwrap();
    let img = read_zookeeper_dir(&data).unwrap();
    assert_eq!((img.snapshot, img.snapshot_zxid), (None, Zxid::ZERO));
    assert!(img.nodes.is_empty() && img.sessions.is_empty() && img.digest.is_none());
    assert_eq!(img.entries[0].hdr.zxid, Zxid(1));
    let mut tree = DataTree::new();
    replay(&mut tree, &img.entries, None);
    assert_same(&observe(&tree), &expected().0);

    // An empty version-2 directory is an empty image.
    for f in ["log.1", "log.2a"] {
        std::fs::remove_file(v2.join(f)).unwrap();
    }
    let img = read_zookeeper_dir(&data).unwrap();
    assert!(img.entries.is_empty() && img.nodes.is_empty());
}

#[test]
fn errors_name_file_and_offset() {
    let e = read_snapshot(Path::new("/x/snapshot.5"), b"short", &mut Vec::new()).unwrap_err();
    assert!(e.to_string().contains("/x/snapshot.5 at offset 5"), "{e}");
    let mut bad = fixture_file("log.1");
    bad[0] = b'X';
    let e = read_log(Path::new("/x/log.1"), &bad, &mut Vec::new()).unwrap_err();
    assert!(e.to_string().contains("/x/log.1 at offset 0"), "{e}");
}

fn mutate(base: &[u8], edits: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    let mut b = base.to_vec();
    for &(at, x) in edits {
        if !b.is_empty() {
            let i = at % b.len();
            b[i] ^= x;
        }
    }
    if let Some(c) = cut {
        b.truncate(c % (b.len() + 1));
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let _ = read_snapshot(Path::new("snapshot.1"), &b, &mut Vec::new());
        let _ = read_log(Path::new("log.1"), &b, &mut Vec::new());
        let _ = unsnappy(Path::new("snapshot.1.snappy"), &b);
        let mut z = SNAPPY_MAGIC.to_vec();
        z.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        z.extend_from_slice(&b);
        let _ = unsnappy(Path::new("snapshot.1.snappy"), &z);
        // With a valid-looking frame around them.
        let mut s = SNAP_MAGIC.to_be_bytes().to_vec();
        s.extend_from_slice(&b);
        s.extend_from_slice(&[0, 0, 0, 1, b'/']);
        let _ = read_snapshot(Path::new("snapshot.1"), &s, &mut Vec::new());
        let mut l = LOG_MAGIC.to_be_bytes().to_vec();
        l.extend_from_slice(&2i32.to_be_bytes());
        l.extend_from_slice(&[0; 8]);
        l.extend_from_slice(&b);
        let _ = read_log(Path::new("log.1"), &l, &mut Vec::new());
    }

    #[test]
    fn mutated_fixture_files_never_panic(
        edits in proptest::collection::vec((any::<usize>(), 1u8..), 0..4),
        cut in proptest::option::of(any::<usize>()),
    ) {
        for name in ["snapshot.28", "snapshot.0"] {
            let b = mutate(&fixture_file(name), &edits, cut);
            let _ = read_snapshot(Path::new(name), &b, &mut Vec::new());
        }
        for (dir, name) in COMPRESSED.into_iter().zip(["snapshot.1f.gz", "snapshot.19.snappy"]) {
            let path = fixture_dir(dir).join("data").join(VERSION_DIR).join(name);
            let b = mutate(&std::fs::read(path).unwrap(), &edits, cut);
            let _ = gunzip(Path::new(name), &b).and_then(|u| read_snapshot(Path::new(name), &u, &mut Vec::new()));
            let _ = unsnappy(Path::new(name), &b).and_then(|u| read_snapshot(Path::new(name), &u, &mut Vec::new()));
        }
        for name in ["log.1", "log.2a"] {
            let b = mutate(&fixture_file(name), &edits, cut);
            let _ = read_log(Path::new(name), &b, &mut Vec::new());
        }
    }
}

/// The recording exercises every kind of txn the import must carry.
#[test]
fn the_fixture_covers_every_txn_kind() {
    use corral_core::txn::txn_op::*;
    let img = read_zookeeper_dir(&fixture().join("data")).unwrap();
    let after: BTreeSet<i32> = img.entries.iter().map(|e| e.hdr.op).collect();
    let want = [
        SET_DATA,
        DELETE,
        CREATE,
        MULTI,
        DELETE_CONTAINER,
        CLOSE_SESSION,
        SET_ACL,
        ERROR,
    ];
    assert_eq!(after, want.into_iter().collect());
    let failed_multi = img.entries.iter().any(|e| match &e.txn {
        corral_core::txn::Txn::Multi(subs) => subs
            .iter()
            .any(|t| matches!(t, corral_core::txn::Txn::Error { .. })),
        _ => false,
    });
    assert!(failed_multi);

    let (_tmp, data, v2) = scratch();
    std::fs::remove_file(v2.join("snapshot.28")).unwrap();
    let all: BTreeSet<i32> = read_zookeeper_dir(&data)
        .unwrap()
        .entries
        .iter()
        .map(|e| e.hdr.op)
        .collect();
    for op in [CREATE_SESSION, CREATE_CONTAINER, CREATE_TTL] {
        assert!(all.contains(&op), "op {op}");
    }
}
