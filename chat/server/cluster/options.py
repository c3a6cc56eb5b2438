"""The cluster's command-line options, their defaults and their checks
(``chat.server`` adds them to its parser and its ``ServerConfig``)."""

from reactor.redis import mask, parse_url, uses_tls
from reactor.tls import TLSFileError, client_context

from ... import limits
from .signing import MIN_KEY_BYTES, read_key

#: ServerConfig attribute -> default: no --redis, a single server.
DEFAULTS = {
    "redis": None,
    "node_id": None,
    "lease": limits.LEASE,
    "lease_heartbeat": None,   # lease / 3
    "redis_timeout": limits.REDIS_TIMEOUT,
    "redis_backoff_max": limits.REDIS_BACKOFF_MAX,
    "redis_block": limits.REDIS_BLOCK,
    "redis_read_pause": limits.REDIS_READ_PAUSE,   # issue 22
    "stream_retain": limits.STREAM_RETAIN,
    # issue 21: what Redis keeps
    "stream_sweep_interval": limits.STREAM_SWEEP_INTERVAL,
    "inbox_length": limits.INBOX_LENGTH,
    "inbox_ttl": limits.INBOX_TTL,
    # issue 20: the key that signs what nodes write (the secret itself: never logged)
    "cluster_key": None,
    "cluster_key_file": None,
    "redis_tls_ca": None,
}

#: The environment variable that may hold the Redis URL (with its password:
#: the environment is not shown by ``ps``, the command line is).
REDIS_URL_ENV = "KTN_REDIS_URL"


def add_arguments(p):
    p.add_argument("--redis", metavar="redis[s]://HOST:PORT[/DB]",
                   help="run as a cluster node sharing rooms, names and private messages "
                        "with the other nodes on this Redis (without it: a single server; "
                        "rediss:// for TLS). A URL with a password belongs in a URL file or "
                        "the environment variable %s, where ps does not show it"
                        % REDIS_URL_ENV)
    p.add_argument("--redis-url-file", metavar="FILE",
                   help="file whose first line is the Redis URL, as for --redis: keeps a "
                        "password out of ps")
    p.add_argument("--redis-tls-ca", metavar="FILE",
                   help="with a rediss:// URL: trust the certificate authority in this PEM "
                        "file (default: the system's trust store)")
    p.add_argument("--node-id", help="this node's name in the cluster (default host:port:pid)")
    p.add_argument("--lease", type=float, default=limits.LEASE,
                   help="with --redis: seconds a name stays taken after its node stops "
                        "renewing it (a crashed node's names are free within it)")
    p.add_argument("--lease-heartbeat", type=float,
                   help="with --redis: seconds between lease renewals (default: lease / 3)")
    p.add_argument("--redis-timeout", type=float, default=limits.REDIS_TIMEOUT,
                   help="with --redis: seconds without an answer after which the connection "
                        "to Redis counts as dead; also the longest wait for the true answer "
                        "to a message cut off in flight, and for a start-up connection")
    p.add_argument("--redis-backoff-max", type=float, default=limits.REDIS_BACKOFF_MAX,
                   help="with --redis: longest wait between reconnection attempts, and "
                        "between retries after Redis answered with an error or a shared "
                        "change must be sent again")
    p.add_argument("--redis-block", type=float, default=limits.REDIS_BLOCK,
                   help="with --redis: seconds one XREAD of the room streams blocks")
    p.add_argument("--redis-read-pause", type=float, default=limits.REDIS_READ_PAUSE,
                   help="with --redis: seconds the reader of the room streams waits after "
                        "handing out a read before the next, so that messages appended "
                        "meanwhile come back together (fewer, larger writes to each member "
                        "under load; a message to a quiet room is read at once; 0: no wait)")
    p.add_argument("--stream-retain", type=int, default=limits.STREAM_RETAIN,
                   help="with --redis: entries each room's stream keeps at least (or the "
                        "history limit if larger): how far a node may fall behind without "
                        "missing messages")
    p.add_argument("--stream-sweep-interval", type=float,
                   default=limits.STREAM_SWEEP_INTERVAL,
                   help="with --redis: seconds between sweeps of the room streams: those "
                        "of rooms nobody is in are trimmed to the history limit, and expire "
                        "once empty for the room TTL")
    p.add_argument("--inbox-length", type=int, default=limits.INBOX_LENGTH,
                   help="with --redis: private messages a node's inbox stream keeps, about")
    p.add_argument("--inbox-ttl", type=float, default=limits.INBOX_TTL,
                   help="with --redis: seconds a node's inbox stream outlives the node "
                        "(longer than --lease)")
    # -- issue 20: Redis as a trust boundary --
    p.add_argument("--cluster-key-file", metavar="FILE",
                   help="with --redis: a file (0600) holding the key, at least %d bytes, "
                        "that every node signs its entries with (HMAC-SHA256); entries "
                        "without a good signature are dropped. Without it nothing is signed"
                        % MIN_KEY_BYTES)


def resolve_url(args, environ):
    """Set ``args.redis`` from ``--redis-url-file`` or the environment when
    ``--redis`` is not given; return an error text naming the file (never
    its content), or None."""
    path = args.redis_url_file
    del args.redis_url_file
    if path is not None:
        if args.redis is not None:
            return "--redis and --redis-url-file exclude each other"
        try:
            with open(path, encoding="utf-8") as f:
                url = f.readline().strip()
        except (OSError, UnicodeDecodeError) as exc:
            return "--redis-url-file %s: %s" % (path, getattr(exc, "strerror", None) or exc)
        if not url:
            return "--redis-url-file %s: the first line is empty" % path
        args.redis = url
    elif args.redis is None and environ.get(REDIS_URL_ENV):
        args.redis = environ[REDIS_URL_ENV]
    return None


def tls_context(config):
    """The ``ssl.SSLContext`` for a ``rediss://`` URL, or None for ``redis://``
    (raises ``TLSFileError`` for a bad ``--redis-tls-ca``)."""
    if config.redis is None or not uses_tls(config.redis):
        return None
    return client_context(config.redis_tls_ca)


def problems(config):
    """What is wrong with the cluster options of ``config`` (a list)."""
    if config.redis is None:
        found = ["--node-id needs --redis URL"] if config.node_id is not None else []
        if config.redis_tls_ca is not None:
            found.append("--redis-tls-ca needs --redis URL")
        return found
    found = []
    if config.db is not None:
        found.append("--db and --redis exclude each other: a cluster keeps its "
                     "histories in Redis (run Redis with appendonly yes)")
    try:
        parse_url(config.redis)
        tls_context(config)
    except TLSFileError as exc:
        found.append("--redis-tls-ca %s" % exc)
    except ValueError as exc:
        found.append("--redis: %s" % exc)   # the URL in it is masked
    if config.redis_tls_ca is not None and not uses_tls(config.redis):
        found.append("--redis-tls-ca needs a rediss:// URL (%s)" % mask(config.redis))
    for name in ("lease", "redis_timeout", "redis_backoff_max", "redis_block", "stream_retain",
                 "stream_sweep_interval", "inbox_length"):
        if not getattr(config, name) > 0:
            found.append("--%s must be positive" % name.replace("_", "-"))
    if not 0 <= config.redis_read_pause < config.redis_block:
        found.append("--redis-read-pause must be at least 0 and shorter than --redis-block")
    if not config.inbox_ttl > config.lease:
        found.append("--inbox-ttl must be longer than --lease")
    if config.cluster_key_file is not None and config.cluster_key is None:
        try:
            config.cluster_key = read_key(config.cluster_key_file)
        except (OSError, ValueError) as exc:
            found.append("--cluster-key-file %s: %s" % (config.cluster_key_file,
                                                        getattr(exc, "strerror", None) or exc))
    heartbeat = config.lease_heartbeat
    if heartbeat is not None and not 0 < heartbeat < config.lease:
        found.append("--lease-heartbeat must be positive and shorter than --lease")
    return found
