# -*- coding: utf-8 -*-
"""A KTN chat server in the style of the course skeleton, for Python 2.7.

This is what most peer servers look like: ``SocketServer.ThreadingTCPServer``
with a thread per client, ``json.loads(self.connection.recv(4096))`` as the
reader (two requests in one read raise "Extra data" and kill the handler
thread), and ``json.dumps(payload)`` with no delimiter as the writer (so
"info" and "history" after a login go out back to back). Non-ASCII text is
escaped by ``json.dumps`` (``"\\u00e5"``).

Run it as ``python2.7 skeleton_server27.py [port]``; it prints
``listening on <port>`` on stdout once it accepts connections.
"""
import json
import re
import sys
import threading
import time

import SocketServer

clients = {}            # username -> handler
history = []            # every message payload, as dicts
lock = threading.Lock()


def now():
    return time.strftime("%d-%m-%Y %H:%M:%S")


def make(sender, response, content):
    return {"timestamp": now(), "sender": sender, "response": response, "content": content}


class ClientHandler(SocketServer.BaseRequestHandler):

    def handle(self):
        self.connection = self.request
        self.username = None
        try:
            while True:
                received_string = self.connection.recv(4096)
                if not received_string:
                    break
                payload = json.loads(received_string)   # naive, like the skeleton
                request = payload.get("request")
                content = payload.get("content")
                if request == "login":
                    self.login(content)
                elif request == "logout":
                    if self.username is None:
                        self.send(make("server", "error", "Not logged in"))
                    else:
                        self.send(make("server", "info", "Logged out"))
                        break
                elif request == "msg":
                    if self.username is None:
                        self.send(make("server", "error", "Not logged in"))
                    else:
                        message = make(self.username, "message", content)
                        with lock:
                            history.append(message)
                            targets = list(clients.values())
                        for handler in targets:
                            handler.send(message)
                elif request == "names":
                    with lock:
                        names = ", ".join(sorted(clients))
                    self.send(make("server", "info", names))
                elif request == "help":
                    self.send(make("server", "info",
                                   "login <username>, logout, msg <message>, names, help"))
                else:
                    self.send(make("server", "error", "Unknown request"))
        finally:
            with lock:
                if self.username is not None and clients.get(self.username) is self:
                    del clients[self.username]

    def login(self, name):
        if not isinstance(name, basestring) or not re.match(r"^[A-Za-z0-9]+$", name):
            self.send(make("server", "error", "Invalid username"))
            return
        with lock:
            if name in clients:
                taken = True
            else:
                taken = False
                clients[name] = self
                self.username = name
                old = list(history)
        if taken:
            self.send(make("server", "error", "Username taken"))
            return
        self.send(make("server", "info", "Login successful"))
        self.send(make("server", "history", old))

    def send(self, payload):
        self.connection.sendall(json.dumps(payload))


class ThreadedTCPServer(SocketServer.ThreadingMixIn, SocketServer.TCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9998
    server = ThreadedTCPServer(("127.0.0.1", port), ClientHandler)
    sys.stdout.write("listening on %d\n" % server.server_address[1])
    sys.stdout.flush()
    server.serve_forever()
