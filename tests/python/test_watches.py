"""One-shot data, exists and child watches, and kazoo's watch recipes."""

import queue

from kazoo.protocol.states import EventType
from kazoo.recipe.cache import TreeCache, TreeEvent

from zkhelpers import EVENT_TIMEOUT, wait_for


def test_data_watch_fires_once_on_change(zk, make_client, base, events):
    writer = make_client()
    zk.create(f"{base}/d", b"0")
    zk.get(f"{base}/d", watch=events)
    writer.set(f"{base}/d", b"1")
    ev = events.get()
    assert (ev.type, ev.path, ev.state) == (EventType.CHANGED, f"{base}/d", "CONNECTED")
    # One-shot: a second change without re-arming fires nothing. The server sends a
    # notification before the reply of any later request on the connection, so after the
    # get below every event the server sent is in kazoo's callback queue.
    writer.set(f"{base}/d", b"2")
    zk.get(f"{base}/d", watch=events)
    assert events.drain_after(zk) == []
    writer.set(f"{base}/d", b"2")  # identical data still fires
    assert events.get().type == EventType.CHANGED
    zk.sync(base)
    assert events.drain_after(zk) == []


def test_data_watch_fires_on_delete(zk, make_client, base, events):
    writer = make_client()
    zk.create(f"{base}/d", b"0")
    zk.get(f"{base}/d", watch=events)
    writer.delete(f"{base}/d")
    ev = events.get()
    assert (ev.type, ev.path) == (EventType.DELETED, f"{base}/d")


def test_exists_watch_on_missing_node_fires_on_create(zk, make_client, base, events):
    writer = make_client()
    assert zk.exists(f"{base}/later", watch=events) is None
    writer.create(f"{base}/later", b"x")
    ev = events.get()
    assert (ev.type, ev.path) == (EventType.CREATED, f"{base}/later")


def test_exists_watch_on_existing_node(zk, make_client, base, events):
    writer = make_client()
    zk.create(f"{base}/n")
    zk.exists(f"{base}/n", watch=events)
    writer.set(f"{base}/n", b"new")
    assert events.get().type == EventType.CHANGED
    zk.exists(f"{base}/n", watch=events)
    writer.delete(f"{base}/n")
    assert events.get().type == EventType.DELETED


def test_child_watch(zk, make_client, base, events):
    writer = make_client()
    zk.create(f"{base}/kid")
    zk.get_children(base, watch=events)
    # A child's data change does not fire the parent's child watch.
    writer.set(f"{base}/kid", b"data")
    writer.create(f"{base}/kid2")
    ev = events.get()
    assert (ev.type, ev.path) == (EventType.CHILD, base)
    zk.sync(base)
    assert events.drain_after(zk) == []
    zk.get_children(base, watch=events)
    writer.delete(f"{base}/kid")
    ev = events.get()
    assert (ev.type, ev.path) == (EventType.CHILD, base)


def test_delete_fires_data_and_parent_child_watches(zk, make_client, base):
    writer = make_client()
    zk.create(f"{base}/x", b"")
    data_events, child_events = queue.Queue(), queue.Queue()
    zk.get(f"{base}/x", watch=data_events.put)
    zk.get_children(base, watch=child_events.put)
    writer.delete(f"{base}/x")
    assert data_events.get(timeout=EVENT_TIMEOUT).type == EventType.DELETED
    assert child_events.get(timeout=EVENT_TIMEOUT).type == EventType.CHILD


def test_watch_on_own_write(zk, base, events):
    zk.create(f"{base}/self", b"")
    zk.get(f"{base}/self", watch=events)
    zk.set(f"{base}/self", b"mine")
    ev = events.get()
    assert (ev.type, ev.path) == (EventType.CHANGED, f"{base}/self")


def test_ephemeral_delete_on_close_fires_watch(zk, make_client, base, events):
    other = make_client()
    other.create(f"{base}/eph", ephemeral=True)
    zk.exists(f"{base}/eph", watch=events)
    other.stop()
    ev = events.get()
    assert (ev.type, ev.path) == (EventType.DELETED, f"{base}/eph")


def test_data_watch_recipe(zk, make_client, base):
    writer = make_client()
    seen = queue.Queue()

    @zk.DataWatch(f"{base}/dw")
    def watcher(data, stat, event=None):
        seen.put((data, stat.version if stat else None, event.type if event else None))

    assert seen.get(timeout=EVENT_TIMEOUT) == (None, None, None)
    writer.create(f"{base}/dw", b"a")
    assert seen.get(timeout=EVENT_TIMEOUT) == (b"a", 0, EventType.CREATED)
    writer.set(f"{base}/dw", b"b")
    assert seen.get(timeout=EVENT_TIMEOUT) == (b"b", 1, EventType.CHANGED)
    writer.delete(f"{base}/dw")
    assert seen.get(timeout=EVENT_TIMEOUT) == (None, None, EventType.DELETED)


def test_children_watch_recipe(zk, make_client, base):
    writer = make_client()
    seen = queue.Queue()

    @zk.ChildrenWatch(base)
    def watcher(children):
        seen.put(sorted(children))

    assert seen.get(timeout=EVENT_TIMEOUT) == []
    writer.create(f"{base}/a")
    assert seen.get(timeout=EVENT_TIMEOUT) == ["a"]
    writer.create(f"{base}/b")
    assert seen.get(timeout=EVENT_TIMEOUT) == ["a", "b"]
    writer.delete(f"{base}/a")
    assert seen.get(timeout=EVENT_TIMEOUT) == ["b"]


def test_tree_cache(zk, make_client, base):
    writer = make_client()
    writer.create(f"{base}/t/a", b"1", makepath=True)
    cache = TreeCache(zk, f"{base}/t")
    got = queue.Queue()
    cache.listen(got.put)
    cache.start()
    try:
        wait_for(
            lambda: any(e.event_type == TreeEvent.INITIALIZED for e in list(got.queue)),
            what="TreeCache initialization",
        )
        assert cache.get_data(f"{base}/t/a").data == b"1"
        writer.create(f"{base}/t/a/deep", b"2")
        writer.set(f"{base}/t/a", b"3")
        wait_for(lambda: (cache.get_data(f"{base}/t/a/deep") or None) is not None, what="deep node in cache")
        wait_for(lambda: cache.get_data(f"{base}/t/a").data == b"3", what="updated data in cache")
        assert sorted(cache.get_children(f"{base}/t/a")) == ["deep"]
        writer.delete(f"{base}/t/a", recursive=True)
        wait_for(lambda: cache.get_data(f"{base}/t/a") is None, what="removal from cache")
    finally:
        cache.close()
