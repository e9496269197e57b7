//! `corral data ...`: offline tools over a data directory (inspect, verify, repair) and the
//! import of a ZooKeeper 3.8 data directory. See docs/storage.md.

mod import;
pub mod inspect;
pub mod repair;
pub mod verify;

pub use import::import_zookeeper;
pub use inspect::inspect;
pub use repair::repair;
pub use verify::verify;

use std::path::{Path, PathBuf};

use corral_core::txn::{LogEntry, Txn};

/// The data directories a tool works on.
#[derive(Clone, Debug)]
pub struct Dirs {
    /// dataDir (snapshots).
    pub data: PathBuf,
    /// dataLogDir (log segments); the same as `data` unless given.
    pub log: PathBuf,
}

impl Dirs {
    pub fn new(data: &Path, log: Option<&Path>) -> Dirs {
        Dirs {
            data: data.to_owned(),
            log: log.unwrap_or(data).to_owned(),
        }
    }
}

/// One line describing a log entry, in the spirit of ZooKeeper's TxnLogToolkit.
pub fn describe(e: &LogEntry) -> String {
    format!(
        "zxid {} session {} cxid {:#x} time {} {}",
        e.hdr.zxid,
        e.hdr.session,
        e.hdr.cxid,
        e.hdr.time,
        describe_txn(&e.txn)
    )
}

fn describe_txn(t: &Txn) -> String {
    let data = |d: &Option<Vec<u8>>| {
        d.as_ref()
            .map_or("null".to_owned(), |d| format!("{} bytes", d.len()))
    };
    match t {
        Txn::Create {
            path,
            data: d,
            kind,
            ..
        } => format!("create {path} {kind:?} data {}", data(d)),
        Txn::Delete { path } => format!("delete {path}"),
        Txn::DeleteContainer { path } => format!("deleteContainer {path}"),
        Txn::SetData {
            path,
            data: d,
            version,
        } => {
            format!("setData {path} version {version} data {}", data(d))
        }
        Txn::SetAcl { path, acl, version } => format!("setACL {path} version {version} {acl:?}"),
        Txn::Check { path, version } => format!("check {path} version {version}"),
        Txn::CreateSession { timeout_ms } => format!("createSession timeout {timeout_ms} ms"),
        Txn::CloseSession { ephemerals } => format!("closeSession ephemerals {ephemerals:?}"),
        Txn::Error { err } => format!("error {err:?}"),
        Txn::Multi(ops) => format!(
            "multi [{}]",
            ops.iter().map(describe_txn).collect::<Vec<_>>().join("; ")
        ),
    }
}

#[cfg(test)]
mod tests;
