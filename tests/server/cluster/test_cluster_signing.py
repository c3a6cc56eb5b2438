"""Signing and verifying what nodes write (``chat/server/cluster/signing.py``),
without Redis: the wrapped client here only hands back the command it was
given, as it would go on the wire."""

import logging

import pytest

from chat.server.cluster.signing import SignedRedis, read_key

KEY = b"k" * 32


class Wire:
    """Stands where the ``RedisClient`` is: the command as Redis would store it."""

    def call(self, *args, **_kwargs):
        return [a if isinstance(a, bytes) else str(a).encode() for a in args]


def written(signed, *args):
    return signed.call(*args)


def test_a_signed_entry_verifies_and_a_changed_one_does_not(caplog):
    signed = SignedRedis(Wire(), KEY, lambda: 0.0)
    command = written(signed, "XADD", "ktn:room:lobby", "MAXLEN", "~", 100, "*",
                      "s", "alice", "r", "lobby", "p", b'{"x": 1}\n')
    flat = command[6:]
    assert flat[-2] == b"sig"
    assert signed.verify_entry("ktn:room:lobby", flat) == flat[:-2]
    assert signed.verify_entry("ktn:room:dev", flat) is None          # moved to another room
    forged = list(flat)
    forged[1] = b"mallory"
    assert signed.verify_entry("ktn:room:lobby", forged) is None
    assert signed.verify_entry("ktn:room:lobby", flat[:-2]) is None   # unsigned
    other = SignedRedis(Wire(), b"x" * 32, lambda: 0.0)
    assert other.verify_entry("ktn:room:lobby", flat) is None         # another key


def test_records_and_a_rate_limited_log(caplog):
    now = [100.0]
    signed = SignedRedis(Wire(), KEY, lambda: now[0])
    value = signed.sign_record("ktn:accounts", "alice", '["00", "11", 32768]')
    assert signed.verify_record("ktn:accounts", b"alice", value) == b'["00", "11", 32768]'
    assert signed.verify_record("ktn:accounts", b"bob", value) is None
    with caplog.at_level(logging.WARNING, logger="chat.cluster"):
        for _ in range(50):
            signed.verify_record("ktn:accounts", b"x", b'["00", "11"]')
        now[0] += 10
        signed.verify_record("ktn:accounts", b"x", b"junk")
    lines = [r.getMessage() for r in caplog.records if "signature" in r.getMessage()]
    assert len(lines) == 2, lines       # bob's drop, then one line for the next 51
    assert lines[1].startswith("dropped 51 entries")


def test_without_a_key_nothing_is_signed_or_checked():
    plain = SignedRedis(Wire(), None, lambda: 0.0)
    command = written(plain, "HSET", "ktn:bans", "eve", "[]")
    assert command[-1] == b"[]"
    assert plain.verify_entry("s", [b"a", b"b"]) == [b"a", b"b"]


def test_a_short_key_is_refused(tmp_path):
    path = tmp_path / "key"
    path.write_bytes(b"short\n")
    with pytest.raises(ValueError, match="at least 16 bytes"):
        read_key(str(path))
    path.write_bytes(b"0123456789abcdef0123\n")
    assert read_key(str(path)) == b"0123456789abcdef0123"
