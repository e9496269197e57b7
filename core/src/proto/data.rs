//! Data records shared by requests, replies, transactions and the tree
//! (`org.apache.zookeeper.data`): Id, ACL, Stat.

use crate::jute::{JuteReader, JuteResult, JuteWriter, Record};
use crate::types::{SessionId, Zxid};

/// Permission bits of an ACL entry.
pub mod perms {
    pub const READ: i32 = 1;
    pub const WRITE: i32 = 2;
    pub const CREATE: i32 = 4;
    pub const DELETE: i32 = 8;
    pub const ADMIN: i32 = 16;
    pub const ALL: i32 = 31;
}

/// An identity: `scheme:id` (e.g. `world:anyone`, `digest:alice:hash`, `ip:10.0.0.0/8`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id {
    pub scheme: String,
    pub id: String,
}

impl Id {
    pub fn new(scheme: &str, id: &str) -> Id {
        Id {
            scheme: scheme.to_owned(),
            id: id.to_owned(),
        }
    }

    /// `world:anyone`.
    pub fn anyone() -> Id {
        Id::new("world", "anyone")
    }
}

impl Record for Id {
    fn write(&self, w: &mut JuteWriter) {
        w.write_string(&self.scheme);
        w.write_string(&self.id);
    }
    fn read(r: &mut JuteReader<'_>) -> JuteResult<Self> {
        // Nulls are representable on the wire; ACL validation rejects them later with
        // InvalidACL, so read them as empty strings marked invalid by the checker.
        let scheme = r.read_ustring()?.unwrap_or_default();
        let id = r.read_ustring()?.unwrap_or_default();
        Ok(Id { scheme, id })
    }
}

/// One ACL entry: permission bits for an identity.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Acl {
    pub perms: i32,
    pub id: Id,
}

impl Acl {
    /// `OPEN_ACL_UNSAFE`: world:anyone with every permission.
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl {
            perms: perms::ALL,
            id: Id::anyone(),
        }]
    }

    /// `READ_ACL_UNSAFE`: world:anyone may read.
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl {
            perms: perms::READ,
            id: Id::anyone(),
        }]
    }

    /// `CREATOR_ALL_ACL`: every permission for the creator's authenticated ids.
    pub fn creator_all() -> Vec<Acl> {
        vec![Acl {
            perms: perms::ALL,
            id: Id::new("auth", ""),
        }]
    }
}

impl Record for Acl {
    fn write(&self, w: &mut JuteWriter) {
        w.write_i32(self.perms);
        self.id.write(w);
    }
    fn read(r: &mut JuteReader<'_>) -> JuteResult<Self> {
        let perms = r.read_i32()?;
        let id = Id::read(r)?;
        Ok(Acl { perms, id })
    }
}

/// Write a `vector<ACL>`.
pub fn write_acls(w: &mut JuteWriter, acls: &[Acl]) {
    w.write_i32(acls.len() as i32);
    for a in acls {
        a.write(w);
    }
}

/// Read a `vector<ACL>`; `None` is a null vector (InvalidACL for create/setACL).
pub fn read_acls(r: &mut JuteReader<'_>) -> JuteResult<Option<Vec<Acl>>> {
    // perms(4) + two string lengths(8)
    r.read_vec(12, Acl::read)
}

/// The Stat record a client sees (68 bytes on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct Stat {
    pub czxid: Zxid,
    pub mzxid: Zxid,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    /// As reported: `2 * stored_cversion - num_children`.
    pub cversion: i32,
    pub aversion: i32,
    /// Session id for ephemerals; 0 otherwise (containers and TTL nodes report 0).
    pub ephemeral_owner: SessionId,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: Zxid,
}

/// Encoded size of a [`Stat`].
pub const STAT_LEN: usize = 68;

impl Record for Stat {
    fn write(&self, w: &mut JuteWriter) {
        w.write_i64(self.czxid.0);
        w.write_i64(self.mzxid.0);
        w.write_i64(self.ctime);
        w.write_i64(self.mtime);
        w.write_i32(self.version);
        w.write_i32(self.cversion);
        w.write_i32(self.aversion);
        w.write_i64(self.ephemeral_owner.0);
        w.write_i32(self.data_length);
        w.write_i32(self.num_children);
        w.write_i64(self.pzxid.0);
    }
    fn read(r: &mut JuteReader<'_>) -> JuteResult<Self> {
        Ok(Stat {
            czxid: Zxid(r.read_i64()?),
            mzxid: Zxid(r.read_i64()?),
            ctime: r.read_i64()?,
            mtime: r.read_i64()?,
            version: r.read_i32()?,
            cversion: r.read_i32()?,
            aversion: r.read_i32()?,
            ephemeral_owner: SessionId(r.read_i64()?),
            data_length: r.read_i32()?,
            num_children: r.read_i32()?,
            pzxid: Zxid(r.read_i64()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_is_68_bytes_and_round_trips() {
        let s = Stat {
            czxid: Zxid(1),
            mzxid: Zxid(2),
            ctime: 3,
            mtime: 4,
            version: 5,
            cversion: -2,
            aversion: -1,
            ephemeral_owner: SessionId(0x0100_0000_0000_0001),
            data_length: 9,
            num_children: 10,
            pzxid: Zxid(11),
        };
        let b = s.to_bytes();
        assert_eq!(b.len(), STAT_LEN);
        assert_eq!(Stat::from_bytes(&b).unwrap(), s);
    }

    #[test]
    fn acl_round_trip() {
        let a = Acl {
            perms: perms::READ | perms::ADMIN,
            id: Id::new("digest", "u:h"),
        };
        assert_eq!(Acl::from_bytes(&a.to_bytes()).unwrap(), a);
    }
}
