"""Pure core tests of PROTOCOL.md section 4: accounts (register, password
logins as ``Hash`` effects, the failed-login limits) and moderation (oper,
kick, ban, unban, bans, purge). The failed-login window runs on the
harness's fake clock; the harness carries out ``Hash`` effects at once."""

import pytest

from chat.core import Broadcast, Close, Hash, Send
from chat.core import accounts as accounts_module
from chat.store.memory import MemoryStore

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
    accounts = h.core.accounts
    (salt_a, hash_a, n), (salt_b, hash_b, _) = accounts.get("alice"), accounts.get("bob")
    assert n == h.core.scrypt_n
    assert salt_a != salt_b and hash_a != hash_b     # same password, different salts
    for value in (salt_a, hash_a):
        assert SECRET.encode() not in value
    assert len(hash_a) == accounts_module.HASH_BYTES


def test_the_default_cost_is_at_least_2_15():
    assert accounts_module.SCRYPT_N >= 2 ** 15 and accounts_module.SCRYPT_R == 8


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
    _, other = login_from(h, "alice", host=LAN, password=SECRET)      # another network
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


def test_the_limits_are_configurable():
    h = Harness(failed_login_limit=2, failed_login_group_limit=3, failed_login_window=5)
    h.handle(h.login("alice"), "register", SECRET)
    for _ in range(2):
        login_from(h, "x", password="guess-guess")
    assert "try again in 5 seconds" in login_from(h, "x", password="guess-guess")[1]["content"]
    assert login_from(h, "y", password="guess-guess")[1]["content"].startswith("login failed")
    assert "try again in 5 seconds" in login_from(h, "alice", password=SECRET)[1]["content"]


# --- hashing as an effect ------------------------------------------------------------------------


def test_a_password_login_is_a_hash_effect_and_its_continuation(h):
    """The core computes no hash: it asks for one (urgent: a login to an
    existing account) and finishes the login when given the digest."""
    registered(h)
    session = h.session()
    session.host = LAN
    effects = h.core.handle(session, {"request": "login", "content": "alice " + SECRET})
    assert [type(e) for e in effects] == [Hash]
    (effect,) = effects
    assert effect.session is session and effect.urgent and effect.group == "203.0.113.0/24"
    assert not session.logged_in                        # nothing happens before the digest
    assert h.deliver(effect.then(b"not the digest"))[session][0]["content"] == \
        "login failed: wrong name or password"
    digest = accounts_module.hash_secret(effect.secret, effect.salt, effect.n)
    effects = h.core.handle(session, {"request": "login", "content": "alice " + SECRET})
    assert decode(effects[0].then(digest)[0].data)["content"] == "Login successful"


def test_registrations_and_changes_are_not_urgent(h):
    alice = h.login("alice")
    (effect,) = h.core.handle(alice, {"request": "register", "content": SECRET})
    assert type(effect) is Hash and not effect.urgent


def test_a_password_for_an_unregistered_name_costs_no_hash(h):
    session = h.session()
    session.host = LAN
    effects = h.core.handle(session, {"request": "login", "content": "nobody whatever123"})
    assert decode(effects[0].data)["content"] == "login failed: wrong name or password"


def test_the_name_taken_while_hashing_is_refused_then(h):
    registered(h)
    session = h.session()
    (effect,) = h.core.handle(session, {"request": "login", "content": "alice " + SECRET})
    login_from(h, "alice", password=SECRET)            # logs in while the first hashes
    digest = accounts_module.hash_secret(effect.secret, effect.salt, effect.n)
    assert decode(effect.then(digest)[0].data)["content"].startswith("Username taken")


def test_an_old_hash_is_upgraded_at_the_next_login():
    store = MemoryStore()
    salt = b"s" * 16
    old = accounts_module.hash_secret(SECRET.encode(), salt, 2 ** 11)
    store.set_account("alice", salt, old, 2 ** 11)
    h = Harness(store=store, scrypt_n=2 ** 12)
    assert login_from(h, "alice", password=SECRET)[1]["content"] == "Login successful"
    salt2, digest, n = store.load().accounts["alice"]
    assert n == 2 ** 12 and salt2 != salt
    assert digest == accounts_module.hash_secret(SECRET.encode(), salt2, 2 ** 12)
    h.core.disconnect(next(iter(h.core.users.values())))
    assert login_from(h, "alice", password=SECRET)[1]["content"] == "Login successful"


def test_successful_password_changes_count_against_the_network_and_name(h):
    alice, _ = login_from(h, "alice")
    h.handle(alice, "register", SECRET)
    for _ in range(5):
        response = h.only_send(alice, h.handle(alice, "password", SECRET + " " + SECRET))
        assert response["content"] == "password changed for alice"
    assert h.error(alice, "password", SECRET + " " + SECRET) == (
        "too many password attempts from your network (failed ones and changes), "
        "try again in 60 seconds")
    bob, _ = login_from(h, "bob", host="198.51.100.9")      # another network
    assert "registered" in h.only_send(bob, h.handle(bob, "register", SECRET))["content"]


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
    assert listing == "Bans (1): bob from %s (flooding) by op" % LAN
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
