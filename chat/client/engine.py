"""The client's engine: the keyboard and the socket on one loop, for both faces.

Theory of operation
-------------------
``ClientEngine`` is everything the line client (``chat.client.line``) and
the full-screen client (``chat.client.fullscreen.app``) share: the
connection, the paced send queue, the belief about the login, and the life
cycle with its exit statuses. What is shown, and where, is the face's
part: a face provides ``display`` (a payload from the server), ``notice``
(a status line of the client's own), ``hint`` (a local hint in answer to a
line typed), ``error_line`` (why the client cannot go on) and
``session_changed`` (name, room or user count moved).

Why one module of some 550 lines: the pacing, the login belief, leaving
and reconnecting (``reconnect``: a fresh stream, the login and the room
again, the login repeated while the dead session holds the name) are one
state machine (the pure rules of the last: ``chat.client.relogin``). Every answer decides at once whether the
next line may go, whether the login succeeded and whether we may leave;
split in two, each half would work on the other's state.

One thread, one ``EventLoop``. The loop watches two things:

* **stdin**, read into lines by ``chat.client.stdin_lines.StdinLines`` (a partial
  line waits for its end; a last line without a newline still counts at
  end of input). Each line goes on the *send queue* as it is; it is parsed (``chat.client.commands``) only when
  it reaches the head of the queue, so that "am I logged in?" is decided
  with the server's latest answers, not with what we knew when the line was
  read (piped input arrives all at once).
* **the socket**, a ``reactor.tcp.Transport`` whose protocol object is the
  client: bytes go through a ``JsonStreamDecoder`` (no delimiter needed,
  any split, any batching), every decoded value is displayed by the face,
  then updates the client's state.

Pacing (PROTOCOL.md section 3): each request leaves in its own write as
``json.dumps(payload)`` (pure ASCII) plus ``\\n``. After a request is sent
the next one waits until a response arrives or the pace gap (100 ms by
default) has passed, so a peer server that does ``json.loads(recv())``
reads one request per read. Responses are not tagged, so "a response"
is judged with care:

* only a response read after the request was written can answer it (one
  read holding several responses releases at most one request);
* after a ``login``, an ``info`` is not enough: its ``history`` may follow
  as a separate payload, so we wait for the history, an error, or the gap;
* a plain line right after a ``login`` is held back until the login is
  answered (or ``--exit-wait`` passes), since it is a message only if the
  login succeeded; when the gap ends first, the queue stops at that line,
  and the login's answer, whenever it comes, is what sets it going again;
* even when answered, the next request leaves no sooner than a fifth of
  the gap after the last one, a margin for servers that answer one request
  in several payloads or answer before they read on.

Life cycle, with the exit status:

* the connection cannot be made (refused, unknown host, timeout): one line
  on stderr, status 1;
* ``logout`` is sent: we are *leaving*, and go on reading and showing
  everything until the server closes the connection (status 0). Servers
  answer a logout in every way (PROTOCOL.md section 2), and a server that
  holds requests back (flood control) may still owe answers to earlier
  ones, which look just like the logout's ``info``. So no payload ends the
  wait: the client leaves when the server has been *silent* (no payload)
  for ``--exit-wait`` seconds ("no answer to logout"), or, once an
  ``info`` or ``error`` has come (perhaps the answer, from a server that
  replies and stays open), silent for a quarter of that. Status 0;
* end of input (Ctrl-D, or the end of a pipe or file): the queued lines
  are sent (paced) first; then a logout if logged in (as above), otherwise
  the client waits the same way for the answers to its requests (silence
  of ``--exit-wait``, a quarter of it once something answered; none if it
  sent nothing) and leaves. Status 0;
* Ctrl-C or SIGTERM: queued lines are dropped, a logout is sent if logged
  in (as above), otherwise the client leaves at once. Status 0. A second
  Ctrl-C, or a Ctrl-C while still connecting, leaves at once: status 130;
* the server closes the connection, or it breaks: a line on stderr (none
  after a logout) with the server's last word when its last payload was an
  ``info`` or ``error`` ("kicked by opal: bye", "Server is shutting
  down"), status 1, or 0 when we were leaving anyway. The face decides
  when to leave (``connection_ended``: the full-screen one waits for a key). A payload
  beyond the size limit makes the stream untrustworthy: the client says so
  and leaves, status 1.

"Logged in" is a belief built from the server's answers, liberally: after
a ``login`` request, an ``info`` means success and an ``error`` failure; a
``history`` means success whenever it comes; a ``message`` while the login
is pending means success too (some servers replay the history as messages
and send no ``info``).
"""

from __future__ import annotations

import collections
import json
import os
import socket
import ssl

from reactor.framing import FramingError, JsonStreamDecoder
from reactor.tcp import Connector
from reactor.tls import TLSFileError, client_context, connect_tls, describe_failure

from .config import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK
from .commands import NOT_LOGGED_IN_HINT, LocalHint, SendRequest, parse_input
from .relogin import NameWait, name_held
from .session_view import LOBBY, SessionView
from .stdin_lines import END_OF_INPUT, StdinLines
from .render import response_kind


#: Largest payload accepted from a server: a ``history`` can be large.
MAX_PAYLOAD = 64 * 1024 * 1024

#: Leaving, once the server has answered: the silence (as a fraction of
#: ``--exit-wait``) after which no more answers are expected. A quarter of
#: the default 2 s outlasts the gaps between the answers of a server that
#: holds requests back (ours: 0.2 s at its default 5 requests/s).
ANSWERED_WAIT_FRACTION = 0.25


class ClientEngine(StdinLines):
    """The client's state machine, the transport's protocol and (through
    ``StdinLines``) the stdin reader; a face subclasses it (see the module
    docstring)."""

    #: The full-screen face sets it: ``/msg <name> <text>`` is private (IRC).
    IRC_HABITS = False

    def __init__(self, loop, config, stdin_fd=0):
        self.loop = loop
        self.config = config
        self.status = None              # exit status once finished
        self.transport = None
        self.connector = None
        self.decoder = JsonStreamDecoder(max_size=MAX_PAYLOAD)
        self._init_stdin(stdin_fd)
        # sending
        self.queue = collections.deque()   # input lines (str) and END_OF_INPUT
        self._awaiting = False             # a request went out; next one waits
        self._awaiting_login = False       # ... and it was a login
        self._gap_timer = None
        self._last_send = 0.0              # loop time of the last request
        self.min_gap = config.pace_ms / 1000.0 / 5
        self._last_answered = True         # a response came after the last request
        self._sent = 0                     # requests written so far
        self._sent_before_read = 0         # ... before the read being handled
        self.session = SessionView()       # name, room, users: for status lines
        # life cycle
        self.logged_in = False
        self.login_pending = False
        self._login_timer = None
        self.leaving = False               # a server close is now expected
        self.logout_sent = False
        self._settling = False             # end of input reached the queue head
        self._exit_timer = None            # leaving: the server's silence ends the wait
        self._leave_answered = False       # leaving: the server has answered since
        self._interrupted = False
        self.last_word = None              # the last payload, if an info or error: why it closed
        self.last_was_error = False
        # reconnecting (the full-screen face): the name may still be held
        self._name_wait = None             # relogin.NameWait, until logged in again
        self._relogin_line = self._rejoin_line = None
        self._retry_timer = None

    # -- start and finish -------------------------------------------------

    def start(self):
        """Start reading stdin and connecting; the loop does the rest."""
        self._start_stdin()
        config = self.config
        if not config.tls:
            self.connector = Connector(self.loop, config.host, config.port, self,
                                       self._connect_failed, timeout=config.connect_timeout)
            return
        try:   # --tls: verified against the system's trust store or --tls-ca, never plain
            context = client_context(config.tls_ca)
        except TLSFileError as exc:   # said and left in the loop's first pass
            self.loop.call_soon(self._cannot_start, "--tls-ca %s" % exc)
            return
        self.connector = connect_tls(self.loop, config.host, config.port, self,
                                     self._connect_failed, context,
                                     timeout=config.connect_timeout)

    def _cannot_start(self, text):
        self.error_line(text)
        self.finish(EXIT_FAILURE)

    def finish(self, status):
        """Leave: close the connection (flushing), stop reading, stop the loop."""
        if self.status is not None:
            return
        self.status = status
        for timer in (self._gap_timer, self._login_timer, self._exit_timer, self._retry_timer):
            if timer is not None:
                timer.cancel()
        self._stop_stdin()
        self.restore_stdin()
        if self.transport is not None:
            transport, self.transport = self.transport, None
            transport.close()
        elif self.connector is not None and self.connector.transport is None:
            self.connector.cancel()
        self.loop.stop()

    @property
    def finished(self):
        return self.status is not None

    # -- the transport's protocol ----------------------------------------------

    def connection_made(self, transport):
        if self.finished:
            transport.abort()
            return
        self.transport = transport
        if self.interactive:
            self.notice("connected to %s:%s%s" % (self.config.host, self.config.port,
                                                  " with TLS" if self.secure else ""))
        if self.interactive and self.session.login_content is None:
            self.notice("'login <name>' to start, 'help' for the server's requests, "
                        "'logout' or Ctrl-D to quit")
        self._pump()

    @property
    def secure(self):
        """Whether the connection is TLS (for the padlock in a status line)."""
        return getattr(self.transport, "secure", False)

    def data_received(self, data):
        # A response can only answer requests written before this read.
        self._sent_before_read = self._sent
        for item in self.decoder.feed(data):
            if isinstance(item, FramingError):
                self.notice("bad data from the server: %s" % item.message)
                if item.fatal:
                    self.finish(EXIT_FAILURE)
                    return
            elif self.finished:
                self.display(item)  # it arrived before we left: still shown
            else:
                self._on_payload(item)

    def eof_received(self):
        return False  # let the transport close; connection_lost decides

    def connection_lost(self, exc):
        self.transport = None
        if self.finished:
            return
        if not self.logout_sent:  # after a logout, a close is the normal answer
            reason = ("the server closed the connection" if exc is None
                      else "connection lost: %s" % _describe(exc))
            if self.last_word and not self.leaving:
                reason += " (its last word: %s)" % " ".join(self.last_word.split())
            self.notice(reason)
        self.connection_ended(EXIT_OK if self.leaving else EXIT_FAILURE)

    def reconnect(self):
        """Connect again after an unasked close (the full-screen face's
        automatic reconnection): a fresh stream and pacing; the last login
        (from memory) goes first, then a join of the room we were in; lines
        typed meanwhile wait behind them. A login refused because the old,
        dead session still holds the name is tried again (``_wait_for_name``)."""
        for timer in (self._gap_timer, self._login_timer, self._exit_timer, self._retry_timer):
            if timer is not None:
                timer.cancel()
        self._gap_timer = self._login_timer = self._exit_timer = self._retry_timer = None
        self.decoder = JsonStreamDecoder(max_size=MAX_PAYLOAD)
        self._awaiting = self._awaiting_login = False
        self.logged_in = self.login_pending = False
        self.last_word = None
        room, login = self.session.room, self.session.login_content
        self.session.logged_out()
        if self._name_wait is not None and self._relogin_line:
            # still waiting for the name (the server closed the connection we
            # waited on): the same login and rejoin, the tries counted on
            if self.queue and self.queue[0] == self._rejoin_line:
                self.queue.popleft()
            again = [self._relogin_line] + ([self._rejoin_line] if self._rejoin_line else [])
        else:
            again = ["login " + login] if login else []
            if login and room and room.lower() != LOBBY:
                again.append("join " + room)
            self._name_wait = (NameWait(self.config.reconnect_delay, self.config.reconnect_max)
                               if login else None)
        self.queue.extendleft(reversed(again))
        self._relogin_line = again[0] if again else None
        self._rejoin_line = again[1] if len(again) > 1 else None
        self.connector = Connector(self.loop, self.config.host, self.config.port, self,
                                   self._connect_failed, timeout=self.config.connect_timeout)

    def connection_ended(self, status):
        """The connection is gone and why was said: leave. (The full-screen
        face keeps the reason on screen until a key is pressed first.)"""
        self.finish(status)

    def _connect_failed(self, exc):
        if self.finished:
            return
        if isinstance(exc, ssl.SSLError):
            reason = describe_failure(exc)
        elif isinstance(exc, TimeoutError) and not exc.errno:
            reason = "no answer within %g seconds" % self.config.connect_timeout
        else:
            reason = _describe(exc)
        self.error_line("cannot connect to %s:%s: %s"
                        % (self.config.host, self.config.port, reason))
        self.connection_ended(EXIT_FAILURE)

    # -- responses ---------------------------------------------------------------

    def _on_payload(self, payload):
        gave_up = None
        if self._name_wait is not None and self.login_pending and name_held(payload):
            if self._wait_for_name():
                return
            gave_up = self._relogin_line
        self.display(payload)
        if gave_up:   # after the refusal it answers
            name = gave_up.split()[1] if len(gave_up.split()) > 1 else "?"
            self.notice("gave up waiting for the name %s; 'login <name>' to log in" % name)
        before = self.session.summary()
        self.session.observe(payload)
        kind = response_kind(payload)
        content = payload.get("content") if isinstance(payload, dict) else None
        self.last_word = (content[:300] if kind in ("info", "error") and isinstance(content, str)
                          else None)
        # kicked, banned, timed out: no reconnecting; but an error while we
        # wait to log in again under a held name is the server giving up on
        # this connection (its login timeout): the next connection goes on
        self.last_was_error = kind == "error" and not self.waiting_for_name
        login_was_pending = self.login_pending
        if kind == "history":
            self._logged_in()
        elif self.login_pending and kind in ("info", "message", "msg"):
            self._logged_in()
        elif self.login_pending and kind == "error":
            self._name_wait = None   # refused for another reason: no name to wait for
            self._login_resolved()
        if self.session.summary() != before:
            self.session_changed(before)
        if self._sent != self._sent_before_read:
            return  # we wrote during this read: this cannot answer that request
        if self.logout_sent:
            self._wait_for_close(answered=kind in ("info", "error"))
            return
        self._last_answered = True
        if self._awaiting:
            if self._awaiting_login and kind in ("info", "message", "msg"):
                return  # its history may follow: keep waiting (the gap bounds it)
            self._release()
        elif self._settling:
            self._settle()
        elif login_was_pending and not self.login_pending:
            self._login_answered_after_the_gap(kind)

    def _logged_in(self):
        self._name_wait = None
        self.logged_in = True
        self.session.logged_in()
        self._login_resolved()

    def _login_resolved(self):
        self.login_pending = False
        if self._login_timer is not None:
            self._login_timer.cancel()
            self._login_timer = None

    @property
    def waiting_for_name(self):
        """Between a refusal of a held name and the next try."""
        return self._name_wait is not None and self._retry_timer is not None

    def _wait_for_name(self):
        """A reconnection's login was refused: our old session, dead but not
        yet dropped by the server, holds the name (``chat.client.relogin``).
        Nothing else goes (the rejoin waits behind the login); the login goes
        again after the backoff, said once. False: no tries left, the error
        is shown as it is, then that we gave up, and the rejoin is dropped."""
        name = self._relogin_line.split()[1] if len(self._relogin_line.split()) > 1 else "?"
        delay = self._name_wait.next_delay()
        if delay is None:
            self._name_wait = None
            if self.queue and self.queue[0] == self._rejoin_line:
                self.queue.popleft()
            return False
        if self._name_wait.tries == 1:
            self.notice("%s is still held by the old connection: logging in again as soon "
                        "as the server lets it go (Ctrl-C quits)" % name)
        self.login_pending = False
        for timer in (self._login_timer, self._gap_timer):
            if timer is not None:
                timer.cancel()
        self._login_timer = self._gap_timer = None
        self._awaiting = True      # held until the login goes again
        self._retry_timer = self.loop.call_later(delay, self._login_again)
        return True

    def _login_again(self):
        self._retry_timer = None
        if self.finished or self.transport is None:
            return
        self.queue.appendleft(self._relogin_line)
        self._awaiting = False
        self._pump()

    def _login_answered_after_the_gap(self, kind):
        """The login's answer came after the pace gap had freed the queue (a
        slow or loaded server). A plain line held back for it may wait at the
        head, and this answer is the only event left to wake the queue. Go on
        as for an answer in time: after an ``info`` (or a message) the history
        may follow, so wait for it or one more gap; else the next may go."""
        if kind in ("info", "message", "msg"):
            self._awaiting = self._awaiting_login = True
            self._gap_timer = self.loop.call_later(self.config.pace_ms / 1000.0,
                                                   self._gap_over)
        else:
            self._release()

    def _login_wait_over(self):
        """No answer to a login within the exit wait: stop holding lines back."""
        self._login_timer = None
        self.login_pending = False
        self._pump()

    # -- sending, paced ------------------------------------------------------------

    def _pump(self):
        """Send from the head of the queue while pacing allows."""
        while (self.queue and self.transport is not None and not self._awaiting
               and not self.finished and not self.logout_sent):
            item = self.queue[0]
            if item is END_OF_INPUT:
                self.queue.popleft()
                self.leaving = True
                self._settling = True
                self._settle()
                return
            action = self.place(item)
            if (self.login_pending and isinstance(action, LocalHint)
                    and action.text == NOT_LOGGED_IN_HINT):
                return  # a plain line right after a login: wait for its answer
            self.queue.popleft()
            if isinstance(action, SendRequest):
                self._send(action)
            elif isinstance(action, LocalHint):
                self.hint(action.text)
        self._maybe_resume_stdin()

    def place(self, line):
        """What ``line`` means now, with what the session has learnt."""
        session = self.session
        return parse_input(line, self.logged_in, offered=session.offered, irc=self.IRC_HABITS,
                           names=session.names, me=session.name)

    def _send(self, action):
        """Write one request; the next waits for a response or the gap."""
        self.transport.write(json.dumps(action.payload()).encode("ascii") + b"\n")
        self.session.request_sent(action.request, action.content)
        self._sent += 1
        self._last_send = self.loop.time()
        self._awaiting = True
        self._awaiting_login = action.request == "login"
        self._last_answered = False
        self._gap_timer = self.loop.call_later(self.config.pace_ms / 1000.0, self._gap_over)
        if action.request == "login":
            self.login_pending = True
            if self._login_timer is not None:
                self._login_timer.cancel()
            self._login_timer = self.loop.call_later(self.config.exit_wait,
                                                     self._login_wait_over)
        elif action.request == "logout":
            self._logout_sent()

    def _gap_over(self):
        self._gap_timer = None
        self._awaiting = False
        self._pump()

    def _release(self):
        """A response arrived: the next request may go, but not sooner than
        ``min_gap`` after the last one (a margin for servers whose answer
        comes in several payloads, or that answer before reading on)."""
        if self._gap_timer is not None:
            self._gap_timer.cancel()
            self._gap_timer = None
        wait = self._last_send + self.min_gap - self.loop.time()
        if wait > 0:
            self._gap_timer = self.loop.call_later(wait, self._gap_over)
            return
        self._awaiting = False
        self._pump()

    # -- leaving ---------------------------------------------------------------------

    def _logout_sent(self):
        self.logout_sent = True
        self.leaving = True
        self.queue.clear()
        self._stop_stdin()
        self._leave_answered = False
        self._wait_for_close(answered=False)

    def _wait_for_close(self, answered):
        """Leaving, and the server spoke (or we just asked): wait on for its
        close, at most until it has been silent for ``--exit-wait``, or for a
        quarter of that once it has answered. An answer only shortens the
        wait: it may be owed to an earlier request, with more to come."""
        self._leave_answered = self._leave_answered or answered
        silence = self.config.exit_wait
        if self._leave_answered:
            silence *= ANSWERED_WAIT_FRACTION
        if self._exit_timer is not None:
            self._exit_timer.cancel()
        self._exit_timer = self.loop.call_later(silence, self._exit_wait_over)

    def _exit_wait_over(self):
        self._exit_timer = None
        if self.finished:
            return
        if self.logout_sent:
            if not self._leave_answered:
                self.notice("no answer to logout from the server; leaving")
            self.finish(EXIT_OK)
        elif self.logged_in:
            self._queue_logout()
        else:
            self.finish(EXIT_OK)

    def _settle(self):
        """End of input reached the head of the queue (and each answer after
        it): log out, or wait for the answers still coming and go."""
        if self.finished or self.logout_sent:
            return
        if self.logged_in:
            self._queue_logout()
        elif self._sent == 0:
            self.finish(EXIT_OK)
        else:
            self._wait_for_close(answered=self._last_answered and not self.login_pending)

    def _queue_logout(self):
        self.queue.clear()
        self.queue.append("logout")
        if self._exit_timer is not None:
            self._exit_timer.cancel()
            self._exit_timer = None
        self._pump()

    def interrupt(self):
        """Ctrl-C or SIGTERM: log out if logged in, else leave; twice: leave now."""
        if self.finished:
            return
        if self._interrupted or self.logout_sent or self.transport is None:
            self.finish(EXIT_INTERRUPTED)
            return
        self._interrupted = True
        self.leaving = True
        self._stop_stdin()
        if self.logged_in or self.login_pending:
            self._queue_logout()
        else:
            self.finish(EXIT_OK)


def _describe(exc):
    """A short human reason for a connection error."""
    if isinstance(exc, socket.gaierror):
        return exc.strerror or str(exc)
    if isinstance(exc, OSError) and exc.errno and exc.errno > 0:
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__
