"""kill -9 durability: every write the server acknowledged survives a SIGKILL.

A writer pipelines sequential creates and setData calls (a window of requests in flight,
so the kill lands mid-load) and records each acknowledged one. The server is SIGKILLed,
restarted on the same data directory, and every acknowledged write must be there. This
runs twice on the same directory, so the second round also checks recovery of a log that
was itself recovered. For ZooKeeper this relies on its default forceSync=yes.
"""

import threading

from zkhelpers import EVENT_TIMEOUT, wait_for

WINDOW = 16  # requests in flight
ACKS_BEFORE_KILL = 400
MAX_OPS = 50_000  # hard bound on the writer loop


class Writer(threading.Thread):
    def __init__(self, client, root, first):
        super().__init__(daemon=True)
        self.client, self.root, self.first = client, root, first
        self.window = threading.Semaphore(WINDOW)
        self.lock = threading.Lock()
        self.created = {}  # index -> acknowledged path
        self.set_acks = []  # indexes whose setData was acknowledged
        self.failed = threading.Event()
        self.stop = threading.Event()
        self.issued = 0

    def acks(self):
        with self.lock:
            return len(self.created) + len(self.set_acks)

    def _done(self, kind, i, result):
        try:
            if result.successful():
                with self.lock:
                    if kind == "create":
                        self.created[i] = result.get()
                    else:
                        self.set_acks.append(i)
            else:
                self.failed.set()
        finally:
            self.window.release()

    def run(self):
        for i in range(self.first, self.first + MAX_OPS):
            for kind in ("create", "set"):
                while not self.window.acquire(timeout=0.5):
                    if self.stop.is_set() or self.failed.is_set():
                        return
                if self.stop.is_set() or self.failed.is_set():
                    self.window.release()
                    return
                data = str(i).encode()
                if kind == "create":
                    r = self.client.create_async(f"{self.root}/n-", data, sequence=True)
                else:
                    r = self.client.set_async(f"{self.root}/counter", data)
                self.issued = i
                r.rawlink(lambda res, kind=kind, i=i: self._done(kind, i, res))


def write_then_kill(server, make_client, root, first):
    client = make_client(hosts=server.hosts, timeout=10.0)
    client.ensure_path(root)
    if client.exists(f"{root}/counter") is None:
        client.create(f"{root}/counter", b"-1")
    writer = Writer(client, root, first)
    writer.start()
    wait_for(lambda: writer.acks() >= ACKS_BEFORE_KILL or writer.failed.is_set(), timeout=60, what="writes")
    assert not writer.failed.is_set(), "writes failed before the kill"
    server.kill9()
    writer.stop.set()
    writer.join(EVENT_TIMEOUT)
    assert not writer.is_alive()
    client.stop()
    with writer.lock:
        return dict(writer.created), list(writer.set_acks)


def check(server, make_client, root, created, set_acks, rounds):
    reader = make_client(hosts=server.hosts, timeout=10.0)
    children = set(reader.get_children(root))
    by_data = {}
    for name in children - {"counter"}:
        by_data[int(reader.get(f"{root}/{name}")[0])] = f"{root}/{name}"
    missing = [i for i, path in created.items() if path.rsplit("/", 1)[1] not in children]
    assert not missing, f"{len(missing)} acknowledged creates lost, e.g. {missing[:5]}"
    for i, path in created.items():
        assert by_data.get(i) == path, f"create #{i}: expected {path}, found {by_data.get(i)}"
    # Requests of one session apply in order, so everything issued before the last
    # acknowledged create was applied too: no holes below it.
    for first, top in rounds:
        holes = [i for i in range(first, top) if i not in by_data]
        assert not holes, f"unapplied write before an acknowledged create: {holes[:5]}"
    print(
        f"durability: {len(created)} acknowledged creates and {len(set_acks)} sets kept; "
        f"{len(by_data) - len(created)} unacknowledged creates were applied too"
    )
    value, stat = reader.get(f"{root}/counter")
    assert int(value) >= max(set_acks)
    assert stat.version >= len(set_acks)
    reader.stop()


def test_kill9_keeps_acknowledged_writes(fresh_server, make_client):
    root = "/durability"
    created, set_acks, rounds = {}, [], []
    first = 0
    for _round in range(2):
        c, s = write_then_kill(fresh_server, make_client, root, first)
        assert len(c) >= ACKS_BEFORE_KILL // 4 and s
        created.update(c)
        set_acks.extend(s)
        rounds.append((first, max(c)))
        fresh_server.start()
        check(fresh_server, make_client, root, created, set_acks, rounds)
        first = max(created) + 1000  # the next round's data never collides
