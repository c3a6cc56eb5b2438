"""The line client with --tls / --tls-ca against our server's TLS port,
with real certificates (``tls_support``): it talks, and it refuses an
expired certificate, one for another host, and an unknown issuer, saying
which, with exit status 1 and no fallback to plaintext."""

import pytest

from client_support import clients  # noqa: F401 (fixture)
from support import ServerProcess
from tls_support import certs, tls_args, tls_port  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow   # client and server processes


def _tls_server(certs, cert=None, key=None):
    return ServerProcess("--rate", "0", "--tls-port", "0", "--tls-cert", cert or certs.cert,
                         "--tls-key", key or certs.key)


def test_the_client_talks_over_tls(certs, clients):
    server = ServerProcess("--rate", "0", *tls_args(certs))
    try:
        client = clients(tls_port(server), "--tls-ca", certs.ca, "--host", "localhost")
        client.send("login tlsuser", "hello over tls", "logout")
        client.expect(r"tlsuser: hello over tls")
        assert client.wait() == 0
    finally:
        server.stop()


@pytest.mark.parametrize("which, says", [("expired", "certificate has expired"),
                                         ("wrong", "wrong host"),
                                         ("unknown", "unknown issuer")])
def test_the_client_refuses_a_bad_certificate_and_says_why(certs, clients, which, says):
    if which == "expired":
        server = _tls_server(certs, certs.expired_cert, certs.expired_key)
    elif which == "wrong":
        server = _tls_server(certs, certs.wrong_cert, certs.wrong_key)
    else:
        server = _tls_server(certs)
    try:
        # "unknown": --tls alone trusts the system's store, which lacks our test CA
        args = ("--tls",) if which == "unknown" else ("--tls-ca", certs.ca)
        client = clients(tls_port(server), *args)
        client.send("login mallory")
        assert client.wait() == 1
        assert says in client.text["err"], client.text["err"]
        assert "connected" not in client.text["err"] and client.text["out"] == ""
    finally:
        server.stop()


def test_a_bad_ca_file_is_an_error(clients, tmp_path):
    client = clients(1, "--tls-ca", str(tmp_path / "absent.pem"))
    assert client.wait() == 1
    assert "absent.pem" in client.text["err"]
