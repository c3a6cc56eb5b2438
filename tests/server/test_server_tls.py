"""The server's TLS listener (--tls-port), with real certificates and
Python's blocking ``ssl`` socket as the client (an implementation
independent of ``reactor.tls``): the chat over TLS, bad peers on the TLS
port, certificate errors at start-up, SIGHUP reload, and PROTOCOL.md
section 4's "passwords only over TLS"."""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys

import pytest

from support import ROOT, TIMEOUT, ServerProcess, assert_error, make_server, uniq  # noqa: F401
from tls_support import (TLSClient, certs, raw_connect, tls_args, tls_port,  # noqa: F401
                         wait_for_line)

pytestmark = pytest.mark.slow

SECRET = "correct-horse-battery"


def test_login_msg_history_names_over_tls(make_server, certs):
    server = make_server(*tls_args(certs))
    port = tls_port(server)
    alice, bob = TLSClient(port, certs), TLSClient(port, certs)
    assert alice.login(uniq("alice"))["content"] == []
    alice.send("msg", "over tls")
    assert alice.expect("message")["content"] == "over tls"
    plain = server.connect()   # the plain port still works, and sees the same rooms
    assert [p["content"] for p in plain.login(uniq("carol"))["content"]] == ["over tls"]
    history = bob.login(uniq("bob"))["content"]
    assert [p["content"] for p in history] == ["over tls"]
    names = bob.request("names")
    assert names["response"] == "info" and "Users online (3)" in names["content"], names
    for client in (alice, bob, plain):
        client.close()


def test_a_100_kb_history_arrives_whole_over_tls(make_server, certs):
    server = make_server(*tls_args(certs, "--rate", "0"))
    writer = TLSClient(tls_port(server), certs)
    writer.login(uniq("writer"))
    texts = ["%04d %s" % (i, "x" * 1000) for i in range(100)]
    for text in texts:
        writer.send("msg", text)
    for _ in texts:
        writer.expect("message")
    reader = TLSClient(tls_port(server), certs)
    history = reader.login(uniq("reader"))["content"]
    assert [p["content"] for p in history] == texts
    writer.close()
    reader.close()


def test_limits_hold_on_tls_as_on_plaintext(make_server, certs):
    server = make_server(*tls_args(certs, "--max-request-size", "2000"))
    for client in (server.connect(), TLSClient(tls_port(server), certs)):
        client.login(uniq("big"))
        client.send("msg", "y" * 5000)
        assert_error(client.reply(), "too (long|large)|exceeds|bytes")
        client.close()


def test_a_tls_client_that_never_reads_is_a_slow_consumer(make_server, certs):
    """The output caps count what waits to be encrypted and sent: a TLS
    client that stops reading is paused, then dropped, as on plaintext."""
    server = make_server(*tls_args(certs, "--rate", "0", "--history-limit", "10",
                                   "--max-message-bytes", "2048", "--max-output", "300000",
                                   "--pause-output", "65536", "--send-buffer", "16384"))
    sleeper = TLSClient(tls_port(server), certs)
    sleeper.login(uniq("sleeper"))
    sleeper.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    talker = server.connect()
    talker.login(uniq("talker"))
    for _ in range(1500):                                  # 3 MB for the sleeper
        assert talker.request("msg", "z" * 2000)["response"] == "message"
    server.wait_for_log(r"disconnected: slow consumer")
    assert talker.request("names")["response"] == "info"   # everyone else unharmed
    sleeper.close()
    talker.close()


def test_bad_peers_on_the_tls_port_cost_one_connection(make_server, certs):
    server = make_server(*tls_args(certs, "--tls-handshake-timeout", "0.3", "--log-level",
                                   "debug"))
    port = tls_port(server)
    stalled = raw_connect(port)                        # says nothing
    assert stalled.recv(100) == b""                    # closed at the deadline
    server.wait_for_log(r"TLS handshake .* failed: .*within 0.3 seconds")
    plain_json = raw_connect(port)                     # JSON where TLS was expected
    plain_json.sendall(b'{"request": "login", "content": "alice"}\n')
    plain_json.settimeout(TIMEOUT)
    try:
        while plain_json.recv(4096):                   # an alert at most, then the end
            pass
    except ConnectionResetError:
        pass
    rude = TLSClient(port, certs)                      # leaves without close_notify
    rude.login(uniq("rude"))
    socket.socket(fileno=rude.sock.detach()).close()
    good = TLSClient(port, certs)
    good.login(uniq("good"))
    assert good.request("names")["response"] == "info"
    for sock in (stalled, plain_json):
        sock.close()
    good.close()


@pytest.mark.parametrize("which", ["cert", "key"])
def test_a_missing_or_bad_certificate_stops_start_up_naming_the_file(certs, tmp_path, which):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    for bad, says in ((str(tmp_path / "absent.pem"), "No such file"), (str(junk), "PEM")):
        files = {"cert": certs.cert, "key": certs.key, which: bad}
        proc = subprocess.run(
            [sys.executable, "-m", "chat.server", "--port", "0", "--tls-port", "0",
             "--tls-cert", files["cert"], "--tls-key", files["key"]],
            cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2, proc.stderr
        assert bad in proc.stderr and says in proc.stderr, proc.stderr


def test_sighup_reloads_the_certificate_and_keeps_everyone(make_server, certs, tmp_path):
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    shutil.copy(certs.cert, cert)
    shutil.copy(certs.key, key)
    server = make_server("--tls-port", "0", "--tls-cert", cert, "--tls-key", key)
    port = tls_port(server)
    kept = TLSClient(port, certs)
    kept.login(uniq("kept"))
    shutil.copy(certs.wrong_cert, cert)                # the renewed certificate
    shutil.copy(certs.wrong_key, key)
    server.proc.send_signal(signal.SIGHUP)
    server.wait_for_log("TLS certificate reloaded")
    with pytest.raises(ssl.SSLCertVerificationError):  # new connections get the new one
        TLSClient(port, certs)
    assert kept.request("names")["response"] == "info"  # nobody dropped
    with open(cert, "w") as f:                         # a broken renewal: the old one stays
        f.write("garbage")
    server.proc.send_signal(signal.SIGHUP)
    server.wait_for_log("not reloaded, keeping the old one")
    assert kept.request("names")["response"] == "info"
    kept.close()


def test_passwords_only_over_tls(make_server, certs):
    server = make_server(*tls_args(certs))
    port = tls_port(server)
    text = r"^passwords only over TLS: connect to port %d with TLS$" % port
    plain = server.connect()
    name = uniq("plain")
    plain.login(name)                                  # a login without password is fine
    for request, content in (("register", SECRET), ("password", SECRET + " new-password-1"),
                             ("oper", SECRET), ("REGISTER", SECRET), (" Oper ", SECRET)):
        assert_error(plain.request(request, content), text)   # names match in any case
    other = server.connect()
    assert_error(other.request("login", "someone " + SECRET), text)
    assert_error(other.request(" LOGIN", "someone " + SECRET), text)
    secure = TLSClient(port, certs)
    owner = uniq("owner")
    secure.login(owner)
    assert secure.request("register", SECRET)["response"] == "info"
    secure.send("logout")
    secure.wait_closed()
    back = TLSClient(port, certs)
    back.send("login", "%s %s" % (owner, SECRET))
    assert back.expect("info")["content"] == "Login successful"
    for client in (plain, other, secure, back):
        client.close()


def test_plaintext_passwords_when_allowed_or_without_tls(make_server, certs):
    for args in (tls_args(certs, "--allow-plaintext-passwords"), ()):
        server = make_server(*args)
        plain = server.connect()
        plain.login(uniq("p"))
        assert plain.request("register", SECRET)["response"] == "info"
        plain.close()


def test_tls_only_listens_on_no_plain_port(certs):
    proc = subprocess.Popen([sys.executable, "-m", "chat.server", "--port", "0", "--tls-only",
                             *tls_args(certs)], cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port = int(wait_for_line(proc, r"listening with TLS on [^:]+:(\d+)").group(1))
        secure = TLSClient(port, certs)
        secure.login(uniq("only"))
        secure.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(TIMEOUT)
    assert b"listening on" not in proc.stderr.read()
    assert proc.returncode == 0


def test_openssl_s_client_can_chat(make_server, certs):
    """``openssl s_client``, a TLS client that is not Python's, logs in and
    gets its message back; it verifies our certificate chain and name."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    server = make_server(*tls_args(certs))
    port = tls_port(server)
    proc = subprocess.Popen(
        ["openssl", "s_client", "-quiet", "-verify_return_error", "-connect",
         "127.0.0.1:%d" % port, "-CAfile", certs.ca, "-verify_hostname", "localhost"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(b'{"request": "login", "content": "sclient"}\n'
                         b'{"request": "msg", "content": "from openssl"}\n'
                         b'{"request": "logout", "content": null}\n')
        proc.stdin.flush()
        out, err = proc.communicate(timeout=TIMEOUT * 2)   # ends when the server closes
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert b'"content": "Login successful"' in out, err
    assert b'"sender": "sclient", "response": "message", "content": "from openssl"' in out, err
