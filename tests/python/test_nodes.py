"""Ephemeral, sequential, container and TTL nodes."""

import pytest
from kazoo.exceptions import BadArgumentsError, NoNodeError

from zkhelpers import create_container, create_ttl, wait_for

# Containers and TTL nodes are reaped by a background pass every
# znode.container.checkIntervalMs (1 s in these servers); allow many passes.
REAP_TIMEOUT = 20.0


def test_ephemeral_owner_and_stat(zk, base):
    path, stat = zk.create(f"{base}/e", b"x", ephemeral=True, include_data=True)
    assert stat.ephemeralOwner == zk.client_id[0]
    assert zk.exists(path).ephemeralOwner == zk.client_id[0]


def test_sequential_names_come_from_parent_counter(zk, base):
    names = [zk.create(f"{base}/seq-", sequence=True) for _ in range(3)]
    assert names == [f"{base}/seq-{i:010d}" for i in range(3)]
    # A plain create also advances the parent's counter; deletes never move it back.
    zk.create(f"{base}/plain")
    zk.delete(names[2])
    assert zk.create(f"{base}/seq-", sequence=True) == f"{base}/seq-0000000004"
    # A sequential create whose path ends in '/' is named by the number alone.
    assert zk.create(f"{base}/", sequence=True) == f"{base}/0000000005"


def test_sequential_counter_is_per_parent(zk, base):
    zk.create(f"{base}/p1")
    zk.create(f"{base}/p2")
    assert zk.create(f"{base}/p1/s", sequence=True) == f"{base}/p1/s0000000000"
    assert zk.create(f"{base}/p2/s", sequence=True) == f"{base}/p2/s0000000000"
    assert zk.create(f"{base}/p1/s", sequence=True) == f"{base}/p1/s0000000001"


def test_ephemeral_sequential(zk, make_client, base):
    other = make_client()
    a = zk.create(f"{base}/lock-", ephemeral=True, sequence=True)
    b = other.create(f"{base}/lock-", ephemeral=True, sequence=True)
    assert a.endswith("0000000000") and b.endswith("0000000001")
    assert zk.exists(a).ephemeralOwner == zk.client_id[0]
    assert zk.exists(b).ephemeralOwner == other.client_id[0]
    other.stop()
    assert zk.exists(b) is None
    assert zk.exists(a) is not None


def test_deleting_another_sessions_ephemeral(zk, make_client, base):
    other = make_client()
    path = other.create(f"{base}/theirs", ephemeral=True)
    zk.delete(path)
    assert other.exists(path) is None


def test_container_reaped_after_last_child_deleted(zk, base, events):
    path, stat = create_container(zk, f"{base}/box", b"c")
    assert path == f"{base}/box"
    # Containers show ephemeralOwner 0 to clients.
    assert stat.ephemeralOwner == 0
    assert zk.get(path)[0] == b"c"
    zk.create(f"{path}/child")
    # Watch before the child goes, so the reaper cannot win the race with the watch.
    zk.exists(path, watch=events)
    zk.delete(f"{path}/child")
    wait_for(lambda: zk.exists(path) is None, timeout=REAP_TIMEOUT, what="container reaping")
    event = events.get()
    assert event.type == "DELETED" and event.path == path


def test_container_never_used_is_kept(zk, base):
    path, _ = create_container(zk, f"{base}/unused")
    other, _ = create_container(zk, f"{base}/used")
    zk.create(f"{other}/c")
    zk.delete(f"{other}/c")
    # Once the used container is gone, several reaper passes have run; the never-used
    # one must still be there (3.8 never deletes containers that never had a child).
    wait_for(lambda: zk.exists(other) is None, timeout=REAP_TIMEOUT, what="used container reaping")
    assert zk.exists(path) is not None


def test_container_with_children_is_kept(zk, base):
    path, _ = create_container(zk, f"{base}/busy")
    zk.create(f"{path}/a")
    zk.create(f"{path}/b")
    zk.delete(f"{path}/a")
    sentinel, _ = create_container(zk, f"{base}/sentinel")
    zk.create(f"{sentinel}/x")
    zk.delete(f"{sentinel}/x")
    wait_for(lambda: zk.exists(sentinel) is None, timeout=REAP_TIMEOUT, what="sentinel reaping")
    assert zk.get_children(path) == ["b"]


def test_container_may_hold_ephemerals(zk, make_client, base):
    path, _ = create_container(zk, f"{base}/svc")
    other = make_client()
    other.create(f"{path}/member", ephemeral=True)
    assert zk.get_children(path) == ["member"]
    other.stop()
    wait_for(lambda: zk.exists(path) is None, timeout=REAP_TIMEOUT, what="container reaping")


def test_ttl_node_expires(zk, base):
    path, stat = create_ttl(zk, f"{base}/ttl", b"t", 1000)
    assert path == f"{base}/ttl"
    assert stat.ephemeralOwner == 0 and stat.dataLength == 1 and stat.version == 0
    wait_for(lambda: zk.exists(path) is None, timeout=REAP_TIMEOUT, what="TTL node expiry")


def test_ttl_sequential(zk, base):
    path, _ = create_ttl(zk, f"{base}/ttlseq-", b"", 500, sequential=True)
    assert path == f"{base}/ttlseq-0000000000"
    wait_for(lambda: zk.exists(path) is None, timeout=REAP_TIMEOUT, what="TTL node expiry")


def test_ttl_node_with_child_is_kept(zk, base):
    path, _ = create_ttl(zk, f"{base}/ttlparent", b"", 500)
    zk.create(f"{path}/child")
    gone, _ = create_ttl(zk, f"{base}/ttlgone", b"", 500)
    wait_for(lambda: zk.exists(gone) is None, timeout=REAP_TIMEOUT, what="TTL node expiry")
    assert zk.exists(path) is not None
    assert zk.get_children(path) == ["child"]


@pytest.mark.parametrize("ttl", [0, -1, 1 << 40])
def test_ttl_out_of_range(zk, base, ttl):
    with pytest.raises(BadArgumentsError):
        create_ttl(zk, f"{base}/bad", b"", ttl)
    with pytest.raises(NoNodeError):
        zk.get(f"{base}/bad")


def test_ttl_max_accepted(zk, base):
    path, _ = create_ttl(zk, f"{base}/max", b"", (1 << 40) - 1)
    assert zk.exists(path) is not None
