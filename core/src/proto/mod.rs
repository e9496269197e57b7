//! The ZooKeeper client wire protocol: records, requests, replies, events.
//!
//! Every frame is an int32 big-endian length and that many bytes. The first client frame is
//! a [`connect::ConnectRequest`], the first server frame a [`connect::ConnectResponse`];
//! after that, client frames are `RequestHeader ++ body` and server frames
//! `ReplyHeader ++ body` (see `../shared/reference/zookeeper-compat.md` §1-§3).

pub mod connect;
pub mod data;
pub mod event;
pub mod header;
pub mod op;
pub mod request;
pub mod response;

pub use connect::{ConnectRequest, ConnectResponse};
pub use data::{Acl, Id, Stat};
pub use header::{MultiHeader, ReplyHeader, RequestHeader};
pub use request::{CreateRequest, Request, RequestError, SetWatches};
pub use response::{MultiResult, Response};

use crate::jute::{JuteWriter, Record};

/// Encode a whole client frame (length prefix included).
pub fn encode_request_frame(xid: i32, req: &Request) -> Vec<u8> {
    let mut w = JuteWriter::framed();
    RequestHeader { xid, op: req.op() }.write(&mut w);
    req.write_body(&mut w);
    w.finish_frame()
}

/// Encode a whole reply frame (length prefix included). An error reply has no body.
pub fn encode_reply_frame(hdr: ReplyHeader, body: Option<&Response>) -> Vec<u8> {
    let mut w = JuteWriter::framed();
    hdr.write(&mut w);
    if let Some(b) = body {
        b.write_body(&mut w);
    }
    w.finish_frame()
}
