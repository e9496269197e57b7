#!/usr/bin/env python3
"""Leader failover under a write load: how long until a new leader, and until writes flow.

    .venv/bin/python bench/failover.py [--rounds 20] [--size 3] [--kind corral|zookeeper]
                                       [--writers 3] [--keep-logs]

Starts an ensemble on loopback (tests/python/e2e_ensemble.py: tickTime 500 ms, initLimit
10, syncLimit 5, the same for both kinds), runs a few kazoo writers creating nodes, and
per round kills the leader with SIGKILL, measures the time to a new leader (``srvr`` says
``Mode: leader`` on a live member) and to 50 more acknowledged writes, then restarts the
old leader and waits for the ensemble to be whole again. At the end every acknowledged
create must be present on every member (an error otherwise). Prints the distribution and
writes it as JSON with ``--out``.
"""

import argparse
import json
import os
import statistics
import sys
import threading
import time
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))

from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import (  # noqa: E402
    ConnectionLoss,
    NodeExistsError,
    OperationTimeoutError,
    SessionExpiredError,
)
from kazoo.retry import KazooRetry  # noqa: E402

import e2e_ensemble  # noqa: E402


def writer(client, prefix, acked, stop):
    i = 0
    while not stop.is_set():
        path = f"{prefix}/w-{i:07d}"
        try:
            client.create(path, b"d")
            acked.append(path)
        except NodeExistsError:
            acked.append(path)
        except (ConnectionLoss, OperationTimeoutError, SessionExpiredError):
            time.sleep(0.02)
        except Exception:  # noqa: BLE001 - keep writing through any transient error
            time.sleep(0.02)
        i += 1


def wait(pred, limit, what):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise RuntimeError(f"timed out after {limit}s waiting for {what}")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--size", type=int, default=3)
    ap.add_argument("--kind", default=os.environ.get("CORRAL_E2E_SERVER", "corral"))
    ap.add_argument("--writers", type=int, default=3)
    ap.add_argument("--out")
    ap.add_argument("--keep-logs", action="store_true")
    args = ap.parse_args()
    if args.keep_logs:
        os.environ["CORRAL_E2E_KEEP"] = "1"

    ens = e2e_ensemble.E2EEnsemble(args.size, kind=args.kind).start()
    clients = []
    try:
        prefix = f"/failover-{uuid.uuid4().hex[:8]}"
        setup = KazooClient(hosts=ens.hosts, timeout=10)
        setup.start(timeout=30)
        clients.append(setup)
        setup.create(prefix)
        acked, stop = [], threading.Event()
        threads = []
        for _ in range(args.writers):
            c = KazooClient(
                hosts=ens.hosts,
                timeout=10,
                connection_retry=KazooRetry(max_tries=-1, delay=0.02, max_delay=0.2),
            )
            c.start(timeout=30)
            clients.append(c)
            t = threading.Thread(target=writer, args=(c, prefix, acked, stop), daemon=True)
            t.start()
            threads.append(t)
        rounds = []
        for r in range(args.rounds):
            wait(lambda: len(acked) >= 20, 30, "writes flowing")
            leader = ens.leader()
            if leader is None:
                ens.wait_ready()
                leader = ens.leader()
            before = len(acked)
            t0 = time.monotonic()
            leader.kill9()
            wait(lambda: ens.leader() is not None, 120, "a new leader")
            elected = time.monotonic() - t0
            wait(lambda: len(acked) >= before + 50, 120, "writes resuming")
            resumed = time.monotonic() - t0
            rounds.append({"round": r, "killed": leader.sid, "elected_s": elected, "resumed_s": resumed})
            print(f"round {r:3d}: killed server {leader.sid}, new leader {elected:6.3f}s, writes resumed {resumed:6.3f}s", flush=True)
            leader.start()
            ens.wait_ready()
        stop.set()
        for t in threads:
            t.join(timeout=30)
        # Nothing acknowledged may be lost, on any member.
        for m in ens.members:
            c = KazooClient(hosts=m.hosts, timeout=10)
            c.start(timeout=30)
            clients.append(c)
            c.sync(prefix)
            present = set(c.get_children(prefix))
            missing = [p for p in acked if p.rsplit("/", 1)[1] not in present]
            if missing:
                raise SystemExit(f"server {m.sid} lost {len(missing)} acknowledged writes, e.g. {missing[:3]}")
        el = [x["elected_s"] for x in rounds]
        rs = [x["resumed_s"] for x in rounds]
        summary = {
            "kind": args.kind,
            "size": args.size,
            "rounds": len(rounds),
            "acked_writes": len(acked),
            "elected_s": {"min": min(el), "median": statistics.median(el), "p90": pct(el, 90), "max": max(el)},
            "resumed_s": {"min": min(rs), "median": statistics.median(rs), "p90": pct(rs, 90), "max": max(rs)},
        }
        print(
            f"\n{args.kind} x{args.size}, {len(rounds)} rounds, {len(acked)} acknowledged writes, none lost\n"
            f"new leader:     min {summary['elected_s']['min']:.3f}  median {summary['elected_s']['median']:.3f}  "
            f"p90 {summary['elected_s']['p90']:.3f}  max {summary['elected_s']['max']:.3f} s\n"
            f"writes resumed: min {summary['resumed_s']['min']:.3f}  median {summary['resumed_s']['median']:.3f}  "
            f"p90 {summary['resumed_s']['p90']:.3f}  max {summary['resumed_s']['max']:.3f} s"
        )
        if args.out:
            with open(args.out, "w") as f:
                json.dump({"summary": summary, "rounds": rounds}, f, indent=2)
    finally:
        for c in clients:
            try:
                c.stop()
                c.close()
            except Exception:  # noqa: BLE001
                pass
        if args.keep_logs:
            print(f"logs kept under {ens.dir}")
        ens.close()


if __name__ == "__main__":
    main()
