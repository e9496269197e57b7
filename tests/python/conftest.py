"""Fixtures shared by the kazoo end-to-end tests.

The server is chosen by CORRAL_E2E_SERVER (corral by default, or zookeeper); see
e2e_server.py. One server serves the whole session (each test works under its own unique
base path); tests that restart or kill the server get a private one (``fresh_server``).
"""

import os
import re
import sys
import uuid

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

sys.path.insert(0, os.path.dirname(__file__))
from e2e_server import E2EServer  # noqa: E402
from zkhelpers import SESSION_TIMEOUT, EventLog  # noqa: E402


def pytest_report_header(config):
    return f"e2e server: {os.environ.get('CORRAL_E2E_SERVER', 'corral')}"


@pytest.fixture(scope="session")
def server():
    srv = E2EServer()
    try:
        srv.start()
        yield srv
    finally:
        srv.close()


@pytest.fixture
def fresh_server():
    """A private server for tests that stop, kill or restart it."""
    srv = E2EServer()
    try:
        srv.start()
        yield srv
    finally:
        srv.close()


class ClientFactory:
    """Makes started KazooClients and stops every one of them at teardown."""

    def __init__(self, hosts):
        self.hosts = hosts
        self.clients = []

    def __call__(self, hosts=None, timeout=SESSION_TIMEOUT, start=True, **kwargs):
        client = KazooClient(hosts=hosts or self.hosts, timeout=timeout, **kwargs)
        self.clients.append(client)
        if start:
            client.start(timeout=15)
        return client

    def close_all(self):
        for client in self.clients:
            try:
                client.stop()
                client.close()
            except Exception:
                pass


@pytest.fixture
def make_client(server):
    factory = ClientFactory(server.hosts)
    yield factory
    factory.close_all()


@pytest.fixture
def zk(make_client):
    return make_client()


@pytest.fixture
def base(request, zk):
    """A unique, empty, persistent node for this test; removed afterwards."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", request.node.name)[:40]
    path = f"/e2e-{name}-{uuid.uuid4().hex[:8]}"
    zk.create(path)
    yield path
    try:
        if zk.connected:
            zk.delete(path, recursive=True)
    except NoNodeError:
        pass
    except Exception:
        # Cleanup may meet ACLs the test set; the server is discarded at session end anyway.
        pass


@pytest.fixture
def events():
    return EventLog()
