"""The router passes a string argument of a request that needs one as it
is, without the general check (``Router._argument``): held to that check
for every route and any JSON content (hypothesis)."""

from hypothesis import given, settings, strategies as st

from chat.core import Session
from chat import protocol
from chat.protocol import Request, RequestError
from chat.router import TABLE, Router, build_router

contents = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(),
              st.sampled_from(["", "None", " ", "x"])),
    lambda children: st.one_of(st.lists(children, max_size=2),
                               st.dictionaries(st.text(), children, max_size=2)),
    max_leaves=4)


def outcome(call):
    try:
        return ("argument", call())
    except RequestError as exc:
        return ("error", str(exc))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([row[0] for row in TABLE]), contents)
def test_dispatch_gives_the_handler_what_the_general_check_gives(name, content):
    router = build_router({row[0]: (lambda session, argument: argument) for row in TABLE},
                          max_username_length=32, max_message_length=2048,
                          min_password=8, max_password=128)
    session = Session("127.0.0.1")
    session.name, session.operator = "alice", True
    route = router.routes[name]
    assert outcome(lambda: router.dispatch(session, Request(name, content))) == \
        outcome(lambda: Router._argument(route, content))


@given(st.one_of(st.dictionaries(st.sampled_from(["request", "content", "x"]),
                                 st.one_of(st.text(), st.integers(), st.none())),
                 st.text(), st.integers(), st.none()))
def test_the_servers_checks_read_the_request_name_the_core_reads(value):
    """Password policy, answer budget and metrics go by ``request_name``;
    it must be the name ``parse_request`` hands the router, in any spelling."""
    try:
        expected = protocol.parse_request(value).name
    except protocol.RequestError:
        expected = None
    assert protocol.request_name(value) == expected
