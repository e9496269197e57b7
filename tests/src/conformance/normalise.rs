//! Turning received frames into normalised JSON.
//!
//! What differs between two correct servers, or between two runs of one server, is
//! replaced by something that still checks ordering and equality:
//! - zxids: `"z+N"`, N = zxid − the scenario's base, where the base is the first positive
//!   zxid seen in the scenario (always the header of its first reply). Values ≤ 0 stay
//!   numbers (0, -1 matter); positive values below the base become `"pre"` (state left by
//!   earlier scenarios). Gaps, equality and order are all still compared.
//! - times (ctime/mtime): `"T"` when non-zero, 0 stays 0.
//! - session ids: `"s1"`, `"s2"`, … in order of first appearance; 0 stays 0.
//! - passwords: `"p1"`, `"p2"`, … in order of first appearance; 16 zero bytes become
//!   `"zeros"`.
//! - children, getEphemerals and whoAmI lists are sorted (their order is unspecified).

use corral_core::jute::{JuteReader, Record};
use corral_core::proto::data::Stat;
use corral_core::proto::event::WatcherEvent;
use corral_core::proto::{op, ConnectResponse, MultiResult, ReplyHeader, Response};
use serde_json::{json, Map, Value};

use super::spec::encode_hex;

/// Per-scenario normalisation state.
#[derive(Debug, Default)]
pub struct Normaliser {
    zxid_base: Option<i64>,
    /// Highest zxid seen in a reply header (absolute; used for marks).
    pub max_zxid: i64,
    sessions: Vec<i64>,
    passwords: Vec<Vec<u8>>,
}

impl Normaliser {
    /// A normalised zxid.
    pub fn zxid(&mut self, z: i64) -> Value {
        if z <= 0 {
            return json!(z);
        }
        let base = *self.zxid_base.get_or_insert(z);
        if z < base {
            json!("pre")
        } else {
            json!(format!("z+{}", z - base))
        }
    }

    /// A normalised session id.
    pub fn session(&mut self, id: i64) -> Value {
        if id == 0 {
            return json!(0);
        }
        let n = match self.sessions.iter().position(|s| *s == id) {
            Some(i) => i + 1,
            None => {
                self.sessions.push(id);
                self.sessions.len()
            }
        };
        json!(format!("s{n}"))
    }

    fn password(&mut self, p: &[u8]) -> Value {
        if p.len() == 16 && p.iter().all(|b| *b == 0) {
            return json!("zeros");
        }
        let n = match self.passwords.iter().position(|s| s == p) {
            Some(i) => i + 1,
            None => {
                self.passwords.push(p.to_vec());
                self.passwords.len()
            }
        };
        json!(format!("p{n}"))
    }

    fn time(t: i64) -> Value {
        if t == 0 {
            json!(0)
        } else {
            json!("T")
        }
    }

    /// A Stat record.
    pub fn stat(&mut self, s: &Stat) -> Value {
        json!({
            "czxid": self.zxid(s.czxid.0),
            "mzxid": self.zxid(s.mzxid.0),
            "ctime": Self::time(s.ctime),
            "mtime": Self::time(s.mtime),
            "version": s.version,
            "cversion": s.cversion,
            "aversion": s.aversion,
            "ephemeral_owner": self.session(s.ephemeral_owner.0),
            "data_length": s.data_length,
            "num_children": s.num_children,
            "pzxid": self.zxid(s.pzxid.0),
        })
    }

    /// A ConnectResponse frame.
    pub fn connect_response(&mut self, frame: &[u8]) -> Value {
        match ConnectResponse::decode(frame) {
            Ok(r) => {
                let mut m = Map::new();
                m.insert("len".into(), json!(frame.len()));
                m.insert("protocol_version".into(), json!(r.protocol_version));
                m.insert("timeout_ms".into(), json!(r.timeout_ms));
                m.insert("session".into(), self.session(r.session_id.0));
                m.insert("passwd".into(), self.password(&r.passwd));
                m.insert("passwd_len".into(), json!(r.passwd.len()));
                m.insert("read_only".into(), json!(r.read_only));
                json!({ "connected": m })
            }
            Err(e) => {
                json!({ "bad_connect_response": { "hex": encode_hex(frame), "error": e.to_string() } })
            }
        }
    }

    /// A reply frame to a request with opcode `op` (`None` if no request matches its xid).
    pub fn reply(&mut self, frame: &[u8], op: Option<i32>) -> Value {
        let mut r = JuteReader::new(frame);
        let hdr = match ReplyHeader::read(&mut r) {
            Ok(h) => h,
            Err(_) => return json!({ "short_frame": { "hex": encode_hex(frame) } }),
        };
        if hdr.zxid.0 > self.max_zxid {
            self.max_zxid = hdr.zxid.0;
        }
        if hdr.xid == op::XID_NOTIFICATION {
            return self.event(hdr, &mut r);
        }
        let mut m = Map::new();
        m.insert("xid".into(), json!(hdr.xid));
        m.insert("zxid".into(), self.zxid(hdr.zxid.0));
        m.insert("err".into(), json!(hdr.err));
        let body = match op {
            _ if hdr.err != 0 => {
                // ZooKeeper sends no body with an error; record any bytes that do come.
                match r.remaining() {
                    0 => Value::Null,
                    _ => json!({ "unexpected_hex": encode_hex(r.rest()) }),
                }
            }
            None => json!({ "unmatched_hex": encode_hex(r.rest()) }),
            Some(o) => match decode_body(o, &mut r) {
                Ok(body) => {
                    let mut v = match body {
                        Body::Response(resp) => self.response(&resp),
                        Body::Json(v) => v,
                    };
                    if r.remaining() > 0 {
                        v = json!({ "decoded": v, "trailing_hex": encode_hex(r.rest()) });
                    }
                    v
                }
                Err(e) => {
                    json!({ "undecodable_hex": encode_hex(r.rest()), "error": e.to_string() })
                }
            },
        };
        m.insert("body".into(), body);
        json!({ "reply": m })
    }

    fn event(&mut self, hdr: ReplyHeader, r: &mut JuteReader<'_>) -> Value {
        match WatcherEvent::read(r) {
            Ok(ev) => {
                let mut m = Map::new();
                m.insert("zxid".into(), self.zxid(hdr.zxid.0));
                m.insert("err".into(), json!(hdr.err));
                m.insert("type".into(), json!(ev.event_type));
                m.insert("state".into(), json!(ev.state));
                m.insert("path".into(), json!(ev.path));
                if r.remaining() > 0 {
                    m.insert("trailing_hex".into(), json!(encode_hex(r.rest())));
                }
                json!({ "event": m })
            }
            Err(e) => {
                json!({ "bad_event": { "hex": encode_hex(r.rest()), "error": e.to_string() } })
            }
        }
    }

    fn response(&mut self, resp: &Response) -> Value {
        match resp {
            Response::Empty => json!({}),
            Response::Create { path } => json!({ "path": path }),
            Response::Create2 { path, stat } => json!({ "path": path, "stat": self.stat(stat) }),
            Response::Stat(stat) => json!({ "stat": self.stat(stat) }),
            Response::GetData { data, stat } => {
                json!({ "data": data_json(data), "stat": self.stat(stat) })
            }
            Response::GetAcl { acl, stat } => {
                let acl: Vec<Value> = acl
                    .iter()
                    .map(|a| json!({ "perms": a.perms, "scheme": a.id.scheme, "id": a.id.id }))
                    .collect();
                json!({ "acl": acl, "stat": self.stat(stat) })
            }
            Response::Children { children } => json!({ "children": sorted(children) }),
            Response::Children2 { children, stat } => {
                json!({ "children": sorted(children), "stat": self.stat(stat) })
            }
            Response::Sync { path } => json!({ "path": path }),
            Response::Multi(results) => {
                let v: Vec<Value> = results.iter().map(|r| self.multi_result(r)).collect();
                json!({ "results": v })
            }
            Response::ErrorResponse(e) => json!({ "err": e }),
            Response::Ephemerals(paths) => json!({ "ephemerals": sorted(paths) }),
            Response::AllChildrenNumber(n) => json!({ "total": n }),
            Response::WhoAmI(infos) => {
                let mut v: Vec<(String, String)> = infos.clone();
                v.sort();
                let v: Vec<Value> = v
                    .into_iter()
                    .map(|(scheme, user)| json!({ "scheme": scheme, "user": user }))
                    .collect();
                json!({ "client_info": v })
            }
            Response::Sasl { token } => json!({ "token": token.as_ref().map(|t| encode_hex(t)) }),
        }
    }

    fn multi_result(&mut self, r: &MultiResult) -> Value {
        match r {
            MultiResult::Create { path } => json!({ "type": op::CREATE, "path": path }),
            MultiResult::Create2 { path, stat } => {
                json!({ "type": op::CREATE2, "path": path, "stat": self.stat(stat) })
            }
            MultiResult::Delete => json!({ "type": op::DELETE }),
            MultiResult::SetData { stat } => {
                json!({ "type": op::SET_DATA, "stat": self.stat(stat) })
            }
            MultiResult::Check => json!({ "type": op::CHECK }),
            MultiResult::GetChildren { children } => {
                json!({ "type": op::GET_CHILDREN, "children": sorted(children) })
            }
            MultiResult::GetData { data, stat } => {
                json!({ "type": op::GET_DATA, "data": data_json(data), "stat": self.stat(stat) })
            }
            MultiResult::Error(e) => json!({ "type": op::ERROR, "err": e }),
        }
    }
}

/// A decoded success body: a core `Response`, or JSON for the shapes it does not model.
enum Body {
    Response(Response),
    Json(Value),
}

/// Decode a success body. Two shapes ZooKeeper sends are outside the core codec: a sync
/// reply echoing a null path, and the SASL reply (`SetSASLResponse{buffer token}`).
fn decode_body(op: i32, r: &mut JuteReader<'_>) -> corral_core::jute::JuteResult<Body> {
    match op {
        op::SYNC => Ok(Body::Json(json!({ "path": r.read_ustring()? }))),
        op::SASL => {
            let token = r.read_buffer()?;
            Ok(Body::Json(
                json!({ "token": token.map(|t| encode_hex(&t)) }),
            ))
        }
        _ => Response::decode(op, r).map(Body::Response),
    }
}

fn sorted(v: &[String]) -> Value {
    let mut v = v.to_vec();
    v.sort();
    json!(v)
}

/// Data as text when it is printable UTF-8, else hex; null stays null.
fn data_json(d: &Option<Vec<u8>>) -> Value {
    match d {
        None => Value::Null,
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) if s.chars().all(|c| !c.is_control()) && b.len() <= 256 => json!(s),
            _ if b.len() > 256 => json!({ "len": b.len(), "prefix_hex": encode_hex(&b[..16]) }),
            _ => json!({ "hex": encode_hex(b) }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxids_are_relative_to_the_first_positive_one() {
        let mut n = Normaliser::default();
        assert_eq!(n.zxid(0), json!(0));
        assert_eq!(n.zxid(-1), json!(-1));
        assert_eq!(n.zxid(100), json!("z+0"));
        assert_eq!(n.zxid(103), json!("z+3"));
        assert_eq!(n.zxid(42), json!("pre"));
    }

    #[test]
    fn sessions_and_passwords_number_by_first_appearance() {
        let mut n = Normaliser::default();
        assert_eq!(n.session(77), json!("s1"));
        assert_eq!(n.session(5), json!("s2"));
        assert_eq!(n.session(77), json!("s1"));
        assert_eq!(n.password(&[0; 16]), json!("zeros"));
        assert_eq!(n.password(&[1; 16]), json!("p1"));
        assert_eq!(n.password(&[2; 16]), json!("p2"));
        assert_eq!(n.password(&[1; 16]), json!("p1"));
    }
}
