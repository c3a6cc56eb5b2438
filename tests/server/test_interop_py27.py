"""Interop with a naive Python 2.7 peer client (PROTOCOL.md sections 2 and 3).

``tests/peers/skeleton_client27.py`` is written like the course skeleton and
most published clients: ``sendall(json.dumps(payload))`` with no delimiter
and ``json.loads(sock.recv(4096))``, one read per expected payload. It
crashes on "Extra data" when two payloads share a read, so it passing
against our server (default pacing) shows the pacing works for real peers.
With rooms, private messages and moderation (section 4) on the server, a
client that knows only the five standard requests still sees exactly the
standard protocol, and the extensions work from it with generic requests,
paced like the login answer.

Python 2.7 is found with ``pyenv prefix 2.7.18``; without it the tests skip.
"""

import json

import pytest

from py27_support import peers, python27, received, start_peer  # noqa: F401 (fixtures)
from support import Client, make_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow   # server processes and Python 2.7 peers

STANDARD = {"timestamp", "sender", "response", "content"}


def test_skeleton_client_session(python27, make_server, peers):
    srv = make_server()   # default pacing
    peer = start_peer(peers, python27, srv, "session", "oldtimer")
    status, stderr = peer.finish()
    assert status == 0, stderr
    assert [e["event"] for e in peer.events][-2:] == ["closed", "done"]
    payloads = received(peer.events)
    assert [p["response"] for p in payloads] == ["info", "history", "message", "info",
                                                 "info", "info"], payloads
    info, history, message, names, help_, bye = payloads
    assert info["content"] == "Login successful"
    assert history["content"] == []
    assert message["sender"] == "oldtimer" and message["content"] == "hello from 2.7 \u00e5"
    assert "oldtimer" in names["content"]
    for request in ("login", "logout", "msg", "names", "help"):
        assert request in help_["content"]
    assert "log" in bye["content"].lower()
    for payload in payloads:
        assert isinstance(payload["timestamp"], str) and payload["sender"]


def _chat_with_peer(python27, srv, peers, lockstep, burst):
    """alice and bob (Python 3) chat while carl (the 2.7 peer) reads.

    ``lockstep`` messages go one at a time, the next once carl printed the
    last; then alice and bob each send ``burst // 2`` in one write, so
    ``burst`` messages queue up for carl at once and only the pacing keeps
    them in reads of their own.
    """
    alice = Client(srv.port)
    bob = Client(srv.port)
    try:
        alice.login("alice")
        bob.login("bob")
        alice.send("msg", "said before you came \u00e6")
        for client in (alice, bob):
            assert client.expect("message")["content"] == "said before you came \u00e6"
        peer = start_peer(peers, python27, srv, "chat", "carl", lockstep + burst)
        assert peer.payload()["content"] == "Login successful"
        history = peer.payload()
        assert history["response"] == "history"
        assert [(m["sender"], m["content"]) for m in history["content"]] == [
            ("alice", "said before you came \u00e6")]

        sent = []
        # one message at a time, the next once the peer has printed the last
        for i in range(lockstep):
            speaker, name = ((alice, "alice"), (bob, "bob"))[i % 2]
            text = "turn %d from %s: bl\u00e5b\u00e6r \U0001F600" % (i, name)
            speaker.send("msg", text)
            sent.append((name, text))
            while True:
                payload = peer.payload()
                if payload["response"] == "message":
                    assert (payload["sender"], payload["content"]) == (name, text)
                    break
                assert payload["response"] == "info", payload   # a presence notice
        # then both talk at once: several messages queued for the peer
        for speaker, name in ((alice, "alice"), (bob, "bob")):
            texts = ["%s burst %d" % (name, j) for j in range(burst // 2)]
            if not texts:
                continue
            speaker.send_raw(b"".join(json.dumps({"request": "msg", "content": t}).encode() + b"\n"
                                      for t in texts))
            sent.extend((name, t) for t in texts)
        status, stderr = peer.finish()
        assert status == 0, stderr
        messages = [(p["sender"], p["content"]) for p in received(peer.events)
                    if p["response"] == "message"]
        assert sorted(messages) == sorted(sent)
        assert messages[:lockstep] == sent[:lockstep]
        for name in ("alice", "bob"):   # each speaker's messages in order
            assert [m for m in messages if m[0] == name] == [m for m in sent if m[0] == name]
        assert [e["event"] for e in peer.events][-2:] == ["closed", "done"]
        # the Python 3 users saw all of it too
        for client in (alice, bob):
            seen = []
            while len(seen) < len(sent):
                payload = client.expect("message")
                seen.append((payload["sender"], payload["content"]))
            assert sorted(seen) == sorted(sent)
    finally:
        alice.close()
        bob.close()


def test_skeleton_client_reads_a_chat(python27, make_server, peers):
    """Default pacing; alice and bob take turns, so at most one message is in
    flight to the peer and the test does not depend on how fast the peer
    process is scheduled (only its login's info/history gap does)."""
    _chat_with_peer(python27, make_server(), peers, lockstep=10, burst=0)


def test_skeleton_client_reads_a_burst(python27, make_server, peers):
    """Messages queued for the peer at once each arrive in a read of their own.

    The pace gap is widened from the default 20 ms so the test does not
    depend on the peer being scheduled within 20 ms of each payload (it
    failed that way on an overloaded machine; with 20 ms it passes whenever
    the machine is not oversubscribed)."""
    _chat_with_peer(python27, make_server("--pace-ms", "150"), peers, lockstep=2, burst=6)


def test_skeleton_client_crashes_without_pacing(python27, make_server, peers):
    """Control: the peer really is naive. With pacing off, info and history
    share one read and json.loads fails with "Extra data"."""
    srv = make_server("--pace-ms", "0")
    peer = start_peer(peers, python27, srv, "login", "crasher")
    status, stderr = peer.finish()
    assert status != 0
    assert "Extra data" in stderr, stderr
    assert "Traceback" in stderr


# -- with rooms, private messages and moderation (section 4) -------------------------------

def test_a_standard_peer_in_the_lobby_sees_only_the_standard_protocol(python27, make_server,
                                                                      peers):
    srv = make_server("--rate", "0")
    alice, bob = Client(srv.port), Client(srv.port)
    try:
        alice.login("alice")
        bob.login("bob")
        peer = start_peer(peers, python27, srv, "chat", "carl", 3)
        assert peer.payload()["content"] == "Login successful"
        assert peer.payload()["response"] == "history"
        # alice talks in #dev and privately to bob: none of it is carl's business
        alice.send("join", "dev")
        alice.expect("history")
        for text in ("dev one", "dev two"):
            alice.send("msg", text)
            assert alice.expect("message")["content"] == text
        alice.send("pm", "bob just between us")
        assert alice.expect("message")["sender"] == "alice -> bob"
        assert bob.expect("message")["sender"] == "alice -> bob"
        for i in range(3):
            bob.send("msg", "lobby %d \u00e5" % i)
        status, stderr = peer.finish()
        assert status == 0, stderr
        payloads = received(peer.events)
        for payload in payloads:
            assert set(payload) == STANDARD, payload
            assert payload["response"] in ("info", "history", "message"), payload
            assert isinstance(payload["timestamp"], str)
        messages = [(p["sender"], p["content"]) for p in payloads if p["response"] == "message"]
        assert messages == [("bob", "lobby %d \u00e5" % i) for i in range(3)]
        notices = [p["content"] for p in payloads[2:] if p["response"] == "info"]
        assert all(" -> " not in text and "#dev" not in text for text in notices), notices
    finally:
        alice.close()
        bob.close()


def test_a_naive_peer_can_use_rooms_with_generic_requests(python27, make_server, peers):
    """join and leave are answered info then history, in reads of their own
    (the peer crashes on "Extra data" otherwise). The gap is widened as in
    test_skeleton_client_reads_a_burst, for a loaded machine."""
    srv = make_server("--pace-ms", "150")
    peer = start_peer(peers, python27, srv, "rooms", "roomy")
    status, stderr = peer.finish()
    assert status == 0, stderr
    payloads = received(peer.events)
    assert [p["response"] for p in payloads] == ["info", "history", "info", "history",
                                                 "message", "info", "history", "info"]
    assert payloads[2]["content"] == "Joined #dev (1 user)"
    assert payloads[4]["sender"] == "roomy" and payloads[4]["content"] == "hello #dev"
    assert payloads[5]["content"] == "Joined #lobby (1 user)"
