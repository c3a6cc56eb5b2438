"""Password logins a second in a reconnect storm (issue 20).

    python3 -m bench.passwords [--root DIR] [--accounts N] [--runs R] [-- SERVER OPTIONS]

Starts ``python3 -m chat.server`` from ``--root`` (this tree by default;
another checkout measures the code before a change, side by side), registers
``--accounts`` names from loopback, then reconnects them all at once with
their passwords, as after a restart, and reports per run: the password
logins a second, and the median and worst answer time of a bystander's
``names`` requests sent throughout the storm (whether the loop stays
responsive while hashes are computed). Medians over ``--runs``.
Loopback only; bounded in count and time.
"""

import argparse
import json
import os
import re
import selectors
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "bench-password-1"
PRESENCE = re.compile(r"(joined|left)(;|$)")


def start(root, extra):
    proc = subprocess.Popen([sys.executable, "-u", "-m", "chat.server", "--port", "0",
                             "--rate", "0", "--max-per-ip", "0", *extra], cwd=root,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    line = b""
    while b"listening on" not in line:
        line = proc.stderr.readline()
        if not line:
            raise SystemExit("server did not start")
    threading.Thread(target=proc.stderr.read, daemon=True).start()   # keep the pipe drained
    return proc, int(re.search(rb":(\d+)", line.split(b"listening on")[1]).group(1))


def request(sock, buf, name, content):
    sock.sendall(json.dumps({"request": name, "content": content}).encode() + b"\n")


def replies(sock, buf, count, timeout=120):
    deadline = time.monotonic() + timeout
    out = []
    while len(out) < count:
        while b"\n" not in buf[0]:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = sock.recv(65536)
            if not data:
                raise SystemExit("closed")
            buf[0] += data
        line, buf[0] = buf[0].split(b"\n", 1)
        out.append(json.loads(line))
    return out


def storm(port, names):
    socks = []
    for name in names:
        sock = socket.create_connection(("127.0.0.1", port))
        socks.append(sock)
    bystander = socket.create_connection(("127.0.0.1", port))
    bbuf = [b""]
    request(bystander, bbuf, "login", "bystander")
    replies(bystander, bbuf, 2)
    sel = selectors.DefaultSelector()
    pending = {}
    t0 = time.monotonic()
    for sock, name in zip(socks, names):
        sock.sendall(json.dumps({"request": "login", "content": "%s %s" % (name, PASSWORD)})
                     .encode() + b"\n")
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ, [b""])
        pending[sock] = name
    ok = failed = 0
    latencies = []
    sent = None
    bystander.setblocking(False)
    sel.register(bystander, selectors.EVENT_READ, bbuf)
    while pending:
        if sent is None:
            bystander.sendall(b'{"request": "names", "content": null}\n')
            sent = time.monotonic()
        for key, _ in sel.select(60):
            sock, buf = key.fileobj, key.data
            buf[0] += sock.recv(65536)
            while b"\n" in buf[0]:
                line, buf[0] = buf[0].split(b"\n", 1)
                payload = json.loads(line)
                if sock is bystander:
                    if sent is not None and not PRESENCE.search(str(payload["content"])):
                        latencies.append(time.monotonic() - sent)   # the names answer
                        sent = None
                elif sock in pending and payload["response"] in ("info", "error"):
                    if payload["content"] == "Login successful":
                        ok += 1
                    else:
                        failed += 1
                    del pending[sock]
    elapsed = time.monotonic() - t0
    for sock in socks + [bystander]:
        sock.close()
    return ok, failed, elapsed, latencies


def one_run(root, accounts, extra):
    proc, port = start(root, extra)
    try:
        names = ["u%d" % i for i in range(accounts)]
        for name in names:
            sock = socket.create_connection(("127.0.0.1", port))
            buf = [b""]
            request(sock, buf, "login", name)
            replies(sock, buf, 2)
            request(sock, buf, "register", PASSWORD)
            answer = replies(sock, buf, 1)[0]
            while "registered" not in answer["content"] and "busy" in answer["content"]:
                request(sock, buf, "register", PASSWORD)   # main's hash budget
                answer = replies(sock, buf, 1)[0]
            sock.close()
        ok, failed, elapsed, latencies = storm(port, names)
        return {"ok": ok, "failed": failed, "logins_per_s": ok / elapsed,
                "names_median_ms": 1000 * statistics.median(latencies) if latencies else None,
                "names_max_ms": 1000 * max(latencies) if latencies else None}
    finally:
        proc.terminate()
        proc.wait(10)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m bench.passwords", description=__doc__.split(
        "\n\n")[0])
    p.add_argument("--root", default=ROOT, help="the checkout whose server to run")
    p.add_argument("--accounts", type=int, default=100)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("server_args", nargs="*", help="after --: options for the server")
    args = p.parse_args(argv)
    runs = [one_run(args.root, args.accounts, args.server_args) for _ in range(args.runs)]
    summary = {key: statistics.median(r[key] for r in runs if r[key] is not None)
               for key in runs[0] if any(r[key] is not None for r in runs)}
    print(json.dumps({"root": args.root, "server_args": args.server_args, "runs": runs,
                      "median": summary}, indent=1))


if __name__ == "__main__":
    main()
