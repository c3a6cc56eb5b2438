"""Command line: ``python3 -m chat.check server HOST:PORT`` or ``client -- CMD``.

Exit status: 0 when every standard, framing and safety check passes, 1
otherwise, 2 when the server could not be reached or the client could not
be started.
"""

import argparse
import os
import shlex
import sys

from reactor.tls import TLSFileError, client_context

from ..ports import port_type
from .client_standard import ClientOptions, check_client
from .report import EXIT_UNREACHABLE
from .server_checks import check_server
from .server_session import Options

EPILOG = """\
exit status:
  0  every standard and framing (and, for clients, safety) check passed
  1  at least one of them failed or could not run: see the report
  2  the server could not be reached, or the client could not be started

examples:
  python3 -m chat.check server 127.0.0.1:9998
  python3 -m chat.check server example.org:5000 --json
  python3 -m chat.check server example.org:6697 --tls
  python3 -m chat.check server 127.0.0.1:9997 --tls-ca var/tls/cert.pem
  python3 -m chat.check client -- python3 my_client.py {host} {port}
  python3 -m chat.check client --login '/connect {name}' -- ./client --port {port}
"""


def _address(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError("expected HOST:PORT, e.g. 127.0.0.1:9998, not %r" % text)
    return host.strip("[]") or "127.0.0.1", int(port)


def _positive(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a number: %r" % text) from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0: %r" % text)
    return value


def _positive_int(text):
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError("must be a whole number more than 0: %r" % text)
    return int(text)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ktn-check" if os.path.basename(sys.argv[0]) == "ktn-check" else "python3 -m chat.check",
        description="Check a KTN chat server or client against the protocol "
                    "(PROTOCOL.md) and the habits of other implementations.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    sub = parser.add_subparsers(dest="kind", required=True, metavar="{server,client}")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print the report as JSON")
    common.add_argument("--no-color", action="store_true",
                        help="never colour the report (default: colour on a terminal "
                             "unless NO_COLOR is set)")
    common.add_argument("--timeout", type=_positive, default=3.0, metavar="SECONDS",
                        help="how long to wait for each expected answer (default: 3)")

    srv = sub.add_parser("server", parents=[common], help="check a server over TCP",
                         description="Check the server at HOST:PORT: a few connections, "
                                     "every wait bounded, well under a minute.")
    srv.add_argument("address", type=_address, metavar="HOST:PORT")
    srv.add_argument("--settle", type=_positive, default=0.3, metavar="SECONDS",
                     help="how long to watch that nothing unwanted arrives (default: 0.3)")
    srv.add_argument("--split-gap", type=_positive, default=0.05, metavar="SECONDS",
                     help="pause between the pieces of a split request (default: 0.05)")
    srv.add_argument("--oversize", type=_positive_int, default=256 * 1024, metavar="BYTES",
                     help="size of the oversized request (default: 262144)")
    srv.add_argument("--stress", type=_positive_int, default=0, metavar="N",
                     help="also connect N clients at once and have ten of them talk (off by "
                          "default: the other checks never flood)")
    srv.add_argument("--tls", action="store_true",
                     help="speak TLS, verifying the certificate and host name against the "
                          "system's trust store")
    srv.add_argument("--tls-ca", metavar="FILE",
                     help="speak TLS, trusting the certificate authority in this PEM file "
                          "(implies --tls)")
    srv.add_argument("--budget", type=_positive, default=45.0, metavar="SECONDS",
                     help="start no check after this long; the rest are reported as not run "
                          "(default: 45)")

    cli = sub.add_parser("client", parents=[common], help="check a client under a terminal",
                         description="Start a checking server on a free loopback port, run "
                                     "the client under a pseudo-terminal as a person would "
                                     "and type lines into it. {host} and {port} in CMD are "
                                     "filled in.")
    cli.add_argument("--port", type=port_type(any_free=True), default=0,
                     help="port of the checking server (default: any free one)")
    cli.add_argument("--login", default="login {name}", metavar="TEMPLATE",
                     help="line that logs in (default: 'login {name}')")
    cli.add_argument("--msg", default="msg {text}", metavar="TEMPLATE",
                     help="line that sends a message (default: 'msg {text}')")
    cli.add_argument("--names", default="names", metavar="LINE",
                     help="line that asks for the names (default: 'names')")
    cli.add_argument("--help-cmd", default="help", metavar="LINE",
                     help="line that asks for help (default: 'help')")
    cli.add_argument("--logout", default="logout", metavar="LINE",
                     help="line that logs out (default: 'logout')")
    cli.add_argument("--start-timeout", type=_positive, default=10.0, metavar="SECONDS",
                     help="how long the client may take to start and connect (default: 10)")
    cli.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ...",
                     help="the client's command line, after --")
    return parser


def _use_color(args):
    return not args.no_color and not args.json and sys.stdout.isatty() and not os.environ.get(
        "NO_COLOR")


def _client_command(parser, words):
    if words and words[0] == "--":
        words = words[1:]
    if len(words) == 1 and " " in words[0]:
        words = shlex.split(words[0])
    if not words:
        parser.error("client: give the client's command after --, e.g. "
                     "client -- python3 my_client.py {host} {port}")
    return words


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.kind == "server":
        host, port = args.address
        tls = None
        if args.tls or args.tls_ca:
            try:
                tls = client_context(args.tls_ca)
            except TLSFileError as exc:
                parser.error("--tls-ca %s" % exc)
        rep = check_server(host, port, Options(timeout=args.timeout, settle=args.settle,
                                               split_gap=args.split_gap,
                                               oversize=args.oversize,
                                               budget=args.budget, stress=args.stress,
                                               tls=tls))
    else:
        command = _client_command(parser, args.command)
        rep = check_client(command, ClientOptions(
            port=args.port, timeout=args.timeout, start_timeout=args.start_timeout,
            login=args.login, msg=args.msg, names=args.names, help=args.help_cmd,
            logout=args.logout))
    if args.json:
        sys.stdout.write(rep.as_json() + "\n")
    else:
        sys.stdout.write(rep.as_text(color=_use_color(args)))
    sys.stdout.flush()
    return rep.exit_status()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(EXIT_UNREACHABLE)
