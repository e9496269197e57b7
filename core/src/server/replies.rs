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
    let body = match (origin.op, txn) {
        (op::MULTI, _) => Ok(Response::Multi(results.iter().map(multi_result).collect())),
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

/// 3.8.0 answers every create sub-op of a multi with a type-1 result holding only the path
/// (kazoo parses nothing else).
fn multi_result(r: &OpResult) -> MultiResult {
    match r {
        OpResult::Created { path, .. } => MultiResult::Create { path: path.clone() },
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
