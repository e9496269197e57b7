use super::*;
use crate::config::Whitelist;
use corral_core::server::LogEntry;
use corral_core::snapshot::Image;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start_test_server(dir: &std::path::Path, whitelist: &str) -> ServerHandle {
    let config = Config {
        data_dir: dir.to_owned(),
        data_log_dir: dir.to_owned(),
        whitelist: Whitelist::parse(whitelist),
        client_addr: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    let listener = TcpListener::bind(config.client_addr).await.unwrap();
    start_on(config, listener).await.expect("server starts")
}

/// Send `bytes`, then read until the server closes; returns what it sent.
async fn exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "server did not close the connection");
    // A reset after the answer still counts as closed.
    out
}

#[tokio::test]
async fn four_letter_words_answer_and_close() {
    let tmp = tempfile::tempdir().unwrap();
    let h = start_test_server(tmp.path(), "ruok,stat").await;
    let addr = h.local_addr();
    assert_eq!(exchange(addr, b"ruok").await, b"imok");
    // A trailing newline (echo ruok | nc) must not spoil the answer.
    assert_eq!(exchange(addr, b"ruok\n").await, b"imok");
    let srvr = String::from_utf8(exchange(addr, b"srvr").await).unwrap();
    assert!(
        srvr.starts_with("Zookeeper version: 3.8.0-corral-"),
        "{srvr}"
    );
    assert!(srvr.contains("\nMode: standalone\n"), "{srvr}");
    assert!(srvr.contains("\nConnections: 1\n"), "{srvr}");
    let stat = String::from_utf8(exchange(addr, b"stat").await).unwrap();
    assert!(stat.contains("Clients:\n /127.0.0.1:"), "{stat}");
    assert_eq!(
        exchange(addr, b"mntr").await,
        b"mntr is not executed because it is not in the whitelist.\n"
    );
    h.stop().await.unwrap();
}

#[tokio::test]
async fn bad_frames_close_without_reply() {
    let tmp = tempfile::tempdir().unwrap();
    let h = start_test_server(tmp.path(), "").await;
    let addr = h.local_addr();
    let over = (corral_core::jute::DEFAULT_MAX_BUFFER as i32 + 1).to_be_bytes();
    assert!(exchange(addr, &over).await.is_empty(), "oversized frame");
    assert!(
        exchange(addr, &(-5i32).to_be_bytes()).await.is_empty(),
        "negative length"
    );
    // A well-formed frame reaches the core (the placeholder answers every frame with Close).
    let mut frame = 4i32.to_be_bytes().to_vec();
    frame.extend_from_slice(&[0, 0, 0, 0]);
    assert!(exchange(addr, &frame).await.is_empty());
    // The server still serves after all that.
    let srvr = String::from_utf8(exchange(addr, b"srvr").await).unwrap();
    assert!(srvr.contains("Mode: standalone"), "{srvr}");
    h.stop().await.unwrap();
}

#[tokio::test]
async fn data_dir_is_locked_while_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let h = start_test_server(tmp.path(), "").await;
    let config = Config {
        data_dir: tmp.path().to_owned(),
        data_log_dir: tmp.path().to_owned(),
        ..Config::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    match start_on(config, listener).await {
        Err(DriverError::Storage(StorageError::Locked { .. })) => {}
        Err(e) => panic!("expected Locked, got {e}"),
        Ok(_) => panic!("a second server started on the same data dir"),
    }
    h.stop().await.unwrap();
    // Released after stop.
    let h = start_test_server(tmp.path(), "").await;
    h.stop().await.unwrap();
}

fn session_entry(zxid: i64) -> LogEntry {
    use corral_core::txn::{Txn, TxnHeader};
    use corral_core::types::{SessionId, Zxid};
    LogEntry {
        hdr: TxnHeader {
            session: SessionId(zxid),
            cxid: 0,
            zxid: Zxid(zxid),
            time: 1,
            op: -10,
        },
        txn: Txn::CreateSession { timeout_ms: 4000 },
    }
}

#[tokio::test]
async fn start_replays_the_log_and_refuses_a_corrupt_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = log::log_dir(tmp.path());
    let rec = log::recover(&dir, &mut |_, _| Ok(())).unwrap();
    let mut w = LogWriter::open(&dir, &rec, 1 << 20, true).unwrap();
    for z in 1..=3 {
        w.append(&session_entry(z).to_bytes()).unwrap();
    }
    w.commit().unwrap();
    drop(w);
    let h = start_test_server(tmp.path(), "").await;
    let srvr = String::from_utf8(exchange(h.local_addr(), b"srvr").await).unwrap();
    assert!(
        srvr.contains("\nZxid: 0x3\n"),
        "replayed entries reach the core: {srvr}"
    );
    h.stop().await.unwrap();

    // Damage the first record: valid records follow, so start-up must refuse.
    let seg = dir.join(log::segment_name(corral_core::types::Zxid(1)));
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[log::HEADER_LEN + log::RECORD_HEADER_LEN + 2] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    let config = Config {
        data_dir: tmp.path().to_owned(),
        data_log_dir: tmp.path().to_owned(),
        ..Config::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    match start_on(config, listener).await {
        Err(DriverError::Storage(e @ StorageError::Corrupt { .. })) => {
            assert!(e.to_string().contains(&seg.display().to_string()), "{e}");
        }
        Err(e) => panic!("expected corruption, got {e}"),
        Ok(_) => panic!("started on a corrupt log"),
    }
}

/// A core that logs one entry per frame and echoes the frame back only once that entry is
/// durable; after echoing `bye` it closes the connection.
#[derive(Default)]
struct EchoAfterPersist {
    next_token: u64,
    waiting: HashMap<PersistToken, (ConnId, Vec<u8>)>,
    outputs: std::collections::VecDeque<Output>,
}

impl Core for EchoAfterPersist {
    fn connection_opened(&mut self, _: Millis, _: ConnId, _: SocketAddr) {}
    fn frame_received(&mut self, _: Millis, conn: ConnId, payload: &[u8]) {
        self.next_token += 1;
        let token = PersistToken(self.next_token);
        self.waiting.insert(token, (conn, payload.to_vec()));
        let entries = vec![session_entry(self.next_token as i64)];
        self.outputs.push_back(Output::Persist { token, entries });
    }
    fn connection_closed(&mut self, _: Millis, _: ConnId) {}
    fn persisted(&mut self, _: Millis, token: PersistToken) {
        let (conn, payload) = self.waiting.remove(&token).expect("known token");
        let mut bytes = (payload.len() as i32).to_be_bytes().to_vec();
        bytes.extend_from_slice(&payload);
        self.outputs.push_back(Output::Send { conn, bytes });
        if payload == b"bye" {
            self.outputs.push_back(Output::Close { conn });
        }
    }
    fn tick(&mut self, _: Millis) {}
    fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }
    fn next_deadline(&self) -> Option<Millis> {
        None
    }
    fn stats(&self, _: Millis) -> StatsSnapshot {
        StatsSnapshot::default()
    }
    fn is_serving(&self) -> bool {
        true
    }
}

/// Complete records on disk, read without repairing anything (the log is live).
fn durable_records(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let bytes = std::fs::read(entry.path()).unwrap();
        let mut pos = log::HEADER_LEN;
        while pos + log::RECORD_HEADER_LEN <= bytes.len() {
            let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
            pos += log::RECORD_HEADER_LEN + len;
            if pos <= bytes.len() {
                n += 1;
            }
        }
    }
    n
}

#[tokio::test]
async fn replies_leave_only_after_their_entries_are_durable() {
    let tmp = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: tmp.path().to_owned(),
        data_log_dir: tmp.path().to_owned(),
        ..Config::default()
    };
    let (locks, writer) = open_storage(&config, &mut |_| {}, &mut |_| {}).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let h = launch(
        config,
        listener,
        (locks, EchoAfterPersist::default(), writer),
        None,
    )
    .unwrap();

    let mut s = TcpStream::connect(h.local_addr()).await.unwrap();
    let frames: Vec<Vec<u8>> = (0..20)
        .map(|i| format!("frame-{i}").into_bytes())
        .chain([b"bye".to_vec()])
        .collect();
    let mut pipelined = Vec::new();
    for f in &frames {
        pipelined.extend_from_slice(&(f.len() as i32).to_be_bytes());
        pipelined.extend_from_slice(f);
    }
    s.write_all(&pipelined).await.unwrap();
    let dir = log::log_dir(tmp.path());
    for (i, f) in frames.iter().enumerate() {
        let mut len = [0u8; 4];
        s.read_exact(&mut len).await.unwrap();
        let mut payload = vec![0u8; i32::from_be_bytes(len) as usize];
        s.read_exact(&mut payload).await.unwrap();
        assert_eq!(&payload, f, "replies keep request order");
        assert!(
            durable_records(&dir) > i,
            "reply {i} left before its entry was written"
        );
    }
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "Close after the last reply");
    h.stop().await.unwrap();
    let mut zxids = Vec::new();
    log::recover(&dir, &mut |z, _| {
        zxids.push(z.0);
        Ok(())
    })
    .unwrap();
    assert_eq!(zxids, (1..=21).collect::<Vec<i64>>());
}

/// A core that, on a frame `storage`, issues one of each storage request and replies once
/// the last is durable; on a frame `peer`, asks for a peer message. `persisted` calls are
/// recorded in order.
struct StorageScript {
    outputs: std::collections::VecDeque<Output>,
    persisted: Arc<std::sync::Mutex<Vec<u64>>>,
    conn: Option<ConnId>,
    installed: corral_core::snapshot::Image,
}

/// Entry `zxid` of the leader's history in the script (distinct paths from `session_entry`).
fn leader_entry(zxid: i64) -> LogEntry {
    use corral_core::proto::data::Acl;
    use corral_core::txn::{CreateKind, Txn, TxnHeader};
    use corral_core::types::{SessionId, Zxid};
    let txn = Txn::Create {
        path: format!("/leader{zxid}"),
        data: None,
        acl: Acl::open_unsafe(),
        kind: CreateKind::Persistent,
        parent_cversion: 0,
    };
    LogEntry {
        hdr: TxnHeader {
            session: SessionId(1),
            cxid: 0,
            zxid: Zxid(zxid),
            time: 1,
            op: txn.op(),
        },
        txn,
    }
}

impl Core for StorageScript {
    fn connection_opened(&mut self, _: Millis, _: ConnId, _: SocketAddr) {}
    fn frame_received(&mut self, _: Millis, conn: ConnId, payload: &[u8]) {
        use corral_core::server::AcceptedEpoch;
        use corral_core::types::{Epoch, ServerId, Zxid};
        self.conn = Some(conn);
        let t = PersistToken;
        if payload == b"peer" {
            use corral_core::zab::election::{ElectionEpoch, Notification, PeerState, Vote};
            let vote = Vote {
                leader: ServerId(1),
                zxid: Zxid::ZERO,
                peer_epoch: Epoch(0),
            };
            self.outputs.push_back(Output::Peer {
                to: ServerId(2),
                msg: corral_core::server::PeerMessage::Vote(Notification {
                    vote,
                    election_epoch: ElectionEpoch(1),
                    state: PeerState::Looking,
                    sender: ServerId(1),
                }),
            });
            return;
        }
        let outs = [
            Output::Persist {
                token: t(1),
                entries: vec![session_entry(1), session_entry(2)],
            },
            Output::SaveEpochs {
                token: t(2),
                accepted: Some(AcceptedEpoch {
                    epoch: Epoch(1),
                    leader: Some(ServerId(3)),
                }),
                current: None,
            },
            Output::Persist {
                token: t(3),
                entries: vec![session_entry(3)],
            },
            Output::Truncate {
                token: t(4),
                after: Zxid(2),
            },
            Output::InstallSnapshot {
                token: t(5),
                zxid: self.installed.zxid(),
                bytes: corral_core::snapshot::to_bytes(&self.installed),
            },
            Output::Persist {
                token: t(6),
                entries: vec![leader_entry(self.installed.zxid().0 + 1)],
            },
            Output::SaveEpochs {
                token: t(7),
                accepted: None,
                current: Some(Epoch(1)),
            },
        ];
        self.outputs.extend(outs);
    }
    fn connection_closed(&mut self, _: Millis, _: ConnId) {}
    fn persisted(&mut self, _: Millis, token: PersistToken) {
        self.persisted.lock().unwrap().push(token.0);
        if token.0 == 7 {
            let conn = self.conn.expect("a frame came first");
            self.outputs.push_back(Output::Send {
                conn,
                bytes: [&4i32.to_be_bytes()[..], b"done"].concat(),
            });
        }
    }
    fn tick(&mut self, _: Millis) {}
    fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }
    fn next_deadline(&self) -> Option<Millis> {
        None
    }
    fn stats(&self, _: Millis) -> StatsSnapshot {
        StatsSnapshot::default()
    }
    fn is_serving(&self) -> bool {
        true
    }
}

async fn send_frame(s: &mut TcpStream, payload: &[u8]) {
    let mut f = (payload.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(payload);
    s.write_all(&f).await.unwrap();
}

#[tokio::test]
async fn storage_outputs_reach_the_log_thread_and_complete_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: tmp.path().to_owned(),
        data_log_dir: tmp.path().to_owned(),
        ..Config::default()
    };
    let mut installed = Image::new();
    for z in 1..=5 {
        installed.apply(&leader_entry(z));
    }
    let persisted = Arc::new(std::sync::Mutex::new(Vec::new()));
    let core = StorageScript {
        outputs: Default::default(),
        persisted: persisted.clone(),
        conn: None,
        installed: installed.clone(),
    };
    let (locks, writer) = open_storage(&config, &mut |_| {}, &mut |_| {}).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let h = launch(config.clone(), listener, (locks, core, writer), None).unwrap();
    let mut s = TcpStream::connect(h.local_addr()).await.unwrap();
    send_frame(&mut s, b"storage").await;
    let mut reply = [0u8; 8];
    s.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply[4..], b"done");
    assert_eq!(*persisted.lock().unwrap(), (1..=7).collect::<Vec<u64>>());
    // A peer message from a server without peer links is a bug: the driver stops.
    send_frame(&mut s, b"peer").await;
    let mut h = h;
    match h.wait().await {
        Err(DriverError::Unsupported(m)) => {
            assert!(m.contains("standalone server asked to send"), "{m}")
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    drop(h);
    // On disk: the installed snapshot, the entry after it, both epochs.
    let image = std::cell::RefCell::new(Image::new());
    let rec = recovery::recover(
        tmp.path(),
        tmp.path(),
        true,
        &mut |i| *image.borrow_mut() = i,
        &mut |e| image.borrow_mut().apply(&e),
    )
    .unwrap();
    installed.apply(&leader_entry(6));
    assert_eq!(rec.last_zxid, corral_core::types::Zxid(6));
    assert_eq!(image.into_inner().tree.digest(), installed.tree.digest());
    assert_eq!(rec.epochs.current, corral_core::types::Epoch(1));
    assert_eq!(
        rec.epochs.accepted.leader,
        Some(corral_core::types::ServerId(3))
    );
}

/// Lock the directories, load the newest snapshot, and replay the log after it.
fn open_storage(
    config: &Config,
    restore: &mut dyn FnMut(Image),
    replay: &mut dyn FnMut(LogEntry),
) -> Result<(DataLocks, LogWriter), DriverError> {
    let rec = recovery::recover(
        &config.data_dir,
        &config.data_log_dir,
        config.force_sync,
        restore,
        replay,
    )?;
    Ok((rec.locks, rec.writer))
}
