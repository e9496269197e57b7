//! Client requests: one enum covering every opcode a 3.8/3.9 client sends, with symmetric
//! encode (used by the client state machine, the simulator and the bench) and decode (used
//! by the server).

use super::data::{read_acls, write_acls, Acl};
use super::header::MultiHeader;
use super::op;
use crate::jute::{JuteError, JuteReader, JuteResult, JuteWriter, Record};
use crate::types::Zxid;

/// Why a request body could not be turned into a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// The opcode is not one the server accepts: reply Unimplemented and close.
    UnknownOp(i32),
    /// The body is malformed (or a null path): reply MarshallingError, keep the connection.
    Marshalling(JuteError),
}

impl From<JuteError> for RequestError {
    fn from(e: JuteError) -> Self {
        RequestError::Marshalling(e)
    }
}

/// The watch lists of setWatches (101) and setWatches2 (105).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetWatches {
    pub relative_zxid: Zxid,
    pub data: Vec<String>,
    pub exist: Vec<String>,
    pub child: Vec<String>,
    /// setWatches2 only.
    pub persistent: Vec<String>,
    /// setWatches2 only.
    pub persistent_recursive: Vec<String>,
}

/// A create of any flavour. `op` decides the reply shape and, for 19, the node kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateRequest {
    pub path: String,
    pub data: Option<Vec<u8>>,
    /// `None` is a null ACL vector (InvalidACL).
    pub acl: Option<Vec<Acl>>,
    pub flags: i32,
    /// Present only for createTTL (op 21).
    pub ttl: Option<i64>,
}

/// One client request body, tagged by its opcode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// op 1 (create), 15 (create2), 19 (createContainer), 21 (createTTL).
    Create {
        op: i32,
        req: CreateRequest,
    },
    Delete {
        path: String,
        version: i32,
    },
    Exists {
        path: String,
        watch: bool,
    },
    GetData {
        path: String,
        watch: bool,
    },
    SetData {
        path: String,
        data: Option<Vec<u8>>,
        version: i32,
    },
    GetAcl {
        path: String,
    },
    SetAcl {
        path: String,
        acl: Option<Vec<Acl>>,
        version: i32,
    },
    GetChildren {
        path: String,
        watch: bool,
    },
    GetChildren2 {
        path: String,
        watch: bool,
    },
    Sync {
        path: String,
    },
    Ping,
    Check {
        path: String,
        version: i32,
    },
    /// op 14: write sub-requests (create*, delete, setData, check).
    Multi(Vec<Request>),
    /// op 22: read sub-requests (getChildren, getData).
    MultiRead(Vec<Request>),
    Auth {
        auth_type: i32,
        scheme: String,
        auth: Vec<u8>,
    },
    /// op 101 (`v2 == false`) or 105.
    SetWatches {
        v2: bool,
        watches: SetWatches,
    },
    AddWatch {
        path: String,
        mode: i32,
    },
    CheckWatches {
        path: String,
        watcher_type: i32,
    },
    RemoveWatches {
        path: String,
        watcher_type: i32,
    },
    GetEphemerals {
        prefix: String,
    },
    GetAllChildrenNumber {
        path: String,
    },
    WhoAmI,
    CloseSession,
    /// op 102 without SASL configured: answered with a null token, as ZooKeeper does.
    Sasl {
        token: Option<Vec<u8>>,
    },
    /// op 20 sent by a client (it is server-internal): BadArguments, consuming a zxid.
    DeleteContainer {
        path: String,
    },
    /// op 16; answered ReconfigDisabled (reconfig is off by default in ZooKeeper).
    Reconfig {
        joining: Option<String>,
        leaving: Option<String>,
        new_members: Option<String>,
        config_id: i64,
    },
}

fn path(r: &mut JuteReader<'_>) -> JuteResult<String> {
    r.read_string("path")
}

/// Where ZooKeeper 3.8.0 does not fail on a null path (setData and setACL validate it and
/// answer BadArguments; removeWatches finds no watcher; addWatch and getEphemerals succeed),
/// read null as the empty string, which reaches the same answers.
fn null_as_empty(r: &mut JuteReader<'_>) -> JuteResult<String> {
    Ok(r.read_ustring()?.unwrap_or_default())
}

impl Request {
    /// The opcode this request travels under.
    pub fn op(&self) -> i32 {
        match self {
            Request::Create { op, .. } => *op,
            Request::Delete { .. } => op::DELETE,
            Request::Exists { .. } => op::EXISTS,
            Request::GetData { .. } => op::GET_DATA,
            Request::SetData { .. } => op::SET_DATA,
            Request::GetAcl { .. } => op::GET_ACL,
            Request::SetAcl { .. } => op::SET_ACL,
            Request::GetChildren { .. } => op::GET_CHILDREN,
            Request::GetChildren2 { .. } => op::GET_CHILDREN2,
            Request::Sync { .. } => op::SYNC,
            Request::Ping => op::PING,
            Request::Check { .. } => op::CHECK,
            Request::Multi(_) => op::MULTI,
            Request::MultiRead(_) => op::MULTI_READ,
            Request::Auth { .. } => op::AUTH,
            Request::SetWatches { v2: false, .. } => op::SET_WATCHES,
            Request::SetWatches { v2: true, .. } => op::SET_WATCHES2,
            Request::AddWatch { .. } => op::ADD_WATCH,
            Request::CheckWatches { .. } => op::CHECK_WATCHES,
            Request::RemoveWatches { .. } => op::REMOVE_WATCHES,
            Request::GetEphemerals { .. } => op::GET_EPHEMERALS,
            Request::GetAllChildrenNumber { .. } => op::GET_ALL_CHILDREN_NUMBER,
            Request::WhoAmI => op::WHO_AM_I,
            Request::CloseSession => op::CLOSE_SESSION,
            Request::Reconfig { .. } => op::RECONFIG,
            Request::Sasl { .. } => op::SASL,
            Request::DeleteContainer { .. } => op::DELETE_CONTAINER,
        }
    }

    /// True for requests that become transactions (consume a zxid).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::Create { .. }
                | Request::Delete { .. }
                | Request::SetData { .. }
                | Request::SetAcl { .. }
                | Request::Check { .. }
                | Request::Multi(_)
                | Request::CloseSession
                | Request::DeleteContainer { .. }
        )
    }

    /// The path the request names, if any.
    pub fn path(&self) -> Option<&str> {
        match self {
            Request::Create { req, .. } => Some(&req.path),
            Request::Delete { path, .. }
            | Request::Exists { path, .. }
            | Request::GetData { path, .. }
            | Request::SetData { path, .. }
            | Request::GetAcl { path }
            | Request::DeleteContainer { path }
            | Request::SetAcl { path, .. }
            | Request::GetChildren { path, .. }
            | Request::GetChildren2 { path, .. }
            | Request::Sync { path }
            | Request::Check { path, .. }
            | Request::AddWatch { path, .. }
            | Request::CheckWatches { path, .. }
            | Request::RemoveWatches { path, .. }
            | Request::GetAllChildrenNumber { path } => Some(path),
            Request::GetEphemerals { prefix } => Some(prefix),
            _ => None,
        }
    }

    /// Append the body (without the request header).
    pub fn write_body(&self, w: &mut JuteWriter) {
        match self {
            Request::Create { req, .. } => {
                w.write_string(&req.path);
                w.write_buffer(req.data.as_deref());
                match &req.acl {
                    Some(acl) => write_acls(w, acl),
                    None => w.write_i32(-1),
                }
                w.write_i32(req.flags);
                if let Some(ttl) = req.ttl {
                    w.write_i64(ttl);
                }
            }
            Request::Delete { path, version } | Request::Check { path, version } => {
                w.write_string(path);
                w.write_i32(*version);
            }
            Request::Exists { path, watch }
            | Request::GetData { path, watch }
            | Request::GetChildren { path, watch }
            | Request::GetChildren2 { path, watch } => {
                w.write_string(path);
                w.write_bool(*watch);
            }
            Request::SetData {
                path,
                data,
                version,
            } => {
                w.write_string(path);
                w.write_buffer(data.as_deref());
                w.write_i32(*version);
            }
            Request::GetAcl { path }
            | Request::Sync { path }
            | Request::GetAllChildrenNumber { path }
            | Request::GetEphemerals { prefix: path } => w.write_string(path),
            Request::SetAcl { path, acl, version } => {
                w.write_string(path);
                match acl {
                    Some(acl) => write_acls(w, acl),
                    None => w.write_i32(-1),
                }
                w.write_i32(*version);
            }
            Request::Ping | Request::WhoAmI | Request::CloseSession => {}
            Request::Sasl { token } => w.write_buffer(token.as_deref()),
            Request::DeleteContainer { path } => w.write_string(path),
            Request::Multi(ops) | Request::MultiRead(ops) => {
                for sub in ops {
                    MultiHeader {
                        op: sub.op(),
                        done: false,
                        err: -1,
                    }
                    .write(w);
                    sub.write_body(w);
                }
                MultiHeader::END.write(w);
            }
            Request::Auth {
                auth_type,
                scheme,
                auth,
            } => {
                w.write_i32(*auth_type);
                w.write_string(scheme);
                w.write_buffer(Some(auth));
            }
            Request::SetWatches { v2, watches } => {
                w.write_i64(watches.relative_zxid.0);
                w.write_string_vec(&watches.data);
                w.write_string_vec(&watches.exist);
                w.write_string_vec(&watches.child);
                if *v2 {
                    w.write_string_vec(&watches.persistent);
                    w.write_string_vec(&watches.persistent_recursive);
                }
            }
            Request::AddWatch { path, mode: n }
            | Request::CheckWatches {
                path,
                watcher_type: n,
            }
            | Request::RemoveWatches {
                path,
                watcher_type: n,
            } => {
                w.write_string(path);
                w.write_i32(*n);
            }
            Request::Reconfig {
                joining,
                leaving,
                new_members,
                config_id,
            } => {
                w.write_ustring(joining.as_deref());
                w.write_ustring(leaving.as_deref());
                w.write_ustring(new_members.as_deref());
                w.write_i64(*config_id);
            }
        }
    }

    /// Decode the body of a request with opcode `op`. Trailing bytes are ignored, as the
    /// Java server ignores them.
    pub fn decode(op: i32, r: &mut JuteReader<'_>) -> Result<Request, RequestError> {
        Ok(match op {
            op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => {
                let path = path(r)?;
                let data = r.read_buffer()?;
                let acl = read_acls(r)?;
                let flags = r.read_i32()?;
                let ttl = if op == op::CREATE_TTL {
                    Some(r.read_i64()?)
                } else {
                    None
                };
                Request::Create {
                    op,
                    req: CreateRequest {
                        path,
                        data,
                        acl,
                        flags,
                        ttl,
                    },
                }
            }
            op::DELETE => Request::Delete {
                path: path(r)?,
                version: r.read_i32()?,
            },
            op::CHECK => Request::Check {
                path: path(r)?,
                version: r.read_i32()?,
            },
            op::EXISTS => Request::Exists {
                path: path(r)?,
                watch: r.read_bool()?,
            },
            op::GET_DATA => Request::GetData {
                path: path(r)?,
                watch: r.read_bool()?,
            },
            op::GET_CHILDREN => Request::GetChildren {
                path: path(r)?,
                watch: r.read_bool()?,
            },
            op::GET_CHILDREN2 => Request::GetChildren2 {
                path: path(r)?,
                watch: r.read_bool()?,
            },
            op::SET_DATA => Request::SetData {
                path: null_as_empty(r)?,
                data: r.read_buffer()?,
                version: r.read_i32()?,
            },
            op::GET_ACL => Request::GetAcl { path: path(r)? },
            op::SET_ACL => Request::SetAcl {
                path: null_as_empty(r)?,
                acl: read_acls(r)?,
                version: r.read_i32()?,
            },
            op::SYNC => Request::Sync { path: path(r)? },
            op::PING => Request::Ping,
            op::WHO_AM_I => Request::WhoAmI,
            op::CLOSE_SESSION => Request::CloseSession,
            op::MULTI | op::MULTI_READ => decode_multi(op, r)?,
            op::AUTH => Request::Auth {
                auth_type: r.read_i32()?,
                scheme: r.read_string("scheme")?,
                auth: r.read_buffer()?.unwrap_or_default(),
            },
            op::SET_WATCHES | op::SET_WATCHES2 => {
                let v2 = op == op::SET_WATCHES2;
                let mut watches = SetWatches {
                    relative_zxid: Zxid(r.read_i64()?),
                    data: r.read_string_vec("path")?,
                    exist: r.read_string_vec("path")?,
                    child: r.read_string_vec("path")?,
                    ..SetWatches::default()
                };
                if v2 {
                    watches.persistent = r.read_string_vec("path")?;
                    watches.persistent_recursive = r.read_string_vec("path")?;
                }
                Request::SetWatches { v2, watches }
            }
            op::ADD_WATCH => Request::AddWatch {
                path: null_as_empty(r)?,
                mode: r.read_i32()?,
            },
            op::CHECK_WATCHES => Request::CheckWatches {
                path: path(r)?,
                watcher_type: r.read_i32()?,
            },
            op::REMOVE_WATCHES => Request::RemoveWatches {
                path: null_as_empty(r)?,
                watcher_type: r.read_i32()?,
            },
            op::GET_EPHEMERALS => Request::GetEphemerals {
                prefix: null_as_empty(r)?,
            },
            op::SASL => Request::Sasl {
                token: r.read_buffer()?,
            },
            op::DELETE_CONTAINER => Request::DeleteContainer {
                path: null_as_empty(r)?,
            },
            op::GET_ALL_CHILDREN_NUMBER => Request::GetAllChildrenNumber { path: path(r)? },
            op::RECONFIG => Request::Reconfig {
                joining: r.read_ustring()?,
                leaving: r.read_ustring()?,
                new_members: r.read_ustring()?,
                config_id: r.read_i64()?,
            },
            other => return Err(RequestError::UnknownOp(other)),
        })
    }
}

/// Decode the sub-requests of a multi (14) or multiRead (22). A sub-op that does not
/// belong in that kind of multi is a MarshallingError, as in ZooKeeper.
fn decode_multi(op: i32, r: &mut JuteReader<'_>) -> Result<Request, RequestError> {
    let mut ops = Vec::new();
    loop {
        let h = MultiHeader::read(r)?;
        if h.done {
            break;
        }
        let allowed = if op == op::MULTI {
            matches!(
                h.op,
                op::CREATE
                    | op::CREATE2
                    | op::CREATE_CONTAINER
                    | op::CREATE_TTL
                    | op::DELETE
                    | op::SET_DATA
                    | op::CHECK
            )
        } else {
            matches!(h.op, op::GET_CHILDREN | op::GET_DATA)
        };
        if !allowed {
            // The server answers a bad *first* sub-op of a multiRead differently (3.8.0
            // quirk), so say which one it was.
            let what = if ops.is_empty() {
                "first multi sub-op"
            } else {
                "multi sub-op"
            };
            return Err(RequestError::Marshalling(JuteError::BadValue(
                what,
                h.op as i64,
            )));
        }
        ops.push(match Request::decode(h.op, r) {
            Ok(req) => req,
            Err(RequestError::UnknownOp(o)) => {
                return Err(RequestError::Marshalling(JuteError::BadValue(
                    "multi sub-op",
                    o as i64,
                )))
            }
            Err(e) => return Err(e),
        });
    }
    Ok(if op == op::MULTI {
        Request::Multi(ops)
    } else {
        Request::MultiRead(ops)
    })
}
