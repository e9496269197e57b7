"""Helpers for the kazoo end-to-end tests: bounded waiting, event collection, and the
requests kazoo has no API for."""

import collections
import queue
import time

import pytest
from kazoo.protocol.serialization import (
    int_struct,
    long_struct,
    read_string,
    stat_struct,
    write_buffer,
    write_string,
)
from kazoo.protocol.states import Callback, ZnodeStat
from kazoo.security import OPEN_ACL_UNSAFE

# Bounds used by the tests' polling loops (never asserted as durations).
EVENT_TIMEOUT = 10.0
SESSION_TIMEOUT = 10.0


def wait_for(predicate, timeout=EVENT_TIMEOUT, interval=0.05, what="condition"):
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds.

    This bounds how long a test may wait for asynchronous server work (container reaping,
    session expiry) without asserting how long it took."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class EventLog:
    """Thread-safe collector for watch callbacks and listener states."""

    def __init__(self):
        self.q = queue.Queue()

    def __call__(self, *args):
        self.q.put(args[0] if len(args) == 1 else args)

    def get(self, timeout=EVENT_TIMEOUT):
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no event within {timeout}s")

    def drain_after(self, client):
        """Everything delivered so far, including callbacks the client has queued but
        not yet run: a sentinel goes through kazoo's (FIFO) callback thread first."""
        sentinel = object()
        client.handler.dispatch_callback(Callback("watch", self, (sentinel,)))
        items = []
        while True:
            item = self.get()
            if item is sentinel:
                return items
            items.append(item)

    def drain(self):
        items = []
        while True:
            try:
                items.append(self.q.get_nowait())
            except queue.Empty:
                return items


# --- Requests kazoo has no API for, sent through kazoo's own connection -----------------
# kazoo (2.10/2.11) cannot create containers (opcode 19) or TTL nodes (opcode 21). These
# request records follow kazoo.protocol.serialization.Create2; the client's connection
# frames them, matches the reply by xid and maps error codes to kazoo exceptions.


def _serialize_create(path, data, acl, flags):
    b = bytearray()
    b.extend(write_string(path))
    b.extend(write_buffer(data))
    b.extend(int_struct.pack(len(acl)))
    for a in acl:
        b.extend(int_struct.pack(a.perms) + write_string(a.id.scheme) + write_string(a.id.id))
    b.extend(int_struct.pack(flags))
    return b


def _deserialize_create2(bytes_, offset):
    path, offset = read_string(bytes_, offset)
    stat = ZnodeStat._make(stat_struct.unpack_from(bytes_, offset))
    return path, stat


class CreateContainer(collections.namedtuple("CreateContainer", "path data acl flags")):
    type = 19

    def serialize(self):
        return _serialize_create(self.path, self.data, self.acl, self.flags)

    @classmethod
    def deserialize(cls, bytes_, offset):
        return _deserialize_create2(bytes_, offset)


class CreateTTL(collections.namedtuple("CreateTTL", "path data acl flags ttl")):
    type = 21

    def serialize(self):
        return _serialize_create(self.path, self.data, self.acl, self.flags) + long_struct.pack(self.ttl)

    @classmethod
    def deserialize(cls, bytes_, offset):
        return _deserialize_create2(bytes_, offset)


def raw_call(client, request, timeout=EVENT_TIMEOUT):
    """Send one request record through kazoo's connection and wait for its reply."""
    result = client.handler.async_result()
    client._call(request, result)
    return result.get(timeout=timeout)


def _open_acl():
    return list(OPEN_ACL_UNSAFE)


def create_container(client, path, data=b""):
    """Create a container node (CreateMode.CONTAINER, flags 4). Returns (path, stat)."""
    return raw_call(client, CreateContainer(path, data, _open_acl(), 4))


def create_ttl(client, path, data, ttl_ms, sequential=False):
    """Create a TTL node (flags 5, or 6 when sequential). Returns (path, stat)."""
    return raw_call(client, CreateTTL(path, data, _open_acl(), 6 if sequential else 5, ttl_ms))
