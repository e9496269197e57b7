//! The first exchange on a peer link: each end sends a `Hello { version, from, to }`.
//!
//! The dialer (always the server with the higher id) speaks first; the acceptor checks the
//! hello (same protocol version, addressed to it, from a configured peer whose id is higher
//! than its own) and only then answers with its own. The dialer checks the answer the same
//! way. Anything else closes the connection: a misconfigured ensemble (two servers with one
//! id, a stale address) is caught here rather than by a confused election.

use std::collections::BTreeSet;
use std::time::Duration;

use corral_core::types::ServerId;
use corral_core::zab::message::{decode, encode, Hello, PEER_PROTOCOL_VERSION};
use tokio::io::{AsyncRead, AsyncWrite};

use super::frame::{flush, read_frame, write_frame};

/// Largest hello frame read (a `Hello` is a few bytes; this only bounds garbage).
const MAX_HELLO_FRAME: usize = 1024;

fn hello(from: ServerId, to: ServerId) -> Hello {
    Hello {
        version: PEER_PROTOCOL_VERSION,
        from,
        to,
    }
}

async fn read_hello<S: AsyncRead + Unpin>(s: &mut S, silence: Duration) -> Result<Hello, String> {
    match read_frame(s, MAX_HELLO_FRAME, silence).await {
        Ok(Some(body)) => decode::<Hello>(&body)
            .map_err(|e| format!("bad hello ({e}); a different Corral version, or not Corral?")),
        Ok(None) => Err("a keepalive instead of a hello".to_owned()),
        Err(e) => Err(format!("no hello: {e}")),
    }
}

async fn send_hello<S: AsyncWrite + Unpin>(
    s: &mut S,
    h: &Hello,
    silence: Duration,
) -> Result<(), String> {
    write_frame(s, &encode(h), silence)
        .await
        .and(flush(s, silence).await)
        .map_err(|e| format!("cannot send hello: {e}"))
}

fn check_version(h: &Hello) -> Result<(), String> {
    if h.version != PEER_PROTOCOL_VERSION {
        return Err(format!(
            "peer protocol version {} (this server speaks {PEER_PROTOCOL_VERSION})",
            h.version
        ));
    }
    Ok(())
}

/// As the dialer (`me` > `peer`): send our hello, check the answer.
pub async fn dial<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    me: ServerId,
    peer: ServerId,
    silence: Duration,
) -> Result<(), String> {
    debug_assert!(me > peer, "the higher id dials");
    send_hello(s, &hello(me, peer), silence).await?;
    let h = read_hello(s, silence)
        .await
        .map_err(|e| format!("{e} (the other side may have refused our hello: see its log)"))?;
    check_version(&h)?;
    if h.from != peer {
        return Err(format!(
            "the server there says it is {}, not {peer} (check the server.N lines)",
            h.from
        ));
    }
    if h.to != me {
        return Err(format!("the server there takes us for {}, not {me}", h.to));
    }
    Ok(())
}

/// As the acceptor: check the dialer's hello, answer it; returns the dialer's id.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    me: ServerId,
    peers: &BTreeSet<ServerId>,
    silence: Duration,
) -> Result<ServerId, String> {
    let h = read_hello(s, silence).await?;
    check_version(&h)?;
    if h.to != me {
        return Err(format!(
            "hello from {} for server {}, but this is server {me} (check the server.N lines)",
            h.from, h.to
        ));
    }
    if !peers.contains(&h.from) {
        return Err(format!(
            "hello from {}, which is not a configured peer",
            h.from
        ));
    }
    if h.from <= me {
        return Err(format!(
            "server {} dialled server {me}, but only a higher id dials a lower one",
            h.from
        ));
    }
    send_hello(s, &hello(me, h.from), silence).await?;
    Ok(h.from)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SILENCE: Duration = Duration::from_secs(10);

    fn peers(ids: &[u64]) -> BTreeSet<ServerId> {
        ids.iter().map(|&i| ServerId(i)).collect()
    }

    #[tokio::test]
    async fn dialer_and_acceptor_agree() {
        let (mut a, mut b) = tokio::io::duplex(1 << 10);
        let acc =
            tokio::spawn(
                async move { accept(&mut b, ServerId(1), &peers(&[2, 3]), SILENCE).await },
            );
        dial(&mut a, ServerId(3), ServerId(1), SILENCE)
            .await
            .unwrap();
        assert_eq!(acc.await.unwrap().unwrap(), ServerId(3));
    }

    /// Each refusal by the acceptor, with the text it is reported with.
    #[tokio::test]
    async fn acceptor_refuses_bad_hellos() {
        let v = PEER_PROTOCOL_VERSION;
        let cases = [
            (
                Hello {
                    version: v + 1,
                    from: ServerId(3),
                    to: ServerId(2),
                },
                "version",
            ),
            (
                Hello {
                    version: v,
                    from: ServerId(3),
                    to: ServerId(5),
                },
                "this is server 2",
            ),
            (
                Hello {
                    version: v,
                    from: ServerId(9),
                    to: ServerId(2),
                },
                "not a configured peer",
            ),
            (
                Hello {
                    version: v,
                    from: ServerId(1),
                    to: ServerId(2),
                },
                "only a higher id",
            ),
            (
                Hello {
                    version: v,
                    from: ServerId(2),
                    to: ServerId(2),
                },
                "not a configured peer",
            ),
        ];
        for (h, want) in cases {
            let (mut a, mut b) = tokio::io::duplex(1 << 10);
            send_hello(&mut a, &h, SILENCE).await.unwrap();
            let err = accept(&mut b, ServerId(2), &peers(&[1, 3]), SILENCE)
                .await
                .unwrap_err();
            assert!(err.contains(want), "{h:?}: {err}");
        }
        let (mut a, mut b) = tokio::io::duplex(1 << 10);
        write_frame(&mut a, b"\xff\xff\xff\xff\xff", SILENCE)
            .await
            .unwrap();
        let err = accept(&mut b, ServerId(2), &peers(&[3]), SILENCE)
            .await
            .unwrap_err();
        assert!(err.contains("bad hello"), "{err}");
    }

    #[tokio::test]
    async fn dialer_refuses_a_wrong_answer() {
        for (answer, want) in [
            (hello(ServerId(7), ServerId(3)), "says it is 7"),
            (hello(ServerId(1), ServerId(4)), "takes us for 4"),
        ] {
            let (mut a, mut b) = tokio::io::duplex(1 << 10);
            let fake = tokio::spawn(async move {
                let got = read_hello(&mut b, SILENCE).await.unwrap();
                send_hello(&mut b, &answer, SILENCE).await.unwrap();
                (got, b)
            });
            let err = dial(&mut a, ServerId(3), ServerId(1), SILENCE)
                .await
                .unwrap_err();
            assert!(err.contains(want), "{err}");
            let (got, _b) = fake.await.unwrap();
            assert_eq!(got, hello(ServerId(3), ServerId(1)));
        }
    }
}
