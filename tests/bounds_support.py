"""Load for the issue 21 tests, run in a process of its own so the test's
own measurements do not share a thread with it.

``python3 tests/bounds_support.py PORT USERS REQUESTS``: USERS clients log
in, each pipelines REQUESTS ``names`` at once and reads every answer;
prints "ready" once all are logged in and "done" once every answer
arrived (or exits 1 after its deadline). Bounded in count and time.
"""

import json
import selectors
import socket
import sys
import time

DEADLINE = 120.0


def request(name, content=None):
    return json.dumps({"request": name, "content": content}).encode() + b"\n"


def names_flood(port, users, requests, out=sys.stdout):
    started = time.monotonic()
    selector = selectors.DefaultSelector()
    socks = []
    for i in range(users):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(request("login", "flood%d" % i))
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, None)
        socks.append(sock)
    _read_until(selector, b'"response": "history"', 1, started)
    print("ready", flush=True, file=out)
    burst = request("names") * requests
    for sock in socks:
        sock.setblocking(True)
        sock.sendall(burst)
        sock.setblocking(False)
    _read_until(selector, b"Users online (", requests, started)
    print("done", flush=True, file=out)
    for sock in socks:
        sock.close()


def _read_until(selector, marker, count, started):
    """Read every socket until ``marker`` arrived ``count`` times on each."""
    state = {key.fileobj: [0, b""] for key in selector.get_map().values()}
    waiting = len(state)
    while waiting:
        if time.monotonic() - started > DEADLINE:
            raise SystemExit("flood: deadline passed with %d clients waiting" % waiting)
        for key, _ in selector.select(1.0):
            data = key.fileobj.recv(1 << 20)
            if not data:
                raise SystemExit("flood: the server closed a connection")
            seen = state[key.fileobj]
            text = seen[1] + data
            before = seen[0] >= count
            seen[0] += text.count(marker)
            seen[1] = text[-(len(marker) - 1):]
            if seen[0] >= count and not before:
                waiting -= 1


if __name__ == "__main__":
    names_flood(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
