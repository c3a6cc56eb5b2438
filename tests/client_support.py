"""The line client as processes for tests (``peers.client_process``), and
the servers they talk to: our server (flood control off) shared by a
module's tests, which use distinct usernames, or one for a test alone.
"""

import pytest

from peers.client_process import ClientProcess
from support import ServerProcess, started


def _server():
    srv = ServerProcess("--rate", "0")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def server():
    """Our server, shared by the module's tests."""
    yield from _server()


@pytest.fixture
def own_server():
    """Our server, for this test alone."""
    yield from _server()


@pytest.fixture
def clients():
    """``clients(port, *args, **kw)`` starts a client process; all are
    killed after the test."""
    yield from started(ClientProcess)
