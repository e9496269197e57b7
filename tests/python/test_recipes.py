"""kazoo's high-level recipes, each driven by several real client sessions."""

import threading

from kazoo.recipe.barrier import Barrier, DoubleBarrier
from kazoo.recipe.counter import Counter
from kazoo.recipe.election import Election
from kazoo.recipe.lock import Lock, ReadLock, Semaphore, WriteLock
from kazoo.recipe.party import Party, ShallowParty
from kazoo.recipe.queue import LockingQueue, Queue

from zkhelpers import EVENT_TIMEOUT, wait_for


def run_thread(target, *args):
    t = threading.Thread(target=target, args=args, daemon=True)
    t.start()
    return t


def test_lock_mutual_exclusion_and_handover(make_client, base):
    a, b = make_client(), make_client()
    lock_a = Lock(a, f"{base}/lock", "a")
    lock_b = Lock(b, f"{base}/lock", "b")
    assert lock_a.acquire(timeout=EVENT_TIMEOUT)
    acquired = threading.Event()

    def contender():
        if lock_b.acquire(timeout=60):
            acquired.set()

    t = run_thread(contender)
    # b is queued behind a (its node exists) but does not hold the lock.
    wait_for(lambda: len(lock_a.contenders()) == 2, what="second contender")
    assert lock_a.contenders() == ["a", "b"]
    assert not acquired.is_set()
    lock_a.release()
    assert acquired.wait(EVENT_TIMEOUT)
    assert lock_b.is_acquired
    lock_b.release()
    t.join(EVENT_TIMEOUT)
    assert lock_a.contenders() == []


def test_lock_released_when_holder_session_closes(make_client, base):
    a, b = make_client(), make_client()
    assert Lock(a, f"{base}/lock", "a").acquire(timeout=EVENT_TIMEOUT)
    lock_b = Lock(b, f"{base}/lock", "b")
    assert not lock_b.acquire(blocking=False)
    a.stop()
    assert lock_b.acquire(timeout=EVENT_TIMEOUT)
    lock_b.release()


def test_lock_as_context_manager_counts(make_client, base):
    clients = [make_client() for _ in range(3)]
    counter_path = f"{base}/value"
    clients[0].create(counter_path, b"0")

    def worker(client):
        for _ in range(10):
            with Lock(client, f"{base}/lock"):
                value = int(client.get(counter_path)[0])
                client.set(counter_path, str(value + 1).encode())

    threads = [run_thread(worker, c) for c in clients]
    for t in threads:
        t.join(60)
        assert not t.is_alive()
    assert clients[0].get(counter_path)[0] == b"30"


def test_read_write_lock(make_client, base):
    a, b, c = make_client(), make_client(), make_client()
    r1, r2 = ReadLock(a, f"{base}/rw"), ReadLock(b, f"{base}/rw")
    assert r1.acquire(timeout=EVENT_TIMEOUT) and r2.acquire(timeout=EVENT_TIMEOUT)
    w = WriteLock(c, f"{base}/rw")
    assert not w.acquire(blocking=False)
    r1.release()
    r2.release()
    assert w.acquire(timeout=EVENT_TIMEOUT)
    w.release()


def test_semaphore(make_client, base):
    clients = [make_client() for _ in range(3)]
    sems = [Semaphore(c, f"{base}/sem", f"id{i}", max_leases=2) for i, c in enumerate(clients)]
    assert sems[0].acquire(timeout=EVENT_TIMEOUT)
    assert sems[1].acquire(timeout=EVENT_TIMEOUT)
    assert not sems[2].acquire(blocking=False)
    assert sorted(sems[0].lease_holders()) == ["id0", "id1"]
    sems[0].release()
    assert sems[2].acquire(timeout=EVENT_TIMEOUT)
    assert sorted(sems[1].lease_holders()) == ["id1", "id2"]
    sems[1].release()
    sems[2].release()


def test_election(make_client, base):
    a, b = make_client(), make_client()
    ea, eb = Election(a, f"{base}/election", "a"), Election(b, f"{base}/election", "b")
    leaders = []
    a_leading, a_may_finish, b_leading = threading.Event(), threading.Event(), threading.Event()

    def lead_a():
        leaders.append("a")
        a_leading.set()
        a_may_finish.wait(60)

    def lead_b():
        leaders.append("b")
        b_leading.set()

    ta = run_thread(ea.run, lead_a)
    assert a_leading.wait(EVENT_TIMEOUT)
    tb = run_thread(eb.run, lead_b)
    wait_for(lambda: len(ea.contenders()) == 2, what="second candidate")
    assert ea.contenders() == ["a", "b"]
    assert not b_leading.is_set()
    a_may_finish.set()  # leader a steps down by returning
    assert b_leading.wait(EVENT_TIMEOUT)
    ta.join(EVENT_TIMEOUT)
    tb.join(EVENT_TIMEOUT)
    assert leaders == ["a", "b"]


def test_counter(make_client, base):
    a, b = make_client(), make_client()
    c = Counter(a, f"{base}/counter")
    c += 5
    c -= 2
    assert c.value == 3

    def bump(client):
        counter = Counter(client, f"{base}/counter")
        for _ in range(25):
            counter += 1

    threads = [run_thread(bump, a), run_thread(bump, b)]
    for t in threads:
        t.join(60)
    assert Counter(b, f"{base}/counter").value == 53
    f = Counter(a, f"{base}/float", default=0.0)
    f += 1.5
    assert f.value == 1.5


def test_barrier(make_client, base):
    a, b = make_client(), make_client()
    barrier = Barrier(a, f"{base}/barrier")
    barrier.create()
    passed = threading.Event()
    t = run_thread(lambda: Barrier(b, f"{base}/barrier").wait(60) and passed.set())
    # While the barrier node exists, a bounded wait gives up and nobody passes.
    assert Barrier(b, f"{base}/barrier").wait(0.2) is False
    assert not passed.is_set()
    barrier.remove()
    assert passed.wait(EVENT_TIMEOUT)
    t.join(EVENT_TIMEOUT)


def test_double_barrier(make_client, base):
    clients = [make_client() for _ in range(3)]
    entered = []

    def participant(client, i):
        db = DoubleBarrier(client, f"{base}/db", 3, f"p{i}")
        db.enter()
        entered.append(i)
        db.leave()

    threads = [run_thread(participant, c, i) for i, c in enumerate(clients)]
    for t in threads:
        t.join(60)
        assert not t.is_alive()
    assert sorted(entered) == [0, 1, 2]


def test_queue(make_client, base):
    a, b = make_client(), make_client()
    q = Queue(a, f"{base}/q")
    q.put(b"one")
    q.put(b"two")
    q.put(b"urgent", priority=1)
    assert len(q) == 3
    consumer = Queue(b, f"{base}/q")
    assert [consumer.get(), consumer.get(), consumer.get()] == [b"urgent", b"one", b"two"]
    assert consumer.get() is None


def test_locking_queue(make_client, base):
    a, b = make_client(), make_client()
    producer = LockingQueue(a, f"{base}/lq")
    producer.put_all([b"x", b"y"])
    consumer = LockingQueue(b, f"{base}/lq")
    assert consumer.get(EVENT_TIMEOUT) == b"x"
    assert consumer.holds_lock()
    assert consumer.consume()
    assert consumer.get(EVENT_TIMEOUT) == b"y"
    # Released without consuming: the item goes back to the queue.
    assert consumer.release()
    assert LockingQueue(a, f"{base}/lq").get(EVENT_TIMEOUT) == b"y"


def test_party(make_client, base):
    a, b = make_client(), make_client()
    pa, pb = Party(a, f"{base}/party", "alice"), ShallowParty(b, f"{base}/shallow", "bob")
    pa.join()
    Party(b, f"{base}/party", "bob").join()
    assert sorted(Party(a, f"{base}/party")) == ["alice", "bob"]
    assert len(pa) == 2
    pb.join()
    assert list(ShallowParty(a, f"{base}/shallow")) == ["bob"]
    b.stop()  # members are ephemeral
    assert list(Party(a, f"{base}/party")) == ["alice"]
