"""Comparison baseline: the KTN chat server as plain asyncio (Protocol API).

This is the server a Python engineer would write without thinking about
performance: ``loop.create_server`` with one ``asyncio.Protocol`` instance per
connection, requests decoded with ``json.JSONDecoder().raw_decode`` on an
accumulated buffer, and one ``transport.write`` per payload.  The chat
semantics (``common.Chat``) are the same as our server's.

How it differs from our server (``chat.server``): it runs on asyncio's event
loop instead of our hand-written reactor; it has no pacing for naive readers
and never batches several payloads into one send; it has no flood control
(``--rate`` is accepted and ignored) and no output limits, so a client that
stops reading makes the server buffer without bound; after a JSON syntax
error it drops the whole buffer instead of resuming at the next ``{``.

    python3 -m bench.baselines.asyncio_server --host 127.0.0.1 --port 9998
"""

import asyncio
import logging
import signal
import sys

from .common import Chat, RequestBuffer, server_response
from .common import parse_args as shared_parse_args

log = logging.getLogger("baseline.asyncio")


class ChatProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, server):
        self.server = server
        self.chat = server.chat
        self.username = None
        self.transport = None
        self.reader = RequestBuffer()

    def connection_made(self, transport):
        self.transport = transport
        self.server.connections.add(self)

    def data_received(self, data):
        for request in self.reader.feed(data):
            if self.transport.is_closing():
                return
            self.chat.handle(self, request)
        if self.reader.overflow and not self.transport.is_closing():
            self.transport.write(server_response(
                "error", "Request too large; closing the connection"))
            self.chat.disconnect(self)
            self.transport.close()

    def connection_lost(self, exc):
        self.server.connections.discard(self)
        self.chat.disconnect(self)


class AsyncioChatServer:
    def __init__(self, history_limit=1000):
        self.loop = asyncio.get_running_loop()
        self.connections = set()
        self.flush_handle = None
        self.chat = Chat(send=self.send, close=self.close,
                         presence_pending=self.schedule_presence,
                         history_limit=history_limit)

    @staticmethod
    def send(conn, data):
        if not conn.transport.is_closing():
            conn.transport.write(data)

    @staticmethod
    def close(conn):
        conn.transport.close()      # writes what is buffered, then closes

    def schedule_presence(self):
        if self.flush_handle is None:
            self.flush_handle = self.loop.call_later(1.0, self.flush_presence)

    def flush_presence(self):
        self.flush_handle = None
        self.chat.flush_presence()

    def close_all(self):
        if self.flush_handle is not None:
            self.flush_handle.cancel()
        for conn in list(self.connections):
            conn.transport.abort()


async def serve(host, port, history_limit=1000, ready=None):
    chat_server = AsyncioChatServer(history_limit)
    loop = asyncio.get_running_loop()
    # The listen backlog matches our server's (1024), so a login storm
    # measures how each server handles logins, not SYN retransmits.
    server = await loop.create_server(lambda: ChatProtocol(chat_server),
                                      host, port, reuse_address=True, backlog=1024)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready(server.sockets[0].getsockname())
    try:
        await stop.wait()
    finally:
        server.close()
        chat_server.close_all()
    return 0


def parse_args(argv=None):
    return shared_parse_args("asyncio Protocol API", argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return asyncio.run(serve(
            args.host, args.port, args.history_limit,
            ready=lambda addr: log.info("listening on %s:%s", *addr[:2])))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
