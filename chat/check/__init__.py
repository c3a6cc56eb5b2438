"""The KTN conformance checker: aim it at any server or client.

``python3 -m chat.check server HOST:PORT`` talks to a server over TCP;
``python3 -m chat.check client -- CMD`` runs a client under a
pseudo-terminal against a checking server. Both print a report of
verdicts (pass / fail / warn / info) with what was sent, what came back and
which rule of PROTOCOL.md it breaks, and exit 0 only when every standard
and framing check passed.

Modules: ``report`` (verdicts, text and JSON), ``wire`` (connections and
bounded waits on our event loop), ``shapes`` (what a response must look
like), ``server_*`` (the server checks), ``terminal`` and ``client_*``
(the client checks), ``__main__`` (the command line).
"""
