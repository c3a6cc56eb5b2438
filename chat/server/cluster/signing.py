"""Redis as a trust boundary: what nodes write is signed, what is not
signed by a node is dropped.

Theory of operation
-------------------
With ``--cluster-key-file`` every node holds the same secret key, and
``SignedRedis`` (wrapped around the node's ``RedisClient``) signs what the
node writes, in the one place every write passes: an ``XADD`` (a room's
message, a node's inbox entry, an event: presence, account, ban, kick...)
gets a last field ``sig``, the HMAC-SHA256 of the stream's key and every
field and value before it; an ``HSET`` value (an account, a ban, a
node's members) is stored as ``<hmac hex> <value>``, the HMAC of the
hash's key, the field and the value. Binding the key means an entry
cannot be moved from one stream or field to another.

The readers verify before they parse (``verify_entry``, ``verify_record``):
an entry or record whose signature is missing or wrong is dropped, and the
drops are logged at most once every ``LOG_INTERVAL`` seconds with a count,
so a writer without the key cannot flood the log either. A client of
Redis without the key can still delete, delay, or repeat an entry it saw
(that is Redis' own security's job: ``requirepass``, ACLs, a private
network), but never forge a message, an account, a ban or a presence.

Without a key nothing is signed or checked, and the node says so in its
log at start (``unsigned_warning``).
"""

import hashlib
import hmac
import logging
import struct

log = logging.getLogger("chat.cluster")

SIG = b"sig"
LOG_INTERVAL = 10.0
MIN_KEY_BYTES = 16


def read_key(path):
    """The cluster key: the file's bytes, surrounding whitespace stripped."""
    with open(path, "rb") as f:
        key = f.read(4096).strip()
    if len(key) < MIN_KEY_BYTES:
        raise ValueError("the cluster key must be at least %d bytes (it has %d)"
                         % (MIN_KEY_BYTES, len(key)))
    return key


def _encode(item):
    if isinstance(item, str):
        item = item.encode("utf-8", "surrogatepass")
    elif isinstance(item, int):
        item = b"%d" % item
    return struct.pack("!I", len(item)) + item


class SignedRedis:
    """A ``RedisClient`` whose writes are signed; everything else is the
    client's own (attribute access passes through)."""

    def __init__(self, client, key, now):
        self._client = client
        self._key = key
        self._now = now
        self._dropped = 0
        self._logged_at = None

    def __getattr__(self, name):
        return getattr(self._client, name)

    @property
    def connected(self):
        # asked before every msg (the gate): __getattr__ comes only after a
        # failed lookup, which costs an AttributeError each time
        return self._client.connected

    def flush_first(self):
        self._client.flush_first()

    @property
    def signing(self):
        return self._key is not None

    def _mac(self, items):
        mac = hmac.new(self._key, digestmod=hashlib.sha256)
        for item in items:
            mac.update(_encode(item))
        return mac.hexdigest().encode("ascii")

    def call(self, *args, **kwargs):
        if self._key is not None and args:
            if args[0] == "XADD" and "*" in args:
                star = args.index("*")
                args = args + (SIG, self._mac((args[1],) + args[star + 1:]))
            elif args[0] == "HSET" and len(args) == 4:
                args = args[:3] + (self.sign_record(args[1], args[2], args[3]),)
        return self._client.call(*args, **kwargs)

    def call_encoded(self, name, data, **kwargs):
        """A command encoded by the caller passes only when nothing is
        signed: its bytes cannot be signed here (the caller checks
        ``signing`` and uses ``call`` then)."""
        if self._key is not None:
            raise ValueError("%s: an encoded command cannot be signed; use call()" % name)
        return self._client.call_encoded(name, data, **kwargs)

    def sign_record(self, hash_key, field, value):
        if isinstance(value, str):
            value = value.encode("utf-8", "surrogatepass")
        return self._mac((hash_key, field, value)) + b" " + value

    def verify_entry(self, stream, flat, what="entry"):
        """The stream entry's flat [field, value, ...] without its
        signature, or None (dropped) if it is missing or wrong."""
        if self._key is None:
            return flat
        if len(flat) >= 2 and flat[-2] == SIG and isinstance(flat[-1], bytes):
            body = flat[:-2]
            if all(isinstance(item, bytes) for item in body) and hmac.compare_digest(
                    flat[-1], self._mac([stream] + list(body))):
                return body
        self._drop("%s in %s" % (what, stream))
        return None

    def verify_record(self, hash_key, field, value):
        """A hash record's value without its signature, or None (dropped)."""
        if self._key is None:
            return value
        if isinstance(value, bytes) and isinstance(field, (bytes, str)):
            mac, space, body = value.partition(b" ")
            if space and hmac.compare_digest(mac, self._mac((hash_key, field, body))):
                return body
        self._drop("record %r of %s" % (field, hash_key))
        return None

    def _drop(self, what):
        self._dropped += 1
        now = self._now()
        if self._logged_at is None or now - self._logged_at >= LOG_INTERVAL:
            log.warning("dropped %d entries with a missing or wrong signature (the last: %s): "
                        "something without the cluster key writes to Redis",
                        self._dropped, what)
            self._dropped = 0
            self._logged_at = now


def unsigned_warning():
    log.warning("no --cluster-key-file: entries in Redis are not signed, so whoever can "
                "write to Redis can forge messages, accounts and bans")
