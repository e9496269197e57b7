//! Proptest strategies for txns (tests only), shared by the codec and tree tests.

use proptest::prelude::*;

use super::{CreateKind, LogEntry, Txn, TxnHeader};
use crate::error::ErrorCode;
use crate::proto::data::{Acl, Id};
use crate::types::{SessionId, Zxid};

/// Short paths over a tiny alphabet so that random txns often hit existing nodes; some
/// are malformed on purpose.
pub fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 1..4)
            .prop_map(|segs| format!("/{}", segs.join("/"))),
        1 => prop::sample::select(vec!["/", "", "a", "/a/", "//", "/zookeeper", "/zookeeper/quota", "/a/./b"])
            .prop_map(str::to_owned),
        1 => "\\PC{0,6}",
    ]
}

pub fn data() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::weighted(0.9, prop::collection::vec(any::<u8>(), 0..8))
}

pub fn acl() -> impl Strategy<Value = Vec<Acl>> {
    let id = prop_oneof![
        Just(Id::anyone()),
        Just(Id::new("digest", "u:h")),
        Just(Id::new("ip", "10.0.0.0/8")),
        ("[a-z]{0,4}", "[a-z:]{0,6}").prop_map(|(s, i)| Id { scheme: s, id: i }),
    ];
    prop::collection::vec(
        (0..32i32, id).prop_map(|(perms, id)| Acl { perms, id }),
        0..3,
    )
}

pub fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop::sample::select(vec![
        ErrorCode::Ok,
        ErrorCode::NoNode,
        ErrorCode::NodeExists,
        ErrorCode::BadVersion,
        ErrorCode::RuntimeInconsistency,
        ErrorCode::NotEmpty,
    ])
}

pub fn kind(session: SessionId) -> impl Strategy<Value = CreateKind> {
    prop_oneof![
        Just(CreateKind::Persistent),
        Just(CreateKind::Ephemeral(session)),
        Just(CreateKind::Container),
        (1..=super::MAX_TTL).prop_map(CreateKind::Ttl),
    ]
}

/// A txn that may appear inside a multi.
pub fn sub_txn(session: SessionId) -> impl Strategy<Value = Txn> {
    prop_oneof![
        (path(), data(), acl(), kind(session), any::<i32>()).prop_map(
            |(path, data, acl, kind, pc)| {
                Txn::Create {
                    path,
                    data,
                    acl,
                    kind,
                    parent_cversion: pc,
                }
            }
        ),
        path().prop_map(|path| Txn::Delete { path }),
        path().prop_map(|path| Txn::DeleteContainer { path }),
        (path(), data(), any::<i32>()).prop_map(|(path, data, version)| Txn::SetData {
            path,
            data,
            version
        }),
        (path(), any::<i32>()).prop_map(|(path, version)| Txn::Check { path, version }),
        error_code().prop_map(|err| Txn::Error { err }),
    ]
}

/// Any txn the log can hold.
pub fn txn(session: SessionId) -> impl Strategy<Value = Txn> {
    prop_oneof![
        4 => sub_txn(session),
        1 => (path(), acl(), any::<i32>()).prop_map(|(path, acl, version)| Txn::SetAcl { path, acl, version }),
        1 => any::<i32>().prop_map(|timeout_ms| Txn::CreateSession { timeout_ms }),
        1 => prop::collection::vec(path(), 0..4).prop_map(|ephemerals| Txn::CloseSession { ephemerals }),
        1 => prop::collection::vec(sub_txn(session), 0..4).prop_map(Txn::Multi),
    ]
}

/// A log entry whose header fits its txn.
pub fn log_entry() -> impl Strategy<Value = LogEntry> {
    (any::<i64>(), any::<i32>(), any::<i64>(), any::<i64>()).prop_flat_map(
        |(s, cxid, zxid, time)| {
            let session = SessionId(s);
            txn(session).prop_map(move |txn| LogEntry {
                hdr: TxnHeader {
                    session,
                    cxid,
                    zxid: Zxid(zxid),
                    time,
                    op: txn.op(),
                },
                txn,
            })
        },
    )
}
