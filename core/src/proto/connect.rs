//! The handshake records. Neither carries a request/reply header, and the trailing
//! `readOnly` byte is optional: it is echoed in the response only when the request had it.

use crate::jute::{JuteError, JuteReader, JuteResult, JuteWriter};
use crate::types::{SessionId, Zxid};

/// `ConnectRequest`, the first frame a client sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: Zxid,
    pub timeout_ms: i32,
    pub session_id: SessionId,
    pub passwd: Vec<u8>,
    /// `None` when the client (3.3 and older) did not send the byte.
    pub read_only: Option<bool>,
}

impl ConnectRequest {
    pub fn write(&self, w: &mut JuteWriter) {
        w.write_i32(self.protocol_version);
        w.write_i64(self.last_zxid_seen.0);
        w.write_i32(self.timeout_ms);
        w.write_i64(self.session_id.0);
        w.write_buffer(Some(&self.passwd));
        if let Some(ro) = self.read_only {
            w.write_bool(ro);
        }
    }

    /// Decode a whole handshake frame; the readOnly byte is present iff a byte remains.
    pub fn decode(frame: &[u8]) -> JuteResult<Self> {
        let mut r = JuteReader::new(frame);
        let protocol_version = r.read_i32()?;
        let last_zxid_seen = Zxid(r.read_i64()?);
        let timeout_ms = r.read_i32()?;
        let session_id = SessionId(r.read_i64()?);
        let passwd = r.read_buffer()?.unwrap_or_default();
        let read_only = match r.remaining() {
            0 => None,
            _ => Some(r.read_bool()?),
        };
        // Extra bytes after readOnly are ignored, as ZooKeeper does.
        let _ = JuteError::TrailingBytes(r.remaining());
        Ok(ConnectRequest {
            protocol_version,
            last_zxid_seen,
            timeout_ms,
            session_id,
            passwd,
            read_only,
        })
    }
}

/// `ConnectResponse`, the first frame the server sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    /// Negotiated timeout; 0 means the session is invalid or expired.
    pub timeout_ms: i32,
    pub session_id: SessionId,
    pub passwd: Vec<u8>,
    pub read_only: Option<bool>,
}

impl ConnectResponse {
    /// The "session expired / invalid" answer.
    pub fn invalid(read_only: Option<bool>) -> Self {
        ConnectResponse {
            protocol_version: 0,
            timeout_ms: 0,
            session_id: SessionId(0),
            passwd: vec![0; 16],
            read_only: read_only.map(|_| false),
        }
    }

    pub fn write(&self, w: &mut JuteWriter) {
        w.write_i32(self.protocol_version);
        w.write_i32(self.timeout_ms);
        w.write_i64(self.session_id.0);
        w.write_buffer(Some(&self.passwd));
        if let Some(ro) = self.read_only {
            w.write_bool(ro);
        }
    }

    pub fn decode(frame: &[u8]) -> JuteResult<Self> {
        let mut r = JuteReader::new(frame);
        let protocol_version = r.read_i32()?;
        let timeout_ms = r.read_i32()?;
        let session_id = SessionId(r.read_i64()?);
        let passwd = r.read_buffer()?.unwrap_or_default();
        let read_only = match r.remaining() {
            0 => None,
            _ => Some(r.read_bool()?),
        };
        Ok(ConnectResponse {
            protocol_version,
            timeout_ms,
            session_id,
            passwd,
            read_only,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_sizes_follow_read_only_byte() {
        let mut req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: Zxid(0),
            timeout_ms: 30000,
            session_id: SessionId(0),
            passwd: vec![0; 16],
            read_only: Some(false),
        };
        let mut w = JuteWriter::new();
        req.write(&mut w);
        let b = w.into_inner();
        assert_eq!(b.len(), 45);
        assert_eq!(ConnectRequest::decode(&b).unwrap(), req);
        req.read_only = None;
        let mut w = JuteWriter::new();
        req.write(&mut w);
        let b = w.into_inner();
        assert_eq!(b.len(), 44);
        assert_eq!(ConnectRequest::decode(&b).unwrap(), req);
    }

    #[test]
    fn response_sizes() {
        let mut w = JuteWriter::new();
        ConnectResponse::invalid(Some(true)).write(&mut w);
        assert_eq!(w.len(), 37);
        let mut w = JuteWriter::new();
        ConnectResponse::invalid(None).write(&mut w);
        assert_eq!(w.len(), 36);
    }
}
