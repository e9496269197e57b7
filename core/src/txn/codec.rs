//! Jute encoding of log entries, byte-compatible with ZooKeeper's `org.apache.zookeeper.txn`
//! records (reference §13.2): `TxnHeader ++ body`, where the header's type decides the body.
//!
//! Bodies: CreateTxn {path, data, acl, ephemeral, parentCVersion} (1, and create2 = 15);
//! CreateContainerTxn {path, data, acl, parentCVersion} (19); CreateTTLTxn {path, data,
//! acl, parentCVersion, ttl} (21); DeleteTxn {path} (2, 20); SetDataTxn {path, data,
//! version} (5, and reconfig = 16); SetACLTxn {path, acl, version} (7); CheckVersionTxn
//! {path, version} (13); CreateSessionTxn {timeOut} (-10); CloseSessionTxn {paths} (-11);
//! ErrorTxn {err} (-1); MultiTxn {vector<Txn{int type; buffer data}>} (14).
//!
//! An ephemeral create carries only a flag: its owner is the header's session. Decoding
//! never panics; anything malformed is a [`JuteError`]. A trailing 12-byte `TxnDigest`
//! (which ZooKeeper appends) is accepted and ignored; Corral never writes one.

use super::{txn_op, CreateKind, LogEntry, Txn, TxnHeader};
use crate::error::ErrorCode;
use crate::jute::{JuteError, JuteReader, JuteResult, JuteWriter, Record};
use crate::proto::data::{read_acls, write_acls, Acl};
use crate::types::{SessionId, Zxid};

/// Encoded size of a `TxnDigest {int version; long treeDigest}`.
const TXN_DIGEST_LEN: usize = 12;

impl Record for TxnHeader {
    fn write(&self, w: &mut JuteWriter) {
        w.write_i64(self.session.0);
        w.write_i32(self.cxid);
        w.write_i64(self.zxid.0);
        w.write_i64(self.time);
        w.write_i32(self.op);
    }

    fn read(r: &mut JuteReader<'_>) -> JuteResult<Self> {
        Ok(TxnHeader {
            session: SessionId(r.read_i64()?),
            cxid: r.read_i32()?,
            zxid: Zxid(r.read_i64()?),
            time: r.read_i64()?,
            op: r.read_i32()?,
        })
    }
}

impl LogEntry {
    /// Encode as `TxnHeader ++ txn record`, the bytes ZooKeeper puts in a log record.
    ///
    /// The header is written as is; `hdr.op` must fit the txn
    /// ([`Txn::fits_header_op`]) and an ephemeral create must be owned by `hdr.session`,
    /// otherwise the entry would not decode back to itself (checked in debug builds).
    pub fn to_bytes(&self) -> Vec<u8> {
        debug_assert!(
            self.txn.fits_header_op(self.hdr.op),
            "header op {} does not fit txn {:?}",
            self.hdr.op,
            self.txn
        );
        let mut w = JuteWriter::new();
        self.hdr.write(&mut w);
        write_body(&mut w, &self.txn, self.hdr.session);
        w.into_inner()
    }

    /// Decode one entry from exactly `b` (optionally followed by a ZooKeeper `TxnDigest`).
    pub fn from_bytes(b: &[u8]) -> JuteResult<LogEntry> {
        let mut r = JuteReader::new(b);
        let hdr = TxnHeader::read(&mut r)?;
        let txn = read_body(&mut r, hdr.op, hdr.session, true)?;
        if r.remaining() == TXN_DIGEST_LEN {
            r.read_i32()?;
            r.read_i64()?;
        }
        r.finish()?;
        Ok(LogEntry { hdr, txn })
    }
}

/// Append the record of `txn` (not its type).
fn write_body(w: &mut JuteWriter, txn: &Txn, session: SessionId) {
    match txn {
        Txn::Create {
            path,
            data,
            acl,
            kind,
            parent_cversion,
        } => {
            w.write_string(path);
            w.write_buffer(data.as_deref());
            write_acls(w, acl);
            match *kind {
                CreateKind::Persistent => {
                    w.write_bool(false);
                    w.write_i32(*parent_cversion);
                }
                CreateKind::Ephemeral(owner) => {
                    debug_assert_eq!(owner, session, "ephemeral owner must be the header session");
                    w.write_bool(true);
                    w.write_i32(*parent_cversion);
                }
                CreateKind::Container => w.write_i32(*parent_cversion),
                CreateKind::Ttl(ttl) => {
                    w.write_i32(*parent_cversion);
                    w.write_i64(ttl);
                }
            }
        }
        Txn::Delete { path } | Txn::DeleteContainer { path } => w.write_string(path),
        Txn::SetData {
            path,
            data,
            version,
        } => {
            w.write_string(path);
            w.write_buffer(data.as_deref());
            w.write_i32(*version);
        }
        Txn::SetAcl { path, acl, version } => {
            w.write_string(path);
            write_acls(w, acl);
            w.write_i32(*version);
        }
        Txn::Check { path, version } => {
            w.write_string(path);
            w.write_i32(*version);
        }
        Txn::CreateSession { timeout_ms } => w.write_i32(*timeout_ms),
        Txn::CloseSession { ephemerals } => w.write_string_vec(ephemerals),
        Txn::Error { err } => w.write_i32(err.code()),
        Txn::Multi(subs) => {
            w.write_i32(subs.len() as i32);
            for sub in subs {
                let mut body = JuteWriter::new();
                write_body(&mut body, sub, session);
                w.write_i32(sub.op());
                w.write_buffer(Some(&body.into_inner()));
            }
        }
    }
}

/// Read the record for header type `op`. Multi is allowed only at the top level, and its
/// sub-txns only of the types ZooKeeper's `processTxn` accepts inside a multi.
fn read_body(r: &mut JuteReader<'_>, op: i32, session: SessionId, top: bool) -> JuteResult<Txn> {
    let txn = match op {
        txn_op::CREATE | txn_op::CREATE2 => {
            let (path, data, acl) = read_create_head(r)?;
            let ephemeral = r.read_bool()?;
            let parent_cversion = r.read_i32()?;
            let kind = if ephemeral {
                CreateKind::Ephemeral(session)
            } else {
                CreateKind::Persistent
            };
            Txn::Create {
                path,
                data,
                acl,
                kind,
                parent_cversion,
            }
        }
        txn_op::CREATE_CONTAINER => {
            let (path, data, acl) = read_create_head(r)?;
            let parent_cversion = r.read_i32()?;
            Txn::Create {
                path,
                data,
                acl,
                kind: CreateKind::Container,
                parent_cversion,
            }
        }
        txn_op::CREATE_TTL => {
            let (path, data, acl) = read_create_head(r)?;
            let parent_cversion = r.read_i32()?;
            let ttl = r.read_i64()?;
            Txn::Create {
                path,
                data,
                acl,
                kind: CreateKind::Ttl(ttl),
                parent_cversion,
            }
        }
        txn_op::DELETE => Txn::Delete {
            path: r.read_string("path")?,
        },
        txn_op::DELETE_CONTAINER => Txn::DeleteContainer {
            path: r.read_string("path")?,
        },
        txn_op::SET_DATA | txn_op::RECONFIG => Txn::SetData {
            path: r.read_string("path")?,
            data: r.read_buffer()?,
            version: r.read_i32()?,
        },
        txn_op::CHECK => Txn::Check {
            path: r.read_string("path")?,
            version: r.read_i32()?,
        },
        txn_op::ERROR => {
            let code = r.read_i32()?;
            let err =
                ErrorCode::from_code(code).ok_or(JuteError::BadValue("error code", code as i64))?;
            Txn::Error { err }
        }
        txn_op::SET_ACL if top => Txn::SetAcl {
            path: r.read_string("path")?,
            acl: read_acl_vec(r)?,
            version: r.read_i32()?,
        },
        txn_op::CREATE_SESSION if top => Txn::CreateSession {
            timeout_ms: r.read_i32()?,
        },
        txn_op::CLOSE_SESSION if top => Txn::CloseSession {
            ephemerals: r.read_string_vec("path")?,
        },
        txn_op::MULTI if top => {
            // Each element is at least an int type and a buffer length.
            let subs = r.read_vec(8, |r| {
                let op = r.read_i32()?;
                let body = r
                    .read_buffer()?
                    .ok_or(JuteError::UnexpectedNull("multi sub-txn"))?;
                let mut sub = JuteReader::new(&body);
                let txn = read_body(&mut sub, op, session, false)?;
                sub.finish()?;
                Ok(txn)
            })?;
            Txn::Multi(subs.unwrap_or_default())
        }
        other => return Err(JuteError::BadValue("txn type", other as i64)),
    };
    Ok(txn)
}

/// `path, data, acl`: the fields every create record starts with.
fn read_create_head(r: &mut JuteReader<'_>) -> JuteResult<(String, Option<Vec<u8>>, Vec<Acl>)> {
    let path = r.read_string("path")?;
    let data = r.read_buffer()?;
    let acl = read_acl_vec(r)?;
    Ok((path, data, acl))
}

/// A `vector<ACL>`; null reads as empty (ZooKeeper maps a null list to its open ACL slot;
/// Corral never writes one).
fn read_acl_vec(r: &mut JuteReader<'_>) -> JuteResult<Vec<Acl>> {
    Ok(read_acls(r)?.unwrap_or_default())
}

#[cfg(test)]
mod tests;
