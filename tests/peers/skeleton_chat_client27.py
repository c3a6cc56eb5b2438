# -*- coding: utf-8 -*-
"""An interactive KTN chat client in the shape of the course skeleton (Python 2.7).

``skeleton_client27.py`` next to it is scripted (it runs a fixed scenario);
this one is what students hand in: a ``Client`` that reads lines typed by
the person (``raw_input``) and sends them as requests, and a
``MessageReceiver`` thread that does ``json.loads(sock.recv(4096))`` and
prints what a ``MessageParser`` makes of it. Its quirks, all common in
published clients (PROTOCOL.md section 2):

* one ``json.loads`` per ``recv``: two payloads in one read, or one split
  across reads, raise in the receiver thread, which dies; the person types
  on and sees nothing more;
* ``history`` entries are assumed to be objects, the timestamp and the
  content to be strings (concatenated), only the four standard response
  types are shown;
* text is printed raw, escape sequences included;
* after ``logout`` the receiver sees the close, but the main thread waits
  in ``raw_input`` for ever.

Usage: ``python2.7 skeleton_chat_client27.py HOST PORT``.
"""
import json
import socket
import sys
import threading


class MessageParser(object):

    def __init__(self):
        self.possible_responses = {
            'error': self.parse_error,
            'info': self.parse_info,
            'message': self.parse_message,
            'history': self.parse_history,
        }

    def parse(self, payload):
        payload = json.loads(payload)
        if payload['response'] in self.possible_responses:
            return self.possible_responses[payload['response']](payload)

    def parse_error(self, payload):
        return 'ERROR: ' + payload['content']

    def parse_info(self, payload):
        return 'INFO: ' + payload['content']

    def parse_message(self, payload):
        return payload['timestamp'] + ' ' + payload['sender'] + ': ' + payload['content']

    def parse_history(self, payload):
        return '\n'.join(self.parse_message(m) for m in payload['content'])


class MessageReceiver(threading.Thread):

    def __init__(self, client, connection):
        super(MessageReceiver, self).__init__()
        self.daemon = True
        self.client = client
        self.connection = connection

    def run(self):
        while True:
            data = self.connection.recv(4096)
            if not data:
                print 'Connection closed by the server'
                sys.stdout.flush()
                return
            self.client.receive_message(data)


class Client(object):

    def __init__(self, host, server_port):
        self.connection = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.host = host
        self.server_port = server_port
        self.parser = MessageParser()
        self.run()

    def run(self):
        self.connection.connect((self.host, self.server_port))
        MessageReceiver(self, self.connection).start()
        while True:
            try:
                line = raw_input()
            except EOFError:
                return
            if not line.strip():
                continue
            request, _, content = line.strip().partition(' ')
            self.send_payload(request, content or None)

    def receive_message(self, message):
        text = self.parser.parse(message)
        if text is not None:
            print text
            sys.stdout.flush()

    def send_payload(self, request, content):
        self.connection.sendall(json.dumps({'request': request, 'content': content}))


if __name__ == '__main__':
    Client(sys.argv[1], int(sys.argv[2]))
