"""names-flood and room-switcher (issue 21): a probe's round trip while
others pipeline heavy requests.

The answer counter finds markers split anywhere; both scenarios run tiny
(a few dozen clients, a fraction of a second) against our real server and
report sane figures; both are in the suite ``make bench`` runs.
"""

import pytest

from bench.probing import MarkerCounter
from bench.scenarios.probes import NAMES_FLOOD_METRICS, SWITCHER_METRICS, probe_scenarios
from bench.servers import DEFAULT_SERVERS
from bench.suites import select


@pytest.mark.parametrize("chunk", [1, 2, 5, 13, 1000])
def test_the_marker_counter_finds_markers_split_anywhere(chunk):
    marker = b"Users online ("
    stream = b"".join(b'{"content": "Users online (%d): a, b"}\n' % i for i in range(40))
    counter, found = MarkerCounter(marker), 0
    for start in range(0, len(stream), chunk):
        piece = bytearray(stream[start:start + chunk])
        found += counter.feed(piece, len(piece))
    assert found == 40


def test_both_are_in_the_quick_suite():
    names = [s.name for s in select("quick")]
    assert "names-flood" in names and "room-switcher" in names
    assert names.index("names-flood") < names.index("room-switcher")


def _tiny(name, **params):
    [scenario] = [s for s in probe_scenarios(0.6, 0.2, flood_users=60) if s.name == name]
    scenario.params.update(params)
    assert scenario.skip["asyncio"].startswith("not run")   # no rooms: no probe alone
    run = scenario.run_once("ours", DEFAULT_SERVERS["ours"])
    assert run["status"] == "ok", run.get("error")
    keys = {m.key for m in scenario.metrics}
    assert keys <= set(run), keys - set(run)
    assert run["probe_samples"] >= 4
    assert 0 < run["probe_p50_ms"] <= run["probe_p99_ms"] <= run["probe_max_ms"]
    assert run["probe_unanswered"] == 0
    assert run["answers_per_s"] > 0 and run["received_bytes_per_s"] > 0
    assert run["disconnected"] == 0
    assert run["server_cpu"] >= 0   # a tiny run may take less than one clock tick
    return run


@pytest.mark.slow
def test_names_flood_tiny():
    run = _tiny("names-flood")
    assert run["clients"] == 60
    # every answer lists the 60 users and the 4 probes' names are elsewhere
    assert run["received_bytes_per_s"] > run["answers_per_s"] * 60 * 3
    assert {m.key for m in NAMES_FLOOD_METRICS} >= {"probe_p50_ms", "probe_p99_ms"}


@pytest.mark.slow
def test_room_switcher_tiny():
    run = _tiny("room-switcher", clients=10, history=100)
    # each join answers a history of 100 messages of about 150 bytes
    assert run["received_bytes_per_s"] > run["answers_per_s"] * 100 * 100
    assert run["received_bytes_per_s_each"] == pytest.approx(run["received_bytes_per_s"] / 10)
    assert "received_bytes_per_s_each" in {m.key for m in SWITCHER_METRICS}
