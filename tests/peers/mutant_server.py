"""A small KTN server that is correct, except for the one rule it is told to break.

The mutation tests of ``chat.check`` aim the checker at it: with no
mutation every standard and framing check must pass (the control), and
with each mutation the checker must fail and name the broken rule.

Thread per client, as most peer servers are written, but with a reader
that handles any framing (``raw_decode`` over a buffer). Usage::

    python3 mutant_server.py [--mutation NAME]

It prints ``listening on PORT`` once it accepts connections.
"""

import argparse
import json
import os
import re
import socket
import threading
import time

MUTATIONS = {
    "none": "correct",
    "no-echo": "a message is not sent back to its sender",
    "word-chars": r"usernames checked with \w+ (accepts _ and Unicode letters)",
    "newline-framing": "a request is read only when a newline ends it",
    "restamp": "history entries get a new timestamp at each login",
    "float-timestamp": "timestamps are time.time() floats",
    "unlogged-broadcast": "messages go to connections that never logged in",
    "keep-name": "a client that disconnects without logout keeps its name",
    "no-duplicate-check": "two clients may log in under the same name",
    "no-empty-history": "no history response when the history is empty",
    "names-before-login": "names is answered before login",
    "crash-on-msg": "the whole server exits on the first msg (halfway through a check)",
}

lock = threading.Lock()
users = {}          # case-folded name -> Handler
connections = set()
history = []        # message payloads (dicts)


def stamp(mutation):
    if mutation == "float-timestamp":
        return time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S")


class Handler:
    def __init__(self, sock, mutation):
        self.sock = sock
        self.mutation = mutation
        self.name = None
        self.send_lock = threading.Lock()

    def send(self, response, content, sender="server"):
        self.send_payload({"timestamp": stamp(self.mutation), "sender": sender,
                           "response": response, "content": content})

    def send_payload(self, payload):
        data = json.dumps(payload).encode() + b"\n"
        with self.send_lock:
            try:
                self.sock.sendall(data)
            except OSError:
                pass

    def requests(self):
        """Decoded requests (or ValueError for bad input) as they arrive."""
        buffer = b""
        decoder = json.JSONDecoder()
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            buffer += data
            if self.mutation == "newline-framing":
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    try:
                        yield json.loads(line)
                    except ValueError as exc:
                        yield exc
                continue
            while True:
                text = buffer.lstrip()
                if not text:
                    buffer = b""
                    break
                try:
                    value, end = decoder.raw_decode(text.decode("utf-8"))
                except UnicodeDecodeError:
                    buffer = text
                    break   # a split character: wait for the rest
                except ValueError as exc:
                    if text.count(b"{") > text.count(b"}"):
                        buffer = text
                        break   # incomplete: wait for more
                    yield exc
                    nxt = text.find(b"{", 1)
                    buffer = text[nxt:] if nxt > 0 else b""
                    continue
                buffer = text[len(text.decode("utf-8")[:end].encode("utf-8")):]
                yield value

    def run(self):
        with lock:
            connections.add(self)
        logged_out = False
        try:
            for request in self.requests():
                if isinstance(request, ValueError):
                    self.send("error", "invalid JSON")
                    continue
                if not isinstance(request, dict) or not isinstance(request.get("request"), str):
                    self.send("error", "not a request")
                    continue
                if self.handle(request["request"], request.get("content")):
                    logged_out = True
                    break
        finally:
            with lock:
                connections.discard(self)
                keep = self.mutation == "keep-name" and not logged_out
                if self.name and not keep and users.get(self.name.lower()) is self:
                    del users[self.name.lower()]
            self.sock.close()

    def handle(self, request, content):
        """Answer one request; True when the client logged out."""
        if request == "help":
            self.send("info", "login <name>, logout, msg <text>, names, help")
        elif request == "login":
            self.login(content)
        elif self.name is None and not (request == "names"
                                        and self.mutation == "names-before-login"):
            self.send("error", "not logged in")
        elif request == "logout":
            with lock:
                users.pop(self.name.lower(), None)
            self.send("info", "bye")
            return True
        elif request == "msg" and isinstance(content, str):
            self.message(content)
        elif request == "names":
            with lock:
                names = ", ".join(sorted(u.name for u in users.values()))
            self.send("info", names)
        else:
            self.send("error", "unknown request")
        return False

    def login(self, name):
        pattern = r"\w+" if self.mutation == "word-chars" else r"[A-Za-z0-9]+"
        if self.name is not None or not isinstance(name, str) or not re.fullmatch(pattern, name):
            self.send("error", "invalid username")
            return
        with lock:
            key = name.lower()
            if key in users and self.mutation != "no-duplicate-check":
                taken = True
            else:
                taken = False
                users[key] = self
                self.name = name
                old = [dict(m) for m in history]
        if taken:
            self.send("error", "Username taken")
            return
        if self.mutation == "restamp":
            for entry in old:
                entry["timestamp"] = stamp(self.mutation)
        self.send("info", "Login successful")
        if old or self.mutation != "no-empty-history":
            self.send("history", old)

    def message(self, text):
        if self.mutation == "crash-on-msg":
            os._exit(3)
        payload = {"timestamp": stamp(self.mutation), "sender": self.name,
                   "response": "message", "content": text}
        with lock:
            history.append(payload)
            if self.mutation == "unlogged-broadcast":
                targets = list(connections)
            else:
                targets = list(users.values())
        for target in targets:
            if target is self and self.mutation == "no-echo":
                continue
            target.send_payload(payload)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mutation", choices=sorted(MUTATIONS), default="none")
    args = parser.parse_args()
    listener = socket.create_server(("127.0.0.1", 0))
    print("listening on %d" % listener.getsockname()[1], flush=True)
    while True:
        sock, _ = listener.accept()
        handler = Handler(sock, args.mutation)
        threading.Thread(target=handler.run, daemon=True).start()


if __name__ == "__main__":
    main()
