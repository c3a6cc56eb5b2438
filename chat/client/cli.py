"""The client's command line: options, and the choice of face.

``main`` picks the full-screen client (``chat.client.fullscreen``) at a terminal (stdin
and stdout ttys, ``TERM`` set and not ``dumb``) unless ``--line`` is given,
and the line client (``chat.client.line.ChatClient``) otherwise or when curses
cannot drive the terminal. Both get the same ``ClientConfig``.
"""

from __future__ import annotations

import argparse
import signal
import sys

from reactor.loop import EventLoop

from ..ports import port_type
from .commands import HELP_TEXT
from .config import (DEFAULT_CONNECT_TIMEOUT, DEFAULT_EXIT_WAIT, DEFAULT_HOST, DEFAULT_PACE_MS,
                     DEFAULT_PORT, DEFAULT_RECONNECT_DELAY, DEFAULT_RECONNECT_MAX, EXIT_FAILURE,
                     EXIT_INTERRUPTED, ClientConfig)
from .fullscreen.app import fullscreen_possible, run_fullscreen
from .line import ChatClient
from .terminal_locale import LOCALE_WARNING, UTF8, locale_encoding

def _non_negative(kind):
    def convert(text):
        value = kind(text)
        if value < 0:
            raise argparse.ArgumentTypeError("must not be negative: %s" % text)
        return value
    return convert


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="python3 -m chat.client",
        description="KTN chat client: type lines, read the chat.\n"
                    "At a terminal it is full-screen (see --line). In line mode what the\n"
                    "server says goes to stdout; the client's own status lines and hints\n"
                    "go to stderr. Input may be a terminal, a pipe or a file.",
        epilog="input lines:\n" + "\n".join("  " + line for line in HELP_TEXT.splitlines())
               + "\n\nfull-screen keys:\n"
                 "  Enter send; Left/Right, Home/End, Ctrl-A/E move; Backspace, Delete,\n"
                 "  Ctrl-U/K/W delete; Up/Down sent lines; Tab completes commands, rooms,\n"
                 "  names; PgUp/PgDn, Ctrl-Home/End (or Home/End on an empty line) scroll;\n"
                 "  Ctrl-L redraws; Ctrl-D on an empty line or Ctrl-C logs out and quits"
               + "\n\nexit status:\n"
                 "  0    after logout, Ctrl-C or end of input\n"
                 "  1    the server cannot be reached, or closes the connection unasked\n"
                 "  130  a second Ctrl-C, or Ctrl-C while connecting",
        formatter_class=_HelpFormatter)
    p.add_argument("--host", default=DEFAULT_HOST, help="server address or name")
    p.add_argument("--port", type=port_type(), default=DEFAULT_PORT, help="server TCP port")
    p.add_argument("--pace-ms", type=_non_negative(float), default=DEFAULT_PACE_MS,
                   metavar="MS",
                   help="after sending a request, wait for a response or this many "
                        "milliseconds before sending the next queued one (pasted or piped "
                        "input), for servers that cannot read two requests at once; even "
                        "after a response, queued requests are at least a fifth of this "
                        "apart (0: no pacing)")
    p.add_argument("--exit-wait", type=_non_negative(float), default=DEFAULT_EXIT_WAIT,
                   metavar="SECONDS",
                   help="after logout, or at end of input, the client shows what the server "
                        "still sends until it closes, but leaves once the server has been "
                        "silent this long, or a quarter of this once it has answered (also "
                        "the longest a plain line waits for the answer to a login)")
    p.add_argument("--connect-timeout", type=_non_negative(float),
                   default=DEFAULT_CONNECT_TIMEOUT, metavar="SECONDS",
                   help="give up connecting after this long")
    p.add_argument("--tls", action="store_true",
                   help="connect with TLS, verifying the server's certificate and host name "
                        "against the system's trust store; a failure is an error, never a "
                        "fallback to plaintext")
    p.add_argument("--tls-ca", metavar="FILE",
                   help="with TLS (implies --tls): trust the certificate authority in this "
                        "PEM file instead (a private or self-signed certificate)")
    p.add_argument("--line", action="store_true",
                   help="line mode even at a terminal (by default, when stdin and stdout are "
                        "terminals and TERM is set and not 'dumb', the client is full-screen: "
                        "the conversation above, a status line and an input line below)")
    p.add_argument("--reconnect-delay", type=_non_negative(float),
                   default=DEFAULT_RECONNECT_DELAY, metavar="SECONDS",
                   help="full-screen: when the server closes unasked (not a kick, ban or other "
                        "error), connect again after this long, doubling each failed try, log "
                        "in again (the password is held in memory only) and rejoin the room "
                        "(0: never)")
    p.add_argument("--reconnect-max", type=_non_negative(float), default=DEFAULT_RECONNECT_MAX,
                   metavar="SECONDS", help="full-screen: the longest wait between two tries")
    p.add_argument("--bell", action="store_true",
                   help="full-screen: ring the terminal's bell on a private message or a "
                        "message naming you")
    p.add_argument("--no-color", action="store_true",
                   help="never colour the output (by default colour is used when stdout is a "
                        "terminal and NO_COLOR is not set)")
    return p.parse_args(argv)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def main(argv=None):
    args = parse_args(argv)
    encoding = locale_encoding()
    for stream in (sys.stdout, sys.stderr):
        try:   # the terminal's encoding; what it cannot show: "?"
            if encoding != UTF8 and stream.isatty():
                stream.reconfigure(encoding=encoding, errors="replace")
            else:
                stream.reconfigure(errors="replace")
        except (AttributeError, ValueError, LookupError):
            pass
    config = ClientConfig(args.host, args.port, pace_ms=args.pace_ms,
                          exit_wait=args.exit_wait, connect_timeout=args.connect_timeout,
                          color=False if args.no_color else None, encoding=encoding,
                          bell=args.bell, reconnect_delay=args.reconnect_delay,
                          reconnect_max=args.reconnect_max, tls=args.tls, tls_ca=args.tls_ca)
    if not args.line:
        if fullscreen_possible():
            status = run_fullscreen(config, EventLoop)
            if status is not None:
                return status
    if encoding != UTF8 and sys.stdin.isatty():
        sys.stderr.write("-- %s\n" % LOCALE_WARNING % encoding)
    loop = EventLoop()
    client = ChatClient(loop, config)
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, client.interrupt)
        client.start()
        loop.run()
    except KeyboardInterrupt:  # before the handlers were in place
        client.status = EXIT_INTERRUPTED
    finally:
        client.restore_stdin()
        loop.close()
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        pass
    return EXIT_FAILURE if client.status is None else client.status
