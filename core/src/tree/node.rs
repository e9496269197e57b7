//! One znode: data, ACL, persisted stat and child names.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::jute::{JuteReader, JuteResult, JuteWriter, Record};
use crate::proto::data::{Acl, Stat};
use crate::txn::CreateKind;
use crate::types::{SessionId, Zxid};

/// The stat a znode stores (`StatPersisted`). Differs from the client [`Stat`] in three
/// ways: `cversion` is the stored count of child creates, `ephemeral_owner` is the raw
/// value (containers and TTL nodes carry markers), and there is no dataLength/numChildren.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct StatPersisted {
    /// Zxid of the create.
    pub czxid: Zxid,
    /// Zxid of the last setData (czxid until then).
    pub mzxid: Zxid,
    /// Leader wall clock (ms) of the create.
    pub ctime: i64,
    /// Leader wall clock (ms) of the last setData (ctime until then).
    pub mtime: i64,
    /// Data version, as set by the last setData txn.
    pub version: i32,
    /// Stored cversion: how many children were ever created (it also drives sequential
    /// names). Reported as `2 * cversion - numChildren`.
    pub cversion: i32,
    /// ACL version, as set by the last setACL txn.
    pub aversion: i32,
    /// Raw owner: a session id, 0, [`crate::txn::CONTAINER_EPHEMERAL_OWNER`] or a TTL
    /// marker (see [`CreateKind::stored_owner`]).
    pub ephemeral_owner: i64,
    /// Zxid of the last create or delete of a direct child (czxid until then).
    pub pzxid: Zxid,
}

impl Record for StatPersisted {
    fn write(&self, w: &mut JuteWriter) {
        w.write_i64(self.czxid.0);
        w.write_i64(self.mzxid.0);
        w.write_i64(self.ctime);
        w.write_i64(self.mtime);
        w.write_i32(self.version);
        w.write_i32(self.cversion);
        w.write_i32(self.aversion);
        w.write_i64(self.ephemeral_owner);
        w.write_i64(self.pzxid.0);
    }

    fn read(r: &mut JuteReader<'_>) -> JuteResult<Self> {
        Ok(StatPersisted {
            czxid: Zxid(r.read_i64()?),
            mzxid: Zxid(r.read_i64()?),
            ctime: r.read_i64()?,
            mtime: r.read_i64()?,
            version: r.read_i32()?,
            cversion: r.read_i32()?,
            aversion: r.read_i32()?,
            ephemeral_owner: r.read_i64()?,
            pzxid: Zxid(r.read_i64()?),
        })
    }
}

/// A znode. Only the [`DataTree`](super::DataTree) changes nodes, so that its indices and
/// digest stay in step; everyone else sees `&Node`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// `None` after a create or setData with null data (clients see dataLength 0 and a
    /// null buffer), distinct from `Some(vec![])`.
    pub data: Option<Vec<u8>>,
    pub stat: StatPersisted,
    /// Shared with every other node holding an equal list (the tree interns ACL lists, as
    /// ZooKeeper's ACL cache does).
    pub(super) acl: Arc<[Acl]>,
    /// Child names (not paths), ordered.
    pub(super) children: BTreeSet<String>,
}

impl Node {
    pub(super) fn new(data: Option<Vec<u8>>, acl: Arc<[Acl]>, stat: StatPersisted) -> Node {
        Node {
            data,
            stat,
            acl,
            children: BTreeSet::new(),
        }
    }

    /// The node's ACL list.
    pub fn acl(&self) -> &[Acl] {
        &self.acl
    }

    /// The node's ACL list as the shared handle the tree stores (cheap to clone).
    pub fn acl_shared(&self) -> &Arc<[Acl]> {
        &self.acl
    }

    /// Child names (not full paths), in byte order.
    pub fn children(&self) -> &BTreeSet<String> {
        &self.children
    }

    /// Number of children, as the i32 the wire carries.
    pub fn num_children(&self) -> i32 {
        i32::try_from(self.children.len()).unwrap_or(i32::MAX)
    }

    /// What kind of node this is, decoded from the stored owner.
    pub fn kind(&self) -> CreateKind {
        CreateKind::from_stored_owner(self.stat.ephemeral_owner)
    }

    /// The [`Stat`] clients see (`DataNode.copyStat`): cversion reported as
    /// `2 * stored - numChildren` (wrapping i32 arithmetic, as Java), ephemeralOwner 0 for
    /// everything but normal ephemerals, dataLength 0 for null data.
    pub fn client_stat(&self) -> Stat {
        let s = &self.stat;
        let num_children = self.num_children();
        let ephemeral_owner = match self.kind() {
            CreateKind::Ephemeral(session) => session,
            _ => SessionId(0),
        };
        let data_length = self
            .data
            .as_ref()
            .map_or(0, |d| i32::try_from(d.len()).unwrap_or(i32::MAX));
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion.wrapping_mul(2).wrapping_sub(num_children),
            aversion: s.aversion,
            ephemeral_owner,
            data_length,
            num_children,
            pzxid: s.pzxid,
        }
    }
}
