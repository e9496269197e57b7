use super::*;
use crate::config::Whitelist;
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
