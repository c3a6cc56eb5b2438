"""Issue 21: the one number for the worst case (docs/server.md) is summed
from the real defaults, and the page quotes what the code computes."""

import os

from chat import limits
from chat.core import worst_case_response_bytes
from chat.server.config import ServerConfig, parse_args

DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "server.md")


def mib(n):
    return "%.0f MiB" % (n / 2 ** 20)


def test_the_bound_is_summed_from_the_servers_real_defaults():
    config = ServerConfig()
    args = parse_args([])
    bound = limits.memory_bound()
    same = limits.memory_bound(
        max_clients=args.max_clients, max_rooms=args.max_rooms,
        history_limit=args.history_limit, max_message_bytes=args.max_message_bytes,
        max_history_memory=args.max_history_memory, max_request_size=args.max_request_size,
        pause_output=args.pause_output, max_total_output=args.max_total_output,
        send_buffer=config.send_buffer, max_accounts=config.max_accounts)
    assert bound == same
    assert bound["total"] == sum(v for k, v in bound.items() if k != "total")
    # the envelope the bound assumes covers the core's exact worst case
    history = limits.HISTORY_LIMIT * (limits.MAX_MESSAGE_BYTES + limits.MESSAGE_ENVELOPE)
    assert history >= worst_case_response_bytes(limits.HISTORY_LIMIT, limits.MAX_MESSAGE_BYTES)
    assert bound["histories of rooms without members"] == config.max_history_memory


def test_docs_quote_the_computed_totals():
    with open(DOCS, encoding="utf-8") as f:
        text = f.read()
    assert mib(limits.memory_bound()["total"]) in text
    small = limits.memory_bound(max_rooms=100, history_limit=200)
    assert mib(small["total"]) in text


def test_a_history_budget_that_cannot_hold_one_room_is_refused_at_start():
    assert ServerConfig().check() == []
    assert ServerConfig(max_history_memory=0).check() == []
    problems = ServerConfig(max_history_memory=1_000_000).check()
    assert len(problems) == 1 and "--max-history-memory 1000000" in problems[0]
    assert ServerConfig(max_history_memory=1_000_000, history_limit=10).check() == []
