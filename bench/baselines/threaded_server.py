"""Comparison baseline: the KTN chat server as thread-per-client socketserver.

This is the shape of the NTNU TTM4100 course skeleton, done carefully: a
``socketserver.ThreadingTCPServer`` starts one thread per client, whose
``BaseRequestHandler.handle()`` loops on ``recv(4096)``.  Shared state (the
users, the history, pending presence) sits behind one lock, and every send is
a blocking ``sendall`` on the recipient's socket, made from the sender's
thread while it holds that lock (so payloads never interleave and everyone
sees messages in history order).  The chat semantics (``common.Chat``) are
the same as our server's.

How it differs from our server (``chat.server``): one OS thread per client
instead of one event loop; a client that stops reading blocks the thread that
sends to it, and since sends happen under the lock, every other sender with
it (head-of-line blocking); no pacing for naive readers, no batching, no
flood control (``--rate`` is accepted and ignored), no output limits; after a
JSON syntax error it drops the whole buffer instead of resuming at the next
``{``.  Presence notices are flushed by a daemon timer thread once a second.

    python3 -m bench.baselines.threaded_server --host 127.0.0.1 --port 9998
"""

import logging
import signal
import socket
import socketserver
import sys
import threading

from .common import Chat, RequestBuffer, server_response
from .common import parse_args as shared_parse_args

log = logging.getLogger("baseline.threaded")


class ClientHandler(socketserver.BaseRequestHandler):
    """One client connection, served by its own thread."""

    def setup(self):
        # asyncio sets TCP_NODELAY on every TCP transport; do the same so the
        # comparison is about threads, not Nagle's algorithm.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.username = None
        self.done = False
        self.reader = RequestBuffer()

    def handle(self):
        server = self.server
        while not self.done:
            try:
                data = self.request.recv(4096)
            except OSError:
                break
            if not data:
                break
            with server.lock:
                for request in self.reader.feed(data):
                    if self.done:
                        break
                    server.chat.handle(self, request)
                if self.reader.overflow and not self.done:
                    server.send(self, server_response(
                        "error", "Request too large; closing the connection"))
                    server.chat.disconnect(self)
                    self.done = True

    def finish(self):
        with self.server.lock:
            self.server.chat.disconnect(self)


class ThreadedChatServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 1024  # the listen backlog, as our server's

    def __init__(self, address, history_limit=1000):
        super().__init__(address, ClientHandler)
        self.lock = threading.Lock()
        self.chat = Chat(send=self.send, close=self.close,
                         history_limit=history_limit)
        self.stopping = threading.Event()
        self.presence_thread = threading.Thread(
            target=self.presence_loop, name="presence", daemon=True)
        self.presence_thread.start()

    @staticmethod
    def send(conn, data):
        """Called with the lock held, from whichever thread produced data."""
        try:
            conn.request.sendall(data)
        except OSError:
            pass        # the peer is gone; its own thread will notice

    @staticmethod
    def close(conn):
        conn.done = True    # handle() returns; socketserver shuts the socket

    def presence_loop(self):
        while not self.stopping.wait(1.0):
            with self.lock:
                self.chat.flush_presence()

    def server_close(self):
        self.stopping.set()
        super().server_close()


def parse_args(argv=None):
    return shared_parse_args("thread per client", argv)


def _exit(signum, frame):
    raise SystemExit(0)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    server = ThreadedChatServer((args.host, args.port), args.history_limit)
    log.info("listening on %s:%s", *server.server_address[:2])
    try:
        server.serve_forever(poll_interval=0.5)
    except SystemExit:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
