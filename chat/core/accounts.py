"""Accounts: registered names, password logins, and the limits on hashing.

Theory of operation
-------------------
Names are first come, first served until a user ``register``s one; from
then on ``login "<name> <password>"`` is the only way in under it. Only a
salted ``hashlib.scrypt`` hash is kept. Hashing runs on the event loop, so
its cost is chosen to be a few milliseconds (``SCRYPT_N``); a failed
attempt is answered at once, and attempts are limited per address instead
(``FailedLogins``): after ``limit`` failures within ``window`` seconds,
further password attempts from that address are refused, without hashing,
until the oldest failure is ``window`` seconds old; a successful
``password`` change counts as one too, so one address cannot change
passwords (two hashes each) without end. Above that, the whole server
computes at most ``rate`` hashes a second (``HashBudget``, a token bucket
on the core's clock): a request that would hash beyond it gets "server
busy" at once and nothing is hashed, so however many connections and
addresses ask, hashing takes a bounded share of the loop. Plain logins (no
password), which standard clients use, are never refused by either.

The same error answers a wrong password and a password given for a name
nobody registered; that a name is registered is public, as on IRC.
Passwords never appear in an answer or in the state beyond their hash.
"""

import collections
import hashlib
import hmac
import math
import os

from ..limits import TokenBucket
from ..protocol import RequestError
from .session import check_username, is_username

#: scrypt cost: n=2**11, r=8, p=1 (2 MiB a hash); docs/benchmarks.md,
#: "Password hashing", has the time a hash takes here.
SCRYPT_N = 2 ** 11
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128

WRONG_LOGIN = "login failed: wrong name or password"
SERVER_BUSY = "server busy: too many password checks right now, try again in a moment"


def is_password(text):
    return (MIN_PASSWORD_LENGTH <= len(text) <= MAX_PASSWORD_LENGTH
            and not any(c.isspace() for c in text))


def check_password(text, usage):
    if not is_password(text):
        raise RequestError("a password is %d-%d characters without spaces: %s"
                           % (MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH, usage))
    return text


def secret_bytes(text):
    """A password as bytes. JSON can carry lone surrogates ("\\ud800"),
    which strict UTF-8 refuses; they are kept, not a crash."""
    return text.encode("utf-8", "surrogatepass")


def hash_password(password, salt):
    return hashlib.scrypt(secret_bytes(password), salt=salt, n=SCRYPT_N, r=SCRYPT_R,
                          p=SCRYPT_P, dklen=HASH_BYTES)


def split_login(content):
    """``login`` content -> (name, password or None).

    "<name> <password>" (one space, a well-formed password) is a password
    login; anything else is a plain username and gets the username rules.
    """
    text = content.strip()
    name, space, password = text.partition(" ")
    if space and is_username(name) and is_password(password):
        return name, password
    return check_username(text), None


class FailedLogins:
    """Failed password attempts per address, in a sliding window."""

    def __init__(self, limit, window, now, on_record):
        self.limit = limit
        self.window = window
        self.now = now                 # () -> seconds, monotonic
        self.on_record = on_record     # fn(host): a failure here (a cluster node shares it)
        self._failures = {}            # host -> deque of failure times (<= limit)
        self._swept_at_size = 64

    def __len__(self):
        return len(self._failures)

    def wait(self, host):
        """Seconds until ``host`` may try again (0: now)."""
        times = self._failures.get(host)
        if times is None or len(times) < self.limit:
            return 0
        return max(0, math.ceil(times[0] + self.window - self.now()))

    def record(self, host):
        self.record_elsewhere(host)
        if self.limit > 0:
            self.on_record(host)

    def record_elsewhere(self, host):
        """A failure from ``host`` on another node of the cluster: the limit
        is the cluster's, not one node's (an attacker does not get N tries
        per window from N nodes)."""
        if self.limit <= 0:
            return
        times = self._failures.get(host)
        if times is None:
            times = self._failures[host] = collections.deque(maxlen=self.limit)
        times.append(self.now())
        if len(self._failures) >= 2 * self._swept_at_size:
            self._sweep()

    def _sweep(self):
        """Forget addresses whose last failure is out of the window: the
        table stays proportional to the addresses failing right now."""
        horizon = self.now() - self.window
        self._failures = {host: times for host, times in self._failures.items()
                          if times[-1] > horizon}
        self._swept_at_size = max(64, len(self._failures))


class HashBudget:
    """Password hashes the whole server may compute: ``rate`` a second
    after a burst of ``burst`` (``rate`` 0: no budget)."""

    def __init__(self, rate, burst, now):
        self.now = now                 # () -> seconds, monotonic
        self._bucket = TokenBucket(rate, burst, now()) if rate > 0 else None

    def spend(self, hashes):
        """Raise ``RequestError`` unless ``hashes`` hashes may run now."""
        if self._bucket is not None and self._bucket.take(self.now(), hashes):
            raise RequestError(SERVER_BUSY)


class Accounts:
    """Registered names: case-folded name -> (salt, scrypt hash), written
    through to the store."""

    def __init__(self, max_accounts, store):
        self.max_accounts = max_accounts
        self.store = store
        self._records = {}

    def restore(self, records):
        """The accounts a store remembered (key -> (salt, hash))."""
        self._records.update(records)

    def __len__(self):
        return len(self._records)

    def __contains__(self, key):
        return key in self._records

    def set_password(self, key, password):
        salt = os.urandom(SALT_BYTES)
        digest = hash_password(password, salt)
        self._records[key] = (salt, digest)
        self.store.set_account(key, salt, digest)

    def verify(self, key, password):
        record = self._records.get(key)
        if record is None:
            return False
        return hmac.compare_digest(record[1], hash_password(password, record[0]))


class AccountRequests:
    """The ``register`` and ``password`` handlers of ``ChatCore``, and the
    password part of ``login``."""

    def _check_password_login(self, session, key, password):
        """Raise ``RequestError`` unless ``password`` opens ``key``."""
        wait = self.failed_logins.wait(session.host)
        if wait:
            raise RequestError("too many failed logins, try again in %d seconds" % wait)
        if key in self.accounts:   # else nothing is hashed: the answer is WRONG_LOGIN
            self.hash_budget.spend(1)
        if not self.accounts.verify(key, password):
            self.failed_logins.record(session.host)
            raise RequestError(WRONG_LOGIN)

    def _on_register(self, session, content):
        password = check_password(content, "register <password>")
        if session.key in self.accounts:
            raise RequestError("%s is already registered; change its password with: "
                               "password <old> <new>" % session.name)
        if len(self.accounts) >= self.accounts.max_accounts:
            raise RequestError("the server cannot register more names (limit %d)"
                               % self.accounts.max_accounts)
        self.hash_budget.spend(1)
        self.accounts.set_password(session.key, password)
        return [self.info(session, "%s is now registered; from now on log in with: "
                                   "login %s <password>" % (session.name, session.name))]

    def _on_password(self, session, content):
        usage = "password <old> <new>"
        old, space, new = content.strip().partition(" ")
        if not space:
            raise RequestError("password needs the old and the new password: " + usage)
        check_password(old, usage)
        check_password(new, usage)
        if session.key not in self.accounts:
            raise RequestError("%s is not registered: register <password> first" % session.name)
        wait = self.failed_logins.wait(session.host)
        if wait:
            raise RequestError("too many password attempts from your address (failed ones "
                               "and changes), try again in %d seconds" % wait)
        self.hash_budget.spend(2)   # verify, then set: both or neither
        if not self.accounts.verify(session.key, old):
            self.failed_logins.record(session.host)
            raise RequestError("wrong password: the old password does not match")
        self.accounts.set_password(session.key, new)
        self.failed_logins.record(session.host)   # two hashes: counted like a failure
        return [self.info(session, "password changed for %s" % session.name)]
