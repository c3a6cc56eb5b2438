"""A line-mode KTN client with one chosen flaw, for the client check's mutation tests.

It reads lines from the terminal (``login x``, ``msg text``, ``names``,
``help``, ``logout``) and prints what the server says, one line per
payload, in one loop over stdin and the socket. Usage::

    python3 naive_client.py HOST PORT [--flaw loads-each-recv|raw-escapes]

* ``loads-each-recv``: ``json.loads(sock.recv(4096))``, as most published
  clients do: two payloads in one read ("Extra data") or a payload split
  across reads crash it.
* ``raw-escapes``: prints what arrives without neutralising control
  characters, so the server's text can drive the terminal.

Without a flaw it buffers the stream properly and shows control characters
as ``repr`` would. ``--ask-names`` makes it ask for the names on its own
once the login is answered, as full-screen clients do for their user list.
"""

import argparse
import codecs
import json
import select
import socket
import sys


def show(payload, raw):
    if not isinstance(payload, dict):
        return
    kind = payload.get("response")
    if kind == "history":
        for entry in payload.get("content") or []:
            show(json.loads(entry) if isinstance(entry, str) else entry, raw)
        return
    text = "%s %s: %s" % (payload.get("timestamp"), payload.get("sender"), payload.get("content"))
    if not raw:
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def request(line):
    word, _, rest = line.strip().partition(" ")
    return {"request": word, "content": rest or None}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--flaw", choices=("none", "loads-each-recv", "raw-escapes"),
                        default="none")
    parser.add_argument("--ask-names", action="store_true")
    args = parser.parse_args()
    ask_names = args.ask_names
    sock = socket.create_connection((args.host, args.port))
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")("replace")
    buffer = ""
    stdin = sys.stdin.buffer.raw
    while True:
        ready, _, _ = select.select([sock, stdin], [], [])
        if stdin in ready:
            data = stdin.read(4096)
            if not data:
                return 0
            for line in data.decode().splitlines():
                if line.strip():
                    sock.sendall(json.dumps(request(line)).encode())
        if sock in ready:
            data = sock.recv(4096)
            if not data:
                return 0
            if ask_names:
                ask_names = False
                sock.sendall(json.dumps(request("names")).encode())
            if args.flaw == "loads-each-recv":
                show(json.loads(data.decode()), raw=False)
                continue
            buffer += utf8.decode(data)
            while buffer.strip():
                try:
                    payload, end = decoder.raw_decode(buffer.lstrip())
                except ValueError:
                    break
                buffer = buffer.lstrip()[end:]
                show(payload, raw=args.flaw == "raw-escapes")


if __name__ == "__main__":
    sys.exit(main())
