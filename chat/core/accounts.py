"""Accounts: registered names, password logins, and the limits around them.

Theory of operation
-------------------
Names are first come, first served until a user ``register``s one; from
then on ``login "<name> <password>"`` is the only way in under it. Only a
salted ``hashlib.scrypt`` hash is kept, with the cost ``n`` it was made
with (r=8, p=1).

**Hashing is an effect.** A hash costs a tenth of a second or more, so the
core never computes one: it returns a ``Hash`` effect (``session``) naming
the session, its address group, whether it is ``urgent`` (a login to an
existing account) or not (a registration, a password change), the secret,
salt and cost, and ``then``: a function of the digest that returns the
effects of the request's second half. The glue computes the digest off the
loop (``chat/server/hashing.py``: a small pool of threads, a queue fair
across address groups) and calls ``then`` on the loop; meanwhile that
connection's further requests wait. The core stays pure and single
threaded, and its tests run ``then`` at once (``hash_secret``). Because
time passes between the halves, ``then`` checks again what may have
changed (the name taken meanwhile, the account cap reached). A successful
login whose hash was made at a lower cost than ``scrypt_n`` is followed by
one more ``Hash`` that stores the password again at today's cost: old
hashes are upgraded at the next login, transparently.

**Limits count per network** (``networks``: an IPv4 /24 or IPv6 /64, all
of loopback one group). Failed password logins are counted per (group,
name) and per group (``FailedLogins``): past ``limit`` for one name or
``group_limit`` for the group within ``window`` seconds, further attempts
from that group for that name (or any name) are refused without hashing,
while the same group can still log in to other names. A failed ``oper``
counts as a failure for the name ``oper``; a successful ``password``
change counts too (two hashes), so one network cannot hash without end.
Registrations are limited per group (``registration_limit`` an hour,
loopback exempt). The same error answers a wrong password and a password
given for a name nobody registered (nothing is hashed for the latter);
that a name is registered is public, as on IRC. Passwords never appear in
an answer or in the state beyond their hash.
"""

import collections
import hashlib
import hmac
import math
import os

from ..protocol import RequestError
from .networks import LOOPBACK
from .session import Hash, check_username, is_username

#: scrypt's default cost here: n=2**15, r=8, p=1 (32 MiB, ~0.1 s a hash;
#: docs/accounts-and-moderation.md has the measurements). ``--scrypt-n``.
SCRYPT_N = 2 ** 15
SCRYPT_R = 8
SCRYPT_P = 1
#: The cost of the hashes stored before the cost was recorded with them.
LEGACY_SCRYPT_N = 2 ** 11
SALT_BYTES = 16
HASH_BYTES = 32

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128

WRONG_LOGIN = "login failed: wrong name or password"
TOO_MANY = "too many failed logins, try again in %d seconds"
TOO_MANY_REGISTRATIONS = "too many registrations from your network, try again in %d minutes"


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


def hash_secret(secret, salt, n):
    """The digest a ``Hash`` effect asks for (run by the glue's workers)."""
    return hashlib.scrypt(secret, salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, dklen=HASH_BYTES,
                          maxmem=256 * SCRYPT_R * n + (1 << 20))


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


class SlidingLimit:
    """At most ``limit`` events per key within ``window`` seconds."""

    def __init__(self, limit, window, now):
        self.limit = limit
        self.window = window
        self.now = now                 # () -> seconds, monotonic
        self._events = {}              # key -> deque of event times (<= limit)
        self._swept_at_size = 64

    def __len__(self):
        return len(self._events)

    def wait(self, key):
        """Seconds until ``key`` may have one more event (0: now)."""
        times = self._events.get(key)
        if self.limit <= 0 or times is None or len(times) < self.limit:
            return 0
        return max(0, math.ceil(times[0] + self.window - self.now()))

    def record(self, key):
        if self.limit <= 0:
            return
        times = self._events.get(key)
        if times is None:
            times = self._events[key] = collections.deque(maxlen=self.limit)
        times.append(self.now())
        if len(self._events) >= 2 * self._swept_at_size:
            self._sweep()

    def _sweep(self):
        """Forget keys whose last event is out of the window: the table
        stays proportional to the keys active right now."""
        horizon = self.now() - self.window
        self._events = {key: times for key, times in self._events.items()
                        if times[-1] > horizon}
        self._swept_at_size = max(64, len(self._events))


class FailedLogins:
    """Failed password attempts per (group, name) and per group."""

    def __init__(self, limit, group_limit, window, now, on_record):
        self.per_name = SlidingLimit(limit, window, now)
        self.per_group = SlidingLimit(group_limit, window, now)
        self.on_record = on_record     # fn(group, name): a cluster node shares it
        self._told = SlidingLimit(1, window, now)   # refusals audited, once a window

    def __len__(self):
        return len(self.per_name) + len(self.per_group)

    def wait(self, group, name):
        """Seconds until ``group`` may try ``name`` again (0: now)."""
        return max(self.per_name.wait((group, name)), self.per_group.wait(group))

    def first_refusal(self, group, name):
        """Whether a refusal for (``group``, ``name``) is the first of its
        window: only that one is audited, so a guesser cannot fill the log."""
        if self._told.wait((group, name)):
            return False
        self._told.record((group, name))
        return True

    def record(self, group, name):
        self.record_elsewhere(group, name)
        self.on_record(group, name)

    def record_elsewhere(self, group, name):
        """A failure on another node of the cluster: the limit is the
        cluster's (an attacker does not get N tries per window from N nodes)."""
        self.per_name.record((group, name))
        self.per_group.record(group)


class Accounts:
    """Registered names: case-folded name -> (salt, scrypt hash, n),
    written through to the store."""

    def __init__(self, max_accounts, store):
        self.max_accounts = max_accounts
        self.store = store
        self._records = {}

    def restore(self, records):
        """The accounts a store remembered (key -> (salt, hash[, n]))."""
        for key, record in records.items():
            self._records[key] = tuple(record) if len(record) == 3 \
                else (record[0], record[1], LEGACY_SCRYPT_N)

    def __len__(self):
        return len(self._records)

    def __contains__(self, key):
        return key in self._records

    def get(self, key):
        return self._records.get(key)

    def set(self, key, salt, digest, n):
        self._records[key] = (salt, digest, n)
        self.store.set_account(key, salt, digest, n)


class AccountRequests:
    """The ``register`` and ``password`` handlers of ``ChatCore``, and the
    password part of ``login``."""

    def _hash(self, session, urgent, password, salt, n, then):
        return Hash(session, self.groups.group(session.host), urgent, secret_bytes(password),
                    salt, n, then)

    def _check_password_login(self, session, key, password, then):
        """The effects of a password login: ``then()`` once ``password``
        opens ``key``, else the error (``RequestError``)."""
        group = self.groups.group(session.host)
        wait = self.failed_logins.wait(group, key)
        if wait:
            if self.failed_logins.first_refusal(group, key):
                self.hooks.audit("login_limited", session.host, key)
            raise RequestError(TOO_MANY % wait)
        record = self.accounts.get(key)
        if record is None:   # nothing is hashed: the answer is WRONG_LOGIN
            self._login_failed(session, group, key)
            raise RequestError(WRONG_LOGIN)
        salt, digest, n = record

        def checked(candidate):
            if not hmac.compare_digest(candidate, digest):
                self._login_failed(session, group, key)
                return [self.error(session, WRONG_LOGIN)]
            try:
                effects = then()
            except RequestError as exc:
                return [self.error(session, str(exc))]
            if n < self.scrypt_n and self.accounts.get(key) == record:
                effects.append(self._store_password(session, key, password, lambda: []))
            return effects
        return [self._hash(session, True, password, salt, n, checked)]

    def _login_failed(self, session, group, key):
        self.failed_logins.record(group, key)
        self.hooks.audit("login_failed", session.host, key)

    def _store_password(self, session, key, password, then):
        """A ``Hash`` that stores ``password`` for ``key`` at today's cost."""
        salt = os.urandom(SALT_BYTES)
        n = self.scrypt_n

        def hashed(digest):
            self.accounts.set(key, salt, digest, n)
            return then()
        return self._hash(session, False, password, salt, n, hashed)

    def _on_register(self, session, content):
        password = check_password(content, "register <password>")
        key, name = session.key, session.name
        if key in self.accounts:
            raise RequestError("%s is already registered; change its password with: "
                               "password <old> <new>" % name)
        self._check_account_cap()
        group = self.groups.group(session.host)
        if group != LOOPBACK:
            wait = self.registrations.wait(group)
            if wait:
                raise RequestError(TOO_MANY_REGISTRATIONS % max(1, math.ceil(wait / 60)))
            self.registrations.record(group)

        def registered():
            self.hooks.audit("register", session.host, name)
            return [self.info(session, "%s is now registered; from now on log in with: "
                                       "login %s <password>" % (name, name))]
        effect = self._store_password(session, key, password, registered)
        then = effect.then

        def stored(digest):   # the cap or the name may have gone meanwhile
            if key in self.accounts:
                return [self.error(session, "%s is already registered" % name)]
            if len(self.accounts) >= self.accounts.max_accounts:
                return [self.error(session, self._cap_text())]
            return then(digest)
        return [effect._replace(then=stored)]

    def _cap_text(self):
        return "the server cannot register more names (limit %d)" % self.accounts.max_accounts

    def _check_account_cap(self):
        if len(self.accounts) >= self.accounts.max_accounts:
            raise RequestError(self._cap_text())

    def _on_password(self, session, content):
        usage = "password <old> <new>"
        old, space, new = content.strip().partition(" ")
        if not space:
            raise RequestError("password needs the old and the new password: " + usage)
        check_password(old, usage)
        check_password(new, usage)
        key = session.key
        record = self.accounts.get(key)
        if record is None:
            raise RequestError("%s is not registered: register <password> first" % session.name)
        group = self.groups.group(session.host)
        wait = self.failed_logins.wait(group, key)
        if wait:
            raise RequestError("too many password attempts from your network (failed ones "
                               "and changes), try again in %d seconds" % wait)
        salt, digest, n = record

        def changed():
            self.hooks.audit("password_changed", session.host, session.name)
            return [self.info(session, "password changed for %s" % session.name)]

        def checked(candidate):
            self.failed_logins.record(group, key)   # a change is two hashes: counted too
            if not hmac.compare_digest(candidate, digest):
                return [self.error(session, "wrong password: the old password does not match")]
            return [self._store_password(session, key, new, changed)]
        return [self._hash(session, False, old, salt, n, checked)]


def run_hashes(effects):
    """Carry out every ``Hash`` in ``effects`` at once, in this thread:
    the effects with each replaced by what its ``then`` returned. For
    tests and tools; the server's glue computes them off the loop."""
    done = []
    for effect in effects:
        if type(effect) is Hash:
            done.extend(run_hashes(effect.then(hash_secret(effect.secret, effect.salt,
                                                           effect.n))))
        else:
            done.append(effect)
    return done

