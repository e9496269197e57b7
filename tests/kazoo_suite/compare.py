#!/usr/bin/env python3
"""Compare kazoo test-suite outcomes: ZooKeeper baseline vs Corral.

    compare.py ZOOKEEPER_RESULTS CORRAL_RESULTS

Each file holds `nodeid outcome` lines (outcome: passed, failed, error, skipped,
deselected), as written by kazoo_suite_plugin. Exits 1, listing them, when a test that
passed against ZooKeeper did not pass against Corral (or did not run at all); exits 0
otherwise. Tests that pass on Corral but not on ZooKeeper are reported, not failed.
"""

import collections
import sys


def load(path):
    outcomes = {}
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            nodeid, sep, outcome = line.rpartition(" ")
            if not sep or not nodeid:
                sys.exit("%s:%d: expected 'nodeid outcome', got %r" % (path, n, line))
            outcomes[nodeid] = outcome
    return outcomes


def summary(outcomes):
    counts = collections.Counter(outcomes.values())
    return ", ".join("%d %s" % (counts[k], k) for k in sorted(counts))


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    zk, corral = load(argv[1]), load(argv[2])
    print("ZooKeeper 3.8.0: %s" % summary(zk))
    print("Corral:          %s" % summary(corral))

    regressions = sorted(
        t for t, o in zk.items() if o == "passed" and corral.get(t) != "passed"
    )
    gains = sorted(
        t for t, o in corral.items() if o == "passed" and zk.get(t) != "passed"
    )
    if gains:
        print("\npass on Corral but not on ZooKeeper (%d):" % len(gains))
        for t in gains:
            print("  %s (ZooKeeper: %s)" % (t, zk.get(t, "absent")))
    if regressions:
        print("\npass on ZooKeeper but not on Corral (%d):" % len(regressions))
        for t in regressions:
            print("  %s (Corral: %s)" % (t, corral.get(t, "absent")))
        return 1
    print("\nevery test that passes on ZooKeeper passes on Corral")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
