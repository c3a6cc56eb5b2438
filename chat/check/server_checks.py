"""The server check: every check in the order it runs, and one entry point.

The order matters: the first login must come before any message (so an
empty history is seen on a fresh server), the messages before the framing
checks (which use the first user as an observer), and logout and the
abrupt disconnect last among the standard checks, since they end the users
the others need. The report groups the verdicts by kind whatever the order.
"""

import time

from . import server_framing as framing
from . import server_endings as endings
from . import server_peers as peers
from . import server_standard as std
from . import server_stress as stress
from .report import Report
from .server_session import Options, ServerSession

CHECKS = (
    ("standard", "help before login", std.help_before_login),
    ("standard", "requests before login", std.requests_before_login),
    ("standard", "login", std.login),
    ("standard", "history at login", std.history_at_login),
    ("standard", "username characters", std.username_rules),
    ("standard", "duplicate name", std.duplicate_name),
    ("standard", "duplicate name in another case", std.duplicate_name_other_case),
    ("standard", "message to everyone", std.messages),
    ("standard", "echo to the sender", std.echo_to_sender),
    ("standard", "nothing for clients not logged in", std.not_logged_in_get_nothing),
    ("standard", "names", std.names),
    ("framing", "request with no delimiter", framing.no_delimiter),
    ("framing", "two requests in one write", framing.two_requests_one_write),
    ("framing", "requests back to back", framing.back_to_back),
    ("framing", "request split across writes", framing.split_request),
    ("framing", "split inside a UTF-8 character", framing.split_utf8),
    ("standard", "history keeps earlier messages", endings.history_keeps_messages),
    ("standard", "logout", endings.logout),
    ("standard", "abrupt disconnect frees the name", endings.abrupt_disconnect),
    ("robustness", "invalid JSON", framing.invalid_json),
    ("robustness", "values that are not requests", framing.not_requests),
    ("robustness", "unknown request", framing.unknown_request),
    ("robustness", "oversized request", framing.oversized_request),
    ("peer compatibility", "one payload per read", peers.one_payload_per_read),
    ("standard", "response shape", endings.response_shape),
    ("standard", "timestamps are strings", endings.timestamps_are_strings),
    ("peer compatibility", "history entries are objects", peers.history_as_objects),
    ("peer compatibility", "timestamps peers can read", peers.timestamps_for_peers),
    ("peer compatibility", "ASCII on the wire", peers.ascii_wire),
    ("peer compatibility", "what the server looks like", peers.delimiter),
    ("extensions", "extension requests", peers.extensions),
)


def check_server(host, port, options=None, rng=None):
    """Run every server check against ``host:port``; return the ``Report``."""
    options = options or Options()
    rep = Report("server", "%s:%s%s" % (host, port, " (TLS)" if options.tls is not None else ""))
    session = ServerSession(host, port, options, rng)
    checks = CHECKS
    if options.stress:
        checks += (("robustness", "many clients at once (--stress)", stress.many_clients),)
    started = time.monotonic()
    try:
        session.run(checks, rep)
    finally:
        session.close_all()
    rep.duration = time.monotonic() - started
    rep.facts["connections"] = session.connections
    return rep
