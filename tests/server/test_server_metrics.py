"""GET /metrics: the Prometheus text format, read back by prometheus_client's
parser, with counters that move when traffic flows."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support import Client, started
from tls_support import TLSClient, certs, tls_args, tls_port  # noqa: F401 (a fixture)
from web_support import WebServer, WebSocketClient, http_get

pytestmark = pytest.mark.slow   # server processes

FAMILIES = {"chat_connections", "chat_logins", "chat_failed_logins", "chat_requests",
            "chat_messages", "chat_deliveries", "chat_received_bytes", "chat_sent_bytes",
            "chat_slow_consumers_dropped", "chat_output_queued_bytes", "chat_rooms",
            "chat_history_bytes", "chat_users", "chat_store_commit_seconds",
            "chat_redis_connected", "chat_loop_pass_seconds"}


@pytest.fixture
def web():
    yield from started(WebServer, lambda srv: srv.stop())


def scrape(srv):
    status, headers, body = http_get(srv.http_port, "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    names = set()
    for family in text_string_to_metric_families(body.decode("utf-8")):
        names.add(family.name)
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return names, samples


def test_every_family_is_there_and_counters_move_with_traffic(web, tmp_path):
    srv = web("--db", str(tmp_path / "chat.sqlite3"))
    names, before = scrape(srv)
    assert FAMILIES <= names, FAMILIES - names
    alice = Client(srv.port)
    ws = WebSocketClient(srv.http_port)
    try:
        alice.login("alice")
        ws.send("login", "webby")
        assert ws.recv()["content"] == "Login successful"
        for text in ("one", "two", "three"):
            alice.send("msg", text)
            alice.expect("message")
        alice.send("login", "alice wrongpass1")   # refused: already logged in
        alice.expect("error")
        _, after = scrape(srv)
    finally:
        alice.close()
        ws.close()
    assert after[("chat_logins_total", ())] - before[("chat_logins_total", ())] == 2
    assert after[("chat_messages_total", ())] == 3
    assert after[("chat_requests_total", (("request", "msg"),))] == 3
    assert after[("chat_requests_total", (("request", "login"),))] == 3
    assert after[("chat_deliveries_total", ())] >= before[("chat_deliveries_total", ())] + 6
    assert after[("chat_connections", (("kind", "tcp"), ("state", "logged in")))] == 1
    assert after[("chat_connections", (("kind", "websocket"), ("state", "logged in")))] == 1
    assert after[("chat_users", ())] == 2
    assert after[("chat_history_bytes", ())] > 0
    assert after[("chat_store_commit_seconds_count", ())] >= 3   # one commit per message pass
    assert after[("chat_loop_pass_seconds_count", ())] > before[("chat_loop_pass_seconds_count", ())]
    assert after[("chat_received_bytes_total", ())] > 0


def test_requests_are_counted_by_the_name_the_server_reads(web):
    srv = web()
    alice = Client(srv.port)
    try:
        alice.login("alice")
        alice.send(" MSG ", "shouted")          # the server reads it as msg
        alice.expect("message")
        _, samples = scrape(srv)
    finally:
        alice.close()
    assert samples[("chat_requests_total", (("request", "msg"),))] == 1
    assert samples[("chat_messages_total", ())] == 1


def test_connections_are_counted_by_the_way_they_came_in(web, certs):
    srv = web(*tls_args(certs))
    plain, secure = Client(srv.port), TLSClient(tls_port(srv), certs)
    ws = WebSocketClient(srv.http_port)
    try:
        plain.login("plain")
        secure.login("secure")
        ws.send("login", "webby")
        assert ws.recv()["content"] == "Login successful"
        _, samples = scrape(srv)
    finally:
        for client in (plain, secure, ws):
            client.close()
    for kind in ("tcp", "tls", "websocket"):
        assert samples[("chat_connections", (("kind", kind), ("state", "logged in")))] == 1, kind


def test_only_the_allowed_networks_may_read_it(web):
    srv = web("--metrics-allow", "10.0.0.0/8")
    assert http_get(srv.http_port, "/metrics")[0] == 403
    assert http_get(srv.http_port, "/healthz")[0] == 200
