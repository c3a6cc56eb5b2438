"""Helpers for the pure core tests: a fake clock, a decoder that checks
every response's shape, and a harness that plays the glue's part in memory."""

import json

from chat.core import DEFAULT_HISTORY_LIMIT, Broadcast, ChatCore, Send
from chat.core.accounts import run_hashes
from chat.store.memory import MemoryStore

TS = "2026-11-23T19:59:04+01:00"
KEYS = ["timestamp", "sender", "response", "content"]


class FakeClock:
    def __init__(self, now=TS):
        self.now = now
        self.calls = 0

    def timestamp(self):
        self.calls += 1
        return self.now


class FakeMonotonic:
    """The injectable monotonic clock (failed-login window); tests move it."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def decode(data):
    """One encoded response: ASCII, one trailing newline, four keys in order."""
    assert isinstance(data, bytes)
    assert data.endswith(b"\n") and data.count(b"\n") == 1, data
    data.decode("ascii")  # ensure_ascii: pure ASCII on the wire
    pairs = json.loads(data, object_pairs_hook=lambda pairs: pairs)
    assert [key for key, _ in pairs] == KEYS, data
    obj = json.loads(data)
    assert isinstance(obj["timestamp"], str)
    assert obj["response"] in ("error", "info", "message", "history")
    return obj


def req(request, content=None, **extra):
    value = {"request": request, "content": content}
    value.update(extra)
    return value


class Harness:
    """A core plus helpers that play the glue's part in memory."""

    def __init__(self, **kwargs):
        self.clock = FakeClock()
        self.monotonic = FakeMonotonic()
        kwargs.setdefault("now", self.monotonic)
        kwargs.setdefault("scrypt_n", 2 ** 8)   # fast: the cost is the glue's concern
        store = kwargs.pop("store", None)
        if store is None:
            store = MemoryStore(kwargs.get("history_limit", DEFAULT_HISTORY_LIMIT))
        self.core = ChatCore(self.clock, store, **kwargs)

    def session(self):
        return self.core.open_session()

    def handle(self, session, request, content=None, **extra):
        """The request's effects, with every ``Hash`` carried out at once."""
        return run_hashes(self.core.handle(session, req(request, content, **extra)))

    def login(self, name):
        session = self.session()
        effects = self.handle(session, "login", name)
        assert [type(e) for e in effects] == [Send, Send], effects
        assert decode(effects[0].data)["content"] == "Login successful", effects
        return session

    def only_send(self, session, effects):
        """The single Send in ``effects``, for ``session``, decoded."""
        assert len(effects) == 1 and isinstance(effects[0], Send), effects
        assert effects[0].session is session
        return decode(effects[0].data)

    def error(self, session, request, content=None, **extra):
        """Send a request that must fail; return the error text."""
        response = self.only_send(session, self.handle(session, request, content, **extra))
        assert response["response"] == "error", response
        assert response["sender"] == "server"
        return response["content"]

    def deliver(self, effects):
        """Who receives what: {session: [decoded payloads]} (logged-in users now)."""
        inbox = {}
        for effect in effects:
            if isinstance(effect, Send):
                inbox.setdefault(effect.session, []).append(decode(effect.data))
            elif isinstance(effect, Broadcast):
                for session in effect.recipients:
                    inbox.setdefault(session, []).append(decode(effect.data))
        return inbox


