//! Transactions: the logged and replicated form of every write.
//!
//! A client write is validated against the tree (see `prep`) and turned into one `Txn`
//! with a zxid; applying the same `Txn` sequence to an empty tree always yields the same
//! tree. The jute layout follows ZooKeeper's `org.apache.zookeeper.txn` records so that
//! ZooKeeper logs can be imported.

use crate::error::ErrorCode;
use crate::proto::data::Acl;
use crate::types::{SessionId, Zxid};

/// Transaction header (`TxnHeader`): who asked, which zxid, the leader's wall clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnHeader {
    /// The session that issued the request (0 for server-generated txns).
    pub session: SessionId,
    /// The client's xid (cxid).
    pub cxid: i32,
    pub zxid: Zxid,
    /// Wall-clock ms of the leader (or standalone server) when it prepared the txn.
    pub time: i64,
    /// The txn type (opcode; -1 for an error txn).
    pub op: i32,
}

/// What kind of node a create makes, which decides the stored `ephemeralOwner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateKind {
    Persistent,
    Ephemeral(SessionId),
    Container,
    /// TTL in ms, `0 < ttl <= 2^40 - 1`.
    Ttl(i64),
}

/// Stored `ephemeralOwner` marking a container node.
pub const CONTAINER_EPHEMERAL_OWNER: i64 = i64::MIN;
/// Top byte marking an "extended type" owner; the low 40 bits carry the TTL.
pub const EXTENDED_TYPE_MASK: i64 = 0xff00_0000_0000_0000u64 as i64;
/// Largest TTL accepted (2^40 - 1 ms).
pub const MAX_TTL: i64 = 0xff_ffff_ffff;

impl CreateKind {
    /// The value stored in `StatPersisted.ephemeralOwner`.
    pub fn stored_owner(self) -> i64 {
        match self {
            CreateKind::Persistent => 0,
            CreateKind::Ephemeral(s) => s.0,
            CreateKind::Container => CONTAINER_EPHEMERAL_OWNER,
            CreateKind::Ttl(ttl) => EXTENDED_TYPE_MASK | ttl,
        }
    }

    /// Inverse of [`stored_owner`](CreateKind::stored_owner).
    pub fn from_stored_owner(owner: i64) -> CreateKind {
        if owner == 0 {
            CreateKind::Persistent
        } else if owner == CONTAINER_EPHEMERAL_OWNER {
            CreateKind::Container
        } else if owner & EXTENDED_TYPE_MASK == EXTENDED_TYPE_MASK {
            CreateKind::Ttl(owner & MAX_TTL)
        } else {
            CreateKind::Ephemeral(SessionId(owner))
        }
    }
}

/// One transaction body. Inside `Multi`, each element is one sub-txn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Txn {
    /// create / create2 (op 1/15), createContainer (19), createTTL (21).
    Create {
        path: String,
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        kind: CreateKind,
        /// The parent's stored cversion after this create (old + 1).
        parent_cversion: i32,
    },
    /// delete (op 2).
    Delete { path: String },
    /// deleteContainer (op 20), server-generated for empty containers and expired TTLs.
    DeleteContainer { path: String },
    /// setData (op 5); `version` is the node's new version.
    SetData {
        path: String,
        data: Option<Vec<u8>>,
        version: i32,
    },
    /// setACL (op 7); `version` is the node's new aversion.
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    /// check (op 13), only inside multi.
    Check { path: String, version: i32 },
    /// createSession (op -10).
    CreateSession { timeout_ms: i32 },
    /// closeSession (op -11): the ephemerals to delete, computed when the txn was prepared.
    CloseSession { ephemerals: Vec<String> },
    /// A failed write (op -1): consumes a zxid, changes nothing.
    Error { err: ErrorCode },
    /// multi (op 14): all sub-txns at one zxid. A failed multi holds only `Error` sub-txns.
    Multi(Vec<Txn>),
}

/// One durable log entry: a txn with its header. Encoded as jute `TxnHeader ++ txn record`
/// (ZooKeeper's layout) by `to_bytes`/`from_bytes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    pub hdr: TxnHeader,
    pub txn: Txn,
}
