"""A real ensemble with real clients: three (and five) server processes on loopback.

Run against Corral by default and against Apache ZooKeeper 3.8.0 with
``CORRAL_E2E_SERVER=zookeeper`` (which proves the tests). Nothing here asserts a duration:
failover times are printed (``-s`` shows them) and bounded by generous waits.
"""

import os
import sys
import threading
import time
import uuid

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import (
    ConnectionLoss,
    NodeExistsError,
    OperationTimeoutError,
    SessionExpiredError,
)
from kazoo.retry import KazooRetry

sys.path.insert(0, os.path.dirname(__file__))
from e2e_ensemble import E2EEnsemble  # noqa: E402
from zkhelpers import wait_for  # noqa: E402

SESSION_TIMEOUT = 10.0


@pytest.fixture
def ensemble3():
    ens = E2EEnsemble(3)
    try:
        ens.start()
        yield ens
    finally:
        ens.close()


@pytest.fixture
def clients():
    made = []

    def make(hosts, **kwargs):
        kwargs.setdefault("timeout", SESSION_TIMEOUT)
        c = KazooClient(hosts=hosts, **kwargs)
        c.start(timeout=30)
        made.append(c)
        return c

    yield make
    for c in made:
        try:
            c.stop()
            c.close()
        except Exception:  # noqa: BLE001 - teardown must not mask the test's failure
            pass


def base():
    return f"/ens-{uuid.uuid4().hex[:8]}"


def test_one_leader_and_every_member_serves(ensemble3, clients):
    modes = sorted(m.mode() for m in ensemble3.members)
    assert modes == ["follower", "follower", "leader"]
    b = base()
    writer = clients(ensemble3.members[0].hosts)
    writer.create(b, b"v0")
    # Each member, reached directly, serves the write after a sync.
    for m in ensemble3.members:
        c = clients(m.hosts)
        c.sync(b)
        data, stat = c.get(b)
        assert data == b"v0"
        assert stat.version == 0


def test_writes_through_every_member_are_totally_ordered(ensemble3, clients):
    b = base()
    cs = [clients(m.hosts) for m in ensemble3.members]
    cs[0].create(b)
    for i in range(30):
        cs[i % 3].create(f"{b}/n-", b"x", sequence=True)
    for c in cs:
        c.sync(b)
    views = [sorted(c.get_children(b)) for c in cs]
    assert views[0] == views[1] == views[2]
    assert len(views[0]) == 30
    # Sequence numbers are unique and dense: one total order of creates.
    seqs = sorted(int(n.split("-")[1]) for n in views[0])
    assert seqs == list(range(30))


def test_watch_set_on_a_follower_fires_for_a_write_on_the_leader(ensemble3, clients):
    b = base()
    leader = ensemble3.leader()
    follower = next(m for m in ensemble3.members if m is not leader)
    w = clients(follower.hosts)
    fired = threading.Event()
    seen = []

    def watch(event):
        seen.append(event)
        fired.set()

    assert w.exists(b, watch=watch) is None
    clients(leader.hosts).create(b, b"x")
    assert fired.wait(10), "the follower delivered the watch"
    assert seen[0].type == "CREATED" and seen[0].path == b


def test_ephemeral_of_a_client_on_a_follower_vanishes_everywhere_on_close(ensemble3, clients):
    b = base()
    leader = ensemble3.leader()
    follower = next(m for m in ensemble3.members if m is not leader)
    owner = clients(follower.hosts)
    owner.create(b + "-eph", ephemeral=True)
    observer = clients(leader.hosts)
    observer.sync(b + "-eph")
    assert observer.exists(b + "-eph") is not None
    owner.stop()
    # kazoo's stop() does not wait for the close to be applied everywhere: bounded wait.
    wait_for(lambda: observer.exists(b + "-eph") is None, what="the ephemeral to vanish")


def test_session_survives_the_loss_of_its_server(ensemble3, clients):
    b = base()
    leader = ensemble3.leader()
    follower = next(m for m in ensemble3.members if m is not leader)
    # Connected to the follower first (it is listed first), able to move to the others.
    others = [m.hosts for m in ensemble3.members if m is not follower]
    c = clients(
        ",".join([follower.hosts] + others),
        randomize_hosts=False,
    )
    c.create(b, ephemeral=True)
    session = c.client_id
    follower.kill9()

    def reconnected():
        try:
            return c.connected and c.exists(b) is not None
        except ConnectionLoss:
            # Still moving (a server behind the client's last zxid refuses it, as
            # ZooKeeper's do; the client tries the next).
            return False

    # The client reconnects elsewhere within its session timeout and keeps the session.
    wait_for(reconnected, timeout=30, what="reconnect")
    assert c.client_id == session
    checker = clients(leader.hosts)
    checker.sync(b)
    assert checker.exists(b) is not None, "the ephemeral lives on: the session was not lost"


def _writer(client, prefix, acked, errors, stop):
    i = 0
    while not stop.is_set():
        path = f"{prefix}/w-{i:06d}"
        try:
            client.create(path, b"d")
            acked.append(path)
        except (ConnectionLoss, OperationTimeoutError, SessionExpiredError):
            errors.append(path)
            time.sleep(0.05)
        except NodeExistsError:
            # A retried create whose first attempt had committed: it is acknowledged now.
            acked.append(path)
        except Exception as e:  # noqa: BLE001
            errors.append(f"{path}: {e!r}")
            time.sleep(0.05)
        i += 1


@pytest.mark.parametrize("round_", range(2))
def test_killing_the_leader_under_writes_elects_a_new_one_and_loses_nothing(ensemble3, clients, round_):
    b = base()
    setup = clients(ensemble3.hosts)
    setup.create(b)
    acked, errors = [], []
    stop = threading.Event()
    writers = []
    for _ in range(3):
        c = clients(ensemble3.hosts, connection_retry=KazooRetry(max_tries=-1, delay=0.05, max_delay=0.5))
        t = threading.Thread(target=_writer, args=(c, b, acked, errors, stop), daemon=True)
        t.start()
        writers.append(t)
    wait_for(lambda: len(acked) >= 50, timeout=30, what="writes flowing")
    old = ensemble3.leader()
    assert old is not None
    killed_at = time.monotonic()
    before = len(acked)
    old.kill9()
    wait_for(lambda: ensemble3.leader() is not None, timeout=60, what="a new leader")
    elected = time.monotonic() - killed_at
    wait_for(lambda: len(acked) >= before + 50, timeout=60, what="writes flowing again")
    resumed = time.monotonic() - killed_at
    stop.set()
    for t in writers:
        t.join(timeout=30)
    print(f"\nfailover round {round_}: new leader after {elected:.2f}s, writes resumed after {resumed:.2f}s")
    new = ensemble3.leader()
    assert new is not None and new is not old
    old.start()
    ensemble3.wait_ready()
    # Every acknowledged create is present, on every member, including the old leader.
    for m in ensemble3.members:
        c = clients(m.hosts)
        c.sync(b)
        present = set(c.get_children(b))
        missing = [p for p in acked if p.rsplit("/", 1)[1] not in present]
        assert not missing, f"server {m.sid} lost acknowledged writes: {missing[:5]}"


def test_restarted_follower_catches_up(ensemble3, clients):
    b = base()
    leader = ensemble3.leader()
    follower = next(m for m in ensemble3.members if m is not leader)
    c = clients(leader.hosts)
    c.create(b)
    follower.stop()
    for i in range(200):
        c.create(f"{b}/c{i}")
    follower.start()
    ensemble3.wait_ready()
    f = clients(follower.hosts)
    f.sync(b)
    assert len(f.get_children(b)) == 200


def test_five_servers_serve_with_two_down_and_stop_with_three(clients):
    ens = E2EEnsemble(5)
    try:
        ens.start()
        b = base()
        leader = ens.leader()
        followers = [m for m in ens.members if m is not leader]
        followers[0].kill9()
        followers[1].kill9()
        live = [m for m in ens.members if m.running()]
        c = clients(",".join(m.hosts for m in live))
        c.create(b, b"with three of five")
        followers[2].kill9()
        # Two of five: no quorum. The remaining servers stop serving.
        wait_for(
            lambda: all(m.mode() not in ("leader", "follower") for m in ens.members if m.running()),
            timeout=60,
            what="the minority to stop serving",
        )
        for m in followers[:3]:
            m.start()
        ens.wait_ready()
        c2 = clients(ens.hosts)
        c2.sync(b)
        assert c2.get(b)[0] == b"with three of five"
    finally:
        ens.close()
