"""Start and stop the server under test for the end-to-end suites.

One code path serves both servers, so that every test runs unchanged against either:

* ``CORRAL_E2E_SERVER=zookeeper``: the Debian build of Apache ZooKeeper 3.8.0, through
  ``scripts/zk-server.sh run PORT DIR`` (which execs the JVM, so the child process is the
  server itself and SIGKILL reaches it);
* ``CORRAL_E2E_SERVER=corral`` (the default): ``$CORRAL_BIN server --config DIR/zoo.cfg``,
  with ``CORRAL_BIN`` defaulting to ``$CARGO_TARGET_DIR/debug/corral`` or
  ``<workspace>/target/debug/corral``.

Both listen on a free port of 127.0.0.1 only. Readiness is a real ZooKeeper handshake
(ConnectRequest, ConnectResponse, closeSession), so it proves the client port serves
sessions, not just that it accepts TCP connections.
"""

import ctypes
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ZK_SCRIPT = os.path.join(ROOT, "scripts", "zk-server.sh")
START_TIMEOUT = float(os.environ.get("CORRAL_E2E_START_TIMEOUT", "60"))
STOP_TIMEOUT = 10.0


def server_kind():
    kind = os.environ.get("CORRAL_E2E_SERVER", "corral")
    if kind not in ("corral", "zookeeper"):
        raise ValueError(f"CORRAL_E2E_SERVER must be 'corral' or 'zookeeper', not {kind!r}")
    return kind


def corral_bin():
    explicit = os.environ.get("CORRAL_BIN")
    if explicit:
        return explicit
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    return os.path.join(target, "debug", "corral")


_HANDED_OUT = set()


def free_port():
    """A port that was free on 127.0.0.1 a moment ago (the kernel picks it), and that this
    process has not handed out before: the kernel may pick a just-closed port again, and
    an ensemble asks for several ports before any server binds them (two members on one
    port fail the config check)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def zoo_cfg(port, data_dir):
    """The zoo.cfg handed to Corral. zk-server.sh writes the same keys for ZooKeeper and
    passes the last two as JVM system properties, which is where ZooKeeper reads them."""
    return (
        "tickTime=2000\n"
        "initLimit=10\n"
        "syncLimit=5\n"
        f"dataDir={data_dir}\n"
        f"clientPort={port}\n"
        "clientPortAddress=127.0.0.1\n"
        "maxClientCnxns=0\n"
        "4lw.commands.whitelist=*\n"
        "zookeeper.extendedTypesEnabled=true\n"
        "znode.container.checkIntervalMs=1000\n"
        # Small enough that snapshots and purges happen during the suite (and during the
        # kill -9 durability test); ZooKeeper's run does not read these two.
        "snapCount=100\n"
        "autopurge.purgeInterval=1\n"
    )


def _die_with_parent():
    # PR_SET_PDEATHSIG(SIGKILL): if pytest itself dies, the server dies too. It survives
    # the exec in zk-server.sh, so it covers the JVM as well.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


def handshake(port, timeout=2.0):
    """Open a session with a raw ConnectRequest and close it again.

    Returns the negotiated session timeout (ms); raises OSError when the server is not
    serving yet."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        body = struct.pack("!iqiqi", 0, 0, 4000, 0, 16) + b"\0" * 16 + b"\0"
        s.sendall(struct.pack("!i", len(body)) + body)
        (length,) = struct.unpack("!i", _recv_exact(s, 4))
        reply = _recv_exact(s, length)
        _proto, negotiated, session_id = struct.unpack_from("!iiq", reply)
        if negotiated <= 0 or session_id == 0:
            raise OSError("server refused the session")
        # closeSession: RequestHeader{xid=1, type=-11}, no body. Its reply is awaited so the
        # session is gone before a test starts counting sessions or ephemerals.
        s.sendall(struct.pack("!iii", 8, 1, -11))
        (length,) = struct.unpack("!i", _recv_exact(s, 4))
        _recv_exact(s, length)
        return negotiated


def _recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed during handshake")
        buf += chunk
    return buf


def four_letter(port, cmd, timeout=5.0):
    """Send a four-letter word and return the whole answer as text."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(cmd.encode("ascii"))
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out.decode("utf-8", "replace")
            out += chunk


class E2EServer:
    """One server process under test, on 127.0.0.1:``port``, with its data in a temp dir
    that outlives restarts (so ``kill9()`` + ``start()`` recovers from the same disk)."""

    def __init__(self, kind=None):
        self.kind = kind or server_kind()
        self.dir = tempfile.mkdtemp(prefix=f"corral-e2e-{self.kind}-")
        self.data_dir = os.path.join(self.dir, "data")
        os.makedirs(self.data_dir)
        self.port = free_port()
        self.proc = None
        self._log = None
        self.log_path = os.path.join(self.dir, "server.log")

    @property
    def hosts(self):
        return f"127.0.0.1:{self.port}"

    def _command(self):
        if self.kind == "zookeeper":
            return [ZK_SCRIPT, "run", str(self.port), self.dir]
        binary = corral_bin()
        if not os.access(binary, os.X_OK):
            raise RuntimeError(
                f"corral binary not found at {binary}: build it (cargo build -p corral-net) "
                "or set CORRAL_BIN, or run with CORRAL_E2E_SERVER=zookeeper"
            )
        cfg = os.path.join(self.dir, "zoo.cfg")
        with open(cfg, "w") as f:
            f.write(zoo_cfg(self.port, self.data_dir))
        return [binary, "server", "--config", cfg]

    def start(self, timeout=START_TIMEOUT):
        assert self.proc is None, "server already running"
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self._command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self._reap()
                raise RuntimeError(f"{self.kind} exited with {code} during startup\n{self.log_tail()}")
            try:
                handshake(self.port)
                return self
            except OSError as e:
                last = e
                time.sleep(0.1)
        self.kill9()
        raise RuntimeError(
            f"{self.kind} did not serve 127.0.0.1:{self.port} within {timeout}s ({last})\n{self.log_tail()}"
        )

    def stop(self):
        """Graceful stop (SIGTERM), escalating to SIGKILL after a bound."""
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

    def kill9(self):
        """SIGKILL: no shutdown hooks, no flush; only what was fsynced survives."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT)
        self._reap()

    def _reap(self):
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self):
        self.stop()
        return self.start()

    def close(self):
        """Stop and remove the temp dir (kept when CORRAL_E2E_KEEP is set, for debugging)."""
        self.stop()
        if not os.environ.get("CORRAL_E2E_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def four_letter(self, cmd):
        return four_letter(self.port, cmd)

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return "(no server log)"
        return "--- server log (tail) ---\n" + "\n".join(text.splitlines()[-lines:])
