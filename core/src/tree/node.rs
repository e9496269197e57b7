//! What callers see of one znode: its persisted stat and a borrowed view ([`Node`]) of its
//! data, ACL and child names.

use crate::jute::{JuteReader, JuteResult, JuteWriter, Record};
use crate::proto::data::{Acl, Stat};
use crate::txn::CreateKind;
use crate::types::{SessionId, Zxid};

use super::children::{ChildList, Ids};
use super::store::{Slab, Slot};

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

/// A znode, as a read-only view into the [`DataTree`](super::DataTree) that holds it (which
/// stores nodes compactly and is the only one to change them, so that its indices and
/// digest stay in step). Cheap to copy; borrows the tree.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    /// `None` after a create or setData with null data (clients see dataLength 0 and a
    /// null buffer), distinct from `Some(&[])`.
    pub data: Option<&'a [u8]>,
    /// A copy of the stored stat.
    pub stat: StatPersisted,
    acl: &'a [Acl],
    children: Option<&'a ChildList>,
    nodes: &'a Slab<Slot>,
}

impl<'a> Node<'a> {
    pub(super) fn new(
        slot: &'a Slot,
        acl: &'a [Acl],
        children: Option<&'a ChildList>,
        nodes: &'a Slab<Slot>,
    ) -> Node<'a> {
        let (data, stat) = slot.data_and_stat();
        Node {
            data,
            stat,
            acl,
            children,
            nodes,
        }
    }

    /// The node's ACL list (shared with every node holding an equal list: the tree interns
    /// ACL lists, as ZooKeeper's ACL cache does).
    pub fn acl(&self) -> &'a [Acl] {
        self.acl
    }

    /// Child names (not full paths), in byte order.
    pub fn children(&self) -> Children<'a> {
        Children {
            ids: self.children.map_or_else(Ids::empty, ChildList::iter),
            nodes: self.nodes,
        }
    }

    /// Number of children, as the i32 the wire carries.
    pub fn num_children(&self) -> i32 {
        let n = self.children.map_or(0, ChildList::len);
        i32::try_from(n).unwrap_or(i32::MAX)
    }

    /// What kind of node this is, decoded from the stored owner.
    pub fn kind(&self) -> CreateKind {
        CreateKind::from_stored_owner(self.stat.ephemeral_owner)
    }

    /// The [`Stat`] clients see (`DataNode.copyStat`): cversion reported as
    /// `2 * stored - numChildren` (wrapping i32 arithmetic, as Java), ephemeralOwner 0 for
    /// everything but normal ephemerals, dataLength 0 for null data.
    pub fn client_stat(&self) -> Stat {
        client_stat(&self.stat, self.data, self.num_children())
    }
}

/// Two views are equal when the nodes hold equal data, stat, ACL and child names (wherever
/// they live).
impl PartialEq for Node<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.data == other.data
            && self.stat == other.stat
            && self.acl == other.acl
            && self.children().eq(other.children())
    }
}

impl Eq for Node<'_> {}

impl std::fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("data", &self.data)
            .field("stat", &self.stat)
            .field("acl", &self.acl)
            .field("children", &self.children().collect::<Vec<_>>())
            .finish()
    }
}

/// Iterator over a node's child names, in byte order (see [`Node::children`]).
#[derive(Clone, Debug)]
pub struct Children<'a> {
    ids: Ids<'a>,
    nodes: &'a Slab<Slot>,
}

impl<'a> Iterator for Children<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let id = self.ids.next()?;
        Some(self.nodes.get(id).name())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.ids.size_hint()
    }
}

impl ExactSizeIterator for Children<'_> {}

/// `DataNode.copyStat` from the stored parts.
pub(super) fn client_stat(s: &StatPersisted, data: Option<&[u8]>, num_children: i32) -> Stat {
    let ephemeral_owner = match CreateKind::from_stored_owner(s.ephemeral_owner) {
        CreateKind::Ephemeral(session) => session,
        _ => SessionId(0),
    };
    let data_length = data.map_or(0, |d| i32::try_from(d.len()).unwrap_or(i32::MAX));
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
