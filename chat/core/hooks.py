"""What the glue hears from the core besides effects: ``CoreHooks``.

Theory of operation
-------------------
Effects answer a request; a few things the core does are news to the glue
whatever the request was: a name was freed (a logout, a kick, a dropped
connection), a session entered or left a room, a password attempt failed;
and the security events an audit log records.
A single server needs none of it; a cluster node tells the other nodes.
The glue hands a ``CoreHooks`` to ``ChatCore`` at construction; the
defaults here do nothing. The core calls them after its own state has
changed, and a hook never changes the core's state from inside the call.
"""


class CoreHooks:
    """The no-op hooks of a single server; the glue overrides what it needs."""

    def name_freed(self, key):
        """The case-folded name ``key`` is no longer logged in here."""

    def moved(self, session, room, entered, notice):
        """``session`` entered (``entered``) or left ``room``; ``notice``:
        whether the room is told (false for a kick's silent exit)."""

    def login_failed(self, group, name):
        """A password attempt for ``name`` from address group ``group``
        failed here (counted already)."""

    def audit(self, event, address, name, by=None):
        """A security event (``register``, ``login_failed``, ``oper``, ``ban``...)
        about ``name`` from ``address``; ``by``: the operator who acted.
        Never a password, never message text."""

    def room_dropped(self, room, by):
        """An operator named ``by`` dropped ``room`` here (its users here
        are in #lobby, it is gone from memory and the store)."""

    def history_budget_exceeded(self, held, limit):
        """The rooms with members alone hold ``held`` bytes of history, over
        the ``limit`` (issue 21): new rooms are refused; the glue logs it."""
