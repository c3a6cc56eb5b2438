"""The naive Python 2.7 skeleton-style peer client with a server that has
rooms, private messages and moderation (PROTOCOL.md section 4): a client
that knows only the five standard requests still sees exactly the standard
protocol, and the extensions work from it with generic requests, paced
like the login answer."""

from support import Client
from py27_support import make_server, peers, python27, received, start_peer  # noqa: F401

STANDARD = {"timestamp", "sender", "response", "content"}


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
