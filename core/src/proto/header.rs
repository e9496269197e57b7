//! Request, reply and multi headers.

use crate::jute::{JuteReader, JuteResult, JuteWriter, Record};
use crate::types::Zxid;

/// `RequestHeader { int xid; int type }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHeader {
    pub xid: i32,
    pub op: i32,
}

impl Record for RequestHeader {
    fn write(&self, w: &mut JuteWriter) {
        w.write_i32(self.xid);
        w.write_i32(self.op);
    }
    fn read(r: &mut JuteReader<'_>) -> JuteResult<Self> {
        Ok(RequestHeader {
            xid: r.read_i32()?,
            op: r.read_i32()?,
        })
    }
}

/// `ReplyHeader { int xid; long zxid; int err }`, always 16 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyHeader {
    pub xid: i32,
    pub zxid: Zxid,
    pub err: i32,
}

impl Record for ReplyHeader {
    fn write(&self, w: &mut JuteWriter) {
        w.write_i32(self.xid);
        w.write_i64(self.zxid.0);
        w.write_i32(self.err);
    }
    fn read(r: &mut JuteReader<'_>) -> JuteResult<Self> {
        Ok(ReplyHeader {
            xid: r.read_i32()?,
            zxid: Zxid(r.read_i64()?),
            err: r.read_i32()?,
        })
    }
}

/// `MultiHeader { int type; boolean done; int err }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultiHeader {
    pub op: i32,
    pub done: bool,
    pub err: i32,
}

impl MultiHeader {
    /// The end marker closing a multi request or response.
    pub const END: MultiHeader = MultiHeader {
        op: -1,
        done: true,
        err: -1,
    };
}

impl Record for MultiHeader {
    fn write(&self, w: &mut JuteWriter) {
        w.write_i32(self.op);
        w.write_bool(self.done);
        w.write_i32(self.err);
    }
    fn read(r: &mut JuteReader<'_>) -> JuteResult<Self> {
        Ok(MultiHeader {
            op: r.read_i32()?,
            done: r.read_bool()?,
            err: r.read_i32()?,
        })
    }
}
