//! Peer links on 127.0.0.1 with ephemeral ports. Every wait is for an event, bounded by a
//! generous timeout; nothing asserts on durations. Hand-written peers ("fakes") speak the
//! wire format directly to misbehave in ways a real `PeerNet` never would.

use std::collections::BTreeMap;
use std::time::Duration;

use corral_core::types::{ServerId, Zxid};
use corral_core::zab::message::{
    decode, encode, Hello, LearnerSession, PeerMessage, ZabBody, ZabMessage, MAX_PEER_FRAME,
    PEER_PROTOCOL_VERSION,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::Receiver;
use tokio::time::timeout;

use super::frame::{read_frame, write_frame};
use super::*;

/// Bound for any single wait in these tests.
const WAIT: Duration = Duration::from_secs(20);

fn id(n: u64) -> ServerId {
    ServerId(n)
}

fn peer_addr(port: u16) -> PeerAddr {
    PeerAddr {
        host: "127.0.0.1".to_owned(),
        quorum_port: port,
        // Never bound nor dialled; any other value.
        election_port: port.wrapping_add(1).max(1),
        client_host: None,
        client_port: None,
    }
}

async fn bind() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// Test timing: keepalive every 30 ms, a link silent for 1.5 s is dead, quick redials.
fn config(me: u64, ports: &BTreeMap<u64, u16>) -> PeerNetConfig {
    let peers = ports.iter().map(|(&i, &p)| (id(i), peer_addr(p))).collect();
    let mut c = PeerNetConfig::new(id(me), peers, 60, 25);
    c.backoff_min = Duration::from_millis(10);
    c.backoff_max = Duration::from_millis(200);
    c
}

type Node = (PeerNet, Receiver<PeerEvent>);

/// Real peer networks for `ids`, all on loopback.
async fn cluster(ids: &[u64]) -> (Vec<Node>, BTreeMap<u64, u16>) {
    let mut listeners = Vec::new();
    let mut ports = BTreeMap::new();
    for &i in ids {
        let (l, port) = bind().await;
        listeners.push(l);
        ports.insert(i, port);
    }
    let nodes = ids
        .iter()
        .zip(listeners)
        .map(|(&i, l)| PeerNet::start_on(config(i, &ports), l).unwrap())
        .collect();
    (nodes, ports)
}

async fn next(rx: &mut Receiver<PeerEvent>) -> PeerEvent {
    match timeout(WAIT, rx.recv()).await {
        Ok(Some(e)) => e,
        Ok(None) => panic!("event channel closed"),
        Err(_) => panic!("no peer event within {WAIT:?}"),
    }
}

/// The next `n` events, whatever their order.
async fn next_n(rx: &mut Receiver<PeerEvent>, n: usize) -> Vec<PeerEvent> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(next(rx).await);
    }
    v
}

fn ping(n: u64) -> PeerMessage {
    PeerMessage::Zab(ZabMessage {
        session: LearnerSession(n),
        body: ZabBody::Ping {
            committed: corral_core::types::Zxid(7),
        },
    })
}

fn snap(n: u64, size: usize) -> PeerMessage {
    PeerMessage::Zab(ZabMessage {
        session: LearnerSession(n),
        body: ZabBody::Snap {
            zxid: Zxid(n as i64),
            bytes: vec![n as u8; size],
        },
    })
}

fn hello(version: u32, from: u64, to: u64) -> Vec<u8> {
    encode(&Hello {
        version,
        from: id(from),
        to: id(to),
    })
}

async fn send_frame(s: &mut TcpStream, body: &[u8]) {
    write_frame(s, body, WAIT).await.unwrap();
    s.flush().await.unwrap();
}

/// Whether the other side closed `s` (EOF or reset) before sending anything but
/// keepalives (zero bytes; any frame with content has a non-zero byte in its length).
async fn closed_by_other_side(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match timeout(WAIT, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(n)) if buf[..n].iter().all(|&b| b == 0) => continue,
            Ok(Ok(_)) => return false,
            Err(_) => panic!("connection neither closed nor answered within {WAIT:?}"),
        }
    }
}

/// The next message on `s`, skipping keepalives.
async fn read_message(s: &mut TcpStream) -> PeerMessage {
    loop {
        if let Some(body) = read_frame(s, MAX_PEER_FRAME, WAIT).await.unwrap() {
            return decode(&body).unwrap();
        }
    }
}

/// A fake server `from` dialling `port` with a correct hello; returns once answered.
async fn fake_dial(port: u16, from: u64, to: u64) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    send_frame(&mut s, &hello(PEER_PROTOCOL_VERSION, from, to)).await;
    let answer = read_frame(&mut s, 1024, WAIT).await.unwrap().unwrap();
    let h: Hello = decode(&answer).unwrap();
    assert_eq!(h, decode(&hello(PEER_PROTOCOL_VERSION, to, from)).unwrap());
    s
}

#[tokio::test]
async fn handshake_and_round_trips_both_ways() {
    let (mut nodes, _) = cluster(&[1, 2]).await;
    let (n2, mut rx2) = nodes.pop().unwrap();
    let (n1, mut rx1) = nodes.pop().unwrap();
    assert_eq!(next(&mut rx1).await, PeerEvent::Connected(id(2)));
    assert_eq!(next(&mut rx2).await, PeerEvent::Connected(id(1)));
    assert!(n1.is_connected(id(2)) && n2.is_connected(id(1)));

    // Lower to higher (acceptor to dialer) and back, in order, including a large frame.
    for i in 0..50 {
        assert!(n1.send(id(2), &ping(i)));
    }
    assert!(n1.send(id(2), &snap(7, 3 << 20)));
    for i in 0..50 {
        assert_eq!(next(&mut rx2).await, PeerEvent::Message(id(1), ping(i)));
    }
    assert_eq!(
        next(&mut rx2).await,
        PeerEvent::Message(id(1), snap(7, 3 << 20))
    );
    for i in 100..150 {
        assert!(n2.send(id(1), &ping(i)));
    }
    for i in 100..150 {
        assert_eq!(next(&mut rx1).await, PeerEvent::Message(id(2), ping(i)));
    }
    // Not a peer (and not this server): dropped.
    assert!(!n1.send(id(9), &ping(0)));
    assert!(!n1.send(id(1), &ping(0)));
    n1.shutdown().await;
    n2.shutdown().await;
}

#[tokio::test]
async fn three_servers_link_every_pair() {
    let (nodes, _) = cluster(&[1, 2, 3]).await;
    let mut nodes: Vec<Node> = nodes;
    for (i, (_, rx)) in nodes.iter_mut().enumerate() {
        let me = i as u64 + 1;
        let mut got = next_n(rx, 2).await;
        got.sort_by_key(|e| format!("{e:?}"));
        let want: Vec<PeerEvent> = [1, 2, 3]
            .into_iter()
            .filter(|&o| o != me)
            .map(|o| PeerEvent::Connected(id(o)))
            .collect();
        assert_eq!(got, want, "server {me}");
    }
    assert!(nodes[1].0.send(id(1), &ping(21)));
    assert!(nodes[1].0.send(id(3), &ping(23)));
    assert_eq!(
        next(&mut nodes[0].1).await,
        PeerEvent::Message(id(2), ping(21))
    );
    assert_eq!(
        next(&mut nodes[2].1).await,
        PeerEvent::Message(id(2), ping(23))
    );
    for (n, _) in nodes {
        n.shutdown().await;
    }
}

#[tokio::test]
async fn acceptor_refuses_wrong_hellos() {
    // Server 2 accepts from 3 and dials 1 (a listener that never answers: harmless).
    let (_never, port1) = bind().await;
    let (l2, port2) = bind().await;
    let ports = BTreeMap::from([(1, port1), (2, port2), (3, 1)]);
    let (n2, mut rx2) = PeerNet::start_on(config(2, &ports), l2).unwrap();
    let v = PEER_PROTOCOL_VERSION;
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("another version", hello(v + 1, 3, 2)),
        ("addressed to server 5", hello(v, 3, 5)),
        ("from an unknown server", hello(v, 9, 2)),
        ("from a lower id", hello(v, 1, 2)),
        ("from itself", hello(v, 2, 2)),
        ("garbage", vec![0xff; 9]),
    ];
    for (what, frame) in bad {
        let mut s = TcpStream::connect(("127.0.0.1", port2)).await.unwrap();
        send_frame(&mut s, &frame).await;
        assert!(closed_by_other_side(&mut s).await, "{what}: answered");
    }
    // An oversized hello is refused without reading it.
    let mut s = TcpStream::connect(("127.0.0.1", port2)).await.unwrap();
    s.write_all(&(1u32 << 20).to_be_bytes()).await.unwrap();
    assert!(
        closed_by_other_side(&mut s).await,
        "oversized hello answered"
    );

    // The right hello is answered, and its Connected is the first event: none of the
    // refused connections produced one.
    let mut s = fake_dial(port2, 3, 2).await;
    assert_eq!(next(&mut rx2).await, PeerEvent::Connected(id(3)));
    send_frame(&mut s, &encode(&ping(5))).await;
    assert_eq!(next(&mut rx2).await, PeerEvent::Message(id(3), ping(5)));
    drop(s);
    assert_eq!(next(&mut rx2).await, PeerEvent::Disconnected(id(3)));
    n2.shutdown().await;
}

#[tokio::test]
async fn dialer_refuses_a_wrong_answer_then_retries() {
    let (fake1, port1) = bind().await;
    let (l2, port2) = bind().await;
    let ports = BTreeMap::from([(1, port1), (2, port2)]);
    let (n2, mut rx2) = PeerNet::start_on(config(2, &ports), l2).unwrap();
    let v = PEER_PROTOCOL_VERSION;
    for answer in [
        hello(v, 7, 2),
        hello(v, 1, 4),
        hello(v + 1, 1, 2),
        vec![0xff; 3],
    ] {
        let (mut s, _) = timeout(WAIT, fake1.accept()).await.unwrap().unwrap();
        let got = read_frame(&mut s, 1024, WAIT).await.unwrap().unwrap();
        assert_eq!(got, hello(v, 2, 1), "the dialer's hello");
        send_frame(&mut s, &answer).await;
        assert!(closed_by_other_side(&mut s).await, "wrong answer accepted");
    }
    assert!(matches!(rx2.try_recv(), Err(TryRecvError::Empty)));
    let (mut s, _) = timeout(WAIT, fake1.accept()).await.unwrap().unwrap();
    read_frame(&mut s, 1024, WAIT).await.unwrap().unwrap();
    send_frame(&mut s, &hello(v, 1, 2)).await;
    assert_eq!(next(&mut rx2).await, PeerEvent::Connected(id(1)));
    assert!(n2.send(id(1), &ping(3)));
    assert_eq!(read_message(&mut s).await, ping(3));
    n2.shutdown().await;
}

#[tokio::test]
async fn links_come_back_after_either_side_restarts() {
    let (mut nodes, ports) = cluster(&[1, 2]).await;
    let (n2, mut rx2) = nodes.pop().unwrap();
    let (n1, mut rx1) = nodes.pop().unwrap();
    assert_eq!(next(&mut rx1).await, PeerEvent::Connected(id(2)));
    assert_eq!(next(&mut rx2).await, PeerEvent::Connected(id(1)));

    // The acceptor restarts: the dialer notices and dials again.
    n1.shutdown().await;
    assert_eq!(next(&mut rx2).await, PeerEvent::Disconnected(id(1)));
    assert!(!n2.send(id(1), &ping(0)), "sent on a link that is down");
    let l1 = TcpListener::bind(("127.0.0.1", ports[&1])).await.unwrap();
    let (n1, mut rx1) = PeerNet::start_on(config(1, &ports), l1).unwrap();
    assert_eq!(next(&mut rx1).await, PeerEvent::Connected(id(2)));
    assert_eq!(next(&mut rx2).await, PeerEvent::Connected(id(1)));
    assert!(n2.send(id(1), &ping(1)));
    assert_eq!(next(&mut rx1).await, PeerEvent::Message(id(2), ping(1)));

    // The dialer restarts: the acceptor takes its new connection.
    n2.shutdown().await;
    assert_eq!(next(&mut rx1).await, PeerEvent::Disconnected(id(2)));
    let l2 = TcpListener::bind(("127.0.0.1", ports[&2])).await.unwrap();
    let (n2, mut rx2) = PeerNet::start_on(config(2, &ports), l2).unwrap();
    assert_eq!(next(&mut rx2).await, PeerEvent::Connected(id(1)));
    assert_eq!(next(&mut rx1).await, PeerEvent::Connected(id(2)));
    assert!(n1.send(id(2), &ping(2)));
    assert_eq!(next(&mut rx2).await, PeerEvent::Message(id(1), ping(2)));
    n1.shutdown().await;
    n2.shutdown().await;
}

#[tokio::test]
async fn a_newer_connection_replaces_the_link() {
    let (l1, port1) = bind().await;
    let ports = BTreeMap::from([(1, port1), (2, 1)]);
    let (n1, mut rx1) = PeerNet::start_on(config(1, &ports), l1).unwrap();
    let mut old = fake_dial(port1, 2, 1).await;
    assert_eq!(next(&mut rx1).await, PeerEvent::Connected(id(2)));
    let mut new = fake_dial(port1, 2, 1).await;
    assert_eq!(next(&mut rx1).await, PeerEvent::Disconnected(id(2)));
    assert_eq!(next(&mut rx1).await, PeerEvent::Connected(id(2)));
    assert!(closed_by_other_side(&mut old).await);
    send_frame(&mut new, &encode(&ping(8))).await;
    assert_eq!(next(&mut rx1).await, PeerEvent::Message(id(2), ping(8)));
    n1.shutdown().await;
}

/// Server 3 links with a real server 1 and with a fake server 2 that completes the
/// handshake and then never reads. Messages to 1 all arrive; the link to 2 is closed
/// (its queue overflows) instead of growing or holding anything up.
#[tokio::test]
async fn a_stalled_peer_does_not_block_the_others() {
    // The stalled peer's receive buffer is small, so the kernel absorbs little.
    let stalled = TcpSocket::new_v4().unwrap();
    stalled.set_recv_buffer_size(4096).unwrap();
    stalled.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port2 = stalled.local_addr().unwrap().port();
    let stalled = stalled.listen(8).unwrap();
    let (l1, port1) = bind().await;
    let (l3, port3) = bind().await;
    let ports = BTreeMap::from([(1, port1), (2, port2), (3, port3)]);
    let (n1, mut rx1) = PeerNet::start_on(config(1, &ports), l1).unwrap();
    let mut c3 = config(3, &ports);
    c3.max_queued_bytes = 1 << 20;
    let (n3, mut rx3) = PeerNet::start_on(c3, l3).unwrap();

    let (mut s2, _) = timeout(WAIT, stalled.accept()).await.unwrap().unwrap();
    read_frame(&mut s2, 1024, WAIT).await.unwrap().unwrap();
    send_frame(&mut s2, &hello(PEER_PROTOCOL_VERSION, 2, 3)).await;
    let mut up = next_n(&mut rx3, 2).await;
    up.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(
        up,
        vec![PeerEvent::Connected(id(1)), PeerEvent::Connected(id(2))]
    );
    assert_eq!(next(&mut rx1).await, PeerEvent::Connected(id(3)));

    let mut dropped = 0;
    for i in 0..400 {
        if !n3.send(id(2), &snap(i, 64 << 10)) {
            dropped += 1;
        }
        assert!(n3.send(id(1), &ping(i)), "send to the healthy peer dropped");
    }
    assert!(dropped > 0, "25 MiB queued for a peer that reads nothing");
    for i in 0..400 {
        assert_eq!(next(&mut rx1).await, PeerEvent::Message(id(3), ping(i)));
    }
    assert_eq!(next(&mut rx3).await, PeerEvent::Disconnected(id(2)));
    assert!(!n3.is_connected(id(2)));
    assert!(n3.is_connected(id(1)));
    drop(s2);
    n1.shutdown().await;
    n3.shutdown().await;
}

/// Server 1 links with a real server 3 and a fake server 2. The fake's bad frames close its
/// link only; server 3's link carries on.
#[tokio::test]
async fn bad_frames_close_only_their_link() {
    let (mut nodes, ports) = {
        let (l1, port1) = bind().await;
        let (l3, port3) = bind().await;
        let ports = BTreeMap::from([(1, port1), (2, 1), (3, port3)]);
        let n1 = PeerNet::start_on(config(1, &ports), l1).unwrap();
        let n3 = PeerNet::start_on(config(3, &ports), l3).unwrap();
        (vec![n1, n3], ports)
    };
    let (n3, mut rx3) = nodes.pop().unwrap();
    let (n1, mut rx1) = nodes.pop().unwrap();
    assert_eq!(next(&mut rx1).await, PeerEvent::Connected(id(3)));
    assert_eq!(next(&mut rx3).await, PeerEvent::Connected(id(1)));

    let too_long = (MAX_PEER_FRAME as u32 + 1).to_be_bytes().to_vec();
    let garbage = [5u32.to_be_bytes().to_vec(), vec![0xff; 5]].concat();
    let trailing = {
        let mut body = encode(&ping(1));
        body.push(0);
        [(body.len() as u32).to_be_bytes().to_vec(), body].concat()
    };
    for (round, bytes) in [too_long, garbage, trailing].into_iter().enumerate() {
        let mut s = fake_dial(ports[&1], 2, 1).await;
        assert_eq!(next(&mut rx1).await, PeerEvent::Connected(id(2)));
        s.write_all(&bytes).await.unwrap();
        assert_eq!(next(&mut rx1).await, PeerEvent::Disconnected(id(2)));
        assert!(closed_by_other_side(&mut s).await, "round {round}");
        // The other link is untouched, both ways.
        assert!(n1.send(id(3), &ping(round as u64)));
        assert_eq!(
            next(&mut rx3).await,
            PeerEvent::Message(id(1), ping(round as u64))
        );
        assert!(n3.send(id(1), &ping(10 + round as u64)));
        assert_eq!(
            next(&mut rx1).await,
            PeerEvent::Message(id(3), ping(10 + round as u64))
        );
    }
    n1.shutdown().await;
    n3.shutdown().await;
}

/// A peer that says nothing at all, not even keepalives, is declared dead; a real idle peer
/// (which sends keepalives) is not.
#[tokio::test]
async fn silence_ends_a_link_but_keepalives_hold_one() {
    let (mut nodes, _) = cluster(&[1, 3]).await;
    let (n3, mut rx3) = nodes.pop().unwrap();
    let (n1, mut rx1) = nodes.pop().unwrap();
    assert_eq!(next(&mut rx1).await, PeerEvent::Connected(id(3)));
    assert_eq!(next(&mut rx3).await, PeerEvent::Connected(id(1)));
    // A separate acceptor for the silent fake server 2.
    let (l, port) = bind().await;
    let quiet_ports = BTreeMap::from([(1, port), (2, 1)]);
    let (quiet, mut quiet_rx) = PeerNet::start_on(config(1, &quiet_ports), l).unwrap();
    let mut s = fake_dial(port, 2, 1).await;
    assert_eq!(next(&mut quiet_rx).await, PeerEvent::Connected(id(2)));
    // Say nothing; the other side's keepalives are read (and ignored) meanwhile.
    let mut sink = Vec::new();
    let drained = timeout(WAIT, s.read_to_end(&mut sink)).await;
    assert!(drained.is_ok(), "the silent link was not closed");
    assert_eq!(next(&mut quiet_rx).await, PeerEvent::Disconnected(id(2)));
    assert!(
        sink.chunks(4).all(|c| c == [0, 0, 0, 0]),
        "only keepalives were sent on an idle link"
    );
    assert!(!sink.is_empty(), "no keepalive was sent");

    // The real idle pair has now been quiet for one silence limit; give it another, then
    // check it stayed linked.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert!(matches!(rx1.try_recv(), Err(TryRecvError::Empty)));
    assert!(matches!(rx3.try_recv(), Err(TryRecvError::Empty)));
    assert!(n1.send(id(3), &ping(4)));
    assert_eq!(next(&mut rx3).await, PeerEvent::Message(id(1), ping(4)));
    quiet.shutdown().await;
    n1.shutdown().await;
    n3.shutdown().await;
}

#[test]
fn config_from_the_ensemble() {
    let e = EnsembleConfig {
        my_id: id(2),
        peers: [(id(1), peer_addr(2888)), (id(2), peer_addr(2889))].into(),
        init_limit: 10,
        sync_limit: 5,
        quorum_listen_on_all_ips: false,
    };
    let c = PeerNetConfig::from_ensemble(&e, 2000);
    assert_eq!(c.my_id, id(2));
    assert_eq!(c.peers, e.peers);
    assert_eq!(c.keepalive(), Duration::from_millis(1000));
    assert_eq!(c.silence(), Duration::from_millis(10_000));
    assert_eq!(c.max_queued_bytes, MAX_QUEUED_BYTES);
}
