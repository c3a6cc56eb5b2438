"""The hashing pool's fair queue (``chat/server/hashing.py``), and the pool
computing real digests on real threads for a real loop."""

import os
import threading

from chat.core import Hash
from chat.core.accounts import hash_secret
from chat.server.hashing import FairQueue, HashPool
from reactor.loop import EventLoop


def drain(queue):
    jobs = []
    while True:
        job = queue.get()
        if job is None:
            return jobs
        jobs.append(job)


def test_groups_take_turns_and_a_flood_waits_behind_itself():
    queue = FairQueue(per_group=100)
    for i in range(5):
        queue.put("flood", False, "flood%d" % i)
    queue.put("quiet", False, "quiet0")
    queue.put("other", False, "other0")
    assert drain(queue) == ["flood0", "quiet0", "other0", "flood1", "flood2", "flood3",
                            "flood4"]


def test_logins_go_before_registrations():
    queue = FairQueue(per_group=100)
    queue.put("a", False, "register-a")
    queue.put("b", False, "register-b")
    queue.put("c", True, "login-c")
    queue.put("a", True, "login-a")
    assert drain(queue) == ["login-c", "login-a", "register-a", "register-b"]


def test_a_group_with_its_fill_is_refused_and_others_are_not():
    queue = FairQueue(per_group=2)
    assert queue.put("a", True, 1) and queue.put("a", False, 2)
    assert not queue.put("a", True, 3)
    assert queue.put("b", False, 4)
    assert len(queue) == 3
    queue.get()
    assert queue.put("a", True, 5)


def test_the_pool_hands_digests_back_on_the_loop():
    loop = EventLoop()
    pool = HashPool(loop, threads=2, per_group=8)
    salt = os.urandom(16)
    results = []

    def done(digest):
        results.append((digest, threading.current_thread()))
        if len(results) == 3:
            loop.stop()

    try:
        for i in range(3):
            effect = Hash(None, "g%d" % i, True, b"secret-%d" % i, salt, 2 ** 10, None)
            assert pool.submit(effect, done)
        watchdog = loop.call_later(10, loop.stop)
        loop.run()
        watchdog.cancel()
    finally:
        pool.close()
        loop.close()
    assert sorted(r[0] for r in results) == sorted(
        hash_secret(b"secret-%d" % i, salt, 2 ** 10) for i in range(3))
    assert {r[1] for r in results} == {threading.main_thread()}
