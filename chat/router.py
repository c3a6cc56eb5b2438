"""The request table: name -> handler, and the checks every request shares.

Theory of operation
-------------------
One ``Route`` per request says what it is called, whether it takes an
argument, whether the session must be logged in, and one line of help. The
``Router`` checks a ``Request`` against its route (known name, login state,
content type) and calls the handler with the cleaned argument; anything
that fails a check becomes a ``RequestError`` whose text goes back to the
client. ``help_text()`` and ``help_about()`` are generated from the same
table, so a request cannot be added without being listed.

``help`` stays under 1 KiB on the wire (PROTOCOL.md section 3): several
published clients read with ``recv(1024)`` and ``json.loads`` each read.
So it gives the five standard requests with their summaries and names the
extensions on one "more:" line; ``help <request>`` gives one request's
usage and rules.

``TABLE`` is the server's table: the core supplies one handler per name
(``build_router``), and a name without a handler is a start-up error.
"""

from .protocol import NO_ARGUMENT, RequestError, describe_type


#: Who may use a request.
ANYONE, USER, OPERATOR = "anyone", "logged in", "operator"
#: The requests of PROTOCOL.md section 1, listed in full by ``help``.
STANDARD = ("login", "logout", "msg", "names", "help")

#: Every request the server supports, in the order ``help`` lists them:
#: (name, argument or None, who may use it, one line of help). ``{...}`` in
#: the help text is filled from the core's limits. The five standard
#: requests come first; the rest are PROTOCOL.md section 4.
TABLE = [
    ("login", "<username>", ANYONE,
     "log in under that name (1-{max_username_length} letters A-Z, a-z or digits); "
     "a registered name: login <name> <password>"),
    ("logout", None, USER, "log out and disconnect"),
    ("msg", "<message>", USER,
     "send a message to everyone in your room (at most {max_message_length} characters)"),
    ("names", None, USER, "list the users in your room"),
    ("help", "[request]", ANYONE, "this list, or the usage and rules of one request"),
    ("join", "<room>", USER, "go to that room (#name, created if new), get its history"),
    ("leave", None, USER, "go back to #lobby"),
    ("rooms", None, USER, "list the rooms with users in them"),
    ("pm", "<name> <text>", USER, "send a private message to one user, in any room"),
    ("register", "<password>", USER,
     "claim your name: from then on it needs the password ({min_password}-{max_password} "
     "characters, no spaces)"),
    ("password", "<old> <new>", USER, "change the password of your registered name"),
    ("oper", "<password>", USER, "become an operator with the server's operator password"),
    ("kick", "<name> [reason]", OPERATOR, "disconnect a user (operators)"),
    ("ban", "<name> [reason]", OPERATOR,
     "disconnect a user and refuse the name and its address from now on (operators)"),
    ("unban", "<name>", OPERATOR, "lift a ban (operators)"),
    ("bans", None, OPERATOR, "list the bans (operators)"),
    ("purge", "<name>", OPERATOR,
     "remove a user's messages from your room's history (operators)"),
    ("drop", "<room>", OPERATOR,
     "delete a room and its history, its users moved to #lobby (operators)"),
]


def build_router(handlers, **values):
    """The router for ``TABLE`` with ``handlers`` (name -> callable)."""
    missing = [row[0] for row in TABLE if row[0] not in handlers]
    if missing:
        raise ValueError("no handler for %s" % ", ".join(missing))
    return Router([Route(name, handlers[name], argument, access != ANYONE,
                         summary.format(**values), needs_operator=access == OPERATOR)
                   for name, argument, access, summary in TABLE])


class Route:
    """One request the server supports."""

    __slots__ = ("name", "handler", "argument", "needs_login", "needs_operator", "summary",
                 "needs_text")

    def __init__(self, name, handler, argument, needs_login, summary, needs_operator=False):
        self.name = name
        self.handler = handler        # handler(session, argument)
        self.argument = argument      # e.g. "<username>", or None: takes none
        self.needs_login = needs_login
        self.needs_operator = needs_operator
        self.summary = summary
        # a required argument: any string passes as it is (msg, join, login...)
        self.needs_text = argument is not None and not argument.startswith("[")

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
        if route.needs_operator and not session.operator:
            raise RequestError("%s needs operator rights" % route.name)
        content = request.content
        if not (route.needs_text and isinstance(content, str)):   # else it is the argument
            content = self._argument(route, content)
        return route.handler(session, content)

    @staticmethod
    def _argument(route, content):
        if route.argument is not None and route.argument.startswith("["):
            # An optional argument: no argument in any spelling, or a string.
            if content in NO_ARGUMENT:
                return None
            if isinstance(content, str):
                return content
            raise RequestError("%s takes no argument or %s: 'content' must be null or a "
                               "string, not %s" % (route.name, route.argument,
                                                   describe_type(content)))
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
        """The standard requests with their summaries; the others named on
        one line. Under 1 KiB on the wire (the module docstring says why)."""
        standard = [route for route in self.routes.values() if route.name in STANDARD]
        width = max(len(route.usage()) for route in standard)
        lines = ["Requests (send {\"request\": <name>, \"content\": <argument or null>}):"]
        for route in standard:
            lines.append("  %s  %s" % (route.usage().ljust(width), route.summary))
        more = [name for name in self.routes if name not in STANDARD]
        if more:
            lines.append("more: %s (help <request> for details)" % " ".join(more))
        return "\n".join(lines)

    def help_about(self, name):
        """One request's usage, who may use it, and its rules."""
        route = self.routes.get(name.strip().lstrip("/").lower())
        if route is None:
            raise RequestError("no request %r to explain; send 'help' for the list"
                               % _shorten(name))
        who = ("operators only" if route.needs_operator
               else "once logged in" if route.needs_login else "anyone")
        return "%s (%s): %s" % (route.usage(), who, route.summary)


def _shorten(text, limit=40):
    return text if len(text) <= limit else text[:limit] + "..."
