"""CRUD, stats, children, sync, ensure_path, 4lw, data size limits and error paths."""

import pytest
from kazoo.exceptions import (
    BadArgumentsError,
    BadVersionError,
    ConnectionLoss,
    MarshallingError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    ZookeeperError,
)

from kazoo.protocol.serialization import Create
from kazoo.security import OPEN_ACL_UNSAFE

from zkhelpers import raw_call, wait_for


def test_brief_example(zk):
    """The example from the project brief, step by step."""
    if zk.exists("/test"):
        zk.delete("/test", recursive=True)
    try:
        assert zk.create("/test", b"Hello, ZooKeeper!") == "/test"

        data, stat = zk.get("/test")
        assert data == b"Hello, ZooKeeper!"
        assert stat.version == 0
        assert stat.dataLength == len(b"Hello, ZooKeeper!")
        assert stat.numChildren == 0
        assert stat.ephemeralOwner == 0

        new_stat = zk.set("/test", b"Hello, ZooKeeper 2.0!")
        assert new_stat.version == 1
        data, stat = zk.get("/test")
        assert data == b"Hello, ZooKeeper 2.0!"
        assert stat.version == 1

        assert zk.get_children("/test") == []

        zk.delete("/test", version=-1)
        assert zk.exists("/test") is None
    finally:
        if zk.connected and zk.exists("/test"):
            zk.delete("/test", recursive=True)


def test_create_stat_fields(zk, base):
    path, stat = zk.create(f"{base}/n", b"abc", include_data=True)
    assert path == f"{base}/n"
    assert stat.version == 0 and stat.cversion == 0 and stat.aversion == 0
    assert stat.czxid == stat.mzxid == stat.pzxid
    assert stat.ctime == stat.mtime
    assert stat.dataLength == 3
    assert stat.numChildren == 0
    assert stat.ephemeralOwner == 0
    assert zk.exists(f"{base}/n") == stat
    data, stat2 = zk.get(f"{base}/n")
    assert data == b"abc" and stat2 == stat


def test_parent_stat_tracks_children(zk, base):
    _, before = zk.get(base)
    zk.create(f"{base}/a")
    zk.create(f"{base}/b")
    _, after = zk.get(base)
    assert after.numChildren == 2
    assert after.cversion == before.cversion + 2
    assert after.pzxid > before.pzxid
    # Children do not touch the parent's data version or mzxid.
    assert after.version == before.version and after.mzxid == before.mzxid
    zk.delete(f"{base}/a")
    _, deleted = zk.get(base)
    assert deleted.numChildren == 1
    assert deleted.cversion == after.cversion + 1
    assert deleted.pzxid > after.pzxid


def test_set_updates_version_and_mzxid(zk, base):
    p = f"{base}/v"
    _, created = zk.create(p, b"0", include_data=True)
    stats = [zk.set(p, str(i).encode()) for i in range(1, 4)]
    assert [s.version for s in stats] == [1, 2, 3]
    assert stats[-1].mzxid > created.mzxid
    assert stats[-1].czxid == created.czxid
    assert stats[-1].mtime >= created.mtime
    assert zk.set(p, b"x", version=3).version == 4
    # Identical data still bumps the version.
    assert zk.set(p, b"x").version == 5


def test_empty_and_none_data(zk, base):
    zk.create(f"{base}/empty", b"")
    data, stat = zk.get(f"{base}/empty")
    assert data == b"" and stat.dataLength == 0
    zk.create(f"{base}/none", None)
    data, stat = zk.get(f"{base}/none")
    assert data in (b"", None) and stat.dataLength == 0


def test_binary_and_unicode(zk, base):
    blob = bytes(range(256)) * 4
    zk.create(f"{base}/bin", blob)
    assert zk.get(f"{base}/bin")[0] == blob
    name = f"{base}/ünïcødé-节点"
    zk.create(name, "wert".encode())
    assert zk.get(name)[0] == b"wert"
    assert "ünïcødé-节点" in zk.get_children(base)


def test_get_children_with_stat(zk, base):
    for name in ["c", "a", "b"]:
        zk.create(f"{base}/{name}")
    children, stat = zk.get_children(base, include_data=True)
    assert sorted(children) == ["a", "b", "c"]
    assert stat.numChildren == 3
    assert stat == zk.exists(base)


def test_exists_missing_returns_none(zk, base):
    assert zk.exists(f"{base}/missing") is None


def test_sync(zk, base):
    assert zk.sync(base) == base


def test_ensure_path_and_makepath(zk, base):
    zk.ensure_path(f"{base}/x/y/z")
    assert zk.exists(f"{base}/x/y/z") is not None
    zk.ensure_path(f"{base}/x/y/z")  # idempotent
    zk.create(f"{base}/p/q/r", b"deep", makepath=True)
    assert zk.get(f"{base}/p/q/r")[0] == b"deep"


def test_delete_recursive(zk, base):
    zk.create(f"{base}/t/a/b", makepath=True)
    zk.create(f"{base}/t/c")
    zk.delete(f"{base}/t", recursive=True)
    assert zk.exists(f"{base}/t") is None


def test_builtin_zookeeper_nodes(zk):
    assert "zookeeper" in zk.get_children("/")
    assert sorted(zk.get_children("/zookeeper")) == ["config", "quota"]


def test_error_no_node(zk, base):
    with pytest.raises(NoNodeError):
        zk.get(f"{base}/nope")
    with pytest.raises(NoNodeError):
        zk.set(f"{base}/nope", b"x")
    with pytest.raises(NoNodeError):
        zk.delete(f"{base}/nope")
    with pytest.raises(NoNodeError):
        zk.get_children(f"{base}/nope")
    with pytest.raises(NoNodeError):
        zk.create(f"{base}/no/parent")


def test_error_node_exists(zk, base):
    zk.create(f"{base}/dup", b"1")
    with pytest.raises(NodeExistsError):
        zk.create(f"{base}/dup", b"2")
    assert zk.get(f"{base}/dup")[0] == b"1"


def test_error_bad_version(zk, base):
    zk.create(f"{base}/bv", b"1")
    with pytest.raises(BadVersionError):
        zk.set(f"{base}/bv", b"2", version=7)
    with pytest.raises(BadVersionError):
        zk.delete(f"{base}/bv", version=3)
    data, stat = zk.get(f"{base}/bv")
    assert data == b"1" and stat.version == 0


def test_error_not_empty(zk, base):
    zk.create(f"{base}/parent/child", makepath=True)
    with pytest.raises(NotEmptyError):
        zk.delete(f"{base}/parent")
    assert zk.exists(f"{base}/parent") is not None


def test_error_no_children_for_ephemerals(zk, base):
    zk.create(f"{base}/eph", ephemeral=True)
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(f"{base}/eph/child")
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(f"{base}/eph/seq-", sequence=True, ephemeral=True)


@pytest.mark.parametrize(
    "suffix, error",
    [
        ("/a/", BadArgumentsError),  # trailing slash on a non-sequential create
        ("/a/.", BadArgumentsError),
        ("/a/..", BadArgumentsError),
        ("/a/b\u0000c", BadArgumentsError),
        ("/a/b\u0001c", BadArgumentsError),
        ("/a/b\ufff0", BadArgumentsError),
        # The parent (text before the last '/') is looked up before the full path is
        # validated, so a malformed parent is simply missing.
        ("/a//b", NoNodeError),
        ("/a/./b", NoNodeError),
        ("/missing/.", NoNodeError),
    ],
)
def test_error_invalid_path(zk, base, suffix, error):
    """Server-side path validation and its order. kazoo normalizes paths before sending
    them, so the malformed path goes out as a raw Create through kazoo's connection."""
    zk.create(base + "/a")
    with pytest.raises(error):
        raw_call(zk, Create(base + suffix, b"", list(OPEN_ACL_UNSAFE), 0))
    assert sorted(zk.get_children(base)) == ["a"]
    assert zk.get_children(base + "/a") == []


@pytest.mark.parametrize(
    "path, error",
    [
        ("a", BadArgumentsError),
        ("//x", BadArgumentsError),
        # kazoo writes an empty string as a null (-1 length) string: a null path.
        ("", MarshallingError),
    ],
)
def test_error_invalid_path_at_root(zk, path, error):
    with pytest.raises(error):
        raw_call(zk, Create(path, b"", list(OPEN_ACL_UNSAFE), 0))
    wait_for(lambda: zk.connected, what="kazoo to be connected")
    assert "x" not in zk.get_children("/")


def test_error_delete_root_and_builtin(zk):
    with pytest.raises(ZookeeperError):
        zk.delete("/")
    with pytest.raises(ZookeeperError):
        zk.delete("/zookeeper")
    assert zk.exists("/zookeeper") is not None


def test_large_data_accepted(zk, base):
    blob = bytes((i * 7) % 251 for i in range(1_000_000))
    zk.create(f"{base}/big", blob)
    data, stat = zk.get(f"{base}/big")
    assert stat.dataLength == 1_000_000
    assert data == blob
    blob2 = blob[::-1]
    assert zk.set(f"{base}/big", blob2).dataLength == 1_000_000
    assert zk.get(f"{base}/big")[0] == blob2


def test_oversized_data_rejected(zk, base):
    """More than jute.maxbuffer (1 MiB - 1): the server drops the connection (kazoo reports
    ConnectionLoss) or answers an error; either way nothing is written and the client
    recovers its session."""
    zk.create(f"{base}/small", b"keep")
    session = zk.client_id
    with pytest.raises((ConnectionLoss, ZookeeperError)):
        zk.set(f"{base}/small", b"x" * (1024 * 1024 + 1))
    with pytest.raises((ConnectionLoss, ZookeeperError)):
        zk.create(f"{base}/huge", b"y" * (2 * 1024 * 1024))
    wait_for(lambda: zk.connected, what="kazoo to reconnect")
    assert zk.get(f"{base}/small")[0] == b"keep"
    assert zk.exists(f"{base}/huge") is None
    assert zk.client_id[0] == session[0]


def test_four_letter_words(zk, server):
    assert server.four_letter("ruok") == "imok"
    assert zk.command(b"ruok") == "imok"
    srvr = server.four_letter("srvr")
    assert "Mode: standalone" in srvr
    assert "Zxid: 0x" in srvr
    mntr = server.four_letter("mntr")
    assert "zk_server_state\tstandalone" in mntr
    assert zk.server_version()[:2] == (3, 8)
