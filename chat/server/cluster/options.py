"""The cluster's command-line options, their defaults and their checks
(``chat.server`` adds them to its parser and its ``ServerConfig``)."""

from reactor.redis import parse_url

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
    "stream_retain": limits.STREAM_RETAIN,
    # issue 20: the key that signs what nodes write (the secret itself: never logged)
    "cluster_key": None,
    "cluster_key_file": None,
}


def add_arguments(p):
    p.add_argument("--redis", metavar="redis://HOST:PORT[/DB]",
                   help="run as a cluster node sharing rooms, names and private messages "
                        "with the other nodes on this Redis (without it: a single server)")
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
    p.add_argument("--stream-retain", type=int, default=limits.STREAM_RETAIN,
                   help="with --redis: entries each room's stream keeps at least (or the "
                        "history limit if larger): how far a node may fall behind without "
                        "missing messages")
    # -- issue 20: Redis as a trust boundary --
    p.add_argument("--cluster-key-file", metavar="FILE",
                   help="with --redis: a file (0600) holding the key, at least %d bytes, "
                        "that every node signs its entries with (HMAC-SHA256); entries "
                        "without a good signature are dropped. Without it nothing is signed"
                        % MIN_KEY_BYTES)


def problems(config):
    """What is wrong with the cluster options of ``config`` (a list)."""
    if config.redis is None:
        return ["--node-id needs --redis URL"] if config.node_id is not None else []
    found = []
    if config.db is not None:
        found.append("--db and --redis exclude each other: a cluster keeps its "
                     "histories in Redis (run Redis with appendonly yes)")
    try:
        parse_url(config.redis)
    except ValueError as exc:
        found.append("--redis: %s" % exc)
    for name in ("lease", "redis_timeout", "redis_backoff_max", "redis_block", "stream_retain"):
        if not getattr(config, name) > 0:
            found.append("--%s must be positive" % name.replace("_", "-"))
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
