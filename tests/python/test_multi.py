"""kazoo transactions (multi, opcode 14): success results, failure results, atomicity."""

from kazoo.exceptions import (
    BadVersionError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.states import ZnodeStat


def test_multi_success_results(zk, base):
    zk.create(f"{base}/old", b"o")
    zk.create(f"{base}/gone", b"g")
    t = zk.transaction()
    t.create(f"{base}/new", b"n")
    t.create(f"{base}/seq-", b"s", sequence=True)
    t.set_data(f"{base}/old", b"o2")
    t.check(f"{base}/old", 1)  # sees the set_data above
    t.delete(f"{base}/gone")
    results = t.commit()
    assert results[0] == f"{base}/new"
    assert results[1].startswith(f"{base}/seq-") and len(results[1]) == len(f"{base}/seq-") + 10
    assert isinstance(results[2], ZnodeStat) and results[2].version == 1
    assert results[3] is True
    assert results[4] is True
    assert sorted(zk.get_children(base)) == sorted(["new", "old", results[1].rsplit("/", 1)[1]])
    assert zk.get(f"{base}/old")[0] == b"o2"


def test_multi_ops_share_one_zxid(zk, base):
    t = zk.transaction()
    t.create(f"{base}/a")
    t.create(f"{base}/b")
    t.commit()
    assert zk.exists(f"{base}/a").czxid == zk.exists(f"{base}/b").czxid


def test_multi_failure_rolls_back_everything(zk, base):
    zk.create(f"{base}/v", b"1")
    t = zk.transaction()
    t.create(f"{base}/x", b"")
    t.set_data(f"{base}/v", b"2")
    t.check(f"{base}/v", 5)  # wrong version: fails
    t.delete(f"{base}/v")
    results = t.commit()
    assert [type(r) for r in results] == [RolledBackError, RolledBackError, BadVersionError, RuntimeInconsistency]
    assert zk.exists(f"{base}/x") is None
    data, stat = zk.get(f"{base}/v")
    assert data == b"1" and stat.version == 0


def test_multi_failure_codes(zk, base):
    zk.create(f"{base}/full/child", makepath=True)
    for op, err in [
        (lambda t: t.create(f"{base}/full"), NodeExistsError),
        (lambda t: t.delete(f"{base}/missing"), NoNodeError),
        (lambda t: t.delete(f"{base}/full"), NotEmptyError),
        (lambda t: t.set_data(f"{base}/full", b"", version=9), BadVersionError),
    ]:
        t = zk.transaction()
        t.create(f"{base}/first")
        op(t)
        results = t.commit()
        assert [type(r) for r in results] == [RolledBackError, err]
    assert sorted(zk.get_children(base)) == ["full"]


def test_multi_sees_its_own_earlier_ops(zk, base):
    t = zk.transaction()
    t.create(f"{base}/p")
    t.create(f"{base}/p/c", b"child")
    t.delete(f"{base}/p/c")
    t.create(f"{base}/p/c", b"again")
    results = t.commit()
    assert results == [f"{base}/p", f"{base}/p/c", True, f"{base}/p/c"]
    assert zk.get(f"{base}/p/c")[0] == b"again"


def test_failed_multi_releases_sequence_numbers(zk, base):
    t = zk.transaction()
    t.create(f"{base}/s-", sequence=True)
    t.check(f"{base}/missing", 0)
    results = t.commit()
    assert [type(r) for r in results] == [RolledBackError, NoNodeError]
    # The rolled-back create did not use up the parent's sequence counter.
    assert zk.create(f"{base}/s-", sequence=True) == f"{base}/s-0000000000"


def test_multi_with_ephemeral(zk, make_client, base):
    other = make_client()
    t = other.transaction()
    t.create(f"{base}/e", ephemeral=True)
    t.create(f"{base}/p")
    assert t.commit() == [f"{base}/e", f"{base}/p"]
    assert zk.exists(f"{base}/e").ephemeralOwner == other.client_id[0]
    other.stop()
    assert sorted(zk.get_children(base)) == ["p"]


def test_transaction_context_manager(zk, base):
    with zk.transaction() as t:
        t.create(f"{base}/cm1")
        t.create(f"{base}/cm2")
    assert t.committed
    assert sorted(zk.get_children(base)) == ["cm1", "cm2"]
