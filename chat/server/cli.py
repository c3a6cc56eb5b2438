"""``python3 -m chat.server``: options in, a server running until a signal.

Theory of operation
-------------------
``main`` parses the command line (``config``), refuses unsound options
before anything opens (exit 1, or 2 for bad TLS files), opens the audit
log and the store, warns about secret files others can read, builds the
``ChatServer`` on a fresh ``EventLoop`` with its signal handlers (SIGINT
and SIGTERM shut down gracefully, SIGHUP reloads the TLS certificate),
listens, and runs the loop. "listening on HOST:PORT" is the first log
line: tools read the port from it. At the end it closes what it opened,
the store's last commit included.
"""

import logging
import signal
import sys

from reactor.loop import EventLoop
from reactor.tls import TLSFileError

from .app import ChatServer
from .audit import AuditLog
from .config import ServerConfig, parse_args, raise_fd_limit, readable_by_others
from .store_setup import close_store, open_configured_store
from .tls import ServerTLS

log = logging.getLogger("chat.server")


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    fd_limit = raise_fd_limit(args.max_clients + 64)
    if fd_limit is not None and fd_limit < args.max_clients + 64:
        log.warning("open-file limit %d is below --max-clients %d: accepts will back off "
                    "when descriptors run out", fd_limit, args.max_clients)
    options = {k: v for k, v in vars(args).items() if k not in ("host", "port", "log_level")}
    config = ServerConfig(args.host, args.port, **options)
    problems = config.check()
    if problems:
        for problem in problems:
            print("chat.server: error: %s" % problem, file=sys.stderr)
        return 1
    try:
        audit = AuditLog(config.audit_log)
    except OSError as exc:
        print("chat.server: error: --audit-log %s: %s" % (config.audit_log,
                                                         exc.strerror or exc), file=sys.stderr)
        return 1
    store, loaded = open_configured_store(config)
    if store is None:
        audit.close()
        return 1
    for path in readable_by_others([config.oper_password_file, config.db, config.audit_log,
                                    config.cluster_key_file]):
        log.warning("%s holds secrets and others can read it: chmod 600 %s", path, path)
    loop = EventLoop()
    server = ChatServer(loop, config, store, audit)
    if config.tls_port is not None:
        try:
            server.tls = ServerTLS(loop, config)
        except TLSFileError as exc:
            print("chat.server: error: TLS certificate or key: %s" % exc, file=sys.stderr)
            loop.close()
            store.close()
            return 2
        loop.add_signal_handler(signal.SIGHUP, server.reload_tls)
    # Handlers first: a signal that arrives as soon as we listen is queued
    # and handled by the loop's first pass, never a crash.
    loop.add_signal_handler(signal.SIGINT, server.shutdown)
    loop.add_signal_handler(signal.SIGTERM, server.shutdown)
    try:
        server.start()
    except OSError as exc:
        log.error("cannot listen on %s:%s%s: %s", args.host, args.port,
                  " or TLS port %s" % config.tls_port if config.tls_port is not None else "",
                  exc.strerror or exc)
        loop.close()
        store.close()
        return 1
    # After "listening on": tools read the port from the first log line.
    log.info("operators: %s", "enabled (password configured)" if config.oper_password
             else "disabled (no operator password configured)")
    log.info("%s", loaded)
    try:
        loop.run()
    finally:
        if server.cluster is not None:
            server.cluster.close(loop)
        server.hashing.close()
        loop.close()
        close_store(server)
        audit.close()
    log.info("stopped")
    return 0

