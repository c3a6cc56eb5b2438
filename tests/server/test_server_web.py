"""The web face: the web client's files, /healthz and WebSockets on /chat.

Every server is ``python -m chat.server --http-port 0`` (a real process);
WebSockets are spoken by reactor's own codec (``web_support``) and by an
independent implementation, the ``websockets`` package.
"""

import asyncio
import json
import socket

import pytest
import websockets

from reactor import websocket
from support import TIMEOUT, Client, read_to_end, started, uniq
from tls_support import certs, client_context, tls_args  # noqa: F401 (fixture)
from web_support import WebServer, WebSocketClient, http_get

pytestmark = pytest.mark.slow   # server processes


@pytest.fixture
def web():
    yield from started(WebServer, lambda srv: srv.stop())


def test_the_page_and_its_files_come_with_a_strict_policy(web):
    srv = web()
    status, headers, body = http_get(srv.http_port, "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b'<script src="/app.js"' in body and b"<script>" not in body   # nothing inline
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe" not in csp
    for path, kind in (("/app.js", "text/javascript"), ("/style.css", "text/css")):
        status, headers, body = http_get(srv.http_port, path)
        assert status == 200 and headers["content-type"].startswith(kind) and body
    status, headers, body = http_get(srv.http_port, "/", method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 100
    assert http_get(srv.http_port, "/nothing")[0] == 404
    assert http_get(srv.http_port, "/healthz")[:3:2] == (200, b"ok\n")


def test_malformed_requests_get_their_status_and_the_server_goes_on(web):
    srv = web()
    with socket.create_connection(("127.0.0.1", srv.http_port), timeout=TIMEOUT) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        assert sock.recv(1024).startswith(b"HTTP/1.1 405 ")
    with socket.create_connection(("127.0.0.1", srv.http_port), timeout=TIMEOUT) as sock:
        sock.sendall(b"\x16\x03\x01garbage\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 400 ")
    assert http_get(srv.http_port, "/healthz")[0] == 200


def test_a_slow_head_is_cut_off(web):
    srv = web("--http-timeout", "0.3")
    with socket.create_connection(("127.0.0.1", srv.http_port), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")   # never finished
        assert sock.recv(1024).startswith(b"HTTP/1.1 408 ")
        assert sock.recv(1024) == b""


def test_a_websocket_user_and_a_tcp_user_share_a_room(web):
    srv = web()
    ws = WebSocketClient(srv.http_port)
    assert ws.status == 101
    tcp = Client(srv.port)
    try:
        ws.send("login", "webby")
        assert ws.recv()["content"] == "Login successful"
        assert ws.recv()["response"] == "history"
        tcp.login("terminal")
        ws.send("msg", "from the browser \u00e5")
        assert tcp.expect("message")["content"] == "from the browser \u00e5"
        assert ws.reply()["content"] == "from the browser \u00e5"
        tcp.send("msg", "from the terminal")
        assert ws.reply() == tcp.expect("message")   # the same payload, one frame each
        ws.send("names")
        assert ws.reply()["content"] == "Users online (2): terminal, webby"
    finally:
        ws.close()
        tcp.close()


def test_an_independent_implementation_logs_in_and_chats(web):
    """The ``websockets`` package: login, a message both ways, logout."""
    srv = web()

    async def session():
        async with websockets.connect("ws://127.0.0.1:%d/chat" % srv.http_port) as ws:
            await ws.send(json.dumps({"request": "login", "content": "pkg"}))
            answers = [json.loads(await ws.recv()) for _ in range(2)]
            await ws.send(json.dumps({"request": "msg", "content": "one frame, one object"}))
            echoed = json.loads(await ws.recv())
            await ws.send(json.dumps({"request": "logout", "content": None}))
            bye = json.loads(await ws.recv())
            await ws.wait_closed()
            return answers, echoed, bye, ws.close_code

    answers, echoed, bye, code = asyncio.run(asyncio.wait_for(session(), TIMEOUT * 2))
    assert [a["response"] for a in answers] == ["info", "history"]
    assert echoed["sender"] == "pkg" and echoed["content"] == "one frame, one object"
    assert bye["content"].startswith("Logged out") and code == 1000


@pytest.mark.parametrize("frame, code", [
    (websocket.encode(websocket.BINARY, b"\x00\x01", mask=True), 1003),
    (websocket.encode(websocket.TEXT, b"\xc3\x28", mask=True), 1007),
    (websocket.encode(websocket.TEXT, b"{}"), 1002),                       # not masked
    (websocket.encode(websocket.TEXT, b"x" * (1 << 20), mask=True), 1009),   # 1 MB
    (websocket.encode(websocket.TEXT, b"x" * (16 << 20), mask=True), 1009),  # more than socket buffers hold
])
def test_bad_frames_close_with_their_code_and_cost_one_connection(web, frame, code):
    srv = web()
    ws = WebSocketClient(srv.http_port)
    bystander = Client(srv.port)
    try:
        bystander.login(uniq())
        ws.send("login", uniq())
        assert ws.recv()["content"] == "Login successful"
        ws.sock.sendall(frame)
        assert ws.close_code() == code
        assert bystander.request("names")["response"] == "info"   # everyone else served
    finally:
        ws.close()
        bystander.close()


def test_after_a_violation_the_server_lingers_only_until_the_close_deadline(web):
    srv = web("--close-deadline", "0.3")
    ws = WebSocketClient(srv.http_port)
    try:
        header = websocket.encode(websocket.TEXT, b"x" * (16 << 20), mask=True)[:14]
        ws.sock.sendall(header + b"x" * 1000)     # an oversized frame begun, never finished
        assert ws.close_code() == 1009
        ws.sock.sendall(b"x" * 1000)              # read and discarded while it lingers
        ws.sock.settimeout(TIMEOUT)
        assert ws.sock.recv(1024) == b""          # then it hangs up on a peer that does not
    finally:
        ws.close()


def test_pings_are_answered_and_a_close_is_returned(web):
    srv = web()
    ws = WebSocketClient(srv.http_port)
    try:
        ws.send_frame(websocket.PING, b"are you there")
        assert ws.event() == websocket.Pong(b"are you there")
        ws.send_frame(websocket.CLOSE, b"\x03\xe8bye")
        assert ws.close_code() == 1000
    finally:
        ws.close()


def test_fragments_make_one_request(web):
    srv = web()
    ws = WebSocketClient(srv.http_port)
    try:
        data = json.dumps({"request": "login", "content": "frag"}).encode()
        ws.send_frame(websocket.TEXT, data[:7], fin=False)
        ws.send_frame(websocket.PING, b"between")
        ws.send_frame(websocket.CONTINUATION, data[7:])
        assert ws.event() == websocket.Pong(b"between")
        assert ws.recv()["content"] == "Login successful"
    finally:
        ws.close()


def test_bad_upgrades_and_foreign_origins_are_refused(web):
    srv = web()
    assert WebSocketClient(srv.http_port, version="8").status == 426
    assert WebSocketClient(srv.http_port, key="short").status == 400
    assert WebSocketClient(srv.http_port, origin="https://evil.example").status == 403
    own = "http://127.0.0.1:%d" % srv.http_port
    assert WebSocketClient(srv.http_port, origin=own).status == 101
    other = web("--web-origin", "https://chat.example.org")
    assert WebSocketClient(other.http_port, origin="https://chat.example.org").status == 101
    assert WebSocketClient(other.http_port, origin=own.replace(str(srv.http_port),
                                                               str(other.http_port))).status == 403


def test_the_login_deadline_and_the_connection_cap_hold_for_websockets(web):
    srv = web("--login-timeout", "0.3", "--max-clients", "1")
    first = WebSocketClient(srv.http_port)
    try:
        assert first.recv(timeout=3)["response"] == "error"    # no login in time
        assert first.close_code() == 1000
    finally:
        first.close()
    holder = Client(srv.port)
    second = WebSocketClient(srv.http_port)
    try:
        refusal = second.recv()
        assert refusal["response"] == "error" and "full" in refusal["content"]
    finally:
        second.close()
        holder.close()


def test_healthz_is_503_while_a_cluster_node_cannot_serve(web):
    with socket.socket() as sock:   # a port where no Redis answers
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = web("--redis", "redis://127.0.0.1:%d" % port, "--redis-timeout", "0.3",
              "--redis-backoff-max", "0.2")
    status, _, body = http_get(srv.http_port, "/healthz")
    assert (status, body) == (503, b"cluster node not ready\n")


def test_healthz_never_says_yes_once_shutting_down(web):
    srv = web("--shutdown-grace", "5")
    holder = Client(srv.port)   # keeps the server in its grace period
    holder.login(uniq())
    srv.proc.send_signal(2)
    srv.wait_for_log("shutting down")
    try:
        status = http_get(srv.http_port, "/healthz")[0]
    except OSError:
        status = None   # the web listener closed with the others
    assert status in (None, 503)
    holder.close()


def test_wss_on_the_https_port_and_passwords_only_there(web, certs):
    """With a TLS listener, the web client is served over HTTPS too; a
    password login is refused on plain ws:// and accepted over wss://."""
    srv = web(*tls_args(certs, "--https-port", "0"))
    context = client_context(certs)

    async def session(url, **options):
        async with websockets.connect(url, **options) as ws:
            await ws.send(json.dumps({"request": "login", "content": "secure"}))
            assert json.loads(await ws.recv())["content"] == "Login successful"
            await ws.recv()   # history
            await ws.send(json.dumps({"request": "register", "content": "alongpassword1"}))
            return json.loads(await ws.recv())

    wss = asyncio.run(asyncio.wait_for(
        session("wss://localhost:%d/chat" % srv.https_port, ssl=context), TIMEOUT * 2))
    assert wss["response"] == "info" and "registered" in wss["content"].lower()
    ws = WebSocketClient(srv.http_port)
    try:
        ws.send("login", "plain")
        assert ws.recv()["content"] == "Login successful"
        ws.recv()
        ws.send("register", "alongpassword1")
        refusal = ws.reply()
        assert refusal["response"] == "error" and "passwords only over TLS" in refusal["content"]
    finally:
        ws.close()


@pytest.mark.parametrize("size", [1 << 20, 16 << 20])   # the second: more than socket buffers hold
def test_a_refused_request_still_sent_in_full_gets_its_answer(web, size):
    """A request head over the bound is refused (431) before the client has
    sent it all: the server must read and discard the rest before hanging
    up, or the kernel answers the unread bytes with a reset that can
    destroy the refusal before the client reads it (and break its send)."""
    srv = web()
    with socket.create_connection(("127.0.0.1", srv.http_port), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"x" * size)
        sock.shutdown(socket.SHUT_WR)   # all sent: now read the answer
        data = read_to_end(sock)
    assert data.startswith(b"HTTP/1.1 431 "), data[:200]
