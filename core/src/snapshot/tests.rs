use proptest::prelude::*;

use super::*;
use crate::txn::{arb, TxnHeader};

fn entry(session: i64, zxid: i64, txn: Txn) -> LogEntry {
    LogEntry {
        hdr: TxnHeader {
            session: SessionId(session),
            cxid: 1,
            zxid: Zxid(zxid),
            time: 1000 + zxid,
            op: txn.op(),
        },
        txn,
    }
}

fn create(path: &str, data: &[u8]) -> Txn {
    Txn::Create {
        path: path.into(),
        data: Some(data.to_vec()),
        acl: Acl::open_unsafe(),
        kind: crate::txn::CreateKind::Persistent,
        parent_cversion: 1,
    }
}

/// A small image with a session, an ephemeral, nested nodes and null data.
fn sample() -> Image {
    let mut img = Image::new();
    img.apply(&entry(7, 1, Txn::CreateSession { timeout_ms: 4000 }));
    img.apply(&entry(7, 2, create("/a", b"hello")));
    img.apply(&entry(7, 3, create("/a/b", b"")));
    img.apply(&entry(
        7,
        4,
        Txn::Create {
            path: "/e".into(),
            data: None,
            acl: Acl::open_unsafe(),
            kind: crate::txn::CreateKind::Ephemeral(SessionId(7)),
            parent_cversion: 2,
        },
    ));
    img
}

/// Everything observable about an image, for equality checks.
type Contents<'a> = (
    Header,
    Vec<(String, crate::tree::Node<'a>)>,
    Vec<(SessionId, i32)>,
);

fn contents(img: &Image) -> Contents<'_> {
    let nodes = img.tree.walk().collect();
    let sessions = img.sessions.iter().map(|(s, t)| (*s, *t)).collect();
    (img.header(), nodes, sessions)
}

#[test]
fn round_trip_keeps_everything() {
    let img = sample();
    let bytes = to_bytes(&img);
    let back = read(&bytes).unwrap();
    assert_eq!(contents(&back), contents(&img));
    assert_eq!(back.tree.ephemerals(SessionId(7)), vec!["/e".to_owned()]);
    assert_eq!(back.tree.node("/e").unwrap().data, None);
    assert_eq!(
        back.tree.approximate_data_size(),
        img.tree.approximate_data_size()
    );
    assert_eq!(to_bytes(&back), bytes, "equal images give equal bytes");
}

#[test]
fn every_flipped_byte_is_detected() {
    let bytes = to_bytes(&sample());
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x10;
        assert!(read(&bad).is_err(), "flipping byte {i} went unnoticed");
    }
}

#[test]
fn every_truncation_is_detected() {
    let bytes = to_bytes(&sample());
    for len in 0..bytes.len() {
        let e = read(&bytes[..len]).expect_err("a cut snapshot must not load");
        assert!(e.offset <= len as u64, "{e} for length {len}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(read(&longer).is_err(), "trailing bytes must be refused");
}

#[test]
fn big_images_span_several_blocks_and_reordering_is_caught() {
    let mut img = Image::new();
    img.apply(&entry(0, 1, create("/big", b"")));
    let data = vec![0xabu8; 4096];
    for i in 0..600 {
        let mut d = data.clone();
        d[..8].copy_from_slice(&(i as u64).to_be_bytes());
        img.apply(&entry(0, 2 + i, create(&format!("/big/n{i:04}"), &d)));
    }
    let bytes = to_bytes(&img);
    // Find the block boundaries.
    let mut blocks = Vec::new();
    let mut pos = HEADER_LEN;
    loop {
        let raw = be_u32(&bytes, pos);
        let stored = be_u32(&bytes, pos + 4) as usize;
        if raw == 0 {
            break;
        }
        blocks.push(pos..pos + BLOCK_HEADER_LEN + stored);
        pos += BLOCK_HEADER_LEN + stored;
    }
    assert!(
        blocks.len() >= 2,
        "2.4 MB of records must need several blocks"
    );
    assert_eq!(contents(&read(&bytes).unwrap()), contents(&img));
    // Swap the first two blocks: each is intact, the chain is not.
    let mut swapped = bytes[..HEADER_LEN].to_vec();
    swapped.extend_from_slice(&bytes[blocks[1].clone()]);
    swapped.extend_from_slice(&bytes[blocks[0].clone()]);
    swapped.extend_from_slice(&bytes[blocks[1].end..]);
    assert!(read(&swapped).is_err());
    // Drop the last block: the end record no longer matches.
    let last = blocks.last().unwrap().clone();
    let mut dropped = bytes[..last.start].to_vec();
    dropped.extend_from_slice(&bytes[last.end..]);
    assert!(read(&dropped).is_err());
}

#[test]
fn a_tampered_digest_is_refused_even_with_a_valid_header_crc() {
    let img = sample();
    let mut bytes = to_bytes(&img);
    let digest = be_u64(&bytes, 16) ^ 1;
    bytes[16..24].copy_from_slice(&digest.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[..40]);
    bytes[40..44].copy_from_slice(&crc.to_be_bytes());
    let e = read(&bytes).unwrap_err();
    assert!(e.reason.contains("digest"), "{e}");
}

#[test]
fn nodes_out_of_order_are_refused() {
    let mut loader = DataTree::loader();
    assert!(loader
        .insert(
            "/a".into(),
            None,
            &Acl::open_unsafe(),
            StatPersisted::default()
        )
        .is_err());
    loader
        .insert(
            "/".into(),
            None,
            &Acl::open_unsafe(),
            StatPersisted::default(),
        )
        .unwrap();
    assert!(loader
        .insert(
            "/a/b".into(),
            None,
            &Acl::open_unsafe(),
            StatPersisted::default()
        )
        .is_err());
    assert!(loader
        .insert(
            "/".into(),
            None,
            &Acl::open_unsafe(),
            StatPersisted::default()
        )
        .is_err());
    assert!(loader
        .insert(
            "bad".into(),
            None,
            &Acl::open_unsafe(),
            StatPersisted::default()
        )
        .is_err());
}

fn history() -> impl Strategy<Value = Vec<(i64, Txn)>> {
    let one = prop::sample::select(vec![0i64, 5, 6])
        .prop_flat_map(|s| arb::txn(SessionId(s)).prop_map(move |t| (s, t)));
    prop::collection::vec(one, 0..60)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any image replay can produce survives a snapshot round trip unchanged, and replaying
    /// the rest of the history on the loaded image ends where replaying all of it does.
    #[test]
    fn snapshot_then_replay_equals_replay(txns in history(), cut in 0usize..60) {
        let entries: Vec<LogEntry> = txns
            .into_iter()
            .enumerate()
            .map(|(i, (s, t))| entry(s, i as i64 + 1, t))
            .collect();
        let cut = cut.min(entries.len());
        let mut full = Image::new();
        for e in &entries {
            full.apply(e);
        }
        let mut head = Image::new();
        for e in &entries[..cut] {
            head.apply(e);
        }
        let bytes = to_bytes(&head);
        let mut loaded = read(&bytes).unwrap();
        prop_assert_eq!(contents(&loaded), contents(&head));
        for e in &entries[cut..] {
            loaded.apply(e);
        }
        prop_assert_eq!(contents(&loaded), contents(&full));
    }

    /// Arbitrary bytes never panic the reader.
    #[test]
    fn garbage_never_panics(mut bytes in prop::collection::vec(any::<u8>(), 0..300), magic in any::<bool>()) {
        if magic && bytes.len() >= 8 {
            bytes[..4].copy_from_slice(&MAGIC);
            bytes[4..8].copy_from_slice(&VERSION.to_be_bytes());
        }
        let _ = read(&bytes);
    }
}

mod delta {
    use super::super::{merge, path_order, to_bytes, Delta, Image, MergeError};
    use crate::proto::data::Acl;
    use crate::tree::DataTree;
    use crate::txn::{CreateKind, Txn, TxnHeader};
    use crate::types::{SessionId, Zxid};

    fn create(t: &mut DataTree, zxid: i64, path: &str, cversion: i32) {
        let txn = Txn::Create {
            path: path.into(),
            data: Some(path.as_bytes().to_vec()),
            acl: Acl::open_unsafe(),
            kind: CreateKind::Persistent,
            parent_cversion: cversion,
        };
        let hdr = TxnHeader {
            session: SessionId(1),
            cxid: 0,
            zxid: Zxid(zxid),
            time: zxid,
            op: 1,
        };
        t.apply(&hdr, &txn);
    }

    fn image(t: &DataTree) -> Image {
        Image {
            tree: t.clone(),
            sessions: [(SessionId(7), 4000)].into_iter().collect(),
        }
    }

    fn delta(t: &mut DataTree, base: Zxid) -> Delta {
        let paths = t.take_changes().unwrap();
        Delta {
            base,
            header: image(t).header(),
            sessions: vec![(SessionId(7), 4000)],
            changes: t.export_changes(&paths),
        }
    }

    #[test]
    fn path_order_is_preorder_with_siblings_in_byte_order() {
        let mut paths = vec![
            "/a-c",
            "/a/b",
            "/",
            "/a",
            "/a/b/c",
            "/b",
            "/a0",
            "/zookeeper",
        ];
        paths.sort_by(|a, b| path_order(a, b));
        assert_eq!(
            paths,
            [
                "/",
                "/a",
                "/a/b",
                "/a/b/c",
                "/a-c",
                "/a0",
                "/b",
                "/zookeeper"
            ]
        );
    }

    #[test]
    fn merging_a_delta_gives_the_full_snapshot() {
        let mut t = DataTree::new();
        create(&mut t, 1, "/a", 1);
        let base = to_bytes(&image(&t));
        t.track_changes();
        create(&mut t, 2, "/a/b", 1);
        create(&mut t, 3, "/a-c", 2);
        let d = delta(&mut t, Zxid(1));
        let mut out = Vec::new();
        merge(&base, &d, &mut out).unwrap();
        assert_eq!(out, to_bytes(&image(&t)));
    }

    #[test]
    fn a_missed_change_is_a_mismatch_not_a_wrong_snapshot() {
        let mut t = DataTree::new();
        create(&mut t, 1, "/a", 1);
        let base = to_bytes(&image(&t));
        t.track_changes();
        create(&mut t, 2, "/a/b", 1);
        let mut d = delta(&mut t, Zxid(1));
        d.changes.retain(|c| &*c.path != "/a/b");
        let err = merge(&base, &d, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, MergeError::Mismatch(_)), "{err}");
        // A stale parent (its cversion moved) is caught by the digest alone.
        let mut d = delta(&mut t, Zxid(1));
        create(&mut t, 3, "/a/c", 2);
        d = Delta {
            header: image(&t).header(),
            ..d
        };
        let err = merge(&base, &d, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, MergeError::Mismatch(_)), "{err}");
    }

    #[test]
    fn a_delta_against_another_base_is_refused() {
        let mut t = DataTree::new();
        t.track_changes();
        create(&mut t, 1, "/a", 1);
        let base = to_bytes(&image(&t));
        create(&mut t, 2, "/b", 2);
        let d = delta(&mut t, Zxid(0));
        let err = merge(&base, &d, &mut Vec::new()).unwrap_err();
        assert!(
            matches!(
                err,
                MergeError::WrongBase {
                    expected: Zxid(0),
                    found: Zxid(1)
                }
            ),
            "{err}"
        );
    }
}
