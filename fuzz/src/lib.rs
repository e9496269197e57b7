//! Fuzz targets for Corral's decoders and state machines.
//!
//! Each `fuzz_*` function takes arbitrary bytes and must never panic. The assertions inside
//! are properties, so a panic is a bug: whatever decodes re-encodes to bytes that decode to
//! the same value, and the client state machine keeps its invariants (see
//! [`fuzz_client`]).
//!
//! On stable the functions run as ordinary tests (`tests/corpus.rs`: every file under
//! `corpus/<target>/` plus seeded random inputs). With nightly and cargo-fuzz they run under
//! libFuzzer through the thin wrappers in `fuzz_targets/` (see `README.md`).
//!

mod client;
mod replica;
pub mod seeds;
mod server;

pub use client::{fuzz_client, ClientScript};
pub use replica::{fuzz_peer, fuzz_replica};
pub use server::fuzz_server;

use corral_core::jute::{JuteReader, JuteWriter, Record};
use corral_core::proto::event::WatcherEvent;
use corral_core::proto::{
    encode_request_frame, op, ConnectRequest, ConnectResponse, ReplyHeader, Request, RequestHeader,
    Response,
};

/// A fuzz target: takes any bytes, panics only on a bug.
pub type Target = fn(&[u8]);

/// Every target by name (the name of its corpus directory and cargo-fuzz binary).
pub const TARGETS: &[(&str, Target)] = &[
    ("fuzz_request", fuzz_request),
    ("fuzz_connect", fuzz_connect),
    ("fuzz_response", fuzz_response),
    ("fuzz_client", fuzz_client),
    ("fuzz_server", fuzz_server),
    ("fuzz_peer", fuzz_peer),
    ("fuzz_replica", fuzz_replica),
];

/// A client frame payload as the server sees it after framing: RequestHeader ++ body.
/// Whatever decodes must survive a re-encode unchanged.
pub fn fuzz_request(data: &[u8]) {
    let mut r = JuteReader::new(data);
    let Ok(hdr) = RequestHeader::read(&mut r) else {
        return;
    };
    let Ok(req) = Request::decode(hdr.op, &mut r) else {
        return;
    };
    assert_eq!(req.op(), hdr.op, "decoded request travels under another op");
    let frame = encode_request_frame(hdr.xid, &req);
    let len = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
    assert_eq!(len as usize, frame.len() - 4);
    let mut r = JuteReader::new(&frame[4..]);
    let hdr2 = RequestHeader::read(&mut r).expect("re-encoded header decodes");
    assert_eq!(hdr2, hdr);
    let again = Request::decode(hdr2.op, &mut r).expect("re-encoded request decodes");
    assert_eq!(r.remaining(), 0, "re-encoded request has trailing bytes");
    assert_eq!(again, req);
}

/// A handshake frame payload, read both as a ConnectRequest (server side) and as a
/// ConnectResponse (client side).
pub fn fuzz_connect(data: &[u8]) {
    if let Ok(req) = ConnectRequest::decode(data) {
        let mut w = JuteWriter::new();
        req.write(&mut w);
        let b = w.into_inner();
        assert!(b.len() <= data.len(), "re-encoding grew the request");
        assert_eq!(ConnectRequest::decode(&b).expect("re-decodes"), req);
    }
    if let Ok(resp) = ConnectResponse::decode(data) {
        let mut w = JuteWriter::new();
        resp.write(&mut w);
        let b = w.into_inner();
        assert_eq!(ConnectResponse::decode(&b).expect("re-decodes"), resp);
    }
}

/// Opcodes whose replies have distinct shapes, chosen by the first input byte.
const REPLY_OPS: &[i32] = &[
    op::CREATE,
    op::CREATE2,
    op::CREATE_CONTAINER,
    op::CREATE_TTL,
    op::DELETE,
    op::EXISTS,
    op::GET_DATA,
    op::SET_DATA,
    op::GET_ACL,
    op::SET_ACL,
    op::GET_CHILDREN,
    op::GET_CHILDREN2,
    op::SYNC,
    op::PING,
    op::MULTI,
    op::MULTI_READ,
    op::ADD_WATCH,
    op::GET_EPHEMERALS,
    op::GET_ALL_CHILDREN_NUMBER,
    op::WHO_AM_I,
    op::AUTH,
    op::SET_WATCHES2,
    op::CLOSE_SESSION,
];

/// First byte: the opcode (index into a table of reply shapes); the rest: a reply body.
/// The whole input is also read as a ReplyHeader + WatcherEvent notification.
pub fn fuzz_response(data: &[u8]) {
    if let Some((&sel, body)) = data.split_first() {
        let op = REPLY_OPS[usize::from(sel) % REPLY_OPS.len()];
        let mut r = JuteReader::new(body);
        if let Ok(resp) = Response::decode(op, &mut r) {
            let consumed = body.len() - r.remaining();
            let mut w = JuteWriter::new();
            resp.write_body(&mut w);
            let b = w.into_inner();
            // Strings decode leniently (invalid UTF-8 becomes U+FFFD, as in Java), which
            // may lengthen them; otherwise re-encoding never grows the reply.
            let lossy = std::str::from_utf8(&body[..consumed]).is_err();
            assert!(lossy || b.len() <= consumed, "re-encoding grew the reply");
            let mut r = JuteReader::new(&b);
            assert_eq!(Response::decode(op, &mut r).expect("re-decodes"), resp);
            assert_eq!(r.remaining(), 0);
        }
    }
    let mut r = JuteReader::new(data);
    if let (Ok(hdr), Ok(ev)) = (ReplyHeader::read(&mut r), WatcherEvent::read(&mut r)) {
        let mut w = JuteWriter::new();
        hdr.write(&mut w);
        ev.write(&mut w);
        let b = w.into_inner();
        let mut r = JuteReader::new(&b);
        assert_eq!(ReplyHeader::read(&mut r).expect("re-decodes"), hdr);
        assert_eq!(WatcherEvent::read(&mut r).expect("re-decodes"), ev);
    }
}
