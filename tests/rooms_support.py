"""Helpers for the real-socket tests of PROTOCOL.md section 4: a client
that checks every payload's shape and can skip presence notices (the
servers, started with options and environment: ``support.make_server``)."""

import json
import re

import pytest

from support import TIMEOUT, Client

KEYS = ["timestamp", "sender", "response", "content"]


class RoomClient(Client):
    """A line client; every payload must be ASCII with the four keys in order."""

    def recv(self, timeout=TIMEOUT):
        payload = super().recv(timeout)
        assert list(payload) == KEYS, payload
        assert isinstance(payload["timestamp"], str)
        assert payload["response"] in ("error", "info", "message", "history"), payload
        return payload

    def join(self, room):
        self.send("join", room)
        info, history = self.reply(), self.reply()
        assert info["response"] == "info" and info["content"].startswith("Joined #"), info
        assert history["response"] == "history", history
        return info["content"], history["content"]

    def notice(self, pattern, timeout=TIMEOUT):
        """Read until an ``info`` matching ``pattern``; return its content."""
        while True:
            payload = self.recv(timeout)
            if payload["response"] == "info" and re.search(pattern, payload["content"]):
                return payload["content"]


def expect_error(payload, pattern):
    assert payload["response"] == "error" and payload["sender"] == "server", payload
    assert re.search(pattern, payload["content"]), payload
    return payload["content"]


def expect_info(payload, pattern):
    assert payload["response"] == "info" and payload["sender"] == "server", payload
    assert re.search(pattern, payload["content"]), payload
    return payload["content"]


@pytest.fixture
def connect():
    clients = []

    def make(srv, name=None, newline=True):
        client = RoomClient(srv.port, newline=newline)
        clients.append(client)
        if name is not None:
            history = client.login(name)
            assert history["response"] == "history"
        return client

    yield make
    for client in clients:
        client.close()


def raw(request, content=None):
    return json.dumps({"request": request, "content": content}).encode() + b"\n"
