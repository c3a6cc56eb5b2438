"""Hostile input through real sockets against ``python3 -m chat.server``:
a megabyte of NULs, random bytes, invalid UTF-8, ten megabytes that never
close, 100 000 nested brackets, JSON that is not an object, wrong types in
every field, messages and requests over their size limits, a read full of
errors, a flood on a closing connection, and fuzzing (hypothesis) of
request mixes and of raw bytes split anywhere. Every bad payload gets one
error and the connection (or at least the server) goes on; memory stays
flat (read from /proc); the server's log stays clean.
"""

import json
import random
import socket
import threading

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from stress_support import (BAD_LOG, MIB, Peer, Server,  # noqa: F401 (fixture)
                            assert_server_works, logged_in, read_payloads, servers)
from support import HELP_MARK, TIMEOUT, assert_error, request_bytes, uniq

pytestmark = pytest.mark.slow   # server processes


# -- garbage -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def garbage_server():
    """Default limits (64 KiB requests), flood control off; a short pace gap,
    as random bytes make hundreds of errors for a not yet streaming client."""
    srv = Server("--rate", "0", "--pace-ms", "1")
    yield srv
    srv.check_clean_exit()


def _send_in_thread(sock, data):
    """sendall from a thread (the server may stop reading and close midway)."""
    def run():
        try:
            sock.settimeout(TIMEOUT)
            sock.sendall(data)
        except OSError:
            pass
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_nul_flood_gets_one_error_then_the_connection_works(garbage_server):
    srv = garbage_server
    peer = Peer(srv.port)
    thread = _send_in_thread(peer.sock, b"\0" * 1_000_000)
    thread.join(TIMEOUT)
    before = peer.help_sentinel()   # the reader resumes at the next "{"
    assert len(before) == 1, before
    assert_error(before[0], r"invalid JSON.*0x00")
    peer.login(uniq("nul"))
    assert peer.request("msg", "after NULs")["content"] == "after NULs"
    peer.close()
    assert_server_works(srv)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_bytes(garbage_server, seed):
    srv = garbage_server
    data = random.Random(seed).randbytes(200_000)
    peer = Peer(srv.port)
    thread = _send_in_thread(peer.sock, data)
    thread.join(TIMEOUT)
    try:
        peer.sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    payloads = peer.until_closed()
    assert payloads, "no error for 200 kB of random bytes"
    for payload in payloads:
        assert_error(payload)
    assert_server_works(srv)


def test_ten_megabytes_without_a_closing_brace_gets_size_error_then_close(garbage_server):
    srv = garbage_server
    peer = logged_in(srv, uniq("huge"))
    rss_before = srv.rss_kib()
    thread = _send_in_thread(peer.sock, b'{"request": "msg", "content": "' + b"a" * 10_000_000)
    payloads = peer.until_closed(10.0)
    thread.join(TIMEOUT)
    assert len(payloads) == 1, payloads
    assert_error(payloads[0], r"too large")
    assert srv.rss_kib() - rss_before < 4 * 1024, "the server buffered the 10 MB"
    srv.wait_for_log(r"closing \(huge\d+\): request too large")
    assert_server_works(srv)


@pytest.mark.parametrize("opening, closing", [
    pytest.param(b"[", b"]", id="arrays"),
    pytest.param(b'{"a": ', b"}", id="objects"),
    pytest.param(b'{"request": [', b"]}", id="mixed"),
])
def test_100000_nested_brackets_default_size_limit(garbage_server, opening, closing):
    """100 000 levels are over 64 KiB: the depth error, then the size error and close."""
    srv = garbage_server
    peer = Peer(srv.port)
    data = opening * 100_000 + b"1" + closing * 100_000 + b"\n"
    thread = _send_in_thread(peer.sock, data)
    payloads = peer.until_closed()
    thread.join(TIMEOUT)
    assert [p["response"] for p in payloads] == ["error", "error"], payloads
    assert_error(payloads[0], r"nested")
    assert_error(payloads[1], r"too large")
    assert_server_works(srv)


@pytest.mark.parametrize("opening, closing", [
    pytest.param(b"[", b"]", id="arrays"),
    pytest.param(b'{"a": ', b"}", id="objects"),
])
def test_100000_nested_brackets_within_the_size_limit_one_error(servers, opening, closing):
    """With room for them, 100 000 levels are one bad request; the connection stays."""
    srv = servers("--rate", "0", "--max-request-size", str(2 * 1024 * 1024))
    peer = logged_in(srv, "deep")
    peer.send_raw(opening * 100_000 + b"1" + closing * 100_000 + b"\n")
    before = peer.help_sentinel()
    assert len(before) == 1, before
    assert_error(before[0], r"nested")
    assert peer.request("msg", "deep and fine")["content"] == "deep and fine"
    peer.close()
    assert_server_works(srv)


WRONG_TYPES = [
    b'{}',
    b'{"content": "bob"}',
    b'{"request": null, "content": "bob"}',
    b'{"request": 1, "content": "bob"}',
    b'{"request": true, "content": "bob"}',
    b'{"request": ["login"], "content": "bob"}',
    b'{"request": {"login": "bob"}, "content": "bob"}',
    b'{"request": "login", "content": 5}',
    b'{"request": "login", "content": null}',
    b'{"request": "login", "content": ["bob"]}',
    b'{"request": "login", "content": {"name": "bob"}}',
    b'{"request": "login", "content": false}',
    b'{"request": "login"}',
    b'{"request": "msg", "content": 5}',
    b'{"request": "msg", "content": null}',
    b'{"request": "msg", "content": ["hi"]}',
    b'{"request": "msg", "content": {"text": "hi"}}',
    b'{"request": "msg", "content": true}',
    b'{"request": "msg"}',
    b'{"request": "names", "content": 5}',
    b'{"request": "names", "content": ["x"]}',
    b'{"request": "names", "content": {}}',
    b'{"request": "help", "content": 1.5}',
    b'{"request": "help", "content": []}',
    b'{"request": "logout", "content": {"now": true}}',
    b'{"request": "logout", "content": 0}',
    b'{"request": "nosuch", "content": null}',
]


@pytest.mark.parametrize("logged", [False, True], ids=["before-login", "after-login"])
def test_wrong_types_in_every_field_each_get_one_error(garbage_server, logged):
    srv = garbage_server
    peer = Peer(srv.port)
    name = uniq("types")
    if logged:
        peer.login(name)
    # one at a time: each gets exactly one error
    for data in WRONG_TYPES:
        peer.send_raw(data + b"\n")
        before = peer.help_sentinel()
        assert len(before) == 1, (data, before)
        assert_error(before[0])
    # all at once, back to back: one error each, in order
    peer.send_raw(b"".join(WRONG_TYPES))
    before = peer.help_sentinel()
    assert [p["response"] for p in before] == ["error"] * len(WRONG_TYPES), before
    if logged:
        assert name in peer.request("names")["content"]
    peer.close()
    assert_server_works(srv)


# -- message and request size --------------------------------------------------------------


# -- a read full of errors, a flood while closing ------------------------------------------

def test_closing_paced_connection_discards_a_flood(servers):
    """Before: after ``logout`` with paced output queued, 14 MiB of ``{}``
    took the server from 17 to 365 MiB."""
    srv = servers("--pace-ms", "500", "--close-deadline", "30")
    peer = Peer(srv.port, newline=False)
    peer.send_raw(request_bytes("login", "leaver", newline=False)
                  + request_bytes("logout", None, newline=False))
    srv.wait_for_log(r"closing: logged out as leaver")
    rss_before = srv.rss_kib()
    chunk = b"{}" * (512 * 1024)   # 1 MiB
    for _ in range(16):
        peer.send_raw(chunk)
    # the server read it all (or the socket would block): now it must still be small
    assert srv.rss_kib() - rss_before < 8 * MIB, (rss_before, srv.rss_kib())
    payloads = peer.until_closed(timeout=10)
    assert [p["response"] for p in payloads] == ["info", "history", "info"], payloads


def test_a_read_of_errors_is_one_error_and_memory_stays_flat(servers):
    """Before: one 256 KiB read of ``{]`` became 131 072 error objects (52 MiB),
    drained at 5/s for 7 hours; 16 such connections reached 436 MiB."""
    srv = servers()
    rss_before = srv.rss_kib()
    peers = [logged_in(srv, "amp%d" % i) for i in range(8)]
    for peer in peers:
        peer.send_raw(b"{]" * (128 * 1024) + b"{}" * (128 * 1024))
    probe = logged_in(srv, "probe")
    assert probe.request("names")["content"].startswith("Users online")
    first = peers[0]
    replies = read_payloads(first, lambda p: p["response"] == "error" and "'request'" in
                            p["content"])
    assert sum("does not close" in p["content"] for p in replies) == 1, replies
    assert srv.rss_kib() - rss_before < 24 * MIB, (rss_before, srv.rss_kib())
    assert probe.request("names")["content"].startswith("Users online")


# -- fuzzing through real sockets ----------------------------------------------------------

@pytest.fixture(scope="module")
def fuzz_server():
    srv = Server("--rate", "0", "--pace-ms", "1")
    yield srv
    srv.check_clean_exit()


def _probe(srv):
    """The server stays responsive: a fresh client logs in and gets ``names``."""
    name = uniq("probe")
    client = logged_in(srv, name)
    try:
        names = client.request("names")
        assert names["response"] == "info" and name in names["content"], names
    finally:
        client.rst()
    assert srv.count_log(BAD_LOG.pattern) == 0, srv.log_text()[-5000:]


def _send_split(sock, data, cuts):
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for start, end in zip(points, points[1:]):
        sock.sendall(data[start:end])


# Items of a request mix. Each is (bytes, kind, detail); the model below says
# what the server must answer. Non-object values never contain "{", so that
# after a syntax error the reader resumes exactly at the next object item.
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                     st.text(max_size=12))


_NON_OBJECT = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=6).filter(
    lambda v: b"{" not in json.dumps(v).encode())


_ANY_JSON = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)), max_leaves=6)


_MSG_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).filter(
    lambda t: t.strip())


_KNOWN = ("login", "logout", "msg", "names", "help")


def _obj(**fields):
    return json.dumps(fields).encode()


_BAD_OBJECTS = st.one_of(
    st.builds(lambda v: json.dumps(v).encode(), _NON_OBJECT),                        # not an object
    st.builds(lambda c: _obj(content=c), _ANY_JSON),                                  # no request
    st.builds(lambda r, c: _obj(request=r, content=c),
              _ANY_JSON.filter(lambda v: not isinstance(v, str)), _ANY_JSON),           # request not a string
    st.builds(lambda r, c: _obj(request=r, content=c),
              st.text(max_size=10).filter(lambda s: s.strip().lower() not in _KNOWN), _ANY_JSON),  # unknown
    st.builds(lambda r, c: _obj(request=r, content=c), st.sampled_from(["login", "msg"]),
              _ANY_JSON.filter(lambda v: not isinstance(v, str))),                    # content not a string
    st.builds(lambda r, c: _obj(request=r, content=c), st.sampled_from(["names", "help"]),
              _ANY_JSON.filter(lambda v: v is not None and not isinstance(v, str))),  # takes no argument
    st.builds(lambda c: _obj(request="login", content=c),
              st.sampled_from(["", "  ", "a b", "x" * 33, "server", "SERVER", "\u00e6", "a-b", "a\nb"])),
    st.builds(lambda c: _obj(request="msg", content=c), st.sampled_from(["", "   ", "\n", "x" * 4097])),
    st.sampled_from([b'{"request": "msg", "content": "\xff"}', b'{"request\xc3": "help"}',
                     b'{"request": "login", "content": "\xed\xa0\x80"}']),            # invalid UTF-8
)


_SYNTAX_ERRORS = st.sampled_from([
    b'{"request": "help",}', b'{"request" "help"}', b'{"request": hlep}', b"{'request': 'help'}",
    b'{"request": "help"]', b'{"request": "names", "content": nul}', b'{"a": 01}', b"{,}",
    b"hello", b"nope", b"1.2.3", b"tru", b"]", b"}", b"\x00\x01\x02", b"\xff\xfe",
])


def _valid_items(tag):
    return st.one_of(
        st.builds(lambda r, c: (_obj(request=r, content=c), "help", None),
                  st.sampled_from(["help", "HELP", " help "]), st.sampled_from([None, "", "None", "login"])),
        st.builds(lambda c: (_obj(request="names", content=c), "names", None), st.sampled_from([None, "", "None"])),
        st.just((b'{"request": "names"}', "names", None)),
        st.builds(lambda t: (_obj(request="msg", content=t), "msg", t), _MSG_TEXT),
        st.builds(lambda n: (_obj(request="login", content=n), "login", n),
                  st.sampled_from([tag, tag.upper(), " %s " % tag])),
    )


@st.composite
def request_mixes(draw):
    tag = uniq("fz")
    item = st.one_of(_valid_items(tag),
                     st.builds(lambda b: (b, "bad", None), _BAD_OBJECTS),
                     st.builds(lambda b: (b, "syntax", None), _SYNTAX_ERRORS))
    items = draw(st.lists(item, min_size=1, max_size=12))
    seps = draw(st.lists(st.sampled_from([b"\n", b" ", b"\r\n", b"\t", b" \n "]),
                         min_size=len(items), max_size=len(items)))
    return tag, items, seps


def _expected(items, seps):
    """What the server must answer, as (response type, content check) pairs."""
    logged = False
    skipping = False
    in_error_run = False   # errors with no value and no newline between them are one error
    out = []
    for (data, kind, detail), sep in zip(items, seps):
        run_ends = b"\n" in sep
        if skipping and not data.startswith(b"{"):
            in_error_run = in_error_run and not run_ends
            continue           # discarded while resynchronising after a syntax error
        skipping = False
        if kind == "syntax" or (kind == "bad" and not _is_utf8(data)):
            if not in_error_run:
                out.append(("error", None))
            in_error_run = not run_ends
            skipping = kind == "syntax"   # then skip to the next "{"
            continue
        in_error_run = False
        if kind == "help":
            out.append(("info", lambda c: HELP_MARK in c))
        elif kind == "names":
            out.append(("info", lambda c: c.startswith("Users online")) if logged else ("error", None))
        elif kind == "msg":
            out.append(("message", lambda c, t=detail: c == t) if logged else ("error", None))
        elif kind == "login":
            if logged:
                out.append(("error", lambda c: "already logged in" in c))
            else:
                out += [("info", lambda c: c == "Login successful"), ("history", None)]
                logged = True
        else:  # a value the core rejects
            out.append(("error", None))
    return out


def _is_utf8(data):
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(mix=request_mixes(), cuts=st.lists(st.integers(min_value=0, max_value=1 << 16), max_size=8))
def test_fuzz_request_mixes_every_bad_payload_gets_an_error(fuzz_server, mix, cuts):
    tag, items, seps = mix
    data = b"".join(item[0] + sep for item, sep in zip(items, seps))
    expected = _expected(items, seps) + [("info", lambda c: HELP_MARK in c)]   # the sentinel
    peer = Peer(fuzz_server.port)
    try:
        _send_split(peer.sock, data + b'{"request": "help"}\n', cuts)
        got = [peer.reply() for _ in expected]
        for (kind, check), payload in zip(expected, got):
            assert payload["response"] == kind, (items, got)
            assert payload["sender"] == "server" or kind == "message", payload
            if check is not None:
                assert check(payload["content"]), (items, payload)
        assert not peer.buffer, bytes(peer.buffer[:200])
    finally:
        peer.rst()
    _probe(fuzz_server)


def _answers_for(data):
    """How many responses the server owes for a byte stream: one error for each
    framing error or decoded value that is not a request (the decoder is the
    definition of where complete payloads are)."""
    from chat.protocol import RequestError, parse_request
    from reactor.framing import FramingError, JsonStreamDecoder
    count, valid = 0, 0
    for item in JsonStreamDecoder().feed(data):
        if isinstance(item, FramingError):
            count += 1
            continue
        try:
            request = parse_request(item)
        except RequestError:
            count += 1
            continue
        valid += 1 if request.name in _KNOWN else 0
        count += 1
    return count, valid


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.one_of(
    st.binary(max_size=600),
    st.lists(st.sampled_from([b"{", b"}", b"[", b"]", b'"', b"\\", b":", b",", b" ", b"\n", b"1",
                              b"\x00", b"\xff", b"\xc3", b"n", b'"request"', b'"msg"', b'"content"']),
             max_size=80).map(b"".join)),
       cuts=st.lists(st.integers(min_value=0, max_value=1 << 16), max_size=8))
def test_fuzz_random_bytes_every_complete_bad_payload_gets_an_error(fuzz_server, data, cuts):
    count, valid = _answers_for(data)
    peer = Peer(fuzz_server.port)
    try:
        _send_split(peer.sock, data, cuts)
        peer.sock.shutdown(socket.SHUT_WR)    # the server answers what it has, then closes
        payloads = peer.until_closed()
    finally:
        peer.close()
    if not valid:
        assert [p["response"] for p in payloads] == ["error"] * count, (data, payloads)
    else:
        assert len([p for p in payloads if p["response"] == "error"]) <= count
    _probe(fuzz_server)


def test_fuzz_server_log_is_clean(fuzz_server):
    """Runs after the fuzz tests (file order): no exception escaped a callback."""
    _probe(fuzz_server)
    log = fuzz_server.log_text()
    assert not BAD_LOG.search(log), log[-5000:]
