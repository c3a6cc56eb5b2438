"""``python3 -m chat.check server --tls``: the same checks over TLS, against
our server's TLS port with real certificates (``tls_support``)."""

import pytest

from check_support import CheckRun, statuses
from support import ServerProcess
from tls_support import certs, tls_args, tls_port  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow   # the checker and a server as processes


def test_our_server_passes_every_check_over_tls(certs):
    server = ServerProcess(*tls_args(certs))
    try:
        port = tls_port(server)
        good = CheckRun(["server", "127.0.0.1:%d" % port, "--tls-ca", certs.ca, "--json"], 60)
        untrusted = CheckRun(["server", "127.0.0.1:%d" % port, "--tls", "--json"], 60)
        status, report, err, _ = good.result()
        assert status == 0, (report, err)
        assert set(statuses(report).values()) <= {"pass", "info"}, statuses(report)
        status, report, _, _ = untrusted.result()
        assert status == 2, report
        assert "certificate verify failed" in str(report), report
    finally:
        server.stop()
