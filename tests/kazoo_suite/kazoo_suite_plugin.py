"""pytest plugin that runs kazoo's own test suite against Corral or ZooKeeper.

Loaded with ``-p kazoo_suite_plugin`` (this directory on PYTHONPATH) by
scripts/kazoo-suite.sh. Environment:

- ``KAZOO_SUITE_TARGET``: ``corral`` or ``zookeeper``.
- ``CORRAL_BIN``: the ``corral`` binary (target ``corral`` only).
- ``KAZOO_SUITE_RESULTS``: file to write ``nodeid outcome`` lines to.
- ``KAZOO_SUITE_SERVER_LOG``: file that collects each Corral server's log.
- ``KAZOO_SUITE_EXCLUDE``: exclusion list (``nodeid  # reason`` lines); the
  listed tests are deselected and recorded as ``deselected``.

For ZooKeeper, kazoo's own ``ZookeeperCluster``/``ManagedZooKeeper`` are used
unchanged except that every listener is bound to 127.0.0.1 (kazoo's harness
would listen on all interfaces). For Corral, ``kazoo.testing.harness`` gets a
``CorralCluster`` with the same interface, whose servers run ``corral server``
with a zoo.cfg carrying the same settings kazoo gives ZooKeeper (tickTime,
maxClientCnxns, 4lw whitelist, and the superDigest that kazoo passes to the
JVM as a system property).
"""

import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from kazoo.testing import common, harness

log = logging.getLogger(__name__)

TARGET = os.environ.get("KAZOO_SUITE_TARGET", "zookeeper")
SUPER_DIGEST_PROP = "-Dzookeeper.DigestAuthenticationProvider.superDigest="
LOOPBACK = "127.0.0.1"
# ZooKeeper listens on every interface unless told otherwise; keep it on loopback.
LOOPBACK_ENTRIES = [
    "clientPortAddress=%s" % LOOPBACK,
    "secureClientPortAddress=%s" % LOOPBACK,
    "admin.serverAddress=%s" % LOOPBACK,
]


def _wait_listening(port, deadline_s, proc):
    """Wait until something accepts on 127.0.0.1:port, or the process exits."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class CorralServer(object):
    """One `corral server` process, shaped like kazoo's ManagedZooKeeper."""

    def __init__(self, binary, server_info, configuration_entries=(),
                 java_system_properties=()):
        self.binary = binary
        self.server_info = server_info
        self.host = LOOPBACK
        self.working_path = tempfile.mkdtemp(prefix="kazoo-corral-")
        self.configuration_entries = list(configuration_entries)
        self.super_digest = None
        for prop in java_system_properties:
            if prop.startswith(SUPER_DIGEST_PROP):
                self.super_digest = prop[len(SUPER_DIGEST_PROP):]
        self.process = None
        self._running = False

    @property
    def data_path(self):
        return os.path.join(self.working_path, "data")

    @property
    def log_path(self):
        return os.path.join(self.working_path, "corral.log")

    def _write_config(self):
        lines = [
            "tickTime=2000",
            "dataDir=%s" % self.data_path,
            "clientPort=%d" % self.server_info.client_port,
            "clientPortAddress=%s" % LOOPBACK,
            "maxClientCnxns=0",
        ]
        # kazoo's entries for 3.5+: 4lw whitelist, reconfigEnabled, local
        # sessions (Corral ignores the keys it does not know, with a warning).
        lines += self.configuration_entries
        if self.super_digest:
            lines.append(
                "zookeeper.DigestAuthenticationProvider.superDigest=%s"
                % self.super_digest
            )
        path = os.path.join(self.working_path, "zoo.cfg")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def run(self):
        if self.running:
            return
        os.makedirs(self.data_path, exist_ok=True)
        config = self._write_config()
        logf = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(
                [self.binary, "server", "--config", config],
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            logf.close()
        self._running = True
        if not _wait_listening(self.client_port, 20, self.process):
            log.error("corral did not start listening on %s", self.address)
        log.info("started corral %s on %s", self.process.pid, self.address)

    @property
    def address(self):
        return "%s:%s" % (self.host, self.client_port)

    @property
    def secure_address(self):
        # Corral has no TLS listener; nothing answers here.
        return "%s:%s" % (self.host, self.secure_client_port)

    @property
    def running(self):
        return self._running

    @property
    def client_port(self):
        return self.server_info.client_port

    @property
    def secure_client_port(self):
        return self.server_info.secure_client_port

    def reset(self):
        """Stop the server and wipe its data."""
        self.stop()
        shutil.rmtree(self.data_path, True)
        os.mkdir(self.data_path)

    def stop(self):
        """Stop the server, keeping its data."""
        if not self.running:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            log.warning("corral %s ignored SIGTERM; killing", self.process.pid)
            self.process.kill()
            self.process.wait()
        if self.process.returncode != 0:
            log.warning(
                "corral %s exited with code %s",
                self.process.pid,
                self.process.returncode,
            )
        self._running = False

    def destroy(self):
        """Stop the server and remove its working directory.

        Its log is first appended to $KAZOO_SUITE_SERVER_LOG, when set.
        """
        self.stop()
        keep = os.environ.get("KAZOO_SUITE_SERVER_LOG")
        if keep and os.path.exists(self.log_path):
            with open(keep, "ab") as out, open(self.log_path, "rb") as f:
                out.write(("=== %s\n" % self.working_path).encode())
                shutil.copyfileobj(f, out)
        shutil.rmtree(self.working_path, True)

    def get_logs(self, num_lines=100):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.readlines()[-num_lines:]
        except OSError:
            return []


class CorralCluster(common.ZookeeperCluster):
    """kazoo's ZookeeperCluster, with CorralServer in place of ManagedZooKeeper.

    The parent constructor is kept so that ports, ServerInfo and the SSL
    material (used by TestSSLClient's setUp) are exactly kazoo's.
    """

    def __init__(self, install_path=None, classpath=None, size=3,
                 port_offset=20000, observer_start_id=-1,
                 configuration_entries=(), java_system_properties=(),
                 jaas_config=None):
        if size != 1:
            raise RuntimeError(
                "Corral runs standalone only: set ZOOKEEPER_CLUSTER_SIZE=1"
            )
        super(CorralCluster, self).__init__(
            install_path=install_path,
            classpath=classpath,
            size=size,
            port_offset=port_offset,
            observer_start_id=observer_start_id,
            configuration_entries=configuration_entries,
            java_system_properties=java_system_properties,
            jaas_config=jaas_config,
        )
        binary = os.environ["CORRAL_BIN"]
        managed = self._servers
        self._servers = [
            CorralServer(
                binary,
                zk.server_info,
                configuration_entries=configuration_entries,
                java_system_properties=java_system_properties,
            )
            for zk in managed
        ]
        for zk in managed:  # never started: just drop their temp dirs
            shutil.rmtree(zk.working_path, True)

    def start(self):
        # CorralServer.run waits for the listener, so no fixed 2 s sleep.
        for server in reversed(list(self)):
            server.run()


class LoopbackZookeeperCluster(common.ZookeeperCluster):
    """kazoo's own ZookeeperCluster, with its listeners bound to loopback."""

    def __init__(self, *args, **kwargs):
        entries = list(kwargs.pop("configuration_entries", ()))
        kwargs["configuration_entries"] = entries + LOOPBACK_ENTRIES
        super(LoopbackZookeeperCluster, self).__init__(*args, **kwargs)


if TARGET == "corral":
    harness.ZookeeperCluster = CorralCluster
elif TARGET == "zookeeper":
    harness.ZookeeperCluster = LoopbackZookeeperCluster
else:
    raise RuntimeError("KAZOO_SUITE_TARGET must be corral or zookeeper")


# --- exclusions -----------------------------------------------------------


def load_exclusions(path):
    """Map nodeid -> reason from a ``nodeid  # reason`` file."""
    out = {}
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            nodeid, _, reason = line.partition("#")
            nodeid = nodeid.strip()
            reason = reason.strip()
            if not reason:
                raise RuntimeError("exclusion without a reason: %r" % line)
            out[nodeid] = reason
    return out


_EXCLUDED = {}
_OUTCOMES = {}


def pytest_configure(config):
    # A server already on kazoo's port would silently be tested instead of ours.
    port = int(os.environ.get("ZOOKEEPER_PORT_OFFSET", 20000))
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1):
            raise pytest.UsageError(
                "something already listens on %s:%d; set ZOOKEEPER_PORT_OFFSET"
                % (LOOPBACK, port)
            )
    except OSError:
        pass
    path = os.environ.get("KAZOO_SUITE_EXCLUDE")
    if path:
        _EXCLUDED.update(load_exclusions(path))


def pytest_collection_modifyitems(session, config, items):
    if not _EXCLUDED:
        return
    keep, drop = [], []
    for item in items:
        (drop if item.nodeid in _EXCLUDED else keep).append(item)
    unknown = set(_EXCLUDED) - {i.nodeid for i in items}
    if unknown:
        raise pytest.UsageError(
            "exclusion list names tests that do not exist: %s"
            % ", ".join(sorted(unknown))
        )
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
        for item in drop:
            _OUTCOMES[item.nodeid] = "deselected"


# --- results --------------------------------------------------------------


def pytest_runtest_logreport(report):
    """One outcome per test: error (setup/teardown), failed, skipped, passed."""
    prev = _OUTCOMES.get(report.nodeid)
    if report.when == "call":
        outcome = report.outcome
    elif report.failed:
        outcome = "error"
    elif report.skipped:
        outcome = "skipped"
    else:
        outcome = prev or "passed"
    if prev in ("error", "failed"):
        return
    if prev == "skipped" and outcome == "passed":
        return
    _OUTCOMES[report.nodeid] = outcome


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("KAZOO_SUITE_RESULTS")
    if not path:
        return
    with open(path, "w") as f:
        for nodeid in sorted(_OUTCOMES):
            f.write("%s %s\n" % (nodeid, _OUTCOMES[nodeid]))
