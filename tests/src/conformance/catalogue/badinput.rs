//! Malformed input: unknown opcodes, frame size limits, garbage and truncated bodies, null
//! paths, odd handshakes (§1.1, §3.3).

use corral_core::jute::JuteWriter;
use corral_core::proto::data::{write_acls, Acl};
use serde_json::json;

use super::*;
use crate::conformance::spec::{encode_hex, CreateSpec, Data, ReqSpec, Scenario};

pub fn all() -> Vec<Scenario> {
    vec![
        bad_unknown_opcode(),
        bad_unassigned_opcodes(),
        bad_create_session_op(),
        bad_delete_container_from_client(),
        bad_oversized_length(),
        frame_size_boundary(),
        big_data_accepted(),
        bad_garbage_body(),
        bad_truncated_body(),
        bad_null_paths(),
        bad_negative_length(),
        bad_tiny_frames(),
        bad_handshakes(),
        bad_trailing_bytes(),
        bad_utf8_path(),
        bad_bool_byte(),
        bad_multi_framing(),
        xid_echo(),
    ]
}

fn body(f: impl FnOnce(&mut JuteWriter)) -> Vec<u8> {
    let mut w = JuteWriter::new();
    f(&mut w);
    w.into_inner()
}

fn bad_unknown_opcode() -> Scenario {
    let mut b = B::bare("bad_unknown_opcode", "an unknown opcode (55) gets err -6 Unimplemented with header zxid -1, then the connection is closed");
    b.connect("a")
        .raw("a", &frame_hex(5, 55, &[]), Some((5, 55)))
        .expect_closed("a");
    b.build()
}

fn bad_unassigned_opcodes() -> Scenario {
    let mut b = B::bare("bad_unassigned_opcodes", "opcodes a client never sends: 10 (unassigned), 0 (notification), 23, 1000, -1: Unimplemented with zxid -1, then close");
    for (i, op) in [10, 0, 23, 1000, -1].iter().enumerate() {
        let c = format!("c{i}");
        b.connect(&c)
            .raw(
                &c,
                &frame_hex(9, *op, &body(|w| w.write_string("/"))),
                Some((9, *op)),
            )
            .expect_closed(&c);
    }
    b.build()
}

fn bad_create_session_op() -> Scenario {
    let mut b = B::bare("bad_create_session_op", "op -10 (createSession) sent after the handshake: ZooKeeper 3.8.0 answers with a bare ConnectResponse for the connection's own session (no reply header) and closes; Corral treats it as an unknown opcode");
    b.difference("a client-sent createSession (-10) is answered Unimplemented (-6), zxid -1, then close, like any opcode a client may not send; 3.8.0 re-runs session setup and writes a ConnectResponse into the reply stream");
    b.connect("a")
        .raw(
            "a",
            &frame_hex(9, -10, &body(|w| w.write_string("/"))),
            Some((9, -10)),
        )
        .corral_replace(
            "client-sent createSession is not a client opcode",
            vec![json!({ "reply": { "xid": 9, "zxid": -1, "err": -6, "body": null } })],
        )
        .expect_closed("a");
    b.build()
}

fn bad_delete_container_from_client() -> Scenario {
    let mut b = B::new("bad_delete_container_from_client", "op 20 (deleteContainer, server-internal) sent by a client, on a container and on a plain node");
    let (c, n) = (b.p("c"), b.p("n"));
    b.req("a", container(&c, CONTAINER))
        .req("a", create(&n, "", 0))
        .connect("b")
        .raw(
            "b",
            &frame_hex(9, 20, &body(|w| w.write_string(&c))),
            Some((9, 20)),
        )
        .expect_closed("b")
        .req("a", exists(&c, false))
        .connect("d")
        .raw(
            "d",
            &frame_hex(9, 20, &body(|w| w.write_string(&n))),
            Some((9, 20)),
        )
        .expect_closed("d")
        .req("a", exists(&n, false));
    b.build()
}

fn bad_oversized_length() -> Scenario {
    let mut b = B::bare("bad_oversized_length", "a length prefix over jute.maxbuffer (0x100000, 0x7fffffff) closes the connection without a reply");
    b.connect("a")
        .raw("a", "00100000 00000001 00000003", None)
        .expect_closed("a")
        .connect("b")
        .raw("b", "7fffffff 00000001 00000003", None)
        .expect_closed("b");
    b.build()
}

/// A create of `path` whose frame length (after the prefix) is exactly `frame_len`.
fn create_of_frame_len(path: &str, frame_len: usize) -> ReqSpec {
    // 8 header + (4 + path) + (4 + data) + 27 open ACL (count, perms, "world", "anyone")
    // + 4 flags
    let data = frame_len - (8 + 4 + path.len() + 4 + 27 + 4);
    ReqSpec::Create(CreateSpec {
        path: path.to_owned(),
        data: Some(Data::Fill {
            fill: b'z',
            len: data,
        }),
        acl: Some(open()),
        flags: 0,
        ttl: None,
    })
}

fn frame_size_boundary() -> Scenario {
    let mut b = B::new("frame_size_boundary", "a request frame of exactly jute.maxbuffer (1,048,575 bytes) is accepted, one byte more closes the connection");
    let (x, y) = (b.p("x"), b.p("y"));
    b.req("a", create_of_frame_len(&x, 0xfffff))
        .req("a", exists(&x, false))
        .connect("b")
        .req("b", create_of_frame_len(&y, 0x100000))
        .expect_closed("b")
        .req("a", exists(&y, false));
    b.build()
}

fn big_data_accepted() -> Scenario {
    let mut b = B::new(
        "big_data_accepted",
        "a 1,000,000-byte payload is accepted and read back",
    );
    let x = b.p("x");
    b.req(
        "a",
        ReqSpec::Create2(CreateSpec {
            path: x.clone(),
            data: Some(Data::Fill {
                fill: b'q',
                len: 1_000_000,
            }),
            acl: Some(open()),
            flags: 0,
            ttl: None,
        }),
    )
    .req("a", get(&x, false))
    .req(
        "a",
        ReqSpec::SetData {
            path: x.clone(),
            data: Some(Data::Fill {
                fill: b'r',
                len: 999_999,
            }),
            version: -1,
        },
    );
    b.build()
}

fn bad_garbage_body() -> Scenario {
    let mut b = B::new("bad_garbage_body", "a body that does not decode: MarshallingError (-5), the connection stays open and the next request works");
    let root = b.p("");
    b.raw(
        "a",
        &frame_hex(100, 1, &[0xde, 0xad, 0xbe, 0xef]),
        Some((100, 1)),
    )
    .raw(
        "a",
        &frame_hex(101, 4, &[0xff, 0xff, 0xff, 0xf0, 0x00]),
        Some((101, 4)),
    )
    .raw("a", &frame_hex(102, 14, &[0x01, 0x02]), Some((102, 14)))
    .raw(
        "a",
        &frame_hex(
            103,
            7,
            &body(|w| {
                w.write_string(&root);
                w.write_i32(0x7fff_ffff);
            }),
        ),
        Some((103, 7)),
    )
    .req("a", exists(&root, false));
    b.build()
}

fn bad_truncated_body() -> Scenario {
    let mut b = B::new(
        "bad_truncated_body",
        "bodies cut short inside a field: MarshallingError (-5), nothing applied",
    );
    let x = b.p("x");
    let mut path50 = 50i32.to_be_bytes().to_vec();
    path50.extend_from_slice(b"/ab");
    b.raw("a", &frame_hex(100, 1, &path50), Some((100, 1)))
        .raw(
            "a",
            &frame_hex(101, 4, &body(|w| w.write_string(&x))),
            Some((101, 4)),
        )
        .raw(
            "a",
            &frame_hex(
                102,
                1,
                &body(|w| {
                    w.write_string(&x);
                    w.write_buffer(Some(b"d"));
                }),
            ),
            Some((102, 1)),
        )
        .raw(
            "a",
            &frame_hex(
                103,
                5,
                &body(|w| {
                    w.write_string(&x);
                    w.write_buffer(Some(b"d"));
                }),
            ),
            Some((103, 5)),
        )
        .raw(
            "a",
            &frame_hex(104, 2, &body(|w| w.write_string(&x))),
            Some((104, 2)),
        )
        .req("a", exists(&x, false));
    b.build()
}

fn bad_null_paths() -> Scenario {
    let mut b = B::new("bad_null_paths", "a null path (-1 length) in each op's request: MarshallingError (-5), connection stays open");
    let root = b.p("");
    let null = |tail: &dyn Fn(&mut JuteWriter)| {
        body(|w| {
            w.write_ustring(None);
            tail(w);
        })
    };
    let acl = |w: &mut JuteWriter| write_acls(w, &Acl::open_unsafe());
    let cases: Vec<(i32, Vec<u8>)> = vec![
        (
            1,
            null(&|w| {
                w.write_buffer(Some(b""));
                acl(w);
                w.write_i32(0);
            }),
        ),
        (
            15,
            null(&|w| {
                w.write_buffer(Some(b""));
                acl(w);
                w.write_i32(0);
            }),
        ),
        (2, null(&|w| w.write_i32(-1))),
        (3, null(&|w| w.write_bool(false))),
        (4, null(&|w| w.write_bool(false))),
        (
            5,
            null(&|w| {
                w.write_buffer(Some(b""));
                w.write_i32(-1);
            }),
        ),
        (6, null(&|_| {})),
        (
            7,
            null(&|w| {
                acl(w);
                w.write_i32(-1);
            }),
        ),
        (8, null(&|w| w.write_bool(false))),
        (12, null(&|w| w.write_bool(false))),
        (9, null(&|_| {})),
        (17, null(&|w| w.write_i32(3))),
        (18, null(&|w| w.write_i32(3))),
        (103, null(&|_| {})),
        (104, null(&|_| {})),
        (106, null(&|w| w.write_i32(0))),
    ];
    b.difference("sync with a null path → MarshallingError (-5); 3.8.0 echoes the null path");
    for (i, (op, bytes)) in cases.into_iter().enumerate() {
        let xid = 200 + i as i32;
        b.raw("a", &frame_hex(xid, op, &bytes), Some((xid, op)));
        if op == 9 {
            b.corral_patch(
                "no client sends a null sync path; Corral's Sync request carries a real path",
                &[("/0/reply/err", json!(-5)), ("/0/reply/body", json!(null))],
            );
        }
    }
    // a null path inside a multi sub-op
    let sub = body(|w| {
        w.write_i32(1);
        w.write_bool(false);
        w.write_i32(-1);
        w.write_ustring(None);
        w.write_buffer(Some(b""));
        acl(w);
        w.write_i32(0);
        w.write_i32(-1);
        w.write_bool(true);
        w.write_i32(-1);
    });
    b.raw("a", &frame_hex(300, 14, &sub), Some((300, 14)))
        .req("a", children(&root, false));
    b.build()
}

fn bad_negative_length() -> Scenario {
    let mut b = B::bare(
        "bad_negative_length",
        "a negative length prefix closes the connection without a reply",
    );
    b.connect("a").raw("a", "ffffffff", None).expect_closed("a");
    b.connect("b").raw("b", "80000000", None).expect_closed("b");
    b.build()
}

fn bad_tiny_frames() -> Scenario {
    let mut b = B::bare(
        "bad_tiny_frames",
        "frames too short for a request header: length 0, and 4 bytes (xid only)",
    );
    b.connect("a")
        .raw("a", "00000000", None)
        .req("a", ReqSpec::Ping);
    b.connect("b")
        .raw("b", "00000004 00000001", None)
        .req("b", ReqSpec::Ping);
    b.build()
}

fn bad_handshakes() -> Scenario {
    let mut b = B::bare("bad_handshakes", "hand-made handshakes: garbage, truncated, short password, extra trailing bytes, protocol version 1, a request frame instead of a ConnectRequest");
    let hs = |pv: i32, passwd: &[u8], extra: &[u8]| {
        let mut w = JuteWriter::new();
        w.write_i32(pv);
        w.write_i64(0);
        w.write_i32(30_000);
        w.write_i64(0);
        w.write_buffer(Some(passwd));
        w.write_raw(extra);
        let b = w.into_inner();
        let mut f = (b.len() as i32).to_be_bytes().to_vec();
        f.extend_from_slice(&b);
        encode_hex(&f)
    };
    let cases = [
        ("garbage", "00000008 0102030405060708".to_owned()),
        ("truncated", "0000000a 00000000000000000000".to_owned()),
        ("short_password", hs(0, &[0; 8], &[0])),
        ("no_password", hs(0, &[], &[0])),
        ("extra_bytes", hs(0, &[0; 16], &[0, 1, 2, 3])),
        ("protocol_1", hs(1, &[0; 16], &[0])),
        (
            "request_frame",
            frame_hex(
                1,
                3,
                &body(|w| {
                    w.write_string("/");
                    w.write_bool(false);
                }),
            ),
        ),
    ];
    for (name, hex) in cases {
        b.open_conn(name)
            .raw_connect(name, &hex)
            .req(name, ReqSpec::Ping)
            .close(name);
    }
    b.build()
}

fn bad_trailing_bytes() -> Scenario {
    let mut b = B::new(
        "bad_trailing_bytes",
        "extra bytes after a complete request body are ignored",
    );
    let x = b.p("x");
    let create_body = body(|w| {
        w.write_string(&x);
        w.write_buffer(Some(b"d"));
        write_acls(w, &Acl::open_unsafe());
        w.write_i32(0);
        w.write_raw(&[1, 2, 3, 4, 5]);
    });
    b.raw("a", &frame_hex(100, 1, &create_body), Some((100, 1)))
        .raw(
            "a",
            &frame_hex(
                101,
                4,
                &body(|w| {
                    w.write_string(&x);
                    w.write_bool(false);
                    w.write_i32(77);
                }),
            ),
            Some((101, 4)),
        )
        .raw("a", &frame_hex(-2, 11, &[9, 9, 9]), Some((-2, 11)))
        .raw("a", &frame_hex(102, 107, &[1]), Some((102, 107)));
    b.build()
}

fn bad_utf8_path() -> Scenario {
    let mut b = B::new("bad_utf8_path", "paths that are not valid UTF-8 (0xff, an encoded surrogate ED A0 80, an overlong NUL C0 80) in writes and reads");
    let root = b.p("");
    let cases: [&[u8]; 3] = [&[0xff], &[0xed, 0xa0, 0x80], &[0xc0, 0x80]];
    for (i, bad) in cases.iter().enumerate() {
        let mut p = format!("{root}/x").into_bytes();
        p.extend_from_slice(bad);
        let create_body = body(|w| {
            w.write_buffer(Some(&p));
            w.write_buffer(Some(b""));
            write_acls(w, &Acl::open_unsafe());
            w.write_i32(0);
        });
        let get_body = body(|w| {
            w.write_buffer(Some(&p));
            w.write_bool(false);
        });
        let xid = 100 + 2 * i as i32;
        b.raw("a", &frame_hex(xid, 1, &create_body), Some((xid, 1)))
            .raw("a", &frame_hex(xid + 1, 4, &get_body), Some((xid + 1, 4)));
    }
    b.req("a", children(&root, false));
    b.build()
}

fn bad_bool_byte() -> Scenario {
    let mut b = B::new(
        "bad_bool_byte",
        "a watch flag byte of 0x02 counts as true (the watch fires)",
    );
    let x = b.p("x");
    b.connect("b")
        .raw(
            "a",
            &frame_hex(
                100,
                3,
                &body(|w| {
                    w.write_string(&x);
                    w.write_u8(2);
                }),
            ),
            Some((100, 3)),
        )
        .req("b", create(&x, "", 0))
        .events("a");
    b.build()
}

fn bad_multi_framing() -> Scenario {
    let mut b = B::new(
        "bad_multi_framing",
        "multi bodies with a missing end marker, or an end marker with done=false and type -1",
    );
    let x = b.p("x");
    let sub = |w: &mut JuteWriter| {
        w.write_i32(1);
        w.write_bool(false);
        w.write_i32(-1);
        w.write_string(&x);
        w.write_buffer(Some(b""));
        write_acls(w, &Acl::open_unsafe());
        w.write_i32(0);
    };
    b.raw("a", &frame_hex(100, 14, &body(|w| sub(w))), Some((100, 14)))
        .raw(
            "a",
            &frame_hex(
                101,
                14,
                &body(|w| {
                    sub(w);
                    w.write_i32(-1);
                    w.write_bool(false);
                    w.write_i32(-1);
                }),
            ),
            Some((101, 14)),
        )
        .req("a", exists(&x, false));
    b.build()
}

fn xid_echo() -> Scenario {
    let mut b = B::new("xid_echo", "replies echo any xid, including negative ones, zero and repeats; pipelined replies keep request order");
    let root = b.p("");
    for xid in [0, -3, -8, 5, 5, i32::MAX] {
        b.req_xid("a", xid, exists(&root, false));
    }
    b.send("a", exists(&root, false))
        .send("a", get(&root, false))
        .req("a", children(&root, false));
    b.build()
}
