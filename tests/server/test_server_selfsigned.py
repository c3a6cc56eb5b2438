"""``make run-server`` listens with TLS too, on a self-signed certificate
made once (``chat/server/selfsigned.py``, the openssl command); without
openssl, plaintext only and one line saying why."""

import os
import shutil
import signal
import socket
import ssl
import subprocess

import pytest

from chat.server import selfsigned
from support import ROOT, TIMEOUT
from tls_support import wait_for_line


def test_without_openssl_there_is_no_certificate_and_one_reason(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert selfsigned.main([str(tmp_path / "tls")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no openssl command" in err and "plaintext only" in err
    assert not (tmp_path / "tls" / "cert.pem").exists()


@pytest.mark.slow
def test_make_run_server_listens_with_tls_on_a_certificate_made_once(tmp_path):
    if shutil.which("openssl") is None or shutil.which("make") is None:
        pytest.skip("needs the openssl and make commands")
    tls_dir = str(tmp_path / "tls")
    proc = subprocess.Popen(["make", "-s", "run-server", "PORT=0", "TLS_PORT=0", "DB=",
                             "TLS_DIR=" + tls_dir], cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port = int(wait_for_line(proc, r"listening with TLS on [^:]+:(\d+)").group(1))
        cert = os.path.join(tls_dir, "cert.pem")
        assert os.stat(os.path.join(tls_dir, "key.pem")).st_mode & 0o077 == 0
        context = ssl.create_default_context(cafile=cert)   # what run-client TLS=1 trusts
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            with context.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
                tls.sendall(b'{"request": "help", "content": null}\n')
                assert b'"response": "info"' in tls.recv(65536)
        before = os.stat(cert).st_mtime_ns
        assert selfsigned.ensure(tls_dir) is None and os.stat(cert).st_mtime_ns == before
    finally:
        children = open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)).read().split()
        for child in children:   # make exec'd the server: its only child
            os.kill(int(child), signal.SIGTERM)
        proc.wait(TIMEOUT)
