"""Real certificates for the TLS tests, made with the ``openssl`` command,
and a blocking TLS test client (Python's ``ssl`` socket: an implementation
independent of ``reactor.tls``).

``make_certs(directory)`` makes a private CA and, signed by it, a server
certificate for ``localhost`` and 127.0.0.1, an expired one, and one for
the wrong host. The ``certs`` fixture makes them once per session.
"""

import os
import re
import select
import shutil
import socket
import ssl
import subprocess
import threading
import time
import types

import pytest

from support import TIMEOUT, Client

SERVER_NAMES = "subjectAltName=DNS:localhost,IP:127.0.0.1"


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)


def _issue(directory, name, names, days):
    """A key and a certificate signed by the CA in ``directory``."""
    ext = os.path.join(directory, name + ".ext")
    with open(ext, "w") as f:
        f.write(names + "\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key",
             "-out", name + ".csr", "-subj", "/CN=" + name, cwd=directory)
    _openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", name + ".pem", "-days", str(days), "-extfile", ext,
             cwd=directory)
    return os.path.join(directory, name + ".pem"), os.path.join(directory, name + ".key")


def make_certs(directory):
    """CA, server, expired and wrong-host certificates in ``directory``."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
             "-out", "ca.pem", "-days", "30", "-subj", "/CN=KTN test CA", cwd=directory)
    certs = types.SimpleNamespace(directory=directory, ca=os.path.join(directory, "ca.pem"))
    certs.cert, certs.key = _issue(directory, "server", SERVER_NAMES, 30)
    certs.expired_cert, certs.expired_key = _issue(directory, "expired", SERVER_NAMES, -1)
    certs.wrong_cert, certs.wrong_key = _issue(
        directory, "wronghost", "subjectAltName=DNS:elsewhere.example", 30)
    return certs


_session = {}


def session_certs(tmp_path_factory):
    """The session's certificates, made on first use (skips without openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    if "certs" not in _session:
        _session["certs"] = make_certs(str(tmp_path_factory.mktemp("tls")))
    return _session["certs"]


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    return session_certs(tmp_path_factory)


def client_context(certs):
    return ssl.create_default_context(cafile=certs.ca)


class TLSClient(Client):
    """The line-reading test client over Python's blocking ``ssl`` socket."""

    def __init__(self, port, certs, host="127.0.0.1", newline=True):
        super().__init__(port, host=host, newline=newline)
        self.sock = client_context(certs).wrap_socket(self.sock, server_hostname="localhost")


def tls_args(certs, *more):
    return ("--tls-port", "0", "--tls-cert", certs.cert, "--tls-key", certs.key, *more)


def tls_port(server):
    """The TLS port a ``ServerProcess`` logged."""
    line = server.wait_for_log(r"listening with TLS on [^:]+:(\d+)")
    return int(re.search(r"listening with TLS on [^:]+:(\d+)", line).group(1))


def wait_for_line(proc, pattern, timeout=30.0):
    """Read ``proc``'s stderr until a line matches ``pattern``; return the
    match (AssertionError with the log if none within ``timeout``)."""
    log = b""
    deadline = time.monotonic() + timeout
    while True:
        match = re.search(pattern.encode(), log)
        if match and log.endswith(b"\n"):
            return match
        remaining = deadline - time.monotonic()
        assert remaining > 0, log.decode(errors="replace")
        ready, _, _ = select.select([proc.stderr], [], [], remaining)
        if ready:
            data = os.read(proc.stderr.fileno(), 65536)
            assert data, log.decode(errors="replace")
            log += data


def raw_connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)


class TLSProxy:
    """A TLS-terminating proxy in front of a plain TCP server (the Redis of
    the tests, whose build lacks TLS): it accepts TLS on ``port`` with the
    given certificate and relays bytes both ways to ``target_port``. Test
    threads: one accepting, one per connection, each watching ``closed``
    (every ``TICK`` seconds at most) and closing its own sockets; ``close``
    ends them all."""

    TICK = 0.1

    def __init__(self, certfile, keyfile, target_port):
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(certfile, keyfile)
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = False
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self):
        with self.listener:
            while not self.closed:
                if not select.select([self.listener], [], [], self.TICK)[0]:
                    continue
                try:
                    client, _ = self.listener.accept()
                except OSError:
                    continue
                thread = threading.Thread(target=self._relay, args=(client,), daemon=True)
                self.threads.append(thread)
                thread.start()

    def _relay(self, client):
        try:
            client.settimeout(TIMEOUT)
            tls = self.context.wrap_socket(client, server_side=True)
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=TIMEOUT)
        except OSError:
            client.close()
            return
        for sock in (tls, upstream):   # no Nagle delays: relay each write as it comes
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with tls, upstream:
            self._pump(tls, upstream)

    def _pump(self, tls, upstream):
        """Relay until either side closes or the proxy does."""
        tls.setblocking(False)
        upstream.setblocking(False)
        pairs = {tls: upstream, upstream: tls}
        while not self.closed:
            ready = [tls] if tls.pending() else select.select(list(pairs), [], [], self.TICK)[0]
            for sock in ready:
                try:
                    data = sock.recv(65536)
                except (ssl.SSLWantReadError, BlockingIOError):
                    continue
                except OSError:
                    return
                if not data:
                    return
                try:
                    pairs[sock].setblocking(True)
                    pairs[sock].sendall(data)
                    pairs[sock].setblocking(False)
                except OSError:
                    return

    def url(self, db=0, password=None):
        return "rediss://%s127.0.0.1:%d/%d" % (":%s@" % password if password else "",
                                               self.port, db)

    def close(self):
        self.closed = True
        for thread in list(self.threads):
            thread.join(TIMEOUT)
