"""Pure core tests of PROTOCOL.md section 4: accounts (register, password
logins, the failed-login limit, the server-wide hash budget) and moderation
(oper, kick, ban, unban, bans, purge). The failed-login window and the hash
budget run on the harness's fake clock."""

import time
from unittest import mock

import pytest
from hypothesis import given, settings, strategies as st

from chat.core import Broadcast, Close, Send
from chat.core import accounts as accounts_module

from core_support import Harness, decode

SECRET = "hunter2hunter2"
OPER = "0per-pass"
LAN = "203.0.113.7"


@pytest.fixture
def h():
    return Harness(oper_password=OPER)


def login_from(h, name, host=LAN, password=None):
    session = h.session()
    session.host = host
    effects = h.handle(session, "login", name if password is None else "%s %s" % (name, password))
    return session, decode(effects[0].data)


def registered(h, name="alice", password=SECRET):
    session = h.login(name)
    text = h.only_send(session, h.handle(session, "register", password))["content"]
    assert password not in text
    h.handle(session, "logout")
    return text


def all_bytes(effects):
    return b"".join(e.data for e in effects if not isinstance(e, Close))


# --- accounts ---------------------------------------------------------------------------------


def test_register_claims_the_name(h):
    text = registered(h)
    assert text.startswith("alice is now registered") and "login alice <password>" in text
    session, first = login_from(h, "ALICE")
    assert first["response"] == "error"
    assert first["content"] == "ALICE is registered: login ALICE <password>"
    session, first = login_from(h, "alice", password=SECRET)
    assert first["content"] == "Login successful" and session.name == "alice"


def test_wrong_password_and_unregistered_name_get_the_same_error(h):
    registered(h)
    _, wrong = login_from(h, "alice", password="not-the-password")
    _, unknown = login_from(h, "nobody", password="whatever123")
    assert wrong["response"] == unknown["response"] == "error"
    assert wrong["content"] == unknown["content"] == "login failed: wrong name or password"


def test_a_registered_name_that_is_online_is_taken_even_with_its_password(h):
    registered(h)
    login_from(h, "alice", password=SECRET)
    _, second = login_from(h, "alice", password=SECRET)
    assert second["content"].startswith("Username taken")


@pytest.mark.parametrize("password", ["short", "x" * 129, "has space", "tab\there1", ""])
def test_register_refuses_malformed_passwords(h, password):
    alice = h.login("alice")
    text = h.error(alice, "register", password)
    assert "8-128 characters without spaces" in text
    assert password.strip() == "" or password not in text
    assert "alice" not in h.core.accounts


def test_register_twice_and_before_login(h):
    alice = h.login("alice")
    h.handle(alice, "register", SECRET)
    assert "already registered" in h.error(alice, "register", "another-one")
    assert "not logged in" in h.error(h.session(), "register", SECRET)


def test_the_account_cap():
    h = Harness(max_accounts=1)
    h.handle(h.login("alice"), "register", SECRET)
    assert "cannot register more" in h.error(h.login("bob"), "register", SECRET)


def test_password_change(h):
    registered(h)
    alice, _ = login_from(h, "alice", password=SECRET)
    assert "does not match" in h.error(alice, "password", "wrong-old-pw new-password")
    response = h.only_send(alice, h.handle(alice, "password", SECRET + " new-password"))
    assert response["content"] == "password changed for alice"
    assert SECRET not in response["content"] and "new-password" not in response["content"]
    h.handle(alice, "logout")
    assert login_from(h, "alice", password=SECRET)[1]["response"] == "error"
    assert login_from(h, "alice", password="new-password")[1]["content"] == "Login successful"


@pytest.mark.parametrize("content", ["", "onlyone1", "a b", "12345678 short",
                                     "a" * 8 + " " + "b" * 129])
def test_password_change_refuses_malformed_requests(h, content):
    alice = h.login("alice")
    h.handle(alice, "register", SECRET)
    text = h.error(alice, "password", content)
    assert "password <old> <new>" in text


def test_password_change_needs_a_registered_name(h):
    bob = h.login("bob")
    assert "not registered" in h.error(bob, "password", "aaaaaaaa bbbbbbbb")


def test_only_a_salted_hash_is_stored(h):
    registered(h, "alice")
    registered(h, "bob")
    records = h.core.accounts._records
    (salt_a, hash_a), (salt_b, hash_b) = records["alice"], records["bob"]
    assert salt_a != salt_b and hash_a != hash_b     # same password, different salts
    for value in (salt_a, hash_a):
        assert SECRET.encode() not in value
    assert len(hash_a) == accounts_module.HASH_BYTES


def test_scrypt_costs_at_most_a_few_milliseconds():
    salt = b"s" * 16
    start = time.perf_counter()
    for _ in range(5):
        accounts_module.hash_password(SECRET, salt)
    per_hash = (time.perf_counter() - start) / 5
    assert per_hash < 0.05, per_hash   # a few ms measured; generous for a loaded machine


def test_passwords_never_appear_in_any_answer(h):
    effects = []
    alice = h.login("alice")
    effects += h.handle(alice, "register", SECRET)
    effects += h.handle(alice, "register", SECRET)
    effects += h.handle(alice, "password", SECRET + " " + SECRET + "2")
    effects += h.handle(alice, "password", "wrongwrong " + SECRET + "3")
    effects += h.handle(alice, "oper", SECRET)
    effects += h.handle(alice, "logout")
    for attempt in (SECRET, SECRET + "2", "guessing1"):
        effects += h.handle(h.session(), "login", "alice " + attempt)
    assert SECRET.encode() not in all_bytes(effects)
    assert b"guessing1" not in all_bytes(effects)


# --- the failed-login limit ---------------------------------------------------------------------


def test_five_failures_a_minute_then_refused_until_the_minute_has_passed(h):
    registered(h)
    for _ in range(5):
        _, answer = login_from(h, "alice", password="guess-guess")
        assert answer["content"].startswith("login failed")
    h.monotonic.t += 10
    _, refused = login_from(h, "alice", password=SECRET)   # even the right one, for now
    assert refused["content"] == "too many failed logins, try again in 50 seconds"
    h.monotonic.t += 49.5
    assert "try again in 1 seconds" in login_from(h, "alice", password=SECRET)[1]["content"]
    h.monotonic.t += 0.5
    _, ok = login_from(h, "alice", password=SECRET)
    assert ok["content"] == "Login successful"


def test_the_limit_is_per_address_loopback_included_and_spares_plain_logins(h):
    registered(h)
    for _ in range(5):
        login_from(h, "alice", host="127.0.0.1", password="guess-guess")
    assert "too many failed logins" in login_from(
        h, "alice", host="127.0.0.1", password=SECRET)[1]["content"]
    _, other = login_from(h, "alice", host=LAN, password=SECRET)      # another address
    assert other["content"] == "Login successful"
    _, plain = login_from(h, "bob", host="127.0.0.1")                # standard clients
    assert plain["content"] == "Login successful"


def test_failed_oper_and_password_attempts_count_too(h):
    guesser, _ = login_from(h, "mallory")
    for i in range(5):
        assert h.error(guesser, "oper", "guess%d" % i) == "wrong operator password"
    assert "too many failed logins" in h.error(guesser, "oper", OPER)
    assert not guesser.operator


def test_the_failure_table_forgets_old_addresses(h):
    """The table of failures holds only the addresses of the last window or
    so, at one new address a second and at ten (600 a minute)."""
    for i in range(1000):
        login_from(h, "nobody", host="198.51.100.%d" % (i % 250) + str(i // 250),
                   password="guess-guess")
        h.monotonic.t += 1
    assert len(h.core.failed_logins) <= 200   # only the addresses of the last minute or so
    for i in range(3000):
        login_from(h, "nobody", host="198.51.%d.%d" % (i // 250, i % 250),
                   password="guess-guess")           # fails without hashing
        h.monotonic.t += 0.1                      # 300 s in all, 600 addresses a minute
    assert len(h.core.failed_logins) <= 2 * 600


def test_the_limit_is_configurable():
    h = Harness(failed_login_limit=2, failed_login_window=5)
    h.handle(h.login("alice"), "register", SECRET)
    for _ in range(2):
        login_from(h, "x", password="guess-guess")
    assert "try again in 5 seconds" in login_from(h, "alice", password=SECRET)[1]["content"]


# --- the hash budget ---------------------------------------------------------------------------

BUSY = "server busy: too many password checks right now, try again in a moment"


@pytest.fixture
def hashes(monkeypatch):
    """Every scrypt hash the core computes, counted (the real one still runs)."""
    calls = []
    real = accounts_module.hash_password

    def counted(password, salt):
        calls.append(password)
        return real(password, salt)

    monkeypatch.setattr(accounts_module, "hash_password", counted)
    return calls


def test_once_the_hash_budget_is_spent_hashing_requests_are_refused_unhashed(hashes):
    h = Harness(hash_rate=1, hash_burst=4, failed_login_limit=2)
    alice, _ = login_from(h, "alice")
    h.handle(alice, "register", SECRET)                                     # 1 hash
    h.handle(alice, "password", SECRET + " second-pw")                      # 2: one left
    assert len(hashes) == 3
    assert h.error(alice, "password", "second-pw third-pw") == BUSY          # needs two
    carol, _ = login_from(h, "carol")
    assert "registered" in h.only_send(carol, h.handle(carol, "register", SECRET))["content"]
    assert len(hashes) == 4                                                 # none left
    bob, _ = login_from(h, "bob")
    assert h.error(bob, "register", SECRET) == BUSY
    h.handle(alice, "logout")
    assert login_from(h, "alice", password="second-pw")[1]["content"] == BUSY
    assert login_from(h, "alice", password="wrong-password")[1]["content"] == BUSY
    assert len(hashes) == 4 and "bob" not in h.core.accounts
    # everything else goes on: plain logins, names, messages
    dave, first = login_from(h, "dave")
    assert first["content"] == "Login successful"
    assert "dave" in h.only_send(dave, h.handle(dave, "names"))["content"]
    assert h.deliver(h.handle(dave, "msg", "still here"))[dave][0]["content"] == "still here"
    # the budget refills with time; the refusals were not failed attempts (limit 2,
    # one change recorded) and changed nothing (alice's password is still the second)
    h.monotonic.t += 1
    alice, ok = login_from(h, "alice", password="second-pw")
    assert ok["content"] == "Login successful" and len(hashes) == 5
    h.monotonic.t += 1.5
    assert h.error(alice, "password", "second-pw third-pw") == BUSY
    h.monotonic.t += 0.5
    assert "changed" in h.only_send(alice, h.handle(alice, "password",
                                                    "second-pw third-pw"))["content"]
    assert len(hashes) == 7


def test_a_password_for_an_unregistered_name_costs_no_hash(hashes):
    h = Harness(hash_rate=1, hash_burst=1)
    assert login_from(h, "nobody", password="whatever123")[1]["content"] == \
        "login failed: wrong name or password"
    assert hashes == []
    alice = h.login("alice")
    assert "registered" in h.only_send(alice, h.handle(alice, "register", SECRET))["content"]


def test_hash_rate_zero_means_no_budget(hashes):
    h = Harness(hash_rate=0, failed_login_limit=0)
    alice = h.login("alice")
    h.handle(alice, "register", SECRET)
    for _ in range(15):
        response = h.only_send(alice, h.handle(alice, "password", SECRET + " " + SECRET))
        assert response["content"] == "password changed for alice"
    assert len(hashes) == 31


def test_successful_password_changes_count_against_the_address(h):
    alice, _ = login_from(h, "alice")
    h.handle(alice, "register", SECRET)
    for _ in range(5):
        h.monotonic.t += 1    # within the hash budget
        response = h.only_send(alice, h.handle(alice, "password", SECRET + " " + SECRET))
        assert response["content"] == "password changed for alice"
    assert h.error(alice, "password", SECRET + " " + SECRET) == (
        "too many password attempts from your address (failed ones and changes), "
        "try again in 56 seconds")
    bob, _ = login_from(h, "bob", host="198.51.100.9")      # another address
    assert "registered" in h.only_send(bob, h.handle(bob, "register", SECRET))["content"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 0.01, 0.1, 0.3, 1.0]),
                          st.sampled_from(["register", "password", "login"])),
                max_size=60))
def test_never_more_hashes_than_burst_plus_rate_times_the_interval(steps):
    rate, burst = 5.0, 4
    h = Harness(hash_rate=rate, hash_burst=burst, failed_login_limit=0)
    hashed_at = []

    def fake_hash(password, salt):   # fast: only when it is called matters here
        hashed_at.append(h.monotonic.t)
        return salt + password.encode()

    with mock.patch.object(accounts_module, "hash_password", fake_hash):
        visitor = h.login("visitor")
        h.handle(visitor, "register", SECRET)
        h.handle(visitor, "logout")
        owner = h.login("owner")
        h.handle(owner, "register", SECRET)
        for i, (step, request) in enumerate(steps):
            h.monotonic.t += step
            before = len(hashed_at)
            if request == "register":
                session = h.login("user%d" % i)
                answer = h.only_send(session, h.handle(session, "register", SECRET))
            elif request == "password":
                answer = h.only_send(owner, h.handle(owner, "password", SECRET + " " + SECRET))
            else:
                session, answer = login_from(h, "visitor", password=SECRET)
                h.core.disconnect(session)
            assert answer["response"] == "error" or len(hashed_at) > before, answer
            if answer["response"] == "error":
                assert answer["content"] == BUSY and len(hashed_at) == before, answer
            if step >= 1.0:     # a second's refill (5 hashes) answers any request
                assert answer["response"] == "info", answer
    for first in range(len(hashed_at)):
        for last in range(first, len(hashed_at)):
            count = last - first + 1
            assert count <= burst + rate * (hashed_at[last] - hashed_at[first]) + 1e-9


# --- operators -----------------------------------------------------------------------------------


def test_without_a_configured_password_nobody_becomes_an_operator():
    for password in (None, ""):
        h = Harness(oper_password=password)
        alice = h.login("alice")
        assert "no operator password" in h.error(alice, "oper", "")
        assert "no operator password" in h.error(alice, "oper", "anything")
        assert not alice.operator


def test_oper_with_the_right_password(h):
    alice = h.login("alice")
    assert h.error(alice, "oper", "wrong") == "wrong operator password"
    info = h.only_send(alice, h.handle(alice, "oper", OPER))
    assert info["response"] == "info" and "operator" in info["content"]
    assert OPER not in info["content"]
    assert alice.operator
    assert "already an operator" in h.error(alice, "oper", OPER)
    h.handle(alice, "logout")
    assert not alice.operator


@pytest.mark.parametrize("request_name, content", [
    ("kick", "bob"), ("ban", "bob spam"), ("unban", "bob"), ("bans", None), ("purge", "bob")])
def test_moderation_needs_operator_rights(h, request_name, content):
    alice, _ = h.login("alice"), h.login("bob")
    assert h.error(alice, request_name, content) == "%s needs operator rights" % request_name


def operator(h, name="op"):
    session, _ = login_from(h, name)
    h.handle(session, "oper", OPER)
    return session


def test_kick(h):
    op = operator(h)
    bob, carol = h.login("bob"), h.login("carol")
    h.core.flush_presence()
    effects = h.handle(op, "kick", "BOB  spamming the room ")
    assert [type(e) for e in effects] == [Send, Close, Broadcast]
    assert effects[0].session is bob and effects[1].session is bob
    assert decode(effects[0].data) == dict(decode(effects[0].data), response="error",
                                           content="kicked by op: spamming the room")
    assert decode(effects[2].data)["content"] == "bob was kicked by op (spamming the room)"
    assert set(effects[2].recipients) == {op, carol}
    assert not bob.logged_in and "bob" not in h.core.users
    assert h.core.flush_presence() == []          # no "bob left" after the kick notice
    h.login("bob")                                # a kick is not a ban


def test_kick_without_reason_and_from_another_room(h):
    op = operator(h)
    bob, carol = h.login("bob"), h.login("carol")
    h.handle(bob, "join", "dev")
    h.handle(carol, "join", "dev")
    effects = h.handle(op, "kick", "bob")
    assert decode(effects[0].data)["content"] == "kicked by op"
    assert decode(effects[2].data)["content"] == "bob was kicked by op"
    assert set(effects[2].recipients) == {carol, op}   # the operator hears it anywhere


def test_kick_errors(h):
    op = operator(h)
    assert h.error(op, "kick", "bob") == "bob is not online"
    assert "kick needs a username" in h.error(op, "kick", "")
    assert "kick needs a username" in h.error(op, "kick", "b@d")
    assert "yourself" in h.error(op, "kick", "OP")


def test_ban_refuses_the_name_in_any_case_and_the_address(h):
    op = operator(h)
    bob, _ = login_from(h, "bob", host=LAN)
    effects = h.handle(op, "ban", "bob flooding")
    assert decode(effects[0].data)["content"] == "banned by op: flooding"
    assert decode(effects[2].data)["content"] == "bob was banned by op (flooding)"
    assert isinstance(effects[1], Close) and effects[1].session is bob
    for name, host in (("BOB", "198.51.100.1"), ("bobby", LAN)):
        session, first = login_from(h, name, host=host)
        assert first == dict(first, response="error", content="you are banned: flooding")
        assert not session.logged_in
    listing = h.only_send(op, h.handle(op, "bans"))["content"]
    assert listing == "Bans (1): bob from %s (flooding)" % LAN
    assert h.only_send(op, h.handle(op, "unban", "BOB"))["content"] == "BOB is no longer banned"
    assert login_from(h, "bob", host=LAN)[1]["content"] == "Login successful"
    assert h.error(op, "unban", "bob") == "bob is not banned"
    assert h.only_send(op, h.handle(op, "bans"))["content"] == "Bans (0)"


def test_loopback_addresses_are_never_banned(h):
    op = operator(h)
    for host in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        login_from(h, "victim", host=host)
        h.handle(op, "ban", "victim")
        assert login_from(h, "other", host=host)[1]["content"] == "Login successful"
        h.handle(op, "unban", "victim")
        h.handle(h.core.users["other"], "logout")
    assert h.core.bans.hosts == {}


def test_ban_of_a_name_not_online_bans_the_name_alone(h):
    op = operator(h)
    info = h.only_send(op, h.handle(op, "ban", "ghost"))
    assert info["response"] == "info" and "ghost is banned" in info["content"]
    assert login_from(h, "Ghost")[1]["content"] == "you are banned"
    assert h.core.bans.hosts == {}


def test_purge_removes_a_users_messages_from_the_operators_room(h):
    op = operator(h)
    bob, carol = h.login("bob"), h.login("carol")
    for text in ("spam 1", "fine", "spam 2"):
        h.handle(bob if "spam" in text else carol, "msg", text)
    h.handle(bob, "join", "dev")
    h.handle(bob, "msg", "spam in dev")
    effects = h.handle(op, "purge", "BOB")
    assert len(effects) == 1 and set(effects[0].recipients) == {op, carol}
    assert decode(effects[0].data)["content"] == "2 messages from BOB were removed by op"
    assert [m["content"] for m in decode(h.core.history_response())["content"]] == ["fine"]
    dev = h.core.rooms["dev"]
    assert [m["content"] for m in decode(h.core.history_response(dev))["content"]] == \
        ["spam in dev"]
    dave = h.session()
    assert b"spam" not in h.handle(dave, "login", "dave")[1].data


def test_passwords_with_lone_surrogates_are_handled_not_a_crash(h):
    """JSON can carry "\\ud800"; strict UTF-8 cannot encode it."""
    alice = h.login("alice")
    odd = "\ud800" * 8
    assert "registered" in h.only_send(alice, h.handle(alice, "register", odd))["content"]
    assert h.error(alice, "oper", odd) == "wrong operator password"
    h.handle(alice, "logout")
    assert login_from(h, "alice", password=odd)[1]["content"] == "Login successful"
