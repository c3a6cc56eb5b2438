"""Private messages and kicks to users on other nodes of the cluster.

Theory of operation
-------------------
A name's lease (``names``) says which node holds it. A ``pm`` to someone
not on this node (the core's ``RemotePm``) is appended to that node's own
stream (``ktn:node:<id>``), which only that node reads, from the id of an
entry it wrote at start-up (``node_entry`` hands it to the recipient
there). The sender gets its copy once the append succeeded.

Guarantee: a pm is delivered at most once, and exactly once if the
recipient is still logged in there when that node reads it (its reader
resumes from the last id after a Redis outage, so an outage delays it but
does not lose it); the sender is told "not online" if the name has no
lease, and "unavailable" if Redis is down. One whose answer was lost
with the connection gets the true answer: with the append goes a proof
key (``ktn:sent:<origin>``, same ``MULTI`` block, expiring), and once
Redis is back the proof says whether it ran (its copy) or not ("try
again"); past ``verdict_wait`` without Redis, "try again" (it may then
have been delivered). Kicks across nodes are settled the same way.

An operator's ``kick`` of someone on another node (``RemoteKick``) is an
event in the shared ``ktn:events`` stream addressed to the holding node,
which kicks its user as if its own operator had (``kicked``).

What comes out of a stream was written by anyone with access to Redis: a
pm entry reaches a client only if it is a well-formed ``message``
response (``protocol.is_message_payload``).
"""

import itertools
import os

from reactor.redis import ConnectionLost

from ... import protocol
from ...core import Send
from .roomlog import node_stream

#: ``ktn:sent:<origin>``: set with a pm or kick, proof that it ran
PROOF_PREFIX = "ktn:sent:"


class DirectMessages:
    """``pm`` and ``kick`` across nodes, for one ``Cluster``."""

    def __init__(self, cluster, verdict_wait):
        self.cluster = cluster
        self.server = cluster.server
        self.core = cluster.core
        self.redis = cluster.redis
        self.names = cluster.names
        self.node_id = cluster.node_id
        self.verdict_wait = verdict_wait    # seconds a cut-off send may stay in doubt
        config = cluster.server.config
        self.inbox_length = config.inbox_length            # MAXLEN ~ of an inbox
        self.inbox_ttl_ms = max(1, int(config.inbox_ttl * 1000))   # its life after its node
        self.proof_ms = max(10_000, int(verdict_wait * 10_000))   # outlives the doubt
        self._origin = "%s/%s/" % (cluster.node_id, os.urandom(4).hex())
        self._count = itertools.count()
        self._doubts = []                   # (proof key, session, done) cut off
        self._deadline = None

    def remote_pm(self, effect):
        """A ``pm`` to a name that is not here: to the node that holds it."""
        self._on_remote_holder(effect.session, effect.name,
                               lambda lease: self._send_pm(effect.session, lease, effect.text))

    def remote_kick(self, effect):
        """An operator's kick of a name that is not here: to its node."""
        session, name, reason = effect

        def located(lease):
            command = self.cluster.events.command(
                t="kick", to=lease[0], k=lease[1].lower(), by=session.name, why=reason)
            self._send(command, session, lambda: kicked(lease[1]))

        def kicked(spelled):
            self.server.carry_out([self.core.info(session, "%s was kicked by %s%s" % (
                spelled, session.name, " (%s)" % reason if reason else ""))])
        self._on_remote_holder(session, name, located)

    def _on_remote_holder(self, session, name, then):
        """Find the node holding ``name`` and call ``then(lease)``; tell
        ``session`` if Redis cannot say or nobody elsewhere holds it."""
        def located(lease, error):
            if not session.logged_in:
                return
            if error is not None:
                self.cluster.unavailable(session)
            elif lease is None or lease[0] == self.node_id:
                self.server.carry_out([self.core.error(session, "%s is not online" % name)])
            else:
                then(lease)
        self.names.where(name.lower(), located)

    def _send_pm(self, session, lease, text):
        node, spelled = lease
        payload = protocol.encode_response(self.core.clock.timestamp(),
                                           "%s -> %s" % (session.name, spelled),
                                           protocol.MESSAGE, text)
        inbox = node_stream(node)
        command = ("XADD", inbox, "MAXLEN", "~", self.inbox_length, "*",
                   "t", "pm", "to", spelled.lower(), "p", payload)
        # the inbox outlives its node by --inbox-ttl, even one that died unseen
        self._send(command, session, lambda: self.server.carry_out([Send(session, payload)]),
                   also=("PEXPIRE", inbox, self.inbox_ttl_ms))

    # -- a true answer for what was cut off ------------------------------------

    def _send(self, command, session, done, also=None):
        """Send ``command`` (an XADD) for ``session``: ``done()`` once it
        surely ran, "try again" once it surely did not. A proof key goes in
        the same ``MULTI`` block (both or neither run), so an XADD whose
        answer was lost is settled by asking for the proof once Redis is
        back (``settle_doubts``), or told "try again" after ``verdict_wait``."""
        proof = PROOF_PREFIX + self._origin + "%d" % next(self._count)
        reply = self.redis.call(*command, atomic=True)
        if also is not None:   # a command of the same MULTI block (the inbox's TTL)
            self.redis.call(*also, atomic=True)
        self.redis.call("SET", proof, "1", "PX", self.proof_ms, atomic=True)

        def answered(reply):
            if reply.error is None:
                self._verdict(session, done, True)
            elif isinstance(reply.error, ConnectionLost):
                self._doubts.append((proof, session, done))
                if self._deadline is None:
                    self._deadline = self.server.loop.call_later(self.verdict_wait,
                                                                 self._give_up)
            else:
                self._verdict(session, done, False)
        reply.add_done_callback(answered)

    def settle_doubts(self):
        """Redis is back: each XADD in doubt ran if its proof exists."""
        doubts, self._doubts = self._doubts, []
        for proof, session, done in doubts:
            self.redis.call("EXISTS", proof).add_done_callback(
                lambda r, session=session, done=done: self._verdict(session, done, r.value == 1))
        if not self._doubts and self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _give_up(self):
        """Redis stayed away: what is still in doubt is told "try again"."""
        self._deadline = None
        doubts, self._doubts = self._doubts, []
        for _proof, session, done in doubts:
            self._verdict(session, done, False)

    def _verdict(self, session, done, ran):
        if session.logged_in:
            if ran:
                done()
            else:
                self.cluster.unavailable(session)

    # -- what other nodes sent here -------------------------------------------

    def node_entry(self, fields):
        """An entry of this node's own stream: a pm for one of our users."""
        if fields.get("t") != b"pm":
            return   # start and wake-up entries
        to, payload = fields.get("to"), fields.get("p")
        if not (isinstance(to, bytes) and isinstance(payload, bytes)
                and protocol.is_message_payload(payload)):
            return
        session = self.core.users.get(to.decode("utf-8", "replace"))
        if session is not None:
            self.server.carry_out([Send(session, payload)])

    def kicked(self, fields):
        """A kick event: another node's operator kicked one of our users."""
        if fields.get("to") != self.node_id.encode():
            return
        session = self.core.users.get((fields.get("k") or b"").decode("utf-8", "replace"))
        by = (fields.get("by") or b"?").decode("utf-8", "replace")
        if session is not None:
            reason = (fields.get("why") or b"").decode("utf-8", "replace")
            self.server.carry_out(self.core.kicked_from_elsewhere(session, by, reason))
