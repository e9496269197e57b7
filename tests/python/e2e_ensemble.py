"""Start and stop an ensemble (3 or 5 servers) for the end-to-end suites.

Like ``e2e_server.py``, one code path serves both kinds, chosen by ``CORRAL_E2E_SERVER``:

* ``corral`` (default): ``$CORRAL_BIN server --config sN/zoo.cfg`` per member;
* ``zookeeper``: the Debian build of Apache ZooKeeper 3.8.0 in quorum mode, through
  ``scripts/zk-server.sh run-config sN`` (which execs the JVM with that zoo.cfg).

Every member gets a zoo.cfg with the same ``server.N=127.0.0.1:quorumPort:electionPort``
lines and a ``myid`` in its dataDir, on free loopback ports. Readiness: every running
member answers ``srvr`` with ``Mode: leader`` or ``Mode: follower`` and exactly one is the
leader.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time

from e2e_server import (
    ROOT,
    START_TIMEOUT,
    STOP_TIMEOUT,
    _die_with_parent,
    corral_bin,
    four_letter,
    free_port,
    handshake,
    server_kind,
)

ZK_SCRIPT = os.path.join(ROOT, "scripts", "zk-server.sh")
# Short ticks so that elections and syncLimit timeouts fit the suite's time budget; the
# same numbers go to ZooKeeper.
TICK_MS = 500


def mode(port):
    """``leader``, ``follower``, ``standalone``, or None when not serving."""
    try:
        text = four_letter(port, "srvr", timeout=2.0)
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Mode: "):
            return line[len("Mode: "):].strip()
    return None


class Member:
    def __init__(self, ensemble, sid):
        self.ensemble = ensemble
        self.sid = sid
        self.dir = os.path.join(ensemble.dir, f"s{sid}")
        self.data_dir = os.path.join(self.dir, "data")
        os.makedirs(self.data_dir)
        with open(os.path.join(self.data_dir, "myid"), "w") as f:
            f.write(f"{sid}\n")
        self.port = free_port()
        self.quorum_port = free_port()
        self.election_port = free_port()
        self.proc = None
        self._log = None
        self.log_path = os.path.join(self.dir, "server.log")

    @property
    def hosts(self):
        return f"127.0.0.1:{self.port}"

    def write_cfg(self):
        lines = [
            f"tickTime={TICK_MS}",
            "initLimit=10",
            "syncLimit=5",
            f"dataDir={self.data_dir}",
            f"clientPort={self.port}",
            "clientPortAddress=127.0.0.1",
            "maxClientCnxns=0",
            "4lw.commands.whitelist=*",
            "admin.enableServer=false",
            "snapCount=200",
            "autopurge.purgeInterval=1",
        ]
        for m in self.ensemble.members:
            lines.append(f"server.{m.sid}=127.0.0.1:{m.quorum_port}:{m.election_port}")
        with open(os.path.join(self.dir, "zoo.cfg"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def _command(self):
        if self.ensemble.kind == "zookeeper":
            return [ZK_SCRIPT, "run-config", self.dir]
        return [corral_bin(), "server", "--config", os.path.join(self.dir, "zoo.cfg")]

    def start(self):
        assert self.proc is None, f"server {self.sid} already running"
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self._command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
            preexec_fn=_die_with_parent,
        )

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def mode(self):
        return mode(self.port) if self.running() else None

    def kill9(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT)
        self._reap()

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
        self._reap()

    def _reap(self):
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return "(no log)"
        return f"--- server {self.sid} log (tail) ---\n" + "\n".join(text.splitlines()[-lines:])


class E2EEnsemble:
    """``size`` members on 127.0.0.1, their data in one temp dir that outlives restarts."""

    def __init__(self, size=3, kind=None):
        self.kind = kind or server_kind()
        self.dir = tempfile.mkdtemp(prefix=f"corral-ensemble-{self.kind}-")
        self.members = []
        for sid in range(1, size + 1):
            self.members.append(Member(self, sid))
        for m in self.members:
            m.write_cfg()

    @property
    def hosts(self):
        return ",".join(m.hosts for m in self.members)

    def member(self, sid):
        return self.members[sid - 1]

    def start(self, timeout=START_TIMEOUT):
        if self.kind == "corral" and not os.access(corral_bin(), os.X_OK):
            raise RuntimeError(f"corral binary not found at {corral_bin()}")
        for m in self.members:
            m.start()
        self.wait_ready(timeout)
        return self

    def leader(self):
        leaders = [m for m in self.members if m.mode() == "leader"]
        return leaders[0] if len(leaders) == 1 else None

    def ready(self):
        """Every running member serves, exactly one leads, and each accepts a session."""
        running = [m for m in self.members if m.running()]
        modes = [m.mode() for m in running]
        if any(x not in ("leader", "follower") for x in modes) or modes.count("leader") != 1:
            return False
        try:
            for m in running:
                handshake(m.port)
        except OSError:
            return False
        return True

    def wait_ready(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.members:
                if m.proc is not None and m.proc.poll() is not None:
                    code = m.proc.returncode
                    m._reap()
                    raise RuntimeError(f"server {m.sid} exited with {code}\n{m.log_tail()}")
            if self.ready():
                return
            time.sleep(0.1)
        raise RuntimeError(
            "ensemble not ready within "
            f"{timeout}s: modes {[m.mode() for m in self.members]}\n"
            + "\n".join(m.log_tail() for m in self.members)
        )

    def close(self):
        for m in self.members:
            m.stop()
        if not os.environ.get("CORRAL_E2E_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
