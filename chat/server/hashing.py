"""Password hashing off the loop: a small pool of threads, a fair queue.

Theory of operation
-------------------
The core asks for each password hash as a ``Hash`` effect
(``chat/core/accounts.py``). ``HashPool.submit`` queues it and returns at
once; one of ``threads`` worker threads computes it (``hashlib.scrypt``
releases the GIL while it works, so the loop keeps serving everyone: see
docs/accounts-and-moderation.md for the measurements) and hands the digest
back with the loop's ``call_soon_threadsafe``. The worker touches no
socket and no chat state: the continuation runs on the loop. These are the
only threads of the server besides the loop's.

The queue (``FairQueue``) is fair across address groups: each group has
its own first-in-first-out line, and the workers take one job from each
group in turn, so a network that floods waits behind its own requests,
not everyone's. Urgent jobs (logins to existing accounts) are taken before
any other (registrations, password changes). A group may have at most
``per_group`` jobs waiting; past that ``submit`` refuses ("server busy")
and nothing is queued, so the queue is bounded by the groups that ask.
"""

import collections
import logging
import threading

from ..core.accounts import hash_secret

log = logging.getLogger("chat.server")


class FairQueue:
    """Jobs per group, taken round-robin, urgent ones first. Not thread
    safe on its own: ``HashPool`` holds its lock around every call."""

    def __init__(self, per_group):
        self.per_group = per_group
        self._lines = (collections.OrderedDict(), collections.OrderedDict())  # urgent, other
        self._waiting = collections.Counter()   # group -> jobs waiting, both lines

    def __len__(self):
        return sum(self._waiting.values())

    def put(self, group, urgent, job):
        """Queue ``job``; False (nothing queued) if ``group`` has its fill."""
        if self._waiting[group] >= self.per_group:
            return False
        self._waiting[group] += 1
        self._lines[0 if urgent else 1].setdefault(group, collections.deque()).append(job)
        return True

    def get(self):
        """The next job (None if none): the first group's oldest, and that
        group goes to the back of the line."""
        for lines in self._lines:
            if lines:
                group, jobs = next(iter(lines.items()))
                job = jobs.popleft()
                del lines[group]
                if jobs:
                    lines[group] = jobs   # to the back
                self._waiting[group] -= 1
                if not self._waiting[group]:
                    del self._waiting[group]
                return job
        return None


class HashPool:
    """``threads`` workers computing the ``Hash`` effects' digests."""

    def __init__(self, loop, threads, per_group):
        self.loop = loop
        self._queue = FairQueue(per_group)
        self._ready = threading.Condition()
        self._closing = False
        loop.accept_threads()
        self._workers = [threading.Thread(target=self._work, name="hash-%d" % i, daemon=True)
                         for i in range(threads)]
        for worker in self._workers:
            worker.start()

    def submit(self, effect, done):
        """Compute ``effect``'s digest; ``done(digest)`` on the loop. False
        (nothing will happen) if the effect's group has its fill waiting."""
        with self._ready:
            if self._closing or not self._queue.put(effect.group, effect.urgent, (effect, done)):
                return False
            self._ready.notify()
        return True

    def _work(self):
        while True:
            with self._ready:
                while not self._closing:
                    job = self._queue.get()
                    if job is not None:
                        break
                    self._ready.wait()
                else:
                    return   # closing: what still waits is dropped
            effect, done = job
            try:
                digest = hash_secret(effect.secret, effect.salt, effect.n)
            except (ValueError, MemoryError) as exc:   # a cost this machine cannot afford
                log.error("password hash failed: %s", exc)
                digest = b""
            self.loop.call_soon_threadsafe(done, digest)

    def close(self):
        """Stop the workers once their current hash is done; wait for them."""
        with self._ready:
            self._closing = True
            self._ready.notify_all()
        for worker in self._workers:
            worker.join()
