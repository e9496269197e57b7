//! Turning an applied txn's results into the reply its client is waiting for.

use super::machine::Origin;
use crate::error::ErrorCode;
use crate::proto::header::ReplyHeader;
use crate::proto::response::{MultiResult, Response};
use crate::proto::{encode_reply_frame, op};
use crate::tree::OpResult;
use crate::txn::Txn;
use crate::types::Zxid;

/// The reply frame for a write applied at `zxid`. The header carries the txn's own zxid,
/// also for failed writes (they consumed it).
pub(crate) fn reply_frame(origin: &Origin, zxid: Zxid, txn: &Txn, results: &[OpResult]) -> Vec<u8> {
    let body = match txn {
        Txn::Multi(_) => Ok(Response::Multi(
            results
                .iter()
                .enumerate()
                .map(|(i, r)| multi_result(origin.sub_ops.get(i).copied(), r))
                .collect(),
        )),
        _ => single(origin.op, results.first()),
    };
    match body {
        Ok(b) => encode_reply_frame(
            ReplyHeader {
                xid: origin.xid,
                zxid,
                err: 0,
            },
            Some(&b),
        ),
        Err(e) => encode_reply_frame(
            ReplyHeader {
                xid: origin.xid,
                zxid,
                err: e.code(),
            },
            None,
        ),
    }
}

fn single(op: i32, result: Option<&OpResult>) -> Result<Response, ErrorCode> {
    match result {
        None => Ok(Response::Empty),
        Some(OpResult::Error(e)) => Err(*e),
        Some(OpResult::Created { path, stat }) => Ok(if op == op::CREATE {
            Response::Create { path: path.clone() }
        } else {
            Response::Create2 {
                path: path.clone(),
                stat: *stat,
            }
        }),
        Some(OpResult::DataSet { stat }) | Some(OpResult::AclSet { stat }) => {
            Ok(Response::Stat(*stat))
        }
        Some(_) => Ok(Response::Empty),
    }
}

/// A create sub-op sent as op 1 gets a type-1 result (path only: kazoo parses nothing
/// else); create2, createContainer and createTTL sub-ops get type 15 with the Stat, as
/// 3.8.4+ answers (3.8.0 already does so for containers and TTL nodes).
fn multi_result(sub_op: Option<i32>, r: &OpResult) -> MultiResult {
    match r {
        OpResult::Created { path, stat } => match sub_op {
            Some(op::CREATE) | None => MultiResult::Create { path: path.clone() },
            Some(_) => MultiResult::Create2 {
                path: path.clone(),
                stat: *stat,
            },
        },
        OpResult::Deleted => MultiResult::Delete,
        OpResult::DataSet { stat } | OpResult::AclSet { stat } => {
            MultiResult::SetData { stat: *stat }
        }
        OpResult::Checked => MultiResult::Check,
        OpResult::Error(e) => MultiResult::Error(e.code()),
        OpResult::SessionCreated | OpResult::SessionClosed => {
            MultiResult::Error(ErrorCode::MarshallingError.code())
        }
    }
}
