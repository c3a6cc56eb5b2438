"""Issue 20's attacks on accounts and moderation, replayed against the pure
core (PROTOCOL.md section 4, "Accounts" and "Moderation"). Each failed on
the main of 2026-12-07 (noted per test); hosts are documentation networks,
so the limits that count per address group are the ones under test."""

from chat.core import CoreHooks
from chat.store.memory import MemoryStore
from core_support import Harness, decode

SECRET = "correct-horse-battery"
OPER = "operator-password-0123"
WRONG = "login failed: wrong name or password"


def login_from(h, name, host, password=None):
    session = h.session()
    session.host = host
    content = name if password is None else "%s %s" % (name, password)
    effects = h.handle(session, "login", content)
    return session, decode(effects[0].data)["content"]


def register(h, name, host, password=SECRET):
    session, answer = login_from(h, name, host)
    assert answer == "Login successful", answer
    text = decode(h.handle(session, "register", password)[0].data)["content"]
    h.handle(session, "logout")
    return text


def test_one_network_registering_never_fails_another_networks_login():
    """Attack 1. On main: after the burst of the server-wide hash budget,
    alice's correct password from another network got "server busy"."""
    h = Harness()
    register(h, "alice", "198.51.100.20")
    answers = [register(h, "bot%d" % i, "203.0.113.%d" % (1 + i % 4)) for i in range(30)]
    assert sum(a.startswith("bot") and "now registered" in a for a in answers) == 5
    assert all("too many registrations from your network, try again in" in a
               for a in answers[5:]), answers[5:]
    _, answer = login_from(h, "alice", "198.51.100.20", SECRET)
    assert answer == "Login successful"


def test_registrations_from_loopback_are_not_limited_per_network():
    h = Harness()
    answers = [register(h, "local%d" % i, "127.0.0.1") for i in range(8)]
    assert all("now registered" in a for a in answers), answers


def test_rotating_addresses_in_one_network_is_still_limited():
    """Attack 2. On main: 40 guesses from 203.0.113.1-40 all got the
    plain wrong-password answer (the limit counted address strings)."""
    h = Harness()
    register(h, "alice", "198.51.100.20")
    answers = [login_from(h, "alice", "203.0.113.%d" % (i + 1), "guess-%03d" % i)[1]
               for i in range(40)]
    assert answers[:5] == [WRONG] * 5
    assert all(a.startswith("too many failed logins, try again in") for a in answers[5:])
    # ... and the owner, from elsewhere, is not locked out
    assert login_from(h, "alice", "198.51.100.20", SECRET)[1] == "Login successful"


def test_a_network_gets_at_most_30_failures_a_minute_over_all_names():
    h = Harness()
    answers = [login_from(h, "name%d" % i, "203.0.113.%d" % (i % 200), "guess-guess")[1]
               for i in range(40)]
    assert answers[:30] == [WRONG] * 30
    assert all(a.startswith("too many failed logins") for a in answers[30:]), answers[30:]


def test_rotating_addresses_for_oper_is_limited_too():
    """Attack 2, oper. On main: 40 wrong ``oper`` from 40 addresses of one
    /24 were all answered "wrong operator password"."""
    h = Harness(oper_password=OPER)
    answers = []
    for i in range(40):
        session, _ = login_from(h, "guesser%d" % i, "203.0.113.%d" % (i + 1))
        answers.append(decode(h.handle(session, "oper", "guess-%03d" % i)[0].data)["content"])
    assert answers[:5] == ["wrong operator password"] * 5
    assert all(a.startswith("too many failed logins") for a in answers[5:]), answers[5:]


def test_one_users_failures_never_lock_out_a_neighbours_name():
    """Attack 3. On main: five failures for "ghost" and alice's correct
    login from the same address got "too many failed logins"."""
    h = Harness()
    register(h, "alice", "203.0.113.9")
    for i in range(5):
        assert login_from(h, "ghost", "203.0.113.7", "guess-%d-guess" % i)[1] == WRONG
    assert login_from(h, "ghost", "203.0.113.7", "guess-guess")[1].startswith("too many")
    assert login_from(h, "alice", "203.0.113.7", SECRET)[1] == "Login successful"


def test_unbanning_one_user_never_lifts_anothers_address_ban():
    """Attack 5. On main: ``unban trudy`` let banned mallory's address in."""
    h = Harness(oper_password=OPER)
    op, _ = login_from(h, "op", "198.51.100.1")
    h.handle(op, "oper", OPER)
    login_from(h, "mallory", "203.0.113.66")
    login_from(h, "trudy", "203.0.113.66")
    h.handle(op, "ban", "mallory spam")
    h.handle(op, "ban", "trudy spam")
    assert "no longer banned" in decode(h.handle(op, "unban", "trudy")[0].data)["content"]
    assert login_from(h, "newcomer", "203.0.113.66")[1] == "you are banned: spam"
    assert login_from(h, "trudy", "198.51.100.77")[1] == "Login successful"


def test_bans_restored_from_the_store_stay_independent():
    store = MemoryStore()
    h = Harness(oper_password=OPER, store=store)
    op, _ = login_from(h, "op", "198.51.100.1")
    h.handle(op, "oper", OPER)
    login_from(h, "mallory", "203.0.113.66")
    login_from(h, "trudy", "203.0.113.66")
    h.handle(op, "ban", "mallory spam")
    h.handle(op, "ban", "trudy spam")
    h.handle(op, "unban", "trudy")
    restarted = Harness(oper_password=OPER, store=store)
    assert login_from(restarted, "newcomer", "203.0.113.66")[1] == "you are banned: spam"
    op, _ = login_from(restarted, "op", "198.51.100.1")
    restarted.handle(op, "oper", OPER)
    listing = decode(restarted.handle(op, "bans")[0].data)["content"]
    assert listing == "Bans (1): mallory from 203.0.113.66 (spam) by op"


class AuditTrail(CoreHooks):
    def __init__(self):
        self.lines = []

    def audit(self, event, address, name, by=None):
        self.lines.append((event, address, name, by))


def test_every_security_event_reaches_the_hooks_without_secrets():
    """Attack 7 in the core: on main there was no audit hook at all."""
    trail = AuditTrail()
    h = Harness(oper_password=OPER, hooks=trail)
    register(h, "alice", "198.51.100.20")
    login_from(h, "alice", "203.0.113.7", "guess-guess")
    op, _ = login_from(h, "op", "198.51.100.1")
    h.handle(op, "oper", "not-the-password")
    h.handle(op, "oper", OPER)
    login_from(h, "bob", "203.0.113.8")
    h.handle(op, "kick", "bob")
    h.handle(op, "ban", "ghost")
    h.handle(op, "unban", "ghost")
    h.handle(op, "purge", "bob")
    assert trail.lines == [
        ("register", "198.51.100.20", "alice", None),
        ("login_failed", "203.0.113.7", "alice", None),
        ("oper_failed", "198.51.100.1", "op", None),
        ("oper", "198.51.100.1", "op", None),
        ("kick", "203.0.113.8", "bob", "op"),
        ("ban", None, "ghost", "op"),
        ("unban", None, "ghost", "op"),
        ("purge", None, "bob", "op"),
    ]
    assert not any(SECRET in str(line) or OPER in str(line) for line in trail.lines)
