//! The long-lived tasks of the peer network: one per peer (dialling it, or waiting for its
//! connections) and one accepting connections on the quorum port.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corral_core::types::ServerId;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout};

use super::backoff::{self, Backoff};
use super::link::{self, Slot};
use super::{handshake, Ctx, MAX_HANDSHAKES};
use crate::config::PeerAddr;

/// Keep a link with a lower-id peer: dial, handshake, run the link, and again after a
/// backoff delay whenever it fails or ends.
pub(super) async fn dial_peer(ctx: Arc<Ctx>, peer: ServerId, addr: PeerAddr, slot: Arc<Slot>) {
    let seed = backoff::seed(ctx.my_id.0, peer.0);
    let mut backoff = Backoff::new(ctx.backoff_min, ctx.backoff_max, seed);
    let target = format!("{}:{}", bracket(&addr.host), addr.quorum_port);
    let mut failures: u64 = 0;
    loop {
        match dial(&ctx, peer, &addr).await {
            Ok(stream) => {
                failures = 0;
                let up = Instant::now();
                let ended = link::run(&ctx, peer, &slot, stream, None).await;
                if ended.stop {
                    return;
                }
                // Only a link that lasted earns fast retries again: one the other side
                // keeps closing at once must not be redialled in a hot loop.
                if up.elapsed() >= backoff.max() {
                    backoff.reset();
                }
            }
            Err(DialError::Connect(e)) => {
                failures += 1;
                // The peer being down is normal while an ensemble starts: say it once.
                if failures == 1 {
                    tracing::info!("cannot reach server {peer} at {target}: {e}; retrying");
                } else {
                    tracing::debug!("cannot reach server {peer} at {target}: {e}");
                }
            }
            Err(DialError::Handshake(e)) => {
                tracing::warn!("peer handshake with server {peer} at {target} failed: {e}");
            }
        }
        sleep(backoff.next_delay()).await;
    }
}

enum DialError {
    Connect(String),
    Handshake(String),
}

async fn dial(ctx: &Ctx, peer: ServerId, addr: &PeerAddr) -> Result<TcpStream, DialError> {
    // Resolved on every attempt: a peer may come back at a new address under its name.
    let connect = TcpStream::connect((addr.host.as_str(), addr.quorum_port));
    let mut stream = match timeout(ctx.silence, connect).await {
        Err(_) => return Err(DialError::Connect("connect timed out".to_owned())),
        Ok(Err(e)) => return Err(DialError::Connect(e.to_string())),
        Ok(Ok(s)) => s,
    };
    // Small frames (ACK, COMMIT) are latency-bound; the writer batches on its own.
    let _ = stream.set_nodelay(true);
    handshake::dial(&mut stream, ctx.my_id, peer, ctx.silence)
        .await
        .map_err(DialError::Handshake)?;
    Ok(stream)
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// Keep a link with a higher-id peer: run each connection the accept loop hands over; a
/// newer one replaces the current one.
pub(super) async fn accepted_peer(
    ctx: Arc<Ctx>,
    peer: ServerId,
    slot: Arc<Slot>,
    mut incoming: mpsc::Receiver<TcpStream>,
) {
    let mut next = None;
    loop {
        let stream = match next.take() {
            Some(s) => s,
            None => match incoming.recv().await {
                Some(s) => s,
                None => return,
            },
        };
        let ended = link::run(&ctx, peer, &slot, stream, Some(&mut incoming)).await;
        if ended.stop {
            return;
        }
        next = ended.replacement;
    }
}

/// Accept on the quorum port; each connection gets its handshake in its own task (bounded
/// by the silence limit and by [`MAX_HANDSHAKES`]) and then goes to its peer's task.
pub(super) async fn accept_loop(
    ctx: Arc<Ctx>,
    listener: TcpListener,
    known: BTreeSet<ServerId>,
    routes: BTreeMap<ServerId, mpsc::Sender<TcpStream>>,
) {
    let known = Arc::new(known);
    let routes = Arc::new(routes);
    // Dropped with this task, which aborts handshakes still running.
    let mut handshakes = JoinSet::new();
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                // Usually EMFILE: back off instead of spinning.
                tracing::warn!("accepting a peer connection failed: {e}");
                sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        while handshakes.try_join_next().is_some() {}
        if handshakes.len() >= MAX_HANDSHAKES {
            tracing::warn!(
                "peer connection from {remote} closed: {MAX_HANDSHAKES} handshakes already \
                 in progress"
            );
            continue;
        }
        handshakes.spawn(accept_one(
            ctx.clone(),
            stream,
            remote,
            known.clone(),
            routes.clone(),
        ));
    }
}

async fn accept_one(
    ctx: Arc<Ctx>,
    mut stream: TcpStream,
    remote: SocketAddr,
    known: Arc<BTreeSet<ServerId>>,
    routes: Arc<BTreeMap<ServerId, mpsc::Sender<TcpStream>>>,
) {
    let _ = stream.set_nodelay(true);
    match handshake::accept(&mut stream, ctx.my_id, &known, ctx.silence).await {
        Ok(peer) => match routes.get(&peer) {
            Some(route) => {
                // Fails only while shutting down.
                let _ = route.send(stream).await;
            }
            None => tracing::warn!("peer connection from {remote} as server {peer}: no route"),
        },
        Err(e) => tracing::warn!("peer connection from {remote} refused: {e}"),
    }
}
