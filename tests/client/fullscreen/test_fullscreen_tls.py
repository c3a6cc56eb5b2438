"""The full-screen client's status line shows a padlock over TLS, and
says "no TLS" otherwise."""

import pytest

from support import ServerProcess, started
from terminal_support import Terminal
from tls_support import certs, tls_args, tls_port  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow   # client and server processes in a pty


@pytest.fixture
def terminals():
    yield from started(Terminal)


def test_the_status_line_shows_a_padlock_only_over_tls(certs, terminals):
    server = ServerProcess(*tls_args(certs))
    try:
        secure = terminals(tls_port(server), "--tls-ca", certs.ca, columns=80)
        secure.wait_for(lambda t: "\U0001F512 connected" in t.status_row)
        plain = terminals(server.port, columns=80)
        plain.wait_for(lambda t: "connected (no TLS)" in t.status_row)
        assert "\U0001F512" not in plain.status_row
    finally:
        server.stop()
