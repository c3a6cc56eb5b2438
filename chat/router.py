"""The request table: name -> handler, and the checks every request shares.

Theory of operation
-------------------
One ``Route`` per request says what it is called, whether it takes an
argument, whether the session must be logged in, and one line of help. The
``Router`` checks a ``Request`` against its route (known name, login state,
content type) and calls the handler with the cleaned argument; anything
that fails a check becomes a ``RequestError`` whose text goes back to the
client. ``help_text()`` is generated from the same table, so a request
cannot be added without being listed.

``TABLE`` is the server's table: the core supplies one handler per name
(``build_router``), and a name without a handler is a start-up error.
"""

from .protocol import NO_ARGUMENT, RequestError, describe_type


#: Every request the server supports, in the order ``help`` lists them:
#: (name, argument or None, needs login, one line of help). ``{...}`` in the
#: help text is filled from the core's limits.
TABLE = [
    ("login", "<username>", False,
     "log in under that name (1-{max_username_length} letters A-Z, a-z or digits)"),
    ("logout", None, True, "log out and disconnect"),
    ("msg", "<message>", True,
     "send a message to everyone (at most {max_message_length} characters)"),
    ("names", None, True, "list the users logged in"),
    ("help", None, False, "show this help"),
]


def build_router(handlers, **values):
    """The router for ``TABLE`` with ``handlers`` (name -> callable)."""
    missing = [row[0] for row in TABLE if row[0] not in handlers]
    if missing:
        raise ValueError("no handler for %s" % ", ".join(missing))
    return Router([Route(name, handlers[name], argument, needs_login, summary.format(**values))
                   for name, argument, needs_login, summary in TABLE])


class Route:
    """One request the server supports."""

    __slots__ = ("name", "handler", "argument", "needs_login", "summary")

    def __init__(self, name, handler, argument, needs_login, summary):
        self.name = name
        self.handler = handler        # handler(session, argument)
        self.argument = argument      # e.g. "<username>", or None: takes none
        self.needs_login = needs_login
        self.summary = summary

    def usage(self):
        return self.name if self.argument is None else "%s %s" % (self.name, self.argument)


class Router:
    """Dispatches checked requests to the handlers of a route table."""

    def __init__(self, routes):
        self.routes = {route.name: route for route in routes}

    def dispatch(self, session, request):
        """Run the handler for ``request``; return what it returns."""
        route = self.routes.get(request.name)
        if route is None:
            raise RequestError("unknown request %r; send 'help' for the list"
                               % _shorten(request.name))
        if route.needs_login and not session.logged_in:
            raise RequestError("not logged in: only login and help are allowed "
                               "before 'login <username>'")
        return route.handler(session, self._argument(route, request.content))

    @staticmethod
    def _argument(route, content):
        if route.argument is None:
            # Peers spell "no argument" several ways; other strings are
            # tolerated and ignored, other types are a mistake worth naming.
            if content in NO_ARGUMENT or isinstance(content, str):
                return None
            raise RequestError("%s takes no argument: 'content' must be null, not %s"
                               % (route.name, describe_type(content)))
        if not isinstance(content, str):
            raise RequestError("%s needs %s: 'content' must be a string, not %s"
                               % (route.name, route.argument, describe_type(content)))
        return content

    def help_text(self):
        """Every request with its argument and summary, one per line."""
        width = max(len(route.usage()) for route in self.routes.values())
        lines = ["Requests (send {\"request\": <name>, \"content\": <argument or null>}):"]
        for route in self.routes.values():
            lines.append("  %s  %s" % (route.usage().ljust(width), route.summary))
        return "\n".join(lines)


def _shorten(text, limit=40):
    return text if len(text) <= limit else text[:limit] + "..."
