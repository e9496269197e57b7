//! Sessions and the handshake (§2, §10).

use super::*;
use crate::conformance::spec::{ConnectSpec, ReqSpec, Scenario, ZxidRef};

pub fn all() -> Vec<Scenario> {
    vec![
        session_close(),
        session_resume(),
        session_resume_kicks_live_connection(),
        session_wrong_password(),
        session_no_readonly_byte(),
        session_readonly_true_on_rw_server(),
        session_timeout_clamp(),
        session_last_zxid_ahead(),
        session_unknown_id(),
        session_pipelined_handshake(),
        session_owner_mapping(),
        session_expiry(),
    ]
}

fn resume(from: &str) -> ConnectSpec {
    let mut s = conn_spec();
    s.resume = Some(from.to_owned());
    s
}

fn session_close() -> Scenario {
    let mut b = B::new("session_close", "closeSession: empty reply with the txn's zxid, then the server closes; the session's ephemerals are gone; resuming it gets the invalid ConnectResponse");
    let e = b.p("e");
    b.connect("b")
        .req("a", create(&e, "", EPHEMERAL))
        .req("a", ReqSpec::CloseSession)
        .expect_closed("a")
        .req("b", exists(&e, false))
        .connect_with("a2", resume("a"))
        .expect_closed("a2");
    b.build()
}

fn session_resume() -> Scenario {
    let mut b = B::new("session_resume", "resuming with id and password after the socket drops: same session id and password, the requested timeout, ephemerals intact");
    let e = b.p("e");
    let mut r = resume("a");
    r.timeout_ms = 20_000;
    b.req("a", create(&e, "", EPHEMERAL))
        .close("a")
        .connect_with("a2", r)
        .req("a2", exists(&e, false))
        .req("a2", ephemerals("/"))
        .req("a2", ReqSpec::CloseSession)
        .expect_closed("a2");
    b.build()
}

fn session_resume_kicks_live_connection() -> Scenario {
    let mut b = B::new("session_resume_kicks_live_connection", "resuming a session that still has a live connection: the old connection is closed, the new one works");
    let e = b.p("e");
    b.req("a", create(&e, "", EPHEMERAL))
        .connect_with("a2", resume("a"))
        .expect_closed("a")
        .req("a2", exists(&e, false));
    b.build()
}

fn session_wrong_password() -> Scenario {
    let mut b = B::new("session_wrong_password", "resuming with a wrong password: invalid ConnectResponse (timeout 0, id 0, 16 zero bytes, readOnly false), then close; the live connection is closed too; the session itself survives");
    let e = b.p("e");
    let mut bad = resume("a");
    bad.wrong_password = true;
    b.req("a", create(&e, "", EPHEMERAL))
        .connect_with("bad", bad)
        .expect_closed("bad")
        .expect_closed("a")
        .connect_with("a3", resume("a"))
        .req("a3", exists(&e, false));
    b.build()
}

fn session_no_readonly_byte() -> Scenario {
    let mut b = B::bare("session_no_readonly_byte", "a handshake without the readOnly byte (44 bytes) gets a 36-byte ConnectResponse, valid or invalid");
    let mut old = conn_spec();
    old.read_only = None;
    let mut old_resume = resume("a");
    old_resume.read_only = None;
    let mut old_bad = old_resume.clone();
    old_bad.wrong_password = true;
    b.connect_with("a", old)
        .req("a", ReqSpec::Ping)
        .close("a")
        .connect_with("a2", old_resume)
        .req("a2", ReqSpec::Ping)
        .connect_with("bad", old_bad)
        .expect_closed("bad");
    b.build()
}

fn session_readonly_true_on_rw_server() -> Scenario {
    let mut b = B::bare("session_readonly_true_on_rw_server", "a client that accepts read-only servers (readOnly byte 1) connecting to a read-write server gets readOnly false");
    let mut ro = conn_spec();
    ro.read_only = Some(true);
    b.connect_with("a", ro).req("a", ReqSpec::Ping);
    b.build()
}

fn session_timeout_clamp() -> Scenario {
    let mut b = B::bare(
        "session_timeout_clamp",
        "negotiated timeout is clamped to [2, 20] ticks (4000..40000 with tickTime 2000)",
    );
    for (i, t) in [100, 0, -5, 3999, 4000, 4001, 39_999, 40_001, 1_000_000_000]
        .iter()
        .enumerate()
    {
        let mut s = conn_spec();
        s.timeout_ms = *t;
        let c = format!("c{i}");
        b.connect_with(&c, s)
            .req(&c, ReqSpec::CloseSession)
            .expect_closed(&c);
    }
    b.build()
}

fn session_last_zxid_ahead() -> Scenario {
    let mut b = B::bare("session_last_zxid_ahead", "a handshake whose lastZxidSeen is ahead of the server is closed without a ConnectResponse; one equal to the server's is accepted");
    let mut ahead = conn_spec();
    ahead.last_zxid_seen = ZxidRef::Literal(1 << 50);
    let mut equal = conn_spec();
    equal.last_zxid_seen = ZxidRef::Mark("now".into());
    b.connect("a")
        .req("a", ReqSpec::Ping)
        .mark("now")
        .connect_with("ahead", ahead)
        .expect_closed("ahead")
        .connect_with("equal", equal)
        .req("equal", ReqSpec::Ping);
    b.build()
}

fn session_unknown_id() -> Scenario {
    let mut b = B::bare(
        "session_unknown_id",
        "resuming a session id the server never issued: invalid ConnectResponse, then close",
    );
    let mut s = conn_spec();
    s.unknown_session = true;
    b.connect_with("a", s).expect_closed("a");
    let mut s2 = conn_spec();
    s2.unknown_session = true;
    s2.read_only = None;
    b.connect_with("b", s2).expect_closed("b");
    b.build()
}

fn session_pipelined_handshake() -> Scenario {
    let mut b = B::new("session_pipelined_handshake", "requests pipelined right behind the ConnectRequest are answered after the ConnectResponse, in order");
    let root = b.p("");
    let mut nw = conn_spec();
    nw.no_wait = true;
    let x = b.p("x");
    b.connect_with("p", nw)
        .send("p", create(&x, "", EPHEMERAL))
        .send("p", exists(&root, false))
        .req("p", get(&x, false));
    b.build()
}

fn session_owner_mapping() -> Scenario {
    let mut b = B::new("session_owner_mapping", "ephemeralOwner of each session's node is that session's id (as returned in its ConnectResponse)");
    let (x, y, z) = (b.p("x"), b.p("y"), b.p("z"));
    b.connect("b")
        .connect("c")
        .req("c", create2(&z, "", EPHEMERAL))
        .req("a", create2(&x, "", EPHEMERAL))
        .req("b", create2(&y, "", EPHEMERAL))
        .req("c", exists(&x, false))
        .req("c", exists(&y, false));
    b.build()
}

fn session_expiry() -> Scenario {
    let mut b = B::new("session_expiry", "a 4 s session whose client vanishes expires: its ephemerals are deleted (NodeDeleted to a watcher) and resuming it gets the invalid ConnectResponse");
    let e = b.p("e");
    let mut short = conn_spec();
    short.timeout_ms = 4000;
    b.connect_with("s", short)
        .connect("b")
        .req("s", create(&e, "", EPHEMERAL))
        .req("b", exists(&e, true))
        .close("s")
        .events_wait("b", 15_000, 1)
        .req("b", exists(&e, false))
        .connect_with("s2", resume("s"))
        .expect_closed("s2");
    b.build()
}
