"""The server's web face: the web client's files, /healthz, and /chat.

Theory of operation
-------------------
With ``--http-port`` the server listens for HTTP too (``reactor.web``). One
``WebRoutes`` per connection answers its requests:

* ``GET /`` (and ``/app.js``, ``/style.css``): the web client, three
  static files shipped in ``chat/server/web/``, read once at start-up,
  served with a strict Content-Security-Policy (scripts, styles and
  connections from this origin only; no inline code, no frames);
* ``GET /healthz``: 200 while the server accepts logins, 503 while it is
  shutting down or a cluster node's gate is closed (for load balancers);
* ``GET /metrics``: the Prometheus text format (``chat/server/metrics.py``),
  to the networks of ``--metrics-allow`` only;
* ``GET /chat``: the WebSocket. The upgraded connection is an ordinary
  ``ClientConnection`` over a ``WebSocketLayer``: admission, every cap,
  flood control, the login deadline, the close deadline and the slow
  consumer rule apply as on TCP. Each text frame is one request and each
  response one text frame; frames delimit payloads, and the layer ends
  each frame with a newline, so the connection streams from its first
  request (no pacing is needed).

Browsers send ``Origin``; a WebSocket from a page of another site is
refused (403) unless ``--web-origin`` lists that origin, so no other site
can use a visitor's browser to chat here. By default the allowed origin is
this server's own (the request's ``Host``, over http or https). Clients
that send no ``Origin`` (not browsers) are not subject to it.
"""

import logging
import os

from reactor import http
from reactor.tcp import listen
from reactor.web import LINGER, HttpConnection, WebSocketUpgrade

from .connection import ClientConnection
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .proxy_protocol import is_trusted

log = logging.getLogger("chat.server")

WEB_FILES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")
#: path -> (file name, content type)
STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/index.html": ("index.html", "text/html; charset=utf-8"),
          "/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/style.css": ("style.css", "text/css; charset=utf-8")}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = [("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
                    ("Referrer-Policy", "no-referrer"), ("Cache-Control", "no-cache")]


def listen_web(server):
    """The web listeners the options ask for: plain HTTP on ``--http-port``,
    HTTPS (so browsers use ``wss://``) on ``--https-port`` with the TLS
    listener's certificate. Each logs its URL."""
    config = server.config
    files = load_web_files()
    origins = [origin.strip().rstrip("/").lower() for origin in config.web_origins]

    def http_connection(address):
        routes = WebRoutes(server, address, files, origins)
        return HttpConnection(server.loop, routes.route, config.max_request_size,
                              config.http_timeout, config.http_timeout,
                              linger=config.close_deadline or LINGER)   # 0: bounded all the same
    listeners = []
    if config.http_port is not None:
        listeners.append(listen(server.loop, config.host, config.http_port, http_connection))
        log.info("web client on http://%s:%d/", *listeners[-1].address[:2])
    if config.https_port is not None:
        tls = server.tls
        listeners.append(listen(server.loop, config.host, config.https_port,
                                lambda address: tls.wrap(http_connection(address))))
        log.info("web client on https://%s:%d/", *listeners[-1].address[:2])
    return listeners


def load_web_files():
    """{file name: bytes} of the web client (read once, at start-up)."""
    files = {}
    for name, _kind in STATIC.values():
        with open(os.path.join(WEB_FILES, name), "rb") as f:
            files[name] = f.read()
    return files


def allowed_origin(origin, host, allowed):
    """Whether a browser page from ``origin`` may open the WebSocket."""
    if origin is None:
        return True   # not a browser: no visitor to protect
    origin = origin.strip().rstrip("/").lower()
    if allowed:
        return origin in allowed
    return host is not None and origin in ("http://" + host.lower(), "https://" + host.lower())


class WebRoutes:
    """Answers the requests of one HTTP connection (see the module docstring)."""

    def __init__(self, server, address, files, origins):
        self.server = server
        self.address = address
        self.files = files
        self.origins = origins   # the allowed browser origins, lower case (empty: our own)

    def route(self, request):
        head_only = request.method == "HEAD"
        path = request.path
        if path in STATIC:
            name, kind = STATIC[path]
            return self._answer(200, self.files[name], kind, head_only)
        if path == "/metrics":
            if not is_trusted(self.address[0], self.server.config.metrics_allow):
                return self._answer(403, b"not for your network\n", "text/plain; charset=utf-8",
                                    head_only)
            return self._answer(200, self.server.metrics.render(), METRICS_CONTENT_TYPE,
                                head_only)
        if path == "/healthz":
            ready, why = self.server.accepting_logins()
            return self._answer(200 if ready else 503, (why + "\n").encode(),
                                "text/plain; charset=utf-8", head_only)
        if path == "/chat":
            if not allowed_origin(request.header("origin"), request.header("host"), self.origins):
                log.info("%s: WebSocket refused: origin %s", self.address[0],
                         (request.header("origin") or "")[:100])
                return self._answer(403, b"origin not allowed\n", "text/plain; charset=utf-8",
                                    head_only)
            return WebSocketUpgrade(ClientConnection(self.server, self.address),
                                    [])
        return self._answer(404, b"not found\n", "text/plain; charset=utf-8", head_only)

    @staticmethod
    def _answer(status, body, kind, head_only):
        return http.response(status, [("Content-Type", kind), *SECURITY_HEADERS], body,
                             head_only=head_only)
