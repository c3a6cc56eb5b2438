"""Coalesced presence: who joined and who left since the last notice.

Theory of operation
-------------------
Logins and logouts accumulate here; the glue asks for a notice at most
once a second, and one ``info`` text ("alice, bob and 12 others joined;
carol left") covers the whole period. Joining and leaving within one
period cancel out, and so do leaving and coming back. A login storm of n
users therefore costs O(n) notices, not O(n^2). With rooms, each room has
its own ``Presence`` and its notice goes to that room.

Who hears a notice: everyone in the room, joiners included, except a
joiner when the notice names nobody but itself ("alice joined" is not
news to alice; "alice and bob joined" is news to both).
"""


class Presence:
    """Joins and leaves since the last notice."""

    def __init__(self):
        self.joined = {}   # key -> Session, since the last notice
        self.left = {}     # key -> name, since the last notice

    def __bool__(self):
        return bool(self.joined or self.left)

    def join(self, session):
        if session.key in self.left:
            del self.left[session.key]   # left and came back within one period
        else:
            self.joined[session.key] = session

    def leave(self, session):
        if session.key in self.joined:
            del self.joined[session.key]  # joined and left within one period
        else:
            self.left[session.key] = session.name

    def forget(self, session):
        """Drop ``session`` from the period without a notice (kicked, banned)."""
        self.joined.pop(session.key, None)

    def take(self):
        """(notice text, the session not to tell) for the period, and start a
        new one. The second is the sole joiner of a notice that names nobody
        else, or None."""
        parts = []
        if self.joined:
            parts.append("%s joined" % list_names([s.name for s in self.joined.values()]))
        if self.left:
            parts.append("%s left" % list_names(list(self.left.values())))
        alone = None
        if len(self.joined) == 1 and not self.left:
            alone = next(iter(self.joined.values()))
        self.joined = {}
        self.left = {}
        return "; ".join(parts), alone


def list_names(names, shown=3):
    """'alice', 'alice and bob', 'alice, bob, carol and 5 others'."""
    if len(names) == 1:
        return names[0]
    if len(names) <= shown + 1:
        return "%s and %s" % (", ".join(names[:-1]), names[-1])
    return "%s and %d others" % (", ".join(names[:shown]), len(names) - shown)
