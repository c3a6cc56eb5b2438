"""The baselines' shared parts in one process (bench/baselines/common.py):
``Chat``'s coalesced presence text, and ``RequestBuffer`` reading requests
split anywhere, and its errors. The baselines as servers are in
test_baselines.py.
"""

import json

from bench.baselines.common import Chat, RequestBuffer


class Conn:
    username = None


# -- Chat ----------------------------------------------------------------------------------

def test_presence_text_is_coalesced():
    sent = []
    chat = Chat(send=lambda conn, data: sent.append((conn.username, data)),
                close=lambda conn: None)
    conns = [Conn() for _ in range(6)]
    for conn, name in zip(conns, ["carol", "alice", "bob", "dave", "eve", "x"]):
        chat.handle(conn, {"request": "login", "content": name})
    sent.clear()
    chat.flush_presence()                   # the joiners all hear it
    assert {json.loads(d)["content"] for _, d in sent} == {
        "carol, alice and 4 others joined"}
    assert len(sent) == 6
    sent.clear()
    chat.flush_presence()
    assert sent == []                       # nothing pending, nothing sent
    chat.handle(conns[0], {"request": "logout"})
    chat.handle(conns[1], {"request": "logout"})
    chat.disconnect(conns[2])
    chat.handle(Conn(), {"request": "login", "content": "zed"})
    sent.clear()
    chat.flush_presence()
    texts = [json.loads(d)["content"] for _, d in sent]
    assert texts == ["zed joined; carol, alice and bob left"] * 4


def test_lone_joiner_hears_nothing_about_himself():
    sent = []
    chat = Chat(send=lambda conn, data: sent.append(conn.username),
                close=lambda conn: None)
    a, b = Conn(), Conn()
    chat.handle(a, {"request": "login", "content": "alice"})
    chat.flush_presence()
    sent.clear()
    chat.handle(b, {"request": "login", "content": "bob"})
    sent.clear()
    chat.flush_presence()
    assert sent == ["alice"]


# -- RequestBuffer -------------------------------------------------------------------------

def feed_all(chunks):
    reader, values = RequestBuffer(), []
    for chunk in chunks:
        values += reader.feed(chunk)
    assert reader.text == ""
    return values


def test_request_buffer_any_split():
    objs = [{"request": "msg", "content": "\u00e5 \U0001F600 \"q\" \\ x"},
            {"request": "x", "content": [None, True, False, -1.5e+10, 0, {}]}]
    ascii_ = b"".join(json.dumps(o).encode() for o in objs)
    raw = b" \n".join(json.dumps(o, ensure_ascii=False).encode() for o in objs)
    for stream in (ascii_, raw + b"\r\n"):
        assert feed_all([stream]) == objs
        assert feed_all([bytes([b]) for b in stream]) == objs
        for i in range(1, len(stream)):
            assert feed_all([stream[:i], stream[i:]]) == objs, i


def test_request_buffer_errors():
    reader = RequestBuffer()
    assert reader.feed(b'{"a": 1} {"a": nope} {"b": 2}') == [
        {"a": 1}, "Invalid JSON: Expecting value"]
    assert reader.feed(b'{"c": 3}') == [{"c": 3}]
    assert reader.feed(b'\xc3') == [] and reader.feed(b'(') == [
        "Invalid UTF-8 in request"]
    assert reader.feed(b'{"d": "' + b"x" * 70000) == []
    assert reader.overflow
