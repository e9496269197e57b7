use proptest::prelude::*;

use super::*;
use crate::txn::arb;

fn hdr(op: i32) -> TxnHeader {
    TxnHeader {
        session: SessionId(0x11),
        cxid: 7,
        zxid: Zxid(0x1_0000_0004),
        time: 1234,
        op,
    }
}

#[test]
fn header_layout() {
    let b = hdr(-1).to_bytes();
    assert_eq!(b.len(), 8 + 4 + 8 + 8 + 4);
    assert_eq!(&b[..8], &0x11i64.to_be_bytes());
    assert_eq!(&b[8..12], &7i32.to_be_bytes());
    assert_eq!(&b[12..20], &0x1_0000_0004i64.to_be_bytes());
    assert_eq!(&b[28..], &(-1i32).to_be_bytes());
    assert_eq!(TxnHeader::from_bytes(&b).unwrap(), hdr(-1));
}

#[test]
fn error_txn_layout_matches_zookeeper() {
    // A NodeExists create logged as type -1, err -110 (reference §13.2).
    let e = LogEntry {
        hdr: hdr(-1),
        txn: Txn::Error {
            err: ErrorCode::NodeExists,
        },
    };
    let b = e.to_bytes();
    assert_eq!(&b[32..], &(-110i32).to_be_bytes());
    assert_eq!(LogEntry::from_bytes(&b).unwrap(), e);
}

#[test]
fn create_txn_layout() {
    let e = LogEntry {
        hdr: hdr(1),
        txn: Txn::Create {
            path: "/a".into(),
            data: Some(b"xy".to_vec()),
            acl: Acl::open_unsafe(),
            kind: CreateKind::Ephemeral(SessionId(0x11)),
            parent_cversion: 3,
        },
    };
    let b = e.to_bytes();
    let mut w = JuteWriter::new();
    hdr(1).write(&mut w);
    w.write_string("/a");
    w.write_buffer(Some(b"xy"));
    write_acls(&mut w, &Acl::open_unsafe());
    w.write_bool(true);
    w.write_i32(3);
    assert_eq!(b, w.into_inner());
    assert_eq!(LogEntry::from_bytes(&b).unwrap(), e);
}

#[test]
fn ttl_and_container_layouts() {
    let ttl = Txn::Create {
        path: "/t".into(),
        data: None,
        acl: vec![],
        kind: CreateKind::Ttl(500),
        parent_cversion: 1,
    };
    let b = LogEntry {
        hdr: hdr(21),
        txn: ttl.clone(),
    }
    .to_bytes();
    // ..., parentCVersion, ttl at the very end; null data is -1.
    assert_eq!(&b[b.len() - 12..], &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0xf4]);
    assert_eq!(&b[32 + 6..32 + 10], &(-1i32).to_be_bytes());
    assert_eq!(LogEntry::from_bytes(&b).unwrap().txn, ttl);
    let c = Txn::Create {
        path: "/c".into(),
        data: None,
        acl: vec![],
        kind: CreateKind::Container,
        parent_cversion: 9,
    };
    let b = LogEntry {
        hdr: hdr(19),
        txn: c.clone(),
    }
    .to_bytes();
    assert_eq!(&b[b.len() - 4..], &9i32.to_be_bytes());
    assert_eq!(LogEntry::from_bytes(&b).unwrap().txn, c);
}

#[test]
fn multi_layout() {
    let subs = vec![
        Txn::Delete { path: "/a".into() },
        Txn::Error { err: ErrorCode::Ok },
    ];
    let e = LogEntry {
        hdr: hdr(14),
        txn: Txn::Multi(subs),
    };
    let b = e.to_bytes();
    let mut w = JuteWriter::new();
    hdr(14).write(&mut w);
    w.write_i32(2);
    w.write_i32(2);
    w.write_buffer(Some(&[0, 0, 0, 2, b'/', b'a']));
    w.write_i32(-1);
    w.write_buffer(Some(&[0, 0, 0, 0]));
    assert_eq!(b, w.into_inner());
    assert_eq!(LogEntry::from_bytes(&b).unwrap(), e);
}

#[test]
fn zookeeper_aliases_and_digest_suffix() {
    // create2 (15) decodes as a create, reconfig (16) as a setData; the header keeps its op.
    let c = Txn::Create {
        path: "/a".into(),
        data: None,
        acl: vec![],
        kind: CreateKind::Persistent,
        parent_cversion: 1,
    };
    let e = LogEntry {
        hdr: hdr(15),
        txn: c,
    };
    assert_eq!(LogEntry::from_bytes(&e.to_bytes()).unwrap(), e);
    let s = LogEntry {
        hdr: hdr(16),
        txn: Txn::SetData {
            path: "/zookeeper/config".into(),
            data: None,
            version: 1,
        },
    };
    assert_eq!(LogEntry::from_bytes(&s.to_bytes()).unwrap(), s);
    // A trailing TxnDigest {int version; long digest} is ignored.
    let mut b = s.to_bytes();
    b.extend_from_slice(&2i32.to_be_bytes());
    b.extend_from_slice(&77i64.to_be_bytes());
    assert_eq!(LogEntry::from_bytes(&b).unwrap(), s);
    // Any other trailer is an error.
    b.push(0);
    assert!(LogEntry::from_bytes(&b).is_err());
}

#[test]
fn rejects_bad_bodies() {
    // Unknown type.
    assert_eq!(
        LogEntry::from_bytes(&hdr(99).to_bytes()),
        Err(JuteError::BadValue("txn type", 99))
    );
    // Unknown error code.
    let mut b = hdr(-1).to_bytes();
    b.extend_from_slice(&(-9i32).to_be_bytes());
    assert_eq!(
        LogEntry::from_bytes(&b),
        Err(JuteError::BadValue("error code", -9))
    );
    // Null path.
    let mut b = hdr(2).to_bytes();
    b.extend_from_slice(&(-1i32).to_be_bytes());
    assert!(LogEntry::from_bytes(&b).is_err());
    // Session and multi txns are not allowed inside a multi.
    for inner in [Txn::CreateSession { timeout_ms: 1 }, Txn::Multi(vec![])] {
        let e = LogEntry {
            hdr: hdr(14),
            txn: Txn::Multi(vec![inner]),
        };
        assert!(LogEntry::from_bytes(&e.to_bytes()).is_err());
    }
    // Truncation anywhere is an error.
    let e = LogEntry {
        hdr: hdr(7),
        txn: Txn::SetAcl {
            path: "/x".into(),
            acl: Acl::open_unsafe(),
            version: 2,
        },
    };
    let b = e.to_bytes();
    for n in 0..b.len() {
        assert!(LogEntry::from_bytes(&b[..n]).is_err(), "prefix {n}");
    }
}

#[test]
fn op_codes() {
    let p = |kind| Txn::Create {
        path: String::new(),
        data: None,
        acl: vec![],
        kind,
        parent_cversion: 0,
    };
    assert_eq!(p(CreateKind::Persistent).op(), 1);
    assert_eq!(p(CreateKind::Ephemeral(SessionId(3))).op(), 1);
    assert_eq!(p(CreateKind::Container).op(), 19);
    assert_eq!(p(CreateKind::Ttl(5)).op(), 21);
    assert_eq!(
        Txn::Delete {
            path: String::new()
        }
        .op(),
        2
    );
    assert_eq!(
        Txn::DeleteContainer {
            path: String::new()
        }
        .op(),
        20
    );
    assert_eq!(
        Txn::SetData {
            path: String::new(),
            data: None,
            version: 0
        }
        .op(),
        5
    );
    assert_eq!(
        Txn::SetAcl {
            path: String::new(),
            acl: vec![],
            version: 0
        }
        .op(),
        7
    );
    assert_eq!(
        Txn::Check {
            path: String::new(),
            version: 0
        }
        .op(),
        13
    );
    assert_eq!(Txn::Multi(vec![]).op(), 14);
    assert_eq!(Txn::CreateSession { timeout_ms: 0 }.op(), -10);
    assert_eq!(Txn::CloseSession { ephemerals: vec![] }.op(), -11);
    assert_eq!(
        Txn::Error {
            err: ErrorCode::NoNode
        }
        .op(),
        -1
    );
    assert!(p(CreateKind::Persistent).fits_header_op(15));
    assert!(!p(CreateKind::Container).fits_header_op(15));
}

proptest! {
    #[test]
    fn round_trip(e in arb::log_entry()) {
        let b = e.to_bytes();
        prop_assert_eq!(LogEntry::from_bytes(&b).unwrap(), e);
    }

    #[test]
    fn garbage_never_panics(b in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = LogEntry::from_bytes(&b);
    }

    #[test]
    fn mutated_entries_never_panic(e in arb::log_entry(), idx in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut b = e.to_bytes();
        let i = idx.index(b.len());
        b[i] = byte;
        if let Ok(d) = LogEntry::from_bytes(&b) {
            // Whatever decodes must re-encode to something that decodes the same.
            if d.txn.fits_header_op(d.hdr.op) {
                prop_assert_eq!(LogEntry::from_bytes(&d.to_bytes()).unwrap(), d);
            }
        }
    }
}
