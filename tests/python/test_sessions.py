"""Session lifecycle: close, expiry, expired handles, reconnect across a server restart."""

import logging
import signal
import subprocess
import sys

from kazoo.client import KazooState
from kazoo.protocol.states import EventType

from zkhelpers import EVENT_TIMEOUT, wait_for

# A client in another process: it opens a 4 s session, creates an ephemeral node, reports
# its session and then hangs until it is SIGKILLed, so it never sends closeSession.
HOLDER = r"""
import sys, time
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1], timeout=4.0)
zk.start(timeout=15)
zk.create(sys.argv[2], b"held", ephemeral=True)
sid, passwd = zk.client_id
print(f"{sid} {passwd.hex()}", flush=True)
time.sleep(120)
"""


def spawn_holder(server, path):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, server.hosts, path],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        sid, passwd = line.split()
        return proc, int(sid), bytes.fromhex(passwd)
    except Exception:
        proc.kill()
        proc.wait(timeout=10)
        raise


def test_close_removes_ephemerals_and_fires_watches(zk, make_client, base, events):
    holder = make_client()
    holder.create(f"{base}/e1", ephemeral=True)
    holder.create(f"{base}/e2", b"", ephemeral=True, sequence=True)
    holder.create(f"{base}/kept")
    assert zk.exists(f"{base}/e1", watch=events) is not None
    zk.get_children(base, watch=events)
    holder.stop()  # sends closeSession
    # Closing is synchronous on the server: the nodes are gone once stop() returns.
    assert sorted(zk.get_children(base)) == ["kept"]
    got = {(events.get().type), (events.get().type)}
    assert got == {EventType.DELETED, EventType.CHILD}


def test_session_expiry_removes_ephemerals(zk, server, base, events):
    path = f"{base}/held"
    proc, sid, _ = spawn_holder(server, path)
    try:
        stat = zk.exists(path, watch=events)
        assert stat is not None and stat.ephemeralOwner == sid
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        # Expiry takes the session timeout (4 s) plus up to one tick; bound it generously.
        event = events.get(timeout=30)
        assert event.type == EventType.DELETED and event.path == path
        assert zk.exists(path) is None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def expired_logged(caplog):
    return any("Session has expired" in r.getMessage() for r in caplog.records)


def test_resuming_expired_session_is_refused(zk, make_client, server, base, caplog):
    path = f"{base}/held"
    proc, sid, passwd = spawn_holder(server, path)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    wait_for(lambda: zk.exists(path) is None, timeout=30, what="session expiry")

    caplog.set_level(logging.INFO, logger="kazoo.client")
    client = make_client(start=False, timeout=4.0, client_id=(sid, passwd))
    client.start(timeout=15)
    # The server answers the resume with timeOut=0, which kazoo logs as an expired
    # session before it opens a new session on its own. (A handle that never connected
    # starts in kazoo's LOST state, so listeners see no LOST transition here.)
    wait_for(lambda: expired_logged(caplog), what="kazoo to see the session expired")
    wait_for(lambda: client.connected, what="a new session")
    assert client.client_id[0] != sid
    assert client.exists(base) is not None


def test_resume_session_with_id_and_password(zk, make_client, base):
    """A second handle can attach to a live session (as after a client-side reconnect) and
    sees that session's ephemerals as its own."""
    first = make_client(timeout=10.0)
    first.create(f"{base}/mine", ephemeral=True)
    sid, passwd = first.client_id
    second = make_client(client_id=(sid, passwd), timeout=10.0)
    assert second.client_id[0] == sid
    assert second.exists(f"{base}/mine").ephemeralOwner == sid
    second.stop()  # closes the shared session
    assert zk.exists(f"{base}/mine") is None


def test_wrong_password_is_rejected(zk, make_client, base, caplog):
    first = make_client(timeout=10.0)
    first.create(f"{base}/mine", ephemeral=True)
    sid, passwd = first.client_id
    caplog.set_level(logging.INFO, logger="kazoo.client")
    wrong = bytes(b ^ 0xFF for b in passwd)
    bad = make_client(start=False, client_id=(sid, wrong), timeout=10.0)
    bad.start(timeout=15)
    wait_for(lambda: expired_logged(caplog), what="kazoo to see the session refused")
    wait_for(lambda: bad.connected, what="a new session")
    assert bad.client_id[0] != sid
    # The rightful owner keeps its session (it may have to reconnect first).
    wait_for(lambda: first.connected, what="owner reconnect")
    assert first.client_id[0] == sid
    assert zk.exists(f"{base}/mine").ephemeralOwner == sid


def test_session_survives_server_restart(fresh_server, make_client):
    """kill -9 the server under a connected client: kazoo goes SUSPENDED, reconnects to the
    restarted server with the same session, the ephemeral node is still there and the
    watch set before the crash still fires (re-registered with setWatches)."""
    retry = {"max_tries": -1, "delay": 0.1, "max_delay": 1.0}
    client = make_client(hosts=fresh_server.hosts, timeout=20.0, connection_retry=retry)
    other = make_client(hosts=fresh_server.hosts, timeout=20.0, connection_retry=retry)
    client.create("/restart-eph", b"e", ephemeral=True)
    client.create("/restart-watched", b"0")
    states = []
    client.add_listener(states.append)
    lost_watch = []
    client.get("/restart-watched", watch=lost_watch.append)
    data_watch = []
    client.DataWatch("/restart-watched", lambda data, stat: data_watch.append(data))
    wait_for(lambda: data_watch == [b"0"], what="DataWatch first call")
    sid = client.client_id[0]

    fresh_server.kill9()
    wait_for(lambda: KazooState.SUSPENDED in states, what="SUSPENDED")
    fresh_server.start()
    wait_for(lambda: states[-1] == KazooState.CONNECTED and client.connected, timeout=30, what="reconnect")
    assert KazooState.LOST not in states
    assert client.client_id[0] == sid
    stat = client.exists("/restart-eph")
    assert stat is not None and stat.ephemeralOwner == sid
    # kazoo drops its one-shot watchers on disconnect (calling them with a NONE event)
    # instead of re-registering them; its DataWatch recipe re-arms on reconnect.
    assert [e.type for e in lost_watch] == [EventType.NONE]
    wait_for(lambda: other.connected, timeout=30, what="second client reconnect")
    other.set("/restart-watched", b"1")
    wait_for(lambda: data_watch[-1] == b"1", timeout=EVENT_TIMEOUT, what="DataWatch after restart")
    fresh = []
    client.get("/restart-watched", watch=fresh.append)
    other.set("/restart-watched", b"2")
    wait_for(lambda: fresh, what="a new watch after restart")
    assert fresh[0].type == EventType.CHANGED and fresh[0].path == "/restart-watched"


def test_client_restart_gets_new_session(zk, make_client, base):
    client = make_client()
    client.create(f"{base}/e", ephemeral=True)
    old = client.client_id[0]
    client.restart()
    assert client.client_id[0] != old
    assert zk.exists(f"{base}/e") is None
