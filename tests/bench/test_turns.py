"""Servers compared side by side take turns in the opposite order every
other run, so none always goes first or last (bench.servers.in_turn)."""

from hypothesis import given, strategies as st

from bench.__main__ import run_scenario
from bench.servers import in_turn


@given(st.lists(st.text(min_size=1), min_size=1, max_size=6, unique=True),
       st.integers(1, 8))
def test_every_server_goes_first_as_often_as_last(names, pairs):
    orders = [in_turn(names, run) for run in range(2 * pairs)]
    for order in orders:
        assert sorted(order) == sorted(names)          # each once a run
    firsts = [order[0] for order in orders]
    lasts = [order[-1] for order in orders]
    assert all(firsts.count(name) == lasts.count(name) for name in names)


class RecordingScenario:
    """Stands in for a scenario: records which server ran when."""

    name = "recording"
    in_process = False
    skip = {}
    aggregate = {}
    metrics = []

    def __init__(self):
        self.order = []

    def run_once(self, name, template, server_cpu=None):
        self.order.append(name)
        return {"status": "ok", "value": 1.0}


def test_the_harness_alternates_the_order_of_its_runs():
    scenario = RecordingScenario()
    servers = [("ours", "cmd {port}"), ("before", "cmd {port}"), ("asyncio", "cmd {port}")]
    run_scenario(scenario, servers, 4, None)
    assert scenario.order == ["ours", "before", "asyncio", "asyncio", "before", "ours"] * 2
