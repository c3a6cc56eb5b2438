"""reactor/metrics.py: what it renders, read back by Prometheus' own parser."""

import math

import pytest
from hypothesis import given, strategies as st
from prometheus_client.parser import text_string_to_metric_families

from reactor.metrics import Registry


def parsed(registry):
    return {family.name: family for family in
            text_string_to_metric_families(registry.render().decode("utf-8"))}


def test_every_kind_reads_back():
    registry = Registry()
    requests = registry.counter("chat_requests", "Requests by name.", ["request"])
    logins = registry.counter("chat_logins", "Successful logins.")
    queued = registry.gauge("chat_output_queued_bytes", "Output owed to clients.")
    by_kind = registry.gauge("chat_connections", "Open connections.", ["kind"],
                             collect=lambda: {("tcp",): 3, ("websocket",): 1})
    passes = registry.histogram("loop_pass_seconds", "Loop pass duration.", [0.001, 0.01])
    requests.inc(2, "msg")
    requests.inc(1, "login")
    logins.inc()
    queued.set(4096)
    for value in (0.0005, 0.005, 0.5):
        passes.observe(value)
    families = parsed(registry)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in families.values() for s in family.samples}
    assert samples[("chat_requests_total", (("request", "msg"),))] == 2
    assert samples[("chat_logins_total", ())] == 1
    assert samples[("chat_output_queued_bytes", ())] == 4096
    assert samples[("chat_connections", (("kind", "websocket"),))] == 1
    assert samples[("loop_pass_seconds_bucket", (("le", "0.001"),))] == 1
    assert samples[("loop_pass_seconds_bucket", (("le", "0.01"),))] == 2
    assert samples[("loop_pass_seconds_bucket", (("le", "+Inf"),))] == 3
    assert samples[("loop_pass_seconds_count", ())] == 3
    assert math.isclose(samples[("loop_pass_seconds_sum", ())], 0.5055)
    assert families["chat_requests"].type == "counter"
    assert families["loop_pass_seconds"].type == "histogram"


@given(st.text())
def test_any_label_value_is_escaped(value):
    registry = Registry()
    registry.counter("things", "Things.", ["what"]).inc(1, value)
    [sample] = parsed(registry)["things"].samples
    assert sample.labels == {"what": value}


def test_names_and_labels_are_checked_when_made():
    registry = Registry()
    for bad in ("9lives", "with space", "dash-ed"):
        with pytest.raises(ValueError):
            registry.counter(bad, "x")
    with pytest.raises(ValueError):
        registry.gauge("fine", "x", ["bad-label"])
    registry.counter("once", "x")
    with pytest.raises(ValueError):
        registry.counter("once", "x")
    labelled = registry.counter("labelled", "x", ["a"])
    with pytest.raises(ValueError):
        labelled.inc(1)   # its label is missing


def test_a_counter_kept_by_its_owner_is_read_at_scrape_time():
    registry = Registry()
    kept = {"n": 0, "by": {}}
    registry.counter("chat_deliveries", "Payloads.", collect=lambda: kept["n"])
    registry.counter("chat_requests", "Requests by name.", ["request"],
                     collect=lambda: {(name,): n for name, n in kept["by"].items()})
    kept["n"] += 5
    kept["by"]["msg"] = 2
    families = parsed(registry)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in families.values() for s in family.samples}
    assert samples[("chat_deliveries_total", ())] == 5
    assert samples[("chat_requests_total", (("request", "msg"),))] == 2
    assert families["chat_deliveries"].type == "counter"
