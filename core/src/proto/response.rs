//! Reply bodies. A reply with a non-zero error carries only the header; a failed multi is
//! the exception (header err 0, per-op errors inside).

use super::data::{read_acls, write_acls, Acl, Stat};
use super::header::MultiHeader;
use super::op;
use crate::jute::{JuteError, JuteReader, JuteResult, JuteWriter, Record};

/// One result inside a multi or multiRead reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiResult {
    /// type 1: create sub-op.
    Create { path: String },
    /// type 15: create2, createContainer and createTTL sub-ops.
    Create2 { path: String, stat: Stat },
    /// type 2.
    Delete,
    /// type 5.
    SetData { stat: Stat },
    /// type 13.
    Check,
    /// type 8 (multiRead).
    GetChildren { children: Vec<String> },
    /// type 4 (multiRead).
    GetData { data: Option<Vec<u8>>, stat: Stat },
    /// type -1: `ErrorResult{err}`.
    Error(i32),
}

impl MultiResult {
    fn header(&self) -> MultiHeader {
        let (op, err) = match self {
            MultiResult::Create { .. } => (op::CREATE, 0),
            MultiResult::Create2 { .. } => (op::CREATE2, 0),
            MultiResult::Delete => (op::DELETE, 0),
            MultiResult::SetData { .. } => (op::SET_DATA, 0),
            MultiResult::Check => (op::CHECK, 0),
            MultiResult::GetChildren { .. } => (op::GET_CHILDREN, 0),
            MultiResult::GetData { .. } => (op::GET_DATA, 0),
            MultiResult::Error(e) => (op::ERROR, *e),
        };
        MultiHeader {
            op,
            done: false,
            err,
        }
    }
}

/// A successful reply body, by shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// No body: delete, ping, auth, setWatches, checkWatches, removeWatches, closeSession.
    Empty,
    /// op 1: `CreateResponse{path}`.
    Create {
        path: String,
    },
    /// ops 15, 19, 21: `Create2Response{path, stat}`.
    Create2 {
        path: String,
        stat: Stat,
    },
    /// exists, setData, setACL: a bare Stat.
    Stat(Stat),
    GetData {
        data: Option<Vec<u8>>,
        stat: Stat,
    },
    GetAcl {
        acl: Vec<Acl>,
        stat: Stat,
    },
    Children {
        children: Vec<String>,
    },
    Children2 {
        children: Vec<String>,
        stat: Stat,
    },
    Sync {
        path: String,
    },
    /// multi and multiRead.
    Multi(Vec<MultiResult>),
    /// addWatch: `ErrorResponse{int err}`, always 0 on success.
    ErrorResponse(i32),
    Ephemerals(Vec<String>),
    AllChildrenNumber(i32),
    /// whoAmI: (scheme, user) pairs.
    WhoAmI(Vec<(String, String)>),
    /// sasl: `SetSASLResponse{token}` (null when SASL is not configured).
    Sasl {
        token: Option<Vec<u8>>,
    },
}

fn write_data_stat(w: &mut JuteWriter, data: &Option<Vec<u8>>, stat: &Stat) {
    w.write_buffer(data.as_deref());
    stat.write(w);
}

impl Response {
    /// Append the body.
    pub fn write_body(&self, w: &mut JuteWriter) {
        match self {
            Response::Empty => {}
            Response::Create { path } | Response::Sync { path } => w.write_string(path),
            Response::Create2 { path, stat } => {
                w.write_string(path);
                stat.write(w);
            }
            Response::Stat(stat) => stat.write(w),
            Response::GetData { data, stat } => write_data_stat(w, data, stat),
            Response::GetAcl { acl, stat } => {
                write_acls(w, acl);
                stat.write(w);
            }
            Response::Children { children } | Response::Ephemerals(children) => {
                w.write_string_vec(children)
            }
            Response::Children2 { children, stat } => {
                w.write_string_vec(children);
                stat.write(w);
            }
            Response::Multi(results) => {
                for res in results {
                    res.header().write(w);
                    match res {
                        MultiResult::Create { path } => w.write_string(path),
                        MultiResult::Create2 { path, stat } => {
                            w.write_string(path);
                            stat.write(w);
                        }
                        MultiResult::Delete | MultiResult::Check => {}
                        MultiResult::SetData { stat } => stat.write(w),
                        MultiResult::GetChildren { children } => w.write_string_vec(children),
                        MultiResult::GetData { data, stat } => write_data_stat(w, data, stat),
                        MultiResult::Error(e) => w.write_i32(*e),
                    }
                }
                MultiHeader::END.write(w);
            }
            Response::ErrorResponse(e) | Response::AllChildrenNumber(e) => w.write_i32(*e),
            Response::Sasl { token } => w.write_buffer(token.as_deref()),
            Response::WhoAmI(infos) => {
                w.write_i32(infos.len() as i32);
                for (scheme, user) in infos {
                    w.write_string(scheme);
                    w.write_string(user);
                }
            }
        }
    }

    /// Decode the successful reply body of a request with opcode `op` (client side).
    pub fn decode(op: i32, r: &mut JuteReader<'_>) -> JuteResult<Response> {
        Ok(match op {
            op::CREATE => Response::Create {
                path: r.read_string("path")?,
            },
            op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => Response::Create2 {
                path: r.read_string("path")?,
                stat: Stat::read(r)?,
            },
            op::EXISTS | op::SET_DATA | op::SET_ACL => Response::Stat(Stat::read(r)?),
            op::GET_DATA => Response::GetData {
                data: r.read_buffer()?,
                stat: Stat::read(r)?,
            },
            op::GET_ACL => Response::GetAcl {
                acl: read_acls(r)?.unwrap_or_default(),
                stat: Stat::read(r)?,
            },
            op::GET_CHILDREN => Response::Children {
                children: r.read_string_vec("child")?,
            },
            op::GET_CHILDREN2 => Response::Children2 {
                children: r.read_string_vec("child")?,
                stat: Stat::read(r)?,
            },
            op::SYNC => Response::Sync {
                path: r.read_string("path")?,
            },
            op::MULTI | op::MULTI_READ => Response::Multi(decode_multi_results(r)?),
            op::ADD_WATCH => Response::ErrorResponse(r.read_i32()?),
            op::GET_EPHEMERALS => Response::Ephemerals(r.read_string_vec("path")?),
            op::SASL => Response::Sasl {
                token: r.read_buffer()?,
            },
            op::GET_ALL_CHILDREN_NUMBER => Response::AllChildrenNumber(r.read_i32()?),
            op::WHO_AM_I => {
                let v = r.read_vec(8, |r| {
                    Ok((
                        r.read_ustring()?.unwrap_or_default(),
                        r.read_ustring()?.unwrap_or_default(),
                    ))
                })?;
                Response::WhoAmI(v.unwrap_or_default())
            }
            _ => Response::Empty,
        })
    }
}

fn decode_multi_results(r: &mut JuteReader<'_>) -> JuteResult<Vec<MultiResult>> {
    let mut out = Vec::new();
    loop {
        let h = MultiHeader::read(r)?;
        if h.done {
            return Ok(out);
        }
        out.push(match h.op {
            op::CREATE => MultiResult::Create {
                path: r.read_string("path")?,
            },
            op::CREATE2 => MultiResult::Create2 {
                path: r.read_string("path")?,
                stat: Stat::read(r)?,
            },
            op::DELETE => MultiResult::Delete,
            op::SET_DATA => MultiResult::SetData {
                stat: Stat::read(r)?,
            },
            op::CHECK => MultiResult::Check,
            op::GET_CHILDREN => MultiResult::GetChildren {
                children: r.read_string_vec("child")?,
            },
            op::GET_DATA => MultiResult::GetData {
                data: r.read_buffer()?,
                stat: Stat::read(r)?,
            },
            op::ERROR => MultiResult::Error(r.read_i32()?),
            other => return Err(JuteError::BadValue("multi result type", other as i64)),
        });
    }
}
