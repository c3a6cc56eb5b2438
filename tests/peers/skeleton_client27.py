# -*- coding: utf-8 -*-
"""A naive KTN peer client in the style of the course skeleton (Python 2.7).

It behaves like most published clients of the protocol (PROTOCOL.md,
section 2): every request is ``sock.sendall(json.dumps(payload))`` with no
delimiter, and every response is read with ``json.loads(sock.recv(4096))``,
one recv per expected payload. When two payloads arrive in one read,
``json.loads`` raises "Extra data" and this client crashes with a traceback
and a non-zero exit status, like the real ones.

Usage::

    python2.7 skeleton_client27.py HOST PORT SCENARIO USERNAME [COUNT]

Scenarios:

* ``session``: login (info, then history, each in a read of its own), msg,
  names, help, logout, then wait for the server to close.
* ``chat``: login, then read until COUNT ``message`` responses arrived,
  then logout and wait for the close.
* ``login``: login and read the two responses, then exit.
* ``rooms``: login, then the extension requests a "stupid" client can send
  (PROTOCOL.md section 4): join #dev (info, then history, each in a read
  of its own), msg there, leave (info, then the lobby's history), logout.

Every response received is printed to stdout as one JSON line
``{"event": "recv", "payload": ...}``; the close as ``{"event": "closed"}``;
and ``{"event": "done"}`` at the end. Exit status 0 on success.
"""

import json
import socket
import sys


class MessageParser(object):
    """The skeleton's parser: one json.loads per received chunk."""

    def parse(self, data):
        payload = json.loads(data)          # "Extra data" when two arrive
        if not isinstance(payload, dict) or 'response' not in payload:
            raise ValueError('not a response: %r' % (data,))
        if payload['response'] == 'history':
            for entry in payload['content']:
                if not isinstance(entry, dict):  # some clients json.loads them
                    raise ValueError('history entry is not an object: %r' % (entry,))
        return payload


class Client(object):
    """The skeleton's client: connect, send payloads, receive payloads."""

    def __init__(self, host, server_port):
        self.connection = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.host = host
        self.server_port = server_port
        self.parser = MessageParser()
        self.connection.settimeout(10.0)
        self.run()

    def run(self):
        self.connection.connect((self.host, self.server_port))

    def disconnect(self):
        self.connection.close()

    def send_payload(self, request, content=None):
        self.connection.sendall(json.dumps({'request': request, 'content': content}))

    def receive_message(self):
        data = self.connection.recv(4096)
        if not data:
            emit({'event': 'closed'})
            return None
        payload = self.parser.parse(data)
        emit({'event': 'recv', 'payload': payload})
        return payload


def emit(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


def expect(client, response):
    """Receive one payload; it must be of the given response type."""
    payload = client.receive_message()
    if payload is None or payload['response'] != response:
        raise AssertionError('expected %s, got %r' % (response, payload))
    return payload


def login(client, username):
    client.send_payload('login', username)
    info = expect(client, 'info')
    if info['content'] != 'Login successful':
        raise AssertionError('login failed: %r' % (info,))
    expect(client, 'history')


def logout(client):
    client.send_payload('logout', None)
    while client.receive_message() is not None:
        pass


def session(client, username):
    login(client, username)
    client.send_payload('msg', u'hello from 2.7 \xe5')
    message = expect(client, 'message')
    if message['sender'] != username:
        raise AssertionError('wrong sender: %r' % (message,))
    client.send_payload('names', None)
    expect(client, 'info')
    client.send_payload('help', None)
    expect(client, 'info')
    logout(client)


def chat(client, username, count):
    login(client, username)
    received = 0
    while received < count:
        payload = client.receive_message()
        if payload is None:
            raise AssertionError('closed after %d of %d messages' % (received, count))
        if payload['response'] == 'message':
            received += 1
    logout(client)


def rooms(client, username):
    login(client, username)
    client.send_payload('join', 'dev')
    expect(client, 'info')
    expect(client, 'history')
    client.send_payload('msg', u'hello #dev')
    expect(client, 'message')
    client.send_payload('leave', None)
    expect(client, 'info')
    expect(client, 'history')
    logout(client)


def main(argv):
    host, port, scenario, username = argv[1], int(argv[2]), argv[3], argv[4]
    client = Client(host, port)
    if scenario == 'session':
        session(client, username)
    elif scenario == 'chat':
        chat(client, username, int(argv[5]))
    elif scenario == 'login':
        login(client, username)
    elif scenario == 'rooms':
        rooms(client, username)
    else:
        raise SystemExit('unknown scenario %r' % scenario)
    client.disconnect()
    emit({'event': 'done'})
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
