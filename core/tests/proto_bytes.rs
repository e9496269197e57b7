//! Byte-exact layouts from the compatibility reference (§1-§3, §7.2, §9.2).

use corral_core::jute::{JuteReader, JuteWriter, Record};
use corral_core::proto::data::STAT_LEN;
use corral_core::proto::event::WatcherEvent;
use corral_core::proto::{
    encode_reply_frame, encode_request_frame, op, Acl, ConnectRequest, ConnectResponse,
    CreateRequest, MultiResult, ReplyHeader, Request, Response, Stat,
};
use corral_core::types::{SessionId, Zxid};

/// Parse "00 0a ff" style hex, ignoring spaces, `|` and newlines.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    assert_eq!(digits.len() % 2, 0, "odd number of hex digits");
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

#[test]
fn failed_multi_reply_matches_the_probed_bytes() {
    // §9.2: create + check(bad version) → ErrorResult(0), ErrorResult(-103), end marker.
    let body = hex("ffffffff 00 00000000 | 00000000
         ffffffff 00 ffffff99 | ffffff99
         ffffffff 01 ffffffff");
    let resp = Response::Multi(vec![MultiResult::Error(0), MultiResult::Error(-103)]);
    let mut w = JuteWriter::new();
    resp.write_body(&mut w);
    assert_eq!(w.into_inner(), body);

    let mut r = JuteReader::new(&body);
    assert_eq!(Response::decode(op::MULTI, &mut r).unwrap(), resp);
    r.finish().unwrap();

    // The whole frame: header err stays 0.
    let hdr = ReplyHeader {
        xid: 3,
        zxid: Zxid(0x1_0000_0005),
        err: 0,
    };
    let mut expected = hex("00000033 00000003 0000000100000005 00000000");
    expected.extend_from_slice(&body);
    assert_eq!(encode_reply_frame(hdr, Some(&resp)), expected);
}

#[test]
fn multi_request_layout() {
    let req = Request::Multi(vec![Request::Check {
        path: "/a".into(),
        version: 7,
    }]);
    let expected = hex("00000024 00000001 0000000e
         0000000d 00 ffffffff | 00000002 2f61 00000007
         ffffffff 01 ffffffff");
    assert_eq!(encode_request_frame(1, &req), expected);
}

#[test]
fn stat_is_68_bytes_in_field_order() {
    let s = Stat {
        czxid: Zxid(0x0102030405060708),
        mzxid: Zxid(0x1112131415161718),
        ctime: 0x2122232425262728,
        mtime: 0x3132333435363738,
        version: 0x41424344,
        cversion: -2,
        aversion: 0x51525354,
        ephemeral_owner: SessionId(0x6162636465666768),
        data_length: 0x71727374,
        num_children: 0x01020304,
        pzxid: Zxid(-1),
    };
    let expected = hex(
        "0102030405060708 1112131415161718 2122232425262728 3132333435363738
         41424344 fffffffe 51525354 6162636465666768 71727374 01020304
         ffffffffffffffff",
    );
    assert_eq!(expected.len(), STAT_LEN);
    assert_eq!(s.to_bytes(), expected);
    assert_eq!(Stat::from_bytes(&expected).unwrap(), s);
}

#[test]
fn connect_response_is_36_or_37_bytes() {
    let mut resp = ConnectResponse {
        protocol_version: 0,
        timeout_ms: 4000,
        session_id: SessionId(0x0100_0005_747f_0000),
        passwd: (1..=16).collect(),
        read_only: Some(false),
    };
    let expected = hex("00000000 00000fa0 01000005747f0000
         00000010 0102030405060708090a0b0c0d0e0f10 00");
    let mut w = JuteWriter::new();
    resp.write(&mut w);
    assert_eq!(w.into_inner(), expected);
    assert_eq!(expected.len(), 37);
    assert_eq!(ConnectResponse::decode(&expected).unwrap(), resp);

    resp.read_only = None;
    let mut w = JuteWriter::new();
    resp.write(&mut w);
    assert_eq!(w.into_inner(), expected[..36]);
    assert_eq!(ConnectResponse::decode(&expected[..36]).unwrap(), resp);

    // The invalid-session answer: timeout 0, id 0, 16 zero bytes.
    let mut w = JuteWriter::new();
    ConnectResponse::invalid(Some(true)).write(&mut w);
    assert_eq!(
        w.into_inner(),
        hex("00000000 00000000 0000000000000000 00000010 00000000000000000000000000000000 00")
    );
}

#[test]
fn connect_request_is_44_or_45_bytes() {
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: Zxid(0x2_0000_0001),
        timeout_ms: 30000,
        session_id: SessionId(0),
        passwd: vec![0; 16],
        read_only: Some(true),
    };
    let expected = hex("00000000 0000000200000001 00007530 0000000000000000
         00000010 00000000000000000000000000000000 01");
    let mut w = JuteWriter::new();
    req.write(&mut w);
    assert_eq!(w.into_inner(), expected);
    assert_eq!(expected.len(), 45);
    let old = ConnectRequest::decode(&expected[..44]).unwrap();
    assert_eq!(old.read_only, None);
}

#[test]
fn ping_frame_and_reply() {
    assert_eq!(
        encode_request_frame(-2, &Request::Ping),
        hex("00000008 fffffffe 0000000b")
    );
    let reply = ReplyHeader {
        xid: -2,
        zxid: Zxid(0x10),
        err: 0,
    };
    assert_eq!(
        encode_reply_frame(reply, None),
        hex("00000010 fffffffe 0000000000000010 00000000")
    );
}

#[test]
fn error_reply_is_a_bare_header() {
    let hdr = ReplyHeader {
        xid: 9,
        zxid: Zxid(0x1_0000_0002),
        err: -101,
    };
    assert_eq!(
        encode_reply_frame(hdr, None),
        hex("00000010 00000009 0000000100000002 ffffff9b")
    );
}

#[test]
fn notification_frame() {
    // §7.2: ReplyHeader{-1, -1 (3.8), 0} ++ WatcherEvent{NodeDataChanged, SyncConnected, "/a"}.
    let mut w = JuteWriter::framed();
    ReplyHeader {
        xid: -1,
        zxid: Zxid(-1),
        err: 0,
    }
    .write(&mut w);
    WatcherEvent {
        event_type: 3,
        state: 3,
        path: "/a".into(),
    }
    .write(&mut w);
    assert_eq!(
        w.finish_frame(),
        hex("0000001e ffffffff ffffffffffffffff 00000000 00000003 00000003 00000002 2f61")
    );
}

#[test]
fn create_request_with_open_acl() {
    let req = Request::Create {
        op: op::CREATE,
        req: CreateRequest {
            path: "/a".into(),
            data: Some(b"x".to_vec()),
            acl: Some(Acl::open_unsafe()),
            flags: 0,
            ttl: None,
        },
    };
    let expected = hex("00000032 00000001 00000001
         00000002 2f61 00000001 78
         00000001 0000001f 00000005 776f726c64 00000006 616e796f6e65
         00000000");
    assert_eq!(encode_request_frame(1, &req), expected);
}

#[test]
fn add_watch_reply_has_a_four_byte_body() {
    let mut w = JuteWriter::new();
    Response::ErrorResponse(0).write_body(&mut w);
    assert_eq!(w.into_inner(), hex("00000000"));
}

#[test]
fn null_data_and_null_acl_are_minus_one() {
    let req = Request::SetData {
        path: "/".into(),
        data: None,
        version: -1,
    };
    assert_eq!(
        encode_request_frame(2, &req),
        hex("00000015 00000002 00000005 00000001 2f ffffffff ffffffff")
    );
    let req = Request::SetAcl {
        path: "/".into(),
        acl: None,
        version: 0,
    };
    assert_eq!(
        encode_request_frame(3, &req),
        hex("00000015 00000003 00000007 00000001 2f ffffffff 00000000")
    );
}
